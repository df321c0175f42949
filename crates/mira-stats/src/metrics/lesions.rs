//! Per-structure damage: connected components of a label map and the Dice of each component of
//! the truth, so that "small lesions break first" can be measured.
//!
//! Components use face connectivity (4 neighbours in 2D, 6 in 3D), `scipy.ndimage.label`'s
//! default. A truth component's Dice follows the BraTS 2023 lesion-wise rule without its
//! dilation: the component against the union of the predicted components of the same label that
//! overlap it (0 when none does, a missed lesion). Pinned against SciPy in
//! `tests/lesions.rs` (fixture made by `scripts/lesion_fixture.py`).

use crate::{Result, StatsError};

/// Connected components of `mask` (C order, `dims` = `[H, W]` or `[D, H, W]`): a component
/// index per element (0 outside the mask, 1.. inside, numbered in order of first element) and
/// the number of components.
///
/// # Errors
/// A mask whose length is not the product of `dims`, or `dims` of other than 2 or 3 axes.
pub fn connected_components(mask: &[bool], dims: &[usize]) -> Result<(Vec<u32>, usize)> {
    if !matches!(dims.len(), 2 | 3) {
        return Err(StatsError::Empty("components need 2 or 3 axes"));
    }
    let n: usize = dims.iter().product();
    if n != mask.len() {
        return Err(StatsError::LengthMismatch {
            left: mask.len(),
            right: n,
        });
    }
    let mut strides = vec![1usize; dims.len()];
    for a in (0..dims.len() - 1).rev() {
        strides[a] = strides[a + 1] * dims[a + 1];
    }
    let mut labels = vec![0u32; n];
    let mut count = 0u32;
    let mut stack = Vec::new();
    for start in 0..n {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        count += 1;
        labels[start] = count;
        stack.push(start);
        while let Some(i) = stack.pop() {
            for (a, &s) in strides.iter().enumerate() {
                let coord = (i / s) % dims[a];
                let neighbours = [
                    (coord > 0).then(|| i - s),
                    (coord + 1 < dims[a]).then(|| i + s),
                ];
                for j in neighbours.into_iter().flatten() {
                    if mask[j] && labels[j] == 0 {
                        labels[j] = count;
                        stack.push(j);
                    }
                }
            }
        }
    }
    Ok((labels, count as usize))
}

/// Per connected component of `truth == label`, in order of first element: its elements and
/// the elements of the predicted components of `label` that overlap it.
fn matches(
    pred: &[u8],
    truth: &[u8],
    dims: &[usize],
    label: u8,
) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    if pred.len() != truth.len() {
        return Err(StatsError::LengthMismatch {
            left: pred.len(),
            right: truth.len(),
        });
    }
    let t_mask: Vec<bool> = truth.iter().map(|&v| v == label).collect();
    let p_mask: Vec<bool> = pred.iter().map(|&v| v == label).collect();
    let (tc, nt) = connected_components(&t_mask, dims)?;
    let (pc, np) = connected_components(&p_mask, dims)?;
    let mut t_elems = vec![Vec::new(); nt + 1];
    let mut p_elems = vec![Vec::new(); np + 1];
    let mut hits = vec![std::collections::BTreeSet::new(); nt + 1];
    for (i, (&t, &p)) in tc.iter().zip(&pc).enumerate() {
        t_elems[t as usize].push(i);
        p_elems[p as usize].push(i);
        if t > 0 && p > 0 {
            hits[t as usize].insert(p as usize);
        }
    }
    Ok((1..=nt)
        .map(|t| {
            let matched = hits[t]
                .iter()
                .flat_map(|&p| p_elems[p].iter().copied())
                .collect();
            (std::mem::take(&mut t_elems[t]), matched)
        })
        .collect())
}

/// Per connected component of `truth == label`, in order of first element: its size in
/// elements and its lesion-wise Dice against `pred` (see the module).
///
/// # Errors
/// Lengths that differ or do not match `dims`.
pub fn lesion_dice(
    pred: &[u8],
    truth: &[u8],
    dims: &[usize],
    label: u8,
) -> Result<Vec<(usize, f64)>> {
    Ok(matches(pred, truth, dims, label)?
        .into_iter()
        .map(|(t, p)| {
            // The matched components cover exactly the component's elements predicted `label`.
            let inter = t.iter().filter(|&&i| pred[i] == label).count();
            (t.len(), 2.0 * inter as f64 / (t.len() + p.len()) as f64)
        })
        .collect())
}

/// Per connected component of `truth == label` of a volume `dims` (`[D, H, W]`) with voxel
/// `spacing`: the 95th-percentile Hausdorff distance (mm) between the component and the
/// predicted components that overlap it (`None` for a missed component).
///
/// # Errors
/// Lengths that differ or do not match `dims`.
pub fn lesion_hd95(
    pred: &[u8],
    truth: &[u8],
    dims: [usize; 3],
    spacing: [f64; 3],
    label: u8,
) -> Result<Vec<Option<f64>>> {
    let n = pred.len();
    Ok(matches(pred, truth, &dims, label)?
        .into_iter()
        .map(|(t, p)| {
            let mask = |e: &[usize]| {
                let mut m = vec![false; n];
                e.iter().for_each(|&i| m[i] = true);
                m
            };
            let d = crate::hausdorff_distance(&mask(&p), &mask(&t), dims, spacing, Some(95.0));
            d.is_finite().then_some(d)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_blobs_one_hit_one_missed() {
        // 4×6: a 2×2 lesion on the left (hit by a 2×3 prediction), a single pixel on the
        // right (missed); diagonal pixels are separate components.
        #[rustfmt::skip]
        let truth = [
            1, 1, 0, 0, 0, 0,
            1, 1, 0, 0, 0, 1,
            0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 1, 0,
        ];
        #[rustfmt::skip]
        let pred = [
            1, 1, 1, 0, 0, 0,
            1, 1, 1, 0, 0, 0,
            0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 1,
        ];
        let d = lesion_dice(&pred, &truth, &[4, 6], 1).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0], (4, 2.0 * 4.0 / 10.0));
        assert_eq!((d[1], d[2]), ((1, 0.0), (1, 0.0)));
        let (_, n) = connected_components(&truth.map(|v| v == 1), &[4, 6]).unwrap();
        assert_eq!(n, 3);
    }
}
