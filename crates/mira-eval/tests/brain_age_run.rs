//! Brain-age experiments (study S3) end to end on tiny settings: records, budgets, BPDA only
//! against hard-feature hybrids, the universal δ as one NIfTI tensor within budget, resume,
//! report rebuild, and file errors naming the field.

use std::path::{Path, PathBuf};

use mira_eval::run::Spec;
use mira_eval::{AgeExperiment, BrainAge, rebuild, run};
use mira_report::{AgeRecord, read_jsonl};

const TINY: &str = r#"
task = "brain_age"
name = "s3_tiny"
seed = 2
[data]
size = 16
train_subjects = 24
val_subjects = 6
test_subjects = 6
universal_fit_subjects = 8
[training]
steps = 30
validate_every = 15
learning_rate = 3e-3
[[models]]
name = "cnn"
kind = "cnn"
width = 4
[[models]]
name = "hybrid-hard"
kind = "hybrid"
features = "hard"
width = 4
embed = 8
[[attacks]]
name = "pgd"
norm = "linf"
epsilons = [0.01, 0.05]
steps = 4
[[attacks]]
name = "pgd-bpda"
norm = "linf"
epsilons = [0.05]
steps = 4
gradient = "bpda"
[[attacks]]
name = "pgd-l2-young"
norm = "l2"
epsilons = [0.5]
steps = 4
goal = "younger"
[[attacks]]
name = "universal"
scope = "universal"
norm = "linf"
epsilons = [0.05]
steps = 5
goal = "older"
[[attacks]]
name = "min-norm"
scope = "min-norm"
norm = "linf"
epsilons = [0.2]
steps = 30
[sweep]
batch_size = 4
"#;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-age-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn experiment(dir: &Path, text: &str) -> mira_eval::Result<AgeExperiment> {
    let path = dir.join("exp.toml");
    std::fs::write(&path, text).unwrap();
    AgeExperiment::from_file(&path)
}

