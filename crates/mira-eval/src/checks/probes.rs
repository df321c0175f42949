//! Model probes of any task: re-attack a few test cases to expose an evaluation that cannot be
//! trusted (Carlini et al. 2019; Athalye et al. 2018; AutoAttack's checks).
//!
//! Per model, on the first `sample` test cases, at the sweep's largest budget ε and with the
//! experiment's strongest gradient attack, measured on the task's own metric
//! ([`ProbeTarget::metric`]: mean Dice, mean TRE, MAE, MRSE):
//! - `randomised-forward`: two identical forward passes differ;
//! - `zero-gradient` / `nonfinite-gradient`: the input gradient of the attack loss is zero or
//!   not finite on some cases;
//! - `weaker-than-noise`: the attack does no more damage than random sign noise of the same
//!   norm;
//! - `not-converged`: doubling the attack's steps still adds damage beyond the tolerance;
//! - `restarts-matter`: the best of 3 random restarts adds damage beyond the tolerance;
//! - `no-collapse`: a very large budget does not drive the metric past the task's collapse
//!   level (Dice towards 0, TRE above the tolerance, ...);
//! - `gradient-free-stronger`: a gradient-free random search does more damage;
//! - `margin-stronger` (or the task's alternative loss): the same attack on a loss that does
//!   not saturate does clearly more damage (by the tolerance and by more than a quarter).

use burn::prelude::*;
use mira_attack::{
    Attack, AttackSpec, Bounds, IfgsmConfig, LpBall, Norm, Objective, ProjectedGradient,
    RandomSearch,
};
use mira_nn::tensor_to_vec;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::checks::Warning;
use crate::{EvalError, Result};

/// How a task's metric reads in the probes' verdicts and messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Its name in messages (`mean Dice`, `mean TRE (mm)`).
    pub name: String,
    /// Whether a higher value means more damage (TRE, age error) or less (Dice).
    pub higher_is_worse: bool,
    /// Decimals printed.
    pub decimals: usize,
    /// The level a working attack at a very large budget passes (Dice below, TRE above).
    pub collapse: f64,
    /// Where it drives the metric, in words (`towards 0`, `above the tolerance (2 mm)`).
    pub collapse_goal: String,
    /// Damage differences below this are noise (metric units).
    pub tolerance: f64,
    /// What the records' budget is called in messages (`ε`; a synthesis target `Δ`).
    pub budget: &'static str,
}

impl Metric {
    /// A metric printed with `decimals`, whose means differ by noise below `tolerance`; without
    /// a collapse level, its budgets called ε.
    pub fn new(
        name: impl Into<String>,
        higher_is_worse: bool,
        decimals: usize,
        tolerance: f64,
    ) -> Self {
        Self {
            name: name.into(),
            higher_is_worse,
            decimals,
            collapse: 0.0,
            collapse_goal: String::new(),
            tolerance,
            budget: "ε",
        }
    }

    /// With the level a working attack at a very large budget passes, and where it drives the
    /// metric, in words.
    #[must_use]
    pub fn collapsing(mut self, level: f64, goal: impl Into<String>) -> Self {
        self.collapse = level;
        self.collapse_goal = goal.into();
        self
    }

    /// With the records' budget called `budget` in messages.
    #[must_use]
    pub fn budget(mut self, budget: &'static str) -> Self {
        self.budget = budget;
        self
    }

    /// Damage of a metric value: larger is worse for the model.
    fn damage(&self, v: f64) -> f64 {
        if self.higher_is_worse { v } else { -v }
    }

    fn show(&self, v: f64) -> String {
        format!("{v:.*}", self.decimals)
    }
}

/// A loss the task's attacks may use instead of the reference one, which does not saturate
/// (the per-pixel margin for segmentation's cross-entropy).
pub struct Alternative<'a, const D: usize> {
    /// Its name in messages (`per-pixel margin loss`).
    pub loss: &'static str,
    /// The reference loss's name (`cross-entropy`).
    pub base: &'static str,
    /// What it means when the alternative is stronger, and what to do.
    pub why: &'static str,
    /// The objective on the probe sample.
    pub objective: Box<dyn Objective<D> + 'a>,
}

