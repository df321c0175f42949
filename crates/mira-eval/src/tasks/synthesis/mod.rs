//! Synthesis attacks on segmentation (study S2): a deformation and bias field in physical
//! units, searched per image for a requested Dice drop or produced by a learned attacker;
//! one cell per (model, method) holding every target, every synthesised slice judged on the
//! host against the moved truth on every model (transfer comes free).

mod cell;
mod checks;
mod corruptions;
mod models;
mod outputs;
mod spec;

use mira_attack::{Bounds, Synthesis as SynthesisThreat};
use mira_data::SegDataset;
use mira_nn::{DeformGenerator, UNet};
use mira_report::{SynthRecord, SynthSummaryRow, synth_markdown};

use crate::run::{
    Batch, CellKey, CellRun, DataHashes, Outputs, PerModel, Planned, RunEvent, Setup, Task,
    dataset_hash, eps_f64, mix,
};
use crate::{Result, Warning};

pub(crate) use cell::{LEARNED, PER_IMAGE, SynthCell, clean_dice};
pub use spec::{
    GeneratorSpec, SearchSpec, SynthChecks, SynthDataSpec, SynthExperiment, SynthModelEntry,
    SynthTask, ThreatSpec,
};

/// The synthesis task.
pub struct Synthesis;

/// What a synthesis run's outputs say.
pub type SynthSummary = crate::report::Findings<SynthSummaryRow>;

/// The test slices, segmenters, learned attackers and threat model of a synthesis run.
pub struct SynthReady {
    models: Vec<UNet>,
    names: Vec<String>,
    generators: Vec<Option<DeformGenerator>>,
    synth: SynthesisThreat,
    test: SegDataset,
    /// The test slices' HU on the window's scale, unclipped (`(HU − low) / width`), where the
    /// corruptions act (empty without `[[corruptions]]`).
    test_hu: Vec<Vec<f32>>,
    /// Mean organ Dice of every model's clean prediction, `[model][case]`, computed before the
    /// first cell runs (one value for all models: every cell judges on every model).
    clean: PerModel<Vec<Vec<f64>>>,
}

/// A cell of the plan: a model and a method (its keys: one per requested Dice drop), or a
/// corruption at a severity.
pub struct SynthCellRef {
    mi: usize,
    method: &'static str,
    corruption: Option<crate::spec::CorruptionPick>,
    /// Test slices drawn as pictures (the first ones).
    examples: usize,
}

/// Training, validation and test slices; slice `i` of each split depends only on
/// `(seed, split, i)`.
///
/// # Errors
/// Invalid phantom settings.
pub fn synth_splits(exp: &SynthExperiment) -> Result<(SegDataset, SegDataset, SegDataset)> {
    let p = &exp.data.phantom;
    let d = &exp.data;
    Ok((
        p.generate(mix(exp.seed, 0x7A1), 0, d.train_slices)?,
        p.generate(mix(exp.seed, 0x7A1), 1_000_000, d.val_slices)?,
        p.generate(mix(exp.seed, 0x7E57), 0, d.test_slices)?,
    ))
}

impl Task for Synthesis {
    const NAME: &'static str = "synthesis";
    type Spec = SynthExperiment;
    type Record = SynthRecord;
    type Ready = SynthReady;
    type Cell = SynthCellRef;
    type Kept = ();
    type Summary = SynthSummary;

    fn prepare(
        exp: &SynthExperiment,
        setup: &mut Setup<'_, SynthExperiment>,
    ) -> Result<SynthReady> {
        setup.phase("generating abdominal CT slices");
        let (train, val, test) = synth_splits(exp)?;
        setup.data(DataHashes {
            train: dataset_hash(&train),
            val: dataset_hash(&val),
            test: dataset_hash(&test),
        })?;
        let models = models::segmenters(exp, &train, &val, setup)?;
        let size = exp.data.phantom.size;
        let synth = SynthesisThreat::new(
            exp.threat.config(exp.data.phantom.spacing_mm()),
            train.channels(),
            size,
            size,
            Bounds::default(),
        )?;
        let generators = models::generators(exp, &synth, &models, &train, setup)?;
        let test_hu = if exp.corruptions.is_empty() {
            Vec::new()
        } else {
            let p = &exp.data.phantom;
            let [level, width] = p.window;
            p.generate_hu(mix(exp.seed, 0x7E57), 0, exp.data.test_slices)?
                .into_iter()
                .map(|s| {
                    s.hu.iter()
                        .map(|h| (h - (level - width / 2.0)) / width)
                        .collect()
                })
                .collect()
        };
        Ok(SynthReady {
            test_hu,
            names: exp.models.iter().map(|m| m.name.clone()).collect(),
            models,
            generators,
            synth,
            test,
            clean: PerModel::new(1),
        })
    }

