//! An AutoAttack-like composite (Croce & Hein 2020): several complementary attacks, the
//! per-sample worst case kept.
//!
//! Threat model: the ball of its members. Runs APGD (`apgd_steps` steps, `restarts`
//! restarts) and then, for L∞ balls, the score-based Square Attack (`square_queries`
//! queries) from the clean input, and keeps for every sample the adversarial input with the
//! highest objective. APGD finds what gradients show; the Square Attack does not use them, so
//! a model that masks its gradients does not hide from the composite. (For L2 balls the Square
//! Attack is skipped: it is the L∞ version here.) Defaults: 100 APGD steps, 1 restart, 1,000
//! queries.
//!
//! Two ways to run it. As an [`Attack`] (no task criterion) every member attacks every sample
//! and the highest objective is kept. With a task [`Judge`](crate::Judge), the runner passes
//! [`AutoConfig::members`] to [`run_cascade`](crate::run_cascade): later members attack only
//! the cases not yet broken, the worst result is judged by the task's score (Dice, TRE), and the
//! state after each member can be saved and resumed (the segmentation runner does this).
//!
//! ```
//! let c = mira_attack::AutoConfig::default();
//! assert_eq!((c.apgd_steps, c.restarts, c.square_queries), (100, 1, 1000));
//! ```

use burn::prelude::*;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::ball::keep_best;
use crate::{
    ApgdConfig, Attack, AttackInfo, AttackMethod, AttackParams, AttackSpec, CascadeMember, LpBall,
    Norm, Objective, Result, SquareConfig,
};

/// Parameters of the composite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoConfig {
    /// APGD steps per restart.
    pub apgd_steps: usize,
    /// APGD restarts.
    pub restarts: usize,
    /// Square Attack queries (L∞ only).
    pub square_queries: usize,
}

impl Default for AutoConfig {
    fn default() -> Self {
        Self {
            apgd_steps: 100,
            restarts: 1,
            square_queries: 1000,
        }
    }
}

impl AutoConfig {
    /// The APGD member.
    pub fn apgd(&self) -> ApgdConfig {
        ApgdConfig {
            steps: self.apgd_steps,
            restarts: self.restarts,
            ..Default::default()
        }
    }

    /// The Square member.
    pub fn square(&self) -> SquareConfig {
        SquareConfig {
            queries: self.square_queries,
            ..Default::default()
        }
    }

    /// The members in the order they run: APGD, then (L∞ balls) the Square Attack.
    pub fn members(&self, norm: Norm) -> Vec<AttackSpec> {
        let mut m = vec![AttackSpec::Apgd(self.apgd())];
        if norm == Norm::Linf {
            m.push(AttackSpec::Square(self.square()));
        }
        m
    }

    /// The members of a cascade judged by a task whose judge offers `variants` objectives
    /// (losses): with none, APGD then (L∞) the Square Attack on the unbroken cases, as
    /// [`AutoConfig::members`]; with several, APGD once per objective on every case (the
    /// worst over losses, as SEA does for segmentation, Croce et al. 2024), then the Square
    /// Attack on the first objective for the cases still unbroken.
    pub fn cascade(&self, norm: Norm, variants: &[String]) -> Vec<CascadeMember> {
        let mut members: Vec<CascadeMember> = Vec::new();
        for spec in self.members(norm) {
            if matches!(spec, AttackSpec::Apgd(_)) && !variants.is_empty() {
                for (v, name) in variants.iter().enumerate() {
                    members.push(CascadeMember {
                        name: format!("{}-{name}", spec.kind()),
                        spec: spec.clone(),
                        variant: Some(v),
                        every_case: true,
                    });
                }
            } else {
                let variant = (!variants.is_empty()).then_some(0);
                members.push(CascadeMember {
                    variant,
                    ..CascadeMember::from(spec)
                });
            }
        }
        members
    }

