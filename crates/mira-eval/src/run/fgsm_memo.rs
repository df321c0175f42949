//! One FGSM gradient for every ε of a sweep (and one i-FGSM first step).
//!
//! FGSM takes its gradient at the clean input, so for one model, attack, threat-model geometry
//! and batch the gradient is the same at every ε; only the step length and the projection
//! change ([`mira_attack::first_direction`], then
//! [`mira_attack::ProjectedGradient::perturb_from_first`]). i-FGSM's first step is the same
//! kind of direction, its objective told step 0 of its steps: one of its gradient passes per
//! batch and ε after the first is saved the same way (S1 defences: of 124 gradient passes per
//! model and batch, 3 FGSM and 9 i-FGSM ones). Cells stay per
//! (attack, ε), the unit of resume and sharding; the runner owns one memo that keeps the
//! steepest-ascent direction of each batch of the current (model, attack, norm) and hands it to
//! the next ε's cell instead of recomputing it. Its results are bit for bit those of running
//! FGSM afresh: the direction is computed by the same kernels from the same inputs (kernel
//! results do not depend on the thread that runs them), and the step is the engine's arithmetic.
//!
//! Memory is bounded: the memo holds one (model, attack, norm) key at a time (a new key clears
//! it) and at most `MIRA_FGSM_MEMO_MB` MiB of directions (default 1024; 0 turns it off).
//! Batches beyond the bound are recomputed, which costs time, never correctness.

use std::collections::HashMap;
use std::sync::Mutex;

use burn::prelude::*;
use burn::tensor::TensorData;

use crate::Result;

/// Default bound on the directions kept, in MiB.
pub(crate) const DEFAULT_MEMO_MB: usize = 1024;

/// Directions of the current key, by batch index, and how often one was computed or reused.
#[derive(Default)]
struct State {
    key: String,
    dirs: HashMap<usize, TensorData>,
    bytes: usize,
    computed: usize,
    reused: usize,
}

/// The FGSM directions of the batches of one (model, attack, norm), shared by its ε cells.
pub struct FgsmMemo {
    budget_bytes: usize,
    state: Mutex<State>,
}

impl FgsmMemo {
    /// A memo bounded by `MIRA_FGSM_MEMO_MB` (default [`DEFAULT_MEMO_MB`]).
    pub fn from_env() -> Self {
        let mb = std::env::var("MIRA_FGSM_MEMO_MB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_MEMO_MB);
        Self::with_budget(mb.saturating_mul(1 << 20))
    }

    /// A memo keeping at most `budget_bytes` of directions.
    pub fn with_budget(budget_bytes: usize) -> Self {
        Self {
            budget_bytes,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere cannot leave a half-written entry: entries are inserted whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The direction of batch `batch` under `key`, computed by `compute` unless kept.
    /// `key` must name everything the direction depends on besides the batch: model, attack
    /// (goal, loss, temperature), the ball's norm and mask.
    ///
    /// # Errors
    /// Those of `compute`.
    pub fn direction<const D: usize>(
        &self,
        key: &str,
        batch: usize,
        compute: impl FnOnce() -> Result<Tensor<D>>,
    ) -> Result<Tensor<D>> {
        {
            let mut st = self.lock();
            if st.key != key {
                let (computed, reused) = (st.computed, st.reused);
                *st = State {
                    key: key.to_string(),
                    computed,
                    reused,
                    ..State::default()
                };
            }
            if let Some(d) = st.dirs.get(&batch).cloned() {
                st.reused += 1;
                drop(st);
                return Ok(Tensor::from_data(d, &mira_nn::default_device()));
            }
        }
        // Computed outside the lock: batches of a wave compute theirs side by side.
        let dir = compute()?;
        let mut st = self.lock();
        st.computed += 1;
        let bytes = dir.shape().num_elements() * std::mem::size_of::<f32>();
        if st.key == key && st.bytes + bytes <= self.budget_bytes {
            st.bytes += bytes;
            st.dirs.insert(batch, dir.clone().into_data());
        }
        Ok(dir)
    }

    /// How many directions were computed and how many were reused, over the memo's life.
    pub fn counts(&self) -> (usize, usize) {
        let st = self.lock();
        (st.computed, st.reused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: f32) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(vec![v; 4], [1, 4]),
            &mira_nn::default_device(),
        )
    }

    #[test]
    fn reuses_within_a_key_clears_on_a_new_key_and_respects_the_budget() {
        let memo = FgsmMemo::with_budget(16); // one 4-float direction
        let calls = std::cell::Cell::new(0);
        let get = |key: &str, b: usize, v: f32| {
            memo.direction(key, b, || {
                calls.set(calls.get() + 1);
                Ok(t(v))
            })
            .map(mira_nn::tensor_to_vec)
            .unwrap()
        };
        assert_eq!(get("m/a", 0, 1.0), vec![1.0; 4]);
        assert_eq!(get("m/a", 0, 9.0), vec![1.0; 4], "kept, not recomputed");
        assert_eq!(
            get("m/a", 1, 2.0),
            vec![2.0; 4],
            "over budget: computed ..."
        );
        assert_eq!(get("m/a", 1, 3.0), vec![3.0; 4], "... and not kept");
        assert_eq!(get("m/b", 0, 4.0), vec![4.0; 4], "a new key clears the old");
        assert_eq!(calls.get(), 4);
        assert_eq!(memo.counts(), (4, 1));
        let off = FgsmMemo::with_budget(0);
        for v in [1.0, 2.0] {
            let got = off
                .direction("k", 0, || Ok(t(v)))
                .map(mira_nn::tensor_to_vec)
                .unwrap();
            assert_eq!(got, vec![v; 4]);
        }
        assert_eq!(off.counts(), (2, 0));
    }
}
