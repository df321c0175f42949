//! The registration experiment file (study S0): `task = "registration"`, image sources, pair
//! geometry, networks, attacks on the moving and/or fixed image, budgets.

use std::path::{Path, PathBuf};

use mira_nn::{PairMode, PairNetConfig};
use mira_train::RegTrainConfig;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::checks::ProbeConfig;
use crate::spec::{AttackScope, attack_entry, inv, relative_all};
use crate::tasks::segmentation::SweepSpec;

/// The task tag of registration experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegTask {
    /// 2D rigid registration.
    Registration,
}

/// A whole registration experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegExperiment {
    /// Always `registration`.
    pub task: RegTask,
    /// Name, used for the default output folder.
    pub name: String,
    /// Master seed.
    #[serde(default)]
    pub seed: u64,
    /// Sources and pair geometry.
    pub data: RegDataSpec,
    /// How models without a checkpoint are trained.
    #[serde(default)]
    pub training: RegTrainConfig,
    /// The networks.
    pub models: Vec<RegModelEntry>,
    /// The attacks.
    pub attacks: Vec<RegAttackEntry>,
    /// Scanner artefacts and natural corruptions evaluated beside the attacks
    /// (`[[corruptions]]`; both images of a pair corrupted; docs/corruptions.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub corruptions: Vec<crate::spec::CorruptionEntry>,
    /// The budgets.
    pub sweep: SweepSpec,
    /// Sanity checks.
    #[serde(default)]
    pub checks: RegChecks,
}

/// Where pairs come from and how they are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegDataSpec {
    /// Side of the fixed and moving images, pixels.
    pub size: usize,
    /// Rotations drawn from ±this many degrees.
    pub max_rotation_deg: f64,
    /// Translations drawn from ±this much per axis: mm for X-ray models, px for natural ones.
    pub max_translation: f64,
    /// Nominal pixel spacing of X-ray images, mm (the radiograph file has none).
    pub xray_spacing_mm: f64,
    /// `auto` (the shared chest radiograph when present, else the X-ray phantom), `phantom`,
    /// or a path to a DICOM radiograph (relative paths: relative to the experiment file).
    pub radiograph: String,
    /// Box downsampling of the radiograph before crops are cut.
    pub radiograph_downsample: usize,
    /// With the radiograph: also train on the X-ray phantom subjects (validation and test
    /// stay on radiograph tiles).
    pub radiograph_with_phantoms: bool,
    /// Side of each phantom source image (X-ray phantom, natural image), pixels.
    pub source_size: usize,
    /// Source images per split (phantoms); the radiograph is split by bands of rows.
    pub train_images: usize,
    /// Validation source images.
    pub val_images: usize,
    /// Test source images.
    pub test_images: usize,
    /// Validation pairs.
    pub val_pairs: usize,
    /// Test pairs (the cases that are attacked).
    pub test_pairs: usize,
    /// Gaussian noise of validation and test images.
    pub noise: f32,
}

impl Default for RegDataSpec {
    fn default() -> Self {
        Self {
            size: 64,
            max_rotation_deg: 15.0,
            max_translation: 10.0,
            xray_spacing_mm: 0.4,
            radiograph: "auto".into(),
            radiograph_downsample: 2,
            radiograph_with_phantoms: false,
            source_size: 192,
            train_images: 48,
            val_images: 8,
            test_images: 16,
            val_pairs: 64,
            test_pairs: 100,
            noise: 0.01,
        }
    }
}

/// The image family a model is trained and tested on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegSourceKind {
    /// Chest X-ray: the radiograph when one is found (`data.radiograph`), else the X-ray
    /// phantom; TRE in mm.
    Xray,
    /// The X-ray phantom, whatever `data.radiograph` says; TRE in mm.
    #[serde(rename = "xray_phantom")]
    XrayPhantom,
    /// Natural-like images; TRE in pixels.
    Natural,
}

/// One registration network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegModelEntry {
    /// Name in records and tables.
    pub name: String,
    /// Image family: `xray`, `xray_phantom` or `natural`.
    pub source: RegSourceKind,
    /// `stacked` (2-channel input, default) or `siamese` (shared backbone per image).
    #[serde(default = "default_mode")]
    pub mode: PairMode,
    /// Stem width of the backbone.
    #[serde(default)]
    pub width: Option<usize>,
    /// Dropout of the head during training.
    #[serde(default)]
    pub dropout: Option<f64>,
    /// Passing tolerance: mm for X-ray (default 2), px for natural images (default 5).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// Translation range for this model (mm for X-ray, px for natural); default
    /// `data.max_translation`.
    #[serde(default)]
    pub max_translation: Option<f64>,
    /// A checkpoint folder written by an earlier run (`models/NAME`); nothing is trained.
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// An ONNX registration network: the stacked pair `[B, 2, H, W]` (fixed, moving; values in
    /// [0, 1]) in, `[B, 3]` (θ degrees, tx px, ty px) out (docs/models.md). Nothing is
    /// trained; no checkpoint, width or dropout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<PathBuf>,
}

