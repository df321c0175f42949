//! Golden runs: one tiny experiment per task (segmentation, registration, brain age, disk shape,
//! synthesis) through the `mira` binary, and `mira attack` on the segmentation run's model.
//! Records, summaries, warnings, comparison files, report text and the names of the pictures are
//! pinned in `tests/golden/<task>/expected/`; `mira report` must rebuild the same summaries and
//! report from the folder.
//!
//! What may differ between two runs of the same build is normalised away: the sessions of the
//! manifest (start time, machine), the git commit, and SHA-256 hashes (weights can differ in
//! their last bits between processes). Numbers are compared with the precision they are printed
//! with: a value printed with `d` decimals may move by one unit of its last digit, full-precision
//! floats by 1e-6 relative (burn's CPU kernels may round an element-wise step differently
//! between processes); words, names and integers must match exactly.
//!
//! To regenerate after an intended change: `MIRA_GOLDEN_UPDATE=1 cargo test --release -p
//! mira-cli --test golden`, then read the diff of `tests/golden/` before committing it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_dir(task: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(task)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-golden-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn mira(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(args)
        .env("MIRA_FGSM_MEMO_MB", "1024")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mira {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The files of a run folder that are pinned: top-level text outputs, plus `files.txt`, the
/// names of everything below `examples/`, `universal/` and `models/`.
fn pinned(out: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut listing = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if ["examples", "universal", "models", "generators"].contains(&name.as_str()) {
                let mut below: Vec<String> = walk(&p)
                    .into_iter()
                    .map(|q| q.strip_prefix(out).unwrap().display().to_string())
                    .collect();
                below.sort();
                listing.extend(below);
            }
            continue;
        }
        let text_file = [".json", ".jsonl", ".md", ".csv", ".html"]
            .iter()
            .any(|e| name.ends_with(e));
        if text_file {
            files.push((name, normalise(&std::fs::read_to_string(&p).unwrap())));
        }
    }
    files.push(("files.txt".into(), listing.join("\n") + "\n"));
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Replaces what legitimately differs between runs of one build (see the module docs).
fn normalise(text: &str) -> String {
    let mut s = text.to_string();
    for key in ["started_unix", "os", "arch", "threads", "git_commit"] {
        for quote in ["\"", "&quot;"] {
            let pat = format!("{quote}{key}{quote}: ");
            let mut from = 0;
            while let Some(i) = s[from..].find(&pat) {
                let start = from + i + pat.len();
                let end = s[start..]
                    .find([',', '\n', '}'])
                    .map_or(s.len(), |j| start + j);
                s.replace_range(start..end, "<run>");
                from = start;
            }
        }
    }
    // The commit the report names: `commit <40 hex digits>[-dirty]`.
    let mut from = 0;
    while let Some(i) = s[from..].find("commit ") {
        let start = from + i + "commit ".len();
        let hex = s[start..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .count();
        if hex == 40 {
            let dirty = usize::from(s[start + 40..].starts_with("-dirty")) * "-dirty".len();
            s.replace_range(start..start + 40 + dirty, "<commit>");
        }
        from = start;
    }
    // Run folders of this test: `mira-golden-<name>-<pid>`.
    let mut from = 0;
    while let Some(i) = s[from..].find("mira-golden-") {
        let start = from + i + "mira-golden-".len();
        let name_end = s[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(s.len(), |j| start + j);
        let digits = s[name_end..]
            .strip_prefix('-')
            .map_or(0, |t| t.chars().take_while(char::is_ascii_digit).count());
        if digits > 0 {
            s.replace_range(name_end + 1..name_end + 1 + digits, "<pid>");
        }
        from = name_end;
    }
    // SHA-256 hashes: 64 hex digits in a row.
    let bytes: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            .count();
        if run == 64 {
            out.push_str("<sha256>");
            i += run;
        } else if run > 0 {
            out.extend(&bytes[i..i + run]);
            i += run;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Splits text into number tokens and the text between them.
fn tokens(s: &str) -> Vec<(bool, &str)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut last) = (0, 0);
    while i < b.len() {
        let starts_number = b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'));
        if !starts_number {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
            j += 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
        }
        if j + 1 < b.len() && (b[j] == b'e' || b[j] == b'E') {
            let mut k = j + 1;
            if k < b.len() && (b[k] == b'-' || b[k] == b'+') {
                k += 1;
            }
            if k < b.len() && b[k].is_ascii_digit() {
                while k < b.len() && b[k].is_ascii_digit() {
                    k += 1;
                }
                j = k;
            }
        }
        // A sign belongs to the number.
        let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
        if start > last {
            out.push((false, &s[last..start]));
        }
        out.push((true, &s[start..j]));
        last = j;
        i = j;
    }
    if last < s.len() {
        out.push((false, &s[last..]));
    }
    out
}

/// How far a printed number may move: one unit of its last printed digit, or 1e-6 relative.
fn tolerance(token: &str, value: f64) -> f64 {
    let (mantissa, exp) = match token.find(['e', 'E']) {
        Some(k) => (&token[..k], token[k + 1..].parse::<i32>().unwrap_or(0)),
        None => (token, 0),
    };
    let decimals = mantissa.find('.').map_or(0, |d| mantissa.len() - d - 1) as i32;
    let digit = if decimals == 0 && exp == 0 {
        0.0
    } else {
        1.01 * 10f64.powi(exp - decimals)
    };
    digit.max(1e-6 * value.abs())
}

/// `None` when `actual` matches `expected` within the printed precision, else the first
/// difference with its line.
fn mismatch(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (e, a) = (tokens(expected), tokens(actual));
    let line_of = |text: &str, tok: &[(bool, &str)], k: usize| {
        let offset: usize = tok[..k].iter().map(|t| t.1.len()).sum();
        let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        format!(
            "line {}: {}",
            text[..offset].lines().count().max(1),
            &text[start..end]
        )
    };
    for k in 0..e.len().max(a.len()) {
        let (Some(x), Some(y)) = (e.get(k), a.get(k)) else {
            return Some(format!(
                "different length at token {k}; expected {}",
                if k < e.len() {
                    line_of(expected, &e, k)
                } else {
                    line_of(actual, &a, k)
                }
            ));
        };
        let same = match (x, y) {
            ((true, p), (true, q)) => match (p.parse::<f64>(), q.parse::<f64>()) {
                (Ok(u), Ok(v)) => (u - v).abs() <= tolerance(p, u),
                _ => p == q,
            },
            _ => x == y,
        };
        if !same {
            return Some(format!(
                "expected {}\n  actual {}",
                line_of(expected, &e, k),
                line_of(actual, &a, k)
            ));
        }
    }
    None
}

/// Compares the pinned files of `out` with `tests/golden/<name>/expected` (or rewrites them
/// with `MIRA_GOLDEN_UPDATE=1`).
fn check_against_golden(name: &str, out: &Path) {
    let files = pinned(out);
    let expected_dir = golden_dir(name).join("expected");
    if std::env::var_os("MIRA_GOLDEN_UPDATE").is_some() {
        let _ = std::fs::remove_dir_all(&expected_dir);
        std::fs::create_dir_all(&expected_dir).unwrap();
        for (file, text) in &files {
            std::fs::write(expected_dir.join(file), text).unwrap();
        }
        return;
    }
    let mut problems = Vec::new();
    let mut want: Vec<String> = std::fs::read_dir(&expected_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    want.sort();
    let have: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    let mut have_sorted = have.clone();
    have_sorted.sort();
    if want != have_sorted {
        problems.push(format!("files: expected {want:?}, got {have_sorted:?}"));
    }
    for (file, text) in &files {
        let Ok(golden) = std::fs::read_to_string(expected_dir.join(file)) else {
            continue;
        };
        if let Some(m) = mismatch(&golden, text) {
            problems.push(format!("{name}/{file}: {m}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Runs `tests/golden/<task>/experiment.toml`, checks that `mira report` rebuilds the same
/// outputs, and compares them with the golden files. Returns the run folder.
fn golden_run(task: &str) -> PathBuf {
    let exp = golden_dir(task).join("experiment.toml");
    let out = tmp(task);
    mira(&["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let before = pinned(&out);
    mira(&["report", out.to_str().unwrap()]);
    let after = pinned(&out);
    for ((file, a), (_, b)) in before.iter().zip(&after) {
        if let Some(m) = mismatch(a, b) {
            panic!("`mira report` rebuilt {task}/{file} differently: {m}");
        }
    }
    check_against_golden(task, &out);
    out
}

#[test]
fn golden_segmentation_run_and_attack() {
    let out = golden_run("segmentation");
    let attack = tmp("attack");
    mira(&[
        "attack",
        "--checkpoint",
        out.join("models/plain").to_str().unwrap(),
        "--attack",
        "ifgsm",
        "--steps",
        "2",
        "--n",
        "4",
        "--size",
        "16",
        "--eps",
        "0,0.05",
        "--seed",
        "3",
        "--out",
        attack.to_str().unwrap(),
    ]);
    check_against_golden("attack", &attack);
    for d in [out, attack] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn golden_registration_run() {
    std::fs::remove_dir_all(golden_run("registration")).unwrap();
}

#[test]
fn golden_brain_age_run() {
    std::fs::remove_dir_all(golden_run("brain_age")).unwrap();
}

#[test]
fn golden_shape_run() {
    std::fs::remove_dir_all(golden_run("shape")).unwrap();
}

#[test]
fn golden_synthesis_run() {
    std::fs::remove_dir_all(golden_run("synthesis")).unwrap();
}

#[test]
fn the_comparison_allows_only_the_printed_precision() {
    assert_eq!(mismatch("a 0.123 b", "a 0.124 b"), None);
    assert!(mismatch("a 0.123 b", "a 0.125 b").is_some());
    assert!(mismatch("cells 12", "cells 13").is_some());
    assert!(mismatch("model plain", "model plane").is_some());
    assert_eq!(
        mismatch("0.81234567890123", "0.8123456789013"),
        None,
        "full precision: 1e-6 relative"
    );
    assert!(mismatch("0.8123", "0.8125").is_some());
    assert_eq!(mismatch("p = 3.1e-5", "p = 3.2e-5"), None);
    assert!(mismatch("p = 3.1e-5", "p = 3.3e-5").is_some());
    assert_eq!(mismatch("unet-w4-d2", "unet-w4-d2"), None);
    assert!(mismatch("-0.5", "0.5").is_some());
    assert_eq!(
        normalise("\"started_unix\": 17, \"threads\": 2\n"),
        "\"started_unix\": <run>, \"threads\": <run>\n"
    );
    assert_eq!(
        normalise("/tmp/mira-golden-segmentation-4711/models"),
        "/tmp/mira-golden-segmentation-<pid>/models"
    );
    assert_eq!(
        normalise(&format!("(commit {}-dirty)", "a".repeat(40))),
        "(commit <commit>)"
    );
    let hash = "ab".repeat(32);
    assert_eq!(normalise(&format!("x {hash} y")), "x <sha256> y");
}
