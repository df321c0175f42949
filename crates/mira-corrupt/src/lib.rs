//! Scanner artefacts and natural corruptions (issue 30): what scanners do to images, as seeded
//! draws of a family at a severity 1–5, applied to batches of images or volumes
//! `[B, C, D, H, W]` (a 2D image has D = 1) in model units on any burn device.
//!
//! - `axis.rs`: linear maps along one spatial axis, among them the DFT (cosine and sine
//!   matrices: exact at these sizes, differentiable through burn's autodiff).
//! - `kspace.rs`: MR ghosting, spike, Gibbs truncation, rigid motion (rotated and shifted
//!   copies mixed in k-space).
//! - `rigid.rs`: rotations about the image centre (trilinear, zero outside).
//! - `intensity.rs`: Rician and Gaussian noise, gamma, bias field, CT window shift, X-ray
//!   contrast.
//! - `resolution.rs`: Gaussian blur, anisotropic resolution.
//! - `family.rs`: the families, their severity tables and seeded draws.
//! - `worst.rs`: the worst case within a family (projected ascent on a draw's parameters).
//!
//! Invariants: a corruption at its zero parameter is the identity (tested per family); outputs
//! stay in [0, 1]; a draw depends on (family, severity, size, generator state) alone.

pub mod axis;
mod family;
pub mod intensity;
pub mod kspace;
pub mod resolution;
pub mod rigid;
mod worst;

pub use family::{Corruption, Family};
pub use worst::WorstCase;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum CorruptError {
    /// A parameter or severity out of range, or a family that needs what it was not given.
    #[error("invalid corruption: {0}")]
    Invalid(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, CorruptError>;
