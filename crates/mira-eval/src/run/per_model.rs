//! Values a task computes once per model and shares with every batch of the model's cells,
//! such as its clean predictions: computed on the runner's thread before the model's first
//! cell (`Task::before_cell`), read by the batches, which may run in parallel.

use std::sync::{Arc, Mutex};

use crate::{EvalError, Result};

/// One lazily computed value per model.
pub struct PerModel<T> {
    slots: Mutex<Vec<Option<Arc<T>>>>,
}

impl<T> PerModel<T> {
    /// `n` empty slots.
    pub fn new(n: usize) -> Self {
        Self {
            slots: Mutex::new((0..n).map(|_| None).collect()),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Option<Arc<T>>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of model `i`, computing it with `compute` when it is not there yet.
    ///
    /// # Errors
    /// Those of `compute`; an index out of range.
    pub fn ensure(&self, i: usize, compute: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        let mut slots = self.slots();
        let slot = slots
            .get_mut(i)
            .ok_or_else(|| EvalError::invalid("models", format!("no model {i}")))?;
        if let Some(v) = slot {
            return Ok(v.clone());
        }
        let v = Arc::new(compute()?);
        *slot = Some(v.clone());
        Ok(v)
    }

    /// The value of model `i`, computed earlier by [`PerModel::ensure`].
    ///
    /// # Errors
    /// The value was not computed: a task that reads it before its `before_cell` ran.
    pub fn get(&self, i: usize) -> Result<Arc<T>> {
        self.slots()
            .get(i)
            .cloned()
            .flatten()
            .ok_or_else(|| EvalError::invalid("models", format!("model {i}: not computed yet")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_once_and_hands_out_the_same_value() {
        let m = PerModel::new(2);
        assert!(m.get(0).is_err());
        let mut calls = 0;
        for _ in 0..2 {
            let v = m
                .ensure(1, || {
                    calls += 1;
                    Ok(vec![7u8])
                })
                .unwrap();
            assert_eq!(*v, vec![7]);
        }
        assert_eq!(calls, 1);
        assert!(m.get(1).is_ok());
        assert!(m.ensure(5, || Ok(vec![])).is_err());
    }
}
