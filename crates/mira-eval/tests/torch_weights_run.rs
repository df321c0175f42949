//! An experiment can attack a UNet trained in PyTorch (safetensors), without training.

use mira_eval::{SegExperiment as Experiment, Segmentation, run};

#[test]
fn pytorch_weights_are_attacked_like_any_model() {
    let weights = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mira-nn/tests/fixtures/unet2d_w4/weights.safetensors");
    let text = format!(
        r#"
name = "byo"
seed = 1
[data]
source = "brain_mr_phantom"
test = 3
[data.phantom]
size = 16
[[models]]
name = "torch-unet"
base_width = 4
torch_weights = "{}"
[[attacks]]
name = "fgsm"
kind = "fgsm"
[sweep]
epsilons = [0.0, 0.05]
[checks]
enabled = false
"#,
        weights.display()
    );
    let exp = Experiment::from_toml(&text, "byo.toml").unwrap();
    let out = std::env::temp_dir().join(format!("mira-byo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let outcome = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(outcome.summary.len(), 2);
    assert!(!out.join("models").exists(), "nothing was trained");
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"torch-unet\""),
        "the weights' hash is pinned"
    );
    std::fs::remove_dir_all(&out).unwrap();

    // A wrong architecture is refused with the field named.
    let bad = Experiment::from_toml(
        &text.replace("base_width = 4", "base_width = 4\nresidual = true"),
        "b.toml",
    )
    .unwrap()
    .validate()
    .unwrap_err()
    .to_string();
    assert!(bad.contains("models[0].torch_weights"), "{bad}");
}
