//! An experiment with defended models trains each defence, attacks them all, and writes the
//! model comparison; bad defence settings are refused with the field named.

use mira_eval::{SegExperiment as Experiment, Segmentation, model_groups, run};

const EXP: &str = r#"
name = "defences-tiny"
seed = 3
[data]
source = "brain_mr_phantom"
train = 8
val = 4
test = 6
[data.phantom]
size = 16
[training]
epochs = 2
batch_size = 4
[[models]]
name = "plain"
base_width = 4
depth = 2
[[models]]
name = "distilled"
base_width = 4
depth = 2
defence = { kind = "distillation", temperature = 20.0 }
[[models]]
name = "adv"
base_width = 4
depth = 2
defence = { kind = "adversarial", attack = "pgd", epsilon = 0.03, ratio = 1.0, warmup_epochs = 1, steps = 2 }
[[attacks]]
name = "fgsm"
kind = "fgsm"
[[attacks]]
name = "fgsm-T20"
kind = "fgsm"
temperature = 20.0
[sweep]
epsilons = [0.0, 0.03]
batch_size = 3
"#;

#[test]
fn defended_models_are_trained_attacked_and_compared() {
    let exp = Experiment::from_toml(EXP, "d.toml").unwrap();
    exp.validate().unwrap();
    let groups = model_groups(&exp);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].models, ["plain", "distilled", "adv"]);
    let out = std::env::temp_dir().join(format!("mira-defences-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let outcome = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(outcome.cells_run, 3 * 2 * 2);
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(
        md.contains("`distilled` (unet-w4-d2): defence distillation(T=20)"),
        "{md}"
    );
    assert!(
        md.contains("| unet-w4-d2 | fgsm | 0.03 | mean | plain | distilled | 6 |"),
        "{md}"
    );
    assert!(md.contains("| distilled | clean:plain |"), "{md}");
    // The checkpoint records how each model was trained.
    let meta = std::fs::read_to_string(out.join("models/adv/model.json")).unwrap();
    assert!(
        meta.contains("\"kind\": \"adversarial\"") && meta.contains("\"adversarial_examples\": 16"),
        "{meta}"
    );
    let meta = std::fs::read_to_string(out.join("models/distilled/model.json")).unwrap();
    assert!(
        meta.contains("\"teacher\""),
        "distillation keeps the teacher's history"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bad_defence_settings_name_the_field() {
    for (from, to, field) in [
        (
            "temperature = 20.0 }",
            "temperature = 0.0 }",
            "models[1].defence",
        ),
        ("ratio = 1.0", "ratio = 1.5", "models[2].defence"),
        (
            "kind = \"distillation\"",
            "kind = \"dropout\"",
            "models[1].defence",
        ),
        (
            "temperature = 20.0\n[sweep]",
            "temperature = -2.0\n[sweep]",
            "attacks[1].temperature",
        ),
    ] {
        let text = EXP.replace(from, to);
        assert_ne!(text, EXP, "{from}");
        let err = Experiment::from_toml(&text, "d.toml")
            .and_then(|e| e.validate())
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{from} → {err}");
    }
}
