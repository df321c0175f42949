//! A multi-channel 2D slice with its label map, and a dataset of them.

use crate::{DataError, Result};

/// One 2D case: `channels × height × width` intensities in `[0, 1]` (channel-major) and a
/// `height × width` label map.
#[derive(Debug, Clone, PartialEq)]
pub struct SegSlice {
    /// Intensities, index `(c * height + y) * width + x`.
    pub image: Vec<f32>,
    /// Labels, index `y * width + x`.
    pub labels: Vec<u8>,
    /// Number of channels.
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl SegSlice {
    /// Checks sizes, finiteness and label range.
    ///
    /// # Errors
    /// [`DataError::Shape`] naming what is wrong.
    pub fn validate(&self, n_labels: usize) -> Result<()> {
        let px = self.height * self.width;
        if self.image.len() != self.channels * px || self.labels.len() != px {
            return Err(DataError::Shape(format!(
                "slice of {}x{}x{} has {} intensities and {} labels",
                self.channels,
                self.height,
                self.width,
                self.image.len(),
                self.labels.len()
            )));
        }
        if let Some(i) = self.image.iter().position(|v| !v.is_finite()) {
            return Err(DataError::Shape(format!(
                "non-finite intensity at index {i}"
            )));
        }
        if let Some(i) = self.labels.iter().position(|&l| l as usize >= n_labels) {
            return Err(DataError::Shape(format!(
                "label {} at index {i} is outside 0..{n_labels}",
                self.labels[i]
            )));
        }
        Ok(())
    }

    /// Channel `c` as a slice of `height × width` values.
    pub fn channel(&self, c: usize) -> &[f32] {
        let px = self.height * self.width;
        &self.image[c * px..(c + 1) * px]
    }
}

/// A set of slices of one shape, with the names of channels and labels.
#[derive(Debug, Clone)]
pub struct SegDataset {
    /// The cases.
    pub items: Vec<SegSlice>,
    /// Channel names, e.g. `["T1", "T1c", "T2", "FLAIR"]`.
    pub channel_names: Vec<String>,
    /// Label names, index = label value; entry 0 is background.
    pub label_names: Vec<String>,
}

impl SegDataset {
    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channel_names.len()
    }

    /// Number of labels, background included.
    pub fn n_labels(&self) -> usize {
        self.label_names.len()
    }

    /// Checks every item against the declared channels and labels, and that all share a shape.
    ///
    /// # Errors
    /// [`DataError::Shape`] for the first offending item.
    pub fn validate(&self) -> Result<()> {
        let Some(first) = self.items.first() else {
            return Err(DataError::Shape("dataset is empty".into()));
        };
        for (i, s) in self.items.iter().enumerate() {
            if s.channels != self.channels() || s.height != first.height || s.width != first.width {
                return Err(DataError::Shape(format!(
                    "item {i} is {}x{}x{}, expected {}x{}x{}",
                    s.channels,
                    s.height,
                    s.width,
                    self.channels(),
                    first.height,
                    first.width
                )));
            }
            s.validate(self.n_labels())
                .map_err(|e| DataError::Shape(format!("item {i}: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        let s = SegSlice {
            image: vec![0.0; 8],
            labels: vec![0; 4],
            channels: 2,
            height: 2,
            width: 2,
        };
        assert!(s.validate(2).is_ok());
        let mut bad = s.clone();
        bad.image[3] = f32::NAN;
        assert!(
            bad.validate(2)
                .unwrap_err()
                .to_string()
                .contains("non-finite")
        );
        let mut bad = s.clone();
        bad.labels[1] = 7;
        assert!(bad.validate(4).unwrap_err().to_string().contains("label 7"));
        let ds = SegDataset {
            items: vec![],
            channel_names: vec![],
            label_names: vec![],
        };
        assert!(ds.validate().is_err());
    }
}
