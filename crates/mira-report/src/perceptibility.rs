//! How visible a perturbation is: PSNR and Gaussian SSIM between the clean and the adversarial
//! model input of one case, per channel and mean, in every task's records; and the table that
//! sets a cell's damage beside its SSIM and PSNR.
//!
//! Parameters are MONAI's and scikit-image's (σ 1.5, K1 0.01, K2 0.03, data range 1: the model
//! units) with an 11-tap window in 2D and a 7-tap window in 3D; an axis shorter than the
//! window takes the largest odd window that fits it (the record says which, `window`).

use serde::{Deserialize, Serialize};

use mira_stats::{SsimOptions, psnr, ssim_per_channel};

use crate::TextTable;

/// PSNR and SSIM of one adversarial input against its clean input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Perceptibility {
    /// PSNR in dB over every channel (`None`: the inputs are identical, PSNR infinite).
    pub psnr: Option<f64>,
    /// Mean SSIM over the channels.
    pub ssim: f64,
    /// SSIM per channel.
    pub ssim_channels: Vec<f64>,
    /// Taps of the SSIM window along each axis.
    pub window: usize,
}

impl Perceptibility {
    /// PSNR and SSIM of `adv` against `clean`, both laid out `[C, spatial…]` in C order with
    /// `shape = [C, …]` (2 or 3 spatial axes), in model units (data range 1). `None` when the
    /// shape cannot be measured (an axis shorter than 3, values that are not finite).
    pub fn measure(adv: &[f32], clean: &[f32], shape: &[usize]) -> Option<Self> {
        let spatial = shape.get(1..).filter(|s| matches!(s.len(), 2 | 3))?;
        let default = if spatial.len() == 2 { 11 } else { 7 };
        let shortest = *spatial.iter().min()?;
        let window = default.min(if shortest % 2 == 1 {
            shortest
        } else {
            shortest.saturating_sub(1)
        });
        if window < 3 {
            return None;
        }
        let ssim_channels =
            ssim_per_channel(clean, adv, shape, SsimOptions::gaussian(window)).ok()?;
        let p = psnr(clean, adv, 1.0).ok()?;
        let ssim = ssim_channels.iter().sum::<f64>() / ssim_channels.len().max(1) as f64;
        Some(Self {
            psnr: p.is_finite().then_some(p),
            ssim,
            ssim_channels,
            window,
        })
    }
}

/// One cell's records reduced for the table: its name, budget, damage and measurements.
pub struct PerceptRow<'a> {
    /// Model and attack.
    pub model: &'a str,
    pub attack: &'a str,
    /// The budget as written in the records.
    pub epsilon: f64,
    /// The task's damage of the case (`None`: undefined for this case).
    pub damage: Option<f64>,
    /// The case's measurements.
    pub percept: Option<&'a Perceptibility>,
}

/// A record that carries a perceptibility measurement and the task's damage of its case.
pub trait Perceived {
    /// The record's cell, damage and measurement.
    fn percept_row(&self) -> PerceptRow<'_>;
    /// What the damage is (a column name: "mean Dice drop").
    const DAMAGE: &'static str;
    /// The budget's column name ("ε"; a synthesis target "target Δ").
    const BUDGET: &'static str = "ε";
}

