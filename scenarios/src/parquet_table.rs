//! The long table as Parquet (`--format parquet`): the same rows, columns and numbers (rounded
//! as the CSV's cells are) as `results_long.csv`, typed (`year` INT32, `value` DOUBLE, the tags
//! UTF-8 strings), one row group, Snappy-compressed. pandas (`read_parquet`), polars, R's arrow
//! and DuckDB read it.

use std::io::Write;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int32Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::numbers::cell_value;
use crate::output::for_each_long_row;
use crate::results::RunResult;

const SCHEMA: &str = "message results_long {
    REQUIRED BYTE_ARRAY scenario (UTF8);
    REQUIRED BYTE_ARRAY run_id (UTF8);
    REQUIRED INT32 year;
    REQUIRED BYTE_ARRAY region (UTF8);
    REQUIRED BYTE_ARRAY sector (UTF8);
    REQUIRED BYTE_ARRAY entity (UTF8);
    REQUIRED BYTE_ARRAY variable (UTF8);
    REQUIRED BYTE_ARRAY unit (UTF8);
    REQUIRED DOUBLE value;
}";

/// The long table's columns, filled run by run.
#[derive(Default)]
struct Columns {
    /// scenario, run_id, region, sector, entity, variable, unit (in the schema's order).
    text: [Vec<ByteArray>; 7],
    year: Vec<i32>,
    value: Vec<f64>,
}

impl Columns {
    fn add(&mut self, result: &RunResult, run_id: &str) {
        let scenario = ByteArray::from(result.scenario.as_str());
        let run = ByteArray::from(run_id);
        // Collecting into memory cannot fail; the closure's io::Result is the CSV writer's.
        let _ = for_each_long_row(result, |row, variable, unit, value| {
            let tags = [row.region, row.sector, row.entity, variable, unit];
            self.text[0].push(scenario.clone());
            self.text[1].push(run.clone());
            for (column, tag) in self.text[2..].iter_mut().zip(tags) {
                column.push(ByteArray::from(tag));
            }
            self.year.push(row.year);
            self.value.push(cell_value(value));
            Ok(())
        });
    }
}

/// Writes the long table of `runs` (each with its run id) as Parquet to `out`.
pub fn write_long_parquet(
    out: impl Write + Send,
    runs: &[(&RunResult, &str)],
) -> Result<(), ParquetError> {
    let mut columns = Columns::default();
    for (result, run_id) in runs {
        columns.add(result, run_id);
    }
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = SerializedFileWriter::new(out, schema, Arc::new(properties))?;
    let mut group = writer.next_row_group()?;
    let mut index = 0;
    let [scenario, run_id, region, sector, entity, variable, unit] = &columns.text;
    let order = [scenario, run_id, region, sector, entity, variable, unit];
    while let Some(mut column) = group.next_column()? {
        match index {
            2 => column
                .typed::<Int32Type>()
                .write_batch(&columns.year, None, None)?,
            8 => column
                .typed::<DoubleType>()
                .write_batch(&columns.value, None, None)?,
            i => {
                let text = order[if i < 2 { i } else { i - 1 }];
                column
                    .typed::<ByteArrayType>()
                    .write_batch(text, None, None)?
            }
        };
        column.close()?;
        index += 1;
    }
    group.close()?;
    writer.close()?;
    Ok(())
}
