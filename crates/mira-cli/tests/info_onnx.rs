//! `mira info MODEL.onnx`: the summary and exit 0 when Mira runs every operator; exit 2 naming
//! the operator Mira does not run, and exit 2 with one line for a truncated file.

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
