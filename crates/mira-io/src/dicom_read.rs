//! DICOM reading (dicom-rs): single files (also multi-frame) and series folders.
//!
//! Values are `f32` after the modality LUT (rescale slope/intercept, per frame when the
//! enhanced multi-frame functional groups give them), as pydicom's `apply_rescale`.
//! MONOCHROME1 images (bright = low value) are inverted to the MONOCHROME2 convention as
//! `max + min - v` over the image's stored value range `[0, 2^BitsStored - 1]` (unsigned) or
//! `[-2^(BitsStored-1), 2^(BitsStored-1) - 1]` (signed), after rescaling, so that bright is
//! dense everywhere in Mira. Transfer syntaxes without a pure-Rust decoder (JPEG-LS, JPEG
//! extended 12-bit, ...) fail with an error naming the syntax.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use std::io::Read;

use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{DefaultDicomObject, FileMetaTable, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::{IoError, MAX_VOXELS, Result, Volume};

/// Largest DICOM file read into memory (2 GiB).
const MAX_FILE_BYTES: u64 = 1 << 31;

/// What a DICOM file said, for `mira info` and for writing derived files.
#[derive(Debug, Clone)]
pub struct DicomInfo {
    /// Transfer syntax UID.
    pub transfer_syntax: String,
    /// Its name (e.g. `Explicit VR Little Endian`).
    pub transfer_syntax_name: String,
    /// Modality (CT, MR, CR, SEG, ...), if given.
    pub modality: Option<String>,
    /// Photometric interpretation as stored.
    pub photometric: String,
    /// Samples per pixel (1 grey, 3 colour).
    pub samples_per_pixel: u16,
    /// Bits stored.
    pub bits_stored: u16,
    /// Rescale slope and intercept of the first frame (1, 0 when absent).
    pub rescale: (f64, f64),
    /// Window centre and width (first values), if given.
    pub window: Option<(f64, f64)>,
    /// Pixel spacing (row, column) in mm, when present and non-zero.
    pub pixel_spacing: Option<(f64, f64)>,
    /// Whether MONOCHROME1 values were inverted.
    pub inverted: bool,
    /// Files read (1, or the slices of a series).
    pub files: usize,
    /// Image Position (Patient) of the first pixel, mm (LPS), if given.
    pub position: Option<[f64; 3]>,
    /// Image Orientation (Patient): row and column direction cosines (LPS), if given.
    pub orientation: Option<[f64; 6]>,
    /// Instance Number, if given.
    pub instance: Option<i64>,
    /// A multi-frame file's distance between frames along the slice normal, mm, from its
    /// functional groups (frame positions, else Spacing Between Slices, else Slice
    /// Thickness), if given.
    pub frame_step: Option<f64>,
}

impl DicomInfo {
    /// Voxel → RAS world affine for pixel spacing `(sx, sy)` and slice step `sz` along the
    /// slice normal (DICOM's LPS patient axes turned to RAS, as NIfTI uses).
    pub(crate) fn affine(&self, sx: f64, sy: f64, sz: f64) -> [[f64; 4]; 3] {
        let o = self.orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
        let n = [
            r[1] * c[2] - r[2] * c[1],
            r[2] * c[0] - r[0] * c[2],
            r[0] * c[1] - r[1] * c[0],
        ];
        let p = self.position.unwrap_or([0.0; 3]);
        let flip = [-1.0, -1.0, 1.0]; // LPS -> RAS
        let mut a = [[0.0; 4]; 3];
        for (i, row) in a.iter_mut().enumerate() {
            *row = [
                flip[i] * r[i] * sx,
                flip[i] * c[i] * sy,
                flip[i] * n[i] * sz,
                flip[i] * p[i],
            ];
        }
        a
    }
}

fn malformed(path: &str, e: impl std::fmt::Display) -> IoError {
    IoError::malformed(path, e.to_string())
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok()??;
    let s = e.to_str().ok()?;
    let s = s.trim().trim_end_matches('\0').to_string();
    (!s.is_empty()).then_some(s)
}

/// Pixel Spacing (row, column) in mm, when present and positive.
fn pixel_spacing(obj: &DefaultDicomObject) -> Option<(f64, f64)> {
    floats(obj, tags::PIXEL_SPACING)
        .filter(|v| v.len() >= 2 && v[0] > 0.0 && v[1] > 0.0)
        .map(|v| (v[0], v[1]))
}

fn floats(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<Vec<f64>> {
    let e = obj.element_opt(tag).ok()??;
    e.to_multi_float64()
        .ok()
        .filter(|v| v.iter().all(|x| x.is_finite()))
}

/// Opens a DICOM file (with or without the 128-byte preamble) held in memory; returns the
/// object and the transfer syntax UID as stored (a deflated file's object is re-labelled
/// explicit VR little endian after inflating).
pub(crate) fn open_bytes(bytes: &[u8], name: &str) -> Result<(DefaultDicomObject, String)> {
    let body = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        &bytes[128..]
    } else if bytes.starts_with(b"DICM") {
        bytes
    } else {
        return Err(IoError::malformed(
            name,
            "not a DICOM file (no DICM marker after the 128-byte preamble)",
        ));
    };
    crate::dicom_scan::check_lengths(body).map_err(|e| malformed(name, e))?;
    let mut cur = std::io::Cursor::new(body);
    let meta = FileMetaTable::from_reader(&mut cur)
        .map_err(|e| malformed(name, format!("cannot parse the file meta group: {e}")))?;
    let stored = meta.transfer_syntax().to_string();
    if stored != DEFLATED {
        return OpenFileOptions::new()
            .from_reader(body)
            .map(|obj| (obj, stored))
            .map_err(|e| malformed(name, format!("cannot parse: {e}")));
    }
    // Deflated Explicit VR Little Endian: inflate the data set, then parse it as explicit VR
    // little endian (dicom-object 0.8 does not inflate by itself).
    let rest = &body[cur.position() as usize..];
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(rest)
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut inflated)
        .map_err(|e| malformed(name, format!("cannot inflate the deflated data set: {e}")))?;
    crate::dicom_scan::check_dataset(&inflated)
        .map_err(|e| malformed(name, format!("inflated data set: {e}")))?;
    let explicit = TransferSyntaxRegistry
        .get(EXPLICIT_LE)
        .ok_or_else(|| malformed(name, "explicit VR little endian is not registered"))?;
    let ds = InMemDicomObject::read_dataset_with_ts(&inflated[..], explicit)
        .map_err(|e| malformed(name, format!("cannot parse the inflated data set: {e}")))?;
    ds.with_meta(FileMetaTableBuilder::new().transfer_syntax(EXPLICIT_LE))
        .map(|obj| (obj, stored))
        .map_err(|e| malformed(name, format!("file meta group: {e}")))
}

