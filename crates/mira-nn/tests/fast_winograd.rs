//! Winograd's F(2×2, 3×3) (`fast_conv::forward_winograd`) against a direct convolution in f64:
//! odd and even sizes (partial 2×2 blocks at the edges), paddings 0, 1 and 2, channel counts
//! at and above the threshold, batches of one (GEMM-parallel) and several (image-parallel),
//! a layer large enough to run in several chunks of tile rows, and batches of small images
//! that share chunks. The transform's rounding
//! grows with the channel count; 1e-5 relative to the output's scale holds for all of these
//! (at most 3.6e-7 measured), the contract for custom kernels being 1e-4. The weight
//! gradient by the same transform (`fast_conv::weight_grad_winograd`) against the direct f64
//! sum and the im2col path on the same cases. Also which geometries take the transform, and
//! that `forward` and `weight_grad` dispatch to it.

use mira_nn::fast_conv::{
    ConvGeom, WINOGRAD_MIN_CHANNELS, forward, forward_im2col, forward_winograd, weight_grad,
    weight_grad_im2col, weight_grad_winograd, winograd_applies,
};

mod common;
use common::{rel_err, values};

/// `(batch, cin, cout, h, w, pad)`
const CASES: &[(usize, usize, usize, usize, usize, usize)] = &[
    (2, 8, 8, 8, 8, 1),
    (3, 8, 11, 7, 9, 1),
    (1, 9, 8, 6, 5, 0),
    (2, 12, 8, 5, 4, 2),
    (1, 8, 8, 3, 3, 0),
    (1, 16, 24, 13, 1, 1),
    // 64 → 64 channels on 40²: the chunk budget splits its 20 tile rows into 4 chunks.
    (2, 64, 64, 40, 40, 1),
    // Images of few blocks share a chunk (16, 9 and 16 blocks each; in the forward pass
    // batch 5 leaves a smaller last group, in the weight gradient the third case does).
    (8, 16, 16, 8, 8, 1),
    (5, 8, 12, 6, 5, 1),
    (5, 8, 8, 8, 7, 1),
];

fn geom(&(b, ci, co, h, w, p): &(usize, usize, usize, usize, usize, usize)) -> ConvGeom {
    ConvGeom::new(b, ci, co, [1, h, w], [1, 3, 3], [1; 3], [0, p, p], [1; 3]).expect("valid")
}

