//! Damage-targeted budget search: the smallest synthesis budget whose attack reaches a
//! requested damage (S2: a Dice drop of Δ), per sample.
//!
//! The budget is one scale `s ∈ (0, 1]` applied to every bound of the threat model
//! (displacement, bias, additive), so "smallest" means least deformation and least bias
//! together. For each sample: the attack at the full budget (`s = 1`) is run once and shared by
//! all targets; a sample whose damage there stays below the target is reported as not met, with
//! the damage reached. Otherwise `bisections` halvings of `[0, 1]` keep the smallest scale whose
//! attack met the target, and its parameters. Damage is measured by the caller on the host (e.g.
//! hard Dice against the warped truth), not by the loss the ascent maximises, so a "met" is a
//! measured fact. The bisection assumes damage grows with the budget, which holds for the best
//! of a fixed-step ascent only approximately; the scale found is therefore an upper bound on the
//! smallest budget, to within `2^-bisections` where the assumption holds.

use burn::prelude::*;

use crate::{AttackError, Result, Synthesis, SynthesisParams};

/// What the search found for one sample and one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetOutcome {
    /// Budget scale used (1 when not met).
    pub scale: f32,
    /// Damage measured at that budget.
    pub damage: f32,
    /// Whether `damage >= target`.
    pub met: bool,
}

/// A per-sample differentiable loss of a sub-batch: `(sample indices, x_adv, dense field)`.
pub type IndexedLoss<'a> =
    dyn FnMut(&[usize], Tensor<4>, Tensor<4>) -> Result<(Tensor<1>, Vec<f32>)> + 'a;
/// Host-measured damage of a sub-batch under given parameters: `(sample indices, params)`.
pub type DamageFn<'a> = dyn FnMut(&[usize], &SynthesisParams) -> Result<Vec<f32>> + 'a;

/// Searches, for every target in `targets` (ascending or not), the smallest budget scale
/// reaching it on each sample of `x0`. Returns `[target][sample]` outcomes and parameters.
///
/// # Errors
/// An invalid target or bisection count, or an error of the loss, damage or ascent.
pub fn search_budget(
    synth: &Synthesis,
    x0: &Tensor<4>,
    targets: &[f32],
    bisections: usize,
    loss: &mut IndexedLoss<'_>,
    damage: &mut DamageFn<'_>,
) -> Result<Vec<Vec<(TargetOutcome, SynthesisParams)>>> {
    if targets.iter().any(|t| !t.is_finite()) || bisections > 20 {
        return Err(AttackError::InvalidParameter {
            field: "targets",
            reason: "targets must be finite and bisections at most 20".into(),
        });
    }
    let batch = x0.dims()[0];
    let all: Vec<usize> = (0..batch).collect();
    let full = run(synth, x0, &all, &vec![1.0; batch], loss)?;
    let full_damage = damage(&all, &full)?;
    let mut out = Vec::with_capacity(targets.len());
    for &target in targets {
        let mut best: Vec<(TargetOutcome, SynthesisParams)> = (0..batch)
            .map(|i| {
                (
                    TargetOutcome {
                        scale: 1.0,
                        damage: full_damage[i],
                        met: full_damage[i] >= target,
                    },
                    single(&full, i),
                )
            })
            .collect();
        let active: Vec<usize> = all.iter().copied().filter(|&i| best[i].0.met).collect();
        let (mut lo, mut hi) = (vec![0.0f32; batch], vec![1.0f32; batch]);
        for _ in 0..bisections {
            if active.is_empty() {
                break;
            }
            let mid: Vec<f32> = active.iter().map(|&i| 0.5 * (lo[i] + hi[i])).collect();
            let p = run(synth, x0, &active, &mid, loss)?;
            let d = damage(&active, &p)?;
            for (k, &i) in active.iter().enumerate() {
                if d[k] >= target {
                    hi[i] = mid[k];
                    best[i] = (
                        TargetOutcome {
                            scale: mid[k],
                            damage: d[k],
                            met: true,
                        },
                        single(&p, k),
                    );
                } else {
                    lo[i] = mid[k];
                }
            }
        }
        out.push(best);
    }
    Ok(out)
}

