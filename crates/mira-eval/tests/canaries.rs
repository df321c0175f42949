//! A canary per task: the probes flag a deliberately gradient-masked variant of the task's
//! model (the model behind an input quantiser, whose gradient is zero almost everywhere: the
//! classic obfuscated-gradient "defence") and stay silent about masking on the same model
//! without the quantiser. Each task's model is trained by a tiny run of the task itself.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleDisplay};
use burn::prelude::*;
use mira_attack::{ApgdConfig, AttackSpec, IfgsmConfig, Norm};
use mira_eval::run::Spec;
use mira_eval::{
    AgeExperiment, AgeProbe, AttackedImage, BrainAge, ProbeSetup, RegExperiment, RegProbe,
    Registration, SegExperiment, Segmentation, Shape, ShapeExperiment, ShapeProbe, Warning,
    age_splits, probe, probe_segmenter, reg_data, run, shape_test_slices,
};
use mira_nn::{Forward, default_device};

/// Rounds inputs to 8 grey levels before `inner`.
#[derive(Module, Debug)]
struct Quantised<M> {
    inner: M,
}

impl<M: Module + ModuleDisplay, const DI: usize, const DO: usize> Forward<DI, DO> for Quantised<M>
where
    M: Forward<DI, DO>,
{
    fn forward(&self, x: Tensor<DI>) -> Tensor<DO> {
        self.inner.forward((x * 8.0).round() / 8.0)
    }
}

/// The checks that say "the gradients cannot be trusted" (not "use more steps").
const MASKING: [&str; 6] = [
    "zero-gradient",
    "nonfinite-gradient",
    "weaker-than-noise",
    "no-collapse",
    "gradient-free-stronger",
    "margin-stronger",
];

/// Runs the canaries one at a time. burn's random generator is global to the process: the
/// brain-age and registration networks draw their dropout masks from it while training, and
/// a draw from another test's thread between a seeded build and its materialisation changes
/// that model's initial weights (a canary's plain model then sometimes trained dead or weak).
/// In one test at a time every model is the same in every run.
fn serially(f: fn()) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    f();
}

fn ids(w: &[Warning]) -> Vec<&str> {
    w.iter().map(|w| w.check.as_str()).collect()
}

/// The plain model raises no masking warning; the quantised one raises `zero-gradient` and at
/// least one of the attack-based masking checks.
fn assert_canary(task: &str, normal: &[Warning], canary: &[Warning]) {
    let masking: Vec<&Warning> = normal
        .iter()
        .filter(|w| MASKING.contains(&w.check.as_str()))
        .collect();
    assert!(
        masking.is_empty(),
        "{task}: false alarms on the plain model: {masking:#?}"
    );
    let flagged = ids(canary);
    assert!(
        flagged.contains(&"zero-gradient"),
        "{task}: canary not flagged: {canary:#?}"
    );
    assert!(
        flagged
            .iter()
            .any(|c| ["gradient-free-stronger", "weaker-than-noise", "no-collapse"].contains(c)),
        "{task}: no attack-based check flagged the canary: {canary:#?}"
    );
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-canary-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Writes `text` as an experiment file in `dir` and reads it back as `S`.
fn experiment<S: Spec>(dir: &Path, text: &str) -> S {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("exp.toml");
    std::fs::write(&path, text).unwrap();
    S::from_file(&path).unwrap()
}

fn setup(model: &str, spec: AttackSpec, epsilon: f32) -> ProbeSetup<'_> {
    ProbeSetup {
        model,
        attack: "probe",
        spec,
        norm: Norm::Linf,
        epsilon,
        large_epsilon: 0.5,
        random_queries: 200,
        seed: 1,
    }
}

