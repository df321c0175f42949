//! `mira demo`: the quickest end-to-end look at what Mira does.

use std::path::PathBuf;

use anyhow::Result;
use mira_eval::{SegExperiment, Segmentation};

/// The demo experiment, compiled in so that `mira demo` works from any folder.
const DEMO: &str = include_str!("../../../experiments/demo.toml");

/// Arguments of `mira demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output folder.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Master seed.
    #[arg(long)]
    pub seed: Option<u64>,
}

pub fn main(args: Args) -> Result<()> {
    let mut exp = SegExperiment::from_toml(DEMO, "experiments/demo.toml")?;
    if let Some(seed) = args.seed {
        exp.seed = seed;
    }
    eprintln!(
        "Mira demo: train a UNet on {} brain MR phantom slices (T1, T1c, T2, FLAIR), then attack {} test slices.",
        exp.data.train, exp.data.test
    );
    crate::run::execute::<Segmentation>(&exp, &args.out)?;
    println!("Dice per label is shown as clean → attacked; ε is in [0, 1] intensity units.");
    Ok(())
}