fn run(
    synth: &Synthesis,
    x0: &Tensor<4>,
    idx: &[usize],
    scale: &[f32],
    loss: &mut IndexedLoss<'_>,
) -> Result<SynthesisParams> {
    let device = x0.device();
    let sel = Tensor::<1, Int>::from_ints(
        idx.iter().map(|&i| i as i32).collect::<Vec<_>>().as_slice(),
        &device,
    );
    let sub = x0.clone().select(0, sel);
    let mut l = |x: Tensor<4>, d: Tensor<4>| loss(idx, x, d);
    Ok(synth.ascend(&sub, scale, &mut l)?.params)
}

/// Sample `i` of a batch of parameters, as a batch of one.
pub fn single(p: &SynthesisParams, i: usize) -> SynthesisParams {
    let n = p.batch.max(1);
    let part = |v: &Vec<f32>| {
        let per = v.len() / n;
        v[i * per..(i + 1) * per].to_vec()
    };
    SynthesisParams {
        batch: 1,
        disp: part(&p.disp),
        log_bias: part(&p.log_bias),
        additive: part(&p.additive),
    }
}

/// Stacks batches of parameters (e.g. singles) into one batch.
pub fn stack(parts: &[SynthesisParams]) -> SynthesisParams {
    let mut out = SynthesisParams {
        batch: 0,
        disp: Vec::new(),
        log_bias: Vec::new(),
        additive: Vec::new(),
    };
    for p in parts {
        out.batch += p.batch;
        out.disp.extend_from_slice(&p.disp);
        out.log_bias.extend_from_slice(&p.log_bias);
        out.additive.extend_from_slice(&p.additive);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bounds, SynthesisConfig};
    use mira_nn::{default_device, tensor_to_vec};

    /// Damage = the largest control displacement reached (px): it grows with the budget, so
    /// the search must land just above the target, at scale ≈ target / max_disp.
    #[test]
    fn bisection_finds_the_smallest_budget_on_a_monotone_damage() {
        let dev = default_device();
        let v: Vec<f32> = (0..3 * 32 * 32)
            .map(|i| 0.5 + 0.4 * ((i % 32) as f32 * 0.4).sin())
            .collect();
        let x0 = Tensor::<1>::from_floats(v.as_slice(), &dev).reshape([3, 1, 32, 32]);
        let cfg = SynthesisConfig {
            max_disp_px: 2.0,
            steps: 12,
            ..Default::default()
        };
        let synth = Synthesis::new(cfg, 1, 32, 32, Bounds::default()).unwrap();
        // Loss: the sum of dense displacements (pushes every control value to its bound).
        let mut loss = |idx: &[usize], _x: Tensor<4>, d: Tensor<4>| {
            let b = idx.len();
            let v = d.reshape([b, 2 * 32 * 32]).sum_dim(1).reshape([b]);
            let host = tensor_to_vec(v.clone().inner());
            Ok((v, host))
        };
        let mut damage = |idx: &[usize], p: &SynthesisParams| {
            let per = p.disp.len() / idx.len();
            Ok((0..idx.len())
                .map(|k| {
                    p.disp[k * per..(k + 1) * per]
                        .iter()
                        .fold(0.0f32, |m, v| m.max(v.abs()))
                })
                .collect())
        };
        let out = search_budget(&synth, &x0, &[0.5, 1.0, 3.0], 6, &mut loss, &mut damage).unwrap();
        for (t, target) in [0.5f32, 1.0].iter().enumerate() {
            for (o, p) in &out[t] {
                assert!(o.met && o.damage >= *target);
                let ideal = target / 2.0;
                assert!(
                    o.scale >= ideal && o.scale <= ideal + 1.0 / 64.0 + 1e-6,
                    "{o:?}"
                );
                assert_eq!(p.batch, 1);
            }
        }
        // 3 px is beyond the 2 px bound: not met, full budget reported.
        for (o, _) in &out[2] {
            assert!(
                !o.met && o.scale == 1.0 && (o.damage - 2.0).abs() < 1e-5,
                "{o:?}"
            );
        }
        assert_eq!(
            stack(&[single(&out[0][0].1, 0), out[0][1].1.clone()]).batch,
            2
        );
    }
}