fn segmentation_canary_is_flagged_and_the_unet_is_not_body() {
    let dir = tmp("seg");
    let exp: SegExperiment = experiment(
        &dir,
        r#"
name = "canary-seg"
seed = 4
[data]
source = "brain_mr_phantom"
train = 48
val = 8
test = 8
[data.phantom]
size = 32
[training]
epochs = 8
batch_size = 8
learning_rate = 5e-3
[[models]]
name = "unet"
base_width = 8
depth = 2
[[attacks]]
name = "fgsm"
kind = "fgsm"
[sweep]
epsilons = [0.0]
[checks]
enabled = false
"#,
    );
    let out = dir.join("run");
    run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    let (unet, _) = mira_nn::checkpoint::load(&out.join("models/unet"), &default_device()).unwrap();
    let test = exp.data.phantom.generate(exp.seed, 2_000_000, 8).unwrap();
    let spec = AttackSpec::Ifgsm(IfgsmConfig::default());
    let cfg = (8, 1.0, 0.02, 0.2);
    let normal = probe_segmenter(&unet, &test, &setup("unet", spec.clone(), 0.08), cfg).unwrap();
    let canary = Quantised { inner: unet };
    let flagged = probe_segmenter(&canary, &test, &setup("canary", spec, 0.08), cfg).unwrap();
    assert_canary("segmentation", &normal, &flagged);
    std::fs::remove_dir_all(dir).unwrap();
}

fn registration_canary_is_flagged_and_the_pair_network_is_not_body() {
    let dir = tmp("reg");
    let exp: RegExperiment = experiment(
        &dir,
        r#"
task = "registration"
name = "canary-reg"
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
test_pairs = 8
[training]
steps = 300
batch_size = 8
validate_every = 100
[[models]]
name = "xray"
source = "xray"
width = 4
tolerance = 4.0
[[attacks]]
name = "fgsm"
kind = "fgsm"
[sweep]
epsilons = [0.0]
[checks.probes]
enabled = false
"#,
    );
    let out = dir.join("run");
    run::<Registration>(&exp, &out, &mut |_| {}).unwrap();
    let (net, _) = mira_nn::load_pair_net(&out.join("models/xray"), &default_device()).unwrap();
    let data = reg_data(&exp, &exp.models[0]).unwrap();
    let spec = AttackSpec::Apgd(ApgdConfig {
        steps: 10,
        ..Default::default()
    });
    let unit = (1.0, "mm", 4.0);
    let normal_target =
        RegProbe::new(&net, &data.test, 8, unit, AttackedImage::Moving, 0.4).unwrap();
    let normal = probe(&normal_target, &setup("xray", spec.clone(), 0.1)).unwrap();
    let canary = Quantised { inner: net };
    let canary_target =
        RegProbe::new(&canary, &data.test, 8, unit, AttackedImage::Moving, 0.4).unwrap();
    let flagged = probe(&canary_target, &setup("canary", spec, 0.1)).unwrap();
    assert_canary("registration", &normal, &flagged);
    std::fs::remove_dir_all(dir).unwrap();
}

fn brain_age_canary_is_flagged_and_the_cnn_is_not_body() {
    let dir = tmp("age");
    let exp: AgeExperiment = experiment(
        &dir,
        r#"
task = "brain_age"
name = "canary-age"
seed = 2
[data]
size = 16
train_subjects = 24
val_subjects = 6
test_subjects = 8
universal_fit_subjects = 8
[training]
steps = 600
validate_every = 150
learning_rate = 1e-3
[[models]]
name = "cnn"
kind = "cnn"
width = 4
[[attacks]]
name = "fgsm"
kind = "fgsm"
norm = "linf"
epsilons = [0.01]
[checks.probes]
enabled = false
"#,
    );
    let out = dir.join("run");
    run::<BrainAge>(&exp, &out, &mut |_| {}).unwrap();
    let (net, _) = mira_nn::load_age_net(&out.join("models/cnn"), &default_device()).unwrap();
    let (_, _, test) = age_splits(&exp).unwrap();
    let spec = AttackSpec::Apgd(ApgdConfig {
        steps: 10,
        ..Default::default()
    });
    let normal = probe(
        &AgeProbe::new(&net, &test, 8, 5.0, 0.5).unwrap(),
        &setup("cnn", spec.clone(), 0.05),
    )
    .unwrap();
    let canary = Quantised { inner: net };
    let flagged = probe(
        &AgeProbe::new(&canary, &test, 8, 5.0, 0.5).unwrap(),
        &setup("canary", spec, 0.05),
    )
    .unwrap();
    assert_canary("brain age", &normal, &flagged);
    std::fs::remove_dir_all(dir).unwrap();
}

