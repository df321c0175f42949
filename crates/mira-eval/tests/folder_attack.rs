//! A UNet is trained and evaluated on a user folder (`source = "folder"`), then the files task
//! attacks other files with it through the runner: adversarial NIfTI and PNG files written like
//! their sources, checked end to end, records that resume without duplicating, checks and a
//! report page.

use std::path::{Path, PathBuf};

use mira_eval::run::Spec;
use mira_eval::{
    FileRecord, Files, FilesExperiment, PhantomFolderFormat, SegExperiment as Experiment,
    Segmentation, run, write_phantom_folder,
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

/// A files experiment on `input` (with its `labels` when given).
fn files(model: &Path, input: &Path, labels: Option<&Path>, extra: &str) -> FilesExperiment {
    let text = format!(
        "task = \"files\"\nname = \"files\"\nseed = 1\nmodel = \"{}\"\ninput = \"{}\"\n{}\
         label_values = [0, 1, 2, 4]\nepsilons = [0.03]\nbatch_size = 4\n{extra}\n\
         [attack]\nname = \"fgsm\"\nkind = \"fgsm\"\n[checks]\nsample = 2\n",
        model.display(),
        input.display(),
        labels.map_or(String::new(), |l| format!("labels = \"{}\"\n", l.display())),
    );
    let dir = input
        .parent()
        .unwrap()
        .join(format!("files-{}.toml", labels.is_some()));
    std::fs::write(&dir, text).unwrap();
    FilesExperiment::from_file(&dir).unwrap()
}

/// A one-channel (`ct`), two-class UNet checkpoint (untrained, seeded) under `root/ckpt`.
fn ct_checkpoint(root: &Path, seed: u64) -> PathBuf {
    let cfg = mira_nn::UNetConfig::new()
        .with_in_channels(1)
        .with_classes(2)
        .with_base_width(4)
        .with_depth(2);
    let model = cfg.init_seeded(seed, &mira_nn::default_device()).unwrap();
    let ckpt = root.join("ckpt");
    let meta = mira_nn::checkpoint::CheckpointMeta {
        format: mira_nn::checkpoint::FORMAT.into(),
        unet: cfg,
        channel_names: vec!["ct".into()],
        label_names: vec!["background".into(), "body".into()],
        training: serde_json::Value::Null,
    };
    mira_nn::checkpoint::save(&ckpt, &model, &meta).unwrap();
    ckpt
}

fn records(out: &Path) -> Vec<FileRecord> {
    std::fs::read_to_string(out.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn train_evaluate_and_attack_files_of_a_folder() {
    let root = tmp("run");
    let data = root.join("data");
    write_phantom_folder(&data, 8, 2, 16, 4, PhantomFolderFormat::Nifti).unwrap();
    let exp_file = root.join("exp.toml");
    std::fs::write(&exp_file, EXP.replace("PATH", "data")).unwrap();
    let exp = <Experiment as Spec>::from_file(&exp_file).unwrap();
    let out = root.join("out");
    let outcome = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!(outcome.summary.len(), 2);
    // 8 cases: 4 train, 2 val, 2 test of 2 slices each.
    let records_text = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert_eq!(records_text.lines().count(), 2 * 4);
    let refs: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("cases.json")).unwrap()).unwrap();
    assert_eq!(refs.len(), 4);

    // Attack two other cases with the trained model, through the runner.
    let ckpt = out.join("models/unet");
    let other = root.join("other");
    write_phantom_folder(&other, 2, 2, 16, 9, PhantomFolderFormat::Nifti).unwrap();
    let fx = files(
        &ckpt,
        &other.join("images"),
        Some(&other.join("labels")),
        "",
    );
    let adv = root.join("adv");
    let o = run::<Files>(&fx, &adv, &mut |_| {}).unwrap();
    let recs = records(&adv);
    assert_eq!(recs.len(), 2);
    assert_eq!(o.summary.rows.len(), 1);
    for r in &recs {
        assert_eq!(r.outputs.len(), 4);
        assert_eq!(r.reference, "labels");
        assert!(r.linf <= 0.03 + 1e-6 && r.linf > 0.0, "{}", r.linf);
        // Float NIfTI keeps the perturbation exactly: the written file is as adversarial.
        let (a, w) = (r.adv_dice.unwrap(), r.written_dice.unwrap());
        assert!((a - w).abs() < 0.02, "in memory {a}, written {w}");
        for (c, (src, dst)) in r.sources.iter().zip(&r.outputs).enumerate() {
            let (sv, si) = mira_io::read_nifti(Path::new(src)).unwrap();
            let (dv, di) = mira_io::read_nifti(&adv.join(dst)).unwrap();
            assert_eq!((sv.dims.clone(), sv.affine), (dv.dims.clone(), dv.affine));
            assert_eq!(si.orientation, di.orientation);
            let (lo, hi) = r.scales[c];
            let bound = 0.03 * f64::from(hi - lo) * (1.0 + 1e-4);
            assert!(
                r.max_file_change[c] <= bound,
                "{} > {bound}",
                r.max_file_change[c]
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
    // The run folder has what every task's has.
    for f in [
        "manifest.json",
        "summary.md",
        "summary.json",
        "warnings.json",
        "report.html",
    ] {
        assert!(adv.join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(adv.join("summary.md")).unwrap();
    assert!(md.contains("Dice written") && md.contains("Sanity"), "{md}");
    // Resume: the same experiment adds nothing; another one in the same folder is refused.
    let again = run::<Files>(&fx, &adv, &mut |_| {}).unwrap();
    assert_eq!((again.cells_run, again.cells_skipped), (0, 1));
    assert_eq!(records(&adv), recs);
    let mut other_seed = fx.clone();
    other_seed.seed = 2;
    let e = run::<Files>(&other_seed, &adv, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("different experiment"), "{e}");

    // PNG sources without labels: written as 16-bit PNG, Dice against the clean prediction.
    let png = root.join("png");
    write_phantom_folder(&png, 2, 1, 16, 5, PhantomFolderFormat::Png).unwrap();
    let px = files(
        &ckpt,
        &png.join("images"),
        None,
        "normalise = { kind = \"min_max\" }\n",
    );
    let adv_png = root.join("adv_png");
    run::<Files>(&px, &adv_png, &mut |_| {}).unwrap();
    let recs = records(&adv_png);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(
            (r.format.as_str(), r.reference.as_str()),
            ("PNG", "clean prediction")
        );
        assert_eq!(r.clean_dice, Some(1.0));
        let (v, info) = mira_io::read_image_2d(&adv_png.join(&r.outputs[0])).unwrap();
        assert_eq!((v.dims.clone(), info.color.as_str()), (vec![16, 16], "L16"));
        assert!(r.written_dice.is_some());
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
    let ckpt = ct_checkpoint(&root, 3);
    let text = format!(
        "task = \"files\"\nname = \"ct\"\nmodel = \"{}\"\ninput = \"{}\"\nepsilons = [0.02]\n\
         normalise = {{ kind = \"ct_window\", center = 40.0, width = 400.0 }}\n\
         [attack]\nname = \"fgsm\"\nkind = \"fgsm\"\n[checks]\nenabled = false\n",
        ckpt.display(),
        images.display()
    );
    let file = root.join("ct.toml");
    std::fs::write(&file, text).unwrap();
    let exp = FilesExperiment::from_file(&file).unwrap();
    let out = root.join("adv");
    run::<Files>(&exp, &out, &mut |_| {}).unwrap();
    let o = &records(&out)[0];
    assert_eq!(o.format, "DICOM");
    assert_eq!(o.scales, vec![(-160.0, 240.0)]);
    let (sv, si) = mira_io::read_dicom(&src).unwrap();
    let (dv, di) = mira_io::read_dicom(&out.join(&o.outputs[0])).unwrap();
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

/// A CT volume in HU under `root/images/ct.nii.gz`: air outside a body disc of soft tissue
/// (40 HU) with a bright bone ring and a darker lesion, values inside and outside a 40 ± 200
/// window. The volume and the images folder.
fn ct_volume(root: &Path) -> (mira_io::Volume, PathBuf) {
    let images = root.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let (nx, ny, nz) = (24usize, 24usize, 3usize);
    let data: Vec<f32> = (0..nx * ny * nz)
        .map(|i| {
            let (x, y) = ((i % nx) as f32 - 11.5, ((i / nx) % ny) as f32 - 11.5);
            let r = (x * x + y * y).sqrt();
            match r {
                r if r > 10.0 => -1000.0,
                r if r > 8.5 => 700.0,
                r if r < 3.0 => -20.0 + 3.0 * x,
                _ => 40.0 + 5.0 * y,
            }
        })
        .collect();
    let vol = mira_io::Volume {
        dims: vec![nx, ny, nz],
        spacing: vec![0.8, 0.8, 3.0],
        affine: [
            [0.8, 0.0, 0.0, 0.0],
            [0.0, 0.8, 0.0, 0.0],
            [0.0, 0.0, 3.0, 0.0],
        ],
        data,
    };
    mira_io::write_nifti(&images.join("ct.nii.gz"), &vol).unwrap();
    (vol, images)
}

/// A CT volume in HU attacked with budgets in HU (`epsilons_hu`, a 40 ± 200 HU window): each
/// budget is recorded in HU and model units (HU / 400), the manifest states the conversion, and
/// the written file differs from its source by at most the budget in HU inside the window
/// (stored as float, so without rounding), while PGD uses most of it.
#[test]
fn ct_budgets_in_hu_bound_the_written_change_inside_the_window() {
    let root = tmp("ct-hu");
    let (vol, images) = ct_volume(&root);
    let ckpt = ct_checkpoint(&root, 5);
    let text = format!(
        "task = \"files\"\nname = \"ct\"\nmodel = \"{}\"\ninput = \"{}\"\n\
         epsilons_hu = [5.0, 20.0]\n\
         normalise = {{ kind = \"ct_window\", center = 40.0, width = 400.0 }}\n\
         [attack]\nname = \"pgd\"\nkind = \"pgd\"\nsteps = 5\n[checks]\nenabled = false\n",
        ckpt.display(),
        images.display()
    );
    let file = root.join("ct.toml");
    std::fs::write(&file, text).unwrap();
    let exp = FilesExperiment::from_file(&file).unwrap();
    let out = root.join("adv");
    run::<Files>(&exp, &out, &mut |_| {}).unwrap();
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("ε (model) = ε (HU) / 400"), "{manifest}");
    for (r, hu) in recs.iter().zip([5.0f32, 20.0]) {
        assert!(
            (r.epsilon - f64::from(hu) / 400.0).abs() < 1e-9,
            "{}",
            r.epsilon
        );
        assert_eq!(r.epsilon_physical, Some(f64::from(hu)));
        assert_eq!(r.epsilon_unit.as_deref(), Some("HU"));
        let (written, _) = mira_io::read_nifti(&out.join(&r.outputs[0])).unwrap();
        let inside = vol
            .data
            .iter()
            .zip(&written.data)
            .filter(|(s, _)| (-160.0..=240.0).contains(*s))
            .map(|(s, d)| (s - d).abs())
            .fold(0.0f32, f32::max);
        assert!(
            inside <= hu * (1.0 + 1e-4) && inside >= 0.5 * hu,
            "ε {hu} HU: largest change inside the window {inside} HU"
        );
        let p = r.perceptibility.as_ref().expect("measured");
        assert!(p.ssim < 1.0 && p.psnr.is_some());
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// Files corruptions act in file units before the window and are written back: a window
/// shift moves every voxel by its HU, air and bone outside the window too; CT noise has its
/// stated σ in HU everywhere, two draws per case differ; the attacks' summary rows stay
/// theirs and the corruptions get their own table.
#[test]
fn files_corruptions_act_in_file_units_before_the_window() {
    let root = tmp("ct-corrupt");
    let (vol, images) = ct_volume(&root);
    let ckpt = ct_checkpoint(&root, 5);
    let text = format!(
        "task = \"files\"\nname = \"ctc\"\nmodel = \"{}\"\ninput = \"{}\"\n\
         epsilons_hu = [5.0, 20.0]\n\
         normalise = {{ kind = \"ct_window\", center = 40.0, width = 400.0 }}\n\
         [attack]\nname = \"pgd\"\nkind = \"pgd\"\nsteps = 2\n[checks]\nenabled = false\n\
         [[corruptions]]\nkind = \"window_shift\"\nseverities = [3]\n\
         [[corruptions]]\nkind = \"ct_noise\"\nseverities = [2]\ndraws = 2\n\
         [[corruptions]]\nkind = \"motion\"\nseverities = [1]\n",
        ckpt.display(),
        images.display()
    );
    let file = root.join("ctc.toml");
    std::fs::write(&file, text).unwrap();
    let exp = FilesExperiment::from_file(&file).unwrap();
    let out = root.join("out");
    run::<Files>(&exp, &out, &mut |_| {}).unwrap();
    let recs = records(&out);
    assert_eq!(recs.len(), 2 + 1 + 2 + 1);
    let written = |r: &FileRecord| {
        mira_io::read_nifti(&out.join(&r.outputs[0]))
            .unwrap()
            .0
            .data
    };
    let shift = recs.iter().find(|r| r.attack == "window_shift").unwrap();
    assert_eq!(shift.corruption.as_deref(), Some("window_shift"));
    assert_eq!(shift.outputs[0], "corrupt_window_shift_s3/ct.nii.gz");
    let moved: Vec<f32> = written(shift)
        .iter()
        .zip(&vol.data)
        .map(|(w, s)| w - s)
        .collect();
    // 40 HU (severity 3) one way, on every voxel: air at −1000 HU and bone at 700 included.
    assert!((moved[0].abs() - 40.0).abs() < 1e-2, "{}", moved[0]);
    assert!(moved.iter().all(|d| (d - moved[0]).abs() < 1e-2));
    let noise: Vec<&FileRecord> = recs.iter().filter(|r| r.attack == "ct_noise").collect();
    assert_eq!(noise.len(), 2);
    assert_eq!(noise[1].outputs[0], "corrupt_ct_noise_s2_d2/ct.nii.gz");
    let deltas: Vec<Vec<f64>> = noise
        .iter()
        .map(|r| {
            let w = written(r);
            w.iter()
                .zip(&vol.data)
                .filter(|(_, s)| **s == -1000.0)
                .map(|(w, s)| f64::from(w - s))
                .collect()
        })
        .collect();
    for (d, r) in deltas.iter().zip(&noise) {
        // σ 10 HU (severity 2) in the air, outside the window, where noise after the window
        // would have been clipped away.
        let n = d.len() as f64;
        let m = d.iter().sum::<f64>() / n;
        let sd = (d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
        assert!(
            (sd - 10.0).abs() < 1.0 && m.abs() < 1.0,
            "σ {sd} HU, mean {m}"
        );
        assert_eq!(r.scales, vec![(-160.0, 240.0)]);
    }
    assert_ne!(deltas[0], deltas[1]);
    assert_eq!(
        (noise[0].draw, noise[1].draw, shift.draw),
        (Some(1), Some(2), None)
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("## Natural corruptions"), "{summary}");
    assert!(summary.contains("| ct_noise | 2 | 1×2 |"), "{summary}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(rows.len(), 2);
    let _ = std::fs::remove_dir_all(&root);
}
