//! The data of a segmentation experiment: the S1 phantom, the same tumours on MNI152 anatomy,
//! or a user's folder of image/label pairs.

use mira_data::SegDataset;
use mira_nn::checkpoint;

use crate::anatomy::load_mni;
use crate::run::mix;
use crate::tasks::segmentation::folder::{SliceRef, folder_datasets};
use crate::tasks::segmentation::{DataSource, SegExperiment};
use crate::{EvalError, Result};

/// The three data splits; case `i` of each split depends only on `(seed, split, i)`. A folder
/// source also says where each test slice came from; volumes come with each test case's voxel
/// spacing (mm).
pub(crate) type Splits = (
    SegDataset,
    SegDataset,
    SegDataset,
    Option<Vec<SliceRef>>,
    Option<Vec<[f64; 3]>>,
);

/// The splits of `exp`.
///
/// # Errors
/// Unreadable folders or anatomy, slices the models cannot take.
pub(crate) fn datasets(exp: &SegExperiment) -> Result<Splits> {
    let p = &exp.data.phantom;
    let d = &exp.data;
    match (d.source, &d.folder) {
        (DataSource::Folder, Some(f)) => {
            let (train, val, test, refs) =
                folder_datasets(f, mix(exp.seed, 7), [d.train, d.val, d.test])?;
            check_sides(exp, &test)?;
            Ok((train, val, test, Some(refs), None))
        }
        (DataSource::Folder, None) => Err(EvalError::invalid("data.folder", "missing")),
        (DataSource::BrainMrPhantom, _) => Ok((
            p.generate(exp.seed, 0, d.train)?,
            p.generate(exp.seed, 1_000_000, d.val)?,
            p.generate(exp.seed, 2_000_000, d.test)?,
            None,
            None,
        )),
        (DataSource::BrainMrMni, _) => {
            let a = load_mni(&d.mni_dir())?;
            Ok((
                p.generate_on(&a, exp.seed, 0, d.train)?,
                p.generate_on(&a, exp.seed, 1_000_000, d.val)?,
                p.generate_on(&a, exp.seed, 2_000_000, d.test)?,
                None,
                None,
            ))
        }
        (DataSource::BrainMrMni3d, _) => {
            let a = load_mni(&d.mni_dir())?;
            let (train, _) = p.generate_volumes_on(&a, exp.seed, 0, d.train)?;
            let (val, _) = p.generate_volumes_on(&a, exp.seed, 1_000_000, d.val)?;
            let (test, spacing) = p.generate_volumes_on(&a, exp.seed, 2_000_000, d.test)?;
            Ok((train, val, test, None, Some(spacing)))
        }
    }
}

/// Folder slices have a size known only once read: every UNet must be able to halve it
/// `depth` times.
fn check_sides(exp: &SegExperiment, test: &SegDataset) -> Result<()> {
    let Some(s) = test.items.first() else {
        return Ok(());
    };
    for (i, m) in exp.models.iter().enumerate() {
        let depth = match &m.checkpoint {
            Some(c) => checkpoint::read_meta(c)?.unet.depth,
            None => m.depth.unwrap_or(3),
        };
        if !(s.height.is_multiple_of(1 << depth) && s.width.is_multiple_of(1 << depth)) {
            return Err(EvalError::invalid(
                format!("models[{i}]"),
                format!(
                    "slices of {}x{} cannot be halved {depth} times; set data.folder.size",
                    s.height, s.width
                ),
            ));
        }
    }
    Ok(())
}
