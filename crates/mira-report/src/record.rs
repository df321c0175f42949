//! The per-case record of a segmentation attack.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ReportError, Result};

/// One attacked case: clean and adversarial Dice, and the perturbation actually applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegRecord {
    /// Model name from the experiment.
    pub model: String,
    /// Attack name from the experiment.
    pub attack: String,
    /// `untargeted`, `remove_tumour`, `relabel a->b`.
    pub goal: String,
    /// `linf` or `l2`.
    pub norm: String,
    /// Budget in model-input units.
    pub epsilon: f64,
    /// Index of the case in the test set.
    pub case: usize,
    /// Names of the foreground labels the Dice vectors refer to.
    pub labels: Vec<String>,
    /// Dice per foreground label on the clean input (`None` = undefined).
    pub clean_dice: Vec<Option<f64>>,
    /// Dice per foreground label on the adversarial input.
    pub adv_dice: Vec<Option<f64>>,
    /// Targeted goals: mean Dice (background included) between prediction and target, clean.
    pub clean_target_dice: Option<f64>,
    /// Targeted goals: the same on the adversarial input.
    pub adv_target_dice: Option<f64>,
    /// Targeted goals: fraction of the pixels the goal changes (target ≠ truth) predicted
    /// as the target, clean (`None` when the goal changes nothing on this case).
    #[serde(default)]
    pub clean_target_match: Option<f64>,
    /// Targeted goals: the same on the adversarial input (the attack's success rate).
    #[serde(default)]
    pub adv_target_match: Option<f64>,
    /// Achieved L∞ norm of the perturbation.
    pub linf: f64,
    /// Achieved L2 norm of the perturbation.
    pub l2: f64,
    /// Min-norm attacks: the smallest budget found that breaks the case (`None`: not broken
    /// within the cap; 0: broken clean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_norm: Option<f64>,
    /// `auto`: the member whose input is kept (`apgd`, `square`; `clean` when no member
    /// raised the case's score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Early-stopped attacks: the steps after which the case was found broken and stopped
    /// (0: broken at its starting point, not attacked: the clean input, or PGD's random
    /// start); absent when it ran every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<usize>,
    /// Volumes: the 95th-percentile Hausdorff distance per foreground label (absent for 2D
    /// slices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hd95: Option<Hd95>,
    /// PSNR and SSIM of the attacked input against the clean one (absent in records written
    /// before they were measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perceptibility: Option<crate::Perceptibility>,
    /// A corruption entry with `draws` > 1: which of the case's draws (1-based; absent for
    /// attacks and single draws).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<usize>,
    /// Per connected component of the truth (`sweep.size_bins` set): its label, size and
    /// lesion-wise Dice, clean and attacked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesions: Option<Vec<Lesion>>,
}

/// HD95 (mm, MONAI's `compute_hausdorff_distance(percentile=95)` semantics; `null` where the
/// prediction or the truth of a label is empty) of the clean and the attacked prediction of a
/// volume, per foreground label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hd95 {
    /// Clean prediction against the truth.
    pub clean: Vec<Option<f64>>,
    /// Attacked prediction against the truth.
    pub adv: Vec<Option<f64>>,
}

impl SegRecord {
    /// Key of the cell this record belongs to.
    pub fn cell(&self) -> (String, String, u64) {
        (
            self.model.clone(),
            self.attack.clone(),
            self.epsilon.to_bits(),
        )
    }
}

/// Reads a JSONL file of records. A final line without its newline (a write cut short) is
/// ignored; any other malformed line is an error.
///
/// # Errors
/// I/O failures and malformed lines, with the line number.
pub fn read_records(path: &Path) -> Result<Vec<SegRecord>> {
    read_jsonl(path)
}

/// Reads a JSONL file of any record type, with the rules of [`read_records`].
///
/// # Errors
/// I/O failures and malformed lines, with the line number.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    complete
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| ReportError::Malformed {
                path: path.display().to_string(),
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// One connected component of a case's truth and its lesion-wise Dice (BraTS 2023 rule without
/// dilation; `mira_stats::lesion_dice`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lesion {
    /// The label's index among the foreground labels (0 = the first, as in `labels`).
    pub label: usize,
    /// Pixels (voxels).
    pub size: usize,
    /// Dice of the clean prediction.
    pub clean: f64,
    /// Dice of the attacked prediction.
    pub adv: f64,
    /// Volumes: HD95 (mm) of the component against the clean prediction's overlapping
    /// components (`None`: missed, or not a volume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hd95_clean: Option<f64>,
    /// The same for the attacked prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hd95_adv: Option<f64>,
}

/// A record that belongs to a (model, attack, ε) cell: what resuming a run needs.
pub trait CellRecord: Serialize + serde::de::DeserializeOwned {
    /// Key of the cell (model, attack, ε bits).
    fn cell_key(&self) -> (String, String, u64);
}

impl CellRecord for SegRecord {
    fn cell_key(&self) -> (String, String, u64) {
        self.cell()
    }
}

impl CellRecord for crate::RegRecord {
    fn cell_key(&self) -> (String, String, u64) {
        self.cell()
    }
}
