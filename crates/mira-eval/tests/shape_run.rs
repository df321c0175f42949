//! Disk-shape experiments (study S4) end to end on tiny settings: in- and out-of-distribution
//! cells, budgets, adversarial training, resume, report rebuild and file errors.

use std::path::{Path, PathBuf};

use mira_eval::run::Spec;
use mira_eval::{Shape, ShapeExperiment, rebuild, run};
use mira_report::{ShapeRecord, read_jsonl};

const TINY: &str = r#"
task = "shape"
name = "s4_tiny"
seed = 4
[data]
size = 64
train_slices = 24
val_slices = 6
test_slices = 4
[training]
steps = 12
batch_size = 4
validate_every = 6
adv_epsilon = 0.05
adv_steps = 2
adv_step = 0.02
[[models]]
name = "std-p3"
modes = 3
width = 2
[[models]]
name = "adv-p3"
modes = 3
width = 2
adversarial = true
[[attacks]]
name = "pgd"
norm = "linf"
epsilons = [0.02, 0.05]
steps = 3
[[attacks]]
name = "ood-noise"
scope = "ood"
source = "noise"
norm = "l2"
epsilons = [4.0]
steps = 3
[sweep]
batch_size = 4
"#;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-shape-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn experiment(dir: &Path, text: &str) -> mira_eval::Result<ShapeExperiment> {
    let path = dir.join("exp.toml");
    std::fs::write(&path, text).unwrap();
    ShapeExperiment::from_file(&path)
}

