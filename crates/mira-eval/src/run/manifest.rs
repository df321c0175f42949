//! The reproducibility manifest of a run folder: what produced the records in it.
//!
//! A run folder holds results of exactly one experiment, computed by one version of Mira on
//! one set of data. The manifest pins all three; resuming with a different experiment, a
//! different Mira build or different data is refused, because the new records would not be
//! comparable with the ones already on disk.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use mira_data::SegDataset;

use crate::run::Spec;
use crate::{EvalError, Result};

/// Format tag of `manifest.json`.
pub const MANIFEST_FORMAT: &str = "mira-run/1";

/// The Mira build: crate version and the git commit it was built from (when known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// Workspace version.
    pub version: String,
    /// `git rev-parse HEAD` at build time, `None` outside a git checkout.
    pub git_commit: Option<String>,
}

impl BuildInfo {
    /// This build.
    pub fn current() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("MIRA_GIT_COMMIT").map(str::to_string),
        }
    }
}

/// SHA-256 of each data split (images as little-endian f32, then labels), hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataHashes {
    /// Training split.
    pub train: String,
    /// Validation split.
    pub val: String,
    /// Test split.
    pub test: String,
}

/// Hex SHA-256 of a dataset's images and labels, in case order.
pub fn dataset_hash(d: &SegDataset) -> String {
    let mut h = Sha256::new();
    for s in &d.items {
        h.update((s.channels as u64).to_le_bytes());
        h.update((s.height as u64).to_le_bytes());
        h.update((s.width as u64).to_le_bytes());
        for v in &s.image {
            h.update(v.to_le_bytes());
        }
        h.update(&s.labels);
    }
    hex(&h.finalize())
}

/// Hex SHA-256 of registration pairs (images as little-endian f32, then the transform).
pub fn pairs_hash(pairs: &[mira_data::RegPair]) -> String {
    let mut h = Sha256::new();
    for p in pairs {
        for v in p.fixed.iter().chain(&p.moving) {
            h.update(v.to_le_bytes());
        }
        for v in [p.truth.theta_deg, p.truth.tx, p.truth.ty] {
            h.update(v.to_le_bytes());
        }
        h.update((p.source as u64).to_le_bytes());
    }
    hex(&h.finalize())
}

/// Hex SHA-256 of registration sources (size, row band, pixels).
pub fn sources_hash(sources: &[mira_data::RegSource]) -> String {
    let mut h = Sha256::new();
    for s in sources {
        for v in [s.width, s.height, s.rows.0, s.rows.1] {
            h.update((v as u64).to_le_bytes());
        }
        for v in &s.pixels {
            h.update(v.to_le_bytes());
        }
    }
    hex(&h.finalize())
}

/// Hex SHA-256 of brain-age subjects (size, age, volume, labels).
pub fn subjects_hash(subjects: &[mira_data::AgeSubject]) -> String {
    let mut h = Sha256::new();
    for s in subjects {
        h.update((s.size as u64).to_le_bytes());
        h.update(s.age.to_le_bytes());
        for v in &s.t1 {
            h.update(v.to_le_bytes());
        }
        h.update(&s.labels);
    }
    hex(&h.finalize())
}

/// Hex SHA-256 of shape slices (size, image, contour, mask).
pub fn shapes_hash(samples: &[mira_data::ShapeSample]) -> String {
    let mut h = Sha256::new();
    for s in samples {
        h.update((s.size as u64).to_le_bytes());
        for v in &s.image {
            h.update(v.to_le_bytes());
        }
        for p in &s.points {
            h.update(p[0].to_le_bytes());
            h.update(p[1].to_le_bytes());
        }
        h.update(&s.mask);
    }
    hex(&h.finalize())
}

/// The `task` of the experiment a run folder's manifest holds: `None` when there is no
/// manifest; `segmentation` for a manifest without a task tag (segmentation files have none).
///
/// # Errors
/// A manifest that cannot be read or parsed.
pub fn run_task(out: &Path) -> Result<Option<String>> {
    let path = out.join("manifest.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| EvalError::io(&path, format!("malformed manifest: {e}")))?;
    Ok(Some(
        v["experiment"]["task"]
            .as_str()
            .unwrap_or("segmentation")
            .to_string(),
    ))
}

/// Hex SHA-256 of a file.
pub fn file_hash(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| EvalError::io(path, e))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The machine a run (or a resumption) happened on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Seconds since the Unix epoch when this invocation started.
    pub started_unix: u64,
    /// `std::env::consts::OS`/`ARCH`.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Threads available to the process.
    pub threads: usize,
}

