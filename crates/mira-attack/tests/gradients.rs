//! Input gradients of objectives against central finite differences (f32, relative error < 1e-2).

mod common;
use common::*;
use mira_attack::{Goal, Objective};

#[test]
fn segmentation_objective_gradient_matches_finite_differences() {
    let model = tiny_unet(11);
    warm(&model);
    let labels = random_labels(2, 256, 4, 5);
    for targeted in [false, true] {
        let f = seg_objective(&model, seg_goal(&labels, 16, 16, targeted));
        check_directional(&f, random_input([2, 4, 16, 16], 3), 5e-2, 9);
    }
}

#[test]
fn regression_3d_objective_gradient_matches_finite_differences() {
    let model = tiny_reg3d(21);
    let target = tensor(vec![0.7, -0.4], [2, 1]);
    let f = reg_objective(&model, Goal::Untargeted { truth: target });
    check_directional(&f, random_input([2, 1, 8, 8, 8], 8), 2e-2, 10);
}

#[test]
fn margin_objective_gradient_matches_finite_differences_and_ignores_logit_scale() {
    use mira_attack::segmentation_margin_objective;
    let model = tiny_unet(12);
    warm(&model);
    let labels = random_labels(2, 256, 4, 6);
    let x = random_input([2, 4, 16, 16], 4);
    let f = segmentation_margin_objective(&model, seg_goal(&labels, 16, 16, false));
    check_directional(&f, x.clone(), 1e-2, 10);
    // Scaling the logits (a distilled model deployed at T = 1) scales the margin and its
    // gradient, so sign-gradient attacks take the very same steps.
    let scaled = tiny_unet(12).scale_logits(50.0);
    let g = segmentation_margin_objective(&scaled, seg_goal(&labels, 16, 16, false));
    let (v1, g1) = f.value_and_grad(x.clone());
    let (v2, g2) = g.value_and_grad(x);
    for (a, b) in vals(v1).iter().zip(vals(v2)) {
        assert!((a * 50.0 - b).abs() <= 1e-3 * b.abs().max(1.0), "{a} {b}");
    }
    let (s1, s2) = (vals(g1.sign()), vals(g2.sign()));
    let same = s1.iter().zip(&s2).filter(|(a, b)| a == b).count();
    assert!(
        same * 1000 >= s1.len() * 999,
        "{same} of {} signs agree",
        s1.len()
    );
}
