//! Batches of a cell attacked side by side.
//!
//! A batch's attack is a chain of forward and backward passes that draws its randomness from
//! `(seed, batch)` alone and shares nothing mutable, so the runner attacks a cell's batches side
//! by side, each on a lane of its own (`lanes.rs`): each batch computes exactly what it
//! computes alone, and results are handed back in batch order, so records, files and progress
//! are the same as one batch at a time.

use crate::Result;
use crate::run::lanes::side_by_side;

/// Runs `work` on every batch of `todo` side by side on the lanes and hands each result to
/// `done` in the order of `todo`. Stops at the first error (in batch order); `done` has then
/// seen every batch before it.
///
/// # Errors
/// The first error of `work` or `done`.
pub(crate) fn batches_side_by_side<T: Send>(
    todo: &[usize],
    work: impl Fn(usize) -> Result<T> + Sync,
    mut done: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    side_by_side(todo.len(), |k| work(todo[k]), |k, v| done(todo[k], v))
}

/// [`batches_side_by_side`] for cells whose batches each give records and kept items: both come back
/// concatenated in batch order, and `on_batch` hears each batch's record count.
///
/// # Errors
/// The first error of `work`.
pub(crate) fn records_side_by_side<R: Send, K: Send>(
    todo: &[usize],
    work: impl Fn(usize) -> Result<(Vec<R>, Vec<K>)> + Sync,
    on_batch: &mut dyn FnMut(usize),
) -> Result<(Vec<R>, Vec<K>)> {
    let (mut records, mut kept) = (Vec::new(), Vec::new());
    batches_side_by_side(todo, work, |_, (r, k)| {
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
        batches_side_by_side::<usize>(
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
        let err = batches_side_by_side::<usize>(
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