/// The table of mean SSIM, lowest SSIM and median PSNR per (model, attack, budget) beside the
/// mean damage, in the order cells first appear; `None` when no record carries measurements.
pub fn perceptibility_table<R: Perceived>(records: &[R]) -> Option<TextTable> {
    let rows: Vec<PerceptRow<'_>> = records.iter().map(Perceived::percept_row).collect();
    let (damage, budget) = (R::DAMAGE, R::BUDGET);
    /// A cell's name and its cases' SSIM, PSNR and damage.
    type Acc<'a> = (&'a str, &'a str, f64, Vec<f64>, Vec<f64>, Vec<f64>);
    let mut cells: Vec<Acc<'_>> = Vec::new();
    for r in &rows {
        let Some(p) = r.percept else { continue };
        let i = match cells
            .iter()
            .position(|c| c.0 == r.model && c.1 == r.attack && c.2 == r.epsilon)
        {
            Some(i) => i,
            None => {
                cells.push((r.model, r.attack, r.epsilon, vec![], vec![], vec![]));
                cells.len() - 1
            }
        };
        let c = &mut cells[i];
        c.3.push(p.ssim);
        c.4.push(p.psnr.unwrap_or(f64::INFINITY));
        if let Some(d) = r.damage {
            c.5.push(d);
        }
    }
    if cells.is_empty() {
        return None;
    }
    let fmt = |v: f64| {
        if v.is_finite() {
            format!("{v:.4}")
        } else {
            "∞".to_string()
        }
    };
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let rows = cells
        .into_iter()
        .map(|(m, a, e, ssim, mut psnr, dmg)| {
            psnr.sort_by(f64::total_cmp);
            let lowest = ssim.iter().copied().fold(f64::INFINITY, f64::min);
            vec![
                m.to_string(),
                a.to_string(),
                format!("{e}"),
                ssim.len().to_string(),
                mean(&dmg).map_or("–".into(), |d| format!("{d:.4}")),
                fmt(mean(&ssim).unwrap_or(f64::NAN)),
                fmt(lowest),
                fmt(psnr[psnr.len() / 2]),
            ]
        })
        .collect();
    Some(TextTable {
        charts: Vec::new(),
        title: "Perceptibility".into(),
        caption: format!(
            "Damage beside how visible the perturbation is, per cell: SSIM (Gaussian, σ 1.5, \
             11-tap window in 2D, 7 in 3D, K1 0.01, K2 0.03, data range 1 in model units; mean \
             over channels, then over cases; 1 = identical) and PSNR in dB (median over cases; \
             ∞ = identical). Damage: {damage}."
        ),
        header: [
            "model",
            "attack",
            budget,
            "cases",
            damage,
            "mean SSIM",
            "lowest SSIM",
            "median PSNR (dB)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows,
    })
}

impl Perceived for crate::SegRecord {
    const DAMAGE: &'static str = "mean Dice drop";
    fn percept_row(&self) -> PerceptRow<'_> {
        let (c, a) = (
            mira_stats::mean_defined(&self.clean_dice),
            mira_stats::mean_defined(&self.adv_dice),
        );
        PerceptRow {
            model: &self.model,
            attack: &self.attack,
            epsilon: self.epsilon,
            damage: c.zip(a).map(|(c, a)| c - a),
            percept: self.perceptibility.as_ref(),
        }
    }
}

impl Perceived for crate::RegRecord {
    const DAMAGE: &'static str = "mean TRE rise";
    fn percept_row(&self) -> PerceptRow<'_> {
        PerceptRow {
            model: &self.model,
            attack: &self.attack,
            epsilon: self.epsilon,
            damage: Some(self.adv_tre - self.clean_tre),
            percept: self.perceptibility.as_ref(),
        }
    }
}

impl Perceived for crate::AgeRecord {
    const DAMAGE: &'static str = "mean absolute-error rise (years)";
    fn percept_row(&self) -> PerceptRow<'_> {
        PerceptRow {
            model: &self.model,
            attack: &self.attack,
            epsilon: self.epsilon,
            damage: Some((self.adv_pred - self.age).abs() - (self.clean_pred - self.age).abs()),
            percept: self.perceptibility.as_ref(),
        }
    }
}

impl Perceived for crate::ShapeRecord {
    const DAMAGE: &'static str = "mean MRSE rise";
    fn percept_row(&self) -> PerceptRow<'_> {
        PerceptRow {
            model: &self.model,
            attack: &self.attack,
            epsilon: self.epsilon,
            damage: Some(self.adv_mrse - self.clean_mrse),
            percept: self.perceptibility.as_ref(),
        }
    }
}

impl Perceived for crate::SynthRecord {
    const DAMAGE: &'static str = "mean Dice drop";
    const BUDGET: &'static str = "target Δ";
    fn percept_row(&self) -> PerceptRow<'_> {
        PerceptRow {
            model: &self.model,
            attack: &self.method,
            epsilon: self.target,
            damage: Some(self.drop),
            percept: self.perceptibility.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_inputs_are_invisible_and_noise_is_not() {
        let clean: Vec<f32> = (0..2 * 16 * 16).map(|i| (i % 17) as f32 / 17.0).collect();
        let same = Perceptibility::measure(&clean, &clean, &[2, 16, 16]).unwrap();
        assert_eq!(same.psnr, None);
        assert!((same.ssim - 1.0).abs() < 1e-12 && same.window == 11);
        let adv: Vec<f32> = clean
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { 0.05 } else { -0.05 })
            .collect();
        let p = Perceptibility::measure(&adv, &clean, &[2, 16, 16]).unwrap();
        // MSE 0.0025: PSNR = 10·log10(1 / 0.0025) = 26.02 dB.
        assert!((p.psnr.unwrap() - 26.0206).abs() < 1e-3, "{p:?}");
        assert!(p.ssim < 0.99 && p.ssim_channels.len() == 2);
        // A 3D volume of side 5 takes a 5-tap window; side 2 cannot be measured.
        let v = vec![0.5f32; 5 * 5 * 5];
        assert_eq!(
            Perceptibility::measure(&v, &v, &[1, 5, 5, 5])
                .unwrap()
                .window,
            5
        );
        assert!(Perceptibility::measure(&v[..8], &v[..8], &[1, 2, 2, 2]).is_none());
    }
}
