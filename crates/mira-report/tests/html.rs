//! report.html: curves, tables, warnings and manifest on one page, escaped, no JavaScript.

use mira_report::{ReportInput, SegRecord, render_html, summarise};

fn rec(attack: &str, eps: f64, case: usize, adv: f64) -> SegRecord {
    SegRecord {
        draw: None,
        model: "unet".into(),
        attack: attack.into(),
        goal: "untargeted".into(),
        norm: "linf".into(),
        epsilon: eps,
        case,
        labels: vec!["core".into(), "edema".into()],
        clean_dice: vec![Some(0.9), Some(0.8)],
        adv_dice: vec![Some(adv), Some(adv - 0.1)],
        clean_target_dice: None,
        adv_target_dice: None,
        clean_target_match: None,
        adv_target_match: None,
        linf: eps,
        l2: 0.0,
        min_norm: None,
        member: None,
        stopped_at: None,
        hd95: None,
        perceptibility: None,
        lesions: None,
    }
}

#[test]
fn page_holds_curves_tables_escaped_warnings_and_manifest() {
    let mut records = Vec::new();
    for (eps, base) in [(0.0, 0.9), (0.02, 0.7), (0.08, 0.4)] {
        for case in 0..6 {
            records.push(rec("fgsm", eps, case, base - 0.01 * case as f64));
            records.push(rec("i-fgsm", eps, case, base - 0.05 - 0.01 * case as f64));
        }
    }
    let rows = summarise(&records);
    let warnings = vec!["[not-converged] unet / i-fgsm: <b>more steps</b>".to_string()];
    let html = render_html(
        &records,
        &ReportInput {
            title: "tiny",
            version: "0.1.0",
            commit: Some("abc123"),
            rows: &rows,
            tests: &[],
            checks_enabled: true,
            warnings: &warnings,
            manifest: "{\"format\": \"mira-run/1\"}",
            examples: &[(
                "unet / i-fgsm, worst case".into(),
                "examples/unet__i-fgsm__worst.png".into(),
            )],
            tables: &[mira_report::TextTable {
                charts: Vec::new(),
                title: "Minimum-norm <search>".into(),
                caption: "per case".into(),
                header: vec!["model".into(), "median ε".into()],
                rows: vec![vec!["unet".into(), "0.021".into()]],
            }],
        },
    )
    .unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 1, "one curve per model");
    assert!(html.contains("unet: mean tumour Dice under attack"));
    assert!(
        html.contains("&lt;b&gt;more steps&lt;"),
        "warnings are escaped"
    );
    assert!(!html.contains("<b>more steps"));
    assert!(html.contains("mira-run&#x2f;1") && html.contains("abc123"));
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(
        html.contains("<img src=\"examples&#x2f;unet__i-fgsm__worst.png\""),
        "{html}"
    );
    assert!(
        html.contains("<h2>Minimum-norm &lt;search&gt;</h2>"),
        "{html}"
    );
    assert!(html.contains("<th>median ε</th></tr>\n<tr><td>unet</td><td>0.021</td></tr>"));
    // The ε = 0.08 i-FGSM row: clean 0.850 mean, attacked (0.35..0.30 core, −0.1 edema).
    assert!(
        html.contains("<td class=\"l\">i-fgsm</td><td>0.08</td><td>6</td>"),
        "{html}"
    );
}
