//! `mira predict --model MODEL.onnx --input DIR`: an ONNX model's predictions on a folder of
//! image files. A model whose input has rank 5 gets whole volumes (`[1, C, z, y, x]` of the
//! NIfTI array, or `[1, C, x, y, z]` with `--axes xyz`); rank 4 gets the slices across
//! `--slice-axis`. Dense outputs (the input's
//! spatial size) are written as float32 NIfTI `OUT/<case>_logits.nii.gz` (classes on the
//! fourth axis) and `OUT/<case>_labels.nii.gz` (argmax) with the first source file's
//! geometry; other outputs as one JSON line per case in `OUT/predictions.jsonl`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mira_eval::{
    FolderSpec, SliceSelection, VolumeAxes, cut, put, read_case, scan_cases, slice_count,
    slice_shape,
};
use mira_onnx::{FTensor, OnnxModel, OnnxNet};

use crate::InvalidInput;

/// Arguments of `mira predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model (.onnx).
    #[arg(long)]
    pub model: PathBuf,
    /// A folder of NIfTI, DICOM (files or series folders) or PNG/JPEG files, one case a file
    /// (or `<case>_<channel>` files with --channels).
    #[arg(long)]
    pub input: PathBuf,
    /// Channel names, comma-separated: a case's channel c is `<case>_<c>.<ext>`, or one file
    /// holds every channel. Default: one channel.
    #[arg(long)]
    pub channels: Option<String>,
    /// Normalisation to [0, 1]: percentile[:LOW,HIGH], minmax, ct:CENTER,WIDTH or none (the
    /// model's own preprocessing).
    #[arg(long, default_value = "percentile")]
    pub normalise: String,
    /// For a model of rank-4 input: volumes are cut into slices across this axis (0, 1, 2).
    #[arg(long, default_value_t = 2)]
    pub slice_axis: usize,
    /// How volumes enter a 3D model: axis order and sliding windows.
    #[command(flatten)]
    pub volume: crate::attack::VolumeArgs,
    /// Output folder.
    #[arg(long, default_value = "runs/predict")]
    pub out: PathBuf,
}

fn bad(e: impl ToString) -> anyhow::Error {
    InvalidInput(e.to_string()).into()
}

/// `--axes zyx|xyz`.
pub(crate) fn parse_axes(s: &str) -> Result<VolumeAxes> {
    VolumeAxes::parse(s).ok_or_else(|| bad(format!("--axes {s}: must be zyx or xyz")))
}

pub fn main(a: &Args) -> Result<()> {
    let model = OnnxModel::from_file(&a.model).map_err(bad)?;
    let rank = model.inputs.first().map_or(0, |i| i.shape.len());
    if !(rank == 4 || rank == 5) {
        return Err(bad(format!(
            "{}: the input must be [B, C, H, W] or [B, C, D, H, W], the file declares rank {rank}",
            a.model.display()
        )));
    }
    let net = OnnxNet::new(model, &mira_nn::default_device()).map_err(bad)?;
    let channels: Vec<String> = match &a.channels {
        Some(c) => c.split(',').map(|s| s.trim().to_string()).collect(),
        None => vec!["image".into()],
    };
    if a.slice_axis > 2 {
        return Err(bad("--slice-axis must be 0, 1 or 2"));
    }
    let axes = parse_axes(&a.volume.axes)?;
    let window = match crate::attack::parse_roi(&a.volume.roi)? {
        None => None,
        Some(_) if rank != 5 => return Err(bad("--roi applies to 3D models (rank-5 input)")),
        Some(roi) => {
            let w = mira_nn::SlidingWindow {
                overlap: a.volume.overlap,
                blend: crate::attack::parse("blend", &a.volume.blend)?,
                ..mira_nn::SlidingWindow::new(roi)
            };
            w.validate().map_err(bad)?;
            Some(w)
        }
    };
    let spec = FolderSpec {
        path: PathBuf::new(),
        images: String::new(),
        labels: String::new(),
        channels: channels.clone(),
        label_names: Vec::new(),
        label_values: None,
        normalise: crate::attack_files::parse_normalise(&a.normalise)?,
        slice_axis: a.slice_axis,
        slices: SliceSelection::All,
        size: None,
        split: [0.0, 0.0, 1.0],
    };
    let cases = scan_cases(&a.input, None, &channels).map_err(bad)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut lines = String::new();
    for case in &cases {
        let rc = read_case(case, channels.len(), &spec).map_err(bad)?;
        let dims = rc.channels[0].dims;
        let y = if rank == 5 {
            let mut data = Vec::with_capacity(channels.len() * dims.iter().product::<usize>());
            for c in &rc.channels {
                data.extend(axes.to_model(&c.data, dims));
            }
            let [d, h, w] = axes.model_dims(dims);
            let x = FTensor::from_host(
                &data,
                &[1, channels.len(), d, h, w],
                &mira_nn::default_device(),
            )?;
            let y: std::result::Result<FTensor, String> = match &window {
                None => net.run(x).map_err(|e| e.to_string()),
                Some(sw) => {
                    let x5 = x.into_rank::<5>()?;
                    sw.plan([d, h, w])
                        .forward(x5, &|t| {
                            net.forward_as::<5, 5>(t)
                                .map_err(|e| mira_nn::NnError::Model(e.to_string()))
                        })
                        .map_err(|e| format!("a window: {e}"))
                        .and_then(|y| FTensor::of(y).map_err(|e| e.to_string()))
                }
            };
            Some(y.map_err(|e| bad(format!("case `{}`: {e}", case.name)))?)
        } else {
            None
        };
        let written = match y {
            Some(y) if y.dims().len() == 5 => {
                let (k, v) = (y.dims()[1], y.to_vec());
                let n = v.len() / k.max(1);
                let logits: Vec<f32> = if n == dims.iter().product::<usize>() {
                    v.chunks(n).flat_map(|c| axes.from_model(c, dims)).collect()
                } else {
                    v // not the input's size: refused by write_dense
                };
                write_dense(a, &case.name, &rc, dims, k, &logits)?
            }
            Some(y) => {
                lines.push_str(&json_line(&case.name, &y));
                format!("{:?} output", y.dims())
            }
            None => {
                let (k, logits) = slices(&net, &rc, dims, a.slice_axis, &case.name)?;
                write_dense(a, &case.name, &rc, dims, k, &logits)?
            }
        };
        println!("{:<24} {written}", case.name);
    }
    if !lines.is_empty() {
        let p = a.out.join("predictions.jsonl");
        std::fs::write(&p, lines).with_context(|| format!("writing {}", p.display()))?;
        println!("Vector outputs: {}", p.display());
    }
    println!("{} case(s) predicted into {}", cases.len(), a.out.display());
    Ok(())
}

