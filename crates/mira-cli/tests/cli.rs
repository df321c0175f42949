//! The binary: bad input exits 2 with a one-line error naming the field, never a panic.

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
