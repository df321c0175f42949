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

/// Copies the folder `src` into `dst` (created), recursively: a test that compares two runs
/// gives the second the first's trained models (`OUT/models/`), so the comparison does not
/// depend on training being reproducible while other tests share the process.
///
/// # Panics
/// On any I/O error (tests only).
pub fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).expect("create the copy's folder");
    for entry in std::fs::read_dir(src).expect("read the folder to copy") {
        let entry = entry.expect("a folder entry");
        let to = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).expect("copy a file");
        }
    }
}