#[test]
fn brain_age_run_records_every_subject_and_resumes() {
    let dir = tmp("run");
    assert!(matches!(
        mira_eval::Experiment::from_toml(TINY, "t.toml").unwrap(),
        mira_eval::Experiment::BrainAge(_)
    ));
    let exp = experiment(&dir, TINY).unwrap();
    let out = dir.join("out");
    let first = run::<BrainAge>(&exp, &out, &mut |_| {}).unwrap();
    // cnn: pgd ×2, l2, universal, min-norm; hybrid-hard: the same plus the BPDA cell.
    assert_eq!(first.cells_run, 5 + 6);
    let recs: Vec<AgeRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    assert_eq!(recs.len(), 11 * 6);
    // Min-norm records: the reported minimum is the applied L∞ norm, within the cap, and the
    // point meets the criterion (|error| > 5 y); unbroken subjects carry None.
    let mn: Vec<&AgeRecord> = recs.iter().filter(|r| r.scope == "min-norm").collect();
    assert_eq!(mn.len(), 12);
    assert!(
        mn.iter().any(|r| r.min_norm.is_some()),
        "nothing broken within ε = 0.2"
    );
    for r in &mn {
        match r.min_norm {
            Some(m) => {
                assert!((m - r.linf).abs() < 1e-6 && m <= 0.2 + 1e-6, "{r:?}");
                assert!((r.adv_pred - r.age).abs() > 5.0, "{r:?}");
            }
            None => assert_eq!(r.linf, 0.0, "{r:?}"),
        }
    }
    assert!(
        first
            .summary
            .findings
            .iter()
            .any(|f| f.starts_with("Minimum-norm min-norm (Linf)")),
        "{:?}",
        first.summary.findings
    );
    assert!(
        !recs
            .iter()
            .any(|r| r.model == "cnn" && r.gradient == "bpda")
    );
    for r in &recs {
        let budget = if r.norm == "linf" { r.linf } else { r.l2 };
        assert!(budget <= r.epsilon * (1.0 + 1e-5) + 1e-6, "{r:?}");
        assert!(r.adv_pred.is_finite() && r.clean_pred.is_finite());
    }
    // Clean predictions are the same in every cell of a model.
    for m in ["cnn", "hybrid-hard"] {
        let c: Vec<f64> = recs
            .iter()
            .filter(|r| r.model == m && r.case == 3)
            .map(|r| r.clean_pred)
            .collect();
        assert!(c.windows(2).all(|w| w[0] == w[1]), "{m}: {c:?}");
    }
    // "younger" lowers every... on average: the mean shift is negative.
    let shift = |m: &str, a: &str| {
        let v: Vec<f64> = recs
            .iter()
            .filter(|r| r.model == m && r.attack == a)
            .map(|r| r.adv_pred - r.clean_pred)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(shift("cnn", "pgd-l2-young") < 0.0);
    // The universal δ is one volume within budget, written as NIfTI, the same for all subjects.
    for m in ["cnn", "hybrid-hard"] {
        let path = out
            .join("universal")
            .join(format!("{m}_universal_eps0.05.nii.gz"));
        let (vol, _) = mira_io::read_nifti(&path).unwrap();
        assert_eq!(vol.dims, vec![16, 16, 16]);
        let linf = vol.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(linf <= 0.05 + 1e-6 && linf > 0.0, "{linf}");
    }
    let fits = std::fs::read_to_string(out.join("universal.json")).unwrap();
    assert!(fits.contains("\"fit_subjects\": 8"), "{fits}");
    for f in [
        "summary.md",
        "summary.csv",
        "comparisons.json",
        "report.html",
        "manifest.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Wilcoxon") && html.contains("largest-eps.png"));
    assert!(
        first
            .summary
            .findings
            .iter()
            .any(|f| f.starts_with("Clean MAE on 6 held-out subjects"))
    );
    assert!(
        first
            .summary
            .findings
            .iter()
            .any(|f| f.contains("Adaptive check, pgd-bpda"))
    );
    // Resuming does nothing new; the report rebuilds from files alone, identically.
    let again = run::<BrainAge>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!((again.cells_run, again.cells_skipped), (0, 11));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    rebuild::<BrainAge>(&out).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("summary.md")).unwrap(), md);
    assert_eq!(
        std::fs::read_to_string(out.join("report.html")).unwrap(),
        html
    );
    // A torn last line (an interrupted universal cell) is dropped whole and recomputed once.
    let text = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines[..lines.len() - 2].join("\n") + "\n" + &lines[lines.len() - 2][..10];
    std::fs::write(out.join("records.jsonl"), cut).unwrap();
    let resumed = run::<BrainAge>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(resumed.cells_run, 1);
    let recs2: Vec<AgeRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    assert_eq!(recs2.len(), recs.len());
    // Same seed, same numbers: the recomputed cell equals the first one.
    let key = |r: &AgeRecord| {
        (
            r.model.clone(),
            r.attack.clone(),
            r.epsilon.to_bits(),
            r.case,
        )
    };
    for r in &recs2 {
        let old = recs.iter().find(|o| key(o) == key(r)).unwrap();
        assert_eq!(old, r);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The composite on a brain-age model runs as a cascade judged by `sweep.threshold_years`:
/// records say which member's input each subject kept, and a subject no member moved keeps its
/// clean prediction.
#[test]
fn brain_age_composite_cells_record_their_members() {
    let dir = tmp("auto");
    let start = TINY.find("[[models]]\nname = \"hybrid-hard\"").unwrap();
    let end = TINY.find("[sweep]").unwrap();
    let text = format!(
        "{}[[attacks]]\nname = \"auto\"\nkind = \"auto\"\nnorm = \"linf\"\n\
         epsilons = [0.05]\nsteps = 3\nqueries = 10\n{}",
        &TINY[..start],
        &TINY[end..]
    );
    let exp = experiment(&dir, &text).unwrap();
    let out = dir.join("out");
    let run = run::<BrainAge>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(run.cells_run, 1);
    let recs: Vec<AgeRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    assert_eq!(recs.len(), 6);
    for r in &recs {
        let m = r.member.as_deref().unwrap();
        assert!(["apgd", "square", "clean"].contains(&m), "{m}");
        if m == "clean" {
            assert_eq!(r.adv_pred, r.clean_pred);
        } else {
            assert!(
                (r.adv_pred - r.age).abs() >= (r.clean_pred - r.age).abs(),
                "{r:?}"
            );
        }
        assert!(r.linf <= 0.05 + 1e-6);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn brain_age_files_with_errors_name_the_field() {
    let dir = tmp("errors");
    let cases = [
        (
            TINY.replace("kind = \"cnn\"", "kind = \"cnn\"\nfeatures = \"soft\""),
            "models[0].features",
        ),
        (
            TINY.replace("features = \"hard\"", "features = \"fuzzy\""),
            "fuzzy",
        ),
        (
            TINY.replace("epsilons = [0.01, 0.05]", "epsilons = [0.05, 0.01]"),
            "attacks[0].epsilons",
        ),
        (
            TINY.replace("goal = \"younger\"", "goal = \"target\""),
            "attacks[2].target_age",
        ),
        (
            TINY.replace(
                "scope = \"universal\"",
                "scope = \"universal\"\nkind = \"pgd\"",
            ),
            "attacks[3].kind",
        ),
        (TINY.replace("size = 16", "size = 24"), "data"),
        (
            TINY.replace("universal_fit_subjects = 8", "universal_fit_subjects = 80"),
            "data.universal_fit_subjects",
        ),
        (
            TINY.replace("features = \"hard\"", "features = \"soft\""),
            "attacks[1].gradient",
        ),
        (
            TINY.replace("steps = 4\ngoal", "steps = 4\nqueries = 3\ngoal"),
            "attacks[2].queries",
        ),
    ];
    for (text, field) in cases {
        let e = experiment(&dir, &text).unwrap_err().to_string();
        assert!(e.contains(field), "expected `{field}` in: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Pearson correlation.
fn corr(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn brain_age_subjects_age_on_the_mni_template_shared_data() {
    let Some(data) = mira_testkit::shared_data_for_test(
        "brain_age_subjects_age_on_the_mni_template_shared_data",
    ) else {
        return;
    };
    let dir = tmp("mni");
    let text = TINY.replace("size = 16", "size = 32").replace(
        "train_subjects = 24",
        &format!(
            "train_subjects = 24\nanatomy = \"mni\"\nanatomy_dir = \"{}\"",
            data.join("mni_icbm152_2009a_sym").display()
        ),
    );
    let exp = experiment(&dir, &text).unwrap();
    let (train, _, test) = mira_eval::age_splits(&exp).unwrap();
    assert_eq!((train.len(), test.len()), (24, 6));
    let ages: Vec<f64> = train.iter().map(|s| s.age).collect();
    let share = |l: u8| -> Vec<f64> {
        train
            .iter()
            .map(|s| s.volume(l) as f64 / s.labels.iter().filter(|&&v| v > 0).count() as f64)
            .collect()
    };
    // Warped template brains still age: CSF (sulci, surface) and ventricles grow, grey
    // matter shrinks, as shares of the intracranial volume.
    assert!(
        corr(&ages, &share(1)) > 0.6,
        "csf {}",
        corr(&ages, &share(1))
    );
    assert!(
        corr(&ages, &share(4)) > 0.3,
        "ventricles {}",
        corr(&ages, &share(4))
    );
    assert!(
        corr(&ages, &share(2)) < -0.6,
        "grey {}",
        corr(&ages, &share(2))
    );
    // Subjects differ (random warps), intensities are in range, outside is zero.
    assert_ne!(train[0].labels, train[1].labels);
    for s in &train {
        assert!(s.t1.iter().all(|v| (0.0..=1.0).contains(v)));
        let zeros = s.t1.iter().filter(|v| **v == 0.0).count();
        assert!(
            zeros > s.t1.len() / 4,
            "skull-stripped: the outside is zero"
        );
    }
    // A missing template folder is named.
    let bad = text.replace(
        "anatomy = \"mni\"\nanatomy_dir = \"",
        "anatomy = \"mni\"\nanatomy_dir = \"/nonexistent",
    );
    let e = experiment(&dir, &bad).unwrap_err().to_string();
    assert!(e.contains("data.anatomy_dir"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A brain-age file with `[[corruptions]]` runs end to end: one cell per (model, family,
/// severity), each subject its own draw, records with scope `corruption` and the severity in
/// `epsilon`, a Natural corruptions table in the summary, and the attacks' summary rows those
/// of the same file without corruptions.
#[test]
fn brain_age_runs_corruptions_beside_attacks() {
    let base = "task = \"brain_age\"\nname = \"s3_corrupt\"\nseed = 2\n[data]\nsize = 16\n\
                train_subjects = 12\nval_subjects = 4\ntest_subjects = 4\n\
                universal_fit_subjects = 4\n[training]\nsteps = 10\nvalidate_every = 10\n\
                [[models]]\nname = \"cnn\"\nkind = \"cnn\"\nwidth = 4\n[[attacks]]\n\
                name = \"pgd\"\nnorm = \"linf\"\nepsilons = [0.05]\nsteps = 2\n";
    let with = format!(
        "{base}[[corruptions]]\nkind = \"bias\"\nseverities = [2, 5]\n\
         [[corruptions]]\nkind = \"gibbs\"\nseverities = [5]\n\
         [[corruptions]]\nname = \"bias-x3\"\nkind = \"bias\"\nseverities = [5]\ndraws = 3\n"
    );
    let dir = tmp("corrupt");
    let exp = experiment(&dir, &with).unwrap();
    let out = dir.join("out");
    let outcome = run::<BrainAge>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(outcome.cells_run, 1 + 3 + 3);
    let recs: Vec<AgeRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    let corrupted: Vec<&AgeRecord> = recs.iter().filter(|r| r.scope == "corruption").collect();
    assert_eq!(corrupted.len(), (3 + 3) * 4);
    for r in &corrupted {
        assert!(r.norm == "severity" && [2.0, 5.0].contains(&r.epsilon) && r.linf > 0.0);
        assert_eq!(r.draw.is_some(), r.attack == "bias-x3");
    }
    // Three draws per subject: the first is the single-draw entry's, the others differ.
    let pred = |attack: &str, draw: Option<usize>, case: usize| {
        let r = corrupted
            .iter()
            .find(|r| r.attack == attack && r.draw == draw && r.epsilon == 5.0 && r.case == case);
        r.unwrap().adv_pred
    };
    for case in 0..4 {
        assert_eq!(pred("bias-x3", Some(1), case), pred("bias", None, case));
        assert_ne!(
            pred("bias-x3", Some(2), case),
            pred("bias-x3", Some(1), case)
        );
        assert_ne!(
            pred("bias-x3", Some(3), case),
            pred("bias-x3", Some(2), case)
        );
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Natural corruptions") && summary.contains("gibbs"));
    assert!(summary.contains("| bias-x3 | 5 | 4×3 |"), "{summary}");
    // The report charts the damage against severity beside the table, one line per entry.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("cnn: damage by corruption severity"),
        "no severity chart"
    );
    assert!(html.contains("bias-x3") && html.contains("<svg"));
    let plain_dir = tmp("corrupt-plain");
    let plain = experiment(&plain_dir, base).unwrap();
    let plain_out = plain_dir.join("out");
    // The plain run loads the first run's models, so only the corruptions differ.
    mira_testkit::copy_dir(&out.join("models"), &plain_out.join("models"));
    run::<BrainAge>(&plain, &plain_out, &mut |_| {}).unwrap();
    let rows = |d: &Path| std::fs::read_to_string(d.join("summary.json")).unwrap();
    assert_eq!(rows(&out), rows(&plain_out));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&plain_dir);
}
