//! What a cell of any task runs on one batch, given the task's [`Judge`]: a fixed-budget
//! attack on the judge's objective; the composite (`auto`) as a cascade whose later members
//! attack only the cases the judge calls unbroken; or the minimum-norm search with the judge's
//! verdict as criterion. Segmentation, registration, brain-age and shape cells share it; each
//! brings its judge (Dice, TRE, age-error and MRSE rules).

use std::cell::RefCell;

use burn::prelude::*;
use mira_attack::{
    Attack, AttackSpec, CascadeState, Judge, LpBall, MinNormConfig, first_direction, run_cascade,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::run::FgsmMemo;
use crate::{EvalError, Result};

/// What a cell runs.
#[derive(Clone, Copy)]
pub(crate) enum CellAttack<'a> {
    /// A fixed-budget attack; `auto` runs as a cascade judged by the task's break rule.
    Fixed(&'a AttackSpec),
    /// The minimum-norm search up to the cell's ε.
    MinNorm(MinNormConfig),
    /// A projected-gradient attack (FGSM, i-FGSM, PGD; one restart) whose cases stop when the
    /// judge calls them broken, checked at the starting point and every `.1` steps.
    EarlyStop(&'a AttackSpec, usize),
    /// No attack: each case its own seeded draw of a corruption family at a severity.
    Corrupt(Corruptor),
}

/// A corruption family at a severity, applied case by case.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Corruptor {
    pub family: mira_corrupt::Family,
    pub severity: u8,
    /// The CT window's width (HU per model unit), for the CT families.
    pub hu_per_unit: Option<f32>,
    /// Volumes laid out as tall slices `[C, D·H, W]`: their `[D, H, W]`.
    pub volume: Option<[usize; 3]>,
    /// Search each case's worst draw (`mira_corrupt::WorstCase`, from its random draw, judged
    /// by the task) instead of taking the random draw.
    pub worst: bool,
}

impl Corruptor {
    /// The corrupted inputs: row `i` of `x0` with the draw seeded by `(seed, i)`.
    ///
    /// # Errors
    /// A draw the family refuses (a CT family without a window width).
    pub(crate) fn apply<const D: usize>(
        &self,
        x0: Tensor<D>,
        seed: u64,
        judge: &dyn Judge<D>,
    ) -> Result<Tensor<D>> {
        let dims = x0.dims();
        let (b, c) = (dims[0], dims[1]);
        let spatial: [usize; 3] = match (D, self.volume) {
            (4, Some(v)) => v,
            (4, None) => [1, dims[2], dims[3]],
            _ => [dims[2], dims[3], dims[4]],
        };
        let mut rows = Vec::with_capacity(b);
        for i in 0..b {
            let row = x0
                .clone()
                .narrow(0, i, 1)
                .reshape([1, c, spatial[0], spatial[1], spatial[2]]);
            let mut rng = StdRng::seed_from_u64(crate::run::mix(seed, i as u64));
            let bad =
                |e: mira_corrupt::CorruptError| EvalError::invalid("corruptions", e.to_string());
            let mut draw = self
                .family
                .draw(self.severity, spatial, self.hu_per_unit, &mut rng)
                .map_err(bad)?;
            if self.worst {
                let bounds = self
                    .family
                    .bounds(self.severity, spatial, self.hu_per_unit)
                    .map_err(bad)?;
                let shape = x0.clone().narrow(0, i, 1).dims();
                let as_input = |c: &mira_corrupt::Corruption| c.apply(row.clone()).reshape(shape);
                let f = judge
                    .objective(&[i])
                    .map_err(|e| EvalError::invalid("corruptions", e.to_string()))?;
                let fail = |e: mira_attack::AttackError| {
                    mira_corrupt::CorruptError::Invalid(e.to_string())
                };
                let mut objective = |c: &mira_corrupt::Corruption| {
                    Ok(f64::from(f.value(as_input(c)).into_scalar::<f32>()))
                };
                let mut score = |c: &mira_corrupt::Corruption| {
                    judge.judge(&[i], as_input(c)).map_err(fail).map(|v| v[0].0)
                };
                draw = mira_corrupt::WorstCase::default()
                    .search(&draw, &bounds, &mut objective, &mut score)
                    .map_err(bad)?
                    .0;
            }
            rows.push(draw.apply(row));
        }
        Ok(Tensor::cat(rows, 0).reshape(dims))
    }
}

/// One attacked batch.
pub(crate) struct Attacked<const D: usize> {
    /// The adversarial inputs.
    pub adv: Tensor<D>,
    /// Min-norm: per case the smallest breaking norm found (`None`: not within the cap).
    pub min_norm: Option<Vec<Option<f32>>>,
    /// `auto`: per case the member whose input is kept (`clean`: none raised its score).
    pub member: Option<Vec<String>>,
    /// Early stop: per case the steps after which it was found broken (`None`: ran them all).
    pub stopped_at: Option<Vec<Option<usize>>>,
    /// The inputs are the clean ones, untouched: a fixed-budget attack at ε = 0, whose ball
    /// holds the clean input alone, is not run (its result is that input, and the runner
    /// re-checks it like any other); scores on the clean input can be reused.
    pub unchanged: bool,
}

impl<const D: usize> Attacked<D> {
    /// A fixed-budget attack's result: the adversarial inputs alone.
    fn plain(adv: Tensor<D>) -> Self {
        Self {
            adv,
            min_norm: None,
            member: None,
            stopped_at: None,
            unchanged: false,
        }
    }
}

/// The runner's FGSM memo, the key of the cell's (model, attack) in it, and the batch index.
/// The key must name everything FGSM's direction depends on besides the batch and the norm:
/// the model, the attack entry (goal, loss, temperature) and the ball's mask.
pub(crate) type MemoSlot<'a> = (&'a FgsmMemo, &'a str, usize);

/// A saved cascade state to continue from, and where to hand each new one.
pub(crate) type Resume<'a> = (
    Option<CascadeState>,
    &'a mut dyn FnMut(&CascadeState) -> mira_attack::Result<()>,
);

