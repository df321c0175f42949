//! Linear maps along one spatial axis of a batch of volumes `[B, C, D, H, W]`: the discrete
//! Fourier transform (as products with cosine and sine matrices, as the issue allows for these
//! sizes: exact, and differentiable through burn's autodiff) and any `[N, N]` matrix (blur,
//! resampling). A 2D image is a volume of depth 1; an axis of size 1 is left alone.

use burn::prelude::*;

/// Spatial axes of a `[B, C, D, H, W]` tensor.
pub const SPATIAL: [usize; 3] = [2, 3, 4];

/// `x · M` along `axis` (`M` is `[N, N]`, `N` the axis size): `y[.., j, ..] = Σ_i x[.., i, ..]
/// M[i, j]`.
pub fn along(x: Tensor<5>, axis: usize, m: Tensor<2>) -> Tensor<5> {
    let moved = x.swap_dims(axis, 4);
    let dims = moved.dims();
    let n = dims[4];
    let rows = dims[..4].iter().product::<usize>();
    let y = moved.reshape([rows, n]).matmul(m);
    y.reshape(dims).swap_dims(axis, 4)
}

/// The `[N, N]` matrix of `f(i, j)` on `device`.
pub fn matrix(n: usize, f: impl Fn(usize, usize) -> f64, device: &Device) -> Tensor<2> {
    let v: Vec<f32> = (0..n * n).map(|k| f(k / n, k % n) as f32).collect();
    Tensor::from_data(TensorData::new(v, [n, n]), device)
}

/// A complex tensor as its real and imaginary parts.
#[derive(Debug, Clone)]
pub struct Complex {
    /// Real part.
    pub re: Tensor<5>,
    /// Imaginary part.
    pub im: Tensor<5>,
}

impl Complex {
    /// Elementwise product with `other` (broadcast as burn broadcasts).
    pub fn times(self, other: &Complex) -> Complex {
        Complex {
            re: self.re.clone() * other.re.clone() - self.im.clone() * other.im.clone(),
            im: self.re * other.im.clone() + self.im * other.re.clone(),
        }
    }

    /// The sum of two spectra.
    pub fn plus(self, other: Complex) -> Complex {
        Complex {
            re: self.re + other.re,
            im: self.im + other.im,
        }
    }

    /// Each part times the real `w`.
    pub fn scale(self, w: Tensor<5>) -> Complex {
        Complex {
            re: self.re * w.clone(),
            im: self.im * w,
        }
    }
}

/// The cosine and sine matrices `cos(2π ij / N)`, `sin(2π ij / N)` (angles reduced mod N in
/// integers, so large N loses no precision).
fn cos_sin(n: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let angle = |i: usize, j: usize| 2.0 * std::f64::consts::PI * ((i * j) % n) as f64 / n as f64;
    (
        matrix(n, |i, j| angle(i, j).cos(), device),
        matrix(n, |i, j| angle(i, j).sin(), device),
    )
}

/// The DFT `X[k] = Σ_n x[n] e^{−2πi kn/N}` (`inverse`: `x[n] = (1/N) Σ_k X[k] e^{+2πi kn/N}`)
/// along `axis`.
fn dft_axis(z: Complex, axis: usize, inverse: bool) -> Complex {
    let n = z.re.dims()[axis];
    if n == 1 {
        return z;
    }
    let (c, s) = cos_sin(n, &z.re.device());
    let (rc, rs) = (
        along(z.re.clone(), axis, c.clone()),
        along(z.re, axis, s.clone()),
    );
    let (ic, is) = (along(z.im.clone(), axis, c), along(z.im, axis, s));
    if inverse {
        let k = 1.0 / n as f32;
        Complex {
            re: (rc - is) * k,
            im: (ic + rs) * k,
        }
    } else {
        Complex {
            re: rc + is,
            im: ic - rs,
        }
    }
}

/// The DFT over every spatial axis of a real `[B, C, D, H, W]` tensor (unshifted: frequency 0
/// at index 0, frequency `f < 0` at index `N + f`).
pub fn fft(x: Tensor<5>) -> Complex {
    let z = Complex {
        im: x.zeros_like(),
        re: x,
    };
    SPATIAL.iter().fold(z, |z, &a| dft_axis(z, a, false))
}

/// The inverse of [`fft`], its real part (the imaginary part of a real image's round trip is
/// rounding; of an edited spectrum, it is dropped as TorchIO and scanners' magnitude images do
/// not: here the real part is kept, as TorchIO's transforms do).
pub fn ifft_real(z: Complex) -> Tensor<5> {
    SPATIAL.iter().fold(z, |z, &a| dft_axis(z, a, true)).re
}

/// The signed frequency of index `i` on an axis of `n` (`0, 1, …, ⌈n/2⌉−1, −⌊n/2⌋, …, −1`).
pub fn frequency(i: usize, n: usize) -> i64 {
    if i < n.div_ceil(2) {
        i as i64
    } else {
        i as i64 - n as i64
    }
}

/// The index of signed frequency `f` on an axis of `n`.
pub fn index_of(f: i64, n: usize) -> usize {
    f.rem_euclid(n as i64) as usize
}
