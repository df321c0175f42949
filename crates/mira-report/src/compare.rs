//! Comparing models (e.g. defences of one architecture) on the same attacked cases.
//!
//! For every group of models (the first is the reference, normally the undefended model),
//! attack, budget and label: the attacked Dice of each model (mean and quartiles over cases),
//! and paired two-sided Wilcoxon signed-rank tests on the per-case Dice
//! - between every pair of models of the group, and
//! - between each model under attack and the reference model's *clean* Dice (is the defended
//!   model, attacked, still below clean performance?).
//!
//! p-values are Holm-corrected over the labels and budgets of one (group, attack, comparison)
//! family. The label `mean` is the per-case mean over the foreground labels defined on both
//! sides of the pair (so both sides average the same labels) and is part of the family. Cases where a label is undefined for either side are left out of that test.

use std::collections::BTreeMap;

use serde::Serialize;

use mira_stats::{Summary, holm, mean_defined, paired_means, wilcoxon_signed_rank};

use crate::SegRecord;

/// Models compared together; `models[0]` is the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelGroup {
    /// Group name (e.g. the architecture).
    pub name: String,
    /// Model names, reference first.
    pub models: Vec<String>,
}

/// Attacked Dice of one model for one (attack, ε, label).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefenceRow {
    /// Group.
    pub group: String,
    /// Attack.
    pub attack: String,
    /// Budget.
    pub epsilon: f64,
    /// Foreground label, or `mean`.
    pub label: String,
    /// Model.
    pub model: String,
    /// Attacked Dice over cases (`None` when undefined everywhere).
    pub adv: Option<Summary>,
    /// Clean Dice of the same model.
    pub clean: Option<Summary>,
}

/// One paired test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparisonRow {
    /// Group.
    pub group: String,
    /// Attack.
    pub attack: String,
    /// Budget.
    pub epsilon: f64,
    /// Foreground label, or `mean`.
    pub label: String,
    /// First side: a model under attack.
    pub a: String,
    /// Second side: another model under attack, or `clean:<reference>`.
    pub b: String,
    /// Paired cases.
    pub n: usize,
    /// Mean Dice of side a over the paired cases.
    pub mean_a: f64,
    /// Mean Dice of side b.
    pub mean_b: f64,
    /// Two-sided Wilcoxon p (`None` when every pair is equal or there are no pairs).
    pub p: Option<f64>,
    /// Holm-corrected p within the (group, attack, a, b) family.
    pub p_holm: Option<f64>,
}

/// Per-case Dice of one label (`None` label index = the mean over labels).
fn dice_of(r: &SegRecord, label: Option<usize>, adv: bool) -> Option<f64> {
    let d = if adv { &r.adv_dice } else { &r.clean_dice };
    match label {
        Some(l) => d.get(l).copied().flatten(),
        None => mean_defined(d),
    }
}

type Key = (String, String, u64, usize); // model, attack, ε bits, case

/// The comparison tables of `records` for `groups`.
pub fn compare(
    records: &[SegRecord],
    groups: &[ModelGroup],
) -> (Vec<DefenceRow>, Vec<ComparisonRow>) {
    let Some(first) = records.first() else {
        return (Vec::new(), Vec::new());
    };
    let labels: Vec<(Option<usize>, String)> = std::iter::once((None, "mean".to_string()))
        .chain(
            first
                .labels
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, l)| (Some(i), l)),
        )
        .collect();
    let by_key: BTreeMap<Key, &SegRecord> = records
        .iter()
        .map(|r| {
            (
                (
                    r.model.clone(),
                    r.attack.clone(),
                    r.epsilon.to_bits(),
                    r.case,
                ),
                r,
            )
        })
        .collect();
    let mut attacks: Vec<String> = Vec::new();
    let mut epsilons: Vec<f64> = Vec::new();
    for r in records {
        if !attacks.contains(&r.attack) {
            attacks.push(r.attack.clone());
        }
        if !epsilons.contains(&r.epsilon) {
            epsilons.push(r.epsilon);
        }
    }
    epsilons.sort_by(f64::total_cmp);
    let cases = |model: &str, attack: &str, eps: f64| -> Vec<&SegRecord> {
        by_key
            .range(
                (model.to_string(), attack.to_string(), eps.to_bits(), 0)
                    ..=(
                        model.to_string(),
                        attack.to_string(),
                        eps.to_bits(),
                        usize::MAX,
                    ),
            )
            .map(|(_, r)| *r)
            .collect()
    };
    let mut rows = Vec::new();
    let mut tests = Vec::new();
    for g in groups {
        for attack in &attacks {
            for &eps in &epsilons {
                for (li, lname) in &labels {
                    for m in &g.models {
                        let rs = cases(m, attack, eps);
                        if rs.is_empty() {
                            continue;
                        }
                        let vals = |adv: bool| {
                            let v: Vec<f64> =
                                rs.iter().filter_map(|r| dice_of(r, *li, adv)).collect();
                            Summary::of(&v)
                        };
                        rows.push(DefenceRow {
                            group: g.name.clone(),
                            attack: attack.clone(),
                            epsilon: eps,
                            label: lname.clone(),
                            model: m.clone(),
                            adv: vals(true),
                            clean: vals(false),
                        });
                    }
                }
            }
            // Families: every pair (i < j), then every model vs the reference's clean Dice.
            let mut sides: Vec<(String, String, bool)> = Vec::new();
            for (i, a) in g.models.iter().enumerate() {
                for b in &g.models[i + 1..] {
                    sides.push((a.clone(), b.clone(), true));
                }
            }
            for a in &g.models {
                sides.push((a.clone(), g.models[0].clone(), false));
            }
            for (a, b, b_adv) in sides {
                let start = tests.len();
                for &eps in &epsilons {
                    for (li, lname) in &labels {
                        let pairs: Vec<(f64, f64)> = cases(&a, attack, eps)
                            .iter()
                            .filter_map(|ra| {
                                let rb = by_key.get(&(
                                    b.clone(),
                                    attack.clone(),
                                    eps.to_bits(),
                                    ra.case,
                                ))?;
                                let db = if b_adv { &rb.adv_dice } else { &rb.clean_dice };
                                match li {
                                    Some(l) => Some((
                                        ra.adv_dice.get(*l).copied().flatten()?,
                                        db.get(*l).copied().flatten()?,
                                    )),
                                    None => paired_means(&ra.adv_dice, db),
                                }
                            })
                            .collect();
                        if pairs.is_empty() {
                            continue;
                        }
                        let (xa, xb): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
                        let n = xa.len();
                        tests.push(ComparisonRow {
                            group: g.name.clone(),
                            attack: attack.clone(),
                            epsilon: eps,
                            label: lname.clone(),
                            a: a.clone(),
                            b: if b_adv {
                                b.clone()
                            } else {
                                format!("clean:{b}")
                            },
                            n,
                            mean_a: xa.iter().sum::<f64>() / n as f64,
                            mean_b: xb.iter().sum::<f64>() / n as f64,
                            p: wilcoxon_signed_rank(&xa, &xb).ok().map(|w| w.p_value),
                            p_holm: None,
                        });
                    }
                }
                let family = &mut tests[start..];
                let idx: Vec<usize> = (0..family.len())
                    .filter(|&i| family[i].p.is_some())
                    .collect();
                let ps: Vec<f64> = idx.iter().filter_map(|&i| family[i].p).collect();
                for (&i, q) in idx.iter().zip(holm(&ps)) {
                    family[i].p_holm = Some(q);
                }
            }
        }
    }
    (rows, tests)
}
