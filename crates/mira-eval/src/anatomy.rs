//! Loading real anatomy for the phantoms: the MNI ICBM152 2009a template (T1 and tissue labels).

use std::path::Path;

use mira_data::BrainAnatomy;
use mira_io::read_nifti;

use crate::{EvalError, Result};

/// Where `../shared/data` keeps the template.
pub const DEFAULT_MNI_DIR: &str = "../shared/data/mni_icbm152_2009a_sym";
const T1_FILE: &str = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz";
const LABEL_FILE: &str = "derived_tissue_labels_argmax.nii.gz";

/// Checks that `dir` holds the template files.
pub(crate) fn check_mni_dir(dir: &Path) -> Result<()> {
    for f in [T1_FILE, LABEL_FILE] {
        if !dir.join(f).is_file() {
            return Err(EvalError::invalid(
                "data.anatomy_dir",
                format!(
                    "{} not found: `brain_mr_mni` needs the MNI152 template of ../shared/data \
                     (set data.anatomy_dir to its folder)",
                    dir.join(f).display()
                ),
            ));
        }
    }
    Ok(())
}

/// Reads the template T1 and its tissue labels (0 background, 1 CSF, 2 GM, 3 WM) from `dir`.
///
/// # Errors
/// Missing or unreadable files, volumes that are not 3D RAS of equal size, or labels outside
/// 0..=3.
pub fn load_mni(dir: &Path) -> Result<BrainAnatomy> {
    check_mni_dir(dir)?;
    let read = |f: &str| {
        let path = dir.join(f);
        let (v, info) =
            read_nifti(&path).map_err(|e| EvalError::invalid("data.anatomy_dir", e.to_string()))?;
        if v.dims.len() != 3 || info.orientation != "RAS" {
            return Err(EvalError::invalid(
                "data.anatomy_dir",
                format!(
                    "{}: expected a 3D RAS volume, got dims {:?} oriented {}",
                    path.display(),
                    v.dims,
                    info.orientation
                ),
            ));
        }
        Ok(v)
    };
    let (t1, labels) = (read(T1_FILE)?, read(LABEL_FILE)?);
    if t1.dims != labels.dims {
        return Err(EvalError::invalid(
            "data.anatomy_dir",
            format!(
                "T1 dims {:?} differ from label dims {:?}",
                t1.dims, labels.dims
            ),
        ));
    }
    let labels: Vec<u8> = labels
        .data
        .iter()
        .map(|&l| {
            (l.fract() == 0.0 && (0.0..=3.0).contains(&l))
                .then_some(l as u8)
                .ok_or_else(|| {
                    EvalError::invalid(
                        "data.anatomy_dir",
                        format!("{LABEL_FILE}: label {l} is not in 0..=3"),
                    )
                })
        })
        .collect::<Result<_>>()?;
    let dims = [t1.dims[0], t1.dims[1], t1.dims[2]];
    Ok(BrainAnatomy::new(dims, labels, t1.data)?)
}
