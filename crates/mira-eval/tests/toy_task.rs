//! A sixth task in one file: 1D regression (a linear model of a vector), implemented outside
//! the crate through the `Task` trait alone. It runs, resumes after a torn write to the same
//! records, shards and merges to the same records, gets record checks and model probes through
//! the shared engines, and its report is rebuilt from the folder.

use std::collections::BTreeSet;
use std::path::PathBuf;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use mira_attack::{Attack, AttackSpec, Bounds, LpBall, ModelObjective, Norm, Objective, PgdConfig};
use mira_eval::run::{
    Batch, CellKey, CellRun, DataHashes, Outputs, Planned, Record, Setup, Spec, Task, cell_label,
    cell_seed, eps_f64, mix,
};
use mira_eval::{
    AttackFacts, Metric, ProbeConfig, ProbePlan, ProbeTarget, Result, Shard, Warning, check_budget,
    check_records, merge, prepare_models, probe, rebuild, run, run_shard,
};
use mira_nn::{Forward, default_device, tensor_to_vec};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The experiment: `cases` vectors of `dim` values in [0, 1], FGSM and PGD at `epsilons`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToySpec {
    task: String,
    name: String,
    seed: u64,
    cases: usize,
    dim: usize,
    epsilons: Vec<f32>,
    batch_size: usize,
}

/// One case of one cell: target, clean and adversarial prediction, achieved norms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ToyRecord {
    attack: String,
    epsilon: f64,
    case: usize,
    target: f64,
    clean: f64,
    adv: f64,
    linf: f64,
}

/// The linear model `y = x · w`, behind the network contract every Mira model has.
#[derive(Module, Debug)]
struct Toy {
    layer: Linear,
}

impl Forward<2, 2> for Toy {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.layer.forward(x)
    }
}

struct ToyTask;

struct Ready {
    model: Toy,
    x: Vec<Vec<f32>>,
    y: Vec<f64>,
}

const ATTACKS: [&str; 2] = ["fgsm", "pgd"];

/// The toy task's metric: mean absolute error, collapsed above 0.5.
fn toy_metric() -> Metric {
    Metric::new("mean |error|", true, 3, 0.01).collapsing(0.5, "above 0.5")
}

fn spec_of(name: &str) -> AttackSpec {
    match name {
        "fgsm" => AttackSpec::Fgsm(mira_attack::FgsmConfig),
        _ => AttackSpec::Pgd(PgdConfig {
            steps: 10,
            rel_step: 0.25,
            restarts: 1,
        }),
    }
}

fn tensor(rows: &[Vec<f32>]) -> Tensor<2> {
    let flat: Vec<f32> = rows.concat();
    Tensor::from_data(
        TensorData::new(flat, [rows.len(), rows[0].len()]),
        &default_device(),
    )
}

impl Spec for ToySpec {
    fn name(&self) -> &str {
        &self.name
    }
    fn seed(&self) -> u64 {
        self.seed
    }
    fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
    }
    fn validate(&self) -> Result<()> {
        if self.task != "toy" || self.cases == 0 || self.dim == 0 || self.batch_size == 0 {
            return Err(mira_eval::EvalError::Invalid {
                field: "toy".into(),
                reason: "needs task = \"toy\", cases, dim and batch_size > 0".into(),
            });
        }
        Ok(())
    }
    fn probes_enabled(&self) -> bool {
        true
    }
}

impl Record for ToyRecord {
    fn key(&self) -> CellKey {
        CellKey::new("toy", &self.attack, self.epsilon)
    }
    fn case(&self) -> usize {
        self.case
    }
}

/// What the probes need: the model's squared error on the first cases.
struct ToyProbe<'a> {
    ready: &'a Ready,
    metric: Metric,
}

impl ProbeTarget<2> for ToyProbe<'_> {
    fn inputs(&self) -> Tensor<2> {
        tensor(&self.ready.x[..4])
    }
    fn outputs(&self, x: Tensor<2>) -> Vec<f32> {
        tensor_to_vec(self.ready.model.forward(x))
    }
    fn objective(&self) -> Box<dyn Objective<2> + '_> {
        objective(&self.ready.model, &self.ready.y[..4])
    }
    fn metric(&self, x: Tensor<2>) -> Result<f64> {
        let pred = tensor_to_vec(self.ready.model.forward(x));
        Ok(pred
            .iter()
            .zip(&self.ready.y)
            .map(|(p, y)| (*p as f64 - y).abs())
            .sum::<f64>()
            / pred.len() as f64)
    }
    fn scale(&self) -> &Metric {
        &self.metric
    }
}

/// The squared error against `y`, per case.
fn objective<'a>(model: &'a Toy, y: &[f64]) -> Box<dyn Objective<2> + 'a> {
    let y: Vec<f32> = y.iter().map(|&v| v as f32).collect();
    Box::new(ModelObjective::new(
        model,
        move |p: Tensor<2>| {
            let b = p.dims()[0];
            let t = Tensor::<1>::from_floats(y.as_slice(), &p.device());
            (p.reshape([b]) - t).powi_scalar(2)
        },
        1.0,
    ))
}

