//! Early stopping end to end: an i-FGSM entry with `early_stop` and the same attack without it
//! in one run. Stopped cases are broken where they stopped; cases that never stopped end where
//! the full attack ends; the records say when each case stopped and the `early-stop` notice
//! counts the gradient passes saved. Bad settings are refused up front.

use mira_eval::{SegExperiment as Experiment, Segmentation, run};
use mira_report::SegRecord;
use mira_stats::mean_defined;

const EXP: &str = r#"
name = "early"
seed = 3
[data]
source = "brain_mr_phantom"
train = 48
val = 4
test = 6
[data.phantom]
size = 32
[training]
epochs = 12
batch_size = 8
[[models]]
name = "unet"
base_width = 8
depth = 2
[[attacks]]
name = "full"
kind = "ifgsm"
steps = 6
[[attacks]]
name = "early"
kind = "ifgsm"
steps = 6
early_stop = 2
[[attacks]]
name = "early-margin"
kind = "ifgsm"
steps = 6
loss = "margin"
early_stop = 2
[sweep]
epsilons = [0.0, 0.03, 0.1]
batch_size = 4
break_dice = 0.25
"#;

#[test]
fn early_stopped_cases_are_broken_and_the_others_match_the_full_attack() {
    let exp = Experiment::from_toml(EXP, "early.toml").unwrap();
    let out = std::env::temp_dir().join(format!("mira-early-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let outcome = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    let recs = mira_report::read_records(&out.join("records.jsonl")).unwrap();
    let find = |a: &str, e: f64, c: usize| -> &SegRecord {
        recs.iter()
            .find(|r| r.attack == a && r.epsilon == e && r.case == c)
            .unwrap()
    };
    let (mut stopped, mut ran) = (0, 0);
    for r in recs
        .iter()
        .filter(|r| r.attack == "early" && r.epsilon > 0.0)
    {
        let full = find("full", r.epsilon, r.case);
        assert!(
            full.stopped_at.is_none(),
            "only early-stop entries record it"
        );
        assert!(r.linf <= r.epsilon * (1.0 + 1e-5) + 1e-6, "{r:?}");
        match r.stopped_at {
            Some(s) => {
                stopped += 1;
                assert!(
                    s == 0 || (s.is_multiple_of(2) && s < 6),
                    "checks at 0, 2, 4: {r:?}"
                );
                if s == 0 {
                    assert_eq!(r.adv_dice, r.clean_dice, "broken clean: not attacked");
                    assert_eq!(r.linf, 0.0);
                }
                assert!(
                    mean_defined(&r.adv_dice).unwrap() < 0.25,
                    "stopped when broken: {r:?}"
                );
            }
            None => {
                ran += 1;
                // A case that never stopped followed the full attack's trajectory.
                assert_eq!(
                    r.adv_dice, full.adv_dice,
                    "case {} eps {}",
                    r.case, r.epsilon
                );
                assert!((r.linf - full.linf).abs() <= 1e-9);
            }
        }
    }
    assert!(
        stopped > 0 && ran > 0,
        "both kinds present: {stopped} stopped, {ran} ran"
    );
    let notice = outcome
        .warnings
        .iter()
        .find(|w| w.check == "early-stop")
        .expect("the early-stop notice");
    assert_eq!(notice.attack.as_deref(), Some("early"));
    assert!(
        notice
            .message
            .contains(&format!("{stopped} of 12 attacked cases")),
        "{notice}"
    );
    // Cross-entropy: the checks read each step's forward pass; a case stopped at `s` ran `s + 1`.
    let spent: usize = recs
        .iter()
        .filter(|r| r.attack == "early" && r.epsilon > 0.0)
        .map(|r| r.stopped_at.map_or(6, |s| s + 1))
        .sum();
    assert!(
        notice
            .message
            .contains(&format!("{spent} of 72 gradient passes spent"))
            && notice.message.contains("each step's own forward pass"),
        "{notice}"
    );
    // Every segmentation loss has a judging objective: the margin entry's checks read its
    // steps' forward passes too.
    let margin = outcome
        .warnings
        .iter()
        .find(|w| w.check == "early-stop" && w.attack.as_deref() == Some("early-margin"))
        .expect("the margin entry's notice");
    let spent: usize = recs
        .iter()
        .filter(|r| r.attack == "early-margin" && r.epsilon > 0.0)
        .map(|r| r.stopped_at.map_or(6, |s| s + 1))
        .sum();
    assert!(
        margin
            .message
            .contains(&format!("{spent} of 72 gradient passes spent"))
            && margin.message.contains("each step's own forward pass"),
        "{margin}"
    );
    assert!(
        !outcome
            .warnings
            .iter()
            .any(|w| w.check != "early-stop" && w.attack.as_deref() == Some("early")),
        "the Dice checks skip early-stopped attacks: {:?}",
        outcome.warnings
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn early_stop_is_refused_where_it_does_not_apply() {
    for (entry, why) in [
        ("kind = \"apgd\"\nearly_stop = 2", "early_stop"),
        (
            "kind = \"pgd\"\nrestarts = 2\nearly_stop = 2",
            "one restart",
        ),
        ("kind = \"ifgsm\"\nearly_stop = 0", "1..=100000"),
    ] {
        let text = EXP.replace("kind = \"ifgsm\"\nsteps = 6\nearly_stop = 2", entry);
        let err = Experiment::from_toml(&text, "x.toml")
            .and_then(|e| e.validate().map(|_| e))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("early_stop") && err.contains(why),
            "{entry}: {err}"
        );
    }
}
