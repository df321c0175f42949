//! `mira attack --input DIR`: adversarial versions of a user's own image files, written in
//! their format, through the runner's `files` task (run folder, records, checks, report).

use anyhow::{Context, Result};
use mira_eval::{Files, FilesExperiment, Normalise};

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

/// Attacks the files through the runner: `OUT` gets the manifest, `records.jsonl` (one line a
/// case and budget), the adversarial files under `eps_<ε>/`, the checks and `report.html`.
pub fn main(a: &Args) -> Result<()> {
    let input = a.input.clone().unwrap_or_else(|| ".".into());
    if a.goal != "untargeted" || a.temperature.is_some() {
        return Err(InvalidInput(
            "--input attacks are untargeted cross-entropy attacks: drop --goal and --temperature"
                .into(),
        )
        .into());
    }
    if a.attack == "min-norm" {
        return Err(
            InvalidInput("--attack min-norm is not available with --input (yet)".into()).into(),
        );
    }
    let exp = FilesExperiment {
        task: Some("files".into()),
        name: "attack".into(),
        seed: a.seed,
        model: a.checkpoint.clone(),
        input,
        labels: a.labels.clone(),
        channels: a.channels.clone(),
        label_values: a.label_values.clone(),
        normalise: parse_normalise(&a.normalise)?,
        slice_axis: a.slice_axis,
        axes: crate::predict::parse_axes(&a.volume.axes)?,
        output: crate::attack::parse("output", &a.output)?,
        roi: crate::attack::parse_roi(&a.volume.roi)?,
        overlap: a.volume.overlap,
        blend: crate::attack::parse("blend", &a.volume.blend)?,
        window_attack: crate::attack::parse("window-attack", &a.window_attack)?,
        attack: crate::attack::entry(a)?,
        norm: parse("norm", &a.norm)?,
        epsilons: if a.eps_hu.is_empty() && a.eps_percent.is_empty() {
            a.eps.clone()
        } else {
            Vec::new()
        },
        epsilons_hu: (!a.eps_hu.is_empty()).then(|| a.eps_hu.clone()),
        epsilons_percent: (!a.eps_percent.is_empty()).then(|| a.eps_percent.clone()),
        corruptions: crate::attack::corruptions(a)?,
        batch_size: 8,
        checks: Default::default(),
    };
    exp.validate().map_err(|e| InvalidInput(e.to_string()))?;
    let onnx = mira_onnx::is_onnx_path(&a.checkpoint);
    if onnx && !a.checkpoint.is_file() {
        return Err(
            InvalidInput(format!("--model {}: no such file", a.checkpoint.display())).into(),
        );
    }
    if !onnx && !a.checkpoint.join("model.json").is_file() {
        return Err(InvalidInput(format!(
            "--checkpoint {}: no model.json (a folder written by mira train or mira run)",
            a.checkpoint.display()
        ))
        .into());
    }
    crate::run::execute::<Files>(&exp, &a.out).context("attacking the input files")?;
    println!(
        "adversarial files under {}/eps_<ε>/; records: {}",
        a.out.display(),
        a.out.join("records.jsonl").display()
    );
    Ok(())
}
