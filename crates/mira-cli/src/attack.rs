//! `mira attack`: attack a saved checkpoint on phantom test slices over a list of budgets.

use std::path::PathBuf;

use anyhow::Result;
use mira_attack::Norm;
use mira_eval::{
    AttackEntry, AttackScope, DataSpec, ModelEntry, SegExperiment, Segmentation, SweepSpec,
};

/// Arguments of `mira attack`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Checkpoint folder written by `mira train` or `mira run` (a 2D UNet; a 3D UNet with
    /// --input), or an ONNX segmentation model with input [B, C, H, W] and logits
    /// [B, K, H, W], or [B, C, D, H, W] and [B, K, D, H, W] (`--model` is the same flag).
    #[arg(long, alias = "model")]
    pub checkpoint: PathBuf,
    /// Attack: apgd (the default: the strong one), fgsm, ifgsm, pgd, pgd_adamax, mifgsm,
    /// square, spsa, auto, or min-norm (per slice, the smallest budget up to the largest --eps
    /// that breaks it); `mira attacks` lists them.
    #[arg(long, default_value = "apgd")]
    pub attack: String,
    /// Steps (ifgsm, pgd, pgd_adamax, mifgsm, apgd, auto, min-norm).
    #[arg(long)]
    pub steps: Option<usize>,
    /// A slice counts as broken when its mean foreground Dice falls below this (min-norm's
    /// criterion; the slices auto stops attacking).
    #[arg(long, default_value_t = 0.5)]
    pub break_dice: f64,
    /// Query budget (square, spsa, auto).
    #[arg(long)]
    pub queries: Option<usize>,
    /// Comma-separated budgets in [0, 1] intensity units.
    #[arg(long, value_delimiter = ',', default_value = "0,0.01,0.02,0.04")]
    pub eps: Vec<f32>,
    /// With --input and a CT window (`--normalise ct:CENTER,WIDTH`): budgets in HU instead of
    /// --eps (ε = HU / width; records give both).
    #[arg(long, value_delimiter = ',', conflicts_with = "eps_percent")]
    pub eps_hu: Vec<f32>,
    /// With --input: budgets as a percentage of each case's normalisation range instead of
    /// --eps (ε = % / 100).
    #[arg(long, value_delimiter = ',')]
    pub eps_percent: Vec<f32>,
    /// Norm of the budget: linf or l2.
    #[arg(long, default_value = "linf")]
    pub norm: String,
    /// Goal: untargeted or remove_tumour.
    #[arg(long, default_value = "untargeted")]
    pub goal: String,
    /// Divide logits by this in the attack loss (a distilled model's temperature).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// The attack loss: ce (default), margin, segpgd, cospgd or dice; with `--attack auto`
    /// several, comma-separated, give its worst-over-losses cascade (e.g. ce,segpgd,cospgd).
    #[arg(long, value_delimiter = ',', default_value = "ce")]
    pub loss: Vec<String>,
    /// Test slices to attack.
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    /// Side of the phantom slices (must match the checkpoint's training data).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Seed of the test data and random starts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder.
    #[arg(long, default_value = "runs/attack")]
    pub out: PathBuf,
    /// Attack your own images instead of phantoms: a folder of NIfTI, DICOM (files or series
    /// folders) or PNG/JPEG files; adversarial versions are written in the same format under
    /// OUT/eps_<ε>/, beside the run folder's records.jsonl, summary.md and report.html.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// With --input: label maps with the same file stems (Dice against them; without, against
    /// the model's clean prediction).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// With --input: channel names; a case's channel c is `<case>_<c>.<ext>`, or one file holds
    /// every channel. Default: one channel named `image`.
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<String>,
    /// With --input: normalisation to [0, 1] model units: percentile[:LOW,HIGH] (default
    /// 0.5,99.5), minmax, ct:CENTER,WIDTH, or none. It must be the one the model was trained with.
    #[arg(long, default_value = "percentile")]
    pub normalise: String,
    /// With --labels: the value of each class in the label files (default 0, 1, ...).
    #[arg(long, value_delimiter = ',')]
    pub label_values: Vec<i64>,
    /// With --input and a 2D model: volumes are attacked slice by slice across this axis (0, 1
    /// or 2). A 3D model (ONNX, or a 3D UNet checkpoint) attacks whole volumes.
    #[arg(long, default_value_t = 2)]
    pub slice_axis: usize,
    /// With an ONNX model: what it outputs, logits or probabilities (their log is attacked);
    /// auto: probabilities when the graph ends in a Softmax over the classes.
    #[arg(long, default_value = "auto")]
    pub output: String,
    /// Scanner artefacts and natural corruptions evaluated beside the attack, comma-separated
    /// families (motion, ghosting, spike, bias, rician, blur, gamma, gibbs, anisotropy,
    /// ct_noise, window_shift, contrast, noise; docs/corruptions.md). With --input each case
    /// is corrupted in file units and written under OUT/corrupt_<family>_s<severity>/.
    #[arg(long, value_delimiter = ',')]
    pub corrupt: Vec<String>,
    /// With --corrupt: the severities (1..5).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5")]
    pub severities: Vec<u8>,
    /// With --corrupt: seeded draws per case and severity.
    #[arg(long, default_value_t = 1)]
    pub draws: usize,
    /// How volumes enter a 3D model: axis order and sliding windows.
    #[command(flatten)]
    pub volume: VolumeArgs,
    /// With --roi: what the attack differentiates, blended (the prediction as deployed),
    /// tiles (each non-overlapping tile alone, the published protocol; records name the
    /// attack `<attack>-tiles`), or both (a cell of each, to compare); all are evaluated with
    /// the blended prediction.
    #[arg(long, default_value = "blended")]
    pub window_attack: String,
}

