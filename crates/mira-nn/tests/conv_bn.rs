//! `mira_nn::conv_bn::conv_bn` (BatchNorm folded into the convolution in inference) against
//! the unfolded `bn.forward(conv(x))`: output and input gradient to 1e-4 relative, with
//! running statistics and affine parameters far from their initial values; training mode is
//! left unfolded (batch statistics).

use burn::module::{Module, Param};
use burn::nn::conv::Conv2dConfig;
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Distribution, Tensor};
use mira_nn::conv_bn::{bn_uses_running_stats, conv_bn};
use mira_nn::fast_conv::conv2d_layer;

mod common;
use common::{host, rel_err};

#[test]
fn folded_conv_bn_matches_the_unfolded_pair_in_inference() {
    let ad = mira_nn::autodiff_device();
    let (conv, bn): (_, BatchNorm) = mira_nn::seeded(&ad, 7, |d| {
        let conv = Conv2dConfig::new([3, 5], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(d);
        let mut bn = BatchNormConfig::new(5).init(d);
        bn.gamma = Param::from_tensor(Tensor::random([5], Distribution::Uniform(0.5, 2.0), d));
        bn.beta = Param::from_tensor(Tensor::random([5], Distribution::Uniform(-1.0, 1.0), d));
        (conv, bn)
    });
    // Training-mode passes move the running statistics away from (0, 1).
    assert!(!bn_uses_running_stats(
        &bn,
        &Tensor::zeros([1, 3, 4, 4], &ad)
    ));
    for s in 0..5 {
        let x = Tensor::<4>::random([4, 3, 6, 6], Distribution::Normal(s as f64, 2.0), &ad);
        let _ = bn.forward(conv2d_layer(&conv, x));
    }
    let (conv, bn) = (conv.valid(), bn.valid());
    let x0 = Tensor::<4>::random([2, 3, 9, 7], Distribution::Uniform(0.0, 1.0), &ad).inner();
    assert!(bn_uses_running_stats(
        &bn,
        &Tensor::zeros([1, 3, 4, 4], &ad)
    ));

    let run = |folded: bool| {
        let x = Tensor::<4>::from_data(x0.clone().into_data(), &ad).require_grad();
        let y = if folded {
            conv_bn(&conv, &bn, x.clone())
        } else {
            bn.forward(conv2d_layer(&conv, x.clone()))
        };
        let r = Tensor::<4>::random(y.dims(), Distribution::Uniform(-1.0, 1.0), &ad);
        let g = (y.clone() * r).sum().backward();
        (host(y), host(x.grad(&g).unwrap()))
    };
    ad.seed(11);
    let (y_fold, g_fold) = run(true);
    ad.seed(11);
    let (y_ref, g_ref) = run(false);
    assert!(
        rel_err(&y_fold, &y_ref) < 1e-4,
        "output {}",
        rel_err(&y_fold, &y_ref)
    );
    assert!(
        rel_err(&g_fold, &g_ref) < 1e-4,
        "gradient {}",
        rel_err(&g_fold, &g_ref)
    );
    // The statistics really moved: the unfolded output is not that of a fresh BatchNorm.
    let fresh = BatchNormConfig::new(5).init(&ad).valid();
    let y_fresh = host(fresh.forward(conv2d_layer(&conv, x0)));
    assert!(rel_err(&y_fresh, &y_ref) > 1e-2);
}
