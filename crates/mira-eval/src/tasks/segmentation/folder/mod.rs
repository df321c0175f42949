//! Segmentation on a user's folder of image/label pairs: the `[data.folder]` section
//! (`spec.rs`), volumes cut into slices and normalised (`volume.rs`), cases split by case
//! (`data.rs`) and the S1 phantom written in BraTS layout (`phantom.rs`); the files task
//! (`crate::tasks::files`) reads a user's files with the same readers.

mod axes;
mod data;
mod phantom;
mod spec;
mod volume;

pub use axes::VolumeAxes;
pub use data::{
    FolderCase, ReadCase, SliceRef, folder_datasets, read_case, read_labels, scan_cases,
    split_cases,
};
pub use phantom::{
    PHANTOM_FOLDER_CHANNELS, PHANTOM_FOLDER_LABEL_VALUES, PhantomFolderFormat,
    write_phantom_folder, write_volume_phantom_folder,
};
pub use spec::{FolderSpec, Normalise, SliceSelection};
pub use volume::{
    Channel3, channels_of, cut, fit, normalised, percentile, put, scale_of, slice_count,
    slice_item, slice_shape, unfit,
};
