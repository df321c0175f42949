//! The devices Mira computes on.

use burn::prelude::Device;

/// The plain (no autodiff) compute device: burn's `flex` CPU backend.
pub fn default_device() -> Device {
    Device::flex()
}

/// The same device with automatic differentiation, for training and input gradients.
pub fn autodiff_device() -> Device {
    default_device().autodiff()
}
