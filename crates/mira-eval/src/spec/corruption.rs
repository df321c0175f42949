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
    /// Draws per case and severity (1: each case its own draw; N > 1: N records per case, their
    /// `draw` 1..=N, the summaries' tests over the per-case means).
    #[serde(default = "one")]
    pub draws: usize,
    /// The worst case within the family: each case's draw searched, from the random draw an
    /// entry of the same family gets, for the most damaging parameters within the severity's
    /// bounds (judged by the task's break rule); never less damaging than that random draw.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worst: bool,
}

/// The most draws per case an entry may ask for.
const MAX_DRAWS: usize = 1000;

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
            let family = self.kind.name();
            if self.worst {
                format!("{family}-worst")
            } else {
                family.to_string()
            }
        })
    }

    /// Checks the severities and draws; `field` prefixes messages (`corruptions[1]`);
    /// `hu_per_unit` is the data's CT window width, if any.
    ///
    /// # Errors
    /// A severity outside 1..=5 or repeated, draws outside 1..=1000, a CT family without a CT
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
        if !(1..=MAX_DRAWS).contains(&self.draws) {
            return Err(EvalError::invalid(
                format!("{field}.draws"),
                format!("needs 1..={MAX_DRAWS} draws per case and severity"),
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

/// What a task's corruption cell needs of its plan entry: entry `ci` at `severity`, draw
/// `draw` (entries with `draws` > 1), and its seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CorruptionPick {
    pub ci: usize,
    pub severity: u8,
    pub draw: Option<usize>,
    pub seed: u64,
}

/// One corruption cell of a model's plan: its pick, with the label and key every task gives
/// it (the seed depends on the experiment's seed, the model, the family, the severity and the
/// draw alone, so shards and resumed runs draw the same corruptions; draw 1 draws what a
/// single-draw entry draws).
pub(crate) struct CorruptionCell {
    pub pick: CorruptionPick,
    pub label: String,
    pub key: crate::run::CellKey,
}

impl CorruptionCell {
    /// The planned cell over `cases` test cases in batches of `batch_size`, the task's cell
    /// made from the pick by `cell`.
    pub(crate) fn planned<C>(
        self,
        cases: usize,
        batch_size: usize,
        cell: impl FnOnce(CorruptionPick) -> C,
    ) -> crate::run::Planned<C> {
        crate::run::Planned {
            label: self.label,
            keys: vec![self.key],
            cases,
            batch_size,
            state: None,
            cell: cell(self.pick),
        }
    }
}

impl CorruptionEntry {
    /// The corruptor of this entry at `severity` (`hu_per_unit`: the CT window's width;
    /// `volume`: the `[D, H, W]` of volumes laid out as tall slices).
    pub(crate) fn corruptor(
        &self,
        severity: u8,
        hu_per_unit: Option<f32>,
        volume: Option<[usize; 3]>,
    ) -> crate::cells::Corruptor {
        crate::cells::Corruptor {
            family: self.kind,
            severity,
            hu_per_unit,
            volume,
            worst: self.worst,
        }
    }
}

/// The corruption cells of model `model` (index `mi`) for `entries`: entry by entry, severity
/// by severity, draw by draw.
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
            // By family, not entry: a worst-case entry starts from the draws a random entry
            // of its family gets.
            let first =
                crate::run::cell_seed(seed ^ 0xC0_2217, mi, family_index(c.kind), usize::from(s));
            for d in 1..=c.draws {
                let draw = (c.draws > 1).then_some(d);
                out.push(CorruptionCell {
                    pick: CorruptionPick {
                        ci,
                        severity: s,
                        draw,
                        seed: if d == 1 {
                            first
                        } else {
                            crate::run::mix(first, d as u64)
                        },
                    },
                    label: match draw {
                        Some(d) => format!("{model} / {name} / severity {s} / draw {d}"),
                        None => format!("{model} / {name} / severity {s}"),
                    },
                    key: crate::run::CellKey::new(
                        model,
                        &crate::run::draw_name(&name, draw),
                        f64::from(s),
                    ),
                });
            }
        }
    }
    out
}

/// The position of `family` in [`Family::ALL`].
fn family_index(family: Family) -> usize {
    Family::ALL.iter().position(|f| *f == family).unwrap_or(0)
}
