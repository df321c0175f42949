//! Batches of a cell attacked side by side.
//!
//! A batch's attack is a chain of forward and backward passes. Mira's convolutions spread
//! over the rayon pool, but much of the rest of a pass (burn's element-wise ops, pooling,
//! concatenation, the runner's scoring on the host) runs on one thread while the other workers
//! wait. Batches draw their randomness from `(seed, batch)` alone and share nothing mutable, so
//! the runner attacks a *wave* of batches at once on the pool: one batch's serial work then
//! overlaps another's convolutions. Each batch computes exactly what it computes alone (the
//! kernels' results do not depend on which thread runs them), and results are handed back in
//! batch order, so records, files and progress are the same as one batch at a time.

use rayon::prelude::*;

use crate::Result;

/// How many batches run at once: `MIRA_BATCH_JOBS` when set (1 turns waves off), else 2 when
/// the pool has at least two threads. Two are enough to fill the gaps of one; more would
/// multiply the memory of a batch's working set for little gain.
pub(crate) fn batch_jobs() -> usize {
    let threads = rayon::current_num_threads();
    match std::env::var("MIRA_BATCH_JOBS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(n) => n.max(1),
        None => threads.clamp(1, 2),
    }
}

/// Runs `work` on every batch of `todo` in waves of [`batch_jobs`] and hands each result to
/// `done` in the order of `todo`. Stops at the first error (in batch order) after the wave it
/// occurred in; `done` has then seen every batch before it.
///
/// # Errors
/// The first error of `work` or `done`.
pub(crate) fn in_waves<T: Send>(
    todo: &[usize],
    work: impl Fn(usize) -> Result<T> + Sync,
    mut done: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    let jobs = batch_jobs();
    for wave in todo.chunks(jobs) {
        let outs: Vec<Result<T>> = if wave.len() == 1 {
            vec![work(wave[0])]
        } else {
            wave.par_iter().map(|&b| work(b)).collect()
        };
        for (out, &b) in outs.into_iter().zip(wave) {
            done(b, out?)?;
        }
    }
    Ok(())
}

/// [`in_waves`] for cells whose batches each give records and kept items: both come back
/// concatenated in batch order, and `on_batch` hears each batch's record count.
///
/// # Errors
/// The first error of `work`.
pub(crate) fn records_in_waves<R: Send, K: Send>(
    todo: &[usize],
    work: impl Fn(usize) -> Result<(Vec<R>, Vec<K>)> + Sync,
    on_batch: &mut dyn FnMut(usize),
) -> Result<(Vec<R>, Vec<K>)> {
    let (mut records, mut kept) = (Vec::new(), Vec::new());
    in_waves(todo, work, |_, (r, k)| {
        on_batch(r.len());
        records.extend(r);
        kept.extend(k);
        Ok(())
    })?;
    Ok((records, kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EvalError;

    #[test]
    fn results_come_back_in_batch_order_and_errors_stop_the_run() {
        let todo = [0, 2, 3, 5, 7];
        let mut seen = Vec::new();
        in_waves::<usize>(
            &todo,
            |b| Ok(b * 10),
            |b, v| {
                seen.push((b, v));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, vec![(0, 0), (2, 20), (3, 30), (5, 50), (7, 70)]);

        let mut seen = Vec::new();
        let err = in_waves::<usize>(
            &todo,
            |b| {
                if b == 5 {
                    Err(EvalError::invalid("test", format!("batch {b}")))
                } else {
                    Ok(b)
                }
            },
            |b, _| {
                seen.push(b);
                Ok(())
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("batch 5"), "{err}");
        assert_eq!(
            seen,
            vec![0, 2, 3],
            "every batch before the failing one is handed on"
        );
    }
}
