//! A UNet is trained and evaluated on a user folder (`source = "folder"`), then `FileAttack`
//! writes adversarial NIfTI and PNG files like their sources, checks them end to end, and
//! resumes without duplicating.

use std::path::{Path, PathBuf};

use mira_attack::{AttackSpec, Norm};
use mira_eval::{
    FileAttack, FolderCase, Normalise, PhantomFolderFormat, SegExperiment as Experiment,
    Segmentation, run, scan_cases, write_phantom_folder,
};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-fattack-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

const EXP: &str = r#"
name = "folder"
seed = 3
[data]
source = "folder"
train = 16
val = 4
test = 6
[data.folder]
path = "PATH"
channels = ["t1", "t1c", "t2", "flair"]
label_names = ["background", "core", "oedema", "enhancing"]
label_values = [0, 1, 2, 4]
slices = "all"
split = [0.5, 0.25, 0.25]
[training]
epochs = 1
batch_size = 4
[[models]]
name = "unet"
base_width = 4
depth = 2
[[attacks]]
name = "fgsm"
kind = "fgsm"
[sweep]
epsilons = [0.0, 0.05]
batch_size = 4
"#;

fn names() -> (Vec<String>, Vec<String>) {
    (
        ["t1", "t1c", "t2", "flair"].map(String::from).to_vec(),
        ["background", "core", "oedema", "enhancing"]
            .map(String::from)
            .to_vec(),
    )
}

fn attack<'a>(
    model: &'a mira_nn::UNet,
    spec: &'a AttackSpec,
    eps: &'a [f32],
    names: &'a (Vec<String>, Vec<String>),
    seed: u64,
    normalise: Normalise,
) -> FileAttack<'a> {
    FileAttack {
        model,
        depth: 2,
        attack_name: "fgsm",
        spec,
        norm: Norm::Linf,
        epsilons: eps,
        channels: &names.0,
        label_names: &names.1,
        label_values: vec![0, 1, 2, 4],
        normalise,
        slice_axis: 2,
        batch_size: 4,
        seed,
    }
}

fn cases(dir: &Path, labels: bool) -> Vec<FolderCase> {
    let l = dir.join("labels");
    scan_cases(
        &dir.join("images"),
        labels.then_some(l.as_path()),
        &names().0,
    )
    .unwrap()
}

