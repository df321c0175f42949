//! Issue 6 acceptance: the demo's `report.html` renders in headless Chromium with every image
//! loaded, and a screenshot of it is written; a brain-age (S3) report renders the same way.
//!
//! Needs a Chromium binary (`chromium`, `chromium-browser`, `google-chrome`, or
//! `$MIRA_CHROMIUM`). Without one the test reports a skip, unless `MIRA_REQUIRE_CHROMIUM=1`
//! (set by `.ci/run`, which installs Debian's `chromium`), where it fails instead.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MIRA_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// The page with a checker appended: after load it lists images that failed to load.
fn with_checker(report: &Path) -> PathBuf {
    let html = std::fs::read_to_string(report).unwrap();
    let js = "<script>window.addEventListener('load',function(){var bad=[];\
              var im=document.images;for(var i=0;i<im.length;i++){if(!im[i].complete||\
              im[i].naturalWidth===0){bad.push(im[i].getAttribute('src'));}}\
              var d=document.createElement('div');d.id='mira-check';d.textContent=bad.length?\
              ('MIRA_BROKEN '+bad.join(' ')):('MIRA_OK images='+im.length+' svgs='+\
              document.querySelectorAll('svg').length);document.body.appendChild(d);});</script>";
    let checked = report.with_file_name("report_check.html");
    std::fs::write(&checked, html.replace("</body>", &format!("{js}</body>"))).unwrap();
    checked
}

fn headless(browser: &Path, args: &[&str]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .output()
        .expect("chromium runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Renders `report` with the checker and returns the checker's line (`MIRA_OK ...`).
fn rendered(browser: &Path, report: &Path) -> String {
    let url = format!("file://{}", with_checker(report).display());
    let dom = headless(browser, &["--virtual-time-budget=5000", "--dump-dom", &url]);
    dom.lines()
        .find_map(|l| l.split("id=\"mira-check\">").nth(1))
        .unwrap_or_else(|| {
            panic!(
                "the checker did not run; DOM:\n{}",
                &dom[..dom.len().min(2000)]
            )
        })
        .to_string()
}

fn browser_or_skip(test: &str) -> Option<PathBuf> {
    let b = chromium();
    if b.is_none() {
        if std::env::var("MIRA_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
            panic!("MIRA_REQUIRE_CHROMIUM=1 but no chromium binary was found");
        }
        eprintln!("SKIP {test}: no chromium binary");
    }
    b
}

#[test]
fn brain_age_report_renders_in_headless_chromium() {
    let Some(browser) = browser_or_skip("brain_age_report_renders_in_headless_chromium") else {
        return;
    };
    let out = std::env::temp_dir().join(format!("mira-chromium-age-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let exp = out.join("age.toml");
    std::fs::write(
        &exp,
        "task = \"brain_age\"\nname = \"age\"\n[data]\nsize = 16\ntrain_subjects = 16\n\
         val_subjects = 4\ntest_subjects = 4\nuniversal_fit_subjects = 4\n[training]\nsteps = 10\n\
         validate_every = 5\n[[models]]\nname = \"cnn\"\nkind = \"cnn\"\nwidth = 4\n\
         [[models]]\nname = \"hybrid\"\nkind = \"hybrid\"\nwidth = 4\n\
         [[attacks]]\nname = \"pgd\"\nnorm = \"linf\"\nepsilons = [0.01, 0.03]\nsteps = 3\n\
         [[attacks]]\nname = \"uap\"\nscope = \"universal\"\nnorm = \"linf\"\nepsilons = [0.03]\nsteps = 3\n",
    )
    .unwrap();
    let run = out.join("run");
    let status = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(["run", exp.to_str().unwrap(), "--out", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let line = rendered(&browser, &run.join("report.html"));
    assert!(line.starts_with("MIRA_OK"), "images failed to load: {line}");
    // Two models × two attacks: four mid-slice pictures; one MAE chart per attack.
    assert!(line.starts_with("MIRA_OK images=4 svgs=2"), "{line}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn demo_report_renders_in_headless_chromium() {
    let Some(browser) = browser_or_skip("demo_report_renders_in_headless_chromium") else {
        return;
    };
    let out = std::env::temp_dir().join(format!("mira-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(env!("CARGO_BIN_EXE_mira"))
        .args(["demo", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let report = out.join("report.html");
    let line = rendered(&browser, &report);
    assert!(line.starts_with("MIRA_OK"), "images failed to load: {line}");
    // The demo report holds the Dice curve (SVG) and example pictures (PNG) of both attacks.
    assert!(!line.starts_with("MIRA_OK images=0"), "{line}");
    assert!(!line.contains("svgs=0"), "{line}");
    let shot = out.join("report.png");
    headless(
        &browser,
        &[
            "--window-size=1200,2400",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", report.display()),
        ],
    );
    let bytes = std::fs::read(&shot).expect("screenshot written");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
    std::fs::remove_dir_all(&out).unwrap();
}
