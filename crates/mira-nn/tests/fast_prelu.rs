//! PReLU / LeakyReLU in one pass (`mira_nn::fast_conv::prelu`) against burn's operations
//! (`relu(x) − a · relu(−x)`): output and input gradient, per-channel and single slopes, 4D
//! and 5D; the kink takes the slope (PyTorch's convention); slope counts that fit neither
//! form are refused.

use burn::tensor::activation::relu;
use burn::tensor::{Tensor, TensorData};
use mira_nn::fast_conv;

mod common;
use common::{host, rel_err, tensor};

/// Output and input gradient of `Σ f(x) ⊙ r`.
fn run<const D: usize>(
    shape: [usize; D],
    seed: u64,
    f: impl Fn(Tensor<D>) -> Tensor<D>,
) -> [Vec<f32>; 2] {
    let x = tensor(shape, seed, true).require_grad();
    let y = f(x.clone());
    let r = tensor(y.dims(), seed + 1, true);
    let g = (y.clone() * r).sum().backward();
    [host(y), host(x.grad(&g).expect("x tracked"))]
}

fn burns<const D: usize>(x: Tensor<D>, slopes: &[f32]) -> Tensor<D> {
    let mut shape = [1usize; D];
    if slopes.len() > 1 {
        shape[1] = slopes.len();
    }
    let a = Tensor::<D>::from_data(TensorData::new(slopes.to_vec(), shape), &x.device());
    relu(x.clone()) - relu(x.neg()) * a
}

#[test]
fn prelu_matches_burns_operations() {
    let per_channel = [0.25f32, -0.1, 0.0, 1.5];
    for (i, slopes) in [&per_channel[..], &[0.01f32][..]].into_iter().enumerate() {
        let seed = 10 + 5 * i as u64;
        let ours = run([2, 4, 5, 7], seed, |x| {
            fast_conv::prelu(x, slopes).expect("fits")
        });
        let theirs = run([2, 4, 5, 7], seed, |x| burns(x, slopes));
        for k in 0..2 {
            assert!(
                rel_err(&ours[k], &theirs[k]) < 1e-6,
                "4D, slopes {slopes:?}, part {k}"
            );
        }
        let ours = run([1, 4, 3, 4, 5], seed, |x| {
            fast_conv::prelu(x, slopes).expect("fits")
        });
        let theirs = run([1, 4, 3, 4, 5], seed, |x| burns(x, slopes));
        for k in 0..2 {
            assert!(
                rel_err(&ours[k], &theirs[k]) < 1e-6,
                "5D, slopes {slopes:?}, part {k}"
            );
        }
    }
}

#[test]
fn the_kink_takes_the_slope_and_odd_slope_counts_are_refused() {
    let device = mira_nn::autodiff_device();
    let x = Tensor::<2>::from_data(
        TensorData::new(vec![0.0f32, 2.0, -2.0, 0.0], [2, 2]),
        &device,
    )
    .require_grad();
    let y = fast_conv::prelu(x.clone(), &[0.5, 0.25]).expect("fits");
    assert_eq!(host(y.clone()), vec![0.0, 2.0, -1.0, 0.0]);
    let g = y.sum().backward();
    // Column 0 has slope 0.5, column 1 slope 0.25: x = 0 takes the slope, as PyTorch's.
    assert_eq!(
        host(x.grad(&g).expect("tracked")),
        vec![0.5, 1.0, 0.5, 0.25]
    );
    let z = tensor([1, 3, 4, 4], 3, false);
    assert!(fast_conv::prelu(z, &[0.1, 0.2]).is_none());
}
