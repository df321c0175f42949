//! One cell of a brain-age sweep: one model, one attack, one budget, all test subjects.
//!
//! Per-image cells attack batches of subjects (batch `b` draws its random starts from a stream
//! of `(seed, b)`). Universal cells fit one δ on the fitting subjects (chunks of the batch size)
//! and add it unchanged to every test subject; δ is written as NIfTI beside the records. Every
//! adversarial volume is re-checked on the host against its budget and `[0, 1]`.

use std::path::Path;

use burn::prelude::*;
use mira_attack::{
    AttackSpec, Bounds, LpBall, ModelObjective, Objective, UniversalFit, apply_universal,
};
use mira_data::{AgeSubject, VolumeRow, save_volume_slices_png};
use mira_nn::{Forward, default_device, tensor_to_vec};

use crate::tasks::brain_age::AgeModel;
use mira_report::{AgeRecord, Perceptibility};
use mira_train::volumes_tensor;

use crate::cells::{CellAttack, CellId};
use crate::run::{eps_f64, mix};
use crate::tasks::brain_age::{AgeAttackEntry, AgeGoal, AgeGradient, AgeJudge, AgeScope};
use crate::{EvalError, Result};

/// The `scope` of corruption records.
pub(crate) const CORRUPTION: &str = "corruption";

/// Nominal field of view of the phantom volumes, mm (voxel size = FOV / side).
pub(crate) const FOV_MM: f32 = 192.0;

/// Per-sample loss of predicted ages `[B, 1]` for `goal`, to be maximised.
pub(crate) fn age_loss(
    goal: AgeGoal,
    target: Option<f64>,
    ages: Vec<f32>,
) -> impl Fn(Tensor<2>) -> Tensor<1> {
    move |pred: Tensor<2>| {
        let b = pred.dims()[0];
        let pred = pred.reshape([b]);
        let t = || Tensor::<1>::from_floats(ages.as_slice(), &pred.device());
        match goal {
            AgeGoal::Error => (pred.clone() - t()).powi_scalar(2),
            AgeGoal::Older => pred,
            AgeGoal::Younger => pred.neg(),
            AgeGoal::Target => (pred.sub_scalar(target.unwrap_or(0.0) as f32))
                .powi_scalar(2)
                .neg(),
        }
    }
}

/// Everything a brain-age cell needs.
pub(crate) struct AgeCell<'a> {
    /// Names, norm, budget, batch size and seed.
    pub id: CellId<'a>,
    /// The model, with BPDA switched on when the entry asks for it.
    pub model: &'a AgeModel,
    pub entry: &'a AgeAttackEntry,
    pub spec: Option<&'a AttackSpec>,
    /// `sweep.threshold_years`: the break rule of min-norm searches and `auto` cascades.
    pub threshold: f64,
    /// A corruption cell: no budget to re-check, records say `corruption` and `severity`.
    pub corrupted: bool,
}