impl Task for ToyTask {
    const NAME: &'static str = "toy";
    type Spec = ToySpec;
    type Record = ToyRecord;
    type Ready = Ready;
    type Cell = (usize, usize);
    type Kept = ();
    type Summary = Vec<String>;

    fn prepare(spec: &ToySpec, setup: &mut Setup<'_, ToySpec>) -> Result<Ready> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(mix(spec.seed, 1));
        let x: Vec<Vec<f32>> = (0..spec.cases)
            .map(|_| (0..spec.dim).map(|_| rng.random::<f32>()).collect())
            .collect();
        let w: Vec<f32> = (0..spec.dim).map(|j| (j as f32).sin()).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|v| v.iter().zip(&w).map(|(a, b)| (a * b) as f64).sum::<f64>() + 0.5)
            .collect();
        setup.data(DataHashes {
            train: String::new(),
            val: String::new(),
            test: format!("{:?}", y.iter().map(|v| v.to_bits()).sum::<u64>()),
        })?;
        let file = setup.out().join("models/toy/weights.json");
        if !file.exists() {
            setup.may_train(0, "toy")?;
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, serde_json::to_string(&w).unwrap()).unwrap();
        }
        setup.pin(0, "toy", &file)?;
        let w: Vec<f32> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let weight =
            Tensor::<1>::from_floats(w.as_slice(), &default_device()).reshape([w.len(), 1]);
        let model = Toy {
            layer: Linear {
                weight: Param::from_tensor(weight),
                bias: None,
            },
        };
        Ok(Ready { model, x, y })
    }

    fn plan(spec: &ToySpec, _ready: &Ready) -> Result<Vec<Planned<(usize, usize)>>> {
        let mut out = Vec::new();
        for (ai, a) in ATTACKS.iter().enumerate() {
            for (ei, &e) in spec.epsilons.iter().enumerate() {
                out.push(Planned {
                    cell: (ai, ei),
                    label: cell_label("toy", a, e),
                    keys: vec![CellKey::new("toy", a, eps_f64(e))],
                    cases: spec.cases,
                    batch_size: spec.batch_size,
                    state: None,
                });
            }
        }
        Ok(out)
    }

    fn run_batch(
        run: &CellRun<'_, Self>,
        cell: &Planned<(usize, usize)>,
        b: usize,
    ) -> Result<Batch<Self>> {
        let (ai, ei) = cell.cell;
        let eps = run.spec.epsilons[ei];
        let cases = cell.batch_cases(b);
        let x0 = tensor(&run.ready.x[cases.clone()]);
        let f = objective(&run.ready.model, &run.ready.y[cases.clone()]);
        let ball = LpBall::new(Norm::Linf, eps, Bounds::default())?;
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(mix(cell_seed(run.spec.seed, 0, ai, ei), b as u64));
        let adv = spec_of(ATTACKS[ai]).perturb(f.as_ref(), x0.clone(), &ball, &mut rng)?;
        let (clean, attacked) = (
            tensor_to_vec(run.ready.model.forward(x0.clone())),
            tensor_to_vec(run.ready.model.forward(adv.clone())),
        );
        let (a, c) = (tensor_to_vec(adv), tensor_to_vec(x0));
        let d = run.spec.dim;
        let mut records = Vec::new();
        for (i, case) in cases.enumerate() {
            let (linf, _) = check_budget(
                &a[i * d..(i + 1) * d],
                &c[i * d..(i + 1) * d],
                Norm::Linf,
                eps,
                &cell.label,
                case,
            )?;
            records.push(ToyRecord {
                attack: ATTACKS[ai].into(),
                epsilon: eps_f64(eps),
                case,
                target: run.ready.y[case],
                clean: clean[i] as f64,
                adv: attacked[i] as f64,
                linf,
            });
        }
        Ok(Batch {
            records,
            kept: Vec::new(),
        })
    }

    fn record_checks(_spec: &ToySpec, records: &[ToyRecord]) -> Vec<Warning> {
        let facts: Vec<AttackFacts> = ATTACKS
            .iter()
            .map(|a| AttackFacts::entry(a, true, a, true, String::new()))
            .collect();
        check_records(records, &["toy".into()], &facts, &toy_metric(), |r| {
            Some((r.adv - r.target).abs())
        })
    }

    fn probes(run: &CellRun<'_, Self>) -> Result<Vec<Warning>> {
        let target = ToyProbe {
            ready: run.ready,
            metric: toy_metric(),
        };
        let config = ProbeConfig {
            random_queries: 50,
            ..ProbeConfig::default()
        };
        let plan = ProbePlan::new(("pgd".into(), spec_of("pgd")), Norm::Linf, 0.1, &config, 3);
        probe(&target, &plan.setup("toy", 0))
    }

    fn outputs(run: &Outputs<'_, Self>) -> Result<Vec<String>> {
        let Outputs {
            manifest,
            records,
            warnings,
            out,
        } = *run;
        let mut rows = Vec::new();
        for a in ATTACKS {
            for &e in &manifest.experiment.epsilons {
                let mine: Vec<&ToyRecord> = records
                    .iter()
                    .filter(|r| r.attack == a && r.epsilon == eps_f64(e))
                    .collect();
                let err = mine.iter().map(|r| (r.adv - r.target).abs()).sum::<f64>()
                    / mine.len().max(1) as f64;
                rows.push(format!("| {a} | {e} | {} | {err:.4} |", mine.len()));
            }
        }
        let mut md = String::from("| attack | ε | n | mean |error| |\n|---|---|---|---|\n");
        md += &rows.join("\n");
        md += &mira_eval::warnings_markdown(true, warnings);
        std::fs::write(out.join("summary.md"), &md).unwrap();
        let table = mira_report::TextTable {
            charts: Vec::new(),
            title: "Cells".into(),
            caption: "Mean absolute error under attack.".into(),
            header: vec!["attack".into(), "ε".into(), "n".into(), "error".into()],
            rows: rows
                .iter()
                .map(|r| {
                    r.trim_matches('|')
                        .split('|')
                        .map(|c| c.trim().into())
                        .collect()
                })
                .collect(),
        };
        let text: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
        let html = mira_report::render_page(&mira_report::PageInput {
            title: &manifest.experiment.name,
            version: &manifest.build.version,
            commit: None,
            n_records: records.len(),
            intro: "A linear model of a vector; ε in input units.",
            findings: &[],
            checks_enabled: true,
            warnings: &text,
            plots: &[],
            tables: &[table],
            manifest: "{}",
        })?;
        std::fs::write(out.join("report.html"), html).unwrap();
        Ok(rows)
    }

    fn console(rows: &Vec<String>) -> String {
        rows.join("\n")
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-toy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn spec() -> ToySpec {
    ToySpec {
        task: "toy".into(),
        name: "toy".into(),
        seed: 7,
        cases: 10,
        dim: 6,
        epsilons: vec![0.0, 0.05, 0.1],
        batch_size: 4,
    }
}

#[test]
fn a_task_in_one_file_runs_resumes_shards_checks_and_reports() {
    let spec = spec();
    let out = tmp("run");
    let first = run::<ToyTask>(&spec, &out, &mut |_| {}).unwrap();
    assert_eq!((first.cells_run, first.cells_skipped), (6, 0));
    let records = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 6 * 10);
    // The attack raises the error and stays in budget.
    let parsed: Vec<ToyRecord> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for r in &parsed {
        assert!(r.linf <= r.epsilon + 1e-6, "{r:?}");
        assert!(
            (r.adv - r.target).abs() + 1e-6 >= (r.clean - r.target).abs(),
            "{r:?}"
        );
    }
    // Checks ran: the linear model's gradients are honest, so no masking warning.
    let warnings: Vec<Warning> =
        serde_json::from_str(&std::fs::read_to_string(out.join("warnings.json")).unwrap()).unwrap();
    for w in &warnings {
        assert!(
            ![
                "zero-gradient",
                "weaker-than-noise",
                "no-collapse",
                "gradient-free-stronger"
            ]
            .contains(&w.check.as_str()),
            "{w}"
        );
    }
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("Sanity checks") && report.contains("<h2>Cells</h2>"));

    // A torn write inside the 3rd cell: resumed to the same records, none duplicated.
    let keep: Vec<&str> = records.lines().take(2 * 10 + 3).collect();
    std::fs::write(
        out.join("records.jsonl"),
        format!("{}\n{{\"attack\":\"pg", keep.join("\n")),
    )
    .unwrap();
    let second = run::<ToyTask>(&spec, &out, &mut |_| {}).unwrap();
    assert_eq!((second.cells_run, second.cells_skipped), (4, 2));
    let resumed = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert_eq!(resumed, records);

    // The report is rebuilt from the folder alone.
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    std::fs::remove_file(out.join("summary.md")).unwrap();
    rebuild::<ToyTask>(&out).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("summary.md")).unwrap(),
        summary
    );

    // Sharded: models first, then three shards, then the merge: the same records.
    let sharded = tmp("sharded");
    prepare_models::<ToyTask>(&spec, &sharded, &mut |_| {}).unwrap();
    for k in 0..3 {
        run_shard::<ToyTask>(&spec, &sharded, Shard { index: k, count: 3 }, &mut |_| {}).unwrap();
    }
    let merged = merge::<ToyTask>(&sharded, &mut |_| {}).unwrap();
    assert_eq!(merged.records, 60);
    assert_eq!(
        std::fs::read_to_string(sharded.join("records.jsonl")).unwrap(),
        records
    );
    let keys: BTreeSet<(String, u64, usize)> = parsed
        .iter()
        .map(|r| (r.attack.clone(), r.epsilon.to_bits(), r.case))
        .collect();
    assert_eq!(keys.len(), 60, "every (cell, case) once");
    for d in [out, sharded] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