fn default_mode() -> PairMode {
    PairMode::Stacked
}

impl RegModelEntry {
    /// The tolerance in the model's unit.
    pub fn tolerance(&self) -> f64 {
        self.tolerance.unwrap_or(match self.source {
            RegSourceKind::Xray | RegSourceKind::XrayPhantom => 2.0,
            RegSourceKind::Natural => 5.0,
        })
    }

    /// Pixel spacing of the model's images (`None`: pixels are the unit).
    pub fn spacing_mm(&self, data: &RegDataSpec) -> Option<f64> {
        match self.source {
            RegSourceKind::Xray | RegSourceKind::XrayPhantom => Some(data.xray_spacing_mm),
            RegSourceKind::Natural => None,
        }
    }

    /// Translations in pixels.
    pub fn max_translation_px(&self, data: &RegDataSpec) -> f64 {
        self.max_translation.unwrap_or(data.max_translation) / self.spacing_mm(data).unwrap_or(1.0)
    }

    /// The network to train.
    pub fn net(&self, data: &RegDataSpec) -> PairNetConfig {
        let d = PairNetConfig::default();
        let t = self.max_translation_px(data) as f32;
        PairNetConfig {
            mode: self.mode,
            width: self.width.unwrap_or(d.width),
            hidden: d.hidden,
            dropout: self.dropout.unwrap_or(d.dropout),
            scales: [
                data.max_rotation_deg.max(1.0) as f32,
                t.max(1.0),
                t.max(1.0),
            ],
        }
    }
}

/// Which image(s) the adversary perturbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AttackedImage {
    /// The moving image only.
    #[default]
    Moving,
    /// The fixed image only.
    Fixed,
    /// Both: per pixel within ε (L∞), or jointly within ε (L2).
    Both,
}

impl AttackedImage {
    /// Name in records.
    pub fn describe(&self) -> &'static str {
        match self {
            AttackedImage::Moving => "moving",
            AttackedImage::Fixed => "fixed",
            AttackedImage::Both => "both",
        }
    }

    /// The 0/1 mask over the (fixed, moving) channels.
    pub fn mask(&self) -> [f32; 2] {
        match self {
            AttackedImage::Moving => [0.0, 1.0],
            AttackedImage::Fixed => [1.0, 0.0],
            AttackedImage::Both => [1.0, 1.0],
        }
    }
}

attack_entry! {
    /// One attack entry of a registration experiment.
    pub struct RegAttackEntry(scope: AttackScope, default "apgd") {
        /// The image(s) perturbed.
        #[serde(default)]
        pub image: AttackedImage,
        /// Early stopping (FGSM, i-FGSM, PGD with one restart): at the starting point and every
        /// this many steps, pairs already failing (TRE above the model's tolerance) stop and leave
        /// the batch. A pair that failed at a check stays failed (passing rates are never higher
        /// than the full attack's); its TRE is measured where it failed, not at the full attack's
        /// end (the `early-stop` notice says so).
        #[serde(default)]
        pub early_stop: Option<usize>,
    }
}

/// Sanity checks of a registration run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegChecks {
    /// Warn when the passing rate rises with ε by more than this share.
    pub monotone_tolerance: f64,
    /// Pictures of at most this many abrupt-change cases per (model, attack).
    pub abrupt_examples: usize,
    /// The model probes (`[checks.probes]`; tolerance in TRE units, default a tenth of each
    /// model's passing tolerance).
    pub probes: ProbeConfig,
}

impl Default for RegChecks {
    fn default() -> Self {
        Self {
            monotone_tolerance: 0.03,
            abrupt_examples: 4,
            probes: ProbeConfig::default(),
        }
    }
}

impl RegExperiment {
    /// Relative paths of the file (checkpoints, the radiograph) are relative to its folder
    /// `base`.
    pub(crate) fn resolve_paths(&mut self, base: &Path) {
        relative_all(
            base,
            self.models
                .iter_mut()
                .flat_map(|m| m.checkpoint.as_mut().into_iter().chain(m.onnx.as_mut())),
        );
        let r = &self.data.radiograph;
        if r != "auto" && r != "phantom" && Path::new(r).is_relative() {
            self.data.radiograph = base.join(r).display().to_string();
        }
    }

