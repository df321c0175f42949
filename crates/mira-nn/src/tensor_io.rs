//! Moving host data into tensors and back.

use burn::prelude::*;
use mira_data::SegSlice;

use crate::{NnError, Result};

/// Stacks slices into a `[B, C, H, W]` tensor on `device`.
///
/// # Errors
/// Slices of different shapes, or an empty batch.
pub fn images_to_tensor(items: &[&SegSlice], device: &Device) -> Result<Tensor<4>> {
    let first = items
        .first()
        .ok_or_else(|| NnError::Shape("empty batch".into()))?;
    let (c, h, w) = (first.channels, first.height, first.width);
    let mut data = Vec::with_capacity(items.len() * c * h * w);
    for s in items {
        if (s.channels, s.height, s.width) != (c, h, w) {
            return Err(NnError::Shape(format!(
                "batch mixes {c}x{h}x{w} with {}x{}x{}",
                s.channels, s.height, s.width
            )));
        }
        data.extend_from_slice(&s.image);
    }
    Ok(Tensor::from_data(
        TensorData::new(data, [items.len(), c, h, w]),
        device,
    ))
}

/// One-hot encodes label maps (each `h × w`) into `[B, K, H, W]`.
///
/// # Errors
/// A map of the wrong size or a label `>= k`.
pub fn one_hot(maps: &[&[u8]], k: usize, h: usize, w: usize, device: &Device) -> Result<Tensor<4>> {
    let mut data = vec![0.0f32; maps.len() * k * h * w];
    for (b, m) in maps.iter().enumerate() {
        if m.len() != h * w {
            return Err(NnError::Shape(format!(
                "label map of {} pixels, expected {}",
                m.len(),
                h * w
            )));
        }
        for (i, &l) in m.iter().enumerate() {
            if l as usize >= k {
                return Err(NnError::Shape(format!("label {l} outside 0..{k}")));
            }
            data[(b * k + l as usize) * h * w + i] = 1.0;
        }
    }
    Ok(Tensor::from_data(
        TensorData::new(data, [maps.len(), k, h, w]),
        device,
    ))
}

/// Arg-max over the class dimension of `[B, K, H, W]` logits, as one label map per sample.
pub fn argmax_labels(logits: Tensor<4>) -> Vec<Vec<u8>> {
    let [b, _, h, w] = logits.dims();
    let idx = logits.argmax(1).into_data().convert::<i64>();
    let flat = idx.as_slice::<i64>().expect("i64 after convert");
    (0..b)
        .map(|i| {
            flat[i * h * w..(i + 1) * h * w]
                .iter()
                .map(|&v| v as u8)
                .collect()
        })
        .collect()
}

/// All values of a float tensor, row-major.
pub fn tensor_to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 after convert")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_and_argmax_round_trip() {
        let dev = crate::default_device();
        let maps: Vec<u8> = vec![0, 1, 2, 3, 3, 2];
        let t = one_hot(&[&maps[..]], 4, 2, 3, &dev).unwrap();
        assert_eq!(t.dims(), [1, 4, 2, 3]);
        assert_eq!(argmax_labels(t), vec![maps.clone()]);
        assert!(one_hot(&[&[5u8, 0][..]], 4, 1, 2, &dev).is_err());
    }
}
