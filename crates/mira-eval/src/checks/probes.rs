//! Model probes: re-attack a few test cases to expose an evaluation that cannot be trusted.
//!
//! Per model, on the first `sample` test cases, at the sweep's largest budget ε and with the
//! experiment's strongest untargeted gradient attack (i-FGSM 10×ε/4 if it has none):
//! - `randomised-forward`: two identical forward passes differ;
//! - `zero-gradient` / `nonfinite-gradient`: the input gradient of the attack loss is zero or
//!   not finite on some cases;
//! - `weaker-than-noise`: the attack does no more damage than random sign noise of the same
//!   norm;
//! - `not-converged`: doubling the attack's steps still lowers mean Dice by more than the
//!   tolerance;
//! - `restarts-matter`: PGD (the reference's steps, random start) with the best of 3 restarts
//!   lowers mean Dice by more than the tolerance compared with 1 restart;
//! - `no-collapse`: a very large budget does not drive mean Dice below `collapse_dice`;
//! - `gradient-free-stronger`: a gradient-free random search does more damage than the
//!   gradient attack;
//! - `margin-stronger`: the same attack on the per-pixel margin loss (which does not saturate
//!   with the softmax) does clearly more damage than on cross-entropy (by the tolerance and by
//!   more than a quarter).

use burn::prelude::*;
use mira_attack::{
    Attack, AttackSpec, Bounds, Goal, IfgsmConfig, LpBall, Norm, Objective, RandomSearch,
    segmentation_margin_objective, segmentation_objective,
};
use mira_data::SegDataset;
use mira_nn::{Forward, argmax_labels, default_device, images_to_tensor, one_hot, tensor_to_vec};
use mira_stats::{DiceOptions, dice_per_label, mean_defined};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::checks::{ChecksConfig, Warning};
use crate::{EvalError, Result};

/// What the probes need besides the model.
pub struct ProbeSetup<'a> {
    /// Model name for warnings.
    pub model: &'a str,
    /// Name of the reference attack for warnings.
    pub attack: &'a str,
    /// The reference gradient attack.
    pub spec: AttackSpec,
    /// Loss temperature of the reference attack.
    pub temperature: f32,
    /// Norm and largest budget of the sweep.
    pub norm: Norm,
    /// The sweep's largest budget.
    pub epsilon: f32,
    /// Settings.
    pub cfg: &'a ChecksConfig,
    /// Seed of the probes' randomness.
    pub seed: u64,
}

