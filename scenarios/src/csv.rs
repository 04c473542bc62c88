//! Firms from CSV, for sets too large to write as TOML tables.
//!
//! Columns (header required, any order): `id` and `baseline_t` (required); `sector`, `region`,
//! `intercept`, `slope`, `max_abatement_t`, `steps`, `output`, `free_t`, `tags` (optional;
//! `a;b` for several tags, used by optimizer reallocation policies), and
//! `baseline_t_<year>` columns (e.g. `baseline_t_2030`) for baselines that change by year:
//! they override `baseline_t` from that year on, like a year table in TOML.
//! A row is linear when `slope` is given, and a step table when `steps` holds
//! `quantity:cost` pairs separated by `;`. Fields are read by the `csv` crate: quoted fields
//! may hold commas and quotes (`"Fuling Power, Unit 3"`).

use crate::error::{Result, ScenarioError};
use crate::spec::{FirmSpec, MacSpec, Series, StepQuantity};
use std::path::Path;

/// Parses the CSV text of a firm file; `path` only labels errors.
pub fn parse_firms(text: &str, path: &Path) -> Result<Vec<FirmSpec>> {
    let error = |line: usize, reason: String| ScenarioError::Csv {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_error = |e: ::csv::Error| {
        let line = e.position().map_or(1, |p| p.line() as usize);
        error(line, e.to_string())
    };
    let header = reader.headers().map_err(csv_error)?.clone();
    if header.iter().all(str::is_empty) {
        return Err(error(1, "empty file: a header row is required".into()));
    }
    let columns: Vec<String> = header.iter().map(str::to_ascii_lowercase).collect();
    let find = |name: &str| columns.iter().position(|c| c == name);
    let known = [
        "id",
        "sector",
        "region",
        "baseline_t",
        "intercept",
        "slope",
        "max_abatement_t",
        "steps",
        "output",
        "free_t",
        "tags",
    ];
    let year_column = |c: &str| -> Option<String> {
        c.strip_prefix("baseline_t_")
            .filter(|y| y.len() == 4 && y.chars().all(|ch| ch.is_ascii_digit()))
            .map(str::to_string)
    };
    let year_columns: Vec<(usize, String)> = columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| year_column(c).map(|y| (i, y)))
        .collect();
    if let Some(unknown) = columns
        .iter()
        .find(|c| !known.contains(&c.as_str()) && year_column(c).is_none())
    {
        return Err(error(
            1,
            format!("unknown column `{unknown}`; known: {}", known.join(", ")),
        ));
    }
    let (Some(id_col), Some(baseline_col)) = (find("id"), find("baseline_t")) else {
        return Err(error(
            1,
            "columns `id` and `baseline_t` are required".into(),
        ));
    };
    let mut firms = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let line_number = record.position().map_or(0, |p| p.line() as usize);
        let fields: Vec<&str> = record.iter().collect();
        let text_at = |col: Option<usize>| col.map(|c| fields[c]).filter(|s| !s.is_empty());
        let number_at = |name: &str| -> Result<Option<f64>> {
            match text_at(find(name)) {
                None => Ok(None),
                Some(s) => s.parse::<f64>().map(Some).map_err(|_| {
                    error(
                        line_number,
                        format!("column `{name}`: `{s}` is not a number"),
                    )
                }),
            }
        };
        let id = fields[id_col].to_string();
        let baseline = number_at("baseline_t")?
            .ok_or_else(|| error(line_number, "column `baseline_t` is empty".into()))?;
        let _ = baseline_col;
        let mac = match (text_at(find("steps")), number_at("slope")?) {
            (Some(steps), None) => MacSpec::Steps {
                steps: parse_steps(steps).map_err(|reason| error(line_number, reason))?,
                quantity: StepQuantity::Tonnes,
            },
            (None, Some(slope)) => MacSpec::Linear {
                intercept: number_at("intercept")?.unwrap_or(0.0),
                slope,
                max_abatement_t: number_at("max_abatement_t")?,
            },
            (Some(_), Some(_)) => {
                return Err(error(
                    line_number,
                    "give either `slope` or `steps`, not both".into(),
                ));
            }
            (None, None) => {
                return Err(error(line_number, "a MAC needs `slope` or `steps`".into()));
            }
        };
        let mut by_year = std::collections::BTreeMap::new();
        for (column, year) in &year_columns {
            if let Some(text) = text_at(Some(*column)) {
                let value = text.parse::<f64>().map_err(|_| {
                    error(
                        line_number,
                        format!("column `baseline_t_{year}`: `{text}` is not a number"),
                    )
                })?;
                by_year.insert(year.clone(), value);
            }
        }
        let baseline_t = if by_year.is_empty() {
            Series::Constant(baseline)
        } else {
            // `baseline_t` holds from the first model year until the first year column.
            by_year.entry("0".into()).or_insert(baseline);
            Series::ByYear(by_year)
        };
        firms.push(FirmSpec {
            id,
            sector: text_at(find("sector")).unwrap_or("all").to_string(),
            region: text_at(find("region")).unwrap_or("all").to_string(),
            baseline_t,
            output: number_at("output")?.map(Series::Constant),
            free_t: number_at("free_t")?.map(Series::Constant),
            mac,
            tags: text_at(find("tags"))
                .map(|t| {
                    t.split(';')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            applicant: None,
        });
    }
    Ok(firms)
}

fn parse_steps(text: &str) -> std::result::Result<Vec<[f64; 2]>, String> {
    text.split(';')
        .map(|pair| {
            let (quantity, cost) = pair
                .split_once(':')
                .ok_or_else(|| format!("step `{pair}` is not `quantity:cost`"))?;
            let q = quantity
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("step quantity `{quantity}`"))?;
            let c = cost
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("step cost `{cost}`"))?;
            Ok([q, c])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_linear_and_step_rows() {
        let text = "id,sector,baseline_t,slope,steps,tags\na,power,10,0.5,,major_project\nb,steel,20,,5:10;5:20,\n";
        let firms = parse_firms(text, Path::new("f.csv")).expect("valid csv");
        assert_eq!(firms.len(), 2);
        assert_eq!(firms[0].tags, ["major_project"]);
        assert!(firms[1].tags.is_empty());
        assert!(matches!(firms[1].mac, MacSpec::Steps { ref steps, .. } if steps.len() == 2));
    }

    #[test]
    fn year_columns_make_a_baseline_path() {
        let text = "id,baseline_t,baseline_t_2030,slope\na,10,4,1\n";
        let firms = parse_firms(text, Path::new("f.csv")).expect("valid csv");
        let years = [2028, 2029, 2030, 2031];
        let path = crate::model::resolve_series("b", &firms[0].baseline_t, &years).expect("series");
        assert_eq!(path, vec![10.0, 10.0, 4.0, 4.0]);
    }

    #[test]
    fn quoted_fields_keep_commas_quotes_and_chinese() {
        let text = "id,sector,region,baseline_t,slope\n\"Fuling Power, Unit 3\",power,涪陵,10,0.5\n\"Jialing \"\"Green\"\"\",chemicals,渝北,5,1\n";
        let firms = parse_firms(text, Path::new("f.csv")).expect("valid csv");
        let ids: Vec<&str> = firms.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["Fuling Power, Unit 3", "Jialing \"Green\""]);
        assert_eq!(firms[0].region, "涪陵");
        let ragged = parse_firms("id,baseline_t,slope\na,1,1,9\n", Path::new("f.csv"));
        assert!(ragged.unwrap_err().to_string().contains("f.csv:2"));
    }

    #[test]
    fn names_line_and_column_on_error() {
        let text = "id,baseline_t,slope\na,ten,1\n";
        let message = parse_firms(text, Path::new("f.csv"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("f.csv:2") && message.contains("baseline_t"),
            "{message}"
        );
    }
}