/// A rank-4 model on every slice across `axis`: `K` and the logits as a `[K, z, y, x]` array.
fn slices(
    net: &OnnxNet,
    rc: &mira_eval::ReadCase,
    dims: [usize; 3],
    axis: usize,
    name: &str,
) -> Result<(usize, Vec<f32>)> {
    let (h, w) = slice_shape(dims, axis);
    let n: usize = dims.iter().product();
    let mut out: Vec<Vec<f32>> = Vec::new();
    for k in 0..slice_count(dims, axis) {
        let mut data = Vec::new();
        for c in &rc.channels {
            data.extend(cut(&c.data, dims, axis, k));
        }
        let x = FTensor::from_host(
            &data,
            &[1, rc.channels.len(), h, w],
            &mira_nn::default_device(),
        )?;
        let y = net
            .run(x)
            .map_err(|e| bad(format!("case `{name}`, slice {k}: {e}")))?;
        let yd = y.dims();
        if yd.len() != 4 || yd[2..] != [h, w] {
            return Err(bad(format!(
                "case `{name}`: the model maps a [1, C, {h}, {w}] slice to {yd:?}; dense outputs \
                 of the slice's size are needed"
            )));
        }
        if out.is_empty() {
            out = vec![vec![0.0; n]; yd[1]];
        }
        let v = y.to_vec();
        for (class, vol) in out.iter_mut().enumerate() {
            put(vol, dims, axis, k, &v[class * h * w..(class + 1) * h * w]);
        }
    }
    Ok((out.len(), out.concat()))
}

/// Writes `<case>_logits.nii.gz` (`[x, y, z, K]`) and `<case>_labels.nii.gz` (argmax).
fn write_dense(
    a: &Args,
    name: &str,
    rc: &mira_eval::ReadCase,
    dims: [usize; 3],
    k: usize,
    logits: &[f32],
) -> Result<String> {
    let n: usize = dims.iter().product();
    if k == 0 || logits.len() != k * n {
        return Err(bad(format!(
            "case `{name}`: the output holds {} values, not {k} classes of the input's {n} voxels",
            logits.len()
        )));
    }
    let src = &rc.files[0].0;
    let mut spacing: Vec<f32> = src.spacing.iter().copied().take(3).collect();
    spacing.resize(3, 1.0);
    let vol = |dims: Vec<usize>, spacing: Vec<f32>, data: Vec<f32>| mira_io::Volume {
        dims,
        spacing,
        affine: src.affine,
        data,
    };
    let labels: Vec<f32> = (0..n)
        .map(|i| {
            (0..k)
                .max_by(|&p, &q| logits[p * n + i].total_cmp(&logits[q * n + i]))
                .unwrap_or(0) as f32
        })
        .collect();
    let mut s4 = spacing.clone();
    s4.push(1.0);
    let write = |file: String, v: mira_io::Volume| -> Result<PathBuf> {
        let p = a.out.join(file);
        mira_io::write_nifti(&p, &v).with_context(|| format!("writing {}", p.display()))?;
        Ok(p)
    };
    let lp = write(
        format!("{name}_logits.nii.gz"),
        vol(vec![dims[0], dims[1], dims[2], k], s4, logits.to_vec()),
    )?;
    write(
        format!("{name}_labels.nii.gz"),
        vol(dims.to_vec(), spacing, labels),
    )?;
    Ok(format!("{k} classes -> {}", short(&lp)))
}

fn short(p: &Path) -> String {
    p.file_name()
        .map_or(String::new(), |f| f.to_string_lossy().into_owned())
}

fn json_line(name: &str, y: &FTensor) -> String {
    let v: Vec<f32> = y.to_vec();
    serde_json::json!({ "case": name, "shape": y.dims(), "output": v }).to_string() + "\n"
}
