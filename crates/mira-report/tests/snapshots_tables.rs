//! Snapshot tests (insta) of the tables a tiny fixed run produces: summary Markdown and CSV,
//! the defence comparison in Markdown and CSV. The records are hand-made and fixed, so any
//! change in the numbers or layout of a table shows up as a snapshot diff to review.

use mira_report::{
    ModelGroup, SegRecord, compare, comparison_csv, comparison_markdown, defence_csv, summarise,
    to_csv, to_markdown,
};

fn rec(
    model: &str,
    attack: &str,
    eps: f64,
    case: usize,
    clean: [f64; 3],
    adv: [f64; 3],
) -> SegRecord {
    SegRecord {
        draw: None,
        model: model.into(),
        attack: attack.into(),
        goal: if attack == "ti" {
            "remove_tumour".into()
        } else {
            "untargeted".into()
        },
        norm: "linf".into(),
        epsilon: eps,
        case,
        labels: vec!["core".into(), "edema".into(), "enhancing".into()],
        clean_dice: clean.iter().map(|v| Some(*v)).collect(),
        adv_dice: adv
            .iter()
            .enumerate()
            .map(|(l, v)| (!(l == 2 && case == 3)).then_some(*v))
            .collect(),
        clean_target_dice: (attack == "ti").then_some(0.25),
        adv_target_dice: (attack == "ti").then_some(0.25 + eps),
        clean_target_match: (attack == "ti").then_some(0.01),
        adv_target_match: (attack == "ti").then_some(0.01 + 4.0 * eps),
        linf: eps,
        l2: eps * 10.0,
        min_norm: None,
        member: None,
        stopped_at: None,
        hd95: None,
        perceptibility: None,
        lesions: None,
    }
}

fn records() -> Vec<SegRecord> {
    let mut v = Vec::new();
    for (m, robust) in [("plain", 0.0), ("defended", 0.3)] {
        for attack in ["fgsm", "ti"] {
            for (eps, hit) in [(0.0, 0.0), (0.02, 0.15), (0.08, 0.5)] {
                for case in 0..6 {
                    let c = [0.9 - 0.01 * case as f64, 0.95, 0.8 + 0.01 * case as f64];
                    let drop = hit * (1.0 - robust) * (1.0 + 0.1 * case as f64);
                    let a = c.map(|x: f64| (x - drop).max(0.0));
                    v.push(rec(m, attack, eps, case, c, a));
                }
            }
        }
    }
    v
}

#[test]
fn summary_tables() {
    let rows = summarise(&records());
    insta::assert_snapshot!("summary_md", to_markdown(&rows));
    insta::assert_snapshot!("summary_csv", to_csv(&rows));
}

#[test]
fn comparison_tables() {
    let groups = [ModelGroup {
        name: "unet".into(),
        models: vec!["plain".into(), "defended".into()],
    }];
    let (rows, tests) = compare(&records(), &groups);
    insta::assert_snapshot!("comparison_md", comparison_markdown(&rows, &tests));
    insta::assert_snapshot!("comparison_csv", comparison_csv(&tests));
    insta::assert_snapshot!("defences_csv", defence_csv(&rows));
}
