//! `mira bench` times the reference benchmark's networks, identical parameter for parameter to
//! `../shared/bench/reference_models.py` (UNet2d 483,636; Reg3d 45,265).

#[test]
fn the_benchmark_networks_match_the_reference_counts() {
    for (only, workload, params) in [
        ("b1", "b1_unet_attack_step", 483_636),
        ("b2", "b2_reg3d_attack_step", 45_265),
        ("b3", "b3_unet_train_step", 483_636),
    ] {
        let rows = mira_eval::bench_attack_steps(Some(only), 0, 1).unwrap();
        assert_eq!(rows.len(), 1, "{only}");
        let r = &rows[0];
        assert_eq!((r.workload.as_str(), r.params), (workload, params));
        assert!(r.median_ms > 0.0 && r.min_ms <= r.median_ms && r.samples_per_s > 0.0);
    }
}