const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// Unpacks 1-bit pixel data (DICOM SEG masks): bit `i` is bit `i % 8` of byte `i / 8`, frames
/// packed back to back.
fn unpack_bits(obj: &DefaultDicomObject, n: usize, name: &str) -> Result<Vec<f32>> {
    let bytes = obj
        .element(tags::PIXEL_DATA)
        .map_err(|e| malformed(name, e))?
        .to_bytes()
        .map_err(|e| malformed(name, format!("1-bit pixel data: {e}")))?;
    if bytes.len() * 8 < n {
        return Err(IoError::malformed(
            name,
            format!(
                "1-bit pixel data holds {} bits, the header declares {n}",
                bytes.len() * 8
            ),
        ));
    }
    Ok((0..n)
        .map(|i| f32::from((bytes[i / 8] >> (i % 8)) & 1))
        .collect())
}

/// Reads one DICOM file.
///
/// # Errors
/// Unreadable or malformed files, unsupported transfer syntaxes (named), pixel data that does
/// not match the header.
pub fn read_dicom(path: &Path) -> Result<(Volume, DicomInfo)> {
    let name = path.display().to_string();
    let len = std::fs::metadata(path)
        .map_err(|source| IoError::Io {
            path: name.clone(),
            source,
        })?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(IoError::malformed(
            &name,
            format!("{len} bytes is larger than Mira reads"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|source| IoError::Io {
        path: name.clone(),
        source,
    })?;
    read_dicom_bytes(&bytes, &name)
}

/// Reads a DICOM file held in memory; `name` is used in messages.
///
/// # Errors
/// As [`read_dicom`].
pub fn read_dicom_bytes(bytes: &[u8], name: &str) -> Result<(Volume, DicomInfo)> {
    let (obj, ts_uid) = open_bytes(bytes, name)?;
    let ts_name = TransferSyntaxRegistry
        .get(&ts_uid)
        .map_or_else(|| "unknown".to_string(), |t| t.name().to_string());
    let unsupported = |why: String| IoError::Unsupported {
        path: name.into(),
        reason: format!("transfer syntax {ts_name} ({ts_uid}): {why}"),
    };
    match TransferSyntaxRegistry.get(&ts_uid) {
        None => return Err(unsupported("not known to Mira's DICOM reader".into())),
        Some(ts) if ts_uid != DEFLATED && !ts.can_decode_all() => {
            return Err(unsupported(
                "no pure-Rust decoder for this pixel encoding; transcode the file (e.g. \
                 `gdcmconv --raw`) to an uncompressed syntax"
                    .into(),
            ));
        }
        Some(_) => {}
    }
    if obj.element_opt(tags::PIXEL_DATA).ok().flatten().is_none() {
        return Err(IoError::malformed(name, "no pixel data (7FE0,0010)"));
    }
    let rows = floats(&obj, tags::ROWS)
        .and_then(|v| v.first().copied())
        .unwrap_or(0.0) as usize;
    let cols = floats(&obj, tags::COLUMNS)
        .and_then(|v| v.first().copied())
        .unwrap_or(0.0) as usize;
    let frames = text(&obj, tags::NUMBER_OF_FRAMES)
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1);
    let spp = floats(&obj, tags::SAMPLES_PER_PIXEL)
        .and_then(|v| v.first().copied())
        .unwrap_or(1.0) as usize;
    let voxels = [rows, cols, frames, spp]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&v| v > 0 && v <= MAX_VOXELS)
        .ok_or_else(|| {
            IoError::malformed(
                name,
                format!("image of {rows} x {cols} x {frames} frames x {spp} samples is empty or too large"),
            )
        })?;
    let first = |tag| floats(&obj, tag).and_then(|v| v.first().copied());
    let bits_allocated = first(tags::BITS_ALLOCATED).unwrap_or(0.0);
    let bits_stored = first(tags::BITS_STORED).unwrap_or(bits_allocated);
    let representation = first(tags::PIXEL_REPRESENTATION).unwrap_or(0.0);
    // Checked here because the decoder asserts on them (a panic on hostile input).
    let valid = [1.0, 8.0, 16.0, 32.0, 64.0].contains(&bits_allocated)
        && (1.0..=bits_allocated.min(32.0)).contains(&bits_stored)
        && bits_stored.fract() == 0.0
        && (representation == 0.0 || representation == 1.0)
        && (spp == 1 || spp == 3);
    if !valid {
        return Err(IoError::malformed(
            name,
            format!(
                "invalid pixel description: BitsAllocated {bits_allocated}, BitsStored \
                 {bits_stored}, PixelRepresentation {representation}, SamplesPerPixel {spp}"
            ),
        ));
    }
    // The decoders allocate the declared image size: it must be plausible for the bytes held
    // (native: exactly; compressed: at most 1000:1 plus 1 MiB).
    let stored = obj
        .element(tags::PIXEL_DATA)
        .ok()
        .and_then(|e| e.to_bytes().ok().map(|b| b.len()))
        .unwrap_or(0);
    let declared = (voxels as f64 * bits_allocated / 8.0).ceil() as usize;
    let native = [
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        DEFLATED,
    ]
    .contains(&ts_uid.as_str());
    let fits = if native {
        stored >= declared && stored <= declared + 1
    } else {
        declared <= bytes.len().saturating_mul(1000) + (1 << 20)
    };
    if !fits {
        return Err(IoError::malformed(
            name,
            format!(
                "the header declares {declared} bytes of pixel data ({rows} x {cols} x {frames} \
                 frames x {spp} samples), the file holds {stored}"
            ),
        ));
    }
    if bits_allocated == 1.0 {
        return read_bitmask(&obj, [cols, rows, frames], voxels, name, ts_uid, ts_name);
    }
    // Third-party decoders can panic on corrupted compressed data (found by the property
    // test): a panic there is caught and reported as a malformed file.
    let decode = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        obj.decode_pixel_data().map(|d| {
            let data = d.to_vec::<f32>();
            (d, data)
        })
    }));
    let (decoded, data) = match decode {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            return Err(unsupported(format!(
                "the pixel data could not be decoded ({e}); transcode the file"
            )));
        }
        Err(_) => {
            return Err(IoError::malformed(
                name,
                format!("the {ts_name} pixel data is corrupted (the decoder failed)"),
            ));
        }
    };
    let mut data: Vec<f32> = data.map_err(|e| malformed(name, format!("pixel data: {e}")))?;
    if data.len() != voxels {
        return Err(IoError::malformed(
            name,
            format!(
                "decoded {} values, the header declares {voxels}",
                data.len()
            ),
        ));
    }
    let photometric = decoded.photometric_interpretation().as_str().to_string();
    let bits = decoded.bits_stored();
    let signed = matches!(
        decoded.pixel_representation(),
        dicom_pixeldata::PixelRepresentation::Signed
    );
    let rescale = decoded
        .rescale()
        .ok()
        .and_then(|r| r.first().map(|r| (r.slope, r.intercept)))
        .unwrap_or((1.0, 0.0));
    let inverted = photometric == "MONOCHROME1";
    if inverted {
        let (lo, hi) = if signed {
            (
                -(2f64.powi(bits as i32 - 1)),
                2f64.powi(bits as i32 - 1) - 1.0,
            )
        } else {
            (0.0, 2f64.powi(bits as i32) - 1.0)
        };
        let (a, b) = (lo * rescale.0 + rescale.1, hi * rescale.0 + rescale.1);
        let sum = (a + b) as f32;
        for v in &mut data {
            *v = sum - *v;
        }
    }
    let geo = crate::dicom_frames::frame_geometry(&obj);
    let spacing_rc = pixel_spacing(&obj).or(geo.pixel_spacing);
    let frame_step = geo.step.filter(|_| frames > 1);
    let window = match (
        floats(&obj, tags::WINDOW_CENTER).and_then(|v| v.first().copied()),
        floats(&obj, tags::WINDOW_WIDTH).and_then(|v| v.first().copied()),
    ) {
        (Some(c), Some(w)) => Some((c, w)),
        _ => None,
    };
    let (sx, sy) = spacing_rc.map_or((1.0, 1.0), |(r, c)| (c as f32, r as f32));
    let mut dims = vec![cols, rows, frames];
    let mut spacing = vec![sx, sy, frame_step.map_or(1.0, |s| s.abs() as f32)];
    if spp > 1 {
        // Interleaved samples (colour): samples fastest.
        dims.insert(0, spp);
        spacing.insert(0, 1.0);
    }
    let volume = Volume {
        dims,
        spacing,
        affine: [
            [sx as f64, 0.0, 0.0, 0.0],
            [0.0, sy as f64, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ],
        data,
    };
    let info = DicomInfo {
        transfer_syntax: ts_uid,
        transfer_syntax_name: ts_name,
        modality: text(&obj, tags::MODALITY),
        photometric,
        samples_per_pixel: spp as u16,
        bits_stored: bits,
        rescale,
        window,
        pixel_spacing: spacing_rc,
        inverted,
        files: 1,
        position: floats(&obj, tags::IMAGE_POSITION_PATIENT)
            .filter(|v| v.len() == 3)
            .map(|v| [v[0], v[1], v[2]])
            .or(geo.first_position),
        orientation: floats(&obj, tags::IMAGE_ORIENTATION_PATIENT)
            .filter(|v| v.len() == 6)
            .map(|v| [v[0], v[1], v[2], v[3], v[4], v[5]])
            .or(geo.orientation),
        instance: text(&obj, tags::INSTANCE_NUMBER).and_then(|s| s.trim().parse().ok()),
        frame_step,
    };
    let mut volume = volume;
    if spp == 1 {
        volume.affine = info.affine(sx as f64, sy as f64, frame_step.unwrap_or(1.0));
    }
    Ok((volume, info))
}

