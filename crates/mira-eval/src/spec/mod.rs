//! What the experiment files of every task share: parsing with the offending field and line
//! named, names, and attack entries (`attack.rs`).

mod attack;
mod corruption;
mod values;

pub use attack::{AttackKind, AttackScope};
pub(crate) use attack::{
    EntryAttack, HasAttack, attack_entry, check_early_stop, has_attack, min_norm_config,
};
pub use corruption::CorruptionEntry;
pub(crate) use corruption::{CorruptionPick, corruption_cells, validate_corruptions};
pub(crate) use values::{check_budgets, check_list, check_min_norm_reach, check_training};

use crate::{EvalError, Result};

/// An invalid-input error naming `field` (what `validate` methods return).
pub(crate) fn inv(field: impl Into<String>, reason: impl Into<String>) -> EvalError {
    EvalError::invalid(field, reason)
}

/// An experiment file parsed once: its syntax tree keeps the span of every key, so errors of
/// the typed parse name the offending field and its line.
pub(crate) struct Document<'a> {
    text: &'a str,
    file: &'a str,
    doc: toml_edit::ImDocument<String>,
}

impl<'a> Document<'a> {
    /// Parses TOML text; `file` names the source in messages.
    ///
    /// # Errors
    /// [`EvalError::Parse`] for a syntax error, with its line.
    pub(crate) fn parse(text: &'a str, file: &'a str) -> Result<Self> {
        let doc = toml_edit::ImDocument::parse(text.to_string()).map_err(|e| EvalError::Parse {
            file: file.into(),
            message: format!("{}{}", line_of(text, e.span()), e.message().trim()),
        })?;
        Ok(Self { text, file, doc })
    }

    /// The string value of a top-level key (`task`), if it is one.
    pub(crate) fn top_str(&self, key: &str) -> Option<(String, usize)> {
        let item = self.doc.get(key)?;
        let value = item.as_str()?.to_string();
        let line = item.span().map_or(1, |s| {
            self.text[..s.start.min(self.text.len())]
                .lines()
                .count()
                .max(1)
        });
        Some((value, line))
    }

    /// Deserialises the document into `T`, naming the offending field and its line on failure.
    ///
    /// # Errors
    /// [`EvalError::Parse`] with the path of the offending field and its line.
    pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        let (text, file) = (self.text, self.file);
        let de = toml_edit::de::Deserializer::from(self.doc);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let field = if path == "." {
                line_of(text, inner.span())
            } else {
                let at = inner.span().map_or(String::new(), |s| {
                    format!(
                        " (line {})",
                        text[..s.start.min(text.len())].lines().count().max(1)
                    )
                });
                format!("`{path}`{at}: ")
            };
            EvalError::Parse {
                file: file.into(),
                message: format!("{field}{}", inner.message().trim()),
            }
        })
    }
}

/// `line N: ` for a span of `text`, or nothing.
fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map_or(String::new(), |s| {
        format!(
            "line {}: ",
            text[..s.start.min(text.len())].lines().count().max(1)
        )
    })
}

/// Deserialises TOML text into `T`, naming the offending field and its line on failure.
///
/// # Errors
/// [`EvalError::Parse`] with the path of the offending field and its line.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T> {
    Document::parse(text, file)?.deserialize()
}

/// Makes `p` relative to `base` when it is relative (paths in a file are relative to its
/// folder).
pub(crate) fn relative_to(base: &std::path::Path, p: &mut std::path::PathBuf) {
    if p.is_relative() {
        *p = base.join(&*p);
    }
}

/// [`relative_to`] for every path of `paths`.
pub(crate) fn relative_all<'a>(
    base: &std::path::Path,
    paths: impl IntoIterator<Item = &'a mut std::path::PathBuf>,
) {
    for p in paths {
        relative_to(base, p);
    }
}

/// A name used in folders and tables: non-empty, without slashes.
pub(crate) fn check_name(field: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.contains(['/', '\\']) {
        return Err(EvalError::invalid(
            field,
            "must be a non-empty name without slashes",
        ));
    }
    Ok(())
}

/// Every name valid ([`check_name`]) and none repeated; fields are `{list}[i].name`.
pub(crate) fn check_unique_names(list: &str, names: &[&str]) -> Result<()> {
    for (i, name) in names.iter().enumerate() {
        let field = format!("{list}[{i}].name");
        check_name(&field, name)?;
        if names[..i].contains(name) {
            return Err(EvalError::invalid(
                field,
                format!("duplicate name `{name}`"),
            ));
        }
    }
    Ok(())
}