/// How volumes enter a 3D model (`mira predict` and `mira attack --input`).
#[derive(clap::Args, Debug)]
pub struct VolumeArgs {
    /// With a 3D model: volumes enter as [z, y, x] (zyx: the NIfTI array's order, SimpleITK,
    /// nnU-Net) or [x, y, z] (xyz: nibabel, MONAI's LoadImage).
    #[arg(long, default_value = "zyx")]
    pub axes: String,
    /// With a 3D model: predict each volume through sliding windows of this size (D,H,W in
    /// the model's axis order), as MONAI's sliding_window_inference. Default: the whole
    /// volume at once.
    #[arg(long, value_delimiter = ',')]
    pub roi: Vec<usize>,
    /// With --roi: the windows' overlap in [0, 1).
    #[arg(long, default_value_t = 0.5)]
    pub overlap: f32,
    /// With --roi: gaussian (σ = roi/8, nnU-Net's) or constant (MONAI's default) blending.
    #[arg(long, default_value = "gaussian")]
    pub blend: String,
}

/// `--roi D,H,W` (empty: none).
pub(crate) fn parse_roi(roi: &[usize]) -> Result<Option<[usize; 3]>> {
    match roi {
        [] => Ok(None),
        [d, h, w] => Ok(Some([*d, *h, *w])),
        _ => Err(crate::InvalidInput(format!("--roi {roi:?}: give three sizes D,H,W")).into()),
    }
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(field: &str, value: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|e| crate::InvalidInput(format!("--{field} {value}: {e}")).into())
}

/// The corruption entries of `--corrupt`, `--severities` and `--draws`.
pub(crate) fn corruptions(a: &Args) -> Result<Vec<mira_eval::CorruptionEntry>> {
    a.corrupt
        .iter()
        .map(|k| {
            Ok(mira_eval::CorruptionEntry {
                name: None,
                kind: parse("corrupt", k)?,
                severities: a.severities.clone(),
                draws: a.draws,
                worst: false,
            })
        })
        .collect()
}

/// The attack entry the flags describe (`--attack min-norm`: the minimum-norm scope).
pub(crate) fn entry(a: &Args) -> Result<AttackEntry> {
    let min_norm = a.attack == "min-norm";
    if a.loss.len() > 1 && a.attack != "auto" {
        return Err(crate::InvalidInput(format!(
            "--loss {}: several losses belong to --attack auto (its worst-over-losses cascade); \
             --attack {} takes one",
            a.loss.join(","),
            a.attack
        ))
        .into());
    }
    Ok(AttackEntry {
        name: a.attack.clone(),
        scope: if min_norm {
            AttackScope::MinNorm
        } else {
            AttackScope::PerImage
        },
        kind: if min_norm {
            None
        } else {
            Some(parse("attack", &a.attack)?)
        },
        steps: a.steps,
        rel_step: None,
        restarts: None,
        queries: a.queries,
        goal: parse("goal", &a.goal)?,
        temperature: a.temperature,
        loss: match a.loss.as_slice() {
            [one] => parse("loss", one)?,
            _ => Default::default(),
        },
        losses: match a.loss.as_slice() {
            [_] => None,
            many => Some(
                many.iter()
                    .map(|l| parse("loss", l))
                    .collect::<Result<Vec<_>>>()?,
            ),
        },
        early_stop: None,
    })
}

pub fn main(a: Args) -> Result<()> {
    if a.input.is_some() {
        return crate::attack_files::main(&a);
    }
    for (set, flag) in [
        (!a.volume.roi.is_empty(), "--roi"),
        (a.labels.is_some(), "--labels"),
        (!a.channels.is_empty(), "--channels"),
        (!a.label_values.is_empty(), "--label-values"),
        (!a.eps_hu.is_empty(), "--eps-hu"),
        (!a.eps_percent.is_empty(), "--eps-percent"),
    ] {
        if set {
            return Err(crate::InvalidInput(format!("{flag} needs --input")).into());
        }
    }
    let onnx = mira_onnx::is_onnx_path(&a.checkpoint);
    let norm: Norm = parse("norm", &a.norm)?;
    let toml_data = format!(
        "source = \"brain_mr_phantom\"\ntest = {}\ntrain = 0\nval = 0\n[phantom]\nsize = {}\n",
        a.n, a.size
    );
    let data: DataSpec =
        toml::from_str(&toml_data).map_err(|e| crate::InvalidInput(e.to_string()))?;
    let exp = SegExperiment {
        task: None,
        name: "attack".into(),
        seed: a.seed,
        data,
        training: Default::default(),
        models: vec![ModelEntry {
            name: "model".into(),
            checkpoint: (!onnx).then(|| a.checkpoint.clone()),
            base_width: None,
            depth: None,
            residual: None,
            norm: None,
            defence: Default::default(),
            torch_weights: None,
            onnx: onnx.then(|| a.checkpoint.clone()),
            output: onnx.then(|| parse("output", &a.output)).transpose()?,
        }],
        attacks: vec![entry(&a)?],
        corruptions: corruptions(&a)?,
        sweep: SweepSpec {
            norm,
            epsilons: a.eps.clone(),
            batch_size: 8,
            break_dice: a.break_dice,
            break_match: 0.5,
            size_bins: None,
        },
        checks: Default::default(),
        roi: None,
        overlap: None,
        blend: None,
        window_attack: None,
        patch: None,
    };
    crate::run::execute::<Segmentation>(&exp, &a.out)?;
    Ok(())
}
