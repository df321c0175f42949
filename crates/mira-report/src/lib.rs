//! Records and what is built from them.
//!
//! The runner writes one [`SegRecord`] per (model, attack, ε, case) as a JSON line; everything
//! here reads those records only, so any run can be summarised again without models or data.

mod age_format;
mod age_record;
mod compare;
mod compare_format;
mod html;
mod page;
mod perceptibility;
mod plots;
mod record;
mod reg_html;
mod reg_record;
mod reg_summary;
mod shape_html;
mod shape_record;
mod summary;
mod synth_html;
mod synth_record;

pub use age_format::{AgeReportInput, age_csv, age_markdown, render_age_html};
pub use age_record::{AgeComparison, AgeRecord, AgeSummaryRow, compare_age, summarise_age};
pub use compare::{ComparisonRow, DefenceRow, ModelGroup, compare};
pub use compare_format::{comparison_csv, comparison_markdown, defence_csv};
pub use html::{ReportInput, TextTable, render_html};
pub use page::{PageInput, render_page};
pub use perceptibility::{Perceived, PerceptRow, Perceptibility, perceptibility_table};
pub use plots::{Chart, Curve, curves_svg, dice_curve_svg, hd95_curve_svg};
pub use record::{CellRecord, Hd95, Lesion, SegRecord, read_jsonl, read_records};
pub use reg_html::{RegReportInput, render_reg_html};
pub use reg_record::RegRecord;
pub use reg_summary::{
    AbruptCase, RegSummaryRow, abrupt_csv, first_failures, non_monotone, reg_csv, reg_markdown,
    summarise_reg,
};
pub use shape_html::{ShapePage, render_shape_html};
pub use shape_record::{ShapeRecord, ShapeSummaryRow, roc_auc, shape_markdown, summarise_shape};
pub use summary::{SummaryRow, summarise, to_csv, to_markdown};
pub use synth_html::{SynthReportInput, render_synth_html};
pub use synth_record::{
    SynthRecord, SynthSummaryRow, TransferDrop, summarise_synth, synth_markdown,
};

/// Errors from reading records or writing reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The report template failed to render (a bug).
    #[error("report template: {0}")]
    Template(String),
    /// A record line is malformed.
    #[error("{path}:{line}: malformed record: {reason}")]
    Malformed {
        path: String,
        line: usize,
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, ReportError>;
