//! One case of a user folder in memory: its channels as 3D arrays, normalised to [0, 1] with
//! the scale kept (so perturbations can be written back in the file's units), 2D slices cut
//! across an axis, centre crop / pad, and the inverse (a slice put back into its volume).

use std::path::Path;

use mira_io::{MedicalSource, Volume};

use crate::tasks::segmentation::folder::Normalise;
use crate::{EvalError, Result};

/// A channel of a case: `dims = [nx, ny, nz]`, `nx` fastest.
#[derive(Debug, Clone)]
pub struct Channel3 {
    /// Sizes, first fastest.
    pub dims: [usize; 3],
    /// Values.
    pub data: Vec<f32>,
}

fn bad(path: &Path, reason: impl Into<String>) -> EvalError {
    EvalError::invalid(path.display().to_string(), reason.into())
}

/// The channels a file holds: a 2D grey image or a 3D volume is one channel; a colour image
/// three (R, G, B); a 4D NIfTI one per index of its fourth axis.
///
/// # Errors
/// More than four axes, or a colour image that is not 3-channel.
pub fn channels_of(path: &Path, v: &Volume, source: &MedicalSource) -> Result<Vec<Channel3>> {
    let d = &v.dims;
    if let MedicalSource::Image2d(info) = source
        && info.channels == 3
    {
        let (w, h) = (d[1], d[2]);
        return Ok((0..3)
            .map(|c| Channel3 {
                dims: [w, h, 1],
                data: (0..w * h).map(|i| v.data[c + 3 * i]).collect(),
            })
            .collect());
    }
    let (dims, n): ([usize; 3], usize) = match d.as_slice() {
        [w, h] => ([*w, *h, 1], 1),
        [x, y, z] => ([*x, *y, *z], 1),
        [x, y, z, t] => ([*x, *y, *z], *t),
        [x, y, z, t, rest @ ..] if rest.iter().all(|&r| r == 1) => ([*x, *y, *z], *t),
        _ => return Err(bad(path, format!("cannot use an image of dims {d:?}"))),
    };
    let len = dims.iter().product::<usize>();
    Ok((0..n)
        .map(|c| Channel3 {
            dims,
            data: v.data[c * len..(c + 1) * len].to_vec(),
        })
        .collect())
}

/// The `q`-th percentile (0..=100) with linear interpolation between order statistics, as
/// `numpy.percentile`'s default.
pub fn percentile(values: &[f32], q: f32) -> f32 {
    let mut v: Vec<f32> = values.to_vec();
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    let pos = f64::from(q) / 100.0 * (n - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    let (_, a, rest) = v.select_nth_unstable_by(lo, f32::total_cmp);
    let a = *a;
    let b = if frac > 0.0 {
        rest.iter().copied().fold(f32::INFINITY, f32::min)
    } else {
        a
    };
    (f64::from(a) + frac * (f64::from(b) - f64::from(a))) as f32
}

/// The intensities that map to 0 and 1 for one channel of one case.
///
/// # Errors
/// `None` normalisation on values outside [0, 1].
pub fn scale_of(path: &Path, data: &[f32], n: &Normalise) -> Result<(f32, f32)> {
    let (lo, hi) = match *n {
        Normalise::MinMax => data
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            }),
        Normalise::Percentile { low, high } => (percentile(data, low), percentile(data, high)),
        Normalise::CtWindow { center, width } => (center - width / 2.0, center + width / 2.0),
        Normalise::None => {
            if let Some(v) = data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
                return Err(bad(
                    path,
                    format!("value {v} is outside [0, 1]; choose a normalisation"),
                ));
            }
            (0.0, 1.0)
        }
    };
    // A constant channel maps to 0 rather than dividing by zero.
    Ok((lo, if hi > lo { hi } else { lo + 1.0 }))
}

/// `(v - lo) / (hi - lo)` clipped to [0, 1].
pub fn normalised(data: &[f32], (lo, hi): (f32, f32)) -> Vec<f32> {
    data.iter()
        .map(|v| ((v - lo) / (hi - lo)).clamp(0.0, 1.0))
        .collect()
}

