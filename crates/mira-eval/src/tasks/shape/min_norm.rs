//! Minimum-norm findings of a disk-shape run, by the sweep's break rule (MRSE above
//! `sweep.break_mrse` px): the tables of [`crate::report::min_norm_tables`] from shape records. Each
//! min-norm entry has its own norm and budgets (its largest ε is the cap; the others are where
//! the derived curve is read), and is compared with the in-distribution attacks of the same
//! norm at those budgets.

use mira_report::{ShapeRecord, TextTable};

use crate::report::min_norm_tables::{Sweep, min_norm_entry, searches, split_records, tables};
use crate::tasks::shape::{ShapeAttackEntry, ShapeExperiment, ShapeScope};

// A search is compared with the in-distribution attacks of its norm.
min_norm_entry!(ShapeAttackEntry, ShapeScope::MinNorm, |s, o| o.scope
    == ShapeScope::Ind
    && o.norm == s.norm);

/// The records of fixed-budget attacks (summaries, curves and findings use these) and those of
/// min-norm attacks.
pub fn split_shape_min_norm(
    exp: &ShapeExperiment,
    records: &[ShapeRecord],
) -> (Vec<ShapeRecord>, Vec<ShapeRecord>) {
    let attacked: Vec<ShapeRecord> = records
        .iter()
        .filter(|r| r.scope != crate::tasks::shape::cell::CORRUPTION)
        .cloned()
        .collect();
    split_records(&attacked, &exp.attacks)
}

/// The three tables per min-norm entry (titles name the entry when there are several; none
/// without min-norm records).
pub fn shape_min_norm_tables(
    exp: &ShapeExperiment,
    fixed: &[ShapeRecord],
    mn: &[ShapeRecord],
) -> Vec<TextTable> {
    let models: Vec<&str> = exp.models.iter().map(|m| m.name.as_str()).collect();
    let entries: Vec<_> = exp
        .attacks
        .iter()
        .filter(|a| a.scope == ShapeScope::MinNorm)
        .collect();
    let bm = exp.sweep.break_mrse;
    let mut out = Vec::new();
    for a in &entries {
        let searches = searches(&models, &exp.attacks, &|e| e.name == a.name);
        let sweep = Sweep::new(&a.epsilons, a.norm, format!("MRSE above {bm} px"));
        let mut t = tables(&searches, &sweep, fixed, mn, &|_, r| r.adv_mrse > bm);
        if entries.len() > 1 {
            for x in &mut t {
                x.title = format!("{} ({})", x.title, a.name);
            }
        }
        out.extend(t);
    }
    out
}
