//! The models of a synthesis run: the segmenters (loaded, or trained and saved as S1 UNets)
//! and, per segmenter, the learned attacker trained against it.

use burn::module::Module;
use mira_attack::Synthesis;
use mira_data::SegDataset;
use mira_nn::checkpoint;
use mira_nn::{
    DeformGenerator, GENERATOR_FORMAT, GeneratorMeta, UNet, UNetConfig, default_device,
    load_generator, save_generator,
};
use mira_train::{Defence, train_generator};

use crate::Result;
use crate::run::{ModelJob, RunEvent, Setup, TrainFn, mix};
use crate::tasks::segmentation::{UnetTraining, train_and_save_unet, unet_cost};
use crate::tasks::synthesis::SynthExperiment;

fn unet(exp: &SynthExperiment, i: usize, data: &SegDataset) -> UNetConfig {
    let m = &exp.models[i];
    UNetConfig::new()
        .with_in_channels(data.channels())
        .with_classes(data.n_labels())
        .with_base_width(m.base_width)
        .with_depth(m.depth)
        .with_residual(m.residual)
}

/// Loads or trains every segmenter (those to train side by side, [`Setup::models`]), pinning
/// each one's weights.
pub(crate) fn segmenters(
    exp: &SynthExperiment,
    train: &SegDataset,
    val: &SegDataset,
    setup: &mut Setup<'_, SynthExperiment>,
) -> Result<Vec<UNet>> {
    let jobs = exp.models.iter().enumerate().map(|(i, entry)| {
        let train_fn: TrainFn<'_, UNet> = Box::new(move |dir, events| {
            let arch = unet(exp, i, train);
            let t = UnetTraining {
                arch: &arch,
                defence: &Defence::None,
                cfg: &exp.training,
                seed: mix(exp.seed, 1000 + i as u64),
            };
            train_and_save_unet(&t, (train, val), dir, events)
        });
        ModelJob {
            index: i,
            name: &entry.name,
            checkpoint: entry.checkpoint.as_deref(),
            training: format!(
                "training model {} on {} slices",
                entry.name,
                train.items.len()
            ),
            cost: unet_cost(&unet(exp, i, train)),
            train: train_fn,
        }
    });
    let models = setup.models(jobs.collect())?;
    Ok(models.iter().map(Module::valid).collect())
}

/// Loads or trains the learned attacker of every segmenter (`None` where the generator is
/// off), pinning each one's weights as `attacker:NAME`.
pub(crate) fn generators(
    exp: &SynthExperiment,
    synth: &Synthesis,
    models: &[UNet],
    train: &SegDataset,
    setup: &mut Setup<'_, SynthExperiment>,
) -> Result<Vec<Option<DeformGenerator>>> {
    let mut generators: Vec<Option<DeformGenerator>> = Vec::new();
    for (i, entry) in exp.models.iter().enumerate() {
        if !exp.generator.enabled {
            generators.push(None);
            continue;
        }
        let dir = setup.out().join("generators").join(&entry.name);
        let generator = if dir.join("model.json").exists() {
            setup.phase(format!("loading the attacker of {}", entry.name));
            load_generator(&dir, &default_device())?.0
        } else {
            setup.may_train(exp.models.len() + i, &format!("attacker:{}", entry.name))?;
            let name = entry.name.clone();
            let progress = setup.progress();
            let (generator, report) = train_generator(
                synth,
                &models[i],
                train,
                &exp.search.targets,
                &exp.generator.train,
                mix(exp.seed, 2000 + i as u64),
                &mut |event| {
                    progress(RunEvent::Train {
                        model: format!("the attacker of {name}"),
                        event,
                    })
                },
            )?;
            let meta = GeneratorMeta {
                format: GENERATOR_FORMAT.into(),
                net: mira_nn::DeformGeneratorConfig {
                    in_channels: train.channels(),
                    width: exp.generator.train.width,
                    grid: exp.threat.grid,
                    bias_grid: exp.threat.bias_grid,
                },
                training: serde_json::json!({
                    "config": exp.generator.train,
                    "targets": exp.search.targets,
                    "report": report,
                }),
            };
            save_generator(&dir, &generator, &meta)?;
            // Evaluate what was saved: the reloaded weights, on the plain device.
            drop(generator);
            load_generator(&dir, &default_device())?.0
        };
        setup.pin(
            exp.models.len() + i,
            &format!("attacker:{}", entry.name),
            &dir.join(checkpoint::WEIGHTS_FILE),
        )?;
        generators.push(Some(generator));
    }
    Ok(generators)
}