impl<'a> CellAttack<'a> {
    /// What an attack entry runs: its min-norm search where it has one, else its engine-level
    /// attack (which every per-image entry has).
    pub(crate) fn of(spec: Option<&'a AttackSpec>, min_norm: Option<MinNormConfig>) -> Self {
        match (spec, min_norm) {
            (_, Some(cfg)) => CellAttack::MinNorm(cfg),
            (Some(s), None) => CellAttack::Fixed(s),
            (None, None) => unreachable!("a per-image attack has a spec"),
        }
    }

    /// This attack with early stopping every `every` steps (when given; the experiment's
    /// validation admits it for projected-gradient presets only).
    pub(crate) fn with_early_stop(self, every: Option<usize>) -> Self {
        match (self, every) {
            (CellAttack::Fixed(spec), Some(n)) => CellAttack::EarlyStop(spec, n),
            (other, _) => other,
        }
    }

    /// The engine of a fixed FGSM or i-FGSM attack whose first step the memo can serve
    /// ([`mira_attack::ProjectedGradient::first_step_shared`]), with the memo slot.
    fn first_step_shared<'m>(
        &self,
        memo: Option<MemoSlot<'m>>,
    ) -> Option<(mira_attack::ProjectedGradient, MemoSlot<'m>)> {
        match (self, memo) {
            (CellAttack::Fixed(spec @ (AttackSpec::Fgsm(_) | AttackSpec::Ifgsm(_))), Some(m)) => {
                spec.engine()
                    .filter(|e| e.first_step_shared())
                    .map(|e| (e, m))
            }
            _ => None,
        }
    }

    /// Attacks `x0` inside `ball`; randomness from `seed` (the cell's per-batch stream).
    /// `resume` applies to the composite only; `memo` to FGSM and i-FGSM only (their first
    /// step's direction at `x0` is taken from, or left in, the memo, so one gradient serves
    /// every ε of the sweep).
    ///
    /// # Errors
    /// The attack's or the judge's errors.
    pub(crate) fn run<const D: usize>(
        &self,
        judge: &dyn Judge<D>,
        x0: Tensor<D>,
        ball: &LpBall<D>,
        seed: u64,
        resume: Option<Resume<'_>>,
        memo: Option<MemoSlot<'_>>,
    ) -> Result<Attacked<D>> {
        let all: Vec<usize> = (0..x0.dims()[0]).collect();
        if let Some((engine, (memo, key, batch))) = self.first_step_shared(memo)
            && ball.epsilon > 0.0
        {
            // The direction depends on the ball's norm and mask; the caller's key names the
            // mask (it follows from the attack entry, as do the steps the objective's step 0
            // is told of), the norm is added here.
            let key = format!("{key}\u{0}{:?}", ball.norm);
            let f = judge.objective(&all)?;
            let dir = memo.direction(&key, batch, || {
                Ok(first_direction(f.as_ref(), x0.clone(), ball, engine.steps)?)
            })?;
            return Ok(Attacked::plain(engine.perturb_from_first(
                f.as_ref(),
                x0,
                ball,
                dir,
            )?));
        }
        let (mut min_norm, mut member, mut unchanged) = (None, None, false);
        let mut stopped_at = None;
        let adv = match *self {
            CellAttack::Corrupt(corruptor) => corruptor.apply(x0, seed, judge)?,
            CellAttack::MinNorm(cfg) => {
                let failure: RefCell<Option<String>> = RefCell::new(None);
                // The search's criterion cannot fail: a judge error is kept and raised after.
                let criterion = |x: Tensor<D>| match judge.judge(&all, x) {
                    Ok(v) => v.iter().map(|p| p.1).collect(),
                    Err(e) => {
                        failure.borrow_mut().get_or_insert(e.to_string());
                        vec![false; all.len()]
                    }
                };
                let f = judge.objective(&all)?;
                let found = cfg.minimize_in(f.as_ref(), &criterion, x0, ball)?;
                if let Some(e) = failure.take() {
                    return Err(EvalError::invalid("attack", e));
                }
                min_norm = Some(found.min_norm);
                found.adversarial
            }
            CellAttack::Fixed(AttackSpec::Auto(c)) => {
                let members = c.cascade(ball.norm, &judge.variants());
                let mut nothing = |_: &CascadeState| Ok(());
                let (state, save) = match resume {
                    Some((s, save)) => (s, save),
                    None => (None, &mut nothing as _),
                };
                let (adv, st) = run_cascade(&members, judge, x0, ball, seed, state, save)?;
                member = Some(
                    st.by_member
                        .iter()
                        .map(|m| m.map_or("clean", |m| members[m].name.as_str()).to_string())
                        .collect(),
                );
                adv
            }
            CellAttack::Fixed(_) | CellAttack::EarlyStop(..) if ball.epsilon == 0.0 => {
                unchanged = true;
                x0
            }
            CellAttack::EarlyStop(spec, every) => {
                let engine = spec.engine().ok_or_else(|| {
                    EvalError::invalid("early_stop", "applies to fgsm, ifgsm and pgd")
                })?;
                let mut rng = StdRng::seed_from_u64(seed);
                let s = engine.perturb_until_broken(judge, x0, ball, &mut rng, every)?;
                stopped_at = Some(s.stopped_at);
                s.adv
            }
            CellAttack::Fixed(spec) => {
                let f = judge.objective(&all)?;
                let mut rng = StdRng::seed_from_u64(seed);
                spec.perturb(f.as_ref(), x0, ball, &mut rng)?
            }
        };
        Ok(Attacked {
            adv,
            min_norm,
            member,
            unchanged,
            stopped_at,
        })
    }
}
