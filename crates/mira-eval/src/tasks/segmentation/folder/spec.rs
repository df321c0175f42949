//! `[data.folder]`: a user's folder of image/label pairs as the data of an experiment.
//!
//! ```toml
//! [data]
//! source = "folder"
//! train = 200          # at most this many slices per split (evenly spaced over the cases)
//! val = 20
//! test = 40
//! [data.folder]
//! path = "brats_subset"                      # relative to the experiment file
//! channels = ["t1", "t1ce", "t2", "flair"]   # images/<case>_<channel>.nii.gz, or one 4D file
//! label_names = ["background", "necrosis", "oedema", "enhancing"]
//! label_values = [0, 1, 2, 4]                # value in the label files of each class
//! normalise = { kind = "percentile", low = 0.5, high = 99.5 }
//! slice_axis = 2
//! slices = "foreground"
//! size = [128, 128]                          # centre crop / zero pad, [height, width]
//! split = [0.6, 0.2, 0.2]                    # fractions of cases (never of slices)
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{EvalError, Result};

/// A folder of cases: `images/` holds each case's image file(s), `labels/` its label map
/// under the same stem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderSpec {
    /// The dataset folder (relative paths are relative to the experiment file).
    pub path: PathBuf,
    /// Sub-folder of the images.
    #[serde(default = "default_images")]
    pub images: String,
    /// Sub-folder of the label maps (same stem as the case).
    #[serde(default = "default_labels")]
    pub labels: String,
    /// Channel names. A case's channel `c` is the file `<case>_<c>.<ext>` when it exists;
    /// otherwise the file `<case>.<ext>` holds every channel (a 4D NIfTI's fourth axis, a
    /// colour PNG's RGB, or the only channel).
    pub channels: Vec<String>,
    /// Class names; index 0 is the background.
    pub label_names: Vec<String>,
    /// The value in the label files of each class (default `0, 1, …`). Other values are an
    /// error naming the file.
    #[serde(default)]
    pub label_values: Option<Vec<i64>>,
    /// Intensity normalisation to [0, 1], per case and channel.
    #[serde(default)]
    pub normalise: Normalise,
    /// Volumes are cut into 2D slices across this axis (0, 1 or 2; 2D files give one slice).
    #[serde(default = "default_axis")]
    pub slice_axis: usize,
    /// Which slices of a volume are cases.
    #[serde(default)]
    pub slices: SliceSelection,
    /// Centre crop / zero pad every slice to `[height, width]`; without it all slices must
    /// already share one size.
    #[serde(default)]
    pub size: Option<[usize; 2]>,
    /// Fractions of the cases (files, never slices) in train, validation and test, after a
    /// seeded shuffle.
    #[serde(default = "default_split")]
    pub split: [f64; 3],
}

/// How intensities become [0, 1] model units; the result is clipped to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Normalise {
    /// `(v - min) / (max - min)` over the case's volume.
    MinMax,
    /// `(v - p_low) / (p_high - p_low)` with percentiles of the case's volume (robust to
    /// bright outliers; MR).
    Percentile {
        /// Lower percentile, in [0, 100).
        #[serde(default = "default_low")]
        low: f32,
        /// Upper percentile, in (low, 100].
        #[serde(default = "default_high")]
        high: f32,
    },
    /// A CT window in HU: `center ± width / 2` maps to [0, 1].
    CtWindow {
        /// Window centre, HU.
        center: f32,
        /// Window width, HU.
        width: f32,
    },
    /// Values are already in [0, 1] (checked).
    None,
}

impl Default for Normalise {
    fn default() -> Self {
        Normalise::Percentile {
            low: default_low(),
            high: default_high(),
        }
    }
}

/// Which slices of a volume are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SliceSelection {
    /// Slices whose label map has a foreground pixel.
    #[default]
    Foreground,
    /// Every slice.
    All,
}

fn default_images() -> String {
    "images".into()
}
fn default_labels() -> String {
    "labels".into()
}
fn default_axis() -> usize {
    2
}
fn default_split() -> [f64; 3] {
    [0.6, 0.2, 0.2]
}
fn default_low() -> f32 {
    0.5
}
fn default_high() -> f32 {
    99.5
}

impl Normalise {
    /// Checks the parameters.
    ///
    /// # Errors
    /// Percentiles out of order or range, a window of non-positive width.
    pub fn validate(&self, field: &str) -> Result<()> {
        match *self {
            Normalise::Percentile { low, high } if !(0.0 <= low && low < high && high <= 100.0) => {
                Err(EvalError::invalid(
                    field,
                    format!("percentiles need 0 <= low < high <= 100, got {low} and {high}"),
                ))
            }
            Normalise::CtWindow { center, width } if !(center.is_finite() && width > 0.0) => {
                Err(EvalError::invalid(
                    field,
                    format!(
                        "a CT window needs a finite centre and a width > 0, got {center}, {width}"
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

impl FolderSpec {
    /// The value in the label files of each class.
    pub fn label_values(&self) -> Vec<i64> {
        self.label_values
            .clone()
            .unwrap_or_else(|| (0..self.label_names.len() as i64).collect())
    }

    /// Checks everything that does not need the files.
    ///
    /// # Errors
    /// The first invalid field, named `data.folder.*`.
    pub fn validate(&self) -> Result<()> {
        let inv = |f: &str, r: String| EvalError::invalid(format!("data.folder.{f}"), r);
        if self.channels.is_empty() || self.channels.len() > 64 {
            return Err(inv("channels", "name 1 to 64 channels".into()));
        }
        for (i, c) in self.channels.iter().enumerate() {
            if c.is_empty() || c.contains(['/', '\\']) || self.channels[..i].contains(c) {
                return Err(inv(
                    &format!("channels[{i}]"),
                    format!("`{c}` must be a non-empty, unique name without slashes"),
                ));
            }
        }
        if !(2..=255).contains(&self.label_names.len()) {
            return Err(inv(
                "label_names",
                "name 2 to 255 classes, background first".into(),
            ));
        }
        let values = self.label_values();
        if values.len() != self.label_names.len() {
            return Err(inv(
                "label_values",
                format!(
                    "{} values for {} classes",
                    values.len(),
                    self.label_names.len()
                ),
            ));
        }
        if let Some((i, v)) = values
            .iter()
            .enumerate()
            .find(|(i, v)| values[..*i].contains(v))
        {
            return Err(inv(&format!("label_values[{i}]"), format!("{v} repeats")));
        }
        self.normalise.validate("data.folder.normalise")?;
        if self.slice_axis > 2 {
            return Err(inv("slice_axis", "must be 0, 1 or 2".into()));
        }
        if let Some([h, w]) = self.size
            && !((8..=4096).contains(&h) && (8..=4096).contains(&w))
        {
            return Err(inv("size", format!("[{h}, {w}] must be in 8..=4096")));
        }
        let s = self.split;
        if s.iter().any(|f| !(f.is_finite() && *f >= 0.0)) || s[2] <= 0.0 {
            return Err(inv(
                "split",
                "fractions must be >= 0 and the test fraction > 0".into(),
            ));
        }
        if (s.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
            return Err(inv("split", format!("{s:?} must sum to 1")));
        }
        if self.images.is_empty() || self.labels.is_empty() {
            return Err(inv("images", "sub-folder names must not be empty".into()));
        }
        Ok(())
    }
}