/// A 1-bit image (DICOM SEG binary segments): frames as the third axis, values 0/1.
fn read_bitmask(
    obj: &DefaultDicomObject,
    dims: [usize; 3],
    voxels: usize,
    name: &str,
    ts_uid: String,
    ts_name: String,
) -> Result<(Volume, DicomInfo)> {
    if ts_uid != EXPLICIT_LE && ts_uid != "1.2.840.10008.1.2" {
        return Err(IoError::Unsupported {
            path: name.into(),
            reason: format!("1-bit pixel data in transfer syntax {ts_name}"),
        });
    }
    let data = unpack_bits(obj, voxels, name)?;
    let geo = crate::dicom_frames::frame_geometry(obj);
    let spacing_rc = pixel_spacing(obj).or(geo.pixel_spacing);
    let (sx, sy) = spacing_rc.map_or((1.0, 1.0), |(r, c)| (c as f32, r as f32));
    let frame_step = geo.step.filter(|_| dims[2] > 1);
    let info = DicomInfo {
        transfer_syntax: ts_uid,
        transfer_syntax_name: ts_name,
        modality: text(obj, tags::MODALITY),
        photometric: text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default(),
        samples_per_pixel: 1,
        bits_stored: 1,
        rescale: (1.0, 0.0),
        window: None,
        pixel_spacing: spacing_rc,
        inverted: false,
        files: 1,
        position: geo.first_position,
        orientation: geo.orientation,
        instance: None,
        frame_step,
    };
    let sz = frame_step.unwrap_or(1.0);
    let volume = Volume {
        dims: dims.to_vec(),
        spacing: vec![sx, sy, sz.abs() as f32],
        affine: info.affine(sx as f64, sy as f64, sz),
        data,
    };
    Ok((volume, info))
}
