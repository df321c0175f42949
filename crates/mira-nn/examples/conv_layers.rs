//! Per-layer timing of Mira's convolution kernel on the b1 UNet's convolutions (batch 8 or
//! `BATCH`, 128² input): forward, input gradient and weight gradient (the dispatched kernel,
//! and the im2col path beside it), milliseconds and GFLOP/s, median of `N` runs. A profiling
//! aid for BENCHMARKS.md, not a test.
//!
//!     cargo run --release -p mira-nn --example conv_layers [-- N [BATCH [LAYERS]]]
//!
//! `LAYERS` replaces the UNet's list: `cin,cout,side` triples separated by `;` (the S4 disk
//! network's stride-1 layers: `8,8,64;16,16,32;32,32,16;64,64,8`).

use std::time::Instant;

use mira_nn::fast_conv::{ConvGeom, forward, input_grad, weight_grad, weight_grad_im2col};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(9);
    let batch: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(8);
    // (cin, cout, side) of the fourteen 3×3 convolutions of UNet2d(base 16, depth 3) on 128².
    let unet = [
        (4, 16, 128),
        (16, 16, 128),
        (16, 32, 64),
        (32, 32, 64),
        (32, 64, 32),
        (64, 64, 32),
        (64, 128, 16),
        (128, 128, 16),
        (128, 64, 32),
        (64, 64, 32),
        (64, 32, 64),
        (32, 32, 64),
        (32, 16, 128),
        (16, 16, 128),
    ];
    let layers: Vec<(usize, usize, usize)> = match std::env::args().nth(3) {
        Some(list) => list
            .split(';')
            .map(|t| {
                let v: Vec<usize> = t.split(',').filter_map(|a| a.trim().parse().ok()).collect();
                match v[..] {
                    [cin, cout, side] => (cin, cout, side),
                    _ => panic!("a layer is cin,cout,side: {t}"),
                }
            })
            .collect(),
        None => unet.to_vec(),
    };
    let mut total = [0.0; 4];
    println!("layer              fwd ms  GFLOP/s   dx ms  GFLOP/s   dw ms  GFLOP/s  im2col dw ms");
    for (cin, cout, side) in layers {
        let g = ConvGeom::new(
            batch,
            cin,
            cout,
            [1, side, side],
            [1, 3, 3],
            [1; 3],
            [0, 1, 1],
            [1; 3],
        )
        .expect("valid layer");
        let x: Vec<f32> = (0..batch * cin * side * side)
            .map(|i| (i % 97) as f32 * 0.01)
            .collect();
        let w: Vec<f32> = (0..cout * cin * 9)
            .map(|i| (i % 13) as f32 * 0.01)
            .collect();
        let b = vec![0.1f32; cout];
        let mut y = vec![0.0f32; batch * cout * side * side];
        let mut dx = vec![0.0f32; x.len()];
        let flops = 2.0 * (batch * cout * cin * 9 * side * side) as f64;
        let time = |f: &mut dyn FnMut()| {
            f();
            median(
                (0..n)
                    .map(|_| {
                        let t = Instant::now();
                        f();
                        t.elapsed().as_secs_f64() * 1e3
                    })
                    .collect(),
            )
        };
        let tf = time(&mut || forward(&g, &x, &w, &b, &mut y));
        let tb = time(&mut || input_grad(&g, &y, &w, &mut dx));
        let tw = time(&mut || drop(weight_grad(&g, &x, &y)));
        let ti = time(&mut || drop(weight_grad_im2col(&g, &x, &y)));
        for (s, t) in total.iter_mut().zip([tf, tb, tw, ti]) {
            *s += t;
        }
        println!(
            "{cin:>3}->{cout:<3} @{side:<4}    {tf:>7.2} {:>8.1} {tb:>7.2} {:>8.1} {tw:>7.2} {:>8.1} {ti:>13.2}",
            flops / tf / 1e6,
            flops / tb / 1e6,
            flops / tw / 1e6,
        );
    }
    let [f, b, w, i] = total;
    println!("total              {f:>7.2}          {b:>7.2}          {w:>7.2}          {i:>13.2}");
}
