//! `mira attack --input DIR`: adversarial versions of a user's own image files, written in
//! their format, with a JSON manifest (see `mira_eval::FileAttack`).

use anyhow::{Context, Result};
use mira_attack::Norm;
use mira_eval::{FileAttack, Normalise};

use crate::InvalidInput;
use crate::attack::{Args, parse};

/// `percentile[:LOW,HIGH]`, `minmax`, `ct:CENTER,WIDTH` or `none`.
pub(crate) fn parse_normalise(text: &str) -> Result<Normalise> {
    let bad = || {
        InvalidInput(format!(
            "--normalise {text}: use percentile[:LOW,HIGH], minmax, ct:CENTER,WIDTH or none"
        ))
    };
    let (kind, args) = text.split_once(':').unwrap_or((text, ""));
    let nums: Vec<f32> = if args.is_empty() {
        Vec::new()
    } else {
        args.split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad())?
    };
    let n = match (kind, nums.as_slice()) {
        ("percentile", []) => Normalise::default(),
        ("percentile", [low, high]) => Normalise::Percentile {
            low: *low,
            high: *high,
        },
        ("minmax", []) => Normalise::MinMax,
        ("ct", [center, width]) => Normalise::CtWindow {
            center: *center,
            width: *width,
        },
        ("none", []) => Normalise::None,
        _ => return Err(bad().into()),
    };
    n.validate("--normalise")
        .map_err(|e| InvalidInput(e.to_string()))?;
    Ok(n)
}

pub fn main(a: &Args) -> Result<()> {
    let input = a.input.as_deref().unwrap_or(std::path::Path::new("."));
    if a.goal != "untargeted" || a.temperature.is_some() {
        return Err(InvalidInput(
            "--input attacks are untargeted cross-entropy attacks: drop --goal and --temperature"
                .into(),
        )
        .into());
    }
    if a.slice_axis > 2 {
        return Err(InvalidInput("--slice-axis must be 0, 1 or 2".into()).into());
    }
    let normalise = parse_normalise(&a.normalise)?;
    let norm: Norm = parse("norm", &a.norm)?;
    let entry = crate::attack::entry(a)?;
    let spec = entry
        .spec("--attack")
        .map_err(|e| InvalidInput(e.to_string()))?
        .ok_or_else(|| {
            InvalidInput("--attack min-norm is not available with --input (yet)".into())
        })?;
    for e in &a.eps {
        if !(e.is_finite() && *e >= 0.0) {
            return Err(InvalidInput(format!("--eps {e} must be finite and >= 0")).into());
        }
    }
    let (model, meta) = mira_nn::checkpoint::load(&a.checkpoint, &mira_nn::default_device())
        .map_err(|e| InvalidInput(e.to_string()))?;
    let channels = if a.channels.is_empty() {
        meta.channel_names.clone()
    } else {
        a.channels.clone()
    };
    if channels.len() != meta.unet.in_channels {
        return Err(InvalidInput(format!(
            "--channels names {} channel(s); the model takes {}",
            channels.len(),
            meta.unet.in_channels
        ))
        .into());
    }
    let label_values = if a.label_values.is_empty() {
        (0..meta.unet.classes as i64).collect()
    } else {
        a.label_values.clone()
    };
    if label_values.len() != meta.unet.classes {
        return Err(InvalidInput(format!(
            "--label-values gives {} values; the model has {} classes",
            label_values.len(),
            meta.unet.classes
        ))
        .into());
    }
    let label_names = if meta.label_names.len() == meta.unet.classes {
        meta.label_names.clone()
    } else {
        (0..meta.unet.classes)
            .map(|c| format!("class{c}"))
            .collect()
    };
    let cases = mira_eval::scan_cases(input, a.labels.as_deref(), &channels)
        .map_err(|e| InvalidInput(e.to_string()))?;
    let fa = FileAttack {
        model: &model,
        depth: meta.unet.depth,
        attack_name: &a.attack,
        spec: &spec,
        norm,
        epsilons: &a.eps,
        channels: &channels,
        label_names: &label_names,
        label_values,
        normalise,
        slice_axis: a.slice_axis,
        batch_size: 8,
        seed: a.seed,
    };
    println!(
        "{} case(s) from {}; writing to {}",
        cases.len(),
        input.display(),
        a.out.display()
    );
    let weights = a.checkpoint.join(mira_nn::checkpoint::WEIGHTS_FILE);
    let fmt = |d: Option<f64>| d.map_or("-".to_string(), |d| format!("{d:.3}"));
    let manifest = fa
        .run(&cases, &a.out, &weights, &mut |o| {
            println!(
                "{:<20} eps {:<6} {:<12} Dice clean {} attacked {} written {}  (vs {})",
                o.case,
                o.epsilon,
                o.format,
                fmt(o.clean_dice),
                fmt(o.adv_dice),
                fmt(o.written_dice),
                o.reference
            );
        })
        .context("attacking the input files")?;
    println!(
        "{} adversarial file set(s); manifest: {}",
        manifest.outputs.len(),
        a.out.join("manifest.json").display()
    );
    Ok(())
}
