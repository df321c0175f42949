//! An experiment can attack an ONNX model (`[[models]] onnx = ...`): the ONNX export of the
//! reference UNet2d gives the same records as the same weights imported from PyTorch
//! (`torch_weights`), cell for cell, case for case; bad entries name their field.

use std::path::PathBuf;

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
