//! Names of cells and their files, and the seeds derived from structured indices: what every
//! task's cells share.

use serde::{Deserialize, Serialize};

/// The key of a record's cell: (model, attack, budget). Records of one key form one cell of
/// the sweep (or one target of a cell that holds several, as synthesis cells do); resume,
/// shards and merge count records per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellKey {
    /// Model name.
    pub model: String,
    /// Attack name (or method, for synthesis).
    pub attack: String,
    /// `f64::to_bits` of the budget as recorded ([`eps_f64`] of the file's ε).
    pub epsilon_bits: u64,
}

impl CellKey {
    /// The key of (model, attack, ε), ε as recorded.
    pub fn new(model: &str, attack: &str, epsilon: f64) -> Self {
        Self {
            model: model.to_string(),
            attack: attack.to_string(),
            epsilon_bits: epsilon.to_bits(),
        }
    }

    /// The budget.
    pub fn epsilon(&self) -> f64 {
        f64::from_bits(self.epsilon_bits)
    }
}

/// The name a cell key gives `attack`'s draw `draw` (a corruption entry with `draws` > 1:
/// `motion#2`); without a draw, the name itself. Records show the name and the draw apart.
pub fn draw_name(attack: &str, draw: Option<usize>) -> String {
    match draw {
        Some(d) => format!("{attack}#{d}"),
        None => attack.to_string(),
    }
}

impl std::fmt::Display for CellKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/eps={}", self.model, self.attack, self.epsilon())
    }
}

/// The budget as written in the experiment (shortest decimal of the f32), as f64 for records.
pub fn eps_f64(e: f32) -> f64 {
    e.to_string().parse().unwrap_or(e as f64)
}

/// A SplitMix64 step: independent streams from structured seeds.
pub fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of cell (model `mi`, attack `ai`, budget `ei`) of an experiment seeded `seed`: the
/// same derivation in every task, so a cell's randomness depends on its indices alone.
pub fn cell_seed(seed: u64, mi: usize, ai: usize, ei: usize) -> u64 {
    mix(
        mix(mix(seed, mi as u64), 100 + ai as u64),
        10_000 + ei as u64,
    )
}

/// `MODEL__ATTACK__TAG` with unsafe characters → `_`: the stem of a cell's files and folders.
pub fn cell_stem(model: &str, attack: &str, tag: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{}__{}__{tag}", clean(model), clean(attack))
}

/// File name of an example picture: `MODEL__ATTACK__worst.png` (unsafe characters → `_`).
pub fn example_file(model: &str, attack: &str, tag: &str) -> String {
    format!("{}.png", cell_stem(model, attack, tag))
}

/// The label of a cell in progress lines: `model / attack / eps=E`.
pub fn cell_label(model: &str, attack: &str, epsilon: f32) -> String {
    format!("{model} / {attack} / eps={epsilon}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_keep_names_readable_and_safe() {
        assert_eq!(
            cell_stem("res unet", "pgd/10", "worst"),
            "res_unet__pgd_10__worst"
        );
        assert_eq!(example_file("m", "a.b-c", "x"), "m__a.b-c__x.png");
    }

    #[test]
    fn budgets_are_recorded_as_written() {
        assert_eq!(eps_f64(0.03), 0.03);
        assert_eq!(CellKey::new("m", "a", 0.03).epsilon(), 0.03);
        assert_eq!(CellKey::new("m", "a", 0.03).to_string(), "m/a/eps=0.03");
    }

    #[test]
    fn seeds_differ_by_index() {
        let s: std::collections::HashSet<u64> = (0..3)
            .flat_map(|m| (0..3).flat_map(move |a| (0..3).map(move |e| cell_seed(7, m, a, e))))
            .collect();
        assert_eq!(s.len(), 27);
    }
}