fn shape_canary_is_flagged_and_the_shape_network_is_not_body() {
    let dir = tmp("shape");
    let exp: ShapeExperiment = experiment(
        &dir,
        r#"
task = "shape"
name = "canary-shape"
seed = 4
[data]
size = 64
train_slices = 64
val_slices = 8
test_slices = 8
[training]
steps = 300
batch_size = 8
validate_every = 100
[[models]]
name = "std"
modes = 10
width = 4
[[attacks]]
name = "fgsm"
kind = "fgsm"
norm = "linf"
epsilons = [0.01]
[checks.probes]
enabled = false
"#,
    );
    let out = dir.join("run");
    run::<Shape>(&exp, &out, &mut |_| {}).unwrap();
    let (net, _) = mira_nn::load_shape_net(&out.join("models/std"), &default_device()).unwrap();
    let test = shape_test_slices(&exp).unwrap();
    let spec = AttackSpec::Apgd(ApgdConfig {
        steps: 10,
        ..Default::default()
    });
    let normal = probe(
        &ShapeProbe::new(&net, &test, 8, 5.0, 0.5).unwrap(),
        &setup("std", spec.clone(), 0.05),
    )
    .unwrap();
    let canary = Quantised { inner: net };
    let flagged = probe(
        &ShapeProbe::new(&canary, &test, 8, 5.0, 0.5).unwrap(),
        &setup("canary", spec, 0.05),
    )
    .unwrap();
    assert_canary("shape", &normal, &flagged);
    std::fs::remove_dir_all(dir).unwrap();
}

fn synthesis_canary_is_flagged_and_the_segmenter_is_not_body() {
    let dir = tmp("synth");
    let exp: mira_eval::SynthExperiment = experiment(
        &dir,
        r#"
task = "synthesis"
name = "canary-synth"
seed = 2
[data]
size = 64
train_slices = 32
val_slices = 4
test_slices = 8
examples = 0
[training]
epochs = 40
batch_size = 8
[[models]]
name = "unet"
base_width = 8
depth = 2
[search]
targets = [0.1]
bisections = 1
[generator]
enabled = false
[checks.probes]
enabled = false
"#,
    );
    let out = dir.join("run");
    run::<mira_eval::Synthesis>(&exp, &out, &mut |_| {}).unwrap();
    let (unet, _) = mira_nn::checkpoint::load(&out.join("models/unet"), &default_device()).unwrap();
    let (_, _, test) = mira_eval::synth_splits(&exp).unwrap();
    let spec = AttackSpec::Apgd(ApgdConfig {
        steps: 10,
        ..Default::default()
    });
    let cfg = (8, 1.0, 0.02, 0.2);
    let normal = probe_segmenter(&unet, &test, &setup("unet", spec.clone(), 0.03), cfg).unwrap();
    let canary = Quantised { inner: unet };
    let flagged = probe_segmenter(&canary, &test, &setup("canary", spec, 0.03), cfg).unwrap();
    assert_canary("synthesis", &normal, &flagged);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn segmentation_canary_is_flagged_and_the_unet_is_not() {
    serially(segmentation_canary_is_flagged_and_the_unet_is_not_body);
}

#[test]
fn registration_canary_is_flagged_and_the_pair_network_is_not() {
    serially(registration_canary_is_flagged_and_the_pair_network_is_not_body);
}

#[test]
fn brain_age_canary_is_flagged_and_the_cnn_is_not() {
    serially(brain_age_canary_is_flagged_and_the_cnn_is_not_body);
}

#[test]
fn shape_canary_is_flagged_and_the_shape_network_is_not() {
    serially(shape_canary_is_flagged_and_the_shape_network_is_not_body);
}

#[test]
fn synthesis_canary_is_flagged_and_the_segmenter_is_not() {
    serially(synthesis_canary_is_flagged_and_the_segmenter_is_not_body);
}
