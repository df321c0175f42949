//! Synthesis experiments (study S2) end to end on tiny settings: per-image and learned cells
//! for two models, the recorded budgets and Jacobians, transfer, pictures, resume, report
//! rebuild and file errors.

use std::path::{Path, PathBuf};

use mira_eval::run::Spec;
use mira_eval::{SynthExperiment, Synthesis, rebuild, run};
use mira_report::{SynthRecord, read_jsonl};

const TINY: &str = r#"
task = "synthesis"
name = "s2_tiny"
seed = 2
[data]
size = 64
train_slices = 16
val_slices = 4
test_slices = 5
examples = 1
[training]
epochs = 2
batch_size = 8
[[models]]
name = "unet"
base_width = 4
depth = 2
[[models]]
name = "resunet"
base_width = 4
depth = 2
residual = true
[threat]
grid = 5
max_disp_mm = 10.0
max_bias = 0.2
steps = 4
[search]
targets = [0.05, 0.2]
bisections = 2
batch_size = 3
[generator]
steps = 4
batch_size = 4
width = 2
"#;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-synth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn experiment(dir: &Path, text: &str) -> mira_eval::Result<SynthExperiment> {
    let path = dir.join("exp.toml");
    std::fs::write(&path, text).unwrap();
    SynthExperiment::from_file(&path)
}

