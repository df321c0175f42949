//! The cascade: later members attack only unbroken cases, each case keeps its worst input, the
//! result is inside the ball, and a run resumed from a saved state equals an uninterrupted one.

mod common;
use std::cell::RefCell;

use burn::prelude::*;
use common::*;
use mira_attack::{
    Attack, AttackError, AttackSpec, Bounds, CascadeMember, CascadeState, IfgsmConfig, Judge,
    LpBall, Norm, Objective, PgdConfig, run_cascade,
};
use mira_nn::UNet;
use rand::SeedableRng;
use rand::rngs::StdRng;

const H: usize = 12;

/// Scores a case by the cross-entropy against its labels; broken when it rose by more than
/// `threshold` over the clean value.
struct CeJudge<'a> {
    model: &'a UNet,
    labels: Vec<Vec<u8>>,
    clean: Vec<f64>,
    threshold: f64,
    asked: RefCell<Vec<Vec<usize>>>,
}

impl CeJudge<'_> {
    fn bound(&self, rows: &[usize]) -> impl Objective<4> + '_ {
        let labels: Vec<Vec<u8>> = rows.iter().map(|&r| self.labels[r].clone()).collect();
        seg_objective(self.model, seg_goal(&labels, H, H, false))
    }
}

impl Judge<4> for CeJudge<'_> {
    fn objective(&self, rows: &[usize]) -> mira_attack::Result<Box<dyn Objective<4> + '_>> {
        self.asked.borrow_mut().push(rows.to_vec());
        Ok(Box::new(self.bound(rows)))
    }

    fn judge(&self, rows: &[usize], x: Tensor<4>) -> mira_attack::Result<Vec<(f64, bool)>> {
        Ok(vals(self.bound(rows).value(x))
            .iter()
            .zip(rows)
            .map(|(&v, &r)| (v as f64, v as f64 - self.clean[r] > self.threshold))
            .collect())
    }
}

fn setup() -> (UNet, Vec<Vec<u8>>, Tensor<4>) {
    let model = tiny_unet(4);
    warm(&model);
    let labels = random_labels(6, H * H, 4, 9);
    (model, labels, random_input([6, 4, H, H], 21))
}

fn members() -> Vec<CascadeMember> {
    [
        AttackSpec::Ifgsm(IfgsmConfig {
            steps: 4,
            rel_step: 0.25,
        }),
        AttackSpec::Pgd(PgdConfig {
            steps: 4,
            rel_step: 0.25,
            restarts: 1,
        }),
    ]
    .into_iter()
    .map(CascadeMember::from)
    .collect()
}

fn ball() -> LpBall<4> {
    LpBall::new(Norm::Linf, 0.05, Bounds::default()).unwrap()
}

/// The clean values and a threshold between the cases' gains after the first member, so
/// some are broken and some are not.
fn split_threshold(model: &UNet, labels: &[Vec<u8>], x0: &Tensor<4>) -> (Vec<f64>, f64) {
    let f = seg_objective(model, seg_goal(labels, H, H, false));
    let adv = members()[0]
        .spec
        .perturb(&f, x0.clone(), &ball(), &mut StdRng::seed_from_u64(0))
        .unwrap();
    let clean: Vec<f64> = vals(f.value(x0.clone()))
        .iter()
        .map(|&v| v as f64)
        .collect();
    let mut gain: Vec<f64> = vals(f.value(adv))
        .iter()
        .zip(&clean)
        .map(|(&v, c)| v as f64 - c)
        .collect();
    gain.sort_by(f64::total_cmp);
    assert!(gain[0] > 0.0, "{gain:?}");
    (clean, (gain[2] + gain[3]) / 2.0)
}

#[test]
fn later_members_attack_only_unbroken_cases_and_each_case_keeps_its_worst() {
    let (model, labels, x0) = setup();
    let (clean, threshold) = split_threshold(&model, &labels, &x0);
    let judge = CeJudge {
        model: &model,
        labels: labels.clone(),
        clean: clean.clone(),
        threshold,
        asked: RefCell::new(Vec::new()),
    };
    let (adv, st) = run_cascade(
        &members(),
        &judge,
        x0.clone(),
        &ball(),
        7,
        None,
        &mut |_| Ok(()),
    )
    .unwrap();
    let asked = judge.asked.borrow().clone();
    assert_eq!(asked[0], (0..6).collect::<Vec<_>>());
    // i-FGSM has no randomness and the model does not mix samples, so the first member broke
    // exactly the three cases above the threshold; the second saw the other three.
    assert_eq!(st.attacked, vec![6, 3]);
    assert_eq!(asked[1].len(), 3);
    let f = seg_objective(&model, seg_goal(&labels, H, H, false));
    let alone = members()[0]
        .spec
        .perturb(&f, x0.clone(), &ball(), &mut StdRng::seed_from_u64(0))
        .unwrap();
    let (va, vc) = (vals(f.value(alone)), vals(f.value(adv.clone())));
    for i in 0..6 {
        let first_broke = va[i] as f64 - clean[i] > threshold;
        assert_eq!(asked[1].contains(&i), !first_broke, "case {i}");
        // Never weaker than the member run alone (same deterministic member on the full batch).
        assert!(
            vc[i] >= va[i] - 1e-5 * va[i].abs(),
            "case {i}: {} < {}",
            vc[i],
            va[i]
        );
        assert!((st.score[i] - vc[i] as f64).abs() < 1e-4 * vc[i].abs() as f64);
    }
    let d = vals(mira_attack::per_sample_norm(adv.clone() - x0, Norm::Linf));
    assert!(d.iter().all(|v| *v <= 0.05 + 1e-6), "{d:?}");
    assert!(vals(adv).iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn a_resumed_cascade_equals_an_uninterrupted_one() {
    let (model, labels, x0) = setup();
    let (clean, threshold) = split_threshold(&model, &labels, &x0);
    let judge = CeJudge {
        model: &model,
        labels,
        clean,
        threshold,
        asked: RefCell::new(Vec::new()),
    };
    let (whole, st_whole) = run_cascade(
        &members(),
        &judge,
        x0.clone(),
        &ball(),
        3,
        None,
        &mut |_| Ok(()),
    )
    .unwrap();
    // Interrupted after the first member: the checkpoint saved the state, then the run died.
    let mut saved: Option<CascadeState> = None;
    let err = run_cascade(&members(), &judge, x0.clone(), &ball(), 3, None, &mut |s| {
        saved = Some(s.clone());
        Err(AttackError::InvalidParameter {
            field: "interrupt",
            reason: "simulated".into(),
        })
    });
    assert!(err.is_err());
    let saved = saved.unwrap();
    assert_eq!(saved.members_done, 1);
    // Through JSON, as a runner stores it.
    let saved: CascadeState =
        serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
    let (resumed, st) = run_cascade(
        &members(),
        &judge,
        x0.clone(),
        &ball(),
        3,
        Some(saved.clone()),
        &mut |_| Ok(()),
    )
    .unwrap();
    assert_eq!(vals(resumed), vals(whole));
    assert_eq!(st, st_whole);
    // A state of another shape is refused, naming the mismatch.
    let mut wrong = saved;
    wrong.shape[0] = 5;
    let e = run_cascade(&members(), &judge, x0, &ball(), 3, Some(wrong), &mut |_| {
        Ok(())
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("state"), "{e}");
}
