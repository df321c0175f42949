//! A tiny run with the composite and the minimum-norm scope: auto records name the member they
//! kept and leave no state behind; min-norm records carry a minimal ε within the cap, stay out
//! of the Dice-vs-ε summary and get their own tables in summary.md and report.html.

use mira_eval::{SegExperiment as Experiment, Segmentation, run};

const TINY: &str = r#"
name = "library"
seed = 3
[data]
source = "brain_mr_phantom"
train = 8
val = 4
test = 4
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
name = "pgd"
kind = "pgd"
steps = 3
[[attacks]]
name = "auto"
kind = "auto"
steps = 3
queries = 10
[[attacks]]
name = "mn"
scope = "min-norm"
steps = 10
[sweep]
epsilons = [0.02, 0.1]
batch_size = 2
break_dice = 0.9
[checks]
enabled = false
"#;

#[test]
fn composite_and_min_norm_cells_run_end_to_end() {
    let exp = Experiment::from_toml(TINY, "library.toml").unwrap();
    exp.validate().unwrap();
    let out = std::env::temp_dir().join(format!("mira-eval-library-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let done = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    // pgd and auto at two budgets, min-norm once at the cap.
    assert_eq!(done.cells_run, 5);
    let records = mira_report::read_records(&out.join("records.jsonl")).unwrap();
    assert_eq!(records.len(), 5 * 4);
    for r in &records {
        assert!(r.linf <= r.epsilon * (1.0 + 1e-5) + 1e-6, "{r:?}");
        match r.attack.as_str() {
            "auto" => assert!(
                ["apgd", "square", "clean"].contains(&r.member.as_deref().unwrap()),
                "{r:?}"
            ),
            "mn" => {
                assert_eq!(r.epsilon, 0.1);
                if let Some(m) = r.min_norm {
                    assert!(
                        m <= 0.1 * (1.0 + 1e-5) && (m - r.linf).abs() < 1e-6,
                        "{r:?}"
                    );
                    let d = mira_stats::mean_defined(&r.adv_dice);
                    assert!(d.is_some_and(|d| d < 0.9), "{r:?}");
                }
            }
            _ => assert_eq!((r.member.as_deref(), r.min_norm), (None, None)),
        }
    }
    // The composite's state is gone once its records are written.
    let states = out.join("cascade");
    assert!(!states.exists() || std::fs::read_dir(&states).unwrap().next().is_none());
    assert!(done.summary.iter().all(|r| r.attack != "mn"));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for title in [
        "## Minimum-norm search",
        "## Share broken vs ε",
        "## Consistency",
    ] {
        assert!(md.contains(title), "{md}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Minimum-norm search</h2>"));
    std::fs::remove_dir_all(&out).unwrap();
}
