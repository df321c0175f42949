//! New buffers written once, plane by plane, without being zeroed first; and zeroed ones
//! written in parallel.
//!
//! `vec![0.0; n]` followed by a pass that overwrites every value writes the buffer twice; for
//! the training-mode BatchNorm's output and input gradient (8 MB each at the UNet's first
//! level) the zeroing was about 4 % of the b3 training step (BENCHMARKS.md). Here the pass
//! writes into the vector's spare capacity instead. The values come from an iterator per
//! plane, and this module, not its callers, writes every slot — the iterator's values, then
//! zeros for any slot it did not fill — so the length set at the end never exposes an
//! unwritten value, whatever the caller's iterator does.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// `planes · s` values, plane `p` (`s` consecutive values) taken from `plane(p)` — in
/// parallel over planes; slots an iterator leaves unfilled hold `0.0`, values beyond `s` are
/// ignored.
pub(super) fn by_planes<I, F>(planes: usize, s: usize, plane: F) -> Vec<f32>
where
    F: Fn(usize) -> I + Sync,
    I: Iterator<Item = f32>,
{
    written(planes * s, s, plane)
}

/// Floats per parallel piece of [`zeros`].
const ZERO_CHUNK: usize = 1 << 16;

/// `len` zeros, written in parallel pieces: `vec![0.0; len]` on memory the allocator reuses
/// is one `memset` on the calling thread (with the serial parts of a 3D attack step, about
/// 9 % of the b2 regressor's profile, BENCHMARKS.md).
pub(super) fn zeros(len: usize) -> Vec<f32> {
    written(len, ZERO_CHUNK, |_| std::iter::empty())
}

/// `len` values in pieces of `s` (the last may be shorter), piece `p` from `piece(p)`, in
/// parallel; slots an iterator leaves unfilled hold `0.0`.
fn written<I, F>(len: usize, s: usize, piece: F) -> Vec<f32>
where
    F: Fn(usize) -> I + Sync,
    I: Iterator<Item = f32>,
{
    let mut v: Vec<f32> = Vec::with_capacity(len);
    if len == 0 {
        return v;
    }
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(s)
        .enumerate()
        .for_each(|(p, out)| write_all(out, piece(p)));
    // SAFETY: `spare_capacity_mut` holds at least `len` slots (capacity `len`, length 0), and
    // `write_all` wrote every one of the first `len` (each chunk entirely), so they are
    // initialised `f32`s.
    #[allow(unsafe_code)]
    unsafe {
        v.set_len(len)
    };
    v
}

/// Every slot of `out`: the values of `it` in order, then zeros.
#[inline(always)]
fn write_all(out: &mut [MaybeUninit<f32>], it: impl Iterator<Item = f32>) {
    let mut filled = 0;
    for (o, y) in out.iter_mut().zip(it) {
        o.write(y);
        filled += 1;
    }
    for o in &mut out[filled..] {
        o.write(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_is_written_whatever_the_iterator_yields() {
        // Exact, short and long iterators; one plane, several, empty.
        for (planes, s) in [(1, 1), (3, 5), (7, 64), (0, 4), (4, 0)] {
            let exact = by_planes(planes, s, |p| (0..s).map(move |j| (p * s + j) as f32));
            let want: Vec<f32> = (0..planes * s).map(|i| i as f32).collect();
            assert_eq!(exact, want, "{planes} × {s}");
            let short = by_planes(planes, s, |p| (0..s / 2).map(move |_| p as f32 + 1.0));
            assert_eq!(short.len(), planes * s);
            for (i, v) in short.iter().enumerate() {
                let want = if i % s.max(1) < s / 2 {
                    (i / s + 1) as f32
                } else {
                    0.0
                };
                assert_eq!(*v, want, "short, {planes} × {s}, slot {i}");
            }
            let long = by_planes(planes, s, |_| std::iter::repeat(2.5));
            assert!(long.iter().all(|&v| v == 2.5) && long.len() == planes * s);
        }
        // Zeros over several pieces, the last one short.
        for len in [0, 1, ZERO_CHUNK, 3 * ZERO_CHUNK + 5] {
            let z = zeros(len);
            assert!(
                z.len() == len && z.iter().all(|v| v.to_bits() == 0),
                "{len}"
            );
        }
    }
}
