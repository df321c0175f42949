//! Adversarial attacks that see only an objective.
//!
//! An [`Objective`] is a per-sample scalar function of the input with its gradient, bound to a
//! model, a task loss and a [`Goal`]; "higher is better for the adversary" always, because the
//! sign flip of targeted goals happens once, when the objective is built. Attacks maximise it
//! inside a threat model ([`LpBall`]: L∞ or L2 ball around the clean input, intersected with the
//! valid intensity range, optionally masked). The same code therefore attacks segmentation,
//! registration and regression networks, on images (rank 4) and volumes (rank 5).
//!
//! FGSM, i-FGSM (BIM) and PGD are presets of one [`ProjectedGradient`] engine; targeted
//! i-FGSM is i-FGSM with [`Goal::Targeted`].

mod apgd;
mod attack;
mod auto;
mod ball;
mod cascade;
mod catalogue;
mod early_stop;
mod engine;
mod fgsm;
mod goal;
mod ifgsm;
mod method;
mod mifgsm;
mod min_norm;
mod objective;
mod pgd;
mod pgd_adamax;
mod random_search;
mod seg_loss;
mod spsa;
mod square;
mod synthesis;
mod target_search;
mod universal;
mod warp;

pub use apgd::{ApgdConfig, apgd_checkpoints};
pub use attack::{Attack, AttackSpec, KINDS};
pub use auto::AutoConfig;
pub use ball::{Bounds, L2_INSIDE, LpBall, Norm, per_sample_norm};
pub use cascade::{CascadeMember, CascadeState, Judge, member_seed, run_cascade};
pub use catalogue::{AttackInfo, catalogue};
pub use early_stop::Stopped;
pub use engine::{ProjectedGradient, StepRule, first_direction};
pub use fgsm::{FgsmConfig, fgsm};
pub use goal::Goal;
pub use ifgsm::IfgsmConfig;
pub use method::{AttackMethod, AttackParams};
pub use mifgsm::MiFgsmConfig;
pub use min_norm::{MinNormConfig, MinNormResult, success_curve};
pub use objective::{ModelObjective, Objective};
pub use pgd::PgdConfig;
pub use pgd_adamax::PgdAdamaxConfig;
pub use random_search::RandomSearch;
pub use seg_loss::{
    SegLoss, SegObjective, pixel_weights, seg_loss, segmentation_loss_objective,
    segmentation_margin_objective, segmentation_objective, weighted_ce,
};
pub use spsa::SpsaConfig;
pub use square::{SquareConfig, square_share};
pub use synthesis::{Synthesis, SynthesisConfig, SynthesisFit, SynthesisLoss, SynthesisParams};
pub use target_search::{DamageFn, IndexedLoss, TargetOutcome, search_budget, single, stack};
pub use universal::{UniversalConfig, UniversalFit, apply_universal};
pub use warp::{
    BsplineGrid, bspline_matrix, control_spacing, min_jacobian_det, warp_bilinear,
    warp_labels_nearest,
};

/// Errors from attacks.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// A budget or attack parameter is out of range.
    #[error("invalid attack parameter `{field}`: {reason}")]
    InvalidParameter { field: &'static str, reason: String },
    /// The objective produced a NaN or infinite value or gradient.
    #[error(
        "non-finite {what} at step {step}: the model or loss is numerically broken for this input"
    )]
    NonFinite { what: &'static str, step: usize },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, AttackError>;
