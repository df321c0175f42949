//! S1 slices on the real MNI152 anatomy: loading, slice content, and a run end to end.

use mira_eval::{SegExperiment as Experiment, Segmentation, load_mni, run};
use mira_testkit::shared_data_for_test;

#[test]
fn mni_slices_carry_brain_and_tumour_shared_data() {
    let Some(root) = shared_data_for_test("mni_slices_carry_brain_and_tumour_shared_data") else {
        return;
    };
    let a = load_mni(&root.join("mni_icbm152_2009a_sym")).unwrap();
    let cfg = mira_data::BrainPhantomConfig::default();
    let ds = cfg.generate_on(&a, 11, 0, 8).unwrap();
    ds.validate().unwrap();
    assert_eq!(cfg.generate_on(&a, 11, 5, 1).unwrap().items[0], ds.items[5]);
    for s in &ds.items {
        let n = s.labels.len();
        // Brain (non-dark T1) covers a large part of the slice; the tumour sits inside it.
        let brain = s.channel(0).iter().filter(|v| **v > 0.15).count();
        assert!(brain > n / 4, "brain covers {brain} of {n} pixels");
        assert!(s.labels.contains(&2), "oedema present");
        // Real anatomy: T1 varies inside the brain (GM/WM/CSF), unlike a flat phantom.
        let t1: Vec<f32> = s.channel(0).iter().copied().filter(|v| *v > 0.15).collect();
        let mean = t1.iter().sum::<f32>() / t1.len() as f32;
        let sd = (t1.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / t1.len() as f32).sqrt();
        assert!(sd > 0.08, "T1 contrast inside the brain: sd {sd}");
    }
}

#[test]
fn mni_experiment_runs_end_to_end_shared_data() {
    let Some(root) = shared_data_for_test("mni_experiment_runs_end_to_end_shared_data") else {
        return;
    };
    let text = format!(
        r#"
name = "mni-tiny"
seed = 2
[data]
source = "brain_mr_mni"
anatomy_dir = "{}"
train = 6
val = 2
test = 3
[data.phantom]
size = 32
[training]
epochs = 1
batch_size = 3
[[models]]
name = "unet"
base_width = 4
depth = 2
[[attacks]]
name = "fgsm"
kind = "fgsm"
[sweep]
epsilons = [0.0, 0.05]
"#,
        root.join("mni_icbm152_2009a_sym").display()
    );
    let exp = Experiment::from_toml(&text, "mni.toml").unwrap();
    let out = std::env::temp_dir().join(format!("mira-mni-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let outcome = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(outcome.summary.len(), 2);
    assert_eq!(outcome.summary[0].n, 3);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn missing_anatomy_dir_is_a_clear_error() {
    let text = r#"
name = "x"
seed = 1
[data]
source = "brain_mr_mni"
anatomy_dir = "/nonexistent/mni"
test = 2
[[models]]
name = "m"
base_width = 4
depth = 2
[[attacks]]
name = "fgsm"
kind = "fgsm"
[sweep]
epsilons = [0.01]
"#;
    let err = Experiment::from_toml(text, "x.toml")
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data.anatomy_dir") && err.contains("/nonexistent/mni"),
        "{err}"
    );
}
