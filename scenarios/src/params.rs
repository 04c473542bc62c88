//! Dotted parameter paths (`cap.linear_reduction_factor`, `sectors.steel.mac_scale`,
//! `firms.f1.mac.slope`, `cap.by_year.2030`) that sweeps, Monte Carlo and `--set` use
//! to override one scalar of a scenario file.
//!
//! Overrides are applied to the file's JSON form and the result is validated like any
//! file, so a typo in a path is caught either here (no such element) or by the schema's
//! unknown-key check.

use crate::error::{Result, ScenarioError};
use serde_json::Value;

/// Sets the scalar at `path` in `root` to `value`.
pub fn set_path(root: &mut Value, path: &str, value: f64) -> Result<()> {
    let error = |reason: String| ScenarioError::Parameter {
        path: path.to_string(),
        reason,
    };
    let number = serde_json::Number::from_f64(value)
        .ok_or_else(|| error(format!("{value} is not finite")))?;
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(error("empty path segment".into()));
    }
    let mut current = root;
    for (depth, segment) in segments.iter().enumerate() {
        let last = depth + 1 == segments.len();
        current = match current {
            Value::Object(map) => {
                if last {
                    // Integer keys (years, seeds, counts) stay integers so they deserialise.
                    let integer = map.get(*segment).is_some_and(|v| v.is_i64() || v.is_u64());
                    let replacement = if integer && value.fract() == 0.0 && value.abs() < 9.0e15 {
                        Value::Number(serde_json::Number::from(value as i64))
                    } else {
                        Value::Number(number)
                    };
                    map.insert((*segment).to_string(), replacement);
                    return Ok(());
                }
                // Missing tables are created so `price_controls.ceiling` works on a file
                // without the key; the schema check then rejects invented keys.
                map.entry((*segment).to_string())
                    .or_insert_with(|| Value::Object(Default::default()))
            }
            Value::Array(items) => {
                let found = items.iter().position(|item| {
                    ["name", "id"]
                        .iter()
                        .any(|k| item.get(k).and_then(Value::as_str) == Some(*segment))
                });
                let index = match found {
                    Some(i) => i,
                    None => segment
                        .parse::<usize>()
                        .ok()
                        .filter(|i| *i < items.len())
                        .ok_or_else(|| error(format!("no element named `{segment}`")))?,
                };
                if last {
                    items[index] = Value::Number(number);
                    return Ok(());
                }
                &mut items[index]
            }
            _ => return Err(error(format!("`{segment}` is below a scalar"))),
        };
    }
    Err(error("path names no scalar".into()))
}

/// Parses `path=value`.
pub fn parse_assignment(text: &str) -> Result<(String, f64)> {
    let (path, value) = text
        .split_once('=')
        .ok_or_else(|| ScenarioError::Parameter {
            path: text.to_string(),
            reason: "expected PATH=VALUE".into(),
        })?;
    let value = value
        .trim()
        .parse::<f64>()
        .map_err(|_| ScenarioError::Parameter {
            path: path.to_string(),
            reason: format!("`{value}` is not a number"),
        })?;
    Ok((path.trim().to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_nested_and_named_elements() {
        let mut value = serde_json::json!({"cap": {"base_t": 1.0}, "sectors": [{"name": "steel", "mac_scale": 1.0}]});
        set_path(&mut value, "cap.base_t", 2.0).expect("object path");
        set_path(&mut value, "sectors.steel.mac_scale", 3.0).expect("named element");
        assert_eq!(value["cap"]["base_t"], 2.0);
        assert_eq!(value["sectors"][0]["mac_scale"], 3.0);
        assert!(set_path(&mut value, "sectors.glass.mac_scale", 1.0).is_err());
        let mut years = serde_json::json!({"years": {"start": 2026, "end": 2030}});
        set_path(&mut years, "years.end", 2035.0).expect("integer key");
        assert_eq!(years["years"]["end"], serde_json::json!(2035));
    }
}
