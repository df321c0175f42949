//! The devices Mira computes on, and seeded model construction.

use std::sync::Mutex;

use burn::prelude::Device;

/// The plain (no autodiff) compute device: burn's `flex` CPU backend.
pub fn default_device() -> Device {
    Device::flex()
}

/// The same device with automatic differentiation, for training and input gradients.
pub fn autodiff_device() -> Device {
    default_device().autodiff()
}

/// burn's random generator is global to the backend and parameters are initialised lazily,
/// at first use. Builders that must be reproducible hold this lock while they seed, build and
/// materialise, so that concurrent threads (parallel tests, a trainer beside an attack) cannot
/// interleave their draws.
static SEED_LOCK: Mutex<()> = Mutex::new(());

/// Seeds `device`, runs `build` (which must also materialise the parameters, e.g. with one
/// forward pass) and returns its result, all under a process-wide lock.
pub fn seeded<T>(device: &Device, seed: u64, build: impl FnOnce(&Device) -> T) -> T {
    let _guard = SEED_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    build(device)
}
