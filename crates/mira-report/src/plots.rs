//! SVG curves of attacked Dice vs ε with bootstrap confidence bands (plotters, SVG backend;
//! text is left to the browser's fonts, so no font files are needed).

use plotters::prelude::*;

use mira_stats::{bootstrap_mean_ci, mean_defined};

use crate::SegRecord;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// One curve: ε, mean, CI low, CI high.
type Curve = Vec<(f64, f64, f64, f64)>;

fn case_means(rs: &[&SegRecord], adv: bool) -> Vec<f64> {
    rs.iter()
        .filter_map(|r| mean_defined(if adv { &r.adv_dice } else { &r.clean_dice }))
        .collect()
}

/// The mean foreground Dice vs ε of `model`, one line per attack with its 95 % bootstrap band
/// (2,000 resamples of the cases), and the clean Dice as a dashed line.
pub fn dice_curve_svg(records: &[SegRecord], model: &str) -> Option<String> {
    let rs: Vec<&SegRecord> = records.iter().filter(|r| r.model == model).collect();
    let mut attacks: Vec<&str> = Vec::new();
    for r in &rs {
        if !attacks.contains(&r.attack.as_str()) {
            attacks.push(&r.attack);
        }
    }
    let mut max_eps = 0.0f64;
    let mut curves: Vec<(&str, Curve)> = Vec::new();
    for (ai, a) in attacks.iter().enumerate() {
        let mut eps: Vec<f64> = rs
            .iter()
            .filter(|r| r.attack == *a)
            .map(|r| r.epsilon)
            .collect();
        eps.sort_by(f64::total_cmp);
        eps.dedup();
        let curve: Curve = eps
            .iter()
            .filter_map(|&e| {
                let cell: Vec<&SegRecord> = rs
                    .iter()
                    .copied()
                    .filter(|r| r.attack == *a && r.epsilon == e)
                    .collect();
                let v = case_means(&cell, true);
                let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
                let (lo, hi) = bootstrap_mean_ci(&v, 0.95, 2000, 17 + ai as u64)?;
                Some((e, mean, lo, hi))
            })
            .collect();
        max_eps = max_eps.max(eps.last().copied().unwrap_or(0.0));
        curves.push((a, curve));
    }
    let clean = case_means(&rs, false);
    let clean = clean.iter().sum::<f64>() / clean.len().max(1) as f64;
    if curves.is_empty() || max_eps <= 0.0 {
        return None;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 340)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{model}: mean tumour Dice under attack"),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..max_eps * 1.02, 0f64..1.0)
            .ok()?;
        chart
            .configure_mesh()
            .x_desc("ε (input units, [0, 1] intensities)")
            .y_desc("mean Dice")
            .draw()
            .ok()?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, clean), (max_eps * 1.02, clean)],
                6,
                4,
                BLACK.mix(0.6).stroke_width(1),
            ))
            .ok()?
            .label(format!("clean {clean:.3}"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.6)));
        for (i, (name, c)) in curves.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let band: Vec<(f64, f64)> = c
                .iter()
                .map(|p| (p.0, p.3))
                .chain(c.iter().rev().map(|p| (p.0, p.2)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    band,
                    color.mix(0.18).filled(),
                )))
                .ok()?;
            chart
                .draw_series(LineSeries::new(
                    c.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))
                .ok()?
                .label(name.to_string())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .ok()?;
        root.present().ok()?;
    }
    Some(svg)
}
