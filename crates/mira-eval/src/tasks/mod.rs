//! The tasks: each folder implements [`crate::run::Task`] for one kind of prediction problem
//! and brings its experiment section, data, models, cells, judge, checks and outputs.

pub mod brain_age;
pub mod files;
pub mod registration;
pub mod segmentation;
pub mod shape;
pub mod synthesis;
