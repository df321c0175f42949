//! A UNet trained in PyTorch, exported to safetensors, gives PyTorch's outputs in Mira.
//!
//! Fixture made once by `python scripts/export_weights.py --fixture
//! crates/mira-nn/tests/fixtures/unet2d_w4` with torch 2.15.0 (see provenance.json there):
//! UNet2d(cin=4, classes=4, w=4) in eval mode with non-trivial BatchNorm statistics, a
//! 2×4×16×16 input and PyTorch's output.

use std::path::PathBuf;

use burn::prelude::*;
use mira_nn::{UNetConfig, default_device, load_torch_unet, tensor_to_vec};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/unet2d_w4")
        .join(name)
}

fn f32s(name: &str) -> Vec<f32> {
    std::fs::read(fixture(name))
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn pytorch_unet_outputs_are_reproduced() {
    let dev = default_device();
    let cfg = UNetConfig::new().with_base_width(4);
    let net = load_torch_unet(&fixture("weights.safetensors"), &cfg, &dev).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(f32s("input.f32"), [2, 4, 16, 16]), &dev);
    let y = tensor_to_vec(net.valid().logits(x));
    let expected = f32s("expected.f32");
    assert_eq!(y.len(), expected.len());
    let max_err = y
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_err < 1e-4, "max |Mira - PyTorch| = {max_err}");
    // provenance.json: output_sum 188.16107177734375.
    let sum: f64 = y.iter().map(|&v| v as f64).sum();
    assert!((sum - 188.161_071_777_343_75).abs() < 1e-2, "{sum}");
}

#[test]
fn wrong_architecture_lists_missing_and_misshaped_tensors() {
    let dev = default_device();
    // Width 8 instead of 4: every tensor is mis-shaped.
    let err = load_torch_unet(
        &fixture("weights.safetensors"),
        &UNetConfig::new().with_base_width(8),
        &dev,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("mis-shaped [enc1.0.conv.weight: file [4, 4, 3, 3], model [8, 4, 3, 3]"),
        "{err}"
    );
    // Three classes: only the head differs.
    let err = load_torch_unet(
        &fixture("weights.safetensors"),
        &UNetConfig::new().with_base_width(4).with_classes(3),
        &dev,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("missing []")
            || err.contains("missing [none]")
            || err.contains("missing none"),
        "{err}"
    );
    assert!(
        err.contains("head.weight: file [4, 4, 1, 1], model [3, 4, 1, 1]"),
        "{err}"
    );
    // Residual or other depths are refused up front; a non-safetensors file is an error.
    assert!(
        load_torch_unet(
            &fixture("weights.safetensors"),
            &UNetConfig::new().with_depth(2),
            &dev
        )
        .is_err()
    );
    let err = load_torch_unet(
        &fixture("input.f32"),
        &UNetConfig::new().with_base_width(4),
        &dev,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a safetensors file"), "{err}");
}
