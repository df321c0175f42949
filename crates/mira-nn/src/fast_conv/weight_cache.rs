//! The Winograd-transformed weights of the convolutions a thread ran last, kept for its next
//! pass with the same weights.
//!
//! An attack runs the same model for many steps, each a forward and an input-gradient pass per
//! layer, and every pass transformed its weights again (2 % of an S1 sweep after the transform
//! was vectorised, more on the deep 8² layers, whose weights outnumber their activations). The
//! cache keys on the weights' bits, the layout they are read in ([`Taps`]) and the channel
//! counts, of which the transform is a pure function: a hit returns what the transform would
//! compute, bit for bit. Weights that change every step (training) miss at the first differing
//! value and cost a copy of the weights.
//!
//! Bounded per thread: at most [`ENTRIES`] entries and [`BYTES`] bytes of weights and
//! transforms; the least recently used go first.

use std::cell::RefCell;
use std::sync::Arc;

use super::geom::ConvGeom;
use super::winograd::{Taps, transform_weights};

/// Most entries a thread keeps (a deep UNet has ~20 Winograd layers, each read two ways).
const ENTRIES: usize = 64;

/// Most bytes of weights and transforms a thread keeps.
const BYTES: usize = 64 << 20;

struct Entry {
    taps: Taps,
    cout: usize,
    cin: usize,
    w: Vec<f32>,
    u: Arc<Vec<f32>>,
}

impl Entry {
    fn bytes(&self) -> usize {
        (self.w.len() + self.u.len()) * std::mem::size_of::<f32>()
    }

    fn holds(&self, g: &ConvGeom, w: &[f32], taps: Taps) -> bool {
        self.taps == taps
            && (self.cout, self.cin) == (g.cout, g.cin)
            && self.w.len() == w.len()
            && same_bits(&self.w, w)
    }
}

/// Whether `a` and `b` (of equal lengths) hold the same bits: a run of 64 at a time, without
/// an early exit inside the run so that it can be vectorised (the cache's comparisons and
/// bookkeeping were 1.2–1.9 % of a b1 step's profile with an element-wise `all`, 1.0 % so).
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.chunks(64).zip(b.chunks(64)).all(|(a, b)| {
        a.iter()
            .zip(b)
            .fold(0u32, |acc, (x, y)| acc | (x.to_bits() ^ y.to_bits()))
            == 0
    })
}

thread_local! {
    /// This thread's entries, least recently used first.
    static CACHE: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// [`transform_weights`] of `w` for the convolution `g`, from this thread's cache when it holds
/// these weights.
pub(super) fn transformed(g: &ConvGeom, w: &[f32], taps: Taps) -> Arc<Vec<f32>> {
    let hit = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let i = c.iter().position(|e| e.holds(g, w, taps))?;
        let e = c.remove(i);
        let u = e.u.clone();
        c.push(e);
        Some(u)
    });
    if let Some(u) = hit {
        return u;
    }
    let u = Arc::new(transform_weights(g, w, taps));
    let entry = Entry {
        taps,
        cout: g.cout,
        cin: g.cin,
        w: w.to_vec(),
        u: u.clone(),
    };
    if entry.bytes() <= BYTES {
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            c.push(entry);
            let mut total: usize = c.iter().map(Entry::bytes).sum();
            while c.len() > ENTRIES || total > BYTES {
                total -= c.remove(0).bytes();
            }
        });
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_on_the_same_bits_layout_and_channels() {
        let g = ConvGeom::new(1, 3, 2, [1, 4, 4], [1, 3, 3], [1; 3], [0, 1, 1], [1; 3])
            .expect("valid geometry");
        let w: Vec<f32> = (0..2 * 3 * 9).map(|i| (i as f32 * 0.37).sin()).collect();
        let a = transformed(&g, &w, Taps::Direct);
        assert_eq!(*a, transform_weights(&g, &w, Taps::Direct));
        let b = transformed(&g, &w, Taps::Direct);
        assert!(Arc::ptr_eq(&a, &b), "the same weights hit");
        // Another layout of the same weights, and weights differing in one bit (a signed
        // zero), miss.
        let g2 = ConvGeom::new(1, 2, 3, [1, 4, 4], [1, 3, 3], [1; 3], [0, 1, 1], [1; 3])
            .expect("valid geometry");
        let f = transformed(&g2, &w, Taps::Flipped);
        assert_eq!(*f, transform_weights(&g2, &w, Taps::Flipped));
        let mut w2 = w.clone();
        w2[0] = -0.0;
        let mut w3 = w.clone();
        w3[0] = 0.0;
        let (c2, c3) = (
            transformed(&g, &w2, Taps::Direct),
            transformed(&g, &w3, Taps::Direct),
        );
        assert!(!Arc::ptr_eq(&c2, &c3));
        assert_eq!(*c3, transform_weights(&g, &w3, Taps::Direct));
    }
}
