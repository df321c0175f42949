//! Winograd's F(2×2, 3×3) (`fast_conv::forward_winograd`) against a direct convolution in f64:
//! odd and even sizes (partial 2×2 blocks at the edges), paddings 0, 1 and 2, channel counts
//! at and above the threshold, batches of one (GEMM-parallel) and several (image-parallel),
//! and a layer large enough to run in several chunks of tile rows. The transform's rounding
//! grows with the channel count; 1e-5 relative to the output's scale holds for all of these
//! (at most 3.6e-7 measured), the contract for custom kernels being 1e-4. Also
//! which geometries take the transform, and that `forward` dispatches to it.

use mira_nn::fast_conv::{
    ConvGeom, WINOGRAD_MIN_CHANNELS, forward, forward_im2col, forward_winograd, winograd_applies,
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
];

fn geom(&(b, ci, co, h, w, p): &(usize, usize, usize, usize, usize, usize)) -> ConvGeom {
    ConvGeom::new(b, ci, co, [1, h, w], [1, 3, 3], [1; 3], [0, p, p], [1; 3]).expect("valid")
}

/// The direct convolution in f64, rounded to f32 at the end.
fn direct(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
    let ([_, ih, iw], [_, oh, ow], [_, ph, pw]) = (g.input, g.output, g.pad);
    let mut out = vec![0.0f32; g.batch * g.cout * oh * ow];
    for b in 0..g.batch {
        for co in 0..g.cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = f64::from(bias[co]);
                    for ci in 0..g.cin {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (y, xx) = (oy + ky, ox + kx);
                                if y < ph || xx < pw || y - ph >= ih || xx - pw >= iw {
                                    continue;
                                }
                                let xv = x[((b * g.cin + ci) * ih + y - ph) * iw + xx - pw];
                                let wv = w[((co * g.cin + ci) * 3 + ky) * 3 + kx];
                                s += f64::from(xv) * f64::from(wv);
                            }
                        }
                    }
                    out[((b * g.cout + co) * oh + oy) * ow + ox] = s as f32;
                }
            }
        }
    }
    out
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
