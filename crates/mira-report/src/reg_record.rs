//! The per-case record of a registration attack (study S0).

use serde::{Deserialize, Serialize};

/// One attacked registration case: the true transform, the clean and adversarial predictions,
/// their TRE, and the perturbation actually applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegRecord {
    /// Model name from the experiment.
    pub model: String,
    /// Attack name from the experiment.
    pub attack: String,
    /// Which image the adversary may change: `moving`, `fixed` or `both`.
    pub image: String,
    /// `linf` or `l2`.
    pub norm: String,
    /// Budget in model-input units.
    pub epsilon: f64,
    /// Index of the pair in the test set.
    pub case: usize,
    /// Index of the source image the pair was cut from.
    pub source: usize,
    /// Unit of TRE and tolerance: `mm` (with a pixel spacing) or `px`.
    pub unit: String,
    /// Passing tolerance, in `unit`.
    pub tolerance: f64,
    /// True (θ degrees, tx, ty in `unit`).
    pub truth: [f64; 3],
    /// Prediction on the clean pair.
    pub clean_pred: [f64; 3],
    /// Prediction on the adversarial pair.
    pub adv_pred: [f64; 3],
    /// TRE of the clean prediction, in `unit`.
    pub clean_tre: f64,
    /// TRE of the adversarial prediction, in `unit`.
    pub adv_tre: f64,
    /// Achieved L∞ norm of the perturbation.
    pub linf: f64,
    /// Achieved L2 norm of the perturbation.
    pub l2: f64,
    /// Min-norm attacks: the smallest budget found that makes the pair fail (TRE above the
    /// tolerance; `None`: passes within the cap; 0: fails clean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_norm: Option<f64>,
    /// `auto`: the member whose input is kept (`apgd`, `square`; `clean` when no member
    /// raised the case's TRE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Early-stopped attacks: the steps after which the pair was found failing and stopped
    /// (0: failing at its starting point, not attacked); absent when it ran every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<usize>,
    /// PSNR and SSIM of the attacked input against the clean one (absent in records written
    /// before they were measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perceptibility: Option<crate::Perceptibility>,
    /// A corruption entry with `draws` > 1: which of the case's draws (1-based; absent for
    /// attacks and single draws).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<usize>,
}

impl RegRecord {
    /// Key of the cell this record belongs to.
    pub fn cell(&self) -> (String, String, u64) {
        (
            self.model.clone(),
            self.attack.clone(),
            self.epsilon.to_bits(),
        )
    }

    /// The clean prediction passes.
    pub fn clean_pass(&self) -> bool {
        self.clean_tre <= self.tolerance
    }

    /// The adversarial prediction passes.
    pub fn adv_pass(&self) -> bool {
        self.adv_tre <= self.tolerance
    }
}
