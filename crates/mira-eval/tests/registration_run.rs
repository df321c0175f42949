//! Registration experiments (study S0) end to end on tiny settings: records, budgets, masks,
//! resume, report rebuild, file errors, and the real radiograph when the shared data is there.

use std::path::{Path, PathBuf};

use mira_eval::run::Spec;
use mira_eval::{RegExperiment, Registration, rebuild, reg_data, run};
use mira_report::{RegRecord, read_jsonl};
use mira_testkit::shared_data_for_test;

const TINY: &str = r#"
task = "registration"
name = "s0_tiny"
seed = 1
[data]
size = 32
max_translation = 4.0
xray_spacing_mm = 1.0
radiograph = "phantom"
source_size = 96
train_images = 4
val_images = 2
test_images = 2
val_pairs = 8
test_pairs = 6
[training]
steps = 12
batch_size = 8
validate_every = 6
[[models]]
name = "xray"
source = "xray"
width = 4
[[models]]
name = "natural"
source = "natural"
width = 4
mode = "siamese"
[[attacks]]
name = "fgsm"
kind = "fgsm"
[[attacks]]
name = "pgd-fixed"
kind = "pgd"
steps = 3
image = "fixed"
[sweep]
epsilons = [0.0, 0.05, 0.2]
batch_size = 4
"#;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-reg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn experiment(dir: &Path, text: &str) -> mira_eval::Result<RegExperiment> {
    let path = dir.join("exp.toml");
    std::fs::write(&path, text).unwrap();
    RegExperiment::from_file(&path)
}

