//! Reading one serde document (a round, a policy, an auction's rules) as JSON or TOML: by the
//! label's extension (`.json`, `.toml`), else the format the document usually comes in.

use std::io::Read;

use serde::de::DeserializeOwned;

use crate::FormatError;
use crate::round::Input;

#[derive(Clone, Copy)]
pub(crate) enum Format {
    Json,
    Toml,
}

pub(crate) fn read<T: DeserializeOwned>(
    input: Input<impl Read>,
    usual: Format,
) -> Result<T, FormatError> {
    let Input { label, mut reader } = input;
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| FormatError::file(&label, format!("cannot be read: {e}")))?;
    let format = if label.ends_with(".json") {
        Format::Json
    } else if label.ends_with(".toml") {
        Format::Toml
    } else {
        usual
    };
    match format {
        Format::Json => {
            serde_json::from_str(&text).map_err(|e| FormatError::file(&label, e.to_string()))
        }
        Format::Toml => toml::from_str(&text).map_err(|e| FormatError::file(&label, e.to_string())),
    }
}