    /// Checks the members' parameters.
    ///
    /// # Errors
    /// The first invalid member parameter.
    pub fn validate(&self) -> Result<()> {
        self.apgd().validate()?;
        self.square().validate()
    }
}

impl<const D: usize> Attack<D> for AutoConfig {
    fn perturb(
        &self,
        f: &dyn Objective<D>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
        rng: &mut StdRng,
    ) -> Result<Tensor<D>> {
        self.validate()?;
        let mut best = None;
        for member in self.members(ball.norm) {
            if matches!(member, AttackSpec::Square(_)) && D < 3 {
                continue; // squares need two spatial axes
            }
            let a = member.perturb(f, x0.clone(), ball, rng)?;
            let v = f.value(a.clone());
            best = Some(keep_best(best, &a, &v));
        }
        Ok(best.expect("APGD is always a member").0)
    }
}

/// The catalogue entry.
const INFO: AttackInfo = AttackInfo {
    kind: Some("auto"),
    name: "AutoAttack-like composite",
    paper: "Croce & Hein 2020 (AutoAttack: APGD + Square)",
    threat: "the members' ball: APGD on every case, then (L∞) the Square Attack from x0 on the \
                     cases not yet broken (segmentation: sweep.break_dice); per-case worst kept; \
                     state saved after each member, resumable",
    parameters: "apgd_steps = 100, restarts = 1, square_queries = 1000 (steps, restarts, queries in files)",
    access: "input gradient + objective values",
};

impl AttackMethod for AutoConfig {
    const KIND: &'static str = "auto";

    fn info() -> AttackInfo {
        INFO
    }

    fn from_params(p: &AttackParams) -> Result<Self> {
        p.refuse(Self::KIND, &["rel_step"])?;
        let d = Self::default();
        Ok(Self {
            apgd_steps: p.steps.unwrap_or(d.apgd_steps),
            restarts: p.restarts.unwrap_or(d.restarts),
            square_queries: p.queries.unwrap_or(d.square_queries),
        })
    }

    fn validate(&self) -> Result<()> {
        AutoConfig::validate(self)
    }

    fn steps(&self) -> usize {
        self.apgd_steps
    }

    fn gradient_evaluations(&self) -> usize {
        self.apgd().gradient_evaluations()
    }

    fn with_steps(&self, steps: usize) -> AttackSpec {
        Self {
            apgd_steps: steps,
            ..*self
        }
        .into()
    }

    fn with_restarts(&self, restarts: usize) -> AttackSpec {
        Self { restarts, ..*self }.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bounds, ModelObjective};
    use mira_nn::{Reg3dConfig, default_device, seeded, tensor_to_vec};
    use rand::SeedableRng;

    #[test]
    fn the_composite_is_at_least_as_strong_as_its_apgd_member_per_sample() {
        let dev = default_device();
        let net = Reg3dConfig::new().init_seeded(2, &dev);
        let f = ModelObjective::new(&net, |y: Tensor<2>| y.reshape([-1]).neg(), 1.0);
        let x0 = seeded(&dev, 5, |d| {
            Tensor::<5>::random([3, 1, 8, 8, 8], burn::tensor::Distribution::Default, d)
        });
        let ball = LpBall::new(Norm::Linf, 0.03, Bounds::default()).unwrap();
        let cfg = AutoConfig {
            apgd_steps: 8,
            restarts: 1,
            square_queries: 40,
        };
        let auto = cfg
            .perturb(&f, x0.clone(), &ball, &mut StdRng::seed_from_u64(3))
            .unwrap();
        let apgd = cfg
            .apgd()
            .perturb(&f, x0, &ball, &mut StdRng::seed_from_u64(3))
            .unwrap();
        let (va, vp) = (tensor_to_vec(f.value(auto)), tensor_to_vec(f.value(apgd)));
        for (a, p) in va.iter().zip(&vp) {
            assert!(a >= p, "{a} < {p}");
        }
    }
}