/// Calls `f(output index, weight index, input value)` for every tap of the direct
/// convolution that lands inside the input (padding contributes nothing).
fn for_each_tap(g: &ConvGeom, x: &[f32], mut f: impl FnMut(usize, usize, f32)) {
    let ([_, ih, iw], [_, oh, ow], [_, ph, pw]) = (g.input, g.output, g.pad);
    for b in 0..g.batch {
        for co in 0..g.cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    let out = ((b * g.cout + co) * oh + oy) * ow + ox;
                    for ci in 0..g.cin {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (y, xx) = (oy + ky, ox + kx);
                                if y < ph || xx < pw || y - ph >= ih || xx - pw >= iw {
                                    continue;
                                }
                                let xv = x[((b * g.cin + ci) * ih + y - ph) * iw + xx - pw];
                                f(out, ((co * g.cin + ci) * 3 + ky) * 3 + kx, xv);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The direct convolution in f64, rounded to f32 at the end.
fn direct(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
    let len = g.out_len();
    let mut out: Vec<f64> = (0..g.batch * g.cout * len)
        .map(|i| f64::from(bias[(i / len) % g.cout]))
        .collect();
    for_each_tap(g, x, |o, k, xv| out[o] += f64::from(xv) * f64::from(w[k]));
    out.into_iter().map(|v| v as f32).collect()
}

#[test]
fn winograd_matches_a_direct_f64_convolution() {
    for (i, case) in CASES.iter().enumerate() {
        let g = geom(case);
        assert!(winograd_applies(&g), "case {i} should take the transform");
        let x = values(g.batch * g.cin * g.in_len(), 10 + i as u64);
        let w = values(g.cout * g.cin * 9, 20 + i as u64);
        let bias = values(g.cout, 30 + i as u64);
        let want = direct(&g, &x, &w, &bias);
        // NaN-filled, so an output the transform fails to write shows.
        let mut got = vec![f32::NAN; want.len()];
        forward_winograd(&g, &x, &w, &bias, &mut got);
        let err = rel_err(&got, &want);
        assert!(err < 1e-5, "case {i} {case:?}: relative error {err}");
        let mut im2col = vec![0.0f32; want.len()];
        forward_im2col(&g, &x, &w, &bias, &mut im2col);
        let err = rel_err(&got, &im2col);
        assert!(err < 1e-5, "case {i}: against im2col {err}");
        let mut dispatched = vec![f32::NAN; want.len()];
        forward(&g, &x, &w, &bias, &mut dispatched);
        if mira_nn::fast_conv::winograd_enabled() {
            assert_eq!(dispatched, got, "case {i}: forward runs the transform");
        }
    }
}

/// `(dw, db)` by the direct sum in f64 over the batch and every output, rounded at the end.
fn direct_weight_grad(g: &ConvGeom, x: &[f32], dout: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut dw = vec![0.0f64; g.cout * g.cin * 9];
    for_each_tap(g, x, |o, k, xv| dw[k] += f64::from(xv) * f64::from(dout[o]));
    let mut db = vec![0.0f64; g.cout];
    for (i, d) in dout.iter().enumerate() {
        db[(i / g.out_len()) % g.cout] += f64::from(*d);
    }
    let f = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect();
    (f(dw), f(db))
}

#[test]
fn winograd_weight_gradient_matches_a_direct_f64_sum() {
    for (i, case) in CASES.iter().enumerate() {
        let g = geom(case);
        let x = values(g.batch * g.cin * g.in_len(), 40 + i as u64);
        let dout = values(g.batch * g.cout * g.out_len(), 50 + i as u64);
        let (want_w, want_b) = direct_weight_grad(&g, &x, &dout);
        let (got_w, got_b) = weight_grad_winograd(&g, &x, &dout);
        let err = rel_err(&got_w, &want_w);
        assert!(err < 1e-5, "case {i} {case:?}: weight gradient error {err}");
        assert!(rel_err(&got_b, &want_b) < 1e-5, "case {i}: bias gradient");
        let (im_w, im_b) = weight_grad_im2col(&g, &x, &dout);
        let err = rel_err(&got_w, &im_w);
        assert!(err < 1e-5, "case {i}: against im2col {err}");
        assert_eq!(got_b, im_b, "case {i}: the bias gradient is the same sum");
        if mira_nn::fast_conv::winograd_enabled() && mira_nn::fast_conv::winograd_dw_enabled() {
            let (w, b) = weight_grad(&g, &x, &dout);
            assert_eq!(
                (w, b),
                (got_w, got_b),
                "case {i}: weight_grad runs the transform"
            );
        }
    }
}

#[test]
fn winograd_takes_only_3x3_stride_1_2d_convolutions_with_enough_channels() {
    let c = WINOGRAD_MIN_CHANNELS;
    // (cin, cout, input, kernel, stride, dilation, takes the transform)
    type Row = (
        usize,
        usize,
        [usize; 3],
        [usize; 3],
        [usize; 3],
        [usize; 3],
        bool,
    );
    let rows: [Row; 7] = [
        (c, c, [1, 9, 9], [1, 3, 3], [1; 3], [1; 3], true),
        (c - 1, c, [1, 9, 9], [1, 3, 3], [1; 3], [1; 3], false),
        (c, c - 1, [1, 9, 9], [1, 3, 3], [1; 3], [1; 3], false),
        (c, c, [1, 9, 9], [1, 3, 3], [1, 2, 2], [1; 3], false),
        (c, c, [1, 9, 9], [1, 3, 3], [1; 3], [1, 2, 1], false),
        (c, c, [1, 9, 9], [1, 3, 2], [1; 3], [1; 3], false),
        (c, c, [3, 9, 9], [3, 3, 3], [1; 3], [1; 3], false),
    ];
    for (i, (ci, co, input, kernel, stride, dilation, takes)) in rows.into_iter().enumerate() {
        let g =
            ConvGeom::new(1, ci, co, input, kernel, stride, [0, 1, 1], dilation).expect("valid");
        assert_eq!(winograd_applies(&g), takes, "row {i}: {g:?}");
    }
}
