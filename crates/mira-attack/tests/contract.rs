//! The attack contract, table-driven over attack x task x norm x goal: every adversarial
//! example is inside its budget and the bounds; the objective moves the right way; the same
//! seed gives the same result bit for bit.

mod common;
use burn::prelude::*;
use common::*;
use mira_attack::{
    ApgdConfig, Attack, AttackSpec, Bounds, Goal, IfgsmConfig, LpBall, MiFgsmConfig, Norm,
    Objective, PgdConfig, RandomSearch, SquareConfig, per_sample_norm,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The attacks under contract: the engine presets and the gradient-free random search (made
/// an `AttackSpec`-like entry through its engine-free `Attack` impl).
enum Under {
    Spec(AttackSpec),
    Random(RandomSearch),
}

fn attacks() -> Vec<(&'static str, Under)> {
    let mut v: Vec<(&'static str, Under)> = specs()
        .into_iter()
        .map(|(n, s)| (n, Under::Spec(s)))
        .collect();
    v.push((
        "random-search",
        Under::Random(RandomSearch {
            queries: 30,
            window: 0.5,
        }),
    ));
    v
}

fn specs() -> Vec<(&'static str, AttackSpec)> {
    vec![
        ("fgsm", AttackSpec::Fgsm(mira_attack::FgsmConfig)),
        (
            "ifgsm",
            AttackSpec::Ifgsm(IfgsmConfig {
                steps: 5,
                rel_step: 0.25,
            }),
        ),
        (
            "pgd",
            AttackSpec::Pgd(PgdConfig {
                steps: 5,
                rel_step: 0.25,
                restarts: 2,
            }),
        ),
        (
            "pgd_adamax",
            AttackSpec::PgdAdamax(mira_attack::PgdAdamaxConfig {
                steps: 5,
                restarts: 2,
                ..Default::default()
            }),
        ),
        (
            "mifgsm",
            AttackSpec::MiFgsm(MiFgsmConfig {
                steps: 5,
                rel_step: 0.25,
                decay: 1.0,
            }),
        ),
        (
            "apgd",
            AttackSpec::Apgd(ApgdConfig {
                steps: 10,
                restarts: 2,
                ..Default::default()
            }),
        ),
        (
            "square",
            AttackSpec::Square(SquareConfig {
                queries: 30,
                p_init: 0.3,
            }),
        ),
        (
            "auto",
            AttackSpec::Auto(mira_attack::AutoConfig {
                apgd_steps: 6,
                restarts: 1,
                square_queries: 20,
            }),
        ),
        (
            "spsa",
            AttackSpec::Spsa(mira_attack::SpsaConfig {
                queries: 8 * 2 * 8,
                samples: 8,
                delta: 0.01,
                lr: 0.2,
            }),
        ),
    ]
}

fn check_contract<const D: usize>(
    name: &str,
    f: &dyn Objective<D>,
    x0: Tensor<D>,
    under: &Under,
    norm: Norm,
) {
    let eps = match norm {
        Norm::Linf => 0.03,
        Norm::L2 => 0.5,
    };
    let ball = LpBall::new(norm, eps, Bounds::default()).unwrap();
    let run = |seed| {
        let rng = &mut StdRng::seed_from_u64(seed);
        match under {
            Under::Spec(spec) => spec.perturb(f, x0.clone(), &ball, rng),
            Under::Random(r) => r.perturb(f, x0.clone(), &ball, rng),
        }
        .unwrap()
    };
    if let (Under::Spec(spec @ AttackSpec::Square(_)), Norm::L2) = (under, norm) {
        // The Square Attack here is the L∞ version: L2 is a clear error, not a wrong answer.
        let e = spec
            .perturb(f, x0.clone(), &ball, &mut StdRng::seed_from_u64(7))
            .unwrap_err();
        assert!(e.to_string().contains("L∞"), "{name}: {e}");
        return;
    }
    let adv = run(7);
    // Within budget and bounds.
    let n = vals(per_sample_norm(adv.clone() - x0.clone(), norm));
    assert!(
        n.iter().all(|&v| v <= eps * (1.0 + 1e-5) + 1e-6),
        "{name}: norms {n:?} > {eps}"
    );
    let a = vals(adv.clone());
    assert!(
        a.iter().all(|v| (0.0..=1.0).contains(v)),
        "{name}: out of bounds"
    );
    // The objective (already sign-flipped for targeted goals) goes up.
    let (v0, v1) = (vals(f.value(x0.clone())), vals(f.value(adv.clone())));
    // Gradient iterations never lose ground from x0; FGSM (one step) and random search (which
    // starts at a random vertex) are only required to raise the total.
    let iterative = matches!(under, Under::Spec(s) if !matches!(s, AttackSpec::Fgsm(mira_attack::FgsmConfig) | AttackSpec::Square(_)));
    for (i, (a, b)) in v0.iter().zip(&v1).enumerate() {
        if iterative {
            assert!(b >= a, "{name}: sample {i} objective fell {a} -> {b}");
        }
    }
    assert!(
        v1.iter().sum::<f32>() > v0.iter().sum::<f32>(),
        "{name}: objective did not rise"
    );
    // Deterministic per seed.
    assert_eq!(a, vals(run(7)), "{name}: not deterministic");
}

#[test]
fn contract_segmentation_2d() {
    let model = tiny_unet(31);
    warm(&model);
    let x0 = random_input([2, 4, 16, 16], 1);
    let truth = random_labels(2, 256, 4, 2);
    for targeted in [false, true] {
        let f = seg_objective(&model, seg_goal(&truth, 16, 16, targeted));
        for (name, under) in attacks() {
            for norm in [Norm::Linf, Norm::L2] {
                check_contract(
                    &format!("seg/{name}/{norm:?}/targeted={targeted}"),
                    &f,
                    x0.clone(),
                    &under,
                    norm,
                );
            }
        }
    }
}

#[test]
fn contract_regression_3d() {
    let model = tiny_reg3d(41);
    let x0 = random_input([2, 1, 8, 8, 8], 3);
    let y = tensor(vec![0.5, -0.5], [2, 1]);
    for goal in [
        Goal::Untargeted { truth: y.clone() },
        Goal::Targeted {
            target: y.clone() * 3.0,
        },
    ] {
        let targeted = goal.is_targeted();
        let f = reg_objective(&model, goal);
        for (name, under) in attacks() {
            for norm in [Norm::Linf, Norm::L2] {
                check_contract(
                    &format!("reg3d/{name}/{norm:?}/targeted={targeted}"),
                    &f,
                    x0.clone(),
                    &under,
                    norm,
                );
            }
        }
    }
}

#[test]
fn zero_budget_returns_the_input_and_bad_parameters_are_errors() {
    let model = tiny_unet(5);
    warm(&model);
    let x0 = random_input([1, 4, 16, 16], 1);
    let f = seg_objective(
        &model,
        seg_goal(&random_labels(1, 256, 4, 2), 16, 16, false),
    );
    let ball = LpBall::new(Norm::Linf, 0.0, Bounds::default()).unwrap();
    let adv = AttackSpec::Fgsm(mira_attack::FgsmConfig)
        .perturb(&f, x0.clone(), &ball, &mut StdRng::seed_from_u64(0))
        .unwrap();
    assert_eq!(vals(adv), vals(x0));
    let bad = AttackSpec::Ifgsm(IfgsmConfig {
        steps: 0,
        rel_step: 0.1,
    });
    assert!(bad.validate().unwrap_err().to_string().contains("`steps`"));
}

/// The minimum-norm attack and the universal perturbation under the same contract: within
/// budget and bounds, the criterion (or the objective) moves the right way, deterministic.
fn check_min_norm_and_universal<const D: usize>(
    name: &str,
    f: &dyn Objective<D>,
    x0: Tensor<D>,
    norm: Norm,
) {
    let eps = match norm {
        Norm::Linf => 0.05,
        Norm::L2 => 1.0,
    };
    let v0 = vals(f.value(x0.clone()));
    // Criterion: the objective rose by a margin that PGD reaches within ε.
    let ball = LpBall::new(norm, eps, Bounds::default()).unwrap();
    let pgd = AttackSpec::Pgd(PgdConfig {
        steps: 10,
        rel_step: 0.25,
        restarts: 1,
    })
    .perturb(f, x0.clone(), &ball, &mut StdRng::seed_from_u64(1))
    .unwrap();
    let v_pgd = vals(f.value(pgd));
    let margin: Vec<f32> = v0.iter().zip(&v_pgd).map(|(a, b)| 0.5 * (b - a)).collect();
    let crit = |x: Tensor<D>| -> Vec<bool> {
        vals(f.value(x))
            .iter()
            .zip(&v0)
            .zip(&margin)
            .map(|((v, a), m)| v - a > *m && *m > 0.0)
            .collect()
    };
    let cfg = mira_attack::MinNormConfig {
        steps: 40,
        ..Default::default()
    };
    let r = cfg
        .minimize(f, &crit, x0.clone(), norm, eps, Bounds::default())
        .unwrap();
    let n = vals(per_sample_norm(r.adversarial.clone() - x0.clone(), norm));
    let met = crit(r.adversarial.clone());
    for (i, m) in r.min_norm.iter().enumerate() {
        match m {
            Some(m) => {
                assert!(
                    met[i],
                    "{name}: sample {i} reported broken but the criterion fails"
                );
                assert!(
                    (m - n[i]).abs() <= 1e-5 * eps.max(1.0),
                    "{name}: {m} vs measured {}",
                    n[i]
                );
                assert!(*m <= eps * (1.0 + 1e-5), "{name}: {m} > {eps}");
            }
            None => assert_eq!(n[i], 0.0, "{name}: unbroken sample moved"),
        }
    }
    assert!(
        r.min_norm.iter().any(Option::is_some),
        "{name}: nothing broken although PGD reached it"
    );
    assert!(
        vals(r.adversarial.clone())
            .iter()
            .all(|v| (0.0..=1.0).contains(v))
    );
    let again = cfg
        .minimize(f, &crit, x0.clone(), norm, eps, Bounds::default())
        .unwrap();
    assert_eq!(
        vals(again.adversarial),
        vals(r.adversarial),
        "{name}: min-norm not deterministic"
    );
    // Universal: one δ in the ball; applied unchanged, every sample within budget; the mean
    // objective over the fitting set rises.
    let chunks: Vec<(&dyn Objective<D>, Tensor<D>)> = vec![(f, x0.clone())];
    let u = mira_attack::UniversalConfig {
        steps: 10,
        rel_step: 0.2,
    };
    let (delta, fit) = u.fit(&chunks, &ball).unwrap();
    assert_eq!(delta.dims()[0], 1);
    let adv = mira_attack::apply_universal(&delta, &x0, &ball);
    let n = vals(per_sample_norm(adv.clone() - x0.clone(), norm));
    assert!(
        n.iter().all(|&v| v <= eps * (1.0 + 1e-5) + 1e-6),
        "{name}: universal norms {n:?}"
    );
    assert!(fit.best_objective >= fit.start_objective, "{name}: {fit:?}");
    let (d2, _) = u.fit(&chunks, &ball).unwrap();
    assert_eq!(vals(d2), vals(delta), "{name}: universal not deterministic");
}

#[test]
fn contract_min_norm_and_universal_on_every_task() {
    let unet = tiny_unet(31);
    warm(&unet);
    let x0 = random_input([2, 4, 16, 16], 1);
    let truth = random_labels(2, 256, 4, 2);
    let reg = tiny_reg3d(41);
    let v0 = random_input([2, 1, 8, 8, 8], 3);
    let y = tensor(vec![0.5, -0.5], [2, 1]);
    for norm in [Norm::Linf, Norm::L2] {
        for targeted in [false, true] {
            let f = seg_objective(&unet, seg_goal(&truth, 16, 16, targeted));
            check_min_norm_and_universal(
                &format!("seg/{norm:?}/targeted={targeted}"),
                &f,
                x0.clone(),
                norm,
            );
        }
        let f = reg_objective(&reg, Goal::Untargeted { truth: y.clone() });
        check_min_norm_and_universal(&format!("reg3d/{norm:?}"), &f, v0.clone(), norm);
    }
}
