//! `mira bench` times the reference benchmark's networks, identical parameter for parameter to
//! `../shared/bench/reference_models.py` (UNet2d 483,636; Reg3d 45,265). The ONNX export of
//! the UNet2d has 482,228: the exporter folds each BatchNorm into its convolution, which drops
//! the BatchNorm scales and shifts (2 × 704 channels).

#[test]
fn the_benchmark_networks_match_the_reference_counts() {
    for (only, workload, params) in [
        ("b1_unet", "b1_unet_attack_step", 483_636),
        ("b1_onnx", "b1_onnx_unet_attack_step", 482_228),
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

/// The sweep benchmark names the missing weights and how to make them, and refuses a folder
/// whose slices this build would not generate.
#[test]
fn the_sweep_benchmark_explains_missing_or_foreign_inputs() {
    let dir = std::env::temp_dir().join(format!("mira-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let e = mira_eval::bench_sweep(&dir, &[0.01])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unet.safetensors is missing") && e.contains("bench/s1_sweep.py"),
        "{e}"
    );
    std::fs::write(dir.join("unet.safetensors"), b"x").unwrap();
    std::fs::write(
        dir.join("meta.json"),
        r#"{"test": {"sha256": "not this build's"}}"#,
    )
    .unwrap();
    let e = mira_eval::bench_sweep(&dir, &[0.01])
        .unwrap_err()
        .to_string();
    assert!(e.contains("other slices"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