/// Runs the probes on `model` with the first cases of `test`.
///
/// # Errors
/// Attack failures other than non-finite gradients (which become warnings).
pub fn probe_model<M>(model: &M, test: &SegDataset, s: &ProbeSetup<'_>) -> Result<Vec<Warning>>
where
    M: Forward<4, 4> + Module,
{
    let dev = default_device();
    let n = s.cfg.sample.min(test.items.len());
    if n == 0 || s.epsilon <= 0.0 {
        return Ok(Vec::new());
    }
    let items: Vec<_> = test.items[..n].iter().collect();
    let (h, w) = (items[0].height, items[0].width);
    let k = test.n_labels();
    let x0 = images_to_tensor(&items, &dev)?;
    let maps: Vec<&[u8]> = items.iter().map(|i| i.labels.as_slice()).collect();
    let truth = one_hot(&maps, k, h, w, &dev)?;
    let eval = model.valid();
    let f = segmentation_objective(
        &eval,
        Goal::Untargeted {
            truth: truth.clone(),
        },
        s.temperature,
    );
    let mut out = Vec::new();
    let warn = |check: &str, attack: bool, message: String| Warning {
        check: check.into(),
        model: s.model.into(),
        attack: attack.then(|| s.attack.to_string()),
        message,
    };
    // Mean over cases of the mean foreground Dice of the model's prediction on x.
    let score = |x: Tensor<4>| -> Result<f64> {
        let pred = argmax_labels(eval.forward(x));
        let per: Vec<f64> = pred
            .iter()
            .zip(&maps)
            .map(|(p, t)| {
                dice_per_label(p, t, DiceOptions::new(k))
                    .map(|d| mean_defined(&d))
                    .map_err(|e| EvalError::invalid("data", e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        Ok(per.iter().sum::<f64>() / per.len().max(1) as f64)
    };

    let (a, b) = (
        tensor_to_vec(eval.forward(x0.clone())),
        tensor_to_vec(eval.forward(x0.clone())),
    );
    let diff = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    if diff > 1e-5 {
        out.push(warn(
            "randomised-forward",
            false,
            format!(
                "two forward passes on the same input differ by up to {diff:.2e}: dropout left \
                 on or a stochastic defence; attack the expectation over the randomness (EOT)"
            ),
        ));
    }

    let (_, g) = f.value_and_grad(x0.clone());
    let g = tensor_to_vec(g);
    let per = g.len() / n;
    let zero = g
        .chunks(per)
        .filter(|c| c.iter().all(|v| *v == 0.0))
        .count();
    let nonfinite = g
        .chunks(per)
        .filter(|c| c.iter().any(|v| !v.is_finite()))
        .count();
    if zero > 0 {
        out.push(warn(
            "zero-gradient",
            false,
            format!(
                "the input gradient of the attack loss is exactly zero on {zero} of {n} cases: \
                 gradient attacks cannot move (quantised or saturated input, masked gradients)"
            ),
        ));
    }
    if nonfinite > 0 {
        out.push(warn(
            "nonfinite-gradient",
            false,
            format!("the input gradient is NaN or infinite on {nonfinite} of {n} cases"),
        ));
        return Ok(out); // gradient attacks below would fail on these cases
    }

    let clean = score(x0.clone())?;
    let ball = LpBall::new(s.norm, s.epsilon, Bounds::default())?;
    let mut rng = StdRng::seed_from_u64(s.seed);
    let spec = &s.spec;
    let adv = spec.perturb(&f, x0.clone(), &ball, &mut rng)?;
    let d_attack = score(adv)?;

    let margin = segmentation_margin_objective(
        &eval,
        Goal::Untargeted {
            truth: truth.clone(),
        },
    );
    let d_margin = score(spec.perturb(&margin, x0.clone(), &ball, &mut rng)?)?;
    // A margin loss is often a little stronger anyway; saturation shows as a margin attack that
    // does clearly more damage, by the tolerance and by a quarter of the cross-entropy damage.
    let (dmg_ce, dmg_margin) = (clean - d_attack, clean - d_margin);
    if dmg_margin - dmg_ce > s.cfg.tolerance && dmg_margin > 1.25 * dmg_ce {
        out.push(warn(
            "margin-stronger",
            true,
            format!(
                "at ε = {} the same attack on the per-pixel margin loss leaves mean Dice \
                 {d_margin:.3}, on cross-entropy {d_attack:.3}: the cross-entropy saturates \
                 (softmax saturation, e.g. defensive distillation); evaluate with a margin loss",
                s.epsilon
            ),
        ));
    }

    let noise = ball.random_start(&x0, &mut rng);
    let noise = match s.norm {
        // Random signs at the full budget (the strongest noise of the L∞ ball).
        Norm::Linf => ball.project(x0.clone() + (noise - x0.clone()).sign() * s.epsilon, &x0),
        Norm::L2 => noise,
    };
    let d_noise = score(noise)?;
    if d_attack > d_noise - s.cfg.tolerance {
        out.push(warn(
            "weaker-than-noise",
            true,
            format!(
                "at ε = {} mean Dice is {d_attack:.3} under attack and {d_noise:.3} under random \
                 noise of the same norm (clean {clean:.3}): the attack is not using the gradient",
                s.epsilon
            ),
        ));
    }

    let doubled = spec.with_steps(spec.steps() * 2);
    let d_double = score(doubled.perturb(&f, x0.clone(), &ball, &mut rng)?)?;
    if spec.steps() > 1 && d_double < d_attack - s.cfg.tolerance {
        out.push(warn(
            "not-converged",
            true,
            format!(
                "doubling the steps ({} → {}) lowers mean Dice from {d_attack:.3} to \
                 {d_double:.3} at ε = {}: use more steps",
                spec.steps(),
                doubled.steps(),
                s.epsilon
            ),
        ));
    }

    let pgd = |restarts| spec.with_restarts(restarts);
    let d_one = score(pgd(1).perturb(&f, x0.clone(), &ball, &mut rng)?)?;
    let d_three = score(pgd(3).perturb(&f, x0.clone(), &ball, &mut rng)?)?;
    if d_three < d_one - s.cfg.tolerance {
        out.push(warn(
            "restarts-matter",
            true,
            format!(
                "PGD with the best of 3 random restarts leaves mean Dice {d_three:.3}, one restart {d_one:.3} at ε = {}: the loss surface has many poor local optima; evaluate with restarts",
                s.epsilon
            ),
        ));
    }

    let large = match s.norm {
        Norm::Linf => s.cfg.large_epsilon,
        Norm::L2 => s.cfg.large_epsilon * (per as f32).sqrt(),
    };
    let big = LpBall::new(s.norm, large, Bounds::default())?;
    let strong = IfgsmConfig {
        steps: spec.steps().max(10),
        rel_step: 0.25,
    }
    .engine();
    let d_large = score(strong.perturb(&f, x0.clone(), &big, &mut rng)?)?;
    if d_large > s.cfg.collapse_dice {
        out.push(warn(
            "no-collapse",
            true,
            format!(
                "at the very large budget ε = {large} mean Dice is still {d_large:.3} (clean \
                 {clean:.3}): a working attack drives it towards 0; gradients are unreliable"
            ),
        ));
    }

    let rs = RandomSearch {
        queries: s.cfg.random_queries,
        window: 0.25,
    };
    let d_rs = score(rs.perturb(&f, x0.clone(), &ball, &mut rng)?)?;
    if d_rs < d_attack - s.cfg.tolerance {
        out.push(warn(
            "gradient-free-stronger",
            true,
            format!(
                "at ε = {} a gradient-free random search ({} queries) leaves mean Dice \
                 {d_rs:.3}, the gradient attack {d_attack:.3}: the gradients are misleading",
                s.epsilon, s.cfg.random_queries
            ),
        ));
    }
    Ok(out)
}
