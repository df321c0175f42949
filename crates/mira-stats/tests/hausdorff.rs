//! HD95 and HD100 against MONAI 1.6.1's `compute_hausdorff_distance` (include_background =
//! False) on the label maps of `fixtures/hd_monai.txt` (scripts/hd_monai_fixture.py, run
//! 2026-12-06 with torch 2.15.0): classes 1 and 2, isotropic spacing and (2.5, 0.8, 0.8), and
//! MONAI's NaN when either mask is empty.

use mira_stats::hausdorff_distance;

const DIMS: [usize; 3] = [9, 14, 17];

fn labels() -> (Vec<u8>, Vec<u8>) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hd_monai.txt"),
    )
    .unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let mut parse = || -> Vec<u8> { lines.next().unwrap().bytes().map(|b| b - b'0').collect() };
    (parse(), parse())
}

fn mask(l: &[u8], c: u8) -> Vec<bool> {
    l.iter().map(|&v| v == c).collect()
}

#[test]
fn hausdorff_distances_equal_monai() {
    let (truth, pred) = labels();
    let cases: [([f64; 3], Option<f64>, [f64; 2]); 3] = [
        (
            [1.0; 3],
            Some(95.0),
            [1.4142135381698608, 9.631361961364746],
        ),
        (
            [2.5, 0.8, 0.8],
            Some(95.0),
            [1.600000023841858, 10.770329475402832],
        ),
        (
            [2.5, 0.8, 0.8],
            None,
            [1.7888543605804443, 13.221572875976562],
        ),
    ];
    for (spacing, q, want) in cases {
        for (c, w) in [1u8, 2].into_iter().zip(want) {
            let got = hausdorff_distance(&mask(&pred, c), &mask(&truth, c), DIMS, spacing, q);
            assert!(
                (got - w).abs() < 1e-5 * w.max(1.0),
                "class {c}, spacing {spacing:?}, q {q:?}: {got} vs MONAI {w}"
            );
        }
    }
    // MONAI: NaN when the prediction, the truth, or both are empty.
    let none = vec![false; truth.len()];
    assert!(hausdorff_distance(&none, &mask(&truth, 1), DIMS, [1.0; 3], Some(95.0)).is_nan());
    assert!(hausdorff_distance(&mask(&pred, 1), &none, DIMS, [1.0; 3], Some(95.0)).is_nan());
    assert!(hausdorff_distance(&none, &none, DIMS, [1.0; 3], Some(95.0)).is_nan());
}

/// Dice per label against MONAI 1.6.1's `compute_dice(include_background=False)` on the same
/// label maps (values printed by scripts/hd_monai_fixture.py, torch 2.15.0): 0.752136766910553
/// and 0.5063291192054749. The empty-mask rules differ and are stated here: MONAI's default
/// (`ignore_empty=True`) gives NaN whenever the truth is empty, even with voxels predicted;
/// Mira scores that case 0 (a false positive is an error, as MONAI with `ignore_empty=False`)
/// and leaves a label undefined (`None`) only when prediction and truth are both empty (where
/// MONAI gives NaN, or 1 with `ignore_empty=False`).
#[test]
fn dice_equals_monai_and_states_its_empty_rules() {
    use mira_stats::{DiceOptions, dice_per_label};
    let (truth, pred) = labels();
    let d = dice_per_label(&pred, &truth, DiceOptions::new(3)).unwrap();
    for (got, want) in d.iter().zip([0.752136766910553, 0.5063291192054749]) {
        assert!(
            (got.unwrap() - want).abs() < 1e-6,
            "{got:?} vs MONAI {want}"
        );
    }
    // The fixture script's empty cases: class 1 removed from the prediction (MONAI 0.0), both
    // empty for class 2 (MONAI NaN), class 1 removed from the truth (MONAI NaN; Mira 0).
    let mut p2 = pred.clone();
    p2.iter_mut().for_each(|v| *v = 0);
    let mut t2 = truth.clone();
    t2.iter_mut().filter(|v| **v == 2).for_each(|v| *v = 0);
    assert_eq!(
        dice_per_label(&p2, &t2, DiceOptions::new(3)).unwrap(),
        [Some(0.0), None]
    );
    let mut t3 = truth.clone();
    t3.iter_mut().filter(|v| **v == 1).for_each(|v| *v = 0);
    let d3 = dice_per_label(&pred, &t3, DiceOptions::new(3)).unwrap();
    assert_eq!(d3[0], Some(0.0));
    assert!((d3[1].unwrap() - 0.5063291192054749).abs() < 1e-6);
}
