//! Anatomical-context features of a 3D T1 volume: regional tissue volume fractions from soft
//! tissue maps, the second branch of the S3 hybrid brain-age network.
//!
//! Each voxel's tissue posterior is a Gaussian-mixture softmax over its intensity, with one
//! mean per class (outside, CSF, grey, white: fitted on training labels) and a shared width:
//! `p_c = softmax_c(-(x - μ_c)² / 2σ²)`. Features are the mean of `p_CSF`, `p_GM`, `p_WM` over
//! nine regions: the eight octants of the volume and its central box (half the side, where the
//! ventricles are), 27 values in all.
//!
//! **Soft** features are differentiable, so attacks see straight through them. **Hard**
//! features use the one-hot argmax instead (what a volumetry pipeline reports); its gradient
//! is zero, which hides the branch from a gradient attack. For adaptive attacks the hard
//! branch has a BPDA (straight-through) mode: the forward value is the hard one, the backward
//! pass the soft one's (`soft + (hard - soft).detach()`), so the values never change.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

/// Tissue classes of the features (outside the brain is the fourth, dropped).
pub const TISSUE_CLASSES: usize = 3;
/// Regions: eight octants and the central box.
pub const TISSUE_REGIONS: usize = 9;
/// Feature count.
pub const TISSUE_FEATURES: usize = TISSUE_CLASSES * TISSUE_REGIONS;

/// How tissue maps become volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TissueMode {
    /// Posterior probabilities (differentiable).
    #[default]
    Soft,
    /// One-hot argmax (zero gradient; BPDA available).
    Hard,
}

/// The Gaussian-mixture tissue model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TissueModel {
    /// Mean intensity of outside, CSF, grey and white matter.
    pub means: [f32; 4],
    /// Shared standard deviation.
    pub sigma: f32,
}

/// Regional tissue fractions of a batch of volumes.
///
/// `straight_through` matters only for [`TissueMode::Hard`]: with it the gradient is the soft
/// features' gradient (BPDA), without it zero.
///
/// # Shapes
/// `x: [B, 1, D, H, W]` with `D, H, W` even `-> [B, 27]` (class-major: CSF regions, then GM,
/// then WM; regions: octants in (z, y, x) order, then the central box).
pub fn tissue_features(
    x: Tensor<5>,
    model: &TissueModel,
    mode: TissueMode,
    straight_through: bool,
) -> Tensor<2> {
    let [_, c, d, h, w] = x.dims();
    let even = [d, h, w].iter().all(|n| n % 2 == 0);
    let fast = crate::fast_conv::tissue::enabled() && crate::fast_conv::on_kernel(&x, &x);
    if mode == TissueMode::Soft && c == 1 && even && fast {
        // One pass each way on the CPU (`fast_conv::tissue`), the same values as below.
        use crate::fast_conv::MiraConvBackend;
        use burn::backend::Dispatch;
        let spec = crate::fast_conv::tissue::TissueSpec {
            means: model.means,
            sigma: model.sigma,
        };
        return Tensor::from_dispatch(<Dispatch as MiraConvBackend>::mira_tissue_features(
            x.into_dispatch(),
            spec,
        ));
    }
    reference_features(x, model, mode, straight_through)
}

