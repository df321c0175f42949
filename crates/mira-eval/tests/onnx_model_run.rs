//! An experiment can attack an ONNX model (`[[models]] onnx = ...`): the ONNX export of the
//! reference UNet2d gives the same records as the same weights imported from PyTorch
//! (`torch_weights`), cell for cell, case for case; bad entries name their field.

use std::path::PathBuf;

use mira_eval::run::Spec;
use mira_eval::{SegExperiment as Experiment, Segmentation, run};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mira-onnx/tests/fixtures")
        .join(name)
}

fn experiment(model: &str) -> String {
    format!(
        r#"
name = "onnx"
seed = 3
[data]
source = "brain_mr_phantom"
test = 6
[data.phantom]
size = 32
[[models]]
name = "m"
{model}
[[attacks]]
name = "fgsm"
kind = "fgsm"
[[attacks]]
name = "pgd"
kind = "pgd"
steps = 5
[[attacks]]
name = "ti-fgsm"
kind = "ifgsm"
steps = 3
goal = "remove_tumour"
[sweep]
epsilons = [0.0, 0.02, 0.05]
batch_size = 4
[checks]
enabled = false
"#
    )
}

fn records(model: &str, tag: &str) -> String {
    let exp = Experiment::from_toml(&experiment(model), "onnx.toml").unwrap();
    exp.validate().unwrap();
    let out = std::env::temp_dir().join(format!("mira-onnx-run-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    let text = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    text
}

#[test]
fn an_onnx_export_gives_the_records_of_its_pytorch_weights() {
    let onnx = records(
        &format!("onnx = \"{}\"", fixture("reference_unet.onnx").display()),
        "onnx",
    );
    let torch = records(
        &format!(
            "base_width = 8\ntorch_weights = \"{}\"",
            fixture("reference_unet.safetensors").display()
        ),
        "torch",
    );
    assert_eq!(onnx.lines().count(), 3 * 3 * 6);
    assert_eq!(torch.lines().count(), 3 * 3 * 6);
    // The exporter folds BatchNorm into the convolutions in its own order of operations, so
    // the two forward passes agree to float rounding, not bit for bit: Dice, targets and L∞
    // must agree exactly, L2 (a sum over every pixel) to 1e-3.
    let mut exact = 0;
    for (a, b) in onnx.lines().zip(torch.lines()) {
        let (a, b): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(a).unwrap(),
            serde_json::from_str(b).unwrap(),
        );
        for key in [
            "attack",
            "epsilon",
            "case",
            "clean_dice",
            "adv_dice",
            "adv_target_match",
            "linf",
        ] {
            assert_eq!(a[key], b[key], "{key}: {a} vs {b}");
        }
        let (la, lb) = (a["l2"].as_f64().unwrap(), b["l2"].as_f64().unwrap());
        assert!((la - lb).abs() <= 1e-3 * lb.max(1e-9), "l2 {la} vs {lb}");
        exact += usize::from(a == b);
    }
    assert!(
        exact >= 2 * 3 * 6,
        "FGSM and the zero budgets agree bit for bit ({exact})"
    );
}

#[test]
fn bad_onnx_entries_name_their_field() {
    let path = fixture("reference_unet.onnx").display().to_string();
    for (entry, want) in [
        (
            format!("onnx = \"{path}\"\nbase_width = 8"),
            "models[0].onnx",
        ),
        (
            format!(
                "onnx = \"{path}\"\ndefence = {{ kind = \"distillation\", temperature = 10.0 }}"
            ),
            "models[0].onnx",
        ),
        (
            "onnx = \"/nonexistent/model.onnx\"".to_string(),
            "not found",
        ),
    ] {
        let e = Experiment::from_toml(&experiment(&entry), "x.toml")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{entry}: {e}");
    }
    // A model whose classes are not the data's: refused when loaded, naming the field.
    let exp = Experiment::from_toml(
        &experiment(&format!(
            "onnx = \"{}\"",
            fixture("monai_unet2d.onnx").display()
        )),
        "x.toml",
    )
    .unwrap();
    let out = std::env::temp_dir().join(format!("mira-onnx-bad-{}", std::process::id()));
    let e = run::<Segmentation>(&exp, &out, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("models[0].onnx") && e.contains("3 classes"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// A brain-age experiment attacks an ONNX regressor (`age3d`: `[B, 1, S, S, S]` → years), a
/// registration experiment an ONNX pair regressor (`pair2d`: `[B, 2, H, W]` → θ, tx, ty) and a
/// shape experiment a three-head graph (`shape_heads`): nothing is trained, budgets hold,
/// ε = 0 changes nothing (registration), PGD moves the prediction away from the truth at
/// least as far as the clean one (brain age, registration), and every shape record is finite.
#[test]
fn brain_age_registration_and_shape_experiments_attack_onnx_models() {
    let dir = std::env::temp_dir().join(format!("mira-onnx-tasks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let age = format!(
        r#"
task = "brain_age"
name = "age-onnx"
seed = 2
[data]
size = 16
train_subjects = 4
val_subjects = 1
test_subjects = 4
universal_fit_subjects = 2
[[models]]
name = "onnx-age"
onnx = "{}"
[[attacks]]
name = "pgd"
norm = "linf"
epsilons = [0.02, 0.05]
steps = 5
[sweep]
batch_size = 2
"#,
        fixture("age3d.onnx").display()
    );
    let path = dir.join("age.toml");
    std::fs::write(&path, age).unwrap();
    let exp = mira_eval::AgeExperiment::from_file(&path).unwrap();
    exp.validate().unwrap();
    run::<mira_eval::BrainAge>(&exp, &dir.join("age"), &mut |_| {}).unwrap();
    let recs: Vec<mira_report::AgeRecord> =
        mira_report::read_jsonl(&dir.join("age/records.jsonl")).unwrap();
    assert_eq!(recs.len(), 8);
    for r in &recs {
        assert!(
            r.clean_pred.is_finite() && r.linf <= r.epsilon + 1e-6,
            "{r:?}"
        );
        assert!(
            (r.adv_pred - r.age).abs() > (r.clean_pred - r.age).abs(),
            "{r:?}"
        );
    }
    assert!(
        !dir.join("age/models/onnx-age").exists(),
        "nothing is trained"
    );

    let reg = format!(
        r#"
task = "registration"
name = "reg-onnx"
seed = 1
[data]
size = 32
max_translation = 4.0
xray_spacing_mm = 1.0
radiograph = "phantom"
source_size = 96
train_images = 2
val_images = 1
test_images = 2
val_pairs = 2
test_pairs = 4
[[models]]
name = "onnx-reg"
source = "xray"
onnx = "{}"
[[attacks]]
name = "pgd"
kind = "pgd"
steps = 4
[sweep]
epsilons = [0.0, 0.05]
batch_size = 2
"#,
        fixture("pair2d.onnx").display()
    );
    let path = dir.join("reg.toml");
    std::fs::write(&path, reg).unwrap();
    let exp = mira_eval::RegExperiment::from_file(&path).unwrap();
    exp.validate().unwrap();
    run::<mira_eval::Registration>(&exp, &dir.join("reg"), &mut |_| {}).unwrap();
    let recs: Vec<mira_report::RegRecord> =
        mira_report::read_jsonl(&dir.join("reg/records.jsonl")).unwrap();
    assert!(!recs.is_empty());
    for r in &recs {
        assert!(r.linf <= r.epsilon + 1e-6, "{r:?}");
        if r.epsilon == 0.0 {
            assert_eq!(r.adv_pred, r.clean_pred);
        } else {
            assert!(r.adv_tre >= r.clean_tre - 1e-9, "{r:?}");
        }
    }

    // Shape (S4): a three-head graph; in-distribution PGD and an out-of-distribution attack.
    let shape = format!(
        r#"
task = "shape"
name = "shape-onnx"
seed = 4
[data]
size = 64
train_slices = 4
val_slices = 2
test_slices = 4
[[models]]
name = "onnx-shape"
modes = 3
onnx = "{}"
[[attacks]]
name = "pgd"
norm = "linf"
epsilons = [0.05]
steps = 3
[[attacks]]
name = "ood-noise"
scope = "ood"
source = "noise"
norm = "l2"
epsilons = [4.0]
steps = 3
[sweep]
batch_size = 2
"#,
        fixture("shape_heads.onnx").display()
    );
    let spath = dir.join("shape.toml");
    std::fs::write(&spath, shape).unwrap();
    let exp = mira_eval::ShapeExperiment::from_file(&spath).unwrap();
    exp.validate().unwrap();
    run::<mira_eval::Shape>(&exp, &dir.join("shape"), &mut |_| {}).unwrap();
    let recs: Vec<mira_report::ShapeRecord> =
        mira_report::read_jsonl(&dir.join("shape/records.jsonl")).unwrap();
    assert_eq!(recs.len(), 8);
    for r in &recs {
        let finite = [r.clean_mrse, r.adv_mrse, r.recon_ind, r.recon_adv];
        assert!(finite.iter().all(|v| v.is_finite()), "{r:?}");
        let size = if r.norm == "linf" { r.linf } else { r.l2 };
        assert!(size <= r.epsilon * (1.0 + 1e-5) + 1e-6, "{r:?}");
    }
    assert!(
        !dir.join("shape/models/onnx-shape").exists(),
        "nothing is trained"
    );

    // A 3D model where a registration pair is expected: the field is named.
    let bad = std::fs::read_to_string(&path)
        .unwrap()
        .replace("pair2d.onnx", "age3d.onnx");
    std::fs::write(&path, bad).unwrap();
    let exp = mira_eval::RegExperiment::from_file(&path).unwrap();
    let err = run::<mira_eval::Registration>(&exp, &dir.join("bad"), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("models[0].onnx"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