#[test]
fn shape_run_records_every_slice_and_resumes() {
    let dir = tmp("run");
    assert!(matches!(
        mira_eval::Experiment::from_toml(TINY, "t.toml").unwrap(),
        mira_eval::Experiment::Shape(_)
    ));
    let exp = experiment(&dir, TINY).unwrap();
    let out = dir.join("out");
    let first = run::<Shape>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(first.cells_run, 2 * 3);
    let recs: Vec<ShapeRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    assert_eq!(recs.len(), 6 * 4);
    for r in &recs {
        let budget = if r.norm == "linf" { r.linf } else { r.l2 };
        assert!(budget <= r.epsilon * (1.0 + 1e-5) + 1e-6, "{r:?}");
        assert!(r.adv_mrse.is_finite() && (0.0..=1.0).contains(&r.adv_dice));
        if r.scope == "ood" {
            assert_eq!(r.source.as_deref(), Some("noise"));
            assert!(r.start_mrse.is_some() && r.recon_start.is_some());
        }
    }
    // In distribution the attack raises the point error on average.
    let mean = |f: &dyn Fn(&ShapeRecord) -> f64| {
        let v: Vec<f64> = recs
            .iter()
            .filter(|r| r.attack == "pgd" && r.epsilon == 0.05)
            .map(f)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(mean(&|r| r.adv_mrse) > mean(&|r| r.clean_mrse));
    // OOD: the match error falls from the start (the attack minimises it).
    let ood: Vec<&ShapeRecord> = recs.iter().filter(|r| r.scope == "ood").collect();
    let (start, matched): (f64, f64) = ood.iter().fold((0.0, 0.0), |(a, b), r| {
        (a + r.start_mrse.unwrap(), b + r.adv_mrse)
    });
    assert!(matched < start, "{matched} vs {start}");
    assert!(
        first
            .summary
            .findings
            .iter()
            .any(|f| f.starts_with("Clean MRSE on 4 held-out slices"))
    );
    assert!(
        first
            .summary
            .findings
            .iter()
            .any(|f| f.contains("adversarial training")),
        "{:?}",
        first.summary.findings
    );
    assert!(
        first
            .summary
            .findings
            .iter()
            .any(|f| f.starts_with("OOD ood-noise"))
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("MRSE"));
    // One picture per (model, attack) at the attack's largest ε, linked from the report.
    let examples: Vec<_> = std::fs::read_dir(out.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        examples.iter().any(|f| f.ends_with("__worst.png")),
        "{examples:?}"
    );
    assert!(
        examples.iter().any(|f| f.ends_with("__best-match.png")),
        "{examples:?}"
    );
    for f in &examples {
        assert!(html.contains(f.as_str()), "{f} not in the report");
    }
    // Resume: nothing new; the report rebuilds identically; a torn cell is redone once.
    let again = run::<Shape>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!((again.cells_run, again.cells_skipped), (0, 6));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    rebuild::<Shape>(&out).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("summary.md")).unwrap(), md);
    let text = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines[..lines.len() - 2].join("\n") + "\n" + &lines[lines.len() - 2][..10];
    std::fs::write(out.join("records.jsonl"), cut).unwrap();
    let resumed = run::<Shape>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(resumed.cells_run, 1);
    let recs2: Vec<ShapeRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    assert_eq!(recs2.len(), recs.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The attack library on a shape model: the composite runs as a cascade judged by
/// `sweep.break_mrse` (records say which member's input was kept) and a min-norm search reports
/// per slice the smallest budget that pushes the MRSE past it, in its own tables, kept out of
/// the MRSE summaries.
#[test]
fn shape_min_norm_and_composite_cells() {
    let dir = tmp("library");
    let text = TINY
        .replace(
            "[[models]]\nname = \"adv-p3\"\nmodes = 3\nwidth = 2\nadversarial = true\n",
            "",
        )
        .replace(
            "[[attacks]]\nname = \"ood-noise\"\nscope = \"ood\"\nsource = \"noise\"\nnorm = \"l2\"\nepsilons = [4.0]\nsteps = 3\n",
            "[[attacks]]\nname = \"auto\"\nkind = \"auto\"\nnorm = \"linf\"\nepsilons = [0.05]\n\
             steps = 3\nqueries = 10\n[[attacks]]\nname = \"mn\"\nscope = \"min-norm\"\n\
             norm = \"linf\"\nepsilons = [0.02, 0.05]\nsteps = 30\n",
        )
        .replace("[sweep]\nbatch_size = 4\n", "[sweep]\nbatch_size = 4\nbreak_mrse = BREAK\n");
    assert!(!text.contains("adv-p3") && !text.contains("ood-noise"));
    // A 12-step model is off by 2.1–2.6 px clean and barely moves (+0.02 px at ε 0.05): at
    // 2.53 px one slice is broken clean, one (2.52 px) can be pushed over, two cannot.
    let text = text.replace("BREAK", "2.53");
    let exp = experiment(&dir, &text).unwrap();
    let out = dir.join("out");
    let run = run::<Shape>(&exp, &out, &mut |_| {}).unwrap();
    // pgd at two budgets, auto at one, the min-norm search once (at its cap).
    assert_eq!(run.cells_run, 2 + 1 + 1);
    let recs: Vec<ShapeRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    let mn: Vec<&ShapeRecord> = recs.iter().filter(|r| r.attack == "mn").collect();
    assert_eq!(mn.len(), 4);
    for r in &mn {
        assert_eq!((r.epsilon, r.scope.as_str()), (0.05, "min-norm"));
        match r.min_norm {
            Some(0.0) => assert!(r.clean_mrse > 2.53 && r.linf == 0.0, "{r:?}"),
            Some(v) => {
                assert!(r.clean_mrse <= 2.53 && r.adv_mrse > 2.53, "{r:?}");
                assert!(v <= 0.05 + 1e-6 && (r.linf - v).abs() < 1e-5, "{r:?}");
            }
            None => assert!(r.adv_mrse <= 2.53 && r.linf == 0.0, "{r:?}"),
        }
    }
    let found: Vec<Option<f64>> = mn.iter().map(|r| r.min_norm).collect();
    assert_eq!(
        found.iter().filter(|m| **m == Some(0.0)).count(),
        1,
        "{found:?}"
    );
    assert!(
        found.iter().any(|m| m.is_some_and(|v| v > 0.0)),
        "the search pushes one slice over within 0.05: {found:?}"
    );
    for r in recs.iter().filter(|r| r.attack == "auto") {
        let m = r.member.as_deref().unwrap();
        assert!(["apgd", "square", "clean"].contains(&m), "{m}");
    }
    assert!(
        recs.iter()
            .filter(|r| r.attack != "auto")
            .all(|r| r.member.is_none())
    );
    // The summaries leave the search out; its tables are in summary.md and report.html.
    assert!(run.summary.rows.iter().all(|r| r.attack != "mn"));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for t in [
        "Minimum-norm search",
        "Share broken vs ε",
        "Consistency of the minimum-norm search",
        "MRSE above 2.53 px",
    ] {
        assert!(md.contains(t) && html.contains(t), "{t}");
    }
    assert!(
        md.contains("| std-p3 | mn | 0.05 | 4 | 25 % (1/4) |"),
        "{md}"
    );
    assert_eq!(rebuild::<Shape>(&out).unwrap().rows, run.summary.rows);
    assert_eq!(std::fs::read_to_string(out.join("summary.md")).unwrap(), md);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shape_files_with_errors_name_the_field() {
    let dir = tmp("errors");
    let cases = [
        (
            TINY.replace(
                "modes = 3\nwidth = 2\nadversarial",
                "modes = 12\nwidth = 2\nadversarial",
            ),
            "models[1].modes",
        ),
        (
            TINY.replace("source = \"noise\"\n", ""),
            "attacks[1].source",
        ),
        (
            TINY.replace("adv_epsilon = 0.05", "adv_epsilon = 0.0"),
            "models[1].adversarial",
        ),
        (TINY.replace("size = 64", "size = 72"), "data"),
        (
            TINY.replace("epsilons = [0.02, 0.05]", "epsilons = [0.05, 0.02]"),
            "attacks[0].epsilons",
        ),
        (
            TINY.replace("source = \"noise\"", "source = \"mri\""),
            "mri",
        ),
        (
            TINY.replace(
                "name = \"pgd\"\n",
                "name = \"pgd\"\nscope = \"min-norm\"\nkind = \"pgd\"\n",
            ),
            "attacks[0].kind",
        ),
        (
            TINY.replace("[sweep]\n", "[sweep]\nbreak_mrse = 0.0\n"),
            "sweep.break_mrse",
        ),
    ];
    for (text, field) in cases {
        let e = experiment(&dir, &text).unwrap_err().to_string();
        assert!(e.contains(field), "expected `{field}` in: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A shape file with `[[corruptions]]` runs end to end: one cell per (model, family,
/// severity), records with scope `corruption`, a Natural corruptions table, and the attacks'
/// summary that of the same file without them.
#[test]
fn shape_runs_corruptions_beside_attacks() {
    let extra = "[[corruptions]]\nkind = \"blur\"\nseverities = [1, 5]\n";
    let with = TINY.replacen("[[attacks]]", &format!("{extra}[[attacks]]"), 1);
    let dir = tmp("corrupt");
    let out = dir.join("out");
    let exp = experiment(&dir, &with).unwrap();
    run::<Shape>(&exp, &out, &mut |_| {}).unwrap();
    let recs: Vec<ShapeRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    let corrupted: Vec<&ShapeRecord> = recs.iter().filter(|r| r.scope == "corruption").collect();
    assert_eq!(corrupted.len(), exp.models.len() * 2 * exp.data.test_slices);
    assert!(
        corrupted
            .iter()
            .all(|r| r.linf > 0.0 && [1.0, 5.0].contains(&r.epsilon))
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Natural corruptions"), "{summary}");
    let plain_dir = tmp("corrupt-plain");
    let plain_out = plain_dir.join("out");
    // The plain run loads the first run's models, so only the corruptions differ.
    mira_testkit::copy_dir(&out.join("models"), &plain_out.join("models"));
    run::<Shape>(
        &experiment(&plain_dir, TINY).unwrap(),
        &plain_out,
        &mut |_| {},
    )
    .unwrap();
    let rows = |d: &Path| std::fs::read_to_string(d.join("summary.json")).unwrap();
    assert_eq!(rows(&out), rows(&plain_out));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&plain_dir);
}
