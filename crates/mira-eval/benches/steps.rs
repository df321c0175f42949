//! `cargo bench` twin of `mira bench`: the attack- and training-step workloads of
//! `../shared/bench` (b1, b2, b3) and the S3 brain-age steps, through the same library call
//! (`mira_eval::bench_attack_steps`), median and fastest of the timed steps.
//!
//!     cargo bench -p mira-eval --bench steps                  # all workloads
//!     cargo bench -p mira-eval --bench steps -- b1 --iters 20 --warmup 3
//!
//! The first free argument filters workloads by name, as `mira bench --only`. Threads follow
//! `RAYON_NUM_THREADS` (all cores without it). For ratios to PyTorch measured in the same run,
//! use `mira bench --reference python3` (BENCHMARKS.md); this twin times Mira alone.

use std::process::ExitCode;

fn main() -> ExitCode {
    let (mut only, mut iters, mut warmup) = (None, 10usize, 2usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} takes a whole number"))
        };
        let parsed = match a.as_str() {
            "--iters" => number("--iters").map(|n| iters = n),
            "--warmup" => number("--warmup").map(|n| warmup = n),
            // cargo passes `--bench` to harness-less benches; other flags are cargo's too.
            s if s.starts_with("--") => Ok(()),
            s => {
                only = Some(s.to_string());
                Ok(())
            }
        };
        if let Err(e) = parsed {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    match mira_eval::bench_attack_steps(only.as_deref(), warmup, iters) {
        Ok(rows) if rows.is_empty() => {
            eprintln!("error: no workload matches {:?}", only.unwrap_or_default());
            ExitCode::from(2)
        }
        Ok(rows) => {
            for r in rows {
                println!(
                    "{:<30} median {:>9.2} ms   min {:>9.2} ms   {:>7.1} samples/s   {} parameters",
                    r.workload, r.median_ms, r.min_ms, r.samples_per_s, r.params
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