    /// Per model, the per-image search and (with a generator) the learned attacker; each cell
    /// holds every requested Dice drop.
    fn plan(exp: &SynthExperiment, ready: &SynthReady) -> Result<Vec<Planned<SynthCellRef>>> {
        let mut out = Vec::new();
        for (mi, name) in ready.names.iter().enumerate() {
            let methods: &[&'static str] = if ready.generators[mi].is_some() {
                &[PER_IMAGE, LEARNED]
            } else {
                &[PER_IMAGE]
            };
            for &method in methods {
                out.push(Planned {
                    label: format!("{name} / {method}"),
                    keys: exp
                        .search
                        .targets
                        .iter()
                        .map(|&t| CellKey::new(name, method, eps_f64(t)))
                        .collect(),
                    cases: ready.test.items.len(),
                    batch_size: exp.search.batch_size,
                    state: None,
                    cell: SynthCellRef {
                        mi,
                        method,
                        corruption: None,
                        examples: exp.data.examples,
                    },
                });
            }
            for c in crate::spec::corruption_cells(&exp.corruptions, name, mi, exp.seed) {
                let (cases, batch) = (ready.test.items.len(), exp.search.batch_size);
                out.push(c.planned(cases, batch, |c| SynthCellRef {
                    mi,
                    method: PER_IMAGE,
                    corruption: Some(c),
                    examples: 0,
                }));
            }
        }
        Ok(out)
    }

    fn before_cell(
        run: &CellRun<'_, Self>,
        _cell: &Planned<SynthCellRef>,
        progress: &mut dyn FnMut(RunEvent),
    ) -> Result<()> {
        let ready = run.ready;
        ready.clean.ensure(0, || {
            progress(RunEvent::Phase("clean predictions".into()));
            clean_dice(&ready.models, &ready.test, run.spec.search.batch_size)
        })?;
        Ok(())
    }

    fn run_batch(
        run: &CellRun<'_, Self>,
        p: &Planned<SynthCellRef>,
        b: usize,
    ) -> Result<Batch<Self>> {
        let (exp, ready, c) = (run.spec, run.ready, &p.cell);
        let cell = SynthCell {
            models: &ready.models,
            names: &ready.names,
            synth: &ready.synth,
            spacing_mm: exp.data.phantom.spacing_mm(),
            targets: &exp.search.targets,
            bisections: exp.search.bisections,
            examples: exp.data.examples,
        };
        let clean = ready.clean.get(0)?;
        let chunk: Vec<usize> = p.batch_cases(b).collect();
        let pictures = run.out.join("examples");
        let pictures = run.pictures.then_some(pictures.as_path());
        if let Some(k) = &c.corruption {
            let entry = &exp.corruptions[k.ci];
            let corruptor = entry.corruptor(k.severity, Some(exp.data.phantom.window[1]), None);
            let names = (entry.name(), entry.kind.name());
            let records = cell.corrupted(
                c.mi,
                (&names.0, names.1),
                corruptor,
                k,
                (&ready.test, &ready.test_hu, &clean),
                &chunk,
                b,
            )?;
            return Ok(Batch {
                records,
                kept: Vec::new(),
            });
        }
        let records = match (c.method, &ready.generators[c.mi]) {
            (LEARNED, Some(g)) => cell.learned(c.mi, g, &ready.test, &clean, &chunk, pictures)?,
            _ => cell.per_image(c.mi, &ready.test, &clean, &chunk, pictures)?,
        };
        Ok(Batch {
            records,
            kept: Vec::new(),
        })
    }

    /// The batches holding the slices drawn as pictures (the first `data.examples`).
    fn picture_batches(p: &Planned<SynthCellRef>, _records: &[SynthRecord]) -> Vec<usize> {
        (0..p.batches())
            .filter(|&b| p.batch_cases(b).start < p.cell.examples)
            .collect()
    }

    /// The drop-vs-request check, then the probes of every segmenter.
    /// The drop reached must grow with the drop requested.
    fn record_checks(exp: &SynthExperiment, records: &[SynthRecord]) -> Vec<Warning> {
        checks::synth_record_checks(exp, &corruptions::split_corruptions(records).0)
    }

    fn probes(run: &CellRun<'_, Self>) -> Result<Vec<Warning>> {
        checks::probes(run.spec, run.ready)
    }

    fn outputs(run: &Outputs<'_, Self>) -> Result<SynthSummary> {
        outputs::write_synth_outputs(run)
    }

    fn console(s: &SynthSummary) -> String {
        let text = crate::report::findings_text(&s.findings);
        text + &synth_markdown(&s.rows)
    }
}

crate::run::impl_record!(SynthRecord, method, target);
crate::run::impl_spec!(SynthExperiment, checks.probes.enabled);
