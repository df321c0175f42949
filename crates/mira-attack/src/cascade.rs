//! A cascade of attacks with per-case bookkeeping, as AutoAttack runs its members: the first
//! member attacks every case, each later member only the cases not yet broken, and every case
//! keeps its worst result.
//!
//! "Broken" and "worst" are the task's words, not the objective's: the caller's [`Judge`]
//! scores an input per case (higher = worse for the model: a Dice drop, a TRE, an age error)
//! and says whether the case is broken (Dice below a threshold, TRE above tolerance). The
//! objective of a member is built for the rows it attacks, so skipped cases cost nothing.
//!
//! The state after each member ([`CascadeState`]) is plain data: the caller may save it and
//! hand it back to [`run_cascade`] after an interruption, which then continues with the next
//! member. Member `m` draws its randomness from `(seed, m)` alone, so a resumed cascade returns
//! exactly what an uninterrupted one returns (tested).

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::{Attack, AttackError, AttackSpec, LpBall, Objective, Result};

/// What the task says about a batch of inputs.
pub trait Judge<const D: usize> {
    /// The objective the members climb, bound to the cases `rows` (indices into the batch).
    ///
    /// # Errors
    /// Whatever building it can fail with.
    fn objective(&self, rows: &[usize]) -> Result<Box<dyn Objective<D> + '_>>;

    /// The names of the objectives the judge offers besides its default one (a segmentation
    /// judge: one per loss of a worst-over-losses cascade). Empty (the default): one objective,
    /// [`Judge::objective`].
    fn variants(&self) -> Vec<String> {
        Vec::new()
    }

    /// Objective `variant` (an index into [`Judge::variants`]) bound to the cases `rows`; the
    /// default is [`Judge::objective`].
    ///
    /// # Errors
    /// Whatever building it can fail with.
    fn variant_objective(
        &self,
        variant: usize,
        rows: &[usize],
    ) -> Result<Box<dyn Objective<D> + '_>> {
        let _ = variant;
        self.objective(rows)
    }

    /// Per row of `x` (the cases `rows`, in that order): the task score (higher = worse for
    /// the model) and whether the case counts as broken.
    ///
    /// # Errors
    /// Whatever scoring can fail with.
    fn judge(&self, rows: &[usize], x: Tensor<D>) -> Result<Vec<(f64, bool)>>;

    /// An objective like [`Judge::objective`] that also keeps what its forward pass needs to
    /// judge its input, so that [`Judge::last_verdicts`] can answer without another pass
    /// (early stopping checks for free). `None` (the default): the caller judges with
    /// [`Judge::judge`].
    ///
    /// # Errors
    /// Whatever building it can fail with.
    fn judging_objective(&self, _rows: &[usize]) -> Result<Option<Box<dyn Objective<D> + '_>>> {
        Ok(None)
    }

    /// The verdicts, per row of the objective [`Judge::judging_objective`] built last, on the
    /// input of its last `value_and_grad`, as [`Judge::judge`] would give them (`None` when
    /// there is none).
    ///
    /// # Errors
    /// Whatever scoring can fail with.
    fn last_verdicts(&self) -> Result<Option<Vec<(f64, bool)>>> {
        Ok(None)
    }
}

/// A member of a cascade: an attack, the judge's objective it climbs, and which cases it
/// attacks.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeMember {
    /// The attack.
    pub spec: AttackSpec,
    /// The judge's objective ([`Judge::variant_objective`]); `None`: [`Judge::objective`].
    pub variant: Option<usize>,
    /// Attack every case, broken or not (the first member always does): a worst-over-losses
    /// cascade runs each loss on every case, so each case's result is at least as damaging as
    /// every loss alone; later members of AutoAttack's kind attack only unbroken cases.
    pub every_case: bool,
    /// The name records give the member (`apgd`, `apgd-segpgd`).
    pub name: String,
}

impl From<AttackSpec> for CascadeMember {
    /// The attack on the judge's default objective, on the cases not yet broken.
    fn from(spec: AttackSpec) -> Self {
        Self {
            name: spec.kind().to_string(),
            spec,
            variant: None,
            every_case: false,
        }
    }
}

/// Per-case results of the members run so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CascadeState {
    /// Members finished.
    pub members_done: usize,
    /// Shape of the batch.
    pub shape: Vec<usize>,
    /// The worst input found per case, flattened (the clean input before any member).
    pub adversarial: Vec<f32>,
    /// Its score per case.
    pub score: Vec<f64>,
    /// Whether the case is broken.
    pub broken: Vec<bool>,
    /// Per member run: how many cases it attacked.
    pub attacked: Vec<usize>,
    /// Per case: the member whose input is kept (`None`: the clean input).
    pub by_member: Vec<Option<usize>>,
}