#[test]
fn registration_run_records_every_case_respects_masks_and_resumes() {
    let dir = tmp("run");
    assert!(matches!(
        mira_eval::Experiment::from_toml(TINY, "t.toml").unwrap(),
        mira_eval::Experiment::Registration(_)
    ));
    let exp = experiment(&dir, TINY).unwrap();
    let out = dir.join("out");
    let first = run::<Registration>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(first.cells_run, 2 * 2 * 3);
    // Per model, FGSM's gradient of each of the 2 batches served both non-zero ε.
    assert_eq!(first.fgsm_gradients_reused, 2 * 2);
    let recs: Vec<RegRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    assert_eq!(recs.len(), 2 * 2 * 3 * 6);
    for r in &recs {
        assert!(r.linf <= r.epsilon + 1e-6, "{r:?}");
        assert!(r.adv_tre.is_finite() && r.clean_tre >= 0.0);
        assert_eq!(r.unit, if r.model == "xray" { "mm" } else { "px" });
        if r.epsilon == 0.0 {
            assert_eq!(r.adv_tre, r.clean_tre);
        }
    }
    // At the largest budget the attack raises TRE on average (it maximises it).
    let mean = |m: &str, e: f64| {
        let v: Vec<f64> = recs
            .iter()
            .filter(|r| r.model == m && r.attack == "fgsm" && r.epsilon == e)
            .map(|r| r.adv_tre)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    for m in ["xray", "natural"] {
        assert!(
            mean(m, 0.2) > mean(m, 0.0),
            "{m}: {} vs {}",
            mean(m, 0.2),
            mean(m, 0.0)
        );
    }
    for f in [
        "summary.md",
        "summary.csv",
        "first_failures.csv",
        "report.html",
        "manifest.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // Resuming does nothing new; the report rebuilds from files alone, identically.
    let again = run::<Registration>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!((again.cells_run, again.cells_skipped), (0, 12));
    let before = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    rebuild::<Registration>(&out).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("summary.md")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_to_string(out.join("report.html")).unwrap(),
        html
    );
    assert!(html.contains("passing rate") && html.contains("<svg"));
    // A torn last line and an incomplete cell are repaired on resume, not duplicated.
    let text = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines[..lines.len() - 2].join("\n") + "\n" + &lines[lines.len() - 2][..10];
    std::fs::write(out.join("records.jsonl"), cut).unwrap();
    let resumed = run::<Registration>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(resumed.cells_run, 1);
    let recs2: Vec<RegRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    assert_eq!(recs2.len(), recs.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The attack library on a registration model: the composite runs as a cascade judged by the
/// passing rule (records say which member's input was kept) and a min-norm search reports per
/// pair the smallest budget that makes it fail, in its own tables, kept out of the passing-rate
/// summaries.
#[test]
fn registration_min_norm_and_composite_cells() {
    let dir = tmp("library");
    let text = TINY
        .replace(
            "[[models]]\nname = \"natural\"\nsource = \"natural\"\nwidth = 4\nmode = \"siamese\"\n",
            "",
        )
        .replace(
            "[[attacks]]\nname = \"pgd-fixed\"\nkind = \"pgd\"\nsteps = 3\nimage = \"fixed\"\n",
            "[[attacks]]\nname = \"auto\"\nkind = \"auto\"\nsteps = 3\nqueries = 10\n\
             [[attacks]]\nname = \"mn\"\nscope = \"min-norm\"\nsteps = 30\n",
        );
    // A 12-step model is off by 2.4–4.8 mm clean and barely moves (+0.1 mm at ε 0.2): at a
    // 4.6 mm tolerance one pair fails clean, one (4.56 mm) can be pushed over, four cannot.
    let text = text.replace(
        "name = \"xray\"\nsource = \"xray\"\n",
        "name = \"xray\"\nsource = \"xray\"\ntolerance = 4.6\n",
    );
    assert!(text.contains("scope = \"min-norm\"") && text.contains("tolerance = 4.6"));
    let exp = experiment(&dir, &text).unwrap();
    let out = dir.join("out");
    let run = run::<Registration>(&exp, &out, &mut |_| {}).unwrap();
    // fgsm and auto at three budgets, the min-norm search once (at the cap).
    assert_eq!(run.cells_run, 3 + 3 + 1);
    let recs: Vec<RegRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    let mn: Vec<&RegRecord> = recs.iter().filter(|r| r.attack == "mn").collect();
    assert_eq!(mn.len(), 6);
    for r in &mn {
        assert_eq!(r.epsilon, 0.2);
        match r.min_norm {
            // Failing clean: minimal budget 0, the clean input kept.
            Some(0.0) => assert!(!r.clean_pass() && r.linf == 0.0, "{r:?}"),
            // Made to fail by a perturbation of that size, within the cap.
            Some(v) => {
                assert!(r.clean_pass() && !r.adv_pass(), "{r:?}");
                assert!(v <= 0.2 + 1e-6 && (r.linf - v).abs() < 1e-5, "{r:?}");
            }
            None => assert!(r.adv_pass() && r.linf == 0.0, "{r:?}"),
        }
    }
    assert!(
        mn.iter().any(|r| r.min_norm.is_some_and(|v| v > 0.0)),
        "the search makes some passing pair fail within 0.2: {:?}",
        mn.iter()
            .map(|r| (r.clean_tre, r.min_norm))
            .collect::<Vec<_>>()
    );
    for r in recs.iter().filter(|r| r.attack == "auto") {
        let m = r.member.as_deref().unwrap();
        assert!(["apgd", "square", "clean"].contains(&m), "{m}");
        if m == "clean" {
            assert_eq!(r.adv_tre, r.clean_tre);
        }
    }
    assert!(
        recs.iter()
            .filter(|r| r.attack != "auto")
            .all(|r| r.member.is_none())
    );
    // The summaries leave the search out; its tables are in summary.md and report.html.
    assert!(run.summary.rows.iter().all(|r| r.attack != "mn"));
    assert_eq!(run.summary.rows.len(), 6);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for t in [
        "Minimum-norm search",
        "Share broken vs ε",
        "Consistency of the minimum-norm search",
    ] {
        assert!(md.contains(t) && html.contains(t), "{t}");
    }
    assert!(md.contains("| xray | mn | 0.2 | 6 |"), "{md}");
    rebuild::<Registration>(&out).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("summary.md")).unwrap(), md);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn registration_files_with_errors_name_the_field() {
    let dir = tmp("errors");
    let cases = [
        (
            TINY.replace("width = 4\n[[models]]", "widht = 4\n[[models]]"),
            "widht",
        ),
        (
            TINY.replace("radiograph = \"phantom\"", "radiograph = \"missing.dcm\""),
            "data.radiograph",
        ),
        (
            TINY.replace("max_translation = 4.0", "max_translation = 40.0"),
            "data.max_translation",
        ),
        (
            TINY.replace("kind = \"fgsm\"", "kind = \"fgsm\"\nsteps = 3"),
            "attacks[0].steps",
        ),
        (
            TINY.replace("image = \"fixed\"", "image = \"left\""),
            "image",
        ),
        (
            TINY.replace("epsilons = [0.0, 0.05, 0.2]", "epsilons = [0.05, 0.05]"),
            "sweep.epsilons[1]",
        ),
    ];
    for (text, field) in cases {
        let e = experiment(&dir, &text).unwrap_err().to_string();
        assert!(e.contains(field), "expected `{field}` in: {e}");
    }
    // Sources too small for the pairs fail clearly when the data is built.
    let small = TINY.replace("source_size = 96", "source_size = 50");
    let exp = experiment(&dir, &small).unwrap();
    let e = reg_data(&exp, &exp.models[0]).unwrap_err().to_string();
    assert!(e.contains("need"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn registration_pairs_come_from_the_radiograph_shared_data() {
    let Some(_) = shared_data_for_test("registration_pairs_come_from_the_radiograph_shared_data")
    else {
        return;
    };
    let dir = tmp("radiograph");
    let text = TINY.replace(
        "radiograph = \"phantom\"",
        "radiograph = \"auto\"\nradiograph_downsample = 4",
    );
    let exp = experiment(&dir, &text).unwrap();
    let d = reg_data(&exp, &exp.models[0]).unwrap();
    assert_eq!(d.source_name, "radiograph");
    assert!(d.radiograph.as_ref().unwrap().ends_with("RG1_UNCR.dcm"));
    // One image (1841 x 1955 px → 460 x 488 after 4x), cut into disjoint square tiles large
    // enough for the training pairs: (15.5 + 4) √2 (1 + 2 · 0.08) + 2 = 34.0 px of reach,
    // 70 px tiles, 6 x 6 of them, minus flat ones, dealt 25 % / 15 % / rest.
    let train = &d.train[0];
    assert_eq!((train.width, train.height, train.rows), (70, 70, (0, 70)));
    // At most 36 − 9 (test) − 5 (validation) = 22 training tiles.
    assert!(
        (10..=22).contains(&d.train.len()),
        "{} training tiles",
        d.train.len()
    );
    // Scaled to [0, 1] between robust percentiles: a spread of grey levels, not saturated.
    let mean = train.pixels.iter().sum::<f32>() / train.pixels.len() as f32;
    assert!((0.2..0.8).contains(&mean), "mean {mean}");
    assert_eq!(d.test.len(), 6);
    // With radiograph_with_phantoms the training sources add the phantom subjects; validation
    // and test pairs are the same radiograph pairs.
    let mixed = experiment(
        &dir,
        &text.replace(
            "radiograph_downsample = 4",
            "radiograph_downsample = 4
radiograph_with_phantoms = true",
        ),
    )
    .unwrap();
    let m = reg_data(&mixed, &mixed.models[0]).unwrap();
    assert_eq!(m.train.len(), d.train.len() + 4);
    assert_eq!(m.test, d.test);
    // The natural model never reads the radiograph.
    assert_eq!(
        reg_data(&exp, &exp.models[1]).unwrap().source_name,
        "natural"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Early stopping on registration: pairs that fail (TRE above tolerance) at a check stop and
/// keep the input that made them fail; pairs that never fail end where the full attack ends;
/// the `early-stop` notice counts them.
#[test]
fn early_stopped_pairs_fail_and_the_others_match_the_full_attack() {
    let dir = tmp("early");
    let text = TINY.replace(
        "[[attacks]]\nname = \"fgsm\"\nkind = \"fgsm\"\n",
        "[[attacks]]\nname = \"full\"\nkind = \"ifgsm\"\nsteps = 6\n\
         [[attacks]]\nname = \"early\"\nkind = \"ifgsm\"\nsteps = 6\nearly_stop = 2\n",
    );
    assert!(text.contains("early_stop"));
    let exp = experiment(&dir, &text).unwrap();
    let out = dir.join("out");
    let run = run::<Registration>(&exp, &out, &mut |_| {}).unwrap();
    let recs: Vec<RegRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    let (mut stopped, mut ran) = (0, 0);
    for r in recs
        .iter()
        .filter(|r| r.attack == "early" && r.epsilon > 0.0)
    {
        let full = recs
            .iter()
            .find(|f| {
                f.attack == "full"
                    && f.model == r.model
                    && f.epsilon == r.epsilon
                    && f.case == r.case
            })
            .unwrap();
        assert!(full.stopped_at.is_none());
        match r.stopped_at {
            Some(s) => {
                stopped += 1;
                assert!(s == 0 || (s.is_multiple_of(2) && s < 6), "{r:?}");
                assert!(r.adv_tre > r.tolerance, "stopped when failing: {r:?}");
                if s == 0 {
                    assert_eq!(r.linf, 0.0, "failing clean: not attacked");
                }
            }
            None => {
                ran += 1;
                assert_eq!(r.adv_tre, full.adv_tre, "{r:?}");
                assert!((r.linf - full.linf).abs() <= 1e-9);
            }
        }
    }
    assert!(stopped > 0 && ran > 0, "{stopped} stopped, {ran} ran");
    for model in ["xray", "natural"] {
        let w = run
            .warnings
            .iter()
            .find(|w| w.check == "early-stop" && w.model == model)
            .expect("a notice per model");
        assert!(
            w.message.contains("judge passes") && w.message.contains("passing rates"),
            "{w}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A registration file with `[[corruptions]]` runs end to end: both images of every pair
/// corrupted, one cell per (model, family, severity), records with `norm = "severity"`, a
/// Natural corruptions table, and the attacks' summary that of the same file without them.
#[test]
fn registration_runs_corruptions_beside_attacks() {
    let with = TINY.replace(
        "[sweep]",
        "[[corruptions]]\nkind = \"rician\"\nseverities = [1, 5]\n[[corruptions]]\n\
         kind = \"anisotropy\"\nseverities = [4]\n[sweep]",
    );
    let dir = tmp("corrupt");
    let out = dir.join("out");
    let outcome =
        run::<Registration>(&experiment(&dir, &with).unwrap(), &out, &mut |_| {}).unwrap();
    assert_eq!(outcome.cells_run, 2 * (2 * 3 + 3));
    let recs: Vec<RegRecord> = read_jsonl(&out.join("records.jsonl")).unwrap();
    let corrupted: Vec<&RegRecord> = recs.iter().filter(|r| r.norm == "severity").collect();
    assert_eq!(corrupted.len(), 2 * 3 * 6);
    for r in &corrupted {
        assert_eq!(r.image, "both");
        assert!([1.0, 4.0, 5.0].contains(&r.epsilon) && r.linf > 0.0 && r.linf <= 1.0);
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Natural corruptions") && summary.contains("anisotropy"));
    let plain_dir = tmp("corrupt-plain");
    let plain_out = plain_dir.join("out");
    // The plain run loads the first run's models, so only the corruptions differ.
    mira_testkit::copy_dir(&out.join("models"), &plain_out.join("models"));
    run::<Registration>(
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
