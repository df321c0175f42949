//! Budgets of a files experiment in the units its users think in.
//!
//! The attack and the runner's re-check work in model units (`[0, 1]` after normalisation);
//! users state budgets as `epsilons` (model units), `epsilons_hu` (CT with a window: one model
//! unit is the window's width in HU, so ε = HU / width) or `epsilons_percent` (a share of the
//! normalisation range of each case and channel: ε = % / 100). Each budget is recorded in both
//! units; the manifest states the conversion.

use crate::tasks::files::FilesExperiment;
use crate::tasks::segmentation::folder::Normalise;
use crate::{EvalError, Result};

/// One budget: in model units, and as stated in the experiment's physical unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Model units: what the attack and the re-check use.
    pub model: f32,
    /// In `unit` (HU for a CT window, % of the normalisation range otherwise).
    pub physical: f64,
    /// `"HU"` or `"%"`.
    pub unit: &'static str,
}

impl FilesExperiment {
    /// The window width (HU) of a CT normalisation.
    fn ct_width(&self) -> Option<f32> {
        match self.normalise {
            Normalise::CtWindow { width, .. } => Some(width),
            _ => None,
        }
    }

    /// The budgets in model units with their physical values, in the order given.
    ///
    /// # Errors
    /// No list or more than one list of budgets; HU budgets without a CT window.
    pub fn budgets(&self) -> Result<Vec<Budget>> {
        let given = [
            !self.epsilons.is_empty(),
            self.epsilons_hu.is_some(),
            self.epsilons_percent.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(EvalError::invalid(
                "epsilons",
                "give exactly one of `epsilons` (model units), `epsilons_hu` (CT) or \
                 `epsilons_percent` (share of the normalisation range)",
            ));
        }
        let width = self.ct_width();
        if let Some(hu) = &self.epsilons_hu {
            let w = width.ok_or_else(|| {
                EvalError::invalid(
                    "epsilons_hu",
                    "needs a CT window (`normalise = { kind = \"ct_window\", ... }`, `--normalise \
                     ct:CENTER,WIDTH`): a HU budget is a share of its width",
                )
            })?;
            return Ok(hu
                .iter()
                .map(|&h| Budget {
                    model: h / w,
                    physical: f64::from(h),
                    unit: "HU",
                })
                .collect());
        }
        if let Some(p) = &self.epsilons_percent {
            return Ok(p
                .iter()
                .map(|&p| Budget {
                    model: p / 100.0,
                    physical: f64::from(p),
                    unit: "%",
                })
                .collect());
        }
        Ok(self
            .epsilons
            .iter()
            .map(|&e| match width {
                Some(w) => Budget {
                    model: e,
                    physical: f64::from(e) * f64::from(w),
                    unit: "HU",
                },
                None => Budget {
                    model: e,
                    physical: f64::from(e) * 100.0,
                    unit: "%",
                },
            })
            .collect())
    }

    /// The budgets in model units (empty when they are not valid; `validate` says why).
    pub fn model_epsilons(&self) -> Vec<f32> {
        self.budgets()
            .map(|b| b.iter().map(|b| b.model).collect())
            .unwrap_or_default()
    }

    /// The budget `eps` (model units) in physical units.
    pub fn physical(&self, eps: f32) -> Option<Budget> {
        self.budgets().ok()?.into_iter().find(|b| b.model == eps)
    }

    /// The key the budgets are stated under.
    pub(crate) fn budget_field(&self) -> &'static str {
        if self.epsilons_hu.is_some() {
            "epsilons_hu"
        } else if self.epsilons_percent.is_some() {
            "epsilons_percent"
        } else {
            "epsilons"
        }
    }

    /// How budgets convert, for the manifest.
    pub(crate) fn budget_units(&self) -> Vec<String> {
        let stated = match self.budget_field() {
            "epsilons" => "epsilons (model units)",
            other => other,
        };
        let rule = match &self.normalise {
            Normalise::CtWindow { center, width } => format!(
                "one model unit is the CT window's width: ε (model) = ε (HU) / {width} \
                 (window {center} ± {} HU); outside the window the model sees clipped values",
                width / 2.0
            ),
            other => {
                let range = match other {
                    Normalise::MinMax => "min–max".to_string(),
                    Normalise::Percentile { low, high } => format!("{low}–{high} percentile"),
                    _ => "identity ([0, 1] already)".to_string(),
                };
                format!(
                    "one model unit is the {range} normalisation range of each case and \
                     channel: ε (model) = ε (%) / 100; in file units a budget is ε · (hi − lo) \
                     per case and channel (records' `scales`)"
                )
            }
        };
        vec![format!("budgets stated as {stated}; {rule}")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(extra: &str) -> FilesExperiment {
        toml::from_str(&format!(
            "name = \"x\"\nmodel = \"m\"\ninput = \"i\"\n{extra}\n[attack]\nname = \"fgsm\"\n\
             kind = \"fgsm\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn hu_budgets_are_shares_of_the_window_width() {
        let e = exp(
            "epsilons_hu = [5.0, 10.0, 20.0]\nnormalise = { kind = \"ct_window\", center = 40.0, \
             width = 400.0 }",
        );
        let b = e.budgets().unwrap();
        assert_eq!(e.model_epsilons(), vec![0.0125, 0.025, 0.05]);
        assert_eq!((b[1].physical, b[1].unit), (10.0, "HU"));
        assert_eq!(e.physical(0.05).unwrap().physical, 20.0);
        assert!(e.budget_units()[0].contains("/ 400"));
        // HU without a CT window, two lists, or none: refused.
        assert!(exp("epsilons_hu = [5.0]").budgets().is_err());
        assert!(
            exp("epsilons = [0.1]\nepsilons_percent = [1.0]")
                .budgets()
                .is_err()
        );
        assert!(exp("").budgets().is_err());
        let p = exp("epsilons_percent = [0.5, 2.0]");
        assert_eq!(p.model_epsilons(), vec![0.005, 0.02]);
        // Model units under a CT window are reported in HU too.
        let m = exp(
            "epsilons = [0.02]\nnormalise = { kind = \"ct_window\", center = 40.0, width = 400.0 }",
        );
        assert!((m.budgets().unwrap()[0].physical - 8.0).abs() < 1e-5);
    }
}
