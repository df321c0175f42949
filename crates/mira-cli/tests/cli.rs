//! The binary: bad input exits 2 with a one-line error naming the field, never a panic; `mira info
//! MODEL.onnx` lists a model and names the operators Mira does not run.

use std::path::Path;
use std::process::Command;

fn mira(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn write_experiment(name: &str, body: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("mira-cli-{name}-{}.toml", std::process::id()));
    std::fs::write(&p, body).unwrap();
    p
}

const BASE: &str = "name = \"t\"\n[data]\nsource = \"brain_mr_phantom\"\ntest = 2\n[[models]]\nname = \"m\"\n[[attacks]]\nname = \"a\"\nkind = \"fgsm\"\n[sweep]\nepsilons = [0.01]\n";

#[test]
fn invalid_experiments_exit_2_with_the_field_named() {
    let cases = [
        (
            "unknown-attack",
            BASE.replace("kind = \"fgsm\"", "kind = \"carlini\""),
            "attacks[0].kind",
        ),
        (
            "negative-eps",
            BASE.replace("[0.01]", "[-0.01]"),
            "sweep.epsilons[0]",
        ),
        (
            "missing-ckpt",
            BASE.replace("name = \"m\"", "name = \"m\"\ncheckpoint = \"no/such/dir\""),
            "models[0].checkpoint",
        ),
    ];
    for (name, body, field) in cases {
        let path = write_experiment(name, &body);
        let (code, _, err) = mira(&[
            "run",
            path.to_str().unwrap(),
            "--out",
            "/tmp/mira-cli-never",
        ]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(field),
            "{name}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
        assert!(!err.contains("panicked"));
    }
    let (code, _, err) = mira(&["run", "/no/such/file.toml"]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = mira(&["attack", "--checkpoint", "/no/such", "--attack", "deepfool"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--attack deepfool"), "{err}");
}

#[test]
fn help_lists_the_commands() {
    let (code, out, _) = mira(&["--help"]);
    assert_eq!(code, 0);
    for c in ["demo", "run", "train", "attack"] {
        assert!(out.contains(c), "{out}");
    }
}

#[test]
fn info_reads_nifti_and_refuses_bad_files() {
    let bad = std::env::temp_dir().join(format!("mira-cli-bad-{}.nii", std::process::id()));
    std::fs::write(&bad, b"not a nifti file").unwrap();
    let (code, _, err) = mira(&["info", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a NIfTI-1 file"), "{err}");
    std::fs::remove_file(&bad).unwrap();
}

#[test]
fn info_describes_a_3d_unet_checkpoint_and_refuses_a_broken_one() {
    let dir = std::env::temp_dir().join(format!("mira-cli-u3-{}", std::process::id()));
    let cfg = mira_nn::UNet3dConfig::new(2, 3, 2, 2);
    let model = cfg.init_seeded(1, &mira_nn::default_device()).unwrap();
    let meta = mira_nn::UNet3dMeta {
        format: mira_nn::UNET3D_FORMAT.into(),
        unet: cfg,
        channel_names: vec!["ct".into(), "pet".into()],
        label_names: vec!["bg".into(), "liver".into(), "lesion".into()],
        training: serde_json::Value::Null,
    };
    mira_nn::save_unet3d(&dir, &model, &meta).unwrap();
    let (code, out, err) = mira(&["info", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("format       mira-unet3d/1"), "{out}");
    assert!(out.contains("3D segmentation"), "{out}");
    assert!(out.contains("inputs       2 channel(s): ct, pet"), "{out}");
    assert!(out.contains("sides        multiples of 4"), "{out}");
    std::fs::write(dir.join("weights.bpk"), b"truncated").unwrap();
    let (code, _, err) = mira(&["info", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("weights.bpk") && !err.contains("panicked"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn info_prints_geometry_shared_data() {
    let Some(root) = mira_testkit::shared_data_for_test("info_prints_geometry_shared_data") else {
        return;
    };
    let f = root.join("nifti_small/functional.nii");
    let (code, out, err) = mira(&["info", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // nibabel 5.3: shape (17, 21, 3, 20), zooms (4, 4, 8, 2), aff2axcodes LAS,
    // get_fdata() min 629.826171875, max 5571.6220703125.
    assert!(out.contains("dims         17 x 21 x 3 x 20"), "{out}");
    assert!(out.contains("spacing      4 x 4 x 8 x 2"), "{out}");
    assert!(out.contains("orientation  LAS"), "{out}");
    assert!(out.contains("range        629.8262 .. 5571.622"), "{out}");
    // pydicom 3.0: apply_rescale(CT_small) spans -896..1167 HU.
    let ct = root.join("dicom/ct/CT_small.dcm");
    let (code, out, err) = mira(&["info", ct.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("range        -896 .. 1167 (after rescale)"),
        "{out}"
    );
    assert!(out.contains("Explicit VR Little Endian"), "{out}");
    let ls = root.join("dicom/codec_variants/MR_small_jpeg_ls_lossless.dcm");
    let (code, _, err) = mira(&["info", ls.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("JPEG-LS Lossless"), "{err}");
}

#[test]
fn train_refuses_bad_defences_with_exit_2() {
    for (args, needle) in [
        (vec!["--defence", "dropout"], "--defence dropout"),
        (
            vec!["--defence", "distillation", "--temperature", "0"],
            "temperature",
        ),
        (
            vec!["--defence", "adversarial", "--adv-ratio", "2"],
            "ratio",
        ),
        (
            vec!["--defence", "adversarial", "--adv-attack", "cw"],
            "--adv-attack cw",
        ),
        (
            vec![
                "--defence",
                "adversarial",
                "--adv-attack",
                "fgsm",
                "--adv-stop-dice",
                "0.5",
            ],
            "stop_dice",
        ),
        (
            vec![
                "--defence",
                "adversarial",
                "--adv-attack",
                "free",
                "--adv-replays",
                "0",
            ],
            "replays",
        ),
    ] {
        let mut full = vec!["train", "--out", "/nonexistent/never-written"];
        full.extend(args);
        let (code, _, err) = mira(&full);
        assert_eq!(code, 2, "{full:?}: {err}");
        assert!(err.contains(needle), "{full:?}: {err}");
    }
}

#[test]
fn attacks_lists_the_library_and_registration_files_are_validated() {
    let (code, out, _) = mira(&["attacks"]);
    assert_eq!(code, 0);
    for kind in ["fgsm", "ifgsm", "pgd", "mifgsm", "apgd", "square"] {
        assert!(
            out.contains(&format!("kind = \"{kind}\"")),
            "{kind} missing:\n{out}"
        );
    }
    let reg = "task = \"registration\"\nname = \"r\"\n[data]\n[[models]]\nname = \"x\"\nsource = \"xray\"\nwidht = 8\n[[attacks]]\nname = \"a\"\nkind = \"fgsm\"\n[sweep]\nepsilons = [0.01]\n";
    let path = write_experiment("reg-typo", reg);
    let (code, _, err) = mira(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        "/tmp/mira-cli-never",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("widht") && err.lines().count() == 1, "{err}");
}

#[test]
fn file_attacks_and_folder_data_refuse_bad_input_with_exit_2() {
    let none = "/nonexistent/ckpt";
    for (args, needle) in [
        (
            vec!["attack", "--checkpoint", none, "--labels", "x"],
            "--labels needs --input",
        ),
        (
            vec![
                "attack",
                "--checkpoint",
                none,
                "--input",
                "/tmp",
                "--normalise",
                "ct:40",
            ],
            "--normalise ct:40",
        ),
        (
            vec![
                "attack",
                "--checkpoint",
                none,
                "--input",
                "/tmp",
                "--goal",
                "remove_tumour",
            ],
            "untargeted",
        ),
        (
            vec!["attack", "--checkpoint", none, "--input", "/tmp"],
            "model.json",
        ),
        (
            vec![
                "attack",
                "--checkpoint",
                none,
                "--input",
                "/tmp",
                "--attack",
                "min-norm",
            ],
            "min-norm is not available with --input",
        ),
        (
            vec![
                "attack",
                "--checkpoint",
                none,
                "--input",
                "/tmp",
                "--eps-hu",
                "5,10",
            ],
            "needs a CT window",
        ),
        (
            vec!["attack", "--checkpoint", none, "--eps-hu", "5"],
            "--eps-hu needs --input",
        ),
        (
            vec![
                "attack",
                "--checkpoint",
                none,
                "--input",
                "/tmp",
                "--normalise",
                "ct:40,400",
                "--eps-hu",
                "500",
            ],
            "changes nothing",
        ),
        (
            vec!["attack", "--checkpoint", none, "--loss", "ce,dice"],
            "losses",
        ),
        (
            vec!["attack", "--checkpoint", none, "--corrupt", "wobble"],
            "--corrupt wobble",
        ),
        (
            vec![
                "attack",
                "--checkpoint",
                none,
                "--input",
                "/tmp",
                "--corrupt",
                "ct_noise",
            ],
            "is in HU",
        ),
        (
            vec![
                "attack",
                "--checkpoint",
                none,
                "--input",
                "/tmp",
                "--corrupt",
                "blur",
                "--severities",
                "6",
            ],
            "severities",
        ),
        (
            vec!["phantom-folder", "/tmp/never", "--format", "tiff"],
            "--format tiff",
        ),
    ] {
        let (code, _, err) = mira(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let folder = BASE.replace("brain_mr_phantom", "folder");
    let p = write_experiment("folder-missing", &folder);
    let (code, _, err) = mira(&["run", p.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("data.folder"), "{err}");
    let body = folder.replace(
        "test = 2\n",
        "test = 2\n[data.folder]\npath = \"/nonexistent/data\"\nchannels = [\"ct\"]\nlabel_names = [\"bg\", \"liver\"]\n",
    );
    let p = write_experiment("folder-absent", &body);
    let (code, _, err) = mira(&["run", p.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("data.folder.path") && err.contains("not a folder"),
        "{err}"
    );
}

/// A reader that stops early (`mira attacks | head -1`) ends the output quietly: no panic text.
#[test]
fn a_closed_stdout_stops_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mira"))
        .arg("attacks")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the listing is written (the process is still starting): its first write
    // hits a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// The ONNX fixtures of mira-onnx.
fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mira-onnx/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn info_lists_a_model_and_its_operators() {
    let (code, out, err) = mira(&["info", &fixture("cnn2d.onnx")]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "opset 17",
        "input        input [?, 4, 16, 16]",
        "output       output [?, 3, 16, 16]",
        "parameters   2611",
        "ConvTranspose",
        "Mira runs every operator",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    assert!(!out.contains("output kind"), "{out}");
    let (code, out, err) = mira(&["info", &fixture("softmax_seg.onnx")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("output kind  probabilities (Softmax over axis 1)"),
        "{out}"
    );
}

#[test]
fn unsupported_operators_and_truncated_files_exit_2() {
    let (code, out, err) = mira(&["info", &fixture("unsupported.onnx")]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("CumSum") && out.contains("NOT SUPPORTED"),
        "{out}"
    );
    assert!(err.contains("CumSum") && err.contains("opset 17"), "{err}");

    let bytes = std::fs::read(fixture("reg3d.onnx")).unwrap();
    let cut = std::env::temp_dir().join(format!("mira-trunc-{}.onnx", std::process::id()));
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, err) = mira(&["info", &cut.display().to_string()]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("malformed ONNX file") && !err.contains("panicked"),
        "{err}"
    );
    let _ = std::fs::remove_file(cut);
}

/// A corrupted RLE stream panics inside the third-party decoder; the user sees one clean line
/// (exit 2), never panic text or a backtrace. The corruptions keep the file's structure and
/// break the RLE header of the pixel fragment: a segment offset past the data, a segment count
/// the header cannot hold, a second segment starting inside the header.
#[test]
fn corrupted_rle_pixel_data_gives_one_clean_line_shared_data() {
    let Some(root) = mira_testkit::shared_data_for_test(
        "corrupted_rle_pixel_data_gives_one_clean_line_shared_data",
    ) else {
        return;
    };
    let src = std::fs::read(root.join("dicom/codec_variants/MR_small_RLE.dcm")).unwrap();
    let items: Vec<usize> = (0..src.len() - 4)
        .filter(|&i| src[i..i + 4] == [0xFE, 0xFF, 0x00, 0xE0])
        .collect();
    let frag = items[1] + 8; // after the basic offset table: the frame's RLE header
    for (k, (at, value)) in [(frag + 4, 6000u32), (frag, 15), (frag + 8, 70)]
        .into_iter()
        .enumerate()
    {
        let mut b = src.clone();
        b[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let p = std::env::temp_dir().join(format!("mira-rle-{k}-{}.dcm", std::process::id()));
        std::fs::write(&p, &b).unwrap();
        let (code, _, err) = mira(&["info", p.to_str().unwrap()]);
        std::fs::remove_file(&p).unwrap();
        assert_eq!(code, 2, "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("RLE Lossless pixel data is corrupted")
                && !err.contains("panicked")
                && !err.contains("backtrace"),
            "{err}"
        );
    }
}
