//! The minimum-norm findings of any task, as tables: per (model, search), the distribution of
//! the per-case smallest breaking budget; the share of cases broken at each ε of the sweep
//! derived from it (no re-attack) beside the share each fixed-budget attack broke; and the
//! consistency check "a case broken at ε by a fixed-budget attack has a minimal ε ≤ ε (within
//! [`CONSISTENCY_SLACK`])". What "broken" means is the task's rule (Dice below a threshold,
//! TRE above tolerance); the task's module turns its records into [`Search`]es and verdicts.

use std::collections::HashMap;

use mira_report::TextTable;

/// Relative slack of the consistency check: the search is approximate (DDN steps a few % around
/// the boundary), so a minimal ε up to 10 % above the fixed attack's ε still counts as
/// consistent.
pub const CONSISTENCY_SLACK: f64 = 0.1;

/// What the tables read of a record of any task.
pub(crate) trait MinNormRecord: Clone {
    fn model(&self) -> &str;
    fn attack(&self) -> &str;
    fn case(&self) -> usize;
    fn epsilon(&self) -> f64;
    /// The smallest breaking budget a min-norm search found (`None`: none within the cap).
    fn min_norm(&self) -> Option<f64>;
}

macro_rules! min_norm_record {
    ($($t:ty),*) => {$(
        impl MinNormRecord for $t {
            fn model(&self) -> &str {
                &self.model
            }
            fn attack(&self) -> &str {
                &self.attack
            }
            fn case(&self) -> usize {
                self.case
            }
            fn epsilon(&self) -> f64 {
                self.epsilon
            }
            fn min_norm(&self) -> Option<f64> {
                self.min_norm
            }
        }
    )*};
}
min_norm_record!(
    mira_report::SegRecord,
    mira_report::RegRecord,
    mira_report::ShapeRecord
);

/// What the tables read of an attack entry of any task.
pub(crate) trait MinNormEntry {
    /// The entry's name (records' `attack`).
    fn name(&self) -> &str;
    /// Whether the entry is a min-norm search.
    fn is_min_norm(&self) -> bool;
    /// Whether the fixed-budget entry `other` is compared with this search (the same goal,
    /// image or norm, as the task defines it).
    fn compares_with(&self, other: &Self) -> bool;
}

/// Implements [`MinNormEntry`] for an attack entry with `name` and `scope` fields, whose
/// min-norm scope is `$min_norm`; `|search, other| ...` says which fixed-budget entries a
/// search is compared with.
macro_rules! min_norm_entry {
    ($entry:ty, $min_norm:expr, |$search:ident, $other:ident| $compares:expr) => {
        impl $crate::report::min_norm_tables::MinNormEntry for $entry {
            fn name(&self) -> &str {
                &self.name
            }

            fn is_min_norm(&self) -> bool {
                self.scope == $min_norm
            }

            fn compares_with(&self, other: &Self) -> bool {
                let ($search, $other) = (self, other);
                $compares
            }
        }
    };
}
pub(crate) use min_norm_entry;

/// The records of fixed-budget attacks and those of the min-norm entries of `attacks`.
pub(crate) fn split_records<R: MinNormRecord, E: MinNormEntry>(
    records: &[R],
    attacks: &[E],
) -> (Vec<R>, Vec<R>) {
    let is_min_norm = |name: &str| attacks.iter().any(|a| a.is_min_norm() && a.name() == name);
    records
        .iter()
        .cloned()
        .partition(|r| !is_min_norm(r.attack()))
}

/// Per model, a search for each min-norm entry that `only` accepts, each compared with the
/// fixed-budget entries it [`MinNormEntry::compares_with`]; model-major order.
pub(crate) fn searches<'a, E: MinNormEntry>(
    models: &[&'a str],
    attacks: &'a [E],
    only: &dyn Fn(&E) -> bool,
) -> Vec<Search<'a>> {
    let mut out = Vec::new();
    for &model in models {
        for a in attacks.iter().filter(|a| a.is_min_norm() && only(a)) {
            let fixed = attacks
                .iter()
                .filter(|o| !o.is_min_norm() && a.compares_with(o));
            out.push(Search {
                model,
                attack: a.name(),
                fixed: fixed.map(|o| o.name()).collect(),
            });
        }
    }
    out
}

/// One (model, min-norm attack) of a run.
pub(crate) struct Search<'a> {
    pub model: &'a str,
    pub attack: &'a str,
    /// The fixed-budget attacks its verdicts are compared with (same model, same goal).
    pub fixed: Vec<&'a str>,
}

/// What the tables need besides the searches.
pub(crate) struct Sweep {
    /// Budgets above 0, ascending.
    pub eps: Vec<f64>,
    /// The search's cap (the largest budget).
    pub cap: f64,
    /// `linf` or `l2`.
    pub norm: String,
    /// The break rule in words.
    pub rule: String,
}

impl Sweep {
    /// From a budget grid (zero budgets dropped, the largest is the cap).
    pub(crate) fn new(epsilons: &[f32], norm: mira_attack::Norm, rule: String) -> Self {
        let mut eps: Vec<f64> = epsilons
            .iter()
            .map(|&e| crate::run::eps_f64(e))
            .filter(|e| *e > 0.0)
            .collect();
        eps.sort_by(f64::total_cmp);
        Self {
            cap: eps.last().copied().unwrap_or(0.0),
            eps,
            norm: format!("{norm:?}").to_lowercase(),
            rule,
        }
    }
}

fn pct(k: usize, n: usize) -> String {
    if n == 0 {
        "-".into()
    } else {
        format!("{:.0} % ({k}/{n})", 100.0 * k as f64 / n as f64)
    }
}