/// Size of slice `k` across `axis` as `(height, width)`: axis 2 → (ny, nx), 1 → (nz, nx),
/// 0 → (nz, ny).
pub fn slice_shape(dims: [usize; 3], axis: usize) -> (usize, usize) {
    match axis {
        0 => (dims[2], dims[1]),
        1 => (dims[2], dims[0]),
        _ => (dims[1], dims[0]),
    }
}

/// Number of slices across `axis`.
pub fn slice_count(dims: [usize; 3], axis: usize) -> usize {
    dims[axis.min(2)]
}

fn voxel(dims: [usize; 3], axis: usize, k: usize, y: usize, x: usize) -> usize {
    let (i, j, z) = match axis {
        0 => (k, x, y),
        1 => (x, k, y),
        _ => (x, y, k),
    };
    i + dims[0] * (j + dims[1] * z)
}

/// Slice `k` across `axis`, row-major `height × width`.
pub fn cut<T: Copy>(data: &[T], dims: [usize; 3], axis: usize, k: usize) -> Vec<T> {
    let (h, w) = slice_shape(dims, axis);
    let mut out = Vec::with_capacity(h * w);
    for y in 0..h {
        for x in 0..w {
            out.push(data[voxel(dims, axis, k, y, x)]);
        }
    }
    out
}

/// Writes a `height × width` slice back as slice `k` across `axis` (the inverse of [`cut`]).
pub fn put<T: Copy>(data: &mut [T], dims: [usize; 3], axis: usize, k: usize, slice: &[T]) {
    let (h, w) = slice_shape(dims, axis);
    for y in 0..h {
        for x in 0..w {
            data[voxel(dims, axis, k, y, x)] = slice[y * w + x];
        }
    }
}

/// Slice `k` across `axis` of a case (its channels and label map), centre-cropped or
/// zero-padded to `target` (`height`, `width`).
pub fn slice_item(
    channels: &[Channel3],
    labels: &[u8],
    axis: usize,
    k: usize,
    target: (usize, usize),
) -> mira_data::SegSlice {
    let dims = channels[0].dims;
    let hw = slice_shape(dims, axis);
    let mut image = Vec::with_capacity(channels.len() * target.0 * target.1);
    for c in channels {
        image.extend(fit(&cut(&c.data, dims, axis, k), hw, target, 0.0));
    }
    mira_data::SegSlice {
        image,
        labels: fit(&cut(labels, dims, axis, k), hw, target, 0u8),
        channels: channels.len(),
        height: target.0,
        width: target.1,
    }
}

/// Centre crop / pad of a `(h, w)` slice to `(th, tw)`, filling with `fill`. Pixel `(y, x)`
/// of the result is `(y + oy, x + ox)` of the source with `oy = (h - th) / 2` (signed,
/// rounded towards zero) and likewise `ox`.
pub fn fit<T: Copy>(
    src: &[T],
    (h, w): (usize, usize),
    (th, tw): (usize, usize),
    fill: T,
) -> Vec<T> {
    let mut out = vec![fill; th * tw];
    for (f, s) in fitted_pairs((h, w), (th, tw)) {
        out[f] = src[s];
    }
    out
}

/// The inverse of [`fit`]: a `(th, tw)` slice put back into a `(h, w)` one; source pixels that
/// were cropped away keep their value in `into`.
pub fn unfit<T: Copy>(
    fitted: &[T],
    (th, tw): (usize, usize),
    into: &mut [T],
    (h, w): (usize, usize),
) {
    for (f, s) in fitted_pairs((h, w), (th, tw)) {
        into[s] = fitted[f];
    }
}

/// The pixel pairs `(index in the fitted (th, tw) slice, index in the (h, w) source)` that
/// [`fit`] copies, row by row: the centred overlap of the two.
fn fitted_pairs(
    (h, w): (usize, usize),
    (th, tw): (usize, usize),
) -> impl Iterator<Item = (usize, usize)> {
    let (oy, ox) = offsets((h, w), (th, tw));
    (0..th).flat_map(move |y| {
        let sy = y as isize + oy;
        (0..tw).filter_map(move |x| {
            let sx = x as isize + ox;
            let inside = sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize;
            inside.then(|| (y * tw + x, sy as usize * w + sx as usize))
        })
    })
}

fn offsets((h, w): (usize, usize), (th, tw): (usize, usize)) -> (isize, isize) {
    (
        (h as isize - th as isize) / 2,
        (w as isize - tw as isize) / 2,
    )
}
