//! The sources and pairs of a registration experiment, per image family.
//!
//! - Natural-like images and the X-ray phantom: one seeded source image per index; the three
//!   splits use disjoint seed ranges (split by source image, never by pair).
//! - The real chest radiograph (one file): read with the DICOM reader (MONOCHROME1 inverted
//!   there), scaled to `[0, 1]` between its 0.5th and 99.5th percentiles, box-downsampled, and
//!   cut into square tiles dealt at random to the three splits (see [`radiograph_tiles`]), so
//!   every split sees all regions of the chest but no two splits share a pixel; pairs are cut
//!   at random positions inside a tile.

use std::path::{Path, PathBuf};

use mira_data::{
    RegPair, RegPairConfig, RegSource, downsample, make_pairs, natural_phantom, xray_phantom,
};

use crate::run::mix;
use crate::tasks::registration::{RegDataSpec, RegExperiment, RegModelEntry, RegSourceKind};
use crate::{EvalError, Result};

/// Pairs and sources of one image family.
#[derive(Debug, Clone)]
pub struct RegData {
    /// `xray_phantom`, `radiograph` or `natural`.
    pub source_name: String,
    /// The radiograph file, when one is used.
    pub radiograph: Option<PathBuf>,
    /// Training sources (pairs are drawn from them afresh during training).
    pub train: Vec<RegSource>,
    /// Validation pairs.
    pub val: Vec<RegPair>,
    /// Test pairs: the cases.
    pub test: Vec<RegPair>,
    /// How the validation and test pairs were made.
    pub pair_cfg: RegPairConfig,
}

/// The radiograph file an experiment uses, or `None` for the phantom.
///
/// # Errors
/// A named file that does not exist.
pub fn radiograph_file(d: &RegDataSpec) -> Result<Option<PathBuf>> {
    match d.radiograph.as_str() {
        "phantom" => Ok(None),
        "auto" => Ok(mira_io::shared_data_dir()
            .map(|s| s.join("dicom").join("radiograph").join("RG1_UNCR.dcm"))
            .filter(|p| p.is_file())),
        path => {
            let p = PathBuf::from(path);
            if p.is_file() {
                Ok(Some(p))
            } else {
                Err(EvalError::invalid(
                    "data.radiograph",
                    format!("{path} is not a file"),
                ))
            }
        }
    }
}

/// A radiograph as `[0, 1]` pixels, downsampled: (pixels, width, height).
pub(crate) fn load_radiograph(path: &Path, factor: usize) -> Result<(Vec<f32>, usize, usize)> {
    let (vol, _) = mira_io::read_dicom(path)
        .map_err(|e| EvalError::invalid("data.radiograph", e.to_string()))?;
    let (w, h) = (vol.dims[0], vol.dims.get(1).copied().unwrap_or(1));
    if vol.dims.iter().skip(2).any(|&d| d != 1) || w < 16 || h < 16 {
        return Err(EvalError::invalid(
            "data.radiograph",
            format!(
                "{}: expected one 2D image, got dims {:?}",
                path.display(),
                vol.dims
            ),
        ));
    }
    let mut px = vol.data;
    let mut sorted = px.clone();
    sorted.sort_by(f32::total_cmp);
    let q = |p: f32| sorted[((sorted.len() - 1) as f32 * p).round() as usize];
    let (lo, hi) = (q(0.005), q(0.995));
    let span = (hi - lo).max(1e-6);
    px.iter_mut()
        .for_each(|v| *v = ((*v - lo) / span).clamp(0.0, 1.0));
    Ok(downsample(&px, w, h, factor))
}

/// Smallest standard deviation of a radiograph tile that is used (flat background, e.g.
/// outside the collimation, cannot be registered and is left out).
const MIN_TILE_STD: f32 = 0.04;

