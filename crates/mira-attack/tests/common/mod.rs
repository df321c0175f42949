//! Shared fixtures: a tiny segmentation UNet and a tiny 3D regressor with their objectives.
#![allow(dead_code)]

use burn::prelude::*;
use mira_attack::{Goal, ModelObjective, Objective, segmentation_objective};
use mira_nn::{
    Forward, Reg3d, Reg3dConfig, UNet, UNetConfig, default_device, one_hot, regression::mse,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
