//! Regression tasks (age in years, rigid parameters, contour points): per-sample losses.

use burn::prelude::*;

/// Per-sample mean squared error.
///
/// # Shapes
/// `pred, target: [B, P] -> [B]`.
pub fn mse(pred: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let [b, _] = pred.dims();
    (pred - target).powi_scalar(2).mean_dim(1).reshape([b])
}

/// Per-sample sum of squared errors (the S4 point loss: squared distances summed over the
/// contour's points).
///
/// # Shapes
/// `pred, target: [B, P] -> [B]`.
pub fn sse(pred: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let [b, _] = pred.dims();
    (pred - target).powi_scalar(2).sum_dim(1).reshape([b])
}

/// Differentiable target registration error of 2D rigid parameters, per sample: the RMS
/// distance between the points of `grid` mapped by the predicted and by the true transform
/// (`mira_data::tre`, with `1e-6` added under the root so the gradient is finite at 0).
///
/// # Shapes
/// `pred, truth: [B, 3]` as (θ degrees, tx px, ty px) `-> [B]` pixels.
pub fn rigid_tre(pred: Tensor<2>, truth: Tensor<2>, grid: &[[f64; 2]]) -> Tensor<1> {
    let [b, _] = pred.dims();
    let device = pred.device();
    let n = grid.len().max(1);
    let px: Vec<f32> = grid.iter().map(|p| p[0] as f32).collect();
    let py: Vec<f32> = grid.iter().map(|p| p[1] as f32).collect();
    let px = Tensor::<1>::from_floats(px.as_slice(), &device).reshape([1, n]);
    let py = Tensor::<1>::from_floats(py.as_slice(), &device).reshape([1, n]);
    let deg = std::f32::consts::PI / 180.0;
    let col = |t: &Tensor<2>, k: usize| t.clone().slice([0..b, k..k + 1]);
    let (tp, tt) = (col(&pred, 0) * deg, col(&truth, 0) * deg);
    let dc = tp.clone().cos() - tt.clone().cos();
    let ds = tp.sin() - tt.sin();
    let dx = col(&pred, 1) - col(&truth, 1);
    let dy = col(&pred, 2) - col(&truth, 2);
    let ex = dc.clone() * px.clone() - ds.clone() * py.clone() + dx;
    let ey = ds * px + dc * py + dy;
    (ex.powi_scalar(2) + ey.powi_scalar(2))
        .mean_dim(1)
        .add_scalar(1e-6)
        .sqrt()
        .reshape([b])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{default_device, tensor_to_vec};
    use mira_data::{Rigid2d, tre, tre_grid};

    #[test]
    fn sse_and_mse_are_hand_values() {
        let dev = default_device();
        let p = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0], &dev).reshape([2, 2]);
        let t = Tensor::<1>::from_floats([1.0, 0.0, 0.0, 0.0], &dev).reshape([2, 2]);
        assert_eq!(tensor_to_vec(sse(p.clone(), t.clone())), vec![4.0, 25.0]);
        assert_eq!(tensor_to_vec(mse(p, t)), vec![2.0, 12.5]);
    }

    #[test]
    fn tensor_tre_matches_the_host_tre_and_its_finite_differences() {
        let dev = default_device();
        let grid = tre_grid(64, 8);
        let cases = [
            ([3.0, 1.5, -2.0], [-4.0, 0.5, 1.0]),
            ([0.0, 3.0, 4.0], [0.0, 0.0, 0.0]),
            ([10.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
        ];
        let flat = |v: &[[f32; 3]]| v.iter().flatten().copied().collect::<Vec<f32>>();
        let p: Vec<[f32; 3]> = cases.iter().map(|c| c.0).collect();
        let t: Vec<[f32; 3]> = cases.iter().map(|c| c.1).collect();
        let mk = |v: &[[f32; 3]], d: &Device| {
            Tensor::<1>::from_floats(flat(v).as_slice(), d).reshape([v.len(), 3])
        };
        let got = tensor_to_vec(rigid_tre(mk(&p, &dev), mk(&t, &dev), &grid));
        let rigid = |c: [f32; 3]| Rigid2d {
            theta_deg: c[0] as f64,
            tx: c[1] as f64,
            ty: c[2] as f64,
        };
        for (k, (a, b)) in cases.iter().enumerate() {
            let host = tre(&rigid(*a), &rigid(*b), &grid);
            assert!(
                (got[k] as f64 - host).abs() < 1e-3,
                "{k}: {} vs {host}",
                got[k]
            );
        }
        assert!((got[1] - 5.0).abs() < 1e-4);
        // Gradient with respect to the prediction against central differences of the host TRE.
        let ad = crate::autodiff_device();
        let x = mk(&p, &ad).require_grad();
        let grads = rigid_tre(x.clone(), mk(&t, &ad), &grid).sum().backward();
        let g = tensor_to_vec(x.grad(&grads).unwrap());
        for (k, c) in cases.iter().enumerate().take(1) {
            for j in 0..3 {
                let h = 1e-4;
                let (mut up, mut dn) = (c.0, c.0);
                up[j] += h as f32;
                dn[j] -= h as f32;
                let fd = (tre(&rigid(up), &rigid(c.1), &grid)
                    - tre(&rigid(dn), &rigid(c.1), &grid))
                    / (2.0 * h);
                assert!(
                    (g[k * 3 + j] as f64 - fd).abs() < 2e-3 * fd.abs().max(1.0),
                    "{j}: {} vs {fd}",
                    g[k * 3 + j]
                );
            }
        }
    }
}