/// Cuts a radiograph into square tiles just large enough for every pair a tile must hold
/// (side `2 · reach + 2`), drops flat tiles, windows each tile to its own 1st–99th
/// percentiles, shuffles them with `seed` and deals them to
/// test (25 %), validation (15 %, at least one) and training (the rest): the splits cover
/// all of the anatomy but never share a pixel.
///
/// # Errors
/// A radiograph too small for three non-flat tiles.
pub(crate) fn radiograph_tiles(
    px: &[f32],
    w: usize,
    h: usize,
    reach: f64,
    seed: u64,
) -> Result<(Vec<RegSource>, Vec<RegSource>, Vec<RegSource>)> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let side = (2.0 * reach).ceil() as usize + 2;
    let mut tiles = Vec::new();
    for ty in 0..h / side.max(1) {
        for tx in 0..w / side.max(1) {
            let mut t = Vec::with_capacity(side * side);
            for y in 0..side {
                let row = (ty * side + y) * w + tx * side;
                t.extend_from_slice(&px[row..row + side]);
            }
            let mean = t.iter().sum::<f32>() / t.len() as f32;
            let sd = (t.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / t.len() as f32).sqrt();
            if sd >= MIN_TILE_STD {
                // Window each tile to its own 1st-99th percentiles, as a reader would set
                // window and level for the region in view.
                let mut sorted = t.clone();
                sorted.sort_by(f32::total_cmp);
                let q = |p: f32| sorted[((sorted.len() - 1) as f32 * p).round() as usize];
                let (lo, hi) = (q(0.01), q(0.99));
                let span = (hi - lo).max(1e-6);
                t.iter_mut()
                    .for_each(|v| *v = ((*v - lo) / span).clamp(0.0, 1.0));
                tiles.push(RegSource::whole(side, side, t)?);
            }
        }
    }
    if tiles.len() < 3 {
        return Err(EvalError::invalid(
            "data.radiograph_downsample",
            format!(
                "the radiograph ({w}x{h} px after downsampling) holds {} usable tiles of {side} px; \
                 at least 3 are needed (lower the downsampling or the pair size)",
                tiles.len()
            ),
        ));
    }
    tiles.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let n = tiles.len();
    let n_test = ((n as f64 * 0.25).round() as usize).max(1);
    let n_val = ((n as f64 * 0.15).round() as usize).max(1);
    let test = tiles.split_off(n - n_test);
    let val = tiles.split_off(tiles.len() - n_val);
    Ok((tiles, val, test))
}

/// The data of `model`'s image family.
///
/// # Errors
/// An unreadable radiograph, or sources too small for the pairs.
pub fn reg_data(exp: &RegExperiment, model: &RegModelEntry) -> Result<RegData> {
    let d = &exp.data;
    let pair_cfg = RegPairConfig {
        size: d.size,
        max_rotation_deg: d.max_rotation_deg,
        max_translation_px: model.max_translation_px(d),
        noise: d.noise,
        intensity_jitter: true,
        affine_jitter: 0.0,
        flips: false,
    };
    let family = match model.source {
        // Both X-ray kinds draw the same phantom subjects and pairs.
        RegSourceKind::Xray | RegSourceKind::XrayPhantom => 1u64,
        RegSourceKind::Natural => 2,
    };
    let phantoms = |first: u64, n: usize| -> Result<Vec<RegSource>> {
        (0..n as u64)
            .map(|i| {
                let seed = mix(mix(exp.seed, family), first + i);
                let px = match model.source {
                    RegSourceKind::Xray | RegSourceKind::XrayPhantom => {
                        xray_phantom(d.source_size, seed)
                    }
                    RegSourceKind::Natural => natural_phantom(d.source_size, seed),
                };
                Ok(RegSource::whole(d.source_size, d.source_size, px)?)
            })
            .collect()
    };
    let radiograph = match model.source {
        RegSourceKind::Xray => radiograph_file(d)?,
        RegSourceKind::XrayPhantom | RegSourceKind::Natural => None,
    };
    let (source_name, train, val_src, test_src) = match &radiograph {
        Some(path) => {
            let (px, w, h) = load_radiograph(path, d.radiograph_downsample)?;
            let reach = RegPairConfig {
                affine_jitter: exp.training.affine_jitter,
                ..pair_cfg.clone()
            }
            .margin();
            let (mut train, val, test) = radiograph_tiles(&px, w, h, reach, mix(exp.seed, 77))?;
            if d.radiograph_with_phantoms {
                train.extend(phantoms(0, d.train_images)?);
            }
            ("radiograph", train, val, test)
        }
        None => (
            match model.source {
                RegSourceKind::Xray | RegSourceKind::XrayPhantom => "xray_phantom",
                RegSourceKind::Natural => "natural",
            },
            phantoms(0, d.train_images)?,
            phantoms(1_000_000, d.val_images)?,
            phantoms(2_000_000, d.test_images)?,
        ),
    };
    let val = make_pairs(
        &val_src,
        &pair_cfg,
        mix(exp.seed, 10 + family),
        0,
        d.val_pairs,
    )
    .map_err(|e| EvalError::invalid("data", format!("validation pairs: {e}")))?;
    let test = make_pairs(
        &test_src,
        &pair_cfg,
        mix(exp.seed, 20 + family),
        0,
        d.test_pairs,
    )
    .map_err(|e| EvalError::invalid("data", format!("test pairs: {e}")))?;
    // Training pairs are drawn later; fail now if the sources cannot hold them.
    make_pairs(&train, &pair_cfg, 0, 0, train.len())
        .map_err(|e| EvalError::invalid("data", format!("training sources: {e}")))?;
    Ok(RegData {
        source_name: source_name.into(),
        radiograph,
        train,
        val,
        test,
        pair_cfg,
    })
}
