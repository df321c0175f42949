//! Run-stage fuzzing: parsed models with mutated graphs — attributes set to odd values
//! (zero, negative, huge, wrong kind), operators swapped for other supported ones, inputs
//! rewired to other values, initialisers reshaped — must run or give an error, never panic.
//! Panics that the interpreter catches per node count as failures too: every input must be
//! checked by the operator itself. (Byte-level corruption, caught while reading, is
//! `corrupted.rs`.)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use mira_onnx::{Attr, FTensor, OnnxModel, OnnxNet, ops::SUPPORTED};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn odd_int(rng: &mut Rng) -> i64 {
    [0, 1, -1, 2, 3, -7, 64, 1 << 20, i64::MAX, i64::MIN, 1 << 40][rng.below(11)]
}

fn mutate(model: &mut OnnxModel, rng: &mut Rng) {
    let n = model.nodes.len();
    let k = rng.below(n);
    let names: Vec<String> = model
        .nodes
        .iter()
        .flat_map(|n| n.outputs.clone())
        .chain(model.initializers.keys().cloned())
        .chain(model.inputs.iter().map(|i| i.name.clone()))
        .collect();
    let node = &mut model.nodes[k];
    match rng.below(6) {
        0 => {
            // an attribute of the node, or a new one, set to an odd value
            let key = match node.attrs.keys().nth(rng.below(node.attrs.len())) {
                Some(k) if !node.attrs.is_empty() => k.clone(),
                _ => [
                    "axis",
                    "pads",
                    "kernel_shape",
                    "strides",
                    "perm",
                    "to",
                    "mode",
                    "group",
                ][rng.below(8)]
                .to_string(),
            };
            let v = match rng.below(5) {
                0 => Attr::Int(odd_int(rng)),
                1 => Attr::Ints((0..rng.below(7)).map(|_| odd_int(rng)).collect()),
                2 => Attr::Float([0.0, -1.0, f32::NAN, f32::INFINITY, 1e30][rng.below(5)]),
                3 => Attr::String(
                    ["", "reflect", "cubic", "SAME_LOWER", "nearest"][rng.below(5)].into(),
                ),
                _ => Attr::Other,
            };
            node.attrs.insert(key, v);
        }
        1 => node.op_type = SUPPORTED[rng.below(SUPPORTED.len())].to_string(),
        2 if !node.inputs.is_empty() => {
            let i = rng.below(node.inputs.len());
            node.inputs[i] = names[rng.below(names.len())].clone();
        }
        3 => {
            if rng.below(2) == 0 {
                node.inputs.push(names[rng.below(names.len())].clone());
            } else {
                node.inputs.pop();
            }
        }
        4 => {
            // an initialiser given another shape with the same number of values
            let key = model
                .initializers
                .keys()
                .nth(rng.below(model.initializers.len()))
                .cloned();
            if let Some(t) = key.and_then(|k| model.initializers.get_mut(&k)) {
                let total: usize = t.dims.iter().product();
                t.dims = match rng.below(3) {
                    0 => vec![total],
                    1 => vec![1, total],
                    _ => t.dims.iter().rev().copied().collect(),
                };
            }
        }
        _ => {
            node.outputs.push(names[rng.below(names.len())].clone());
        }
    }
}

#[test]
fn mutated_graphs_give_errors_not_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dev = mira_nn::default_device();
    let mut rng = Rng(std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x2545_F491_4F6C_DD1D));
    let rounds: usize = std::env::var("FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    // Where a panic happened, for the failure message (the default hook stays quiet).
    let place = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let p2 = place.clone();
    std::panic::set_hook(Box::new(move |info| {
        if let (Some(l), Ok(mut p)) = (info.location(), p2.lock()) {
            *p = format!("{}:{}", l.file(), l.line());
            if std::env::var("FUZZ_TRACE").is_ok() {
                let bt = std::backtrace::Backtrace::force_capture().to_string();
                let ours: Vec<&str> = bt
                    .lines()
                    .filter(|l| l.contains("mira_onnx"))
                    .take(4)
                    .collect();
                p.push_str(&format!(" [{}]", ours.join(" ")));
            }
        }
    }));
    let (mut ran, mut errors, mut panics) = (0, 0, Vec::new());
    for (name, shape) in [
        ("cnn2d", vec![1, 4, 16, 16]),
        ("reg3d", vec![1, 1, 8, 8, 8]),
        ("mlp", vec![1, 3, 4]),
        ("transformerish", vec![1, 2, 6, 6, 8]),
        ("ops3d", vec![1, 2, 8, 8, 8]),
        ("opset21", vec![1, 4, 6, 6]),
    ] {
        let base = OnnxModel::from_file(&dir.join(format!("{name}.onnx"))).unwrap();
        for k in 0..rounds {
            let mut model = base.clone();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut model, &mut rng);
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let net = OnnxNet::new(model, &dev)?;
                let n: usize = shape.iter().product();
                let x = FTensor::from_host(&vec![0.5; n], &shape, &dev)?;
                net.run(x).map(|_| ())
            }));
            match outcome {
                Ok(Ok(())) => ran += 1,
                Ok(Err(e)) if e.to_string().contains(mira_onnx::INTERNAL) => {
                    let at = place.lock().map(|p| p.clone()).unwrap_or_default();
                    panics.push(format!("{name} #{k} at {at}: {e}"));
                }
                Ok(Err(e)) => {
                    assert!(!e.to_string().is_empty());
                    errors += 1;
                }
                Err(p) => {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let at = place.lock().map(|p| p.clone()).unwrap_or_default();
                    panics.push(format!(
                        "{name} #{k} at {at}: {}",
                        msg.lines().take(3).collect::<Vec<_>>().join(" | ")
                    ));
                }
            }
        }
    }
    eprintln!("ran {ran}, errors {errors}, panics {}", panics.len());
    for p in panics.iter().take(40) {
        eprintln!("{p}");
    }
    assert!(
        panics.is_empty(),
        "{} mutated graphs panicked",
        panics.len()
    );
}
