//! `MIRA_DEVICE` selects the device of a process that selects none (how `scripts/gpu_check.sh`
//! runs the test suite on a GPU): with it naming a GPU backend this binary has, models run
//! there and not on the CPU; unset, they run on the CPU.

use burn::prelude::Device;
use mira_nn::{DeviceChoice, default_device};

#[test]
fn mira_device_names_the_device_of_a_process_that_selects_none() {
    let named = std::env::var("MIRA_DEVICE").ok();
    let choice = named.as_deref().map(|s| s.parse::<DeviceChoice>());
    match choice {
        None | Some(Ok(DeviceChoice::Cpu)) => assert_eq!(default_device(), Device::flex()),
        // A GPU named: the check runs where that GPU is, so not being on it is a failure.
        Some(Ok(_)) => assert_ne!(
            default_device(),
            Device::flex(),
            "MIRA_DEVICE={} did not select a GPU: is the backend built (--features) and the \
             driver there?",
            named.unwrap_or_default()
        ),
        Some(Err(e)) => panic!("MIRA_DEVICE: {e}"),
    }
}
