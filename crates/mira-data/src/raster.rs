//! Small raster helpers shared by the phantoms.

use rand::Rng;
use rand::rngs::StdRng;

/// The normalised Gaussian taps of radius `ceil(3 sigma)`, and the radius.
fn gaussian_kernel(sigma: f32) -> (isize, Vec<f32>) {
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let norm: f32 = k.iter().sum();
    (r, k.iter().map(|v| v / norm).collect())
}

/// Separable Gaussian blur of a `h × w` image with standard deviation `sigma` pixels
/// (kernel radius `ceil(3 sigma)`, edges clamped).
pub(crate) fn gaussian_blur(img: &[f32], h: usize, w: usize, sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return img.to_vec();
    }
    let (r, k) = gaussian_kernel(sigma);
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let mut tmp = vec![0.0f32; h * w];
    for y in 0..h {
        for x in 0..w {
            tmp[y * w + x] = (-r..=r)
                .map(|i| k[(i + r) as usize] * img[y * w + clamp(x as isize + i, w)])
                .sum();
        }
    }
    let mut out = vec![0.0f32; h * w];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = (-r..=r)
                .map(|i| k[(i + r) as usize] * tmp[clamp(y as isize + i, h) * w + x])
                .sum();
        }
    }
    out
}

/// The `q`-quantile (nearest rank) of the values selected by `mask`, or of all values when the
/// mask selects none.
pub(crate) fn masked_quantile(values: &[f32], mask: &[bool], q: f32) -> f32 {
    let mut v: Vec<f32> = values
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m)
        .map(|(v, _)| *v)
        .collect();
    if v.is_empty() {
        v = values.to_vec();
    }
    v.sort_by(f32::total_cmp);
    let i = ((v.len() - 1) as f32 * q).round() as usize;
    v[i]
}

/// Band-limited noise: white noise blurred at `sigma` pixels, scaled to unit spread.
pub(crate) fn texture(size: usize, sigma: f32, rng: &mut StdRng) -> Vec<f32> {
    let white: Vec<f32> = (0..size * size)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let mut t = gaussian_blur(&white, size, size, sigma);
    let sd = (t.iter().map(|v| v * v).sum::<f32>() / t.len() as f32)
        .sqrt()
        .max(1e-6);
    t.iter_mut().for_each(|v| *v /= sd);
    t
}

/// Separable Gaussian blur of a `[d, h, w]` volume (C order) with standard deviation `sigma`
/// voxels (kernel radius `ceil(3 sigma)`, edges clamped).
pub(crate) fn gaussian_blur3(vol: &[f32], dims: [usize; 3], sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return vol.to_vec();
    }
    let (r, k) = gaussian_kernel(sigma);
    let strides = [dims[1] * dims[2], dims[2], 1];
    let mut cur = vol.to_vec();
    for axis in 0..3 {
        let (n, s) = (dims[axis] as isize, strides[axis]);
        let mut next = vec![0.0f32; cur.len()];
        for (idx, out) in next.iter_mut().enumerate() {
            let pos = ((idx / s) % dims[axis]) as isize;
            let base = idx - pos as usize * s;
            *out = (-r..=r)
                .map(|i| k[(i + r) as usize] * cur[base + (pos + i).clamp(0, n - 1) as usize * s])
                .sum();
        }
        cur = next;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_preserves_constants_and_mass() {
        let img = vec![2.0f32; 25];
        assert!(
            gaussian_blur(&img, 5, 5, 1.0)
                .iter()
                .all(|v| (v - 2.0).abs() < 1e-5)
        );
        let mut spike = vec![0.0f32; 81];
        spike[40] = 1.0;
        let b = gaussian_blur(&spike, 9, 9, 1.0);
        assert!((b.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(b[40] > b[41] && b[41] > b[42]);
    }

    #[test]
    fn quantile_of_masked_values() {
        let v = [5.0, 1.0, 2.0, 3.0];
        assert_eq!(masked_quantile(&v, &[false, true, true, true], 1.0), 3.0);
        assert_eq!(masked_quantile(&v, &[false; 4], 1.0), 5.0);
    }
}
