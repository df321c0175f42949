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

/// For tests that need the shared data: the folder, or `None` after printing a skip notice.
/// With `MIRA_REQUIRE_SHARED_DATA=1` (as in CI) a missing folder is a failure instead.
///
/// # Panics
/// When the folder is missing and `MIRA_REQUIRE_SHARED_DATA=1`: that is the point, in tests.
pub fn shared_data_for_test(test: &str) -> Option<PathBuf> {
    match shared_data_dir() {
        Some(d) => Some(d),
        None if std::env::var("MIRA_REQUIRE_SHARED_DATA").as_deref() == Ok("1") => {
            panic!("{test}: ../shared/data is required (MIRA_REQUIRE_SHARED_DATA=1) but missing")
        }
        None => {
            eprintln!("SKIP {test}: ../shared/data not found");
            None
        }
    }
}
