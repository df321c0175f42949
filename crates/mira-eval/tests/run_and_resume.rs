//! A tiny experiment runs end to end; an interrupted run resumes to exactly the same records;
//! a checkpoint whose channels do not match the data is refused up front.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mira_eval::{SegExperiment as Experiment, Segmentation, run};

const TINY: &str = r#"
name = "tiny"
seed = 5
[data]
source = "brain_mr_phantom"
train = 8
val = 4
test = 5
[data.phantom]
size = 16
[training]
epochs = 1
batch_size = 4
[[models]]
name = "unet"
base_width = 4
depth = 2
[[attacks]]
name = "fgsm"
kind = "fgsm"
[[attacks]]
name = "ti"
kind = "ifgsm"
steps = 3
goal = "remove_tumour"
[sweep]
epsilons = [0.0, 0.02, 0.05]
batch_size = 2
"#;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-eval-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn runs_then_resumes_without_losing_or_duplicating_records() {
    let exp = Experiment::from_toml(TINY, "tiny.toml").unwrap();
    let out = tmp("resume");
    let first = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(first.cells_run, 6);
    // FGSM's gradient and i-FGSM's first step's of each of the 3 batches, taken at ε = 0.02,
    // served ε = 0.05.
    assert_eq!(first.fgsm_gradients_reused, 3 + 3);
    let records = out.join("records.jsonl");
    let full = std::fs::read_to_string(&records).unwrap();
    std::fs::write(out.join("before.jsonl"), &full).unwrap();
    assert_eq!(full.lines().count(), 6 * 5);
    let parsed = mira_report::read_records(&records).unwrap();
    for r in &parsed {
        assert!(r.linf <= r.epsilon * (1.0 + 1e-5) + 1e-6, "{r:?}");
        if r.epsilon == 0.0 {
            assert_eq!(r.clean_dice, r.adv_dice);
        }
        assert_eq!(r.adv_target_dice.is_some(), r.attack == "ti");
        if r.attack != "ti" {
            assert_eq!((r.clean_target_match, r.adv_target_match), (None, None));
        }
        if let Some(m) = r.adv_target_match {
            assert!((0.0..=1.0).contains(&m), "{r:?}");
        }
    }
    assert!(out.join("summary.md").exists() && out.join("summary.csv").exists());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Reproducibility manifest"));
    // Every picture the report references exists beside it (worst and median per attack).
    let srcs: Vec<&str> = html
        .split("<img src=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(srcs.len(), 2 * 2, "{html}");
    for src in srcs {
        let path = out.join(src.replace("&#x2f;", "/"));
        assert!(path.is_file(), "{}", path.display());
    }
    assert!(out.join("warnings.json").exists());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        json.as_array().map(Vec::len),
        Some(6),
        "one summary row per cell"
    );

    // Cut the file inside the 4th cell, with a torn last line, as a kill would.
    let keep: Vec<&str> = full.lines().take(3 * 5 + 2).collect();
    let torn = format!("{}\n{{\"model\":\"un", keep.join("\n"));
    std::fs::write(&records, torn).unwrap();
    let second = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!((second.cells_skipped, second.cells_run), (3, 3));
    let resumed = std::fs::read_to_string(&records).unwrap();
    assert_eq!(resumed.lines().count(), full.lines().count());
    // Same cases, no duplicates, same scores. The achieved norms are compared to 1e-9: burn's
    // flex kernels may round an elementwise step differently between processes (vector vs
    // scalar paths), which moves an L2 norm in its last digit.
    let key = |r: &mira_report::SegRecord| {
        (
            r.model.clone(),
            r.attack.clone(),
            r.epsilon.to_bits(),
            r.case,
        )
    };
    let before = mira_report::read_records(&out.join("before.jsonl")).unwrap_or_default();
    let after = mira_report::read_records(&records).unwrap();
    let keys: BTreeSet<_> = after.iter().map(key).collect();
    assert_eq!(keys.len(), after.len(), "duplicated records");
    assert_eq!(keys, before.iter().map(key).collect());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(
            (key(a), &a.clean_dice, &a.adv_dice),
            (key(b), &b.clean_dice, &b.adv_dice)
        );
        assert!((a.l2 - b.l2).abs() <= 1e-9 * b.l2.max(1.0) && (a.linf - b.linf).abs() <= 1e-9);
    }

    // Same folder, different experiment: refused.
    let other = Experiment::from_toml(&TINY.replace("seed = 5", "seed = 6"), "x.toml").unwrap();
    assert!(
        run::<Segmentation>(&other, &out, &mut |_| {})
            .unwrap_err()
            .to_string()
            .contains("different experiment")
    );

    // The manifest pins build, data and weights; a folder from another Mira build is refused.
    let manifest_path = out.join("manifest.json");
    let manifest: mira_eval::Manifest<Experiment> =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest.build, mira_eval::BuildInfo::current());
    assert_eq!(manifest.sessions.len(), 2, "first run and the resumption");
    assert_eq!(manifest.data.test.len(), 64);
    assert!(manifest.models.contains_key("unet"));
    let mut older = manifest.clone();
    older.build.version = "0.0.1".into();
    std::fs::write(&manifest_path, serde_json::to_string(&older).unwrap()).unwrap();
    let err = run::<Segmentation>(&exp, &out, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("different Mira build") && err.contains("0.0.1"),
        "{err}"
    );
    std::fs::write(&manifest_path, serde_json::to_string(&manifest).unwrap()).unwrap();

    // The trained checkpoint, loaded by another experiment, but with a 3-channel model.json.
    let ckpt = out.join("models/unet");
    let meta = std::fs::read_to_string(ckpt.join("model.json")).unwrap();
    std::fs::write(
        ckpt.join("model.json"),
        meta.replace("\"in_channels\": 4", "\"in_channels\": 3"),
    )
    .unwrap();
    let text = TINY.replace(
        "base_width = 4\ndepth = 2",
        &format!("checkpoint = \"{}\"", ckpt.display()),
    );
    let err = Experiment::from_toml(&text, "c.toml")
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("models[0].checkpoint") && err.contains("3 input channels"),
        "{err}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

