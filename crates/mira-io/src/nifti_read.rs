//! NIfTI-1 reading (`.nii`, `.nii.gz`) with header validation before any allocation.
//!
//! Values are `f32` with `scl_slope` / `scl_inter` applied (slope 0 means "no scaling", as the
//! standard says). The affine is chosen as nibabel's `get_best_affine` does: sform when
//! `sform_code > 0`, else qform when `qform_code > 0`, else the shape/zoom affine centred on the
//! volume with x flipped.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use nifti::volume::inmem::InMemNiftiVolume;
use nifti::{IntoNdArray, NiftiHeader, NiftiType};

use crate::{IoError, MAX_VOXELS, Result, Volume};

/// What a NIfTI header said, for `mira info` and for writing files back.
#[derive(Debug, Clone)]
pub struct NiftiInfo {
    /// The header as read (used as the template when writing an image back).
    pub header: NiftiHeader,
    /// Stored data type, e.g. `Uint8`, `Int16`.
    pub datatype: String,
    /// `little` or `big`.
    pub endianness: &'static str,
    /// Scaling as stored (slope 0 = none).
    pub scl_slope: f32,
    /// Intercept as stored.
    pub scl_inter: f32,
    /// `sform_code`, `qform_code`.
    pub xform_codes: (i16, i16),
    /// Axis codes of the affine, e.g. `RAS`, `LPS`.
    pub orientation: String,
}

const HEADER_BYTES: usize = 348;

fn is_gz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Reads a `.nii` or `.nii.gz` file.
///
/// # Errors
/// [`IoError`] for unreadable, truncated or malformed files, and for unsupported data types
/// or header/image pairs (`.hdr`/`.img`).
pub fn read_nifti(path: &Path) -> Result<(Volume, NiftiInfo)> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| IoError::Io {
        path: name.clone(),
        source,
    })?;
    let len = file.metadata().map(|m| m.len()).ok();
    let reader = std::io::BufReader::new(file);
    if is_gz(path) {
        read_from(GzDecoder::new(reader), None, &name)
    } else {
        read_from(reader, len, &name)
    }
}

/// Reads a NIfTI image from bytes (gzip-compressed or not; detected by the gzip magic).
///
/// # Errors
/// As [`read_nifti`]; `name` is used in messages.
pub fn read_nifti_bytes(bytes: &[u8], name: &str) -> Result<(Volume, NiftiInfo)> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        read_from(GzDecoder::new(bytes), None, name)
    } else {
        read_from(bytes, Some(bytes.len() as u64), name)
    }
}

fn read_from<R: Read>(mut r: R, plain_len: Option<u64>, name: &str) -> Result<(Volume, NiftiInfo)> {
    let bad = |reason: String| IoError::malformed(name, reason);
    let io = |e: std::io::Error| bad(format!("cannot read: {e}"));
    let mut head = Vec::with_capacity(HEADER_BYTES);
    (&mut r)
        .take(HEADER_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    if head.len() < HEADER_BYTES {
        return Err(bad(format!(
            "not a NIfTI-1 file: {} bytes, a header needs {HEADER_BYTES}",
            head.len()
        )));
    }
    let header = NiftiHeader::from_reader(&head[..])
        .map_err(|e| bad(format!("not a NIfTI-1 header: {e}")))?;
    if &header.magic == b"ni1\0" {
        return Err(IoError::Unsupported {
            path: name.into(),
            reason: "a .hdr/.img pair; convert it to a single .nii file".into(),
        });
    }
    let (dims, voxels) = checked_dims(&header).map_err(&bad)?;
    let datatype = header
        .data_type()
        .map_err(|_| bad(format!("unknown datatype code {}", header.datatype)))?;
    let elem = element_size(datatype).ok_or_else(|| IoError::Unsupported {
        path: name.into(),
        reason: format!("datatype {datatype:?} (Mira reads integer and float scalars)"),
    })?;
    let nbytes = voxels * elem;
    let vox = header.vox_offset;
    if !vox.is_finite() || vox < HEADER_BYTES as f32 || vox > (1u64 << 32) as f32 {
        return Err(bad(format!("vox_offset {vox} is not a valid data offset")));
    }
    let vox = vox as u64;
    if let Some(len) = plain_len
        && len < vox + nbytes as u64
    {
        return Err(bad(format!(
            "truncated: the header declares {nbytes} bytes of voxel data at offset {vox}, \
             the file has {len} bytes"
        )));
    }
    let skip = vox - HEADER_BYTES as u64;
    let skipped = std::io::copy(&mut (&mut r).take(skip), &mut std::io::sink()).map_err(io)?;
    let mut raw = Vec::new();
    r.take(nbytes as u64).read_to_end(&mut raw).map_err(io)?;
    if skipped < skip || raw.len() < nbytes {
        return Err(bad(format!(
            "truncated: {} of {nbytes} bytes of voxel data present",
            raw.len()
        )));
    }
    let volume = InMemNiftiVolume::from_raw_data(&header, raw)
        .map_err(|e| bad(format!("voxel data: {e}")))?;
    let array = volume
        .into_ndarray::<f32>()
        .map_err(|e| bad(format!("voxel data: {e}")))?;
    // The array is indexed [x, y, z, ...]; its transpose iterates with x fastest.
    let data: Vec<f32> = array.t().iter().copied().collect();
    let nd = dims.len();
    let spacing: Vec<f32> = header.pixdim[1..=nd].to_vec();
    if spacing.iter().any(|s| !s.is_finite()) {
        return Err(bad(format!("pixdim {:?} is not finite", &spacing)));
    }
    let affine = best_affine(&header, &dims).map_err(&bad)?;
    let info = NiftiInfo {
        datatype: format!("{datatype:?}"),
        endianness: match header.endianness {
            nifti::Endianness::Little => "little",
            nifti::Endianness::Big => "big",
        },
        scl_slope: header.scl_slope,
        scl_inter: header.scl_inter,
        xform_codes: (header.sform_code, header.qform_code),
        orientation: axis_codes(&affine),
        header,
    };
    Ok((
        Volume {
            dims,
            spacing,
            affine,
            data,
        },
        info,
    ))
}

/// Dimensions from `dim[0..]`, validated, and their product (bounded by [`MAX_VOXELS`]).
fn checked_dims(h: &NiftiHeader) -> std::result::Result<(Vec<usize>, usize), String> {
    let nd = h.dim[0] as usize;
    if !(1..=7).contains(&nd) {
        return Err(format!("dim[0] = {} is not in 1..=7", h.dim[0]));
    }
    let mut dims: Vec<usize> = h.dim[1..=nd].iter().map(|&d| d as usize).collect();
    if dims.contains(&0) || h.dim[1..=nd].iter().any(|&d| d > i16::MAX as u16) {
        return Err(format!("dimensions {:?} are not all in 1..=32767", &dims));
    }
    // Trailing singleton axes beyond the third carry no data (e.g. 3D stored as x,y,z,1).
    while dims.len() > 3 && dims.last() == Some(&1) {
        dims.pop();
    }
    let voxels = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&v| v <= MAX_VOXELS)
        .ok_or_else(|| format!("dimensions {dims:?} exceed {MAX_VOXELS} voxels"))?;
    Ok((dims, voxels))
}