impl AgeCell<'_> {
    fn ball(&self) -> Result<LpBall<5>> {
        Ok(LpBall::new(
            self.entry.norm,
            self.id.epsilon,
            Bounds::default(),
        )?)
    }

    fn objective(
        &self,
        chunk: &[AgeSubject],
    ) -> ModelObjective<AgeModel, impl Fn(Tensor<2>) -> Tensor<1>, 5, 2> {
        let ages: Vec<f32> = chunk.iter().map(|s| s.age as f32).collect();
        ModelObjective::new(
            self.model,
            age_loss(self.entry.goal, self.entry.target_age, ages),
            1.0,
        )
    }

    /// The break rule and objective for `chunk` ([`AgeJudge`]).
    fn judge(&self, chunk: &[AgeSubject]) -> AgeJudge<'_> {
        AgeJudge {
            model: self.model,
            eval: self.model.valid(),
            ages: chunk.iter().map(|s| s.age).collect(),
            goal: self.entry.goal,
            target: self.entry.target_age,
            threshold: self.threshold,
        }
    }

    /// Scores adversarial volumes `adv` of `chunk` (test cases from `first`) into records.
    fn score(
        &self,
        chunk: &[AgeSubject],
        first: usize,
        adv: Tensor<5>,
        clean_pred: &[f64],
    ) -> Result<(Vec<AgeRecord>, Vec<f32>)> {
        let pred = tensor_to_vec(self.model.valid().forward(adv.clone()));
        let adv = tensor_to_vec(adv);
        let per = adv.len() / chunk.len();
        let mut out = Vec::with_capacity(chunk.len());
        for (i, s) in chunk.iter().enumerate() {
            let case = first + i;
            let a = &adv[i * per..(i + 1) * per];
            let (linf, l2) = if self.corrupted {
                crate::cells::check_bounds(a, &s.t1, &self.id.name(), case)?
            } else {
                self.id.check_budget(a, &s.t1, case)?
            };
            let perceptibility = Perceptibility::measure(a, &s.t1, &[1, s.size, s.size, s.size]);
            out.push(AgeRecord {
                draw: None,
                model: self.id.model.into(),
                attack: self.id.attack.into(),
                scope: match self.entry.scope {
                    _ if self.corrupted => CORRUPTION,
                    AgeScope::PerImage => "per-image",
                    AgeScope::Universal => "universal",
                    AgeScope::MinNorm => "min-norm",
                }
                .into(),
                gradient: match self.entry.gradient {
                    AgeGradient::Plain => "plain",
                    AgeGradient::Bpda => "bpda",
                }
                .into(),
                goal: format!("{:?}", self.entry.goal).to_lowercase(),
                target_age: self.entry.target_age,
                norm: if self.corrupted {
                    "severity".into()
                } else {
                    format!("{:?}", self.entry.norm).to_lowercase()
                },
                epsilon: eps_f64(self.id.epsilon),
                case,
                age: s.age,
                clean_pred: clean_pred[case],
                adv_pred: pred[i] as f64,
                linf,
                l2,
                min_norm: None,
                member: None,
                perceptibility,
            });
        }
        Ok((out, adv))
    }

    /// Fits one δ on `fit` subjects, writes it to `delta_path` (NIfTI), and applies it to
    /// every test subject; the first subject's adversarial volume comes back too (pictures).
    pub(crate) fn run_universal(
        &self,
        fit: &[AgeSubject],
        test: &[AgeSubject],
        clean_pred: &[f64],
        delta_path: &Path,
    ) -> Result<(Vec<AgeRecord>, UniversalFit, Vec<f32>)> {
        let cfg = self
            .entry
            .universal()
            .ok_or_else(|| EvalError::invalid("attack", "not universal"))?;
        let dev = default_device();
        let ball = self.ball()?;
        let objectives: Vec<_> = fit
            .chunks(self.id.batch_size)
            .map(|c| self.objective(c))
            .collect();
        let mut chunks: Vec<(&dyn Objective<5>, Tensor<5>)> = Vec::new();
        for (f, c) in objectives.iter().zip(fit.chunks(self.id.batch_size)) {
            let refs: Vec<&AgeSubject> = c.iter().collect();
            chunks.push((f, volumes_tensor(&refs, &dev)?));
        }
        let (delta, report) = cfg.fit(&chunks, &ball)?;
        let side = test[0].size;
        let host = tensor_to_vec(delta.clone());
        let mm = FOV_MM / side as f32;
        let centre = -(FOV_MM as f64) / 2.0 + mm as f64 / 2.0;
        let volume = mira_io::Volume {
            dims: vec![side; 3],
            spacing: vec![mm; 3],
            affine: [
                [mm as f64, 0.0, 0.0, centre],
                [0.0, mm as f64, 0.0, centre],
                [0.0, 0.0, mm as f64, centre],
            ],
            data: host,
        };
        if let Some(dir) = delta_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
        }
        mira_io::write_nifti(delta_path, &volume).map_err(|e| EvalError::io(delta_path, e))?;
        let mut records = Vec::with_capacity(test.len());
        let mut first = Vec::new();
        for (b, chunk) in test.chunks(self.id.batch_size).enumerate() {
            let refs: Vec<&AgeSubject> = chunk.iter().collect();
            let adv = apply_universal(&delta, &volumes_tensor(&refs, &dev)?, &ball);
            let (recs, adv) = self.score(chunk, b * self.id.batch_size, adv, clean_pred)?;
            if b == 0 {
                first = adv[..chunk[0].t1.len()].to_vec();
            }
            records.extend(recs);
        }
        Ok((records, report, first))
    }
}