/// [`tissue_features`] through burn's operations (every device, and the hard features): the
/// reference the one-pass kernel is tested against.
pub fn reference_features(
    x: Tensor<5>,
    model: &TissueModel,
    mode: TissueMode,
    straight_through: bool,
) -> Tensor<2> {
    let [b, _, d, h, w] = x.dims();
    let dev = x.device();
    let mu = Tensor::<1>::from_floats(model.means.as_slice(), &dev).reshape([1, 4, 1, 1, 1]);
    let s2 = 2.0 * model.sigma * model.sigma;
    let logits = (x.repeat_dim(1, 4) - mu).powi_scalar(2).div_scalar(-s2);
    let soft = softmax(logits, 1);
    let maps = match mode {
        TissueMode::Soft => soft,
        TissueMode::Hard => {
            let max = soft.clone().max_dim(1).repeat_dim(1, 4);
            let hard = soft.clone().greater_equal(max).float();
            if straight_through {
                soft.clone() + (hard - soft).detach()
            } else {
                hard.detach()
            }
        }
    };
    let maps = maps.narrow(1, 1, TISSUE_CLASSES);
    let c = TISSUE_CLASSES;
    let octants = maps
        .clone()
        .reshape([b, c, 2, d / 2, 2, h / 2, 2, w / 2])
        .mean_dim(7)
        .mean_dim(5)
        .mean_dim(3)
        .reshape([b, c, 8]);
    let centre = maps
        .narrow(2, d / 4, d / 2)
        .narrow(3, h / 4, h / 2)
        .narrow(4, w / 4, w / 2)
        .reshape([b as i64, c as i64, -1])
        .mean_dim(2);
    Tensor::cat(vec![octants, centre], 2).reshape([b, TISSUE_FEATURES])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{autodiff_device, default_device, tensor_to_vec};

    fn model() -> TissueModel {
        TissueModel {
            means: [0.0, 0.15, 0.5, 0.8],
            sigma: 0.08,
        }
    }

    fn volume(dev: &Device) -> Tensor<5> {
        // 4³: left half (x < 2) white matter, right half grey, one CSF voxel at x=3,y=0,z=0
        // and one outside voxel at x=0,y=3,z=3.
        let mut v = vec![0.0f32; 64];
        for z in 0..4 {
            for y in 0..4 {
                for x in 0..4 {
                    v[(z * 4 + y) * 4 + x] = if x < 2 { 0.8 } else { 0.5 };
                }
            }
        }
        v[3] = 0.15;
        v[(3 * 4 + 3) * 4] = 0.0;
        Tensor::<1>::from_floats(v.as_slice(), dev).reshape([1, 1, 4, 4, 4])
    }

    #[test]
    fn hard_fractions_count_voxels_per_region() {
        let dev = default_device();
        let f = tensor_to_vec(tissue_features(
            volume(&dev),
            &model(),
            TissueMode::Hard,
            false,
        ));
        assert_eq!(f.len(), 27);
        // Octant 0 (z<2, y<2, x<2): 8 WM voxels. Octant 1 (x>=2): 7 GM + 1 CSF of 8.
        let (csf, gm, wm) = (&f[0..9], &f[9..18], &f[18..27]);
        assert_eq!((csf[0], gm[0], wm[0]), (0.0, 0.0, 1.0));
        assert_eq!((csf[1], gm[1], wm[1]), (0.125, 0.875, 0.0));
        // Octant 6 (z>=2, y>=2, x<2): one voxel outside the brain.
        assert_eq!(wm[6], 0.875);
        // Central box (2³ voxels at 1..3): half WM, half GM.
        assert_eq!((csf[8], gm[8], wm[8]), (0.0, 0.5, 0.5));
        // Soft fractions are close to the hard ones on clean tissue intensities.
        let s = tensor_to_vec(tissue_features(
            volume(&dev),
            &model(),
            TissueMode::Soft,
            false,
        ));
        for (a, b) in s.iter().zip(&f) {
            assert!((a - b).abs() < 0.02, "{a} vs {b}");
        }
    }

    #[test]
    fn bpda_keeps_hard_values_and_takes_the_soft_gradient() {
        let ad = autodiff_device();
        let weights = Tensor::<1>::from_floats(
            (0..27)
                .map(|i| (i as f32 * 0.37).sin())
                .collect::<Vec<_>>()
                .as_slice(),
            &ad,
        )
        .reshape([1, 27]);
        let grad = |mode, st| {
            let x = (volume(&ad) + 0.03).require_grad();
            let f = tissue_features(x.clone(), &model(), mode, st);
            let vals = tensor_to_vec(f.clone().inner());
            // `x · 0` keeps the graph alive when the features do not depend on `x`.
            let g = ((f * weights.clone()).sum() + x.clone().sum() * 0.0).backward();
            (vals, tensor_to_vec(x.grad(&g).unwrap()))
        };
        let (soft_v, soft_g) = grad(TissueMode::Soft, false);
        let (hard_v, hard_g) = grad(TissueMode::Hard, false);
        let (bpda_v, bpda_g) = grad(TissueMode::Hard, true);
        assert_eq!(hard_v, bpda_v, "BPDA must not change the forward values");
        assert_ne!(soft_v, hard_v);
        assert!(
            hard_g.iter().all(|&g| g == 0.0),
            "hard features have no gradient"
        );
        // The soft features run the one-pass kernel, BPDA burn's operations: equal to rounding.
        let top = soft_g.iter().fold(0f32, |m, g| m.max(g.abs()));
        for (b, s) in bpda_g.iter().zip(&soft_g) {
            assert!(
                (b - s).abs() <= 1e-5 * top,
                "straight-through takes the soft gradient: {b} vs {s}"
            );
        }
        assert!(soft_g.iter().any(|&g| g != 0.0));
    }

    #[test]
    fn soft_gradient_matches_finite_differences() {
        let ad = autodiff_device();
        let dev = default_device();
        let base = tensor_to_vec(volume(&dev))
            .iter()
            .map(|v| v + 0.07)
            .collect::<Vec<f32>>();
        let value = |v: &[f32]| -> f64 {
            let x = Tensor::<1>::from_floats(v, &dev).reshape([1, 1, 4, 4, 4]);
            let f = tensor_to_vec(tissue_features(x, &model(), TissueMode::Soft, false));
            f.iter()
                .enumerate()
                .map(|(i, v)| (i as f64 + 1.0) * *v as f64)
                .sum()
        };
        let x = Tensor::<1>::from_floats(base.as_slice(), &ad)
            .reshape([1, 1, 4, 4, 4])
            .require_grad();
        let w = Tensor::<1>::from_floats(
            (0..27)
                .map(|i| i as f32 + 1.0)
                .collect::<Vec<_>>()
                .as_slice(),
            &ad,
        )
        .reshape([1, 27]);
        let g = tissue_features(x.clone(), &model(), TissueMode::Soft, false) * w;
        let g = tensor_to_vec(x.grad(&g.sum().backward()).unwrap());
        for &i in &[0usize, 3, 21, 42, 63] {
            let h = 1e-3f32;
            let (mut up, mut dn) = (base.clone(), base.clone());
            up[i] += h;
            dn[i] -= h;
            let fd = (value(&up) - value(&dn)) / (2.0 * h as f64);
            assert!(
                (g[i] as f64 - fd).abs() < 2e-2 * fd.abs().max(0.1),
                "{i}: {} vs {fd}",
                g[i]
            );
        }
    }
}
