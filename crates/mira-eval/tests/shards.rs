//! Sharded sweeps: the records of `--shard k/4` for k = 0..3, merged, equal the unsharded
//! run's records (same set, same order, no duplicates) and give the same summary; a rerun
//! shard resumes; gaps and duplicates are refused by the merge; shards refuse an unprepared
//! folder.

use std::path::{Path, PathBuf};

use mira_eval::{
    SegExperiment as Experiment, Segmentation, Shard, merge, prepare_models, run, run_shard,
};

const TINY: &str = r#"
name = "tiny-shards"
seed = 11
[data]
source = "brain_mr_phantom"
train = 8
val = 4
test = 7
[data.phantom]
size = 16
[training]
epochs = 1
batch_size = 4
[[models]]
name = "unet"
base_width = 4
depth = 2
[[models]]
name = "res"
base_width = 4
depth = 2
residual = true
[[attacks]]
name = "fgsm"
kind = "fgsm"
[[attacks]]
name = "pgd"
kind = "pgd"
steps = 3
[sweep]
epsilons = [0.0, 0.02, 0.05]
batch_size = 3
[checks]
enabled = false
"#;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-shards-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let exp = Experiment::from_toml(TINY, "tiny.toml").unwrap();
    let whole = tmp("whole");
    run::<Segmentation>(&exp, &whole, &mut |_| {}).unwrap();
    let sharded = tmp("sharded");
    // Shards need a prepared folder.
    let err = run_shard::<Segmentation>(&exp, &sharded, "0/4".parse().unwrap(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("--models-only"), "{err}");
    // The same trained weights (training is not the subject here).
    copy_dir(&whole.join("models"), &sharded.join("models"));
    prepare_models::<Segmentation>(&exp, &sharded, &mut |_| {}).unwrap();
    // 2 models x 2 attacks x 3 eps = 12 cells of 3 batches (7 cases by 3): 36 units.
    let mut units = 0;
    for k in 0..4 {
        let o =
            run_shard::<Segmentation>(&exp, &sharded, Shard { index: k, count: 4 }, &mut |_| {})
                .unwrap();
        assert_eq!(o.units_run, 9);
        units += o.units_run;
    }
    assert_eq!(units, 36);
    // A rerun shard resumes: nothing new; a torn tail is redone.
    let s1 = Shard { index: 1, count: 4 };
    assert_eq!(
        run_shard::<Segmentation>(&exp, &sharded, s1, &mut |_| {})
            .unwrap()
            .units_run,
        0
    );
    let path = s1.records_path(&sharded);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 40]).unwrap();
    assert_eq!(
        run_shard::<Segmentation>(&exp, &sharded, s1, &mut |_| {})
            .unwrap()
            .units_run,
        1
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    let merged = merge::<Segmentation>(&sharded, &mut |_| {}).unwrap();
    assert_eq!((merged.shards, merged.records), (4, 12 * 7));
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    let (a, b) = (
        read(&sharded, "records.jsonl"),
        read(&whole, "records.jsonl"),
    );
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!(la.len(), lb.len());
    if let Some(i) = (0..la.len()).find(|&i| la[i] != lb[i]) {
        panic!("records differ first at line {i}:\n{}\n{}", la[i], lb[i]);
    }
    assert_eq!(read(&sharded, "summary.csv"), read(&whole, "summary.csv"));
    assert_eq!(read(&sharded, "summary.md"), read(&whole, "summary.md"));
    let pictures = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d.join("examples"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(pictures(&sharded), pictures(&whole));

    // A duplicated shard file and a missing one are refused, naming what is wrong.
    std::fs::copy(&path, sharded.join("shards/records-0-of-4.jsonl.bak")).unwrap();
    let dup = sharded.join("shards/records-1-of-4.jsonl");
    let first_line = text.lines().next().unwrap().to_string() + "\n";
    std::fs::write(sharded.join("shards/records-3-of-4.jsonl"), {
        let mut t = std::fs::read_to_string(sharded.join("shards/records-3-of-4.jsonl")).unwrap();
        t += &first_line;
        t
    })
    .unwrap();
    let err = merge::<Segmentation>(&sharded, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 duplicated"), "{err}");
    std::fs::remove_file(&dup).unwrap();
    let err = merge::<Segmentation>(&sharded, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing") && err.contains("--shard K/4"),
        "{err}"
    );
    std::fs::remove_dir_all(&whole).unwrap();
    std::fs::remove_dir_all(&sharded).unwrap();
}

#[test]
fn shard_specs_are_checked() {
    for bad in ["4/4", "1", "a/b", "0/0", "-1/3"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
    assert_eq!(
        "2/5".parse::<Shard>().unwrap(),
        Shard { index: 2, count: 5 }
    );
}
