//! A scalar volume in memory with its geometry.

/// A 2D, 3D or 4D image as `f32`, first axis fastest (the NIfTI / Fortran order), with voxel
/// spacing and the voxel-to-world affine (first three rows of the 4×4 matrix, world in mm).
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Size of each axis, `dims[0]` fastest.
    pub dims: Vec<usize>,
    /// Voxel size along each axis (mm for space, as stored for time).
    pub spacing: Vec<f32>,
    /// Voxel (i, j, k) → world (x, y, z): rows of the affine.
    pub affine: [[f64; 4]; 3],
    /// Values with any intensity scaling applied, `dims[0]` fastest.
    pub data: Vec<f32>,
}

impl Volume {
    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when there are no voxels.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Linear index of a 3D voxel (`None` when out of range or the volume is not ≥ 3D).
    pub fn index3(&self, i: usize, j: usize, k: usize) -> Option<usize> {
        let (nx, ny, nz) = (
            *self.dims.first()?,
            *self.dims.get(1)?,
            self.dims.get(2).copied().unwrap_or(1),
        );
        (i < nx && j < ny && k < nz).then_some(i + nx * (j + ny * k))
    }

    /// Value at a 3D voxel.
    pub fn get3(&self, i: usize, j: usize, k: usize) -> Option<f32> {
        self.index3(i, j, k).map(|n| self.data[n])
    }

    /// Smallest and largest finite value (`None` if there is none).
    pub fn range(&self) -> Option<(f32, f32)> {
        self.data
            .iter()
            .filter(|v| v.is_finite())
            .fold(None, |acc, &v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
    }
}
