//! The devices Mira computes on, and seeded model construction.

use std::sync::{Mutex, OnceLock};

use burn::prelude::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::NnError;

/// Where models run: burn's `flex` CPU backend (always built), or a GPU through burn's CUDA
/// or wgpu backend (cargo features `cuda` / `wgpu`). The code paths are the same: burn 0.22's
/// `Device` is chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The flex CPU backend.
    #[default]
    Cpu,
    /// The first NVIDIA GPU (feature `cuda`).
    Cuda,
    /// The default wgpu adapter (feature `wgpu`: Vulkan, Metal, DX12).
    Wgpu,
}

impl std::str::FromStr for DeviceChoice {
    type Err = NnError;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "wgpu" => Ok(Self::Wgpu),
            other => Err(NnError::Device(format!(
                "unknown device `{other}` (cpu, cuda or wgpu)"
            ))),
        }
    }
}

static SELECTED: OnceLock<Device> = OnceLock::new();

/// The device `MIRA_DEVICE` names, selected at first use (`None`: unset, unknown or not
/// usable here: the CPU then).
static FROM_ENV: OnceLock<Option<Device>> = OnceLock::new();

/// Runs `make` and one small computation on the device it returns, turning a panic of the
/// backend (no driver, no adapter) into an error.
#[allow(dead_code)]
fn probe(
    what: &str,
    make: impl FnOnce() -> Device + std::panic::UnwindSafe,
) -> crate::Result<Device> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| {
        let device = make();
        let sum = Tensor::<1>::from_floats([1.0, 2.0], &device)
            .sum()
            .into_scalar::<f32>();
        (device, sum)
    });
    std::panic::set_hook(hook);
    match result {
        Ok((device, 3.0)) => Ok(device),
        Ok((_, sum)) => Err(NnError::Device(format!(
            "{what} computed 1 + 2 = {sum}; refusing to use it"
        ))),
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the backend panicked".into());
            Err(NnError::Device(format!(
                "{what} is not usable here ({msg}); check the driver, or run with --device cpu"
            )))
        }
    }
}

fn not_built(feature: &str, needs: &str) -> NnError {
    NnError::Device(format!(
        "this mira was built without the `{feature}` feature; rebuild with \
         `cargo build --release --features {feature}` ({needs}), or run with --device cpu"
    ))
}

/// Makes `choice` the device every model of this process runs on (call once, before any
/// model is built). The GPU is checked with a small computation first.
///
/// # Errors
/// A backend not built into this binary, an unusable device (missing driver or adapter), or
/// a second, different selection.
pub fn select_device(choice: DeviceChoice) -> crate::Result<Device> {
    let device = match choice {
        DeviceChoice::Cpu => Device::flex(),
        DeviceChoice::Cuda => {
            #[cfg(feature = "cuda")]
            {
                probe("CUDA device 0", || Device::cuda(0usize))?
            }
            #[cfg(not(feature = "cuda"))]
            {
                return Err(not_built(
                    "cuda",
                    "needs network access at build time, where cubecl downloads LLVM, and an \
                     NVIDIA driver at run time",
                ));
            }
        }
        DeviceChoice::Wgpu => {
            #[cfg(feature = "wgpu")]
            {
                probe("the default wgpu adapter", || {
                    Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)
                })?
            }
            #[cfg(not(feature = "wgpu"))]
            {
                return Err(not_built(
                    "wgpu",
                    "needs a Vulkan, Metal or DX12 driver at run time",
                ));
            }
        }
    };
    if SELECTED.get().is_some_and(|d| *d != device) {
        return Err(NnError::Device(
            "a different device was already selected for this process".into(),
        ));
    }
    Ok(SELECTED.get_or_init(|| device).clone())
}

/// The plain (no autodiff) compute device: the one [`select_device`] chose; else the one the
/// environment variable `MIRA_DEVICE` names (`cpu`, `cuda`, `wgpu`; how the test suite runs on
/// a GPU, `scripts/gpu_check.sh`), when this binary has its backend and it works; else burn's
/// `flex` CPU backend.
pub fn default_device() -> Device {
    if let Some(d) = SELECTED.get() {
        return d.clone();
    }
    FROM_ENV
        .get_or_init(|| {
            let choice = std::env::var("MIRA_DEVICE")
                .ok()?
                .parse::<DeviceChoice>()
                .ok()?;
            select_device(choice).ok()
        })
        .clone()
        .unwrap_or_else(Device::flex)
}

/// Whether [`default_device`] is burn's `flex` CPU backend, where Mira's own kernels run
/// (on a GPU burn's operations do; the kernels' own tests check what applies there).
pub fn default_is_cpu() -> bool {
    default_device() == Device::flex()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_choices_parse_and_unbuilt_backends_fail_with_the_feature_named() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert!(
            "tpu"
                .parse::<DeviceChoice>()
                .unwrap_err()
                .to_string()
                .contains("tpu")
        );
        // A process whose tests run on a GPU (`MIRA_DEVICE`, the GPU check) has chosen it.
        if default_is_cpu() {
            assert_eq!(select_device(DeviceChoice::Cpu).unwrap(), Device::flex());
        }
        #[cfg(not(feature = "cuda"))]
        {
            let e = select_device(DeviceChoice::Cuda).unwrap_err().to_string();
            assert!(
                e.contains("`cuda` feature") && e.contains("--features cuda"),
                "{e}"
            );
        }
        #[cfg(not(feature = "wgpu"))]
        {
            let e = select_device(DeviceChoice::Wgpu).unwrap_err().to_string();
            assert!(e.contains("`wgpu` feature"), "{e}");
        }
    }
}