fn element_size(t: NiftiType) -> Option<usize> {
    Some(match t {
        NiftiType::Uint8 | NiftiType::Int8 => 1,
        NiftiType::Uint16 | NiftiType::Int16 => 2,
        NiftiType::Uint32 | NiftiType::Int32 | NiftiType::Float32 => 4,
        NiftiType::Uint64 | NiftiType::Int64 | NiftiType::Float64 => 8,
        _ => return None,
    })
}

fn best_affine(h: &NiftiHeader, dims: &[usize]) -> std::result::Result<[[f64; 4]; 3], String> {
    let a = if h.sform_code > 0 {
        [h.srow_x, h.srow_y, h.srow_z].map(|r| r.map(f64::from))
    } else if h.qform_code > 0 {
        qform_affine(h)
    } else {
        // nibabel's shape_zoom_affine: centred, x flipped.
        let z = |i: usize| {
            if i < dims.len() {
                h.pixdim[i + 1] as f64
            } else {
                1.0
            }
        };
        let n = |i: usize| dims.get(i).copied().unwrap_or(1) as f64;
        let mut a = [[0.0; 4]; 3];
        for (i, row) in a.iter_mut().enumerate() {
            let s = if i == 0 { -z(i) } else { z(i) };
            row[i] = s;
            row[3] = -(n(i) - 1.0) / 2.0 * s;
        }
        a
    };
    if a.iter().flatten().any(|v| !v.is_finite()) {
        return Err("the affine (sform/qform) is not finite".into());
    }
    Ok(a)
}

/// The qform affine from the quaternion, as in the NIfTI-1 standard and nibabel.
fn qform_affine(h: &NiftiHeader) -> [[f64; 4]; 3] {
    let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
    let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
    let r = [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ];
    let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let s = [
        h.pixdim[1] as f64,
        h.pixdim[2] as f64,
        qfac * h.pixdim[3] as f64,
    ];
    let t = [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64];
    let mut m = [[0.0; 4]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for j in 0..3 {
            row[j] = r[i][j] * s[j];
        }
        row[3] = t[i];
    }
    m
}

/// nibabel's `aff2axcodes` for RAS+ world axes: the world direction each voxel axis points to.
fn axis_codes(a: &[[f64; 4]; 3]) -> String {
    (0..3)
        .map(|j| {
            let i = (0..3)
                .max_by(|&p, &q| a[p][j].abs().total_cmp(&a[q][j].abs()))
                .unwrap_or(j);
            let pos = a[i][j] >= 0.0;
            match (i, pos) {
                (0, true) => 'R',
                (0, false) => 'L',
                (1, true) => 'A',
                (1, false) => 'P',
                (_, true) => 'S',
                (_, false) => 'I',
            }
        })
        .collect()
}
