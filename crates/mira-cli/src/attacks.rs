//! `mira attacks`: the attack library, with papers, threat models and defaults.

use anyhow::Result;

/// Arguments of `mira attacks` (none).
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn main(_: Args) -> Result<()> {
    println!(
        "Every attack sees only an objective (a per-sample task loss and its input gradient), so\n\
         each works on every task: segmentation (Dice), registration (TRE), regression (age,\n\
         contour points), 2D and 3D. Budgets: `[sweep] norm = \"linf\" | \"l2\"`, ε in [0, 1] units.\n\
         Details: docs/attacks.md.\n"
    );
    for a in mira_attack::catalogue() {
        println!(
            "{}  ({})",
            a.name,
            a.kind.map_or("not in experiment files".to_string(), |k| {
                if k.contains('=') {
                    format!("{k}, brain-age files")
                } else {
                    format!("kind = \"{k}\"")
                }
            })
        );
        println!("    paper:      {}", a.paper);
        println!("    threat:     {}", a.threat);
        println!("    parameters: {}", a.parameters);
        println!("    needs:      {}", a.access);
    }
    Ok(())
}
