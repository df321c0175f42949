//! Sliding-window inference (`mira_nn::sliding_window`) against MONAI 1.6.1's
//! `sliding_window_inference` (`scripts/onnx_fixtures.py`, `sliding`): the monai_unet3d fixture
//! (16³ windows) over a 12 × 30 × 40 volume, whose depth is padded to the window; Gaussian
//! blending at overlap 0.5 with two windows a batch, constant blending at overlap 0.25. And the
//! two-pass input gradient against direct autodiff through the blended output.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use mira_nn::{Blend, NnError, SlidingWindow};
use mira_onnx::{FTensor, OnnxModel, OnnxNet};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn f32s(name: &str) -> Vec<f32> {
    std::fs::read(dir().join(name))
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let range = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
        / range
}

fn net() -> OnnxNet {
    let model = OnnxModel::from_file(&dir().join("monai_unet3d.onnx")).unwrap();
    OnnxNet::new(model, &mira_nn::default_device()).unwrap()
}

#[test]
fn sliding_window_forward_equals_monai() {
    let net = net();
    let f = |w: Tensor<5>| -> Result<Tensor<5>, NnError> {
        net.forward_as::<5, 5>(w)
            .map_err(|e| NnError::Model(e.to_string()))
    };
    let dev = mira_nn::default_device();
    let x = FTensor::from_host(&f32s("sliding.input.f32"), &[1, 1, 12, 30, 40], &dev)
        .unwrap()
        .into_rank::<5>()
        .unwrap();
    for (name, blend, overlap, batch) in [
        ("gaussian", Blend::Gaussian, 0.5, 2),
        ("constant", Blend::Constant, 0.25, 1),
    ] {
        let sw = SlidingWindow {
            overlap,
            blend,
            batch,
            ..SlidingWindow::new([16, 16, 16])
        };
        sw.validate().unwrap();
        let plan = sw.plan([12, 30, 40]);
        let y = plan.forward(x.clone(), &f).unwrap();
        assert_eq!(y.dims(), [1, 2, 12, 30, 40]);
        let e = max_rel(
            &mira_nn::tensor_to_vec(y),
            &f32s(&format!("sliding.{name}.f32")),
        );
        eprintln!(
            "{name}: {} windows, {e:.1e} of the range from MONAI",
            plan.windows()
        );
        assert!(e < 1e-5, "{name}: differs from MONAI by {e:.1e}");
    }
}

#[test]
fn the_two_pass_gradient_equals_direct_autodiff_through_the_blend() {
    let net = net();
    let f = |w: Tensor<5>| -> Result<Tensor<5>, NnError> {
        net.forward_as::<5, 5>(w)
            .map_err(|e| NnError::Model(e.to_string()))
    };
    let x0 = f32s("sliding.input.f32");
    let plan = SlidingWindow::new([16, 16, 16]).plan([12, 30, 40]);
    let plain = mira_nn::default_device();
    let gseed: Vec<f32> = (0..2 * 12 * 30 * 40)
        .map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0)
        .collect();
    let g = FTensor::from_host(&gseed, &[1, 2, 12, 30, 40], &plain)
        .unwrap()
        .into_rank::<5>()
        .unwrap();
    let x = FTensor::from_host(&x0, &[1, 1, 12, 30, 40], &plain)
        .unwrap()
        .into_rank::<5>()
        .unwrap();
    let two_pass = mira_nn::tensor_to_vec(plan.vjp(x, g.clone(), &f).unwrap());

    let ad = mira_nn::autodiff_device();
    let xa = FTensor::from_host(&x0, &[1, 1, 12, 30, 40], &ad)
        .unwrap()
        .into_rank::<5>()
        .unwrap()
        .require_grad();
    let y = plan.blend(xa.clone(), &f).unwrap();
    let ga = Tensor::<5>::from_data(g.into_data(), &ad);
    let grads = (y * ga).sum().backward();
    let direct = mira_nn::tensor_to_vec(xa.grad(&grads).unwrap());
    let e = max_rel(&two_pass, &direct);
    eprintln!("two-pass vs direct: {e:.1e} of the range");
    assert!(
        e < 1e-5,
        "two-pass gradient differs from direct autodiff by {e:.1e}"
    );
}

#[test]
fn value_and_vjp_equals_forward_then_vjp() {
    let net = net();
    let f = |w: Tensor<5>| -> Result<Tensor<5>, NnError> {
        net.forward_as::<5, 5>(w)
            .map_err(|e| NnError::Model(e.to_string()))
    };
    let x0 = f32s("sliding.input.f32");
    let plain = mira_nn::default_device();
    let x = FTensor::from_host(&x0, &[1, 1, 12, 30, 40], &plain)
        .unwrap()
        .into_rank::<5>()
        .unwrap();
    // The output gradient depends on the blended output (as an attack's loss does).
    let loss_grad = |y: Tensor<5>| y.clone() * y.abs() * 2.0 - 0.5;
    // (The fixture takes 16³ windows only.)
    for (overlap, batch) in [(0.5, 1), (0.25, 3), (0.0, 2)] {
        let mut window = SlidingWindow::new([16, 16, 16]);
        (window.overlap, window.batch) = (overlap, batch);
        let plan = window.plan([12, 30, 40]);
        let y = plan.forward(x.clone(), &f).unwrap();
        let g = loss_grad(y.clone());
        let two_calls = mira_nn::tensor_to_vec(plan.vjp(x.clone(), g, &f).unwrap());
        let mut outer = |y: Tensor<5>| Ok((y.clone(), loss_grad(y)));
        let (y1, gx) = plan.value_and_vjp(x.clone(), &f, &mut outer).unwrap();
        let (y, y1) = (mira_nn::tensor_to_vec(y), mira_nn::tensor_to_vec(y1));
        let one_call = mira_nn::tensor_to_vec(gx);
        let (ey, eg) = (max_rel(&y1, &y), max_rel(&one_call, &two_calls));
        eprintln!(
            "overlap {overlap}, batch {batch}: {} windows, output {ey:.1e}, gradient {eg:.1e}",
            plan.windows()
        );
        assert!(
            ey < 1e-6 && eg < 1e-6,
            "overlap {overlap}: {ey:.1e} / {eg:.1e}"
        );
    }
}
