//! Reading one CSV table with a known set of columns: the header (case-insensitive, any order),
//! unknown and missing columns refused up front, and typed fields whose errors name the line and
//! the column. Parsing CSV itself is the `csv` crate's.

use std::io::Read;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, IntoDeserializer, value::StrDeserializer};

use crate::FormatError;

pub(crate) struct Table<R: Read> {
    file: String,
    reader: csv::Reader<R>,
    columns: Vec<String>,
}

impl<R: Read> Table<R> {
    /// Reads the header of `reader`; `file` labels every error.
    pub(crate) fn open(file: &str, reader: R) -> Result<Self, FormatError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(reader);
        let csv_error = |source| FormatError::Csv {
            file: file.to_owned(),
            source,
        };
        let columns: Vec<String> = reader
            .headers()
            .map_err(csv_error)?
            .iter()
            .map(str::to_lowercase)
            .collect();
        if columns.iter().all(String::is_empty) {
            return Err(FormatError::file(
                file,
                "empty file: a header row is required",
            ));
        }
        if let Some(twice) = columns
            .iter()
            .enumerate()
            .find(|(i, c)| columns[..*i].contains(c))
        {
            return Err(FormatError::file(
                file,
                format!("column `{}` appears twice", twice.1),
            ));
        }
        Ok(Table {
            file: file.to_owned(),
            reader,
            columns,
        })
    }

    pub(crate) fn file(&self) -> &str {
        &self.file
    }

    pub(crate) fn columns(&self) -> &[String] {
        &self.columns
    }

    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The first of `names` present (aliases of one column), or an error naming them.
    pub(crate) fn require(&self, names: &[&str]) -> Result<usize, FormatError> {
        names.iter().find_map(|n| self.column(n)).ok_or_else(|| {
            FormatError::file(&self.file, format!("column `{}` is required", names[0]))
        })
    }

    /// Refuses a column `known` does not accept; `listing` tells the reader what is accepted.
    pub(crate) fn refuse_unknown(
        &self,
        known: impl Fn(&str) -> bool,
        listing: &str,
    ) -> Result<(), FormatError> {
        match self.columns.iter().find(|c| !known(c)) {
            Some(unknown) => Err(FormatError::file(
                &self.file,
                format!("unknown column `{unknown}`; known: {listing}"),
            )),
            None => Ok(()),
        }
    }

    /// Calls `each` with every data row, in order.
    pub(crate) fn rows(
        &mut self,
        mut each: impl FnMut(&Row<'_>) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        let mut record = csv::StringRecord::new();
        loop {
            let more = self
                .reader
                .read_record(&mut record)
                .map_err(|source| FormatError::Csv {
                    file: self.file.clone(),
                    source,
                })?;
            if !more {
                return Ok(());
            }
            if record.iter().all(str::is_empty) {
                continue;
            }
            let line = record.position().map_or(0, csv::Position::line);
            each(&Row {
                file: &self.file,
                line,
                record: &record,
                columns: &self.columns,
            })?;
        }
    }
}

/// One data row: typed access to its fields by column index.
pub(crate) struct Row<'a> {
    file: &'a str,
    line: u64,
    record: &'a csv::StringRecord,
    columns: &'a [String],
}

impl Row<'_> {
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    pub(crate) fn error(&self, column: usize, reason: impl Into<String>) -> FormatError {
        FormatError::Field {
            file: self.file.to_owned(),
            line: self.line,
            column: self.columns[column].clone(),
            reason: reason.into(),
        }
    }

    /// The field, trimmed; empty when the row is short (the csv crate refuses ragged rows).
    pub(crate) fn text(&self, column: usize) -> &str {
        self.record.get(column).unwrap_or("")
    }

    pub(crate) fn text_at(&self, column: Option<usize>) -> Option<&str> {
        column.map(|c| self.text(c)).filter(|t| !t.is_empty())
    }

    pub(crate) fn required(&self, column: usize) -> Result<&str, FormatError> {
        match self.text(column) {
            "" => Err(self.error(column, "is empty")),
            text => Ok(text),
        }
    }

    /// An exact decimal (`12.345`); exponents and thousands separators are refused.
    pub(crate) fn decimal(&self, column: usize) -> Result<Option<Decimal>, FormatError> {
        match self.text(column) {
            "" => Ok(None),
            text => Decimal::from_str_exact(text)
                .map(Some)
                .map_err(|_| self.error(column, format!("`{text}` is not a decimal number"))),
        }
    }

    /// A decimal with at most `scale` places (trailing zeros aside): more is refused, not
    /// rounded.
    pub(crate) fn decimal_at_scale(
        &self,
        column: usize,
        scale: u32,
    ) -> Result<Option<Decimal>, FormatError> {
        let value = self.decimal(column)?;
        match value {
            Some(d) if d.normalize().scale() > scale => Err(self.error(
                column,
                format!(
                    "`{}` has more than {scale} decimal places (the pollutant's scale); more is refused, not rounded",
                    self.text(column)
                ),
            )),
            _ => Ok(value),
        }
    }

    pub(crate) fn parsed<T: FromStr>(
        &self,
        column: usize,
        what: &str,
    ) -> Result<Option<T>, FormatError> {
        match self.text(column) {
            "" => Ok(None),
            text => text
                .parse()
                .map(Some)
                .map_err(|_| self.error(column, format!("`{text}` is not {what}"))),
        }
    }

    /// A value of a serde enum by its snake_case name (`key_control`, `warning`), so the file
    /// accepts exactly the names the JSON formats use.
    pub(crate) fn named<T: DeserializeOwned>(
        &self,
        column: usize,
        names: &str,
    ) -> Result<Option<T>, FormatError> {
        match self.text(column) {
            "" => Ok(None),
            text => {
                let de: StrDeserializer<'_, serde::de::value::Error> = text.into_deserializer();
                T::deserialize(de)
                    .map(Some)
                    .map_err(|_| self.error(column, format!("`{text}` is not one of {names}")))
            }
        }
    }
}
