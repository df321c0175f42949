//! The charts of a files run's report: mean foreground Dice of the written files against ε,
//! one line per (model, attack) with a 95 % bootstrap band over cases and the clean Dice as a
//! dashed line; for 3D models the mean HD95 (mm) likewise. With `window_attack = "both"` the
//! blended and the tile attack are two lines of one chart: the gap the published protocol
//! misses.

use mira_report::{Chart, Curve, curves_svg};

use crate::tasks::files::FileRecord;
use crate::tasks::files::outputs::hd95_mean;

/// `(x, mean, low, high)` of `value` per ε over the records of one (model, attack).
fn points(
    rs: &[&FileRecord],
    value: &dyn Fn(&FileRecord) -> Option<f64>,
) -> Vec<(f64, f64, f64, f64)> {
    let mut eps: Vec<f64> = rs.iter().map(|r| r.epsilon).collect();
    eps.sort_by(f64::total_cmp);
    eps.dedup();
    eps.iter()
        .filter_map(|&e| {
            let v: Vec<f64> = rs
                .iter()
                .filter(|r| r.epsilon == e)
                .filter_map(|r| value(r))
                .collect();
            let m = v.iter().sum::<f64>() / v.len().max(1) as f64;
            let (lo, hi) = mira_stats::bootstrap_mean_ci(&v, 0.95, 2000, 17)?;
            Some((e, m, lo, hi))
        })
        .collect()
}

fn chart(
    records: &[FileRecord],
    value: &dyn Fn(&FileRecord) -> Option<f64>,
    clean: &dyn Fn(&FileRecord) -> Option<f64>,
    c: &Chart<'_>,
) -> Option<String> {
    let mut groups: Vec<(String, String)> = Vec::new();
    for r in records {
        let k = (r.model.clone(), r.attack.clone());
        if !groups.contains(&k) {
            groups.push(k);
        }
    }
    let curves: Vec<Curve> = groups
        .iter()
        .map(|(m, a)| {
            let rs: Vec<&FileRecord> = records
                .iter()
                .filter(|r| &r.model == m && &r.attack == a)
                .collect();
            Curve {
                name: format!("{m} / {a}"),
                points: points(&rs, value),
            }
        })
        .filter(|c| !c.points.is_empty())
        .collect();
    let base: Vec<f64> = records.iter().filter_map(clean).collect();
    let reference = (!base.is_empty()).then(|| {
        (
            "clean".to_string(),
            base.iter().sum::<f64>() / base.len() as f64,
        )
    });
    let chart = Chart { reference, ..*c };
    curves_svg(&chart, &curves)
}

/// The report's charts (none when no record has the values).
pub(crate) fn curves(records: &[FileRecord]) -> Vec<String> {
    let dice = Chart {
        title: "Dice of the written files vs ε (mean over cases, 95 % bootstrap band)",
        x_desc: "ε (model units)",
        y_desc: "mean foreground Dice",
        y_range: (0.0, 1.0),
        reference: None,
    };
    let mut out: Vec<String> = chart(records, &|r| r.written_dice, &|r| r.clean_dice, &dice)
        .into_iter()
        .collect();
    let top = records
        .iter()
        .flat_map(|r| [hd95_mean(r, true), hd95_mean(r, false)])
        .flatten()
        .fold(0.0, f64::max);
    if top > 0.0 {
        let hd = Chart {
            title: "HD95 of the written volumes vs ε (mm, mean over classes and cases)",
            x_desc: "ε (model units)",
            y_desc: "HD95 (mm)",
            y_range: (0.0, top * 1.1),
            reference: None,
        };
        out.extend(chart(
            records,
            &|r| hd95_mean(r, true),
            &|r| hd95_mean(r, false),
            &hd,
        ));
    }
    out
}