/// What the probes need of a task, for one model on a sample of its test cases.
pub trait ProbeTarget<const D: usize> {
    /// The sample's clean inputs.
    fn inputs(&self) -> Tensor<D>;
    /// The model's outputs on `x`, flattened (the randomised-forward check).
    fn outputs(&self, x: Tensor<D>) -> Vec<f32>;
    /// The reference attack's objective on the sample.
    fn objective(&self) -> Box<dyn Objective<D> + '_>;
    /// A non-saturating alternative loss, where the task has one.
    fn alternative(&self) -> Option<Alternative<'_, D>> {
        None
    }
    /// The task's metric of the model on inputs `x`, over the sample.
    ///
    /// # Errors
    /// Scoring failures.
    fn metric(&self, x: Tensor<D>) -> Result<f64>;
    /// How the metric reads.
    fn scale(&self) -> &Metric;
    /// The part of the input the attack may change (`None`: all of it).
    fn mask(&self) -> Option<Tensor<D>> {
        None
    }
}

/// Settings of the probes common to every task (segmentation's are its flat `[checks]` keys,
/// other tasks' `[checks.probes]`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Run the model probes.
    pub enabled: bool,
    /// Test cases the probes re-attack (the first `sample` of the test split).
    pub sample: usize,
    /// Damage differences below this are noise, in the task's metric units (default: the
    /// task's own).
    pub tolerance: Option<f64>,
    /// L∞ budget (L2: per-voxel RMS budget) of the "very large ε" probe.
    pub large_epsilon: f32,
    /// Objective queries of the gradient-free random search.
    pub random_queries: usize,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            sample: 8,
            tolerance: None,
            large_epsilon: 0.5,
            random_queries: 200,
        }
    }
}

impl ProbeConfig {
    /// Checks the ranges (`field`: where the section is, e.g. `checks.probes`).
    ///
    /// # Errors
    /// The first invalid value, named.
    pub fn validate(&self, field: &str) -> Result<()> {
        let bad =
            |name: &str, reason: &str| Err(EvalError::invalid(format!("{field}.{name}"), reason));
        if self.sample > 10_000 {
            return bad("sample", "must be <= 10000");
        }
        if self.tolerance.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
            return bad("tolerance", "must be >= 0");
        }
        if !(self.large_epsilon.is_finite()
            && self.large_epsilon > 0.0
            && self.large_epsilon <= 1.0)
        {
            return bad("large_epsilon", "must be in (0, 1]");
        }
        if !(1..=100_000).contains(&self.random_queries) {
            return bad("random_queries", "must be in 1..=100000");
        }
        Ok(())
    }
}

/// What the probes need besides the target.
pub struct ProbeSetup<'a> {
    /// Model name for warnings.
    pub model: &'a str,
    /// Name of the reference attack for warnings.
    pub attack: &'a str,
    /// The reference gradient attack.
    pub spec: AttackSpec,
    /// Norm of the budget.
    pub norm: Norm,
    /// The sweep's largest budget.
    pub epsilon: f32,
    /// Very large budget (L∞; L2 scales it by the square root of a case's size).
    pub large_epsilon: f32,
    /// Objective queries of the random search.
    pub random_queries: usize,
    /// Seed of the probes' randomness.
    pub seed: u64,
}

/// The reference attack, budgets and settings every model of a run is probed with.
#[derive(Debug, Clone)]
pub struct ProbePlan {
    /// Name of the reference attack for warnings.
    pub attack: String,
    /// The reference gradient attack.
    pub spec: AttackSpec,
    /// Norm of the budget.
    pub norm: Norm,
    /// The sweep's largest budget.
    pub epsilon: f32,
    /// Very large budget and random-search queries.
    pub config: ProbeConfig,
    /// The run's master seed.
    pub seed: u64,
}

impl ProbePlan {
    /// The plan of a run: its reference attack (name, spec), norm and largest budget, probe
    /// settings and master seed.
    pub fn new(
        (attack, spec): (String, AttackSpec),
        norm: Norm,
        epsilon: f32,
        config: &ProbeConfig,
        seed: u64,
    ) -> Self {
        Self {
            attack,
            spec,
            norm,
            epsilon,
            config: config.clone(),
            seed,
        }
    }

    /// The setup of the run's model number `index`, named `model` (its probes seeded from the
    /// run's seed and the index).
    pub fn setup<'a>(&'a self, model: &'a str, index: usize) -> ProbeSetup<'a> {
        ProbeSetup {
            model,
            attack: &self.attack,
            spec: self.spec.clone(),
            norm: self.norm,
            epsilon: self.epsilon,
            large_epsilon: self.config.large_epsilon,
            random_queries: self.config.random_queries,
            seed: crate::run::mix(self.seed, 77_000 + index as u64),
        }
    }
}

