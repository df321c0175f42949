//! The slices of a disk-shape experiment: test slices with the full shape variation, and each
//! model's training and validation slices with its own.

use mira_data::{ShapeSample, SpinePhantomConfig};

use crate::Result;
use crate::run::mix;
use crate::tasks::shape::ShapeExperiment;

/// Pixels per unit of the point head's raw output.
pub(crate) const POINT_SCALE: f32 = 10.0;

fn phantom(exp: &ShapeExperiment, modes: usize) -> SpinePhantomConfig {
    SpinePhantomConfig {
        size: exp.data.size,
        modes,
        noise: exp.data.noise,
        bias: exp.data.bias,
    }
}

/// The training and validation slices of model `i` (its shape variation; the set depends on
/// (seed, modes) only, so models of the same variation share slices) and the test slices.
pub(crate) fn shape_splits(
    exp: &ShapeExperiment,
    i: usize,
) -> Result<(Vec<ShapeSample>, Vec<ShapeSample>)> {
    let m = &exp.models[i];
    let seed = mix(exp.seed, 0x5A9E + m.modes as u64);
    let n = m.train_slices.unwrap_or(exp.data.train_slices);
    let p = phantom(exp, m.modes);
    Ok((
        p.generate(seed, 0, n)?,
        p.generate(seed, 1_000_000, exp.data.val_slices)?,
    ))
}

/// The test slices of `exp`: full shape variation (10 modes), shared by every model.
///
/// # Errors
/// Invalid phantom settings.
pub fn shape_test_slices(exp: &ShapeExperiment) -> Result<Vec<ShapeSample>> {
    Ok(phantom(exp, mira_data::SHAPE_MODES).generate(
        mix(exp.seed, 0x7E57),
        0,
        exp.data.test_slices,
    )?)
}
