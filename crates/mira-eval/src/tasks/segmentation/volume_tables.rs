//! The tables only volumes have: HD95 (mm) clean against attacked per (model, attack, ε) with a
//! paired Wilcoxon test, and the gap between attacks through the blended prediction and the
//! same attacks on tiles (`window_attack = "both"`), paired per case.

use mira_report::{SegRecord, TextTable};
use mira_stats::{mean_defined, paired_means, wilcoxon_signed_rank};

/// The HD95 table and, where both window modes ran, the blended-against-tiles table.
pub(crate) fn volume_tables(records: &[SegRecord]) -> Vec<TextTable> {
    if records.iter().all(|r| r.hd95.is_none()) {
        return Vec::new();
    }
    let mut out = vec![hd95_table(records)];
    out.extend(window_gap_table(records));
    out
}

/// The cells of `records` in first-seen order: (model, attack, ε).
fn cells(records: &[SegRecord]) -> Vec<(String, String, f64)> {
    let mut cells: Vec<(String, String, f64)> = Vec::new();
    for r in records {
        let key = (r.model.clone(), r.attack.clone(), r.epsilon);
        if !cells.contains(&key) {
            cells.push(key);
        }
    }
    cells
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn p_value(x: &[f64], y: &[f64]) -> String {
    wilcoxon_signed_rank(x, y).map_or("-".into(), |w| format!("{:.4}", w.p_value))
}

fn hd95_table(records: &[SegRecord]) -> TextTable {
    let labels = records
        .first()
        .map(|r| r.labels.clone())
        .unwrap_or_default();
    let mut header: Vec<String> = ["model", "attack", "ε", "n"].map(String::from).to_vec();
    header.extend(labels.iter().map(|l| format!("HD95 {l} (mm)")));
    header.extend(["mean HD95 (mm)", "Wilcoxon p"].map(String::from));
    let mut rows = Vec::new();
    for (model, attack, eps) in cells(records) {
        let rs: Vec<&SegRecord> = records
            .iter()
            .filter(|r| r.model == model && r.attack == attack && r.epsilon == eps)
            .collect();
        let hd = |r: &&SegRecord| r.hd95.clone();
        let per: Vec<_> = rs.iter().filter_map(hd).collect();
        let mut row = vec![model, attack, format!("{eps}"), rs.len().to_string()];
        for l in 0..labels.len() {
            let mean = |f: &dyn Fn(&mira_report::Hd95) -> Option<f64>| {
                mean_defined(&per.iter().map(f).collect::<Vec<_>>())
            };
            row.push(format!(
                "{} → {}",
                fmt(mean(&|h| h.clean.get(l).copied().flatten()), 1),
                fmt(mean(&|h| h.adv.get(l).copied().flatten()), 1)
            ));
        }
        // Per case, the mean over the labels defined both clean and attacked.
        let (clean, adv): (Vec<f64>, Vec<f64>) = per
            .iter()
            .filter_map(|h| paired_means(&h.clean, &h.adv))
            .unzip();
        let avg = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        row.push(format!("{} → {}", fmt(avg(&clean), 1), fmt(avg(&adv), 1)));
        row.push(p_value(&clean, &adv));
        rows.push(row);
    }
    TextTable {
        charts: Vec::new(),
        title: "HD95 per volume".into(),
        caption: "95th-percentile Hausdorff distance (mm, MONAI's semantics) of the clean → \
                  attacked prediction against the truth, mean over the volumes where it is \
                  defined (a label empty in the prediction or the truth has none). Mean HD95: \
                  per volume over the labels defined both clean and attacked; Wilcoxon p: \
                  paired signed-rank test of those per-volume means, clean against attacked."
            .into(),
        header,
        rows,
    }
}

/// Per model, attack and ε > 0 that ran both through the blend and on tiles: attacked mean
/// Dice of each, the gap, and a paired Wilcoxon test per case.
fn window_gap_table(records: &[SegRecord]) -> Option<TextTable> {
    let mut rows = Vec::new();
    for (model, attack, eps) in cells(records) {
        let tiles = format!("{attack}-tiles");
        if eps == 0.0 || attack.ends_with("-tiles") {
            continue;
        }
        let dice = |name: &str| -> Vec<(usize, f64)> {
            records
                .iter()
                .filter(|r| r.model == model && r.attack == name && r.epsilon == eps)
                .filter_map(|r| Some((r.case, mean_defined(&r.adv_dice)?)))
                .collect()
        };
        let (b, t) = (dice(&attack), dice(&tiles));
        if t.is_empty() {
            continue;
        }
        let paired: Vec<(f64, f64)> = b
            .iter()
            .filter_map(|(c, d)| Some((*d, t.iter().find(|x| x.0 == *c)?.1)))
            .collect();
        let n = paired.len() as f64;
        let (mb, mt) = (
            paired.iter().map(|p| p.0).sum::<f64>() / n,
            paired.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let (x, y): (Vec<f64>, Vec<f64>) = paired.iter().copied().unzip();
        let worse = paired.iter().filter(|p| p.0 < p.1).count();
        // Targeted goals: the share of goal voxels predicted as the target, per attack.
        let reached = |name: &str| {
            let v: Vec<Option<f64>> = records
                .iter()
                .filter(|r| r.model == model && r.attack == name && r.epsilon == eps)
                .map(|r| r.adv_target_match)
                .collect();
            mean_defined(&v)
        };
        let target = match (reached(&attack), reached(&tiles)) {
            (Some(b), Some(t)) => format!("{b:.3} / {t:.3}"),
            _ => "-".into(),
        };
        rows.push(vec![
            model.clone(),
            attack.clone(),
            format!("{eps}"),
            paired.len().to_string(),
            format!("{mb:.3}"),
            format!("{mt:.3}"),
            format!("{:+.3}", mb - mt),
            format!("{worse}/{}", paired.len()),
            p_value(&x, &y),
            target,
        ]);
    }
    (!rows.is_empty()).then(|| TextTable {
        charts: Vec::new(),
        title: "Blended prediction against tiles".into(),
        caption: "Attacked mean Dice when the attack differentiates the blended sliding-window \
                  prediction (as deployed) and when it attacks each non-overlapping tile on its \
                  own (the published protocol, `<attack>-tiles`); both are evaluated with the \
                  blended prediction. Gap < 0: the blended attack damages more. Cases lower: \
                  volumes where the blended attack left the lower Dice; Wilcoxon p: paired \
                  signed-rank test of the per-volume Dice; target reached (targeted goals): \
                  the share of the voxels the goal changes predicted as the target, blended / \
                  tiles."
            .into(),
        header: [
            "model",
            "attack",
            "ε",
            "n",
            "Dice blended attack",
            "Dice tile attack",
            "gap",
            "cases lower",
            "Wilcoxon p",
            "target reached",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(attack: &str, eps: f64, case: usize, adv: f64, hd: f64) -> SegRecord {
        SegRecord {
            draw: None,
            model: "m".into(),
            attack: attack.into(),
            goal: "untargeted".into(),
            norm: "linf".into(),
            epsilon: eps,
            case,
            labels: vec!["a".into(), "b".into()],
            clean_dice: vec![Some(0.9), Some(0.8)],
            adv_dice: vec![Some(adv), None],
            clean_target_dice: None,
            adv_target_dice: None,
            clean_target_match: None,
            adv_target_match: None,
            linf: eps,
            l2: 0.0,
            min_norm: None,
            member: None,
            stopped_at: None,
            hd95: Some(mira_report::Hd95 {
                clean: vec![Some(2.0), None],
                adv: vec![Some(hd), Some(9.0)],
            }),
            perceptibility: None,
            lesions: None,
        }
    }

    #[test]
    fn hd95_means_skip_undefined_labels_and_the_gap_is_paired_by_case() {
        let mut rs: Vec<SegRecord> = (0..6)
            .map(|c| rec("pgd", 0.02, c, 0.2 + 0.01 * c as f64, 4.0 + c as f64))
            .collect();
        rs.extend((0..6).map(|c| rec("pgd-tiles", 0.02, 5 - c, 0.5, 3.0)));
        let t = volume_tables(&rs);
        assert_eq!(t.len(), 2);
        // Label a: clean 2.0, attacked mean 4..9 = 6.5; label b undefined clean: not in the
        // per-volume mean.
        assert_eq!(t[0].rows[0][4], "2.0 → 6.5");
        assert_eq!(t[0].rows[0][5], "- → 9.0");
        assert_eq!(t[0].rows[0][6], "2.0 → 6.5");
        // Blended 0.2..0.25 (mean 0.225) against 0.5: every case lower.
        let g = &t[1].rows[0];
        assert_eq!(
            (g[4].as_str(), g[5].as_str(), g[6].as_str()),
            ("0.225", "0.500", "-0.275")
        );
        assert_eq!(g[7], "6/6");
        assert_eq!(g[8], "0.0312");
        let flat: Vec<SegRecord> = rs
            .into_iter()
            .map(|r| SegRecord { hd95: None, ..r })
            .collect();
        assert!(volume_tables(&flat).is_empty());
    }
}
