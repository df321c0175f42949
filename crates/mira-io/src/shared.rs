//! Locating `../shared/data`, the folder of real images that tests and studies may use.

use std::path::PathBuf;

/// The shared data folder: `$MIRA_SHARED_DATA` if set, else `../shared/data` beside the
/// workspace root (found from the current directory upwards). `None` when absent.
pub fn shared_data_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MIRA_SHARED_DATA") {
        let p = PathBuf::from(p);
        return p.is_dir().then_some(p);
    }
    let start = std::env::current_dir().ok()?;
    start
        .ancestors()
        .map(|a| a.join("../shared/data"))
        .find(|p| p.join("README.md").is_file())
}