impl Session {
    pub(crate) fn now() -> Self {
        Self {
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// `manifest.json` of a run folder (`E`: the experiment type of the task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest<E> {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The Mira build that produced the records.
    pub build: BuildInfo,
    /// The experiment, in full.
    pub experiment: E,
    /// Hashes of the generated or loaded data.
    pub data: DataHashes,
    /// SHA-256 of each model's weights file, by model name (filled once models exist).
    #[serde(default)]
    pub models: std::collections::BTreeMap<String, String>,
    /// Every invocation that wrote into the folder, first to last.
    pub sessions: Vec<Session>,
    /// How the budgets convert to model units, when they were stated otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budget_units: Vec<String>,
}

impl<E: Spec> Manifest<E> {
    /// The manifest of a run of `experiment` on data with `data` hashes, by this build, now.
    pub(crate) fn new(experiment: &E, data: DataHashes) -> Self {
        Self {
            format: MANIFEST_FORMAT.into(),
            build: BuildInfo::current(),
            experiment: experiment.clone(),
            data,
            models: Default::default(),
            sessions: vec![Session::now()],
            budget_units: experiment.budget_units(),
        }
    }

    /// Reads the manifest of `out`, if any.
    pub fn read(out: &Path) -> Result<Option<Self>> {
        let path = out.join("manifest.json");
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| EvalError::io(&path, format!("malformed manifest: {e}")))
    }

    /// Refuses to resume `self` (on disk) with a different experiment, build or data.
    pub(crate) fn check_resumable(&self, now: &Manifest<E>, out: &Path) -> Result<()> {
        let refuse = |what: &str, old: String, new: String| {
            Err(EvalError::invalid(
                "out",
                format!(
                    "{} holds results of a different {what} ({old}, now {new}); \
                     use another output folder",
                    out.display()
                ),
            ))
        };
        if self.format != MANIFEST_FORMAT {
            return refuse(
                "manifest format",
                self.format.clone(),
                MANIFEST_FORMAT.into(),
            );
        }
        if self.experiment != now.experiment {
            return refuse(
                "experiment",
                format!("'{}'", self.experiment.name()),
                format!("'{}'", now.experiment.name()),
            );
        }
        if self.build != now.build {
            let show = |b: &BuildInfo| {
                format!(
                    "Mira {} {}",
                    b.version,
                    b.git_commit.as_deref().unwrap_or("(no git commit)")
                )
            };
            return refuse("Mira build", show(&self.build), show(&now.build));
        }
        if self.data != now.data {
            return refuse(
                "data set",
                format!("test {}", &self.data.test[..12]),
                format!("test {}", &now.data.test[..12]),
            );
        }
        Ok(())
    }

    /// Takes over an existing run folder: with a manifest there, refuses a different
    /// experiment, build or data and keeps its model hashes and sessions; records without a
    /// manifest are refused. Then writes this manifest.
    pub(crate) fn resume_from(&mut self, out: &Path) -> Result<()> {
        if let Some(old) = Self::read(out)? {
            old.check_resumable(self, out)?;
            self.models = old.models;
            self.sessions = [old.sessions, std::mem::take(&mut self.sessions)].concat();
        } else if out.join("records.jsonl").exists() {
            return Err(EvalError::invalid(
                "out",
                format!(
                    "{} holds records without a manifest.json; use another output folder",
                    out.display()
                ),
            ));
        }
        self.write(out)
    }

    /// Records the SHA-256 of model `i`'s weights file, refusing a model whose weights changed
    /// since the run started (its records would not be comparable).
    pub(crate) fn pin_weights(&mut self, i: usize, name: &str, weights: &Path) -> Result<()> {
        let hash = file_hash(weights)?;
        if let Some(old) = self.models.get(name).filter(|h| **h != hash) {
            return Err(EvalError::invalid(
                format!("models[{i}]"),
                format!(
                    "the weights of '{name}' changed since this run started ({} → {}); \
                     use another output folder",
                    &old[..12],
                    &hash[..12]
                ),
            ));
        }
        self.models.insert(name.to_string(), hash);
        Ok(())
    }

    /// Writes the manifest atomically.
    pub(crate) fn write(&self, out: &Path) -> Result<()> {
        let path = out.join("manifest.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| EvalError::io(&path, e))?;
        mira_nn::checkpoint::write_atomic(&path, text.as_bytes())
            .map_err(|e| EvalError::io(&path, e))
    }
}