#[test]
fn train_evaluate_and_attack_files_of_a_folder() {
    let root = tmp("run");
    let data = root.join("data");
    write_phantom_folder(&data, 8, 2, 16, 4, PhantomFolderFormat::Nifti).unwrap();
    let exp_file = root.join("exp.toml");
    std::fs::write(&exp_file, EXP.replace("PATH", "data")).unwrap();
    let exp = <Experiment as mira_eval::run::Spec>::from_file(&exp_file).unwrap();
    let out = root.join("out");
    let outcome = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(outcome.summary.len(), 2);
    // 8 cases: 4 train, 2 val, 2 test of 2 slices each.
    let records = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 2 * 4);
    let refs: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("cases.json")).unwrap()).unwrap();
    assert_eq!(refs.len(), 4);

    // Attack the files with the trained model.
    let ckpt = out.join("models/unet");
    let (model, _) = mira_nn::checkpoint::load(&ckpt, &mira_nn::default_device()).unwrap();
    let weights = ckpt.join(mira_nn::checkpoint::WEIGHTS_FILE);
    let spec = AttackSpec::Fgsm(mira_attack::FgsmConfig);
    let names = names();
    let eps = [0.03f32];
    let all = cases(&data, true);
    let few = &all[..2];
    let fa = attack(&model, &spec, &eps, &names, 1, Normalise::default());
    let adv = root.join("adv");
    let m = fa.run(few, &adv, &weights, &mut |_| {}).unwrap();
    assert_eq!(m.outputs.len(), 2);
    for o in &m.outputs {
        assert_eq!(o.outputs.len(), 4);
        assert_eq!(o.reference, "labels");
        assert!(o.linf <= 0.03 + 1e-6 && o.linf > 0.0, "{}", o.linf);
        // Float NIfTI keeps the perturbation exactly: the written file is as adversarial.
        let (a, w) = (o.adv_dice.unwrap(), o.written_dice.unwrap());
        assert!((a - w).abs() < 0.02, "in memory {a}, written {w}");
        for (c, (src, dst)) in o.sources.iter().zip(&o.outputs).enumerate() {
            let (sv, si) = mira_io::read_nifti(Path::new(src)).unwrap();
            let (dv, di) = mira_io::read_nifti(Path::new(dst)).unwrap();
            assert_eq!((sv.dims.clone(), sv.affine), (dv.dims.clone(), dv.affine));
            assert_eq!(si.orientation, di.orientation);
            let (lo, hi) = o.scales[c];
            let bound = 0.03 * f64::from(hi - lo) * (1.0 + 1e-4);
            assert!(
                o.max_file_change[c] <= bound,
                "{} > {bound}",
                o.max_file_change[c]
            );
            let inside_max = sv
                .data
                .iter()
                .zip(&dv.data)
                .filter(|(s, _)| (lo..=hi).contains(*s))
                .map(|(s, d)| f64::from((s - d).abs()))
                .fold(0.0, f64::max);
            assert!(inside_max <= bound, "measured {inside_max} > {bound}");
            assert!(inside_max > 0.0);
        }
    }
    // Resume: the same call adds nothing; a new budget adds only its entries.
    let again = fa
        .run(few, &adv, &weights, &mut |_| panic!("nothing to redo"))
        .unwrap();
    assert_eq!(again, m);
    let eps2 = [0.03f32, 0.06];
    let more = attack(&model, &spec, &eps2, &names, 1, Normalise::default());
    let m2 = more.run(few, &adv, &weights, &mut |_| {}).unwrap();
    assert_eq!(m2.outputs.len(), 4);
    assert_eq!(m2.outputs[..1], m.outputs[..1]);
    // Other settings in the same folder are refused.
    let other = attack(&model, &spec, &eps, &names, 2, Normalise::default());
    let e = other.run(few, &adv, &weights, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("other settings"), "{e}");

    // PNG sources without labels: written as 16-bit PNG, Dice against the clean prediction.
    let png = root.join("png");
    write_phantom_folder(&png, 2, 1, 16, 5, PhantomFolderFormat::Png).unwrap();
    let pa = attack(&model, &spec, &eps, &names, 1, Normalise::MinMax);
    let pm = pa
        .run(
            &cases(&png, false),
            &root.join("adv_png"),
            &weights,
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(pm.outputs.len(), 2);
    for o in &pm.outputs {
        assert_eq!(
            (o.format.as_str(), o.reference.as_str()),
            ("PNG", "clean prediction")
        );
        assert_eq!(o.clean_dice, Some(1.0));
        let (v, info) = mira_io::read_image_2d(Path::new(&o.outputs[0])).unwrap();
        assert_eq!((v.dims.clone(), info.color.as_str()), (vec![16, 16], "L16"));
        assert!(o.written_dice.is_some());
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_real_ct_dicom_is_attacked_and_written_as_derived_dicom_shared_data() {
    let Some(shared) = mira_testkit::shared_data_for_test(
        "a_real_ct_dicom_is_attacked_and_written_as_derived_dicom_shared_data",
    ) else {
        return;
    };
    let root = tmp("dicom");
    let images = root.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let src = images.join("ct_small.dcm");
    std::fs::copy(shared.join("dicom/ct/CT_small.dcm"), &src).unwrap();
    // A one-channel, two-class UNet (untrained, seeded): the file path is what is tested.
    let cfg = mira_nn::UNetConfig::new()
        .with_in_channels(1)
        .with_classes(2)
        .with_base_width(4)
        .with_depth(2);
    let model = cfg.init_seeded(3, &mira_nn::default_device()).unwrap();
    let ckpt = root.join("ckpt");
    let meta = mira_nn::checkpoint::CheckpointMeta {
        format: mira_nn::checkpoint::FORMAT.into(),
        unet: cfg,
        channel_names: vec!["ct".into()],
        label_names: vec!["background".into(), "body".into()],
        training: serde_json::Value::Null,
    };
    mira_nn::checkpoint::save(&ckpt, &model, &meta).unwrap();
    let names = (meta.channel_names.clone(), meta.label_names.clone());
    let spec = AttackSpec::Fgsm(mira_attack::FgsmConfig);
    let eps = [0.02f32];
    let fa = FileAttack {
        model: &model,
        depth: 2,
        attack_name: "fgsm",
        spec: &spec,
        norm: Norm::Linf,
        epsilons: &eps,
        channels: &names.0,
        label_names: &names.1,
        label_values: vec![0, 1],
        normalise: Normalise::CtWindow {
            center: 40.0,
            width: 400.0,
        },
        slice_axis: 2,
        batch_size: 1,
        seed: 0,
    };
    let cases = scan_cases(&images, None, &names.0).unwrap();
    let m = fa
        .run(
            &cases,
            &root.join("adv"),
            &ckpt.join(mira_nn::checkpoint::WEIGHTS_FILE),
            &mut |_| {},
        )
        .unwrap();
    let o = &m.outputs[0];
    assert_eq!(o.format, "DICOM");
    assert_eq!(o.scales, vec![(-160.0, 240.0)]);
    let (sv, si) = mira_io::read_dicom(&src).unwrap();
    let (dv, di) = mira_io::read_dicom(Path::new(&o.outputs[0])).unwrap();
    assert_eq!((sv.dims.clone(), sv.affine), (dv.dims.clone(), dv.affine));
    assert_eq!(si.pixel_spacing, di.pixel_spacing);
    // Inside the window a voxel moves by at most ε · width = 8 HU, plus half a stored unit.
    let inside = sv
        .data
        .iter()
        .zip(&dv.data)
        .filter(|(s, _)| (-160.0..=240.0).contains(*s))
        .map(|(s, d)| (s - d).abs())
        .fold(0.0f32, f32::max);
    assert!((1.0..=8.0 + 0.5 + 1e-3).contains(&inside), "{inside} HU");
    assert!(o.written_dice.is_some() && o.adv_dice.is_some());
    let _ = std::fs::remove_dir_all(&root);
}
