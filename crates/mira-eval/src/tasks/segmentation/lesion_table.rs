//! Damage per structure size (`sweep.size_bins`): the truth's connected components binned by
//! size, their lesion-wise Dice clean and attacked per (model, attack, ε, label, bin), with a
//! paired Wilcoxon test over the components, so "small lesions break first" is a number.

use mira_report::{SegRecord, TextTable};
use mira_stats::wilcoxon_signed_rank;

/// The bin names of `edges`: `< e0`, `e0–e1−1`, …, `≥ en`.
fn bin_names(edges: &[usize]) -> Vec<String> {
    let mut names = vec![format!("< {}", edges[0])];
    names.extend(edges.windows(2).map(|w| format!("{}–{}", w[0], w[1] - 1)));
    names.push(format!("≥ {}", edges[edges.len() - 1]));
    names
}

/// The bin of a component of `size` elements.
fn bin_of(edges: &[usize], size: usize) -> usize {
    edges.iter().take_while(|&&e| size >= e).count()
}

/// The table (`None` without bins or without lesion records).
pub(crate) fn lesion_table(records: &[SegRecord], edges: Option<&[usize]>) -> Option<TextTable> {
    let edges = edges.filter(|e| !e.is_empty())?;
    let first = records.iter().find(|r| r.lesions.is_some())?;
    let labels = first.labels.clone();
    let names = bin_names(edges);
    let volumes = records
        .iter()
        .flat_map(|r| r.lesions.iter().flatten())
        .any(|l| l.hd95_clean.is_some() || l.hd95_adv.is_some());
    let mut cells: Vec<(String, String, f64)> = Vec::new();
    for r in records.iter().filter(|r| r.lesions.is_some()) {
        let key = (r.model.clone(), r.attack.clone(), r.epsilon);
        if !cells.contains(&key) {
            cells.push(key);
        }
    }
    let mut rows = Vec::new();
    for (model, attack, eps) in cells {
        let rs: Vec<&SegRecord> = records
            .iter()
            .filter(|r| r.model == model && r.attack == attack && r.epsilon == eps)
            .collect();
        for (l, label) in labels.iter().enumerate() {
            for (b, name) in names.iter().enumerate() {
                let here: Vec<&mira_report::Lesion> = rs
                    .iter()
                    .flat_map(|r| r.lesions.iter().flatten())
                    .filter(|x| x.label == l && bin_of(edges, x.size) == b)
                    .collect();
                let (clean, adv): (Vec<f64>, Vec<f64>) =
                    here.iter().map(|x| (x.clean, x.adv)).unzip();
                if clean.is_empty() {
                    continue;
                }
                let n = clean.len() as f64;
                let (mc, ma) = (clean.iter().sum::<f64>() / n, adv.iter().sum::<f64>() / n);
                let missed = adv.iter().filter(|&&d| d == 0.0).count();
                let p = wilcoxon_signed_rank(&clean, &adv)
                    .map_or("-".into(), |w| format!("{:.4}", w.p_value));
                let mut row = vec![
                    model.clone(),
                    attack.clone(),
                    format!("{eps}"),
                    label.clone(),
                    name.clone(),
                    clean.len().to_string(),
                    format!("{mc:.3} → {ma:.3}"),
                    format!("{:.3}", mc - ma),
                    missed.to_string(),
                    p,
                ];
                if volumes {
                    // Components found by both predictions (a missed one has no distance).
                    let both: Vec<(f64, f64)> = here
                        .iter()
                        .filter_map(|x| x.hd95_clean.zip(x.hd95_adv))
                        .collect();
                    let m = both.len() as f64;
                    row.push(if both.is_empty() {
                        "-".into()
                    } else {
                        format!(
                            "{:.2} → {:.2} ({})",
                            both.iter().map(|b| b.0).sum::<f64>() / m,
                            both.iter().map(|b| b.1).sum::<f64>() / m,
                            both.len()
                        )
                    });
                }
                rows.push(row);
            }
        }
    }
    let mut header: Vec<String> = [
        "model",
        "attack",
        "ε",
        "label",
        "size",
        "components",
        "Dice clean → attacked",
        "drop",
        "missed",
        "Wilcoxon p",
    ]
    .map(String::from)
    .to_vec();
    if volumes {
        header.push("HD95 clean → attacked (mm; components found by both)".into());
    }
    Some(TextTable {
        charts: Vec::new(),
        title: "Damage by structure size".into(),
        caption: format!(
            "Every connected component of the truth (face connectivity), per label, binned by \
             its size in pixels (voxels for volumes) at {edges:?}: its lesion-wise Dice (the \
             component against the predicted components of its label that overlap it; 0 when \
             none does, a missed structure) clean → attacked, the mean drop, the components \
             missed under attack, and a paired Wilcoxon test over the components."
        ),
        header,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_split_at_their_edges() {
        let e = [50, 500];
        assert_eq!(bin_names(&e), ["< 50", "50–499", "≥ 500"]);
        assert_eq!(
            [1, 49, 50, 499, 500, 9999].map(|s| bin_of(&e, s)),
            [0, 0, 1, 1, 2, 2]
        );
    }
}
