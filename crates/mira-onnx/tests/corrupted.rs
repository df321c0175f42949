//! Corrupted and truncated ONNX files give errors, never a panic or a hang: 6,000 mutations
//! of the fixtures (truncations, flipped bytes, overwritten runs, huge varints spliced in)
//! through reading and preparing the model; those that still read run on a valid input
//! without a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use burn::prelude::*;
use mira_onnx::{FTensor, OnnxModel, OnnxNet};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(src: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = src.to_vec();
    match rng.below(4) {
        0 => b.truncate(rng.below(src.len())),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let i = rng.below(b.len());
            let n = (1 + rng.below(16)).min(b.len() - i);
            for k in 0..n {
                b[i + k] = rng.next() as u8;
            }
        }
        _ => {
            // a varint claiming a huge length
            let i = rng.below(b.len());
            b.splice(i..i, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        }
    }
    b
}

#[test]
fn corrupted_models_give_errors_not_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dev = mira_nn::default_device();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut refused, mut ran, mut run_errors) = (0, 0, 0);
    for (name, shape) in [
        ("cnn2d", vec![1, 4, 16, 16]),
        ("reg3d", vec![1, 1, 8, 8, 8]),
        ("mlp", vec![1, 3, 4]),
    ] {
        let src = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
        for k in 0..2000 {
            let bytes = mutate(&src, &mut rng);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let model = OnnxModel::from_bytes(&bytes)?;
                let net = OnnxNet::new(model, &dev)?;
                let n: usize = shape.iter().product();
                let x = FTensor::from_host(&vec![0.5; n], &shape, &dev)?;
                net.run(x).map(|_| ())
            }));
            match outcome {
                Ok(Ok(())) => ran += 1,
                Ok(Err(e)) => {
                    assert!(!e.to_string().is_empty());
                    if e.to_string().starts_with("malformed") {
                        refused += 1;
                    } else {
                        run_errors += 1;
                    }
                }
                Err(_) => panic!("{name} mutation {k} panicked"),
            }
        }
    }
    eprintln!("refused {refused}, refused later {run_errors}, ran {ran}");
    assert!(
        refused > 1000,
        "most mutations must be refused while reading"
    );
}

#[test]
fn an_unsupported_operator_is_named_with_its_node_and_opset() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut model = OnnxModel::from_file(&dir.join("reg3d.onnx")).unwrap();
    let node = model
        .nodes
        .iter_mut()
        .find(|n| n.op_type == "Gemm")
        .unwrap();
    node.op_type = "NonMaxSuppression".into();
    let name = node.name.clone();
    let err = OnnxNet::new(model, &mira_nn::default_device())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("NonMaxSuppression") && err.contains(&name) && err.contains("opset 17"),
        "{err}"
    );
    let _ = Tensor::<1>::zeros([1], &mira_nn::default_device());
}
