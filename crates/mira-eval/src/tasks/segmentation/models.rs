//! The networks of a segmentation experiment: ONNX models and PyTorch weights imported,
//! checkpoints loaded, or architectures trained here (with their defence) and saved under
//! `out/models/NAME`.

use std::path::Path;

use burn::module::Module;
use mira_data::SegDataset;
use mira_nn::checkpoint::{self, CheckpointMeta};
use mira_nn::{UNet, default_device};
use mira_train::train_defended;

use crate::Result;
use crate::run::{ModelJob, Setup, mix};
use crate::tasks::segmentation::volumetric::{Unet3dTraining, train_and_save_unet3d};
use crate::tasks::segmentation::{SegExperiment, SegNet};

/// Loads, imports or trains every model of `exp`, pinning each one's weights; the 2D UNets to
/// train are trained side by side ([`Setup::models`]). The models come back in file order.
///
/// # Errors
/// Unreadable checkpoints or weights, training failures, an untrained model in a folder that
/// may not be written.
pub(crate) fn models(
    exp: &SegExperiment,
    train: &SegDataset,
    val: &SegDataset,
    setup: &mut Setup<'_, SegExperiment>,
) -> Result<Vec<SegNet>> {
    // Every entry's slot in file order; the UNets trained here are filled in at the end.
    let mut models: Vec<Option<SegNet>> = Vec::new();
    let (mut jobs, mut slots) = (Vec::new(), Vec::new());
    for (i, entry) in exp.models.iter().enumerate() {
        let arch = entry.unet(train.channels(), train.n_labels());
        if exp.volumetric() && entry.onnx.is_none() {
            let t = Unet3dTraining {
                arch: exp.unet3d(entry, train.channels(), train.n_labels()),
                cfg: &exp.training,
                patch: exp.patch_spec(),
                window: exp.windowing().map(|w| w.window),
                depth: exp.data.phantom.size,
                seed: mix(exp.seed, 1000 + i as u64),
            };
            let ckpt = entry.checkpoint.as_deref();
            let training = format!("training the 3D UNet {}", entry.name);
            models.push(Some(setup.model(
                (i, &entry.name),
                ckpt,
                training,
                |dir, events| train_and_save_unet3d(&t, (train, val), dir, events),
            )?));
            continue;
        }
        if let Some(path) = &entry.onnx {
            setup.phase(format!("loading the ONNX model {}", entry.name));
            let (net, info) = SegNet::load_as(path, entry.output.unwrap_or_default())?;
            if info.probabilities {
                setup.phase(format!(
                    "{}: the model outputs probabilities{}; attacks use their logarithm as logits",
                    entry.name,
                    if info.softmax_detected {
                        " (a final Softmax)"
                    } else {
                        ""
                    }
                ));
            }
            if info.volumetric != exp.volumetric() {
                let reason = if info.volumetric {
                    "a 3D model (input [B, C, D, H, W]) on 2D slices: use volumes (source = \
                     \"brain_mr_mni_3d\"), or attack files with `mira attack --model \
                     FILE.onnx --input DIR`"
                } else {
                    "a 2D model (input [B, C, H, W]) on volumes: 3D data needs a 3D model"
                };
                return Err(crate::EvalError::invalid(
                    format!("models[{i}].onnx"),
                    reason,
                ));
            }
            let (c, k) = (train.channels(), train.n_labels());
            if (info.in_channels, info.classes) != (c, k) {
                return Err(crate::EvalError::invalid(
                    format!("models[{i}].onnx"),
                    format!(
                        "the model maps {} channels to {} classes; the data has {c} channels \
                         and {k} classes",
                        info.in_channels, info.classes
                    ),
                ));
            }
            setup.pin(i, &entry.name, path)?;
            models.push(Some(net));
            continue;
        }
        if let Some(w) = &entry.torch_weights {
            setup.phase(format!("importing PyTorch weights of {}", entry.name));
            let model = mira_nn::load_torch_unet(w, &arch, &default_device())?;
            setup.pin(i, &entry.name, w)?;
            models.push(Some(SegNet::UNet(model)));
            continue;
        }
        // Trained (or loaded) below, side by side with the other UNets.
        slots.push(models.len());
        models.push(None);
        jobs.push(ModelJob {
            index: i,
            name: &entry.name,
            checkpoint: entry.checkpoint.as_deref(),
            training: format!("training model {}", entry.name),
            cost: unet_cost(&arch) * entry.defence.relative_cost(),
            train: Box::new(move |dir, events| {
                let t = UnetTraining {
                    arch: &arch,
                    defence: &entry.defence,
                    cfg: &exp.training,
                    seed: mix(exp.seed, 1000 + i as u64),
                };
                train_and_save_unet(&t, (train, val), dir, events)
            }),
        });
    }
    for (slot, model) in slots.into_iter().zip(setup.models(jobs)?) {
        models[slot] = Some(SegNet::UNet(model));
    }
    Ok(models.into_iter().flatten().collect())
}

/// An estimate of a UNet's training work, for the order of [`Setup::models`]: every level
/// costs about the same (channels double as the sides halve), residual blocks about 15 % more
/// (S1: the depth-4 residual UNet trains 1.42x as long as the depth-3 plain one).
pub(crate) fn unet_cost(arch: &mira_nn::UNetConfig) -> f64 {
    let residual = if arch.residual { 1.15 } else { 1.0 };
    (arch.base_width as f64).powi(2) * (arch.depth + 1) as f64 * residual
}

/// What [`train_and_save_unet`] trains.
pub(crate) struct UnetTraining<'a> {
    pub arch: &'a mira_nn::UNetConfig,
    pub defence: &'a mira_train::Defence,
    pub cfg: &'a mira_train::TrainConfig,
    pub seed: u64,
}

/// Trains a segmentation UNet (with its defence), saves it as a checkpoint under `dir` with
/// its training history, and returns its evaluation copy: shared by the segmentation (S1)
/// and synthesis (S2) tasks.
///
/// # Errors
/// Training or saving fails.
pub(crate) fn train_and_save_unet(
    t: &UnetTraining<'_>,
    (train, val): (&SegDataset, &SegDataset),
    dir: &Path,
    events: &mut dyn FnMut(mira_train::TrainEvent),
) -> Result<UNet> {
    let started = std::time::Instant::now();
    let (model, report) = train_defended(t.arch, t.defence, train, val, t.cfg, t.seed, events)?;
    let meta = CheckpointMeta {
        format: checkpoint::FORMAT.into(),
        unet: t.arch.clone(),
        channel_names: train.channel_names.clone(),
        label_names: train.label_names.clone(),
        training: crate::run::training_record(t.cfg, &report, started),
    };
    checkpoint::save(dir, &model, &meta)?;
    Ok(model.valid())
}
