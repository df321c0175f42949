//! Bad experiment files give one clear error naming the field; good ones parse.

use mira_eval::{EvalError, SegExperiment as Experiment};

const GOOD: &str = r#"
name = "t"
seed = 3
[data]
source = "brain_mr_phantom"
test = 4
[[models]]
name = "unet"
base_width = 4
depth = 2
[[attacks]]
name = "fgsm"
kind = "fgsm"
[sweep]
epsilons = [0.0, 0.01]
"#;

fn parse(text: &str) -> Result<Experiment, EvalError> {
    let exp = Experiment::from_toml(text, "exp.toml")?;
    exp.validate()?;
    Ok(exp)
}

#[test]
fn the_reference_file_parses() {
    let exp = parse(GOOD).unwrap();
    assert_eq!(exp.sweep.epsilons, vec![0.0, 0.01]);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        n += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        if !text.contains("source = \"folder\"") && !text.contains("brain_mr_mni") {
            mira_eval::Experiment::from_file(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        let exp = <Experiment as mira_eval::run::Spec>::from_file(&path);
        if text.contains("source = \"folder\"")
            && let Err(e) = &exp
            && e.to_string().contains("is not a folder")
        {
            // A user-folder example whose folder is made first (`mira phantom-folder`):
            // parsing is still checked.
            Experiment::from_toml(&text, "x.toml").unwrap();
            continue;
        }
        let needs_shared = text.contains("brain_mr_mni");
        if needs_shared && mira_io::shared_data_dir().is_none() {
            // Validation needs the MNI files; parsing alone is still checked.
            Experiment::from_toml(&text, "x.toml").unwrap();
            continue;
        }
        <Experiment as mira_eval::run::Spec>::from_file(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    assert!(n >= 3, "every experiment file parses");
}

#[test]
fn malformed_files_name_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "kind = \"fgsm\"",
            "kind = \"deepfool\"",
            "`attacks[0].kind`",
        ),
        (
            "epsilons = [0.0, 0.01]",
            "epsilons = [0.0, -0.01]",
            "sweep.epsilons[1]",
        ),
        (
            "epsilons = [0.0, 0.01]",
            "epsilons = [0.0, 0.01]\nbogus = 1",
            "bogus",
        ),
        ("seed = 3", "seed = -3", "`seed`"),
        (
            "kind = \"fgsm\"",
            "kind = \"fgsm\"\nsteps = 3",
            "attacks[0].steps",
        ),
        (
            "kind = \"fgsm\"",
            "kind = \"ifgsm\"\nsteps = 0",
            "attacks[0]",
        ),
        (
            "depth = 2",
            "depth = 2\nresidual = \"yes\"",
            "`models[0].residual`",
        ),
        ("test = 4", "test = 0", "data.test"),
        // Model names become folders (out/models/NAME): no path separators.
        ("name = \"unet\"", "name = \"../unet\"", "`models[0].name`"),
        (
            "name = \"fgsm\"\nkind = \"fgsm\"",
            "name = \"fgsm\"\nkind = \"fgsm\"\n[[attacks]]\nname = \"fgsm\"\nkind = \"pgd\"",
            "duplicate name `fgsm`",
        ),
        (
            "source = \"brain_mr_phantom\"",
            "source = \"folder\"",
            "`data.folder`",
        ),
        (
            "kind = \"fgsm\"",
            "kind = \"fgsm\"\ngoal = \"erase\"",
            "`attacks[0].goal`",
        ),
        (
            "base_width = 4\ndepth = 2",
            "checkpoint = \"/nonexistent/ckpt\"",
            "models[0].checkpoint",
        ),
        ("depth = 2", "depth = 7", "models[0]"),
        // A targeted goal without its target labels.
        (
            "kind = \"fgsm\"",
            "kind = \"fgsm\"\ngoal = { relabel = { from = 3 } }",
            "`attacks[0].goal.relabel` (line 14): missing field `to`",
        ),
        (
            "kind = \"fgsm\"",
            "kind = \"fgsm\"\ngoal = { relabel = { from = 3, to = 3 } }",
            "attacks[0].goal",
        ),
        (
            "depth = 2",
            "depth = 2\ndefence = { kind = \"distillation\", temperature = 0 }",
            "models[0].defence",
        ),
        (
            "depth = 2",
            "depth = 2\ndefence = { kind = \"adversarial\", attack = \"fgsm\", epsilon = 0.02, ratio = -0.5 }",
            "models[0].defence",
        ),
        (
            "kind = \"fgsm\"",
            "kind = \"fgsm\"\ntemperature = 0.0",
            "attacks[0].temperature",
        ),
        (
            "epsilons = [0.0, 0.01]",
            "epsilons = [0.0, 0.01]\n[checks]\nlarge_epsilon = 2.0",
            "checks.large_epsilon",
        ),
        (
            "kind = \"fgsm\"",
            "kind = \"fgsm\"\nloss = \"margin\"\ntemperature = 10.0",
            "attacks[0].temperature",
        ),
        (
            "kind = \"fgsm\"",
            "kind = \"fgsm\"\nloss = \"hinge\"",
            "`attacks[0].loss`",
        ),
    ];
    for (from, to, field) in cases {
        assert!(GOOD.contains(from), "fixture lacks {from}");
        let text = GOOD.replacen(from, to, 1);
        let err = parse(&text).expect_err(to).to_string();
        assert!(err.contains(field), "{to}: `{err}` does not name {field}");
        assert!(!err.contains('\n'), "multi-line error: {err}");
    }
}
