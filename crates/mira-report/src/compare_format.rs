//! Text forms of the model comparison: Markdown for people, CSV for further analysis.

use crate::summary::fmt_p;
use crate::{ComparisonRow, DefenceRow};

/// Markdown: attacked Dice per model (mean [Q1, Q3]) per group, attack and ε, then the paired
/// tests.
pub fn comparison_markdown(rows: &[DefenceRow], tests: &[ComparisonRow]) -> String {
    let mut labels: Vec<&str> = Vec::new();
    for r in rows {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    let mut out = String::from(
        "## Attacked Dice per model\n\nmean [Q1, Q3] over cases; `mean` is the per-case mean over \
         the defined tumour labels.\n",
    );
    let mut last: Option<(&str, &str)> = None;
    let mut seen: Vec<(&str, &str, u64, &str)> = Vec::new();
    for r in rows {
        let key = (
            r.group.as_str(),
            r.attack.as_str(),
            r.epsilon.to_bits(),
            r.model.as_str(),
        );
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if last != Some((&r.group, &r.attack)) {
            last = Some((&r.group, &r.attack));
            out += &format!("\n### {} / {}\n\n| ε | model |", r.group, r.attack);
            for l in &labels {
                out += &format!(" {l} |");
            }
            out += "\n|---|---|";
            out += &"---|".repeat(labels.len());
            out += "\n";
        }
        out += &format!("| {} | {} |", r.epsilon, r.model);
        for l in &labels {
            let cell = rows
                .iter()
                .find(|x| {
                    (
                        x.group.as_str(),
                        x.attack.as_str(),
                        x.epsilon.to_bits(),
                        x.model.as_str(),
                    ) == key
                        && x.label == *l
                })
                .and_then(|x| x.adv)
                .map_or("-".into(), |s| {
                    format!("{:.3} [{:.2}, {:.2}]", s.mean, s.q1, s.q3)
                });
            out += &format!(" {cell} |");
        }
        out += "\n";
    }
    out +=
        "\n## Paired Wilcoxon signed-rank tests (two-sided; Holm over labels × ε per family)\n\n";
    out += "| group | attack | ε | label | A | B | n | mean A | mean B | p | p Holm |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for t in tests {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {} | {} |\n",
            t.group,
            t.attack,
            t.epsilon,
            t.label,
            t.a,
            t.b,
            t.n,
            t.mean_a,
            t.mean_b,
            fmt_p(t.p),
            fmt_p(t.p_holm)
        );
    }
    out
}

/// CSV of the paired tests.
pub fn comparison_csv(tests: &[ComparisonRow]) -> String {
    let mut out = String::from("group,attack,epsilon,label,a,b,n,mean_a,mean_b,p,p_holm\n");
    let p = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:e}"));
    for t in tests {
        out += &format!(
            "{},{},{},{},{},{},{},{:.6},{:.6},{},{}\n",
            t.group,
            t.attack,
            t.epsilon,
            t.label,
            t.a,
            t.b,
            t.n,
            t.mean_a,
            t.mean_b,
            p(t.p),
            p(t.p_holm)
        );
    }
    out
}

/// CSV of the per-model attacked Dice.
pub fn defence_csv(rows: &[DefenceRow]) -> String {
    let mut out = String::from(
        "group,attack,epsilon,label,model,n,adv_mean,adv_q1,adv_median,adv_q3,clean_mean\n",
    );
    for r in rows {
        let (n, m, q1, med, q3) = r.adv.map_or(
            ("0".into(), "-".into(), "-".into(), "-".into(), "-".into()),
            |s| {
                (
                    s.n.to_string(),
                    format!("{:.6}", s.mean),
                    format!("{:.6}", s.q1),
                    format!("{:.6}", s.median),
                    format!("{:.6}", s.q3),
                )
            },
        );
        let clean = r.clean.map_or("-".into(), |s| format!("{:.6}", s.mean));
        out += &format!(
            "{},{},{},{},{},{n},{m},{q1},{med},{q3},{clean}\n",
            r.group, r.attack, r.epsilon, r.label, r.model
        );
    }
    out
}
