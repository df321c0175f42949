//! The segmentation losses: input gradients against finite differences through a UNet, the
//! SegPGD schedule and the CosPGD weights against hand computations.

mod common;
use burn::prelude::*;
use common::*;
use mira_attack::{
    ModelObjective, Objective, SegLoss, pixel_weights, seg_loss, segmentation_loss_objective,
    weighted_ce,
};
use mira_nn::{Forward, default_device, one_hot};

/// Every loss's gradient (the schedule at step 3 of 8, where SegPGD weighs both kinds of
/// pixel) is the derivative of its value, untargeted and targeted. SegPGD's weights are
/// piecewise constant (argmax), so its value is differentiable away from ties; CosPGD's weights
/// vary with the input and are held constant in the gradient, as the paper's code detaches
/// them, so it is checked against the cross-entropy weighted by the weights of the point.
#[test]
fn every_loss_gradient_matches_finite_differences() {
    let model = tiny_unet(31);
    warm(&model);
    let labels = random_labels(2, 256, 4, 7);
    let x = random_input([2, 4, 16, 16], 5);
    for targeted in [false, true] {
        for loss in [SegLoss::Ce, SegLoss::Margin, SegLoss::Segpgd, SegLoss::Dice] {
            let f = segmentation_loss_objective(
                &model,
                seg_goal(&labels, 16, 16, targeted),
                loss,
                1.0,
                None,
            );
            f.schedule(3, 8);
            let h = if loss == SegLoss::Margin { 1e-2 } else { 5e-2 };
            check_directional(&f, x.clone(), h, 13);
        }
        let goal = seg_goal(&labels, 16, 16, targeted);
        let reference = goal.reference().clone();
        let z0 = model.forward(x.clone());
        let w0 = pixel_weights(SegLoss::Cospgd, z0, reference.clone(), targeted, 0.0).unwrap();
        let frozen = ModelObjective::<_, _, 4, 4>::new(
            &model,
            move |z: Tensor<4>| weighted_ce(z, reference.clone(), w0.clone(), 1.0),
            goal.sign(),
        );
        check_directional(&frozen, x.clone(), 5e-2, 14);
        let cos = segmentation_loss_objective(&model, goal, SegLoss::Cospgd, 1.0, None);
        let ((v1, g1), (v2, g2)) = (
            cos.value_and_grad(x.clone()),
            frozen.value_and_grad(x.clone()),
        );
        for (a, b) in vals(v1).iter().zip(vals(v2)) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} {b}");
        }
        let (g1, g2) = (vals(g1), vals(g2));
        let scale = g2.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (a, b) in g1.iter().zip(&g2) {
            assert!((a - b).abs() <= 1e-5 * scale, "{a} {b}");
        }
    }
}

/// One pixel per case, two classes, logits (0, ln 3): softmax (1/4, 3/4), so the model predicts
/// class 1. Case 0's truth is 1 (right), case 1's is 0 (wrong).
fn two_pixels() -> (Tensor<4>, Tensor<4>) {
    let dev = default_device();
    let z = Tensor::<4>::from_data(
        TensorData::new(vec![0.0f32, 3f32.ln(), 0.0, 3f32.ln()], [2, 2, 1, 1]),
        &dev,
    );
    let r = one_hot(&[&[1u8][..], &[0u8][..]], 2, 1, 1, &dev).unwrap();
    (z, r)
}

/// SegPGD: at λ the right pixel weighs `1 − λ` and the wrong one `λ` (untargeted); for a target
/// the weights swap. The loss is the weighted cross-entropy.
#[test]
fn segpgd_weighs_right_and_wrong_pixels_by_the_schedule() {
    let (z, r) = two_pixels();
    let lambda = 0.3f32;
    let w = vals(pixel_weights(SegLoss::Segpgd, z.clone(), r.clone(), false, lambda).unwrap());
    assert_eq!(w, vec![0.7, 0.3]);
    let wt = vals(pixel_weights(SegLoss::Segpgd, z.clone(), r.clone(), true, lambda).unwrap());
    assert_eq!(wt, vec![0.3, 0.7]);
    let v = vals(seg_loss(SegLoss::Segpgd, z, r, false, 1.0, lambda));
    let (ce_right, ce_wrong) = (-(0.75f32.ln()), -(0.25f32.ln()));
    assert!((v[0] - 0.7 * ce_right).abs() < 1e-6, "{v:?}");
    assert!((v[1] - 0.3 * ce_wrong).abs() < 1e-6, "{v:?}");
}

/// The objective's schedule is the attack's progress: step t of T gives λ = t / (2T), so the
/// same input scores differently at the first and the last step, and the other losses not.
#[test]
fn the_schedule_moves_segpgd_only() {
    let model = tiny_unet(32);
    warm(&model);
    let labels = random_labels(1, 256, 4, 8);
    let x = random_input([1, 4, 16, 16], 6);
    for loss in [SegLoss::Segpgd, SegLoss::Ce, SegLoss::Cospgd] {
        let f =
            segmentation_loss_objective(&model, seg_goal(&labels, 16, 16, false), loss, 1.0, None);
        f.schedule(0, 10);
        let first = vals(f.value(x.clone()))[0];
        f.schedule(9, 10);
        let last = vals(f.value(x.clone()))[0];
        assert_eq!(
            first != last,
            loss == SegLoss::Segpgd,
            "{loss:?}: {first} {last}"
        );
    }
}

/// CosPGD: the weight is the cosine of the softmax and the one-hot reference, `p_y / |p|`
/// (`1 −` it for a target).
#[test]
fn cospgd_weights_are_the_cosine_to_the_reference() {
    let (z, r) = two_pixels();
    let norm = (0.25f32 * 0.25 + 0.75 * 0.75).sqrt();
    let w = vals(pixel_weights(SegLoss::Cospgd, z.clone(), r.clone(), false, 0.0).unwrap());
    assert!((w[0] - 0.75 / norm).abs() < 1e-6 && (w[1] - 0.25 / norm).abs() < 1e-6);
    let wt = vals(pixel_weights(SegLoss::Cospgd, z, r, true, 0.0).unwrap());
    assert!((wt[0] - (1.0 - 0.75 / norm)).abs() < 1e-6, "{wt:?}");
}
