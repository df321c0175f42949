//! Minimum-norm findings of a disk-shape run, by the sweep's break rule (MRSE above
//! `sweep.break_mrse` px): the tables of [`crate::min_norm_tables`] from shape records. Each
//! min-norm entry has its own norm and budgets (its largest ε is the cap; the others are where
//! the derived curve is read), and is compared with the in-distribution attacks of the same
//! norm at those budgets.

use mira_report::{ShapeRecord, TextTable};

use crate::min_norm_tables::{Search, Sweep, tables};
use crate::seg_cell::eps_f64;
use crate::{ShapeExperiment, ShapeScope};

/// The records of fixed-budget attacks (summaries, curves and findings use these) and those of
/// min-norm attacks.
pub fn split_shape_min_norm(
    exp: &ShapeExperiment,
    records: &[ShapeRecord],
) -> (Vec<ShapeRecord>, Vec<ShapeRecord>) {
    let min_norm: Vec<&str> = exp
        .attacks
        .iter()
        .filter(|a| a.scope == ShapeScope::MinNorm)
        .map(|a| a.name.as_str())
        .collect();
    records
        .iter()
        .cloned()
        .partition(|r| !min_norm.contains(&r.attack.as_str()))
}

/// The three tables per min-norm entry (titles name the entry when there are several; none
/// without min-norm records).
pub fn shape_min_norm_tables(
    exp: &ShapeExperiment,
    fixed: &[ShapeRecord],
    mn: &[ShapeRecord],
) -> Vec<TextTable> {
    let entries: Vec<_> = exp
        .attacks
        .iter()
        .filter(|a| a.scope == ShapeScope::MinNorm)
        .collect();
    let bm = exp.sweep.break_mrse;
    let mut out = Vec::new();
    for a in &entries {
        let searches: Vec<Search<'_>> = exp
            .models
            .iter()
            .map(|m| Search {
                model: &m.name,
                attack: &a.name,
                minima: mn
                    .iter()
                    .filter(|r| r.model == m.name && r.attack == a.name)
                    .map(|r| (r.case, r.min_norm))
                    .collect(),
                fixed: exp
                    .attacks
                    .iter()
                    .filter(|o| o.scope == ShapeScope::Ind && o.norm == a.norm)
                    .map(|o| o.name.as_str())
                    .collect(),
            })
            .collect();
        let mut eps: Vec<f64> = a.epsilons.iter().map(|&e| eps_f64(e)).collect();
        eps.sort_by(f64::total_cmp);
        let sweep = Sweep {
            cap: eps.last().copied().unwrap_or(0.0),
            eps,
            norm: &format!("{:?}", a.norm).to_lowercase(),
            rule: format!("MRSE above {bm} px"),
        };
        let mut t = tables(&searches, &sweep, &|si, attack, e| {
            let cell: Vec<&ShapeRecord> = fixed
                .iter()
                .filter(|r| r.model == searches[si].model && r.attack == attack && r.epsilon == e)
                .collect();
            (!cell.is_empty()).then(|| {
                let broken = cell
                    .iter()
                    .filter(|r| r.adv_mrse > bm)
                    .map(|r| r.case)
                    .collect();
                (cell.len(), broken)
            })
        });
        if entries.len() > 1 {
            for x in &mut t {
                x.title = format!("{} ({})", x.title, a.name);
            }
        }
        out.extend(t);
    }
    out
}