/// The seed member `member` of a cascade seeded `seed` draws its randomness from (so a member
/// run alone with it gives what it gives inside the cascade on the same cases).
pub fn member_seed(seed: u64, member: usize) -> u64 {
    mix(seed, member as u64)
}

fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn rows_of<const D: usize>(x: &Tensor<D>, rows: &[usize]) -> Tensor<D> {
    let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    x.clone()
        .select(0, Tensor::<1, Int>::from_ints(idx.as_slice(), &x.device()))
}

fn judged<const D: usize>(
    judge: &dyn Judge<D>,
    rows: &[usize],
    x: Tensor<D>,
) -> Result<Vec<(f64, bool)>> {
    let v = judge.judge(rows, x)?;
    if v.len() != rows.len() || v.iter().any(|(s, _)| s.is_nan()) {
        return Err(AttackError::InvalidParameter {
            field: "judge",
            reason: format!(
                "returned {} verdicts (NaN scores: {}) for {} cases",
                v.len(),
                v.iter().filter(|(s, _)| s.is_nan()).count(),
                rows.len()
            ),
        });
    }
    Ok(v)
}

/// Runs `members` in order (the first and those marked `every_case` on every case of `x0`, the
/// others on the cases not yet broken) and keeps, per case, the input
/// with the highest score (ties keep the earlier). `state` continues an interrupted run (it
/// must come from the same inputs and members); `checkpoint` sees the state after each member.
///
/// # Errors
/// A state that does not fit `x0` or `members`, a member's error, a judge of the wrong length,
/// or an error from `checkpoint` (the run stops there; its state was already handed over).
pub fn run_cascade<const D: usize>(
    members: &[CascadeMember],
    judge: &dyn Judge<D>,
    x0: Tensor<D>,
    ball: &LpBall<D>,
    seed: u64,
    state: Option<CascadeState>,
    checkpoint: &mut dyn FnMut(&CascadeState) -> Result<()>,
) -> Result<(Tensor<D>, CascadeState)> {
    let shape: Vec<usize> = x0.dims().to_vec();
    let b = shape[0];
    let all: Vec<usize> = (0..b).collect();
    let mut st = match state {
        Some(s) => {
            if s.shape != shape || s.members_done > members.len() || s.score.len() != b {
                return Err(AttackError::InvalidParameter {
                    field: "state",
                    reason: format!(
                        "saved for shape {:?} after {} members; this run has {shape:?} and {} members",
                        s.shape,
                        s.members_done,
                        members.len()
                    ),
                });
            }
            s
        }
        None => {
            let clean = judged(judge, &all, x0.clone())?;
            CascadeState {
                members_done: 0,
                shape: shape.clone(),
                adversarial: mira_nn::tensor_to_vec(x0.clone()),
                score: clean.iter().map(|c| c.0).collect(),
                broken: clean.iter().map(|c| c.1).collect(),
                attacked: Vec::new(),
                by_member: vec![None; b],
            }
        }
    };
    let per = st.adversarial.len() / b.max(1);
    for (m, member) in members.iter().enumerate().skip(st.members_done) {
        // The first member attacks every case, so each case's damage is at least what that
        // member alone does (a continuous score such as Dice keeps falling past "broken").
        let rows: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| m == 0 || member.every_case || !st.broken[i])
            .collect();
        if !rows.is_empty() {
            let sub = rows_of(&x0, &rows);
            let mut sub_ball = ball.clone();
            if let Some(mask) = &ball.mask
                && mask.dims()[0] == b
                && b > 1
            {
                sub_ball.mask = Some(rows_of(mask, &rows));
            }
            let f = match member.variant {
                Some(v) => judge.variant_objective(v, &rows)?,
                None => judge.objective(&rows)?,
            };
            let mut rng = StdRng::seed_from_u64(member_seed(seed, m));
            let adv = member.spec.perturb(f.as_ref(), sub, &sub_ball, &mut rng)?;
            let verdicts = judged(judge, &rows, adv.clone())?;
            let values = mira_nn::tensor_to_vec(adv);
            for (k, &i) in rows.iter().enumerate() {
                let (score, broken) = verdicts[k];
                if score > st.score[i] || (broken && !st.broken[i]) {
                    st.score[i] = score;
                    st.broken[i] = broken;
                    st.by_member[i] = Some(m);
                    st.adversarial[i * per..(i + 1) * per]
                        .copy_from_slice(&values[k * per..(k + 1) * per]);
                }
            }
        }
        st.attacked.push(rows.len());
        st.members_done = m + 1;
        checkpoint(&st)?;
    }
    let adv = Tensor::<D>::from_data(TensorData::new(st.adversarial.clone(), shape), &x0.device());
    Ok((adv, st))
}
