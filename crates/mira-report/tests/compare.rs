//! The defence comparison reproduces SciPy on hand-made records.
//!
//! Reference: SciPy 1.17.1, `scipy.stats.wilcoxon(a, b).pvalue` (two-sided, exact for n ≤ 50
//! without ties), Holm by hand (= statsmodels `multipletests(method="holm")`), on the arrays
//! below; `None` marks a label undefined on that case (left out of that label's test). The
//! `mean` label is the per-case mean over the labels defined on both sides of the pair.

use mira_report::{ModelGroup, SegRecord, compare, comparison_csv, comparison_markdown};

const N: Option<f64> = None;
const AC_X: [f64; 8] = [0.9, 0.85, 0.8, 0.95, 0.7, 0.88, 0.92, 0.75];
const AA_X: [f64; 8] = [0.5, 0.6, 0.4, 0.7, 0.3, 0.65, 0.55, 0.45];
const BA_X: [f64; 8] = [0.7, 0.72, 0.5, 0.65, 0.45, 0.8, 0.5, 0.5];
const BC_X: [f64; 8] = [0.85, 0.8, 0.78, 0.93, 0.72, 0.86, 0.9, 0.7];
const AA_Y: [Option<f64>; 8] = [
    Some(0.6),
    N,
    Some(0.5),
    Some(0.4),
    Some(0.55),
    Some(0.3),
    Some(0.62),
    Some(0.48),
];
const BA_Y: [Option<f64>; 8] = [
    Some(0.66),
    Some(0.7),
    Some(0.52),
    Some(0.45),
    N,
    Some(0.41),
    Some(0.7),
    Some(0.5),
];
const AC_Y: [Option<f64>; 8] = [
    Some(0.8),
    N,
    Some(0.75),
    Some(0.7),
    Some(0.78),
    Some(0.6),
    Some(0.81),
    Some(0.77),
];
const BC_Y: [Option<f64>; 8] = [
    Some(0.8),
    Some(0.82),
    Some(0.7),
    Some(0.7),
    N,
    Some(0.6),
    Some(0.8),
    Some(0.76),
];

fn rec(model: &str, case: usize, clean: [Option<f64>; 2], adv: [Option<f64>; 2]) -> SegRecord {
    SegRecord {
        draw: None,
        model: model.into(),
        attack: "fgsm".into(),
        goal: "untargeted".into(),
        norm: "linf".into(),
        epsilon: 0.1,
        case,
        labels: vec!["x".into(), "y".into()],
        clean_dice: clean.to_vec(),
        adv_dice: adv.to_vec(),
        clean_target_dice: None,
        adv_target_dice: None,
        clean_target_match: None,
        adv_target_match: None,
        linf: 0.1,
        l2: 1.0,
        min_norm: None,
        member: None,
        stopped_at: None,
        hd95: None,
        perceptibility: None,
        lesions: None,
    }
}

#[test]
fn comparison_matches_scipy_and_holm() {
    let mut records = Vec::new();
    for i in 0..8 {
        records.push(rec(
            "a",
            i,
            [Some(AC_X[i]), AC_Y[i]],
            [Some(AA_X[i]), AA_Y[i]],
        ));
        records.push(rec(
            "b",
            i,
            [Some(BC_X[i]), BC_Y[i]],
            [Some(BA_X[i]), BA_Y[i]],
        ));
    }
    let groups = [ModelGroup {
        name: "g".into(),
        models: vec!["a".into(), "b".into()],
    }];
    let (rows, tests) = compare(&records, &groups);
    // 2 models × 3 labels (mean, x, y) × 1 ε.
    assert_eq!(rows.len(), 6);
    let find = |a: &str, b: &str, label: &str| {
        tests
            .iter()
            .find(|t| t.a == a && t.b == b && t.label == label)
            .unwrap_or_else(|| panic!("{a} {b} {label}"))
    };
    // (n, mean a, mean b, p, p Holm) from SciPy.
    let expect = [
        ("a", "b", "mean", 8, 0.496875, 0.576875, 0.015625, 0.046875),
        ("a", "b", "x", 8, 0.51875, 0.6025, 0.0546875, 0.0625),
        ("a", "b", "y", 6, 0.483333, 0.54, 0.03125, 0.0625),
        (
            "b", "clean:a", "mean", 8, 0.576875, 0.795625, 0.0078125, 0.0234375,
        ),
        (
            "b", "clean:a", "x", 8, 0.6025, 0.84375, 0.0078125, 0.0234375,
        ),
        ("b", "clean:a", "y", 6, 0.54, 0.738333, 0.03125, 0.03125),
    ];
    for (a, b, label, n, ma, mb, p, ph) in expect {
        let t = find(a, b, label);
        assert_eq!(t.n, n, "{a} {b} {label}");
        assert!(
            (t.mean_a - ma).abs() < 1e-6 && (t.mean_b - mb).abs() < 1e-6,
            "{t:?}"
        );
        assert!((t.p.unwrap() - p).abs() < 1e-12, "{t:?}");
        assert!((t.p_holm.unwrap() - ph).abs() < 1e-12, "{t:?}");
    }
    // a vs its own clean reference is there too; 3 families × 3 labels in all.
    assert_eq!(find("a", "clean:a", "x").n, 8);
    assert_eq!(tests.len(), 9);
    let md = comparison_markdown(&rows, &tests);
    assert!(
        md.contains("| g | fgsm | 0.1 | x | a | b | 8 | 0.519 | 0.603 | 0.0547 | 0.0625 |"),
        "{md}"
    );
    assert!(
        md.contains("| 0.1 | b | 0.576 [0.51, 0.62] | 0.602 [0.50, 0.70] |"),
        "{md}"
    );
    assert_eq!(comparison_csv(&tests).lines().count(), 10);
}
