//! Hausdorff distance between a predicted and a true binary mask, percentile form (HD95), in
//! the units of the voxel spacing (mm), with MONAI's `compute_hausdorff_distance` semantics
//! (monai/metrics/hausdorff_distance.py and utils.py, MONAI 1.6.1, read from its code):
//!
//! - edges: the mask minus its binary erosion with the 6-neighbour cross (scipy's default
//!   structure; outside the volume counts as background), as `get_mask_edges` does;
//! - distances: from every predicted edge voxel to the nearest true edge voxel and back
//!   (symmetric), Euclidean with the spacing (exact: a separable squared-distance transform,
//!   the same values as MONAI's KD-tree over edge coordinates);
//! - each direction's percentile with linear interpolation (`torch.quantile`), the larger of
//!   the two; `percentile = None`: the maximum (the Hausdorff distance itself);
//! - an empty mask on either side gives NaN (MONAI returns NaN there: the direction from the
//!   empty side has no distances, and the maximum with NaN is NaN).

/// Voxels of a C-order volume of `dims` (`[D, H, W]`) that lie on the mask's surface.
fn edges(mask: &[bool], dims: [usize; 3]) -> Vec<bool> {
    let [d, h, w] = dims;
    let at = |z: usize, y: usize, x: usize| mask[(z * h + y) * w + x];
    let mut out = vec![false; mask.len()];
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                if !at(z, y, x) {
                    continue;
                }
                let inner = z > 0
                    && z + 1 < d
                    && y > 0
                    && y + 1 < h
                    && x > 0
                    && x + 1 < w
                    && at(z - 1, y, x)
                    && at(z + 1, y, x)
                    && at(z, y - 1, x)
                    && at(z, y + 1, x)
                    && at(z, y, x - 1)
                    && at(z, y, x + 1);
                out[(z * h + y) * w + x] = !inner;
            }
        }
    }
    out
}

/// The 1-D squared-distance transform of `f` with sample spacing² `w` (Felzenszwalb and
/// Huttenlocher's lower envelope of parabolas), in place.
fn edt_1d(f: &mut [f64], w: f64) {
    let n = f.len();
    if n == 0 {
        return;
    }
    let mut v = vec![0usize; n];
    let mut z = vec![0f64; n + 1];
    let mut k = 0usize;
    let src: Vec<f64> = f.to_vec();
    let first = src.iter().position(|x| x.is_finite());
    let Some(first) = first else { return };
    v[0] = first;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    for q in first + 1..n {
        if !src[q].is_finite() {
            continue;
        }
        loop {
            let p = v[k];
            let s = ((src[q] + w * (q * q) as f64) - (src[p] + w * (p * p) as f64))
                / (2.0 * w * (q as f64 - p as f64));
            if s <= z[k] && k > 0 {
                k -= 1;
                continue;
            }
            if s <= z[k] {
                // k == 0 and the new parabola dominates from -inf
                v[0] = q;
                z[1] = f64::INFINITY;
                break;
            }
            k += 1;
            v[k] = q;
            z[k] = s;
            z[k + 1] = f64::INFINITY;
            break;
        }
    }
    let mut j = 0;
    for (q, out) in f.iter_mut().enumerate() {
        while z[j + 1] < q as f64 {
            j += 1;
        }
        let p = v[j];
        let dq = q as f64 - p as f64;
        *out = w * dq * dq + src[p];
    }
}

/// Squared Euclidean distance (with `spacing`) from every voxel to the nearest `feature`.
fn squared_distance_to(feature: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    let mut g: Vec<f64> = feature
        .iter()
        .map(|&f| if f { 0.0 } else { f64::INFINITY })
        .collect();
    let [d, h, w] = dims;
    let strides = [h * w, w, 1];
    for axis in 0..3 {
        let n = dims[axis];
        let weight = spacing[axis] * spacing[axis];
        let mut line = vec![0f64; n];
        let others: Vec<usize> = (0..d * h * w)
            .filter(|&i| (i / strides[axis]) % n == 0)
            .collect();
        for base in others {
            for (t, slot) in line.iter_mut().enumerate() {
                *slot = g[base + t * strides[axis]];
            }
            edt_1d(&mut line, weight);
            for (t, v) in line.iter().enumerate() {
                g[base + t * strides[axis]] = *v;
            }
        }
    }
    g
}

/// Linear-interpolation percentile (`torch.quantile`) of `v`, `q` in [0, 100].
fn percentile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    match v.get(lo + 1) {
        Some(hi) if frac > 0.0 => v[lo] + frac * (hi - v[lo]),
        _ => v[lo],
    }
}

/// The symmetric percentile Hausdorff distance between masks `pred` and `truth` of a C-order
/// volume `dims` (`[D, H, W]`; a 2D image is `[1, H, W]`) with voxel `spacing` in the same
/// order; `percentile = None` for the maximum. NaN when either mask is empty (module docs).
///
/// # Panics
/// Never: masks of another length than `dims` give NaN.
pub fn hausdorff_distance(
    pred: &[bool],
    truth: &[bool],
    dims: [usize; 3],
    spacing: [f64; 3],
    percentile_q: Option<f64>,
) -> f64 {
    let n: usize = dims.iter().product();
    if pred.len() != n || truth.len() != n || !pred.iter().any(|&b| b) || !truth.iter().any(|&b| b)
    {
        return f64::NAN;
    }
    let (ep, et) = (edges(pred, dims), edges(truth, dims));
    let to_truth = squared_distance_to(&et, dims, spacing);
    let to_pred = squared_distance_to(&ep, dims, spacing);
    // Distances in float32, as MONAI returns them.
    let dist = |edge: &[bool], field: &[f64]| -> Vec<f64> {
        edge.iter()
            .zip(field)
            .filter(|(e, _)| **e)
            .map(|(_, d2)| f64::from(d2.sqrt() as f32))
            .collect()
    };
    let (a, b) = (dist(&ep, &to_truth), dist(&et, &to_pred));
    let pick = |v: Vec<f64>| match percentile_q {
        Some(q) => percentile(v, q.clamp(0.0, 100.0)),
        None => v.into_iter().fold(0.0, f64::max),
    };
    pick(a).max(pick(b))
}

#[cfg(test)]
mod tests {
    use super::{edt_1d, hausdorff_distance};

    #[test]
    fn the_1d_transform_is_exact() {
        let inf = f64::INFINITY;
        let mut f = vec![inf, 0.0, inf, inf, inf, 0.0, inf];
        edt_1d(&mut f, 4.0);
        assert_eq!(f, vec![4.0, 0.0, 4.0, 16.0, 4.0, 0.0, 4.0]);
    }

    #[test]
    fn two_points_are_their_distance_apart_and_empty_is_nan() {
        let dims = [1, 1, 10];
        let mut p = vec![false; 10];
        let mut t = vec![false; 10];
        p[2] = true;
        t[7] = true;
        assert_eq!(hausdorff_distance(&p, &t, dims, [1.0, 1.0, 0.5], None), 2.5);
        assert!(hausdorff_distance(&p, &[false; 10], dims, [1.0; 3], Some(95.0)).is_nan());
    }
}