impl AgeCell<'_> {
    /// Attacks batch `b` of the test subjects (cases `b·batch_size ..`) with `attack` and
    /// scores it; composite members and minimal norms go into the records. The adversarial
    /// volumes come back too, batch-major.
    pub(crate) fn run_batch(
        &self,
        test: &[AgeSubject],
        clean_pred: &[f64],
        b: usize,
        attack: CellAttack<'_>,
    ) -> Result<(Vec<AgeRecord>, Vec<f32>)> {
        let dev = default_device();
        let ball = self.ball()?;
        let first = b * self.id.batch_size;
        let chunk = &test[first..(first + self.id.batch_size).min(test.len())];
        let refs: Vec<&AgeSubject> = chunk.iter().collect();
        let x0 = volumes_tensor(&refs, &dev)?;
        let seed = mix(self.id.seed, b as u64);
        let attacked = attack.run(&self.judge(chunk), x0, &ball, seed, None, None)?;
        let (mut recs, adv) = self.score(chunk, first, attacked.adv, clean_pred)?;
        for (r, m) in recs.iter_mut().zip(attacked.member.unwrap_or_default()) {
            r.member = Some(m);
        }
        for (r, m) in recs.iter_mut().zip(attacked.min_norm.unwrap_or_default()) {
            r.min_norm = m.map(f64::from);
        }
        Ok((recs, adv))
    }
}

/// Clean, perturbation (grey 0, black −m, white +m with m the largest change) and adversarial
/// mid-slices of one subject.
pub(crate) fn save_example(s: &AgeSubject, adv: &[f32], epsilon: f32, path: &Path) -> Result<()> {
    let delta: Vec<f32> = adv.iter().zip(&s.t1).map(|(a, c)| a - c).collect();
    let m = delta
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(epsilon.min(1e-6));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    }
    let rows = [
        VolumeRow {
            voxels: &s.t1,
            lo: 0.0,
            hi: 1.0,
        },
        VolumeRow {
            voxels: &delta,
            lo: -m,
            hi: m,
        },
        VolumeRow {
            voxels: adv,
            lo: 0.0,
            hi: 1.0,
        },
    ];
    save_volume_slices_png(&rows, s.size, 3, path).map_err(|e| EvalError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mira_nn::{AgeFeatureConfig, AgeNetConfig, TissueMode, TissueModel};

    #[test]
    fn bpda_survives_the_evaluation_copy_and_changes_only_the_gradient() {
        let dev = default_device();
        let cfg = AgeNetConfig {
            features: Some(AgeFeatureConfig {
                tissue: TissueModel {
                    means: [0.0, 0.15, 0.5, 0.8],
                    sigma: 0.08,
                },
                mode: TissueMode::Hard,
                mean: vec![0.3; 27],
                sd: vec![0.05; 27],
                embed: 8,
            }),
            ..AgeNetConfig::cnn(16, 55.0, 20.0)
        };
        let net = cfg.init_seeded(9, &dev).unwrap();
        let x = mira_nn::seeded(&dev, 4, |d| {
            Tensor::<5>::random([2, 1, 16, 16, 16], burn::tensor::Distribution::Default, d)
        });
        let grad = |st: bool| {
            let m = net.clone().with_straight_through(st);
            let f = ModelObjective::new(&m, age_loss(AgeGoal::Older, None, vec![50.0, 60.0]), 1.0);
            let (v, g) = f.value_and_grad(x.clone());
            (tensor_to_vec(v), tensor_to_vec(g))
        };
        let (v0, g0) = grad(false);
        let (v1, g1) = grad(true);
        assert_eq!(v0, v1, "BPDA must not change values");
        let diff: f32 = g0.iter().zip(&g1).map(|(a, b)| (a - b).abs()).sum();
        assert!(
            diff > 0.0,
            "the straight-through gradient must reach the features"
        );
    }

    #[test]
    fn age_losses_point_the_right_way() {
        let dev = default_device();
        let pred = Tensor::<1>::from_floats([40.0, 70.0], &dev).reshape([2, 1]);
        let v = |g, t| tensor_to_vec(age_loss(g, t, vec![50.0, 50.0])(pred.clone()));
        assert_eq!(v(AgeGoal::Error, None), vec![100.0, 400.0]);
        assert_eq!(v(AgeGoal::Older, None), vec![40.0, 70.0]);
        assert_eq!(v(AgeGoal::Younger, None), vec![-40.0, -70.0]);
        assert_eq!(v(AgeGoal::Target, Some(80.0)), vec![-1600.0, -100.0]);
    }
}