    /// Checks every value serde cannot.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<()> {
        crate::spec::check_name("name", &self.name)?;
        let d = &self.data;
        if !(16..=512).contains(&d.size) {
            return Err(inv("data.size", "must be in 16..=512"));
        }
        if !(0.0..=45.0).contains(&d.max_rotation_deg) {
            return Err(inv("data.max_rotation_deg", "must be in [0, 45]"));
        }
        if !(d.xray_spacing_mm.is_finite() && d.xray_spacing_mm > 0.0 && d.xray_spacing_mm <= 10.0)
        {
            return Err(inv("data.xray_spacing_mm", "must be in (0, 10]"));
        }
        if !(1..=64).contains(&d.radiograph_downsample) {
            return Err(inv("data.radiograph_downsample", "must be in 1..=64"));
        }
        if d.radiograph != "auto"
            && d.radiograph != "phantom"
            && !Path::new(&d.radiograph).is_file()
        {
            return Err(inv(
                "data.radiograph",
                format!(
                    "{} is not a file (or say \"auto\" / \"phantom\")",
                    d.radiograph
                ),
            ));
        }
        if d.train_images == 0 || d.val_images == 0 || d.test_images == 0 {
            return Err(inv(
                "data",
                "train_images, val_images and test_images must be >= 1",
            ));
        }
        if !(1..=100_000).contains(&d.test_pairs) || !(1..=100_000).contains(&d.val_pairs) {
            return Err(inv(
                "data",
                "val_pairs and test_pairs must be in 1..=100000",
            ));
        }
        if !(0.0..=0.5).contains(&d.noise) {
            return Err(inv("data.noise", "must be in [0, 0.5]"));
        }
        if !(d.size + 16..=4096).contains(&d.source_size) {
            return Err(inv("data.source_size", "must be in size+16..=4096"));
        }
        let names: Vec<&str> = self.models.iter().map(|x| x.name.as_str()).collect();
        crate::spec::check_list("models", &names)?;
        let trains = self
            .models
            .iter()
            .any(|m| m.checkpoint.is_none() && m.onnx.is_none());
        crate::spec::check_training(trains, || self.training.validate())?;
        for (i, m) in self.models.iter().enumerate() {
            let f = format!("models[{i}]");
            let tol = m.tolerance();
            if !(tol.is_finite() && tol > 0.0) {
                return Err(inv(format!("{f}.tolerance"), "must be > 0"));
            }
            let t_px = m.max_translation_px(d);
            if !(0.0..=d.size as f64 / 2.0).contains(&t_px) {
                return Err(inv(
                    "data.max_translation",
                    format!("{t_px:.1} px for {}: must be in [0, size / 2]", m.name),
                ));
            }
            m.net(d)
                .validate()
                .map_err(|e| inv(f.as_str(), e.to_string()))?;
            if let Some(o) = &m.onnx {
                let others = m.checkpoint.is_some()
                    || m.width.is_some()
                    || m.dropout.is_some()
                    || m.mode != PairMode::Stacked;
                if others {
                    return Err(inv(
                        format!("{f}.onnx"),
                        "an ONNX model is used as it is and takes the stacked pair: no \
                         checkpoint, width, dropout or mode = \"siamese\"",
                    ));
                }
                if !o.is_file() {
                    return Err(inv(
                        format!("{f}.onnx"),
                        format!("{} not found", o.display()),
                    ));
                }
            }
            if let Some(c) = &m.checkpoint {
                let meta = mira_nn::read_pair_meta(c)
                    .map_err(|e| inv(format!("{f}.checkpoint"), e.to_string()))?;
                if meta.size != d.size {
                    return Err(inv(
                        format!("{f}.checkpoint"),
                        format!(
                            "model takes {0}x{0} pairs, the data has {1}x{1}",
                            meta.size, d.size
                        ),
                    ));
                }
            }
        }
        let names: Vec<&str> = self.attacks.iter().map(|x| x.name.as_str()).collect();
        crate::spec::check_list("attacks", &names)?;
        crate::spec::validate_corruptions(&self.corruptions, &names, None)?;
        for (i, a) in self.attacks.iter().enumerate() {
            let f = format!("attacks[{i}]");
            let spec = a.spec(&f)?;
            if let Some(every) = a.early_stop {
                crate::spec::check_early_stop(&f, spec.as_ref(), every)?;
            }
            if a.scope == AttackScope::MinNorm {
                crate::spec::check_min_norm_reach(&f, &self.sweep.epsilons)?;
            }
        }
        let c = &self.checks;
        if !(0.0..=1.0).contains(&c.monotone_tolerance) || c.abrupt_examples > 1000 {
            return Err(inv(
                "checks",
                "monotone_tolerance must be in [0, 1] and abrupt_examples <= 1000",
            ));
        }
        c.probes.validate("checks.probes")?;
        self.sweep.validate()
    }
}
