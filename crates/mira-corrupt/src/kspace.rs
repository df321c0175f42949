//! The k-space artefacts of MR: ghosting, spike, Gibbs ringing (truncation) and rigid motion
//! (translations), each an edit of the spectrum of [`crate::axis::fft`] followed by the real
//! part of the inverse, as TorchIO's `Ghosting`, `Spike` and `Motion` do.

use burn::prelude::*;

use crate::axis::{Complex, SPATIAL, fft, frequency, ifft_real};

/// A `[1, 1, D, H, W]`-broadcastable profile along `axis` with values `v` (length = that axis).
fn profile(v: Vec<f32>, axis: usize, device: &Device) -> Tensor<5> {
    let mut shape = [1usize; 5];
    shape[axis] = v.len();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// Ghosting (TorchIO's `Ghosting`): along `axis`, every `num_ghosts`-th plane of the centred
/// spectrum is scaled by `1 − intensity`, except the centre plane (frequency 0), which is
/// restored; the image then shows `num_ghosts` faint copies shifted along that axis.
/// `intensity = 0` or `num_ghosts = 0` is the identity.
pub fn ghosting(x: Tensor<5>, axis: usize, num_ghosts: usize, intensity: f32) -> Tensor<5> {
    let n = x.dims()[axis];
    if num_ghosts == 0 || intensity == 0.0 || n == 1 {
        return x;
    }
    let device = x.device();
    // Planes s = 0, k, 2k, ... of the centred spectrum: frequency s − n/2.
    let w: Vec<f32> = (0..n)
        .map(|i| {
            let s = (frequency(i, n) + (n / 2) as i64) as usize;
            if s.is_multiple_of(num_ghosts) && frequency(i, n) != 0 {
                1.0 - intensity
            } else {
                1.0
            }
        })
        .collect();
    ifft_real(fft(x).scale(profile(w, axis, &device)))
}

/// A spike (TorchIO's `Spike`): `intensity` times the spectrum's largest real value (the DC
/// term of a non-negative image, its sum) added at the signed frequency `at` (one per spatial
/// axis); the image gains a plane wave of that frequency (herringbone stripes). Computed in the
/// image domain: the real part of the inverse of one spectral line is a cosine.
pub fn spike(x: Tensor<5>, at: [i64; 3], intensity: f32) -> Tensor<5> {
    if intensity == 0.0 {
        return x;
    }
    let dims = x.dims();
    let device = x.device();
    let [b, c] = [dims[0], dims[1]];
    let n: usize = SPATIAL.iter().map(|&a| dims[a]).product();
    // The largest real value of the spectrum per (batch, channel): the sum over voxels of a
    // non-negative image (its DC term), as TorchIO takes `spectrum.max()`.
    let dc = x
        .clone()
        .reshape([b, c, n])
        .sum_dim(2)
        .reshape([b, c, 1, 1, 1]);
    let mut phase: Tensor<5> = Tensor::zeros([1, 1, dims[2], dims[3], dims[4]], &device);
    for (k, &a) in SPATIAL.iter().enumerate() {
        let len = dims[a];
        let f = at[k].rem_euclid(len as i64) as f64;
        let v = (0..len)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / len as f64) as f32)
            .collect();
        phase = phase + profile(v, a, &device);
    }
    x + dc * phase.cos() * (intensity / n as f32)
}

/// Gibbs ringing: the spectrum truncated to the central `keep` share of each spatial axis
/// (frequencies with |f| ≤ keep · N / 2), as a scanner that samples less of k-space; `keep = 1`
/// is the identity.
pub fn gibbs(x: Tensor<5>, keep: f32) -> Tensor<5> {
    if keep >= 1.0 {
        return x;
    }
    let dims = x.dims();
    let device = x.device();
    let mut z = fft(x);
    for &a in &SPATIAL {
        let n = dims[a];
        if n == 1 {
            continue;
        }
        let limit = keep as f64 * n as f64 / 2.0;
        let w = (0..n)
            .map(|i| f32::from(u8::from((frequency(i, n).abs() as f64) <= limit)))
            .collect();
        z = z.scale(profile(w, a, &device));
    }
    ifft_real(z)
}

/// Rigid motion (TorchIO's `Motion`): k-space is acquired along the last axis in
/// `shifts.len()` consecutive segments of the centred spectrum, segment `j` while the object
/// stood rotated by `rotations[j]` (degrees about the D, H and W axes, `rigid::rotate`; none
/// given: no rotation) and then shifted by `shifts[j]` voxels (one per spatial axis;
/// fractional shifts allowed, by the Fourier shift theorem). All-zero motion is the identity;
/// one segment is a plain rigid move.
pub fn motion(x: Tensor<5>, shifts: &[[f32; 3]], rotations: &[[f32; 3]]) -> Tensor<5> {
    let dims = x.dims();
    let device = x.device();
    let w = dims[4];
    if shifts.is_empty() {
        return x;
    }
    let segments = shifts.len();
    let turned = rotations.iter().any(|r| r.iter().any(|a| *a != 0.0));
    let z = if turned {
        // Each segment's lines from the spectrum of its rotated copy.
        let mut z: Option<Complex> = None;
        for j in 0..segments {
            let copy =
                crate::rigid::rotate(x.clone(), rotations.get(j).copied().unwrap_or_default());
            let mask: Vec<f32> = (0..w)
                .map(|col| {
                    let s = (frequency(col, w) + (w / 2) as i64) as usize;
                    f32::from(u8::from((s * segments / w).min(segments - 1) == j))
                })
                .collect();
            let mask = Tensor::<5>::from_data(TensorData::new(mask, [1, 1, 1, 1, w]), &device);
            let part = fft(copy).scale(mask);
            z = Some(match z {
                Some(acc) => acc.plus(part),
                None => part,
            });
        }
        z.expect("at least one segment")
    } else {
        fft(x)
    };
    // Per voxel of k-space, the phase −2π Σ_a f_a t_a / N_a of its segment's shift.
    let mut phase: Tensor<5> = Tensor::zeros([1, 1, dims[2], dims[3], dims[4]], &device);
    for (k, &a) in SPATIAL.iter().enumerate() {
        let n = dims[a];
        if n == 1 {
            continue;
        }
        let mut v = vec![0f32; dims[2] * dims[3] * dims[4]];
        for d in 0..dims[2] {
            for h in 0..dims[3] {
                for col in 0..w {
                    // Segment by the centred position along the last axis.
                    let s = (frequency(col, w) + (w / 2) as i64) as usize;
                    let seg = (s * segments / w).min(segments - 1);
                    let idx = [d, h, col][k];
                    let f = frequency(idx, n) as f64;
                    let t = f64::from(shifts[seg][k]);
                    v[(d * dims[3] + h) * w + col] =
                        (-2.0 * std::f64::consts::PI * f * t / n as f64) as f32;
                }
            }
        }
        let shape = [1, 1, dims[2], dims[3], dims[4]];
        phase = phase + Tensor::from_data(TensorData::new(v, shape), &device);
    }
    let rot = Complex {
        re: phase.clone().cos(),
        im: phase.sin(),
    };
    ifft_real(z.times(&rot))
}
