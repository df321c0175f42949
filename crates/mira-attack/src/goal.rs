//! What the adversary wants.

/// Untargeted: push the task loss against the truth up. Targeted: pull the task loss against a
/// target down (e.g. a mask with the tumour removed). The sign is applied once, when the
/// objective is built, so every attack simply maximises.
#[derive(Debug, Clone, PartialEq)]
pub enum Goal<T> {
    /// Move away from the ground truth.
    Untargeted {
        /// The ground truth.
        truth: T,
    },
    /// Move towards a chosen output.
    Targeted {
        /// The output the adversary wants.
        target: T,
    },
}

impl<T> Goal<T> {
    /// The reference the task loss is computed against.
    pub fn reference(&self) -> &T {
        match self {
            Goal::Untargeted { truth } => truth,
            Goal::Targeted { target } => target,
        }
    }

    /// `+1` for untargeted goals, `-1` for targeted ones.
    pub fn sign(&self) -> f32 {
        match self {
            Goal::Untargeted { .. } => 1.0,
            Goal::Targeted { .. } => -1.0,
        }
    }

    /// Whether this is a targeted goal.
    pub fn is_targeted(&self) -> bool {
        matches!(self, Goal::Targeted { .. })
    }
}
