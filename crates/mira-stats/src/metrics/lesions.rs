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
    let mut t_size = vec![0usize; nt + 1];
    let mut p_size = vec![0usize; np + 1];
    for &c in &tc {
        t_size[c as usize] += 1;
    }
    for &c in &pc {
        p_size[c as usize] += 1;
    }
    // Overlaps of truth component t with predicted component p, as (t, p) → voxels.
    let mut overlap: std::collections::BTreeMap<(u32, u32), usize> = Default::default();
    for (&t, &p) in tc.iter().zip(&pc) {
        if t > 0 && p > 0 {
            *overlap.entry((t, p)).or_default() += 1;
        }
    }
    Ok((1..=nt as u32)
        .map(|t| {
            let (mut inter, mut pred_voxels) = (0usize, 0usize);
            for (&(_, p), &v) in overlap.range((t, 0)..=(t, u32::MAX)) {
                inter += v;
                pred_voxels += p_size[p as usize];
            }
            let size = t_size[t as usize];
            (size, 2.0 * inter as f64 / (size + pred_voxels) as f64)
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