/// A quantile of the minima with unbroken cases above the cap (`> cap` when it falls there).
fn quantile(sorted: &[f64], q: f64, cap: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let v = sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    if v.is_infinite() {
        format!("> {cap}")
    } else {
        format!("{v:.3}")
    }
}

/// The three tables (none when no search has records). `mn` holds the min-norm records, `fixed`
/// the fixed-budget ones; `broken(search, record)` is the task's rule on a fixed-budget record
/// (search-dependent where the rule is: a targeted goal, say).
pub(crate) fn tables<R: MinNormRecord>(
    searches: &[Search<'_>],
    sweep: &Sweep,
    fixed: &[R],
    mn: &[R],
    broken: &dyn Fn(usize, &R) -> bool,
) -> Vec<TextTable> {
    // A fixed-budget cell: its number of cases and those it broke (`None`: no such cell).
    let fixed_cell = |si: usize, attack: &str, e: f64| {
        let cell: Vec<&R> = fixed
            .iter()
            .filter(|r| r.model() == searches[si].model && r.attack() == attack && r.epsilon() == e)
            .collect();
        (!cell.is_empty()).then(|| {
            let hit = cell
                .iter()
                .filter(|r| broken(si, r))
                .map(|r| r.case())
                .collect::<Vec<_>>();
            (cell.len(), hit)
        })
    };
    let cap = sweep.cap;
    let (mut dist, mut curve, mut consist) = (Vec::new(), Vec::new(), Vec::new());
    let mut curve_header = vec![
        "model".to_string(),
        "min-norm attack".into(),
        "ε".into(),
        "min-norm (derived)".into(),
    ];
    let mut curve_attacks: Vec<&str> = Vec::new();
    for (si, s) in searches.iter().enumerate() {
        let minima: Vec<(usize, Option<f64>)> = mn
            .iter()
            .filter(|r| r.model() == s.model && r.attack() == s.attack)
            .map(|r| (r.case(), r.min_norm()))
            .collect();
        if minima.is_empty() {
            continue;
        }
        let n = minima.len();
        let mut sorted: Vec<f64> = minima
            .iter()
            .map(|(_, v)| v.unwrap_or(f64::INFINITY))
            .collect();
        sorted.sort_by(f64::total_cmp);
        let broken = sorted.iter().filter(|v| v.is_finite()).count();
        let clean = sorted.iter().filter(|v| **v == 0.0).count();
        dist.push(vec![
            s.model.to_string(),
            s.attack.to_string(),
            cap.to_string(),
            n.to_string(),
            pct(clean, n),
            pct(broken, n),
            quantile(&sorted, 0.5, cap),
            format!(
                "{} – {}",
                quantile(&sorted, 0.25, cap),
                quantile(&sorted, 0.75, cap)
            ),
        ]);
        for o in &s.fixed {
            if !curve_attacks.contains(o) {
                curve_attacks.push(o);
                curve_header.push(format!("{o} (fixed ε)"));
            }
        }
        let by_case: HashMap<usize, Option<f64>> = minima.iter().copied().collect();
        for &e in &sweep.eps {
            let mut row = vec![
                s.model.to_string(),
                s.attack.to_string(),
                e.to_string(),
                pct(sorted.iter().filter(|v| **v <= e * (1.0 + 1e-6)).count(), n),
            ];
            for name in &curve_attacks {
                let cell = s
                    .fixed
                    .contains(name)
                    .then(|| fixed_cell(si, name, e))
                    .flatten();
                let Some((cases, broken_cases)) = cell else {
                    row.push("-".into());
                    continue;
                };
                row.push(pct(broken_cases.len(), cases));
                if broken_cases.is_empty() {
                    continue;
                }
                let ok = broken_cases
                    .iter()
                    .filter(|c| {
                        by_case
                            .get(c)
                            .copied()
                            .flatten()
                            .is_some_and(|v| v <= e * (1.0 + CONSISTENCY_SLACK))
                    })
                    .count();
                consist.push(vec![
                    s.model.to_string(),
                    s.attack.to_string(),
                    name.to_string(),
                    e.to_string(),
                    broken_cases.len().to_string(),
                    pct(ok, broken_cases.len()),
                ]);
            }
            curve.push(row);
        }
    }
    if dist.is_empty() {
        return Vec::new();
    }
    for r in &mut curve {
        r.resize(curve_header.len(), "-".into());
    }
    let (norm, rule) = (&sweep.norm, &sweep.rule);
    vec![
        TextTable {
            charts: Vec::new(),
            title: "Minimum-norm search".into(),
            caption: format!(
                "Per case, the smallest {norm} perturbation (up to the cap) found to break it: \
                 {rule}. Unbroken cases count as above the cap in the quantiles."
            ),
            header: [
                "model",
                "attack",
                "cap ε",
                "cases",
                "broken clean",
                "broken within cap",
                "median minimal ε",
                "quartiles",
            ]
            .map(String::from)
            .to_vec(),
            rows: dist,
        },
        TextTable {
            charts: Vec::new(),
            title: "Share broken vs ε".into(),
            caption: "The min-norm column is derived from the per-case minima without attacking \
                      again; the others are the fixed-budget attacks of the run at that ε, judged \
                      by the same rule."
                .into(),
            header: curve_header,
            rows: curve,
        },
        TextTable {
            charts: Vec::new(),
            title: "Consistency of the minimum-norm search".into(),
            caption: format!(
                "Of the cases a fixed-budget attack broke at ε, the share whose minimal ε is at \
                 most ε (with {:.0} % slack for the search's step).",
                CONSISTENCY_SLACK * 100.0
            ),
            header: [
                "model",
                "min-norm attack",
                "fixed attack",
                "ε",
                "broken by it",
                "minimal ε ≤ ε",
            ]
            .map(String::from)
            .to_vec(),
            rows: consist,
        },
    ]
}
