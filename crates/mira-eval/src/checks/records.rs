//! Record checks of any task, on its own per-case metric: damage must not shrink as ε grows
//! (`non-monotone`), and an iterative attack must not do less damage than single-step FGSM
//! with the same goal on the same cases (`iterative-weaker`).

use crate::checks::{Metric, Warning};
use crate::run::Record;

/// What the record checks know of an attack entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackFacts {
    /// Its name in records.
    pub name: String,
    /// Its damage should grow with ε (untargeted, not early-stopped, a budget sweep).
    pub monotone: bool,
    /// Single-step FGSM (the yardstick of `iterative-weaker`).
    pub single_step: bool,
    /// An iterative attack compared with FGSM.
    pub iterative: bool,
    /// Attacks are compared only within one group (same goal, loss, image, norm).
    pub group: String,
}

impl AttackFacts {
    /// An entry compared within `group`: single-step FGSM or an iterative attack when it is a
    /// per-image attack (`per_image`), neither otherwise.
    pub fn entry(name: &str, per_image: bool, kind: &str, monotone: bool, group: String) -> Self {
        Self {
            name: name.to_string(),
            monotone,
            single_step: per_image && kind == "fgsm",
            iterative: per_image && kind != "fgsm",
            group,
        }
    }
}

/// [`record_checks`] without notices.
pub fn check_records<R: Record>(
    records: &[R],
    models: &[String],
    attacks: &[AttackFacts],
    metric: &Metric,
    value: impl Fn(&R) -> Option<f64>,
) -> Vec<Warning> {
    record_checks(records, models, attacks, value, metric, &|_, _| None)
}

/// Mean of the defined values.
fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The checks over the records of `models` × `attacks`: `value` is a record's metric under
/// attack (`None`: undefined, left out of the means), `metric` how it reads (`tolerance` is
/// the noise level of a mean). `notice` may add a warning of its own per (model, attack),
/// listed before that attack's checks (e.g. the `early-stop` notice).
pub fn record_checks<R: Record>(
    records: &[R],
    models: &[String],
    attacks: &[AttackFacts],
    value: impl Fn(&R) -> Option<f64>,
    metric: &Metric,
    notice: &dyn Fn(&str, &AttackFacts) -> Option<Warning>,
) -> Vec<Warning> {
    let mut out = Vec::new();
    let cell_mean = |m: &str, a: &str, e: f64| {
        mean(records.iter().filter_map(|r| {
            let k = r.key();
            (k.model == m && k.attack == a && k.epsilon() == e).then(|| value(r))
        }))
    };
    let mut eps: Vec<f64> = records.iter().map(|r| r.key().epsilon()).collect();
    eps.sort_by(f64::total_cmp);
    eps.dedup();
    let show = |v: f64| format!("{v:.*}", metric.decimals);
    let damage = |v: f64| if metric.higher_is_worse { v } else { -v };
    let tol = metric.tolerance;
    for m in models {
        for a in attacks {
            out.extend(notice(m, a));
            if !a.monotone {
                continue;
            }
            let curve: Vec<(f64, f64)> = eps
                .iter()
                .filter_map(|&e| Some((e, cell_mean(m, &a.name, e)?)))
                .collect();
            for w in curve.windows(2) {
                if damage(w[1].1) < damage(w[0].1) - tol {
                    out.push(Warning {
                        check: "non-monotone".into(),
                        model: m.clone(),
                        attack: Some(a.name.clone()),
                        message: format!(
                            "{} {} from {} at {b} = {} to {} at {b} = {}: the attack is not \
                             finding the worst case at the larger budget",
                            metric.name,
                            if metric.higher_is_worse {
                                "falls"
                            } else {
                                "rises"
                            },
                            show(w[0].1),
                            w[0].0,
                            show(w[1].1),
                            w[1].0,
                            b = metric.budget
                        ),
                    });
                }
            }
        }
        for single in attacks.iter().filter(|a| a.single_step) {
            for iter in attacks
                .iter()
                .filter(|a| a.iterative && a.group == single.group)
            {
                for &e in eps.iter().filter(|e| **e > 0.0) {
                    let (ds, di) = (cell_mean(m, &single.name, e), cell_mean(m, &iter.name, e));
                    if let (Some(ds), Some(di)) = (ds, di)
                        && damage(di) < damage(ds) - tol
                    {
                        out.push(Warning {
                            check: "iterative-weaker".into(),
                            model: m.clone(),
                            attack: Some(iter.name.clone()),
                            message: format!(
                                "at {} = {e} it leaves {} {}, single-step {} leaves {}: too \
                                 few steps, too small steps, or masked gradients",
                                metric.budget,
                                metric.name,
                                show(di),
                                single.name,
                                show(ds)
                            ),
                        });
                    }
                }
            }
        }
    }
    out
}
