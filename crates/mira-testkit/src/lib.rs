//! Test support shared by Mira's crates. A dev-dependency only: library crates never print, but
//! a test that cannot run must say so.

use std::path::PathBuf;

/// For tests that need the shared data: the folder, or `None` after printing a skip notice.
/// With `MIRA_REQUIRE_SHARED_DATA=1` (as in CI) a missing folder is a failure instead.
///
/// # Panics
/// When the folder is missing and `MIRA_REQUIRE_SHARED_DATA=1`: that is the point, in tests.
pub fn shared_data_for_test(test: &str) -> Option<PathBuf> {
    match mira_io::shared_data_dir() {
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
