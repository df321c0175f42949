//! `mira predict --model MODEL.onnx`: the logits it writes equal ONNX Runtime's on the same
//! input, for a 3D model fed whole volumes and a 2D model fed slices (MONAI UNet fixtures of
//! mira-onnx, whose stored inputs are written here as NIfTI files; `--normalise none`
//! passes them through unchanged). A file whose shape does not fit the model exits 2.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mira-onnx/tests/fixtures")
}

fn f32s(name: &str) -> Vec<f32> {
    let b = std::fs::read(fixtures().join(name)).unwrap();
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn volume(dims: Vec<usize>, data: Vec<f32>) -> mira_io::Volume {
    let n = dims.len();
    mira_io::Volume {
        dims,
        spacing: vec![1.0; n],
        affine: [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ],
        data,
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-predict-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("in")).unwrap();
    d
}

fn predict(model: &str, dir: &Path, channels: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(["predict", "--model"])
        .arg(fixtures().join(model))
        .arg("--input")
        .arg(dir.join("in"))
        .args(["--channels", channels, "--normalise", "none", "--out"])
        .arg(dir.join("out"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// `mira CMD --model MODEL --input IN ARGS... --out OUT`: exit code, stdout + stderr.
fn mira(cmd: &str, model: &str, input: &Path, args: &[&str], out: &Path) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args([cmd, "--model"])
        .arg(fixtures().join(model))
        .arg("--input")
        .arg(input)
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    (o.status.code().unwrap_or(-1), text)
}

fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let range = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
        / range
}

#[test]
fn predict_writes_the_logits_onnx_runtime_gives_for_volumes_and_slices() {
    // 3D: sample 0 of monai_unet3d's input [2, 1, 16, 16, 16]; C order [z, y, x] is NIfTI's
    // x-fastest order with dims [16, 16, 16].
    let d = tmp("3d");
    let n = 16 * 16 * 16;
    let x = f32s("monai_unet3d.input.f32");
    mira_io::write_nifti(
        &d.join("in/case.nii.gz"),
        &volume(vec![16, 16, 16], x[..n].to_vec()),
    )
    .unwrap();
    let (code, text) = predict("monai_unet3d.onnx", &d, "image");
    assert_eq!(code, 0, "{text}");
    let (logits, _) = mira_io::read_medical(&d.join("out/case_logits.nii.gz")).unwrap();
    assert_eq!(logits.dims, [16, 16, 16, 2]);
    let ort = f32s("monai_unet3d.ort.f32");
    let e = max_rel(&logits.data, &ort[..2 * n]);
    assert!(e < 1e-4, "3D logits differ from ONNX Runtime by {e:.1e}");
    let (labels, _) = mira_io::read_medical(&d.join("out/case_labels.nii.gz")).unwrap();
    for i in 0..n {
        let want = if ort[n + i] > ort[i] { 1.0 } else { 0.0 };
        if (ort[n + i] - ort[i]).abs() > 1e-4 {
            assert_eq!(labels.data[i], want, "voxel {i}");
        }
    }

    // 2D: sample 0 of monai_unet2d's input [2, 4, 32, 32], one file per channel.
    let d = tmp("2d");
    let m = 32 * 32;
    let x = f32s("monai_unet2d.input.f32");
    for (c, ch) in ["a", "b", "c", "d"].iter().enumerate() {
        let v = volume(vec![32, 32], x[c * m..(c + 1) * m].to_vec());
        mira_io::write_nifti(&d.join(format!("in/case_{ch}.nii.gz")), &v).unwrap();
    }
    let (code, text) = predict("monai_unet2d.onnx", &d, "a,b,c,d");
    assert_eq!(code, 0, "{text}");
    let (logits, _) = mira_io::read_medical(&d.join("out/case_logits.nii.gz")).unwrap();
    assert_eq!(logits.dims, [32, 32, 1, 3]);
    let e = max_rel(&logits.data, &f32s("monai_unet2d.ort.f32")[..3 * m]);
    assert!(e < 1e-4, "2D logits differ from ONNX Runtime by {e:.1e}");

    // A volume of another size than the model's fixed spatial input: exit 2, named.
    let d = tmp("bad");
    mira_io::write_nifti(
        &d.join("in/case.nii.gz"),
        &volume(vec![8, 8, 8], vec![0.5; 512]),
    )
    .unwrap();
    let (code, text) = predict("monai_unet3d.onnx", &d, "image");
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("expects [?, 1, 16, 16, 16]") && !text.contains("panicked"),
        "{text}"
    );
}

/// `mira attack --model MODEL.onnx --input DIR`: the files task with an ONNX model writes the
/// run folder (records within budget, attacked Dice below clean, the written files, the
/// report); on phantom slices a model whose classes are not the phantom's exits 2.
#[test]
fn attack_runs_an_onnx_model_on_files() {
    let d = tmp("attack");
    let m = 32 * 32;
    let x = f32s("monai_unet2d.input.f32");
    for case in 0..2 {
        for (c, ch) in ["a", "b", "c", "d"].iter().enumerate() {
            let at = (case * 4 + c) * m;
            let v = volume(vec![32, 32], x[at..at + m].to_vec());
            mira_io::write_nifti(&d.join(format!("in/case{case}_{ch}.nii.gz")), &v).unwrap();
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(["attack", "--model"])
        .arg(fixtures().join("monai_unet2d.onnx"))
        .arg("--input")
        .arg(d.join("in"))
        .args([
            "--channels",
            "a,b,c,d",
            "--normalise",
            "none",
            "--attack",
            "ifgsm",
        ])
        .args(["--steps", "3", "--eps", "0.02,0.1", "--out"])
        .arg(d.join("out"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let records = std::fs::read_to_string(d.join("out/records.jsonl")).unwrap();
    let recs: Vec<serde_json::Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 4, "{records}");
    for r in &recs {
        let eps = r["epsilon"].as_f64().unwrap();
        assert!(r.get("hd95_clean").is_none(), "2D models have no HD95: {r}");
        assert!(
            r["linf"].as_f64().unwrap() <= eps * (1.0 + 1e-5) + 1e-6,
            "{r}"
        );
        assert!(
            r["adv_dice"].as_f64().unwrap() < r["clean_dice"].as_f64().unwrap(),
            "{r}"
        );
    }
    assert!(d.join("out/eps_0.1/case0_a.nii.gz").is_file());
    assert!(d.join("out/report.html").is_file());

    // Corruptions beside the attack: written per family, severity and draw.
    let out = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(["attack", "--model"])
        .arg(fixtures().join("monai_unet2d.onnx"))
        .arg("--input")
        .arg(d.join("in"))
        .args(["--channels", "a,b,c,d", "--normalise", "none"])
        .args([
            "--attack",
            "fgsm",
            "--eps",
            "0.02",
            "--corrupt",
            "blur,noise",
        ])
        .args(["--severities", "2,5", "--draws", "2", "--out"])
        .arg(d.join("corrupt"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let records = std::fs::read_to_string(d.join("corrupt/records.jsonl")).unwrap();
    let recs: Vec<serde_json::Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 2 + 2 * 2 * 2 * 2, "{records}");
    let noisy: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r["corruption"] == "noise" && r["epsilon"] == 5.0)
        .collect();
    assert_eq!(noisy.len(), 4);
    for r in noisy {
        // σ 0.08 noise, clipped to the files' [0, 1]: visible, yet within the range.
        let change = r["max_file_change"][0].as_f64().unwrap();
        assert!(change > 0.1 && change <= 1.0, "{r}");
    }
    assert!(
        d.join("corrupt/corrupt_noise_s5_d2/case1_d.nii.gz")
            .is_file()
    );
    let summary = std::fs::read_to_string(d.join("corrupt/summary.md")).unwrap();
    assert!(summary.contains("| noise | 5 | 2×2 |"), "{summary}");

    let out = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(["attack", "--model"])
        .arg(fixtures().join("monai_unet2d.onnx"))
        .arg("--out")
        .arg(d.join("phantom"))
        .output()
        .unwrap();
    // On phantom slices (4 channels, 4 classes) a 3-class model is refused, naming why.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("models[0].onnx") && err.contains("3 classes"),
        "{err}"
    );
}

/// `--axes xyz` gives a 3D model `[x, y, z]` (z fastest): a file holding the fixture's sample
/// transposed gives ONNX Runtime's logits, transposed back into the file's order.
#[test]
fn predict_with_xyz_axes_transposes_in_and_out() {
    let d = tmp("xyz");
    let n = 16 * 16 * 16;
    let x = f32s("monai_unet3d.input.f32");
    let file_of = |sample: &[f32]| -> Vec<f32> {
        let mut v = vec![0.0; n];
        for (i, slot) in v.iter_mut().enumerate() {
            let (px, py, pz) = (i % 16, i / 16 % 16, i / 256);
            *slot = sample[(px * 16 + py) * 16 + pz];
        }
        v
    };
    let v = volume(vec![16, 16, 16], file_of(&x[..n]));
    mira_io::write_nifti(&d.join("in/case.nii.gz"), &v).unwrap();
    let args = ["--normalise", "none", "--axes", "xyz"];
    let (code, text) = mira(
        "predict",
        "monai_unet3d.onnx",
        &d.join("in"),
        &args,
        &d.join("out"),
    );
    assert_eq!(code, 0, "{text}");
    let (logits, _) = mira_io::read_medical(&d.join("out/case_logits.nii.gz")).unwrap();
    let ort = f32s("monai_unet3d.ort.f32");
    let want: Vec<f32> = (0..2)
        .flat_map(|k| file_of(&ort[k * n..(k + 1) * n]))
        .collect();
    let e = max_rel(&logits.data, &want);
    assert!(e < 1e-4, "xyz logits differ from ONNX Runtime by {e:.1e}");
}

/// A 3D model attacks whole volumes: one item per case, budgets kept on the host, the attack
/// lowers Dice, and the written NIfTI volumes carry it (`written_dice` below clean).
#[test]
fn attack_runs_a_3d_onnx_model_on_whole_volumes() {
    let d = tmp("attack3d");
    let n = 16 * 16 * 16;
    let x = f32s("monai_unet3d.input.f32");
    for case in 0..2 {
        let v = volume(vec![16, 16, 16], x[case * n..(case + 1) * n].to_vec());
        mira_io::write_nifti(&d.join(format!("in/vol{case}.nii.gz")), &v).unwrap();
    }
    let args = [
        "--normalise",
        "none",
        "--attack",
        "pgd",
        "--steps",
        "5",
        "--eps",
        "0.05,0.2",
    ];
    let (code, text) = mira(
        "attack",
        "monai_unet3d.onnx",
        &d.join("in"),
        &args,
        &d.join("out"),
    );
    assert_eq!(code, 0, "{text}");
    let recs = records(&d.join("out/records.jsonl"));
    assert_eq!(recs.len(), 4);
    for r in &recs {
        let eps = r["epsilon"].as_f64().unwrap();
        assert_eq!(r["slices"], 1, "{r}");
        assert!(
            r["linf"].as_f64().unwrap() <= eps * (1.0 + 1e-5) + 1e-6,
            "{r}"
        );
        let (clean, adv) = (
            r["clean_dice"].as_f64().unwrap(),
            r["adv_dice"].as_f64().unwrap(),
        );
        assert!(adv < clean, "{r}");
        assert!(r["written_dice"].as_f64().unwrap() < clean, "{r}");
        // HD95 per foreground class (mm): 0 for the clean prediction against itself, larger
        // for the written volume's prediction.
        assert_eq!(r["hd95_clean"], serde_json::json!([0.0]), "{r}");
        assert!(r["hd95_written"][0].as_f64().unwrap() > 0.0, "{r}");
        // label volumes in ml (1 mm voxels): the clean prediction is the reference here
        assert_eq!(r["ml_clean"], r["ml_reference"], "{r}");
        let ml = r["ml_clean"][0].as_f64().unwrap();
        assert!(
            ml > 0.0 && ml <= 4.096 && ml * 1000.0 == (ml * 1000.0).round(),
            "{r}"
        );
    }
    let (v, _) = mira_io::read_medical(&d.join("out/eps_0.2/vol1.nii.gz")).unwrap();
    assert_eq!(v.dims, [16, 16, 16]);
    let changed = v
        .data
        .iter()
        .zip(&x[n..2 * n])
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > n / 2, "only {changed} voxels changed");
    assert!(d.join("out/report.html").is_file());
}

fn sliding_case(d: &Path) {
    // The sliding fixture's volume [1, 1, 12, 30, 40] (z, y, x): a NIfTI of dims 40 × 30 × 12.
    let x = f32s("sliding.input.f32");
    mira_io::write_nifti(&d.join("in/vol.nii.gz"), &volume(vec![40, 30, 12], x)).unwrap();
}

/// `--roi`: a volume larger than the model's 16³ input (and shallower along z) predicted
/// through sliding windows equals MONAI's `sliding_window_inference` (Gaussian, overlap 0.5).
#[test]
fn predict_with_a_sliding_window_equals_monai() {
    let d = tmp("sliding");
    sliding_case(&d);
    let (model, input) = ("monai_unet3d.onnx", d.join("in"));
    let args = ["--normalise", "none", "--roi", "16,16,16"];
    let (code, text) = mira("predict", model, &input, &args, &d.join("out"));
    assert_eq!(code, 0, "{text}");
    let (logits, _) = mira_io::read_medical(&d.join("out/vol_logits.nii.gz")).unwrap();
    assert_eq!(logits.dims, [40, 30, 12, 2]);
    let e = max_rel(&logits.data, &f32s("sliding.gaussian.f32"));
    assert!(
        e < 1e-5,
        "sliding-window logits differ from MONAI by {e:.1e}"
    );
    // Without the window the model refuses the volume, naming the shapes.
    let (code, text) = mira(
        "predict",
        model,
        &input,
        &["--normalise", "none"],
        &d.join("o2"),
    );
    assert_eq!(code, 2, "{text}");
}

/// `mira attack --roi`: the blended attack (two-pass gradient through every window) and the
/// tile attack (each tile alone), both evaluated with the blended prediction: budgets hold and
/// both lower Dice against the clean prediction; `both` runs the two in one run with the same
/// records; a tile attack without a window and a window the model refuses exit 2.
#[test]
fn attack_through_sliding_windows_blended_and_tiles() {
    let d = tmp("sliding-attack");
    sliding_case(&d);
    let (model, input) = ("monai_unet3d.onnx", d.join("in"));
    let run = |mode: &str, extra: &[&str], out: &str| {
        let mut args = vec![
            "--normalise",
            "none",
            "--window-attack",
            mode,
            "--attack",
            "pgd",
        ];
        args.extend(["--steps", "4", "--eps", "0.1"]);
        args.extend(extra);
        mira("attack", model, &input, &args, &d.join(out))
    };
    for mode in ["blended", "tiles"] {
        let (code, text) = run(mode, &["--roi", "16,16,16"], mode);
        assert_eq!(code, 0, "{mode}: {text}");
        let r = &records(&d.join(mode).join("records.jsonl"))[0];
        assert!(r["linf"].as_f64().unwrap() <= 0.1 + 1e-6, "{r}");
        let (clean, adv) = (
            r["clean_dice"].as_f64().unwrap(),
            r["adv_dice"].as_f64().unwrap(),
        );
        assert!(adv < clean, "{mode}: {r}");
    }
    let (code, text) = run("both", &["--roi", "16,16,16"], "both");
    assert_eq!(code, 0, "{text}");
    let recs = records(&d.join("both/records.jsonl"));
    let names: Vec<&str> = recs.iter().map(|r| r["attack"].as_str().unwrap()).collect();
    assert_eq!(names, ["pgd", "pgd-tiles"]);
    for (r, alone) in recs.iter().zip(["blended", "tiles"]) {
        let a = &records(&d.join(alone).join("records.jsonl"))[0];
        assert_eq!(r["adv_dice"], a["adv_dice"], "{alone}");
    }
    assert!(d.join("both/tiles_eps_0.1/vol.nii.gz").is_file());
    // one chart, a line for each attack; HD95 in the table and its own chart
    let html = std::fs::read_to_string(d.join("both/report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("pgd-tiles"),
        "no chart"
    );
    assert!(html.contains("HD95 written (mm)") && html.contains("HD95 of the written volumes"));
    assert!(
        html.contains("the published protocol"),
        "no blended-vs-tiles finding"
    );
    assert!(d.join("both/eps_0.1/vol.nii.gz").is_file());
    // tiles without a window: refused, naming the key
    let (code, text) = run("tiles", &[], "bad-tiles");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("window_attack"), "{text}");
    // a window the model does not take: exit 2 naming `roi` and the shapes
    let (code, text) = run("blended", &["--roi", "8,8,8"], "bad-roi");
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("`roi`") && text.contains("[1, 1, 8, 8, 8]"),
        "{text}"
    );
}
