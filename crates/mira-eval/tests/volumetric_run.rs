//! Volumetric segmentation end to end on tiny settings (the 3D phantom in MNI152, a 3D UNet
//! trained on patches, a sliding window, blended and tile attacks): records with HD95 within
//! budget, the tile cells, the volume tables and three-section pictures, resume, report
//! rebuild; and the volume keys refused where they do not apply.

use std::path::{Path, PathBuf};

use mira_eval::run::Spec;
use mira_eval::{FileRecord, Files, FilesExperiment, SegExperiment, Segmentation, rebuild, run};
use mira_report::{SegRecord, read_jsonl, read_records};
use mira_testkit::shared_data_for_test;

fn tiny(root: &Path, extra: &str) -> String {
    format!(
        r#"
name = "vol-tiny"
seed = 3
roi = [8, 8, 8]
window_attack = "both"
{extra}
[data]
source = "brain_mr_mni_3d"
anatomy_dir = "{}"
train = 2
val = 1
test = 2
[data.phantom]
size = 16
[training]
epochs = 1
batch_size = 2
[patch]
size = [8, 8, 8]
steps_per_epoch = 2
[[models]]
name = "u3"
base_width = 2
depth = 1
[[attacks]]
name = "fgsm"
kind = "fgsm"
[[attacks]]
name = "pgd"
kind = "pgd"
steps = 2
[sweep]
epsilons = [0.0, 0.03]
batch_size = 2
size_bins = [20]
[checks]
sample = 1
random_queries = 4
"#,
        root.join("mni_icbm152_2009a_sym").display()
    )
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-vol-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn volumetric_experiment_runs_blended_and_tiles_with_hd95_shared_data() {
    let Some(root) =
        shared_data_for_test("volumetric_experiment_runs_blended_and_tiles_with_hd95_shared_data")
    else {
        return;
    };
    let exp = SegExperiment::from_toml(&tiny(&root, ""), "t.toml").unwrap();
    let out = tmp("run");
    let first = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    // Two attacks × two window modes × two budgets.
    assert_eq!((first.cells_run, first.cells_skipped), (8, 0));
    let recs: Vec<SegRecord> = read_records(&out.join("records.jsonl")).unwrap();
    assert_eq!(recs.len(), 16);
    let mut attacks: Vec<&str> = recs.iter().map(|r| r.attack.as_str()).collect();
    attacks.dedup();
    assert_eq!(attacks, ["fgsm", "fgsm-tiles", "pgd", "pgd-tiles"]);
    for r in &recs {
        assert!(r.linf <= r.epsilon + 1e-6, "{r:?}");
        let hd = r.hd95.as_ref().expect("volumes carry HD95");
        assert_eq!((hd.clean.len(), hd.adv.len()), (3, 3));
        // Volumes are measured with 3D SSIM (7-tap window), per channel.
        let p = r.perceptibility.as_ref().expect("volumes carry PSNR/SSIM");
        assert_eq!((p.window, p.ssim_channels.len()), (7, 4));
        // Each component of the truth has its HD95 wherever a prediction overlaps it.
        for l in r.lesions.as_ref().expect("size_bins: lesions") {
            assert_eq!(l.hd95_clean.is_some(), l.clean > 0.0, "{l:?}");
            assert_eq!(l.hd95_adv.is_some(), l.adv > 0.0, "{l:?}");
        }
        if r.epsilon == 0.0 {
            assert_eq!(r.adv_dice, r.clean_dice);
            assert_eq!(hd.adv, hd.clean);
            assert_eq!((p.psnr, p.ssim), (None, 1.0));
        } else {
            assert!(p.ssim < 1.0 && p.psnr.is_some());
        }
    }
    assert!(
        recs.iter()
            .any(|r| r.lesions.as_ref().is_some_and(|l| !l.is_empty()))
    );
    // The trained model is a 3D UNet checkpoint that loads back as a volumetric network.
    let ckpt = out.join("models/u3");
    let (_, info) = mira_eval::SegNet::load(&ckpt).unwrap();
    assert!(info.volumetric && info.multiple == 2);
    // ... and is refused, with its reason, on 2D slices.
    let flat = format!(
        "name = \"f\"\n[data]\nsource = \"brain_mr_phantom\"\ntest = 2\n[[models]]\n\
         name = \"m\"\ncheckpoint = \"{}\"\n[[attacks]]\nname = \"a\"\n[sweep]\n\
         epsilons = [0.01]\n",
        ckpt.display()
    );
    let e = SegExperiment::from_toml(&flat, "f.toml")
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(e.contains("a 3D UNet on 2D slices"), "{e}");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("## HD95 per volume"), "{md}");
    assert!(md.contains("## Blended prediction against tiles"), "{md}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("mean HD95 under attack"));
    for name in ["u3__pgd__worst.png", "u3__pgd-tiles__median.png"] {
        let png = image::open(out.join("examples").join(name)).unwrap();
        // Three sections of 16 × 16 voxels, zoomed 3×, with two 2-pixel gaps; five panels.
        assert_eq!((png.width(), png.height()), (5 * 48, 3 * 48 + 4), "{name}");
    }
    // Resume does nothing; the outputs rebuild identically from the files.
    let again = run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    assert_eq!((again.cells_run, again.cells_skipped), (0, 8));
    rebuild::<Segmentation>(&out).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("summary.md")).unwrap(), md);

    // The trained checkpoint attacks NIfTI volumes of the same phantom (`mira phantom-folder
    // --format nifti3d`) through `mira attack --input`'s task: whole volumes, both window
    // modes, HD95 per class, adversarial files written with the source's spacing.
    let folder = out.join("vols");
    let mni = root.join("mni_icbm152_2009a_sym");
    mira_eval::write_volume_phantom_folder(&folder, 2, 16, 4, &mni).unwrap();
    let (vol, info) = mira_io::read_nifti(&folder.join("images/case000_t1.nii.gz")).unwrap();
    assert_eq!(
        (vol.dims.as_slice(), info.orientation.as_str()),
        (&[16, 16, 16][..], "RAS")
    );
    let text = format!(
        "task = \"files\"\nname = \"vf\"\nmodel = \"{}\"\ninput = \"{}\"\nlabels = \"{}\"\n\
         label_values = [0, 1, 2, 4]\nepsilons = [0.03]\nroi = [8, 8, 8]\n\
         window_attack = \"both\"\n[attack]\nname = \"pgd\"\nkind = \"pgd\"\nsteps = 2\n\
         [checks]\nenabled = false\n",
        ckpt.display(),
        folder.join("images").display(),
        folder.join("labels").display()
    );
    let file = out.join("vf.toml");
    std::fs::write(&file, text).unwrap();
    let fx = FilesExperiment::from_file(&file).unwrap();
    let adv = out.join("vf");
    run::<Files>(&fx, &adv, &mut |_| {}).unwrap();
    let frs: Vec<FileRecord> = read_jsonl(&adv.join("records.jsonl")).unwrap();
    assert_eq!(frs.len(), 4, "two volumes, blended and tiles");
    for r in &frs {
        assert_eq!(r.slices, 1, "a volume is one item");
        assert!(r.linf <= 0.03 + 1e-6);
        assert_eq!(r.volumes.as_ref().unwrap().hd95_clean.len(), 3);
        let (w, _) = mira_io::read_nifti(&adv.join(&r.outputs[0])).unwrap();
        let (src, _) = mira_io::read_nifti(Path::new(&r.sources[0])).unwrap();
        assert_eq!((w.spacing, w.affine), (src.spacing, src.affine));
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn volume_keys_are_refused_where_they_do_not_apply_shared_data() {
    let Some(root) =
        shared_data_for_test("volume_keys_are_refused_where_they_do_not_apply_shared_data")
    else {
        return;
    };
    let err = |text: String| {
        SegExperiment::from_toml(&text, "t.toml")
            .and_then(|e| e.validate())
            .unwrap_err()
            .to_string()
    };
    // A window on 2D slices.
    let flat = tiny(&root, "").replace("brain_mr_mni_3d", "brain_mr_mni");
    assert!(err(flat).contains("`roi`"));
    // Windows the UNet cannot halve; an overlap of 1; a defence on a 3D UNet.
    let deep = tiny(&root, "").replace("depth = 1", "depth = 4");
    assert!(err(deep).contains("depth"));
    let o = tiny(&root, "overlap = 1.0");
    assert!(err(o).contains("overlap"));
    let d = tiny(&root, "").replace(
        "depth = 1\n",
        "depth = 1\n[models.defence]\nkind = \"adversarial\"\n",
    );
    assert!(err(d).contains("defence"));
    // A patch larger than the volumes.
    let p = tiny(&root, "").replace("size = [8, 8, 8]", "size = [32, 32, 32]");
    assert!(err(p).contains("patch"));
}

/// Corruptions on whole 3D volumes: the volume's own depth (motion turns about all three axes,
/// blur is 3D), records with HD95 in mm beside Dice, a worst-case entry, and the severity chart.
#[test]
fn volumetric_corruptions_run_on_whole_volumes_shared_data() {
    let Some(root) =
        shared_data_for_test("volumetric_corruptions_run_on_whole_volumes_shared_data")
    else {
        return;
    };
    let text = tiny(&root, "").replace("window_attack = \"both\"\n", "")
        + "[[corruptions]]\nkind = \"motion\"\nseverities = [5]\n\
           [[corruptions]]\nkind = \"blur\"\nseverities = [3]\nworst = true\n";
    let exp = SegExperiment::from_toml(&text, "t.toml").unwrap();
    let out = tmp("corrupt");
    run::<Segmentation>(&exp, &out, &mut |_| {}).unwrap();
    let recs: Vec<SegRecord> = read_records(&out.join("records.jsonl")).unwrap();
    let corrupted: Vec<&SegRecord> = recs.iter().filter(|r| r.goal == "corruption").collect();
    assert_eq!(corrupted.len(), 2 * 2);
    for r in &corrupted {
        assert!(r.linf > 0.0 && r.linf <= 1.0, "{r:?}");
        assert!(r.hd95.is_some(), "a volume's records carry HD95");
        assert!(r.perceptibility.is_some());
    }
    let names: Vec<&str> = corrupted.iter().map(|r| r.attack.as_str()).collect();
    assert_eq!(names, ["motion", "motion", "blur-worst", "blur-worst"]);
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("u3: damage by corruption severity"));
    let _ = std::fs::remove_dir_all(&out);
}
