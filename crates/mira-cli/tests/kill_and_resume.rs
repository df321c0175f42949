//! A real `mira run` killed with SIGKILL mid-run and restarted with the same command ends
//! with exactly the records of an uninterrupted run; a second run on a busy folder is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXP: &str = r#"
name = "kill-test"
seed = 9
[data]
source = "brain_mr_phantom"
train = 8
val = 4
test = 6
[data.phantom]
size = 32
[training]
epochs = 1
batch_size = 4
[[models]]
name = "unet"
base_width = 8
depth = 2
[[attacks]]
name = "fgsm"
kind = "fgsm"
[[attacks]]
name = "i-fgsm"
kind = "ifgsm"
steps = 20
[sweep]
epsilons = [0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08]
batch_size = 3
"#;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-kill-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mira_run(exp: &Path, out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mira"));
    c.args(["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Records keyed by (model, attack, ε, case) → (clean Dice, adversarial Dice, L∞) as text.
fn records(out: &Path) -> BTreeMap<(String, String, u64, usize), String> {
    let text = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let r: mira_report::SegRecord = serde_json::from_str(line).unwrap();
        let key = (
            r.model.clone(),
            r.attack.clone(),
            r.epsilon.to_bits(),
            r.case,
        );
        let val = format!("{:?} {:?} {}", r.clean_dice, r.adv_dice, r.linf);
        assert!(map.insert(key, val).is_none(), "duplicate record");
    }
    map
}

#[test]
fn sigkilled_run_resumes_to_the_uninterrupted_records() {
    let dir = tmp("exp");
    let exp = dir.join("exp.toml");
    std::fs::write(&exp, EXP).unwrap();
    let full_out = tmp("full");
    let st = mira_run(&exp, &full_out).status().unwrap();
    assert!(st.success());
    let full = records(&full_out);
    assert_eq!(full.len(), 2 * 10 * 6);

    // Kill as soon as the first cells are on disk, while later ones are being computed.
    let out = tmp("killed");
    let mut child = mira_run(&exp, &out).spawn().unwrap();
    let start = Instant::now();
    let path = out.join("records.jsonl");
    loop {
        let lines = std::fs::read_to_string(&path).map_or(0, |t| t.lines().count());
        if lines >= 6 * 3 || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let partial = std::fs::read_to_string(&path).unwrap().lines().count();
    assert!(
        partial < full.len(),
        "the run was killed before finishing ({partial} records)"
    );

    let st = mira_run(&exp, &out).status().unwrap();
    assert!(st.success());
    assert_eq!(
        records(&out),
        full,
        "resumed records differ from an uninterrupted run"
    );
    for d in [dir, full_out, out] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn a_busy_run_folder_is_refused() {
    let dir = tmp("busy");
    let exp = dir.join("exp.toml");
    std::fs::write(&exp, EXP).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let lock = std::fs::File::create(out.join(".lock")).unwrap();
    lock.try_lock().unwrap();
    let res = mira_run(&exp, &out).output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("in use by another mira run"), "{err}");
    drop(lock);
    std::fs::remove_dir_all(&dir).unwrap();
}