/// With `sweep.size_bins` every record lists the truth's connected components with their
/// lesion-wise Dice (unchanged at ε = 0), a component missed entirely scores 0, and the
/// summary bins them by size.
#[test]
fn size_bins_give_per_structure_records_and_a_table() {
    let text = TINY.replace("batch_size = 2\n", "batch_size = 2\nsize_bins = [10, 40]\n");
    let exp = Experiment::from_toml(&text, "tiny.toml").unwrap();
    let out = tmp("lesions");
    run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    let parsed = mira_report::read_records(&out.join("records.jsonl")).unwrap();
    let mut components = 0;
    for r in &parsed {
        let lesions = r.lesions.as_ref().expect("lesions recorded");
        for l in lesions {
            assert!(l.label < r.labels.len() && l.size > 0);
            assert!((0.0..=1.0).contains(&l.clean) && (0.0..=1.0).contains(&l.adv));
            if r.epsilon == 0.0 {
                assert_eq!(l.clean, l.adv);
            }
        }
        // A label without truth (nor prediction) has no components.
        for (k, d) in r.clean_dice.iter().enumerate() {
            let here: Vec<_> = lesions.iter().filter(|l| l.label == k).collect();
            if d.is_none() {
                assert!(here.is_empty(), "no truth, no components");
            }
        }
        components += lesions.len();
    }
    assert!(components > 0);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("Damage by structure size"), "{summary}");
    assert!(
        summary.contains("≥ 40") || summary.contains("10–39"),
        "{summary}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// `[[corruptions]]` run beside the attacks: one cell per (model, corruption, severity), each
/// case its own seeded draw; records carry the severity where attacks carry ε, stay in [0, 1]
/// without a budget, resume to the same records, and the summary and report gain a table;
/// the attacks' rows and checks are those of a run without corruptions.
#[test]
fn corruptions_run_beside_attacks_and_resume() {
    let text = TINY.replace(
        "[sweep]",
        "[[corruptions]]\nkind = \"motion\"\nseverities = [1, 5]\n\
         [[corruptions]]\nkind = \"blur\"\nname = \"blur-heavy\"\nseverities = [5]\n[sweep]",
    );
    let exp = Experiment::from_toml(&text, "tiny.toml").unwrap();
    let out = tmp("corruptions");
    let first = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(first.cells_run, 6 + 3);
    let recs = mira_report::read_records(&out.join("records.jsonl")).unwrap();
    let corrupted: Vec<_> = recs.iter().filter(|r| r.goal == "corruption").collect();
    assert_eq!(corrupted.len(), 3 * 5);
    for r in &corrupted {
        assert!(["motion", "blur-heavy"].contains(&r.attack.as_str()));
        assert!([1.0, 5.0].contains(&r.epsilon) && r.linf > 0.0 && r.linf <= 1.0);
        assert!(r.perceptibility.as_ref().is_some_and(|p| p.ssim < 1.0));
    }
    // Severity 5 motion changes the images more than severity 1, case by case on average.
    let mean_l2 = |s: f64| {
        let v: Vec<f64> = corrupted
            .iter()
            .filter(|r| r.attack == "motion" && r.epsilon == s)
            .map(|r| r.l2)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(mean_l2(5.0) > mean_l2(1.0));
    // The attacks' records are those of the plain run.
    let plain_out = tmp("corruptions-plain");
    // The plain run loads the first run's models, so only the corruptions differ.
    mira_testkit::copy_dir(&out.join("models"), &plain_out.join("models"));
    run::<Segmentation>(
        &Experiment::from_toml(TINY, "tiny.toml").unwrap(),
        &plain_out,
        &mut |_| {},
    )
    .unwrap();
    let plain = std::fs::read_to_string(plain_out.join("records.jsonl")).unwrap();
    let attacked: Vec<String> = recs
        .iter()
        .filter(|r| r.goal != "corruption")
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    assert_eq!(
        attacked,
        plain.lines().map(String::from).collect::<Vec<_>>()
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Natural corruptions"), "{summary}");
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("Natural corruptions"));
    assert!(
        report.contains("damage by corruption severity"),
        "no severity chart"
    );
    // Run again: everything kept, nothing duplicated.
    let again = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(again.cells_run, 0);
    let after = mira_report::read_records(&out.join("records.jsonl")).unwrap();
    assert_eq!(after.len(), recs.len());
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&plain_out);
}

/// The worst case within a family (`worst = true`) is at least as damaging as the random draw
/// of the same family and severity on every case: it starts from that draw and keeps the most
/// damaging parameters by the task's score (1 − mean foreground Dice).
#[test]
fn worst_case_corruptions_are_never_less_damaging_than_random_draws() {
    // A toy model trained long enough to segment (mean Dice well above 0).
    let trained = TINY
        .replace("train = 8", "train = 48")
        .replace("size = 16", "size = 32")
        .replace("epochs = 1", "epochs = 8")
        .replace("base_width = 4", "base_width = 8");
    let text = trained.replace(
        "[sweep]",
        "[[corruptions]]\nkind = \"gamma\"\nseverities = [5]\n\
         [[corruptions]]\nkind = \"gamma\"\nseverities = [5]\nworst = true\n\
         [[corruptions]]\nkind = \"blur\"\nseverities = [3]\n\
         [[corruptions]]\nkind = \"blur\"\nseverities = [3]\nworst = true\n[sweep]",
    );
    let exp = Experiment::from_toml(&text, "tiny.toml").unwrap();
    let out = tmp("worst");
    run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    let recs = mira_report::read_records(&out.join("records.jsonl")).unwrap();
    let damage =
        |r: &mira_report::SegRecord| 1.0 - mira_stats::mean_defined(&r.adv_dice).unwrap_or(1.0);
    let mut stronger = 0;
    for family in ["gamma", "blur"] {
        let of = |name: &str| -> Vec<_> { recs.iter().filter(|r| r.attack == name).collect() };
        let (random, worst) = (of(family), of(&format!("{family}-worst")));
        assert_eq!((random.len(), worst.len()), (5, 5));
        for (r, w) in random.iter().zip(&worst) {
            assert_eq!(r.case, w.case);
            assert!(
                damage(w) >= damage(r) - 1e-12,
                "{family} case {}: {} < {}",
                r.case,
                damage(w),
                damage(r)
            );
            stronger += usize::from(damage(w) > damage(r));
        }
    }
    let all: Vec<(String, f64)> = recs
        .iter()
        .filter(|r| r.goal == "corruption")
        .map(|r| (r.attack.clone(), damage(r)))
        .collect();
    assert!(
        stronger > 0,
        "the search never found anything worse: {all:?}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
