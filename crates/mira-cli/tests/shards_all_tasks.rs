//! Every task shards: the golden experiment of registration, brain age, disk shape and
//! synthesis, run in three shards (`mira run --models-only`, `--shard K/3`, `mira merge`) on the
//! weights of an unsharded run, gives the unsharded run's records, summaries, warnings and
//! picture names. (Segmentation: `mira-eval/tests/shards.rs` and the Slurm integration test.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn mira(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mira {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-shards-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// Names of the files below `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn sharded_equals_whole(task: &str) {
    sharded_equals_whole_with(task, "");
}

/// [`sharded_equals_whole`] with `extra` appended to the golden experiment (e.g. corruption
/// entries), written beside the run folders.
fn sharded_equals_whole_with(task: &str, extra: &str) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(task)
        .join("experiment.toml");
    let tag = if extra.is_empty() {
        task.to_string()
    } else {
        format!("{task}-extra")
    };
    let file = tmp(&format!("{tag}-file")).join("experiment.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let text = std::fs::read_to_string(&golden).unwrap() + extra;
    std::fs::write(&file, text).unwrap();
    let exp = file.to_str().unwrap();
    let (whole, sharded) = (tmp(&format!("{tag}-whole")), tmp(&format!("{tag}-sharded")));
    mira(&["run", exp, "--out", whole.to_str().unwrap()]);
    // The same weights: training is not what this test is about.
    for models in ["models", "generators"] {
        if whole.join(models).is_dir() {
            copy_dir(&whole.join(models), &sharded.join(models));
        }
    }
    let out = sharded.to_str().unwrap();
    mira(&["run", exp, "--out", out, "--models-only"]);
    for k in 0..3 {
        mira(&["run", exp, "--out", out, "--shard", &format!("{k}/3")]);
    }
    assert_eq!(names(&sharded.join("shards")).len(), 3);
    mira(&["merge", out]);
    for file in [
        "records.jsonl",
        "summary.md",
        "summary.json",
        "warnings.json",
    ] {
        let (a, b) = (
            std::fs::read_to_string(whole.join(file)).unwrap(),
            std::fs::read_to_string(sharded.join(file)).unwrap(),
        );
        assert!(a == b, "{task}: {file} of the merged shards differs");
    }
    for dir in ["examples", "universal"] {
        assert_eq!(
            names(&whole.join(dir)),
            names(&sharded.join(dir)),
            "{task}: {dir}/"
        );
    }
    for d in [whole, sharded, file.parent().unwrap().to_path_buf()] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn registration_shards_merge_to_the_unsharded_run() {
    sharded_equals_whole("registration");
}

#[test]
fn brain_age_shards_merge_to_the_unsharded_run() {
    sharded_equals_whole("brain_age");
}

#[test]
fn shape_shards_merge_to_the_unsharded_run() {
    sharded_equals_whole("shape");
}

#[test]
fn synthesis_shards_merge_to_the_unsharded_run() {
    sharded_equals_whole("synthesis");
}

/// Corruption cells shard like attack cells: several draws per case (keys `bias#2`) and a
/// worst-case entry, split over three shards, merge to the unsharded run's records and tables.
#[test]
fn corruption_draws_shard_and_merge_to_the_unsharded_run() {
    sharded_equals_whole_with(
        "brain_age",
        "[[corruptions]]\nkind = \"bias\"\nseverities = [2, 4]\ndraws = 3\n\
         [[corruptions]]\nkind = \"blur\"\nseverities = [3]\nworst = true\n",
    );
}