/// The probes of models `0..n` (`each`: the warnings of model `mi`), run side by side on the
/// lanes (`run/lanes.rs`: each model's probes draw from their own seed, so they find what they
/// find alone); the warnings come back in model order.
///
/// # Errors
/// The first model's failure, in model order.
pub(crate) fn probe_models(
    n: usize,
    each: impl Fn(usize) -> Result<Vec<Warning>> + Sync,
) -> Result<Vec<Warning>> {
    let mut out = Vec::new();
    crate::run::lanes::side_by_side(n, each, |_, w| {
        out.extend(w);
        Ok(())
    })?;
    Ok(out)
}

/// Runs the probes on `target`.
///
/// # Errors
/// Attack failures other than non-finite gradients (which become warnings).
pub fn probe<const D: usize>(
    target: &dyn ProbeTarget<D>,
    s: &ProbeSetup<'_>,
) -> Result<Vec<Warning>> {
    let x0 = target.inputs();
    let n = x0.dims()[0];
    if n == 0 || s.epsilon <= 0.0 {
        return Ok(Vec::new());
    }
    let m = target.scale();
    let f = target.objective();
    let mut out = Vec::new();
    let warn = |check: &str, attack: bool, message: String| Warning {
        check: check.into(),
        model: s.model.into(),
        attack: attack.then(|| s.attack.to_string()),
        message,
    };
    let (a, b) = (target.outputs(x0.clone()), target.outputs(x0.clone()));
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
    let g = match target.mask() {
        Some(mask) => tensor_to_vec(g * mask),
        None => tensor_to_vec(g),
    };
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

    let tol = m.tolerance;
    let worse = |a: f64, b: f64| m.damage(a) > m.damage(b) + tol;
    let show = |v: f64| m.show(v);
    let clean = target.metric(x0.clone())?;
    let ball = |eps: f32| -> Result<LpBall<D>> {
        let mut ball = LpBall::new(s.norm, eps, Bounds::default())?;
        ball.mask = target.mask();
        Ok(ball)
    };
    let small = ball(s.epsilon)?;
    let mut rng = StdRng::seed_from_u64(s.seed);
    let spec = &s.spec;
    let x_attack = spec.perturb(f.as_ref(), x0.clone(), &small, &mut rng)?;
    let d_attack = target.metric(x_attack.clone())?;

    if let Some(alt) = target.alternative() {
        let d_alt =
            target.metric(spec.perturb(alt.objective.as_ref(), x0.clone(), &small, &mut rng)?)?;
        // An alternative loss is often a little stronger anyway; saturation shows as one that
        // does clearly more damage, by the tolerance and by a quarter of the reference damage.
        let (dmg_ref, dmg_alt) = (
            m.damage(d_attack) - m.damage(clean),
            m.damage(d_alt) - m.damage(clean),
        );
        if dmg_alt - dmg_ref > tol && dmg_alt > 1.25 * dmg_ref {
            out.push(warn(
                "margin-stronger",
                true,
                format!(
                    "at ε = {} the same attack on the {} leaves {} {}, on {} {}: {}",
                    s.epsilon,
                    alt.loss,
                    m.name,
                    show(d_alt),
                    alt.base,
                    show(d_attack),
                    alt.why
                ),
            ));
        }
    }

    let noise = small.random_start(&x0, &mut rng);
    let noise = match s.norm {
        // Random signs at the full budget (the strongest noise of the L∞ ball).
        Norm::Linf => small.project(x0.clone() + (noise - x0.clone()).sign() * s.epsilon, &x0),
        Norm::L2 => noise,
    };
    let d_noise = target.metric(noise)?;
    if m.damage(d_attack) < m.damage(d_noise) + tol {
        out.push(warn(
            "weaker-than-noise",
            true,
            format!(
                "at ε = {} {} is {} under attack and {} under random noise of the same norm \
                 (clean {}): the attack is not using the gradient",
                s.epsilon,
                m.name,
                show(d_attack),
                show(d_noise),
                show(clean)
            ),
        ));
    }

    let doubled = spec.with_steps(spec.steps() * 2);
    let x_double = doubled_run(
        (spec, &doubled),
        f.as_ref(),
        (x0.clone(), &small),
        x_attack,
        &mut rng,
    )?;
    let d_double = target.metric(x_double)?;
    if spec.steps() > 1 && worse(d_double, d_attack) {
        out.push(warn(
            "not-converged",
            true,
            format!(
                "doubling the steps ({} → {}) {} {} from {} to {} at ε = {}: use more steps",
                spec.steps(),
                doubled.steps(),
                if m.higher_is_worse {
                    "raises"
                } else {
                    "lowers"
                },
                m.name,
                show(d_attack),
                show(d_double),
                s.epsilon
            ),
        ));
    }

    let restarts = |r| spec.with_restarts(r);
    let d_one = target.metric(restarts(1).perturb(f.as_ref(), x0.clone(), &small, &mut rng)?)?;
    let d_three =
        target.metric(restarts(3).perturb(f.as_ref(), x0.clone(), &small, &mut rng)?)?;
    if worse(d_three, d_one) {
        out.push(warn(
            "restarts-matter",
            true,
            format!(
                "PGD with the best of 3 random restarts leaves {} {}, one restart {} at ε = {}: \
                 the loss surface has many poor local optima; evaluate with restarts",
                m.name,
                show(d_three),
                show(d_one),
                s.epsilon
            ),
        ));
    }

    let large = match s.norm {
        Norm::Linf => s.large_epsilon,
        Norm::L2 => s.large_epsilon * (per as f32).sqrt(),
    };
    let strong = IfgsmConfig {
        steps: spec.steps().max(10),
        rel_step: 0.25,
    }
    .engine();
    let d_large =
        target.metric(strong.perturb(f.as_ref(), x0.clone(), &ball(large)?, &mut rng)?)?;
    if m.damage(d_large) < m.damage(m.collapse) {
        out.push(warn(
            "no-collapse",
            true,
            format!(
                "at the very large budget ε = {large} {} is still {} (clean {}): a working \
                 attack drives it {}; gradients are unreliable",
                m.name,
                show(d_large),
                show(clean),
                m.collapse_goal
            ),
        ));
    }

    let rs = RandomSearch {
        queries: s.random_queries,
        window: 0.25,
    };
    let d_rs = target.metric(rs.perturb(f.as_ref(), x0.clone(), &small, &mut rng)?)?;
    if worse(d_rs, d_attack) {
        out.push(warn(
            "gradient-free-stronger",
            true,
            format!(
                "at ε = {} a gradient-free random search ({} queries) leaves {} {}, the \
                 gradient attack {}: the gradients are misleading",
                s.epsilon,
                s.random_queries,
                m.name,
                show(d_rs),
                show(d_attack)
            ),
        ));
    }
    Ok(out)
}