#[test]
fn synthesis_run_records_every_slice_within_budget_and_resumes() {
    let dir = tmp("run");
    assert!(matches!(
        mira_eval::Experiment::from_toml(TINY, "t.toml").unwrap(),
        mira_eval::Experiment::Synthesis(_)
    ));
    let exp = experiment(&dir, TINY).unwrap();
    let out = dir.join("out");
    let first = run::<Synthesis>(&exp, &out, &mut |_| {}).unwrap();
    // 2 models x (per-image, learned).
    assert_eq!(first.cells_run, 4);
    let recs: Vec<SynthRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    assert_eq!(recs.len(), 4 * 2 * 5);
    for r in &recs {
        assert_eq!(r.met, r.drop >= r.target, "{r:?}");
        assert!(r.min_jacobian > 0.0, "{r:?}");
        // The dense field's magnitude is at most √2 × the per-axis control bound.
        assert!(
            r.max_disp_mm <= 10.0 * 2f64.sqrt() + 1e-3 && r.max_disp_mm >= 0.0,
            "{r:?}"
        );
        assert!(r.max_bias <= 0.2 + 1e-4, "{r:?}");
        assert_eq!(r.max_additive, 0.0);
        assert!(r.scale > 0.0 && r.scale <= 1.0, "{r:?}");
        if r.method == "per-image" && !r.met {
            assert_eq!(r.scale, 1.0);
        }
        assert!((r.clean_dice - r.adv_dice - r.drop).abs() < 1e-12);
        assert_eq!(r.transfer.len(), 1);
        assert_ne!(r.transfer[0].model, r.model);
    }
    // Pictures of the first slice only, one per (model, method, target).
    let pictures: Vec<_> = std::fs::read_dir(out.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(pictures.len(), 2 * 2 * 2, "{pictures:?}");
    assert!(pictures.iter().all(|p| p.ends_with("_case0.png")));
    assert!(
        first
            .summary
            .findings
            .iter()
            .any(|f| f.starts_with("No field folds"))
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("unet_per-image_d0.05_case0.png"));
    // Resume: nothing new; the report rebuilds identically; a torn cell is redone once.
    let again = run::<Synthesis>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!((again.cells_run, again.cells_skipped), (0, 4));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    rebuild::<Synthesis>(&out).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("summary.md")).unwrap(), md);
    let text = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines[..lines.len() - 2].join("\n") + "\n" + &lines[lines.len() - 2][..10];
    std::fs::write(out.join("records.jsonl"), cut).unwrap();
    let resumed = run::<Synthesis>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(resumed.cells_run, 1);
    let recs2: Vec<SynthRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    assert_eq!(recs2.len(), recs.len());
    // The redone cell reproduces its records (same seeds, same models).
    let key = |r: &SynthRecord| format!("{} {} {} {}", r.model, r.method, r.target, r.case);
    for r in &recs2 {
        let old = recs.iter().find(|o| key(o) == key(r)).unwrap();
        assert_eq!(old, r);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn synthesis_files_with_errors_name_the_field() {
    let dir = tmp("errors");
    let cases = [
        (
            TINY.replace("max_disp_mm = 10.0", "max_disp_mm = 90.0"),
            "threat",
        ),
        (
            TINY.replace("targets = [0.05, 0.2]", "targets = [0.2, 0.05]"),
            "search.targets",
        ),
        (
            TINY.replace("name = \"resunet\"", "name = \"unet\""),
            "models[1].name",
        ),
        (TINY.replace("size = 64", "size = 72"), "data.size"),
        (
            TINY.replace("examples = 1", "examples = 9"),
            "data.examples",
        ),
        (
            TINY.replace("width = 2\n", "width = 2\nwhatever = 1\n"),
            "whatever",
        ),
    ];
    for (text, field) in cases {
        let e = experiment(&dir, &text).unwrap_err().to_string();
        assert!(e.contains(field), "expected `{field}` in: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A synthesis file with `[[corruptions]]` runs end to end: corrupted slices judged on the
/// attacked model and the other (transfer), CT families in HU through the phantom's window, a
/// worst-case entry searched, a Natural corruptions table; the synthesis summary rows are the
/// plain run's.
#[test]
fn synthesis_runs_corruptions_beside_the_synthesis_attacks() {
    let base = TINY.replace("[generator]\n", "[generator]\nenabled = false\n");
    let with = format!(
        "{base}[[corruptions]]\nkind = \"ct_noise\"\nseverities = [3]\n\
         [[corruptions]]\nkind = \"window_shift\"\nseverities = [2, 5]\ndraws = 2\n\
         [[corruptions]]\nkind = \"blur\"\nseverities = [4]\nworst = true\n"
    );
    let dir = tmp("corrupt");
    let exp = experiment(&dir, &with).unwrap();
    let out = dir.join("out");
    let outcome = run::<Synthesis>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(outcome.cells_run, 2 * (1 + 1 + 2 * 2 + 1));
    let recs: Vec<SynthRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    let corrupted: Vec<&SynthRecord> = recs.iter().filter(|r| r.corruption.is_some()).collect();
    assert_eq!(corrupted.len(), 2 * 6 * 5);
    for r in &corrupted {
        assert_eq!(r.transfer.len(), 1);
        assert!((r.clean_dice - r.adv_dice - r.drop).abs() < 1e-12);
        assert!(r.max_additive > 0.0 && r.max_additive <= 1.0, "{r:?}");
        assert_eq!(r.draw.is_some(), r.method == "window_shift");
    }
    let shift = |sev: f64| {
        corrupted
            .iter()
            .filter(|r| r.method == "window_shift" && r.target == sev)
            .map(|r| r.max_additive)
            .fold(0.0, f64::max)
    };
    // 20 and 100 HU through the 400 HU window: 0.05 and 0.25 model units at most.
    assert!(shift(2.0) <= 0.05 + 1e-6 && shift(5.0) <= 0.25 + 1e-6);
    assert!(shift(5.0) > shift(2.0));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Natural corruptions"), "{summary}");
    assert!(summary.contains("| window_shift | 5 | 5×2 |"), "{summary}");
    assert!(summary.contains("blur-worst"), "{summary}");
    let plain_dir = tmp("corrupt-plain");
    let plain = experiment(&plain_dir, &base).unwrap();
    let plain_out = plain_dir.join("out");
    mira_testkit::copy_dir(&out.join("models"), &plain_out.join("models"));
    run::<Synthesis>(&plain, &plain_out, &mut |_| {}).unwrap();
    let rows = |d: &Path| std::fs::read_to_string(d.join("summary.json")).unwrap();
    assert_eq!(rows(&out), rows(&plain_out));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&plain_dir);
}
