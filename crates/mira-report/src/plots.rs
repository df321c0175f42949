//! SVG curves (attacked Dice, passing rate, TRE vs ε) with bootstrap confidence bands (plotters, SVG backend;
//! text is left to the browser's fonts, so no font files are needed).

use plotters::prelude::*;

use mira_stats::{bootstrap_mean_ci, mean_defined, paired_means};

use crate::SegRecord;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// One named curve: points (x, mean, CI low, CI high), drawn as a line over a shaded band.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Legend text.
    pub name: String,
    /// `(x, y, y_low, y_high)` in increasing x.
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// What a chart shows besides its curves.
pub struct Chart<'a> {
    /// Caption.
    pub title: &'a str,
    /// x-axis description.
    pub x_desc: &'a str,
    /// y-axis description.
    pub y_desc: &'a str,
    /// y range.
    pub y_range: (f64, f64),
    /// A dashed horizontal reference line and its legend text.
    pub reference: Option<(String, f64)>,
}

/// A per-record value, clean (`false`) or attacked (`true`).
type Metric<'a> = &'a dyn Fn(&SegRecord, bool) -> Option<f64>;

fn case_values(rs: &[&SegRecord], adv: bool, value: Metric<'_>) -> Vec<f64> {
    rs.iter().filter_map(|r| value(r, adv)).collect()
}

/// The mean foreground Dice vs ε of `model`, one line per attack with its 95 % bootstrap band
/// (2,000 resamples of the cases), and the clean Dice as a dashed line.
pub fn dice_curve_svg(records: &[SegRecord], model: &str) -> Option<String> {
    let dice =
        |r: &SegRecord, adv: bool| mean_defined(if adv { &r.adv_dice } else { &r.clean_dice });
    let title = format!("{model}: mean tumour Dice under attack");
    metric_curve_svg(
        records,
        model,
        &dice,
        (&title, "mean Dice"),
        Some((0.0, 1.0)),
    )
}

/// Volumes: the mean HD95 (mm) vs ε of `model` likewise; per case the mean over the labels
/// defined both clean and attacked (`None` without HD95 in the records).
pub fn hd95_curve_svg(records: &[SegRecord], model: &str) -> Option<String> {
    let hd = |r: &SegRecord, adv: bool| {
        let h = r.hd95.as_ref()?;
        let (c, a) = paired_means(&h.clean, &h.adv)?;
        Some(if adv { a } else { c })
    };
    let title = format!("{model}: mean HD95 under attack (mm)");
    metric_curve_svg(records, model, &hd, (&title, "mean HD95 (mm)"), None)
}

/// One line per attack of `value`'s mean vs ε with 95 % bootstrap bands, the clean mean as a
/// dashed line; `y_range` `None`: from 0 to 10 % above the highest band.
fn metric_curve_svg(
    records: &[SegRecord],
    model: &str,
    value: Metric<'_>,
    (title, y_desc): (&str, &str),
    y_range: Option<(f64, f64)>,
) -> Option<String> {
    let rs: Vec<&SegRecord> = records.iter().filter(|r| r.model == model).collect();
    let mut attacks: Vec<&str> = Vec::new();
    for r in &rs {
        if !attacks.contains(&r.attack.as_str()) {
            attacks.push(&r.attack);
        }
    }
    let mut curves: Vec<Curve> = Vec::new();
    for (ai, a) in attacks.iter().enumerate() {
        let mut eps: Vec<f64> = rs
            .iter()
            .filter(|r| r.attack == *a)
            .map(|r| r.epsilon)
            .collect();
        eps.sort_by(f64::total_cmp);
        eps.dedup();
        let points: Vec<(f64, f64, f64, f64)> = eps
            .iter()
            .filter_map(|&e| {
                let cell: Vec<&SegRecord> = rs
                    .iter()
                    .copied()
                    .filter(|r| r.attack == *a && r.epsilon == e)
                    .collect();
                let v = case_values(&cell, true, value);
                let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
                let (lo, hi) = bootstrap_mean_ci(&v, 0.95, 2000, 17 + ai as u64)?;
                Some((e, mean, lo, hi))
            })
            .collect();
        curves.push(Curve {
            name: a.to_string(),
            points,
        });
    }
    let clean = case_values(&rs, false, value);
    if clean.is_empty() && curves.iter().all(|c| c.points.is_empty()) {
        return None;
    }
    let clean = clean.iter().sum::<f64>() / clean.len().max(1) as f64;
    let top = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.3))
        .fold(clean, f64::max);
    let chart = Chart {
        title,
        x_desc: "ε (input units, [0, 1] intensities)",
        y_desc,
        y_range: y_range.unwrap_or((0.0, (top * 1.1).max(1e-6))),
        reference: Some((format!("clean {clean:.3}"), clean)),
    };
    curves_svg(&chart, &curves)
}

/// Lines with shaded bands (see [`Curve`]) on one chart; `None` when there is nothing to draw
/// or drawing failed.
pub fn curves_svg(c: &Chart<'_>, curves: &[Curve]) -> Option<String> {
    let max_x = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(0.0f64, f64::max);
    if curves.is_empty() || max_x <= 0.0 {
        return None;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 340)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption(c.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..max_x * 1.02, c.y_range.0..c.y_range.1)
            .ok()?;
        chart
            .configure_mesh()
            .x_desc(c.x_desc)
            .y_desc(c.y_desc)
            .draw()
            .ok()?;
        if let Some((label, y)) = &c.reference {
            let y = *y;
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, y), (max_x * 1.02, y)],
                    6,
                    4,
                    BLACK.mix(0.6).stroke_width(1),
                ))
                .ok()?
                .label(label.clone())
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.6)));
        }
        for (i, curve) in curves.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let pts = &curve.points;
            let band: Vec<(f64, f64)> = pts
                .iter()
                .map(|p| (p.0, p.3))
                .chain(pts.iter().rev().map(|p| (p.0, p.2)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    band,
                    color.mix(0.18).filled(),
                )))
                .ok()?;
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))
                .ok()?
                .label(curve.name.clone())
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
