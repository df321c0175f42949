//! How a volume's axes enter a 3D model.
//!
//! A volume is read with x fastest (the NIfTI array's first index, `Channel3`); a 3D model
//! takes `[B, C, D, H, W]`. `zyx` (the default, SimpleITK's and nnU-Net's order, consistent
//! with 2D slices) gives the model `[z, y, x]`, the file's values as they lie in memory;
//! `xyz` (nibabel's and MONAI's `LoadImage` order) gives `[x, y, z]`, z fastest.

use serde::{Deserialize, Serialize};

/// The order of a volume's axes in a 3D model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeAxes {
    /// `[z, y, x]`: x fastest, as the file stores it.
    #[default]
    Zyx,
    /// `[x, y, z]`: z fastest.
    Xyz,
}

impl VolumeAxes {
    /// Parses `zyx` or `xyz`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zyx" => Some(Self::Zyx),
            "xyz" => Some(Self::Xyz),
            _ => None,
        }
    }

    /// The model's spatial sizes `[D, H, W]` of a volume of sizes `dims` (x fastest).
    pub fn model_dims(self, dims: [usize; 3]) -> [usize; 3] {
        match self {
            Self::Zyx => [dims[2], dims[1], dims[0]],
            Self::Xyz => dims,
        }
    }

    /// One channel (x fastest, sizes `dims`) in the model's order.
    pub fn to_model<T: Copy>(self, data: &[T], dims: [usize; 3]) -> Vec<T> {
        match self {
            Self::Zyx => data.to_vec(),
            Self::Xyz => {
                let [nx, ny, nz] = dims;
                let mut out = Vec::with_capacity(data.len());
                for x in 0..nx {
                    for y in 0..ny {
                        for z in 0..nz {
                            out.push(data[x + nx * (y + ny * z)]);
                        }
                    }
                }
                out
            }
        }
    }

    /// One channel in the model's order back to the file's (x fastest, sizes `dims`).
    pub fn from_model<T: Copy + Default>(self, data: &[T], dims: [usize; 3]) -> Vec<T> {
        match self {
            Self::Zyx => data.to_vec(),
            Self::Xyz => {
                let [nx, ny, nz] = dims;
                let mut out = vec![T::default(); data.len()];
                for x in 0..nx {
                    for y in 0..ny {
                        for z in 0..nz {
                            out[x + nx * (y + ny * z)] = data[(x * ny + y) * nz + z];
                        }
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VolumeAxes;

    #[test]
    fn xyz_puts_z_fastest_and_round_trips() {
        let dims = [2, 3, 4];
        let data: Vec<u32> = (0..24).collect();
        let m = VolumeAxes::Xyz.to_model(&data, dims);
        // model index (x, y, z) = (1, 2, 3) ← file index 1 + 2·2 + 3·6 = 23
        assert_eq!(m[(3 + 2) * 4 + 3], 23);
        assert_eq!(VolumeAxes::Xyz.from_model(&m, dims), data);
        assert_eq!(VolumeAxes::Zyx.to_model(&data, dims), data);
        assert_eq!(VolumeAxes::Xyz.model_dims(dims), [2, 3, 4]);
        assert_eq!(VolumeAxes::Zyx.model_dims(dims), [4, 3, 2]);
    }
}