/// The doubled attack's result: continued from the reference attack's result `x_attack` where
/// that is bit for bit the whole run ([`ProjectedGradient::perturb_continued`]: the same
/// engine but for its steps, one restart from `x0`, the plain steepest ascent, the last
/// iterate, an unscheduled objective; i-FGSM on cross-entropy), which saves the reference's
/// steps; else run anew (`rng` as the whole run would use it: a continued run draws nothing).
fn doubled_run<const D: usize>(
    (spec, doubled): (&AttackSpec, &AttackSpec),
    f: &dyn Objective<D>,
    (x0, ball): (Tensor<D>, &LpBall<D>),
    x_attack: Tensor<D>,
    rng: &mut StdRng,
) -> Result<Tensor<D>> {
    if let (Some(e), Some(e2)) = (spec.engine(), doubled.engine()) {
        let same_but_steps = ProjectedGradient {
            steps: e.steps,
            ..e2
        } == e;
        if same_but_steps && e.steps < e2.steps && e2.first_step_shared() && !f.scheduled() {
            return Ok(e2.perturb_continued(f, (x0, ball), x_attack, e.steps)?);
        }
    }
    Ok(doubled.perturb(f, x0, ball, rng)?)
}

/// The reference attack of the probes: among `entries` (name, attack, eligible), the gradient
/// attack with the most gradient evaluations (on a tie APGD, the strong default), or APGD with
/// 20 steps when none is eligible.
pub(crate) fn reference_attack(
    entries: impl IntoIterator<Item = (String, AttackSpec)>,
) -> (String, AttackSpec) {
    let mut reference: Option<(String, AttackSpec)> = None;
    for (name, spec) in entries {
        // The probes need a gradient attack; score-based attacks (Square) never serve.
        if spec.gradient_evaluations() == 0 {
            continue;
        }
        let better = reference.as_ref().is_none_or(|(_, r)| {
            let (n, m) = (spec.gradient_evaluations(), r.gradient_evaluations());
            n > m
                || (n == m
                    && matches!(spec, AttackSpec::Apgd(_))
                    && !matches!(r, AttackSpec::Apgd(_)))
        });
        if better {
            reference = Some((name, spec));
        }
    }
    reference.unwrap_or_else(|| {
        (
            "apgd (probe)".into(),
            AttackSpec::Apgd(mira_attack::ApgdConfig {
                steps: 20,
                ..Default::default()
            }),
        )
    })
}
