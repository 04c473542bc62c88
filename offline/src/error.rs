//! One error type for every file format of the offline tools: it names the file, the line and
//! the column, so a clerk can fix the input in one look.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FormatError {
    /// A field holds something its column does not accept.
    #[error("{file} line {line}, column `{column}`: {reason}")]
    Field {
        file: String,
        line: u64,
        column: String,
        reason: String,
    },
    /// A setting of a document (an auction's `reserve_price`) is not acceptable.
    #[error("{file}, setting `{field}`: {reason}")]
    Setting {
        file: String,
        field: String,
        reason: String,
    },
    /// The header, or the file as a whole, is wrong.
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    /// The CSV itself is malformed (unequal field counts, bad UTF-8, an unreadable stream).
    #[error("{file}: {source}")]
    Csv {
        file: String,
        #[source]
        source: csv::Error,
    },
    /// The input is well formed but the core refused it (every problem listed).
    #[error("{0}")]
    Refused(String),
}

impl FormatError {
    pub(crate) fn file(file: &str, reason: impl Into<String>) -> Self {
        FormatError::File {
            file: file.to_owned(),
            reason: reason.into(),
        }
    }
}
