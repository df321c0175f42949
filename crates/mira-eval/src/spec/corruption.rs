//! Corruption entries of an experiment (`[[corruptions]]`): a family of scanner artefacts or
//! natural corruptions (`mira_corrupt::Family`) at a list of severities, evaluated like an
//! attack but without a budget: each case gets its own seeded draw of the family at the
//! severity, and the records carry the severity where attacks carry ε.

use mira_corrupt::Family;
use serde::{Deserialize, Serialize};

use crate::{EvalError, Result};

/// One `[[corruptions]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorruptionEntry {
    /// Name in records (default: the family's).
    #[serde(default)]
    pub name: Option<String>,
    /// The family (`motion`, `ghosting`, `spike`, `bias`, `rician`, `blur`, `gamma`, `gibbs`,
    /// `anisotropy`, `ct_noise`, `window_shift`, `contrast`, `noise`; docs/corruptions.md).
    pub kind: Family,
    /// Severities 1..=5 (default: all five).
    #[serde(default = "all_severities")]
    pub severities: Vec<u8>,
    /// Draws per case and severity (1: each case its own draw).
    #[serde(default = "one")]
    pub draws: usize,
    /// The worst case within the family: each case's draw searched, from the random draw an
    /// entry of the same family gets, for the most damaging parameters within the severity's
    /// bounds (judged by the task's break rule); never less damaging than that random draw.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worst: bool,
}

fn all_severities() -> Vec<u8> {
    vec![1, 2, 3, 4, 5]
}

fn one() -> usize {
    1
}

impl CorruptionEntry {
    /// The name records give it.
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let family = serde_json::to_value(self.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            if self.worst {
                format!("{family}-worst")
            } else {
                family
            }
        })
    }

    /// Checks the severities and draws; `field` prefixes messages (`corruptions[1]`);
    /// `hu_per_unit` is the data's CT window width, if any.
    ///
    /// # Errors
    /// A severity outside 1..=5 or repeated, draws other than 1, a CT family without a CT
    /// window.
    pub fn validate(&self, field: &str, hu_per_unit: Option<f32>) -> Result<()> {
        if self.severities.is_empty()
            || self.severities.iter().any(|s| !(1..=5).contains(s))
            || (1..self.severities.len())
                .any(|i| self.severities[..i].contains(&self.severities[i]))
        {
            return Err(EvalError::invalid(
                format!("{field}.severities"),
                "needs severities in 1..=5, each at most once",
            ));
        }
        if self.draws != 1 {
            return Err(EvalError::invalid(
                format!("{field}.draws"),
                "only one draw per case and severity is supported so far (each case gets its \
                 own draw, so a cell is already an average over draws)",
            ));
        }
        if self.worst && matches!(self.kind, Family::Rician | Family::CtNoise | Family::Noise) {
            return Err(EvalError::invalid(
                format!("{field}.worst"),
                "a noise family has no parameters to search (its draws are noise)",
            ));
        }
        if matches!(self.kind, Family::CtNoise | Family::WindowShift) && hu_per_unit.is_none() {
            return Err(EvalError::invalid(
                format!("{field}.kind"),
                "is in HU: it needs CT data normalised with a window (`normalise = { kind = \
                 \"ct_window\", ... }`)",
            ));
        }
        crate::spec::check_name(&format!("{field}.name"), &self.name())
    }
}

/// Checks every entry of `[[corruptions]]` ([`CorruptionEntry::validate`]) and that its name
/// differs from the attacks' and the other corruptions'.
///
/// # Errors
/// The first invalid entry, named `corruptions[i]`.
pub(crate) fn validate_corruptions(
    entries: &[CorruptionEntry],
    attack_names: &[&str],
    hu_per_unit: Option<f32>,
) -> Result<()> {
    for (i, c) in entries.iter().enumerate() {
        let f = format!("corruptions[{i}]");
        c.validate(&f, hu_per_unit)?;
        let name = c.name();
        if attack_names.contains(&name.as_str()) || entries[..i].iter().any(|o| o.name() == name) {
            return Err(EvalError::invalid(
                format!("{f}.name"),
                format!("`{name}` is already an attack's or a corruption's name: give `name`"),
            ));
        }
    }
    Ok(())
}

/// One corruption cell of a model's plan: entry `ci` at `severity`, with the label, key and
/// seed every task gives it (the seed depends on the experiment's seed, the model, the entry
/// and the severity alone, so shards and resumed runs draw the same corruptions).
pub(crate) struct CorruptionCell {
    pub ci: usize,
    pub severity: u8,
    pub label: String,
    pub key: crate::run::CellKey,
    pub seed: u64,
}

/// The corruption cells of model `model` (index `mi`) for `entries`, entry by entry and
/// severity by severity.
pub(crate) fn corruption_cells(
    entries: &[CorruptionEntry],
    model: &str,
    mi: usize,
    seed: u64,
) -> Vec<CorruptionCell> {
    let mut out = Vec::new();
    for (ci, c) in entries.iter().enumerate() {
        let name = c.name();
        for &s in &c.severities {
            out.push(CorruptionCell {
                ci,
                severity: s,
                label: format!("{model} / {name} / severity {s}"),
                key: crate::run::CellKey::new(model, &name, f64::from(s)),
                // By family, not entry: a worst-case entry starts from the draws a random entry
                // of its family gets.
                seed: crate::run::cell_seed(
                    seed ^ 0xC0_2217,
                    mi,
                    family_index(c.kind),
                    usize::from(s),
                ),
            });
        }
    }
    out
}

/// The position of `family` in [`Family::ALL`].
fn family_index(family: Family) -> usize {
    Family::ALL.iter().position(|f| *f == family).unwrap_or(0)
}
