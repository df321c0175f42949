//! Shared fixtures: a tiny segmentation UNet and a tiny 3D regressor with their objectives.
#![allow(dead_code)]

use burn::prelude::*;
use mira_attack::{Goal, ModelObjective, Objective, segmentation_objective};
use mira_nn::{
    Forward, Reg3d, Reg3dConfig, UNet, UNetConfig, default_device, one_hot, regression::mse,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

pub fn tensor<const D: usize>(v: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v, shape), &default_device())
}

pub fn vals<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    mira_nn::tensor_to_vec(x)
}

/// Uniform values in [0.1, 0.9].
pub fn random_input<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = shape.iter().product();
    tensor((0..n).map(|_| rng.random_range(0.1..0.9)).collect(), shape)
}

pub fn tiny_unet(seed: u64) -> UNet {
    UNetConfig::new()
        .with_base_width(4)
        .with_depth(2)
        .init_seeded(seed, &default_device())
        .unwrap()
}

pub fn random_labels(b: usize, hw: usize, k: u8, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..b)
        .map(|_| (0..hw).map(|_| rng.random_range(0..k)).collect())
        .collect()
}

pub fn seg_goal(labels: &[Vec<u8>], h: usize, w: usize, targeted: bool) -> Goal<Tensor<4>> {
    let maps: Vec<&[u8]> = labels.iter().map(|v| v.as_slice()).collect();
    let t = one_hot(&maps, 4, h, w, &default_device()).unwrap();
    if targeted {
        Goal::Targeted { target: t }
    } else {
        Goal::Untargeted { truth: t }
    }
}

pub fn seg_objective(model: &UNet, goal: Goal<Tensor<4>>) -> impl Objective<4> {
    segmentation_objective(model, goal, 1.0)
}

pub fn tiny_reg3d(seed: u64) -> Reg3d {
    Reg3dConfig::new().init_seeded(seed, &default_device())
}

pub fn reg_objective(model: &Reg3d, goal: Goal<Tensor<2>>) -> impl Objective<5> {
    let sign = goal.sign();
    let target = goal.reference().clone();
    ModelObjective::<Reg3d, _, 5, 2>::new(model, move |y: Tensor<2>| mse(y, target.clone()), sign)
}

/// Sum of a per-sample value tensor, as f64.
pub fn total(v: Tensor<1>) -> f64 {
    vals(v).iter().map(|&x| x as f64).sum()
}

/// Make sure lazily initialised parameters exist before cloning.
pub fn warm<M: Forward<4, 4>>(m: &M) {
    let _ = m.forward(Tensor::zeros([1, 4, 16, 16], &default_device()));
}

/// Directional derivatives `(f(x+hu) - f(x-hu)) / 2h` against `<grad, u>`, along the
/// normalised gradient and along random unit directions.
///
/// Directional rather than per-voxel differences: one voxel of a freshly initialised network
/// moves the mean pixel loss by less than f32 resolves, while a unit direction over all voxels
/// moves it well above rounding. `h` is chosen per model between rounding error (small h) and
/// ReLU kinks / curvature (large h).
pub fn check_directional<const D: usize>(f: &dyn Objective<D>, x: Tensor<D>, h: f32, seed: u64) {
    let (_, g) = f.value_and_grad(x.clone());
    let gv = vals(g.clone());
    let gnorm = gv.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!(gnorm > 1e-6, "gradient vanished");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut dirs = vec![gv.iter().map(|v| v / gnorm).collect::<Vec<f32>>()];
    for _ in 0..3 {
        let u: Vec<f32> = (0..gv.len())
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let n = u.iter().map(|v| v * v).sum::<f32>().sqrt();
        dirs.push(u.iter().map(|v| v / n).collect());
    }
    // One unit in the last place of a value: differences of the objective below its values'
    // resolution cannot be resolved by any step (on a GPU the per-sample values differ from the
    // CPU's in their last bits, so a direction whose derivative is a few such units is judged
    // on that resolution, not on the CPU's luck in rounding).
    let ulp = |v: f32| {
        let a = v.abs();
        (f32::from_bits(a.to_bits() + 1) - a) as f64
    };
    for (k, u) in dirs.iter().enumerate() {
        let ut = tensor(u.clone(), x.dims());
        let (vp, vm) = (
            vals(f.value(x.clone() + ut.clone() * h)),
            vals(f.value(x.clone() - ut * h)),
        );
        let (fp, fm) = (
            vp.iter().map(|&v| v as f64).sum::<f64>(),
            vm.iter().map(|&v| v as f64).sum::<f64>(),
        );
        let fd = (fp - fm) / (2.0 * h as f64);
        let resolution = vp.iter().chain(&vm).map(|&v| ulp(v)).sum::<f64>() / (2.0 * h as f64);
        let an: f64 = gv
            .iter()
            .zip(u)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        // Relative to the gradient norm, so that near-orthogonal random directions are judged
        // on the same scale as the gradient direction.
        let rel = (fd - an).abs() / (gnorm as f64);
        assert!(
            (fd - an).abs() < 1e-2 * gnorm as f64 + resolution,
            "direction {k}: finite difference {fd} vs analytic {an} (rel {rel}; f(x ± hu) = \
             {fp}, {fm}, h {h}; resolution {resolution})"
        );
    }
}
