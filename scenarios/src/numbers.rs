//! Numbers as printed (stdout tables, CSV, JSON): never a negative zero.
//!
//! Floating-point sums can land on `-0.0`, or on dust like `-3e-14` that a fixed-precision
//! format prints as `-0.000`. A sign on a zero is noise to a reader, so every printer of
//! the crate goes through these helpers.

/// `value`, with `-0.0` turned into `0.0` (for `{}` formatting, which prints `-0`).
pub fn plain(value: f64) -> f64 {
    if value == 0.0 { 0.0 } else { value }
}

/// Decimal places of a float in a file meant for people (CSV cells).
pub const CELL_PLACES: usize = 6;

/// `value` as a CSV cell: at most [`CELL_PLACES`] decimals, no trailing zeros and no sign on a
/// zero, so a file shows `2` where the arithmetic left `1.9999999999999998`. Non-finite values
/// print as Rust does (`NaN`, `inf`).
pub fn cell(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = fixed(value, CELL_PLACES);
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    match trimmed {
        "" | "-" => "0".to_owned(),
        t => unsign_zero(t.to_owned()),
    }
}

/// The number a reader of a CSV cell gets back: `value` rounded as [`cell`] prints it, so a
/// typed table (Parquet) holds the same numbers as the CSV beside it.
pub fn cell_value(value: f64) -> f64 {
    cell(value).parse().unwrap_or(value)
}

/// `value` to `places` decimals; a value that rounds to zero prints without a sign.
pub fn fixed(value: f64, places: usize) -> String {
    unsign_zero(format!("{value:.places$}"))
}

/// Like [`fixed`] with an explicit sign (`+1.50`, `-2.00`); zero prints as `0.00`.
pub fn signed(value: f64, places: usize) -> String {
    let text = fixed(value, places);
    if is_zero_text(&text) || text.starts_with('-') {
        text
    } else {
        format!("+{text}")
    }
}

fn is_zero_text(text: &str) -> bool {
    text.chars().all(|c| matches!(c, '0' | '.' | '-' | '+'))
}

fn unsign_zero(text: String) -> String {
    match text.strip_prefix('-') {
        Some(rest) if is_zero_text(rest) => rest.to_string(),
        _ => text,
    }
}

/// Replaces every `-0.0` in a JSON value by `0.0`.
pub fn unsign_json_zeros(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(number) => {
            if number
                .as_f64()
                .is_some_and(|v| v == 0.0 && v.is_sign_negative())
                && let Some(zero) = serde_json::Number::from_f64(0.0)
            {
                *number = zero;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unsign_json_zeros),
        serde_json::Value::Object(map) => map.values_mut().for_each(unsign_json_zeros),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_print_without_a_sign() {
        assert_eq!(fixed(-0.0, 3), "0.000");
        assert_eq!(fixed(-3e-14, 3), "0.000");
        assert_eq!(fixed(-0.0004, 3), "0.000");
        assert_eq!(fixed(-0.0006, 3), "-0.001");
        assert_eq!(fixed(12.3456, 2), "12.35");
        assert_eq!(signed(-0.0, 2), "0.00");
        assert_eq!(signed(1e-9, 2), "0.00");
        assert_eq!(signed(1.5, 2), "+1.50");
        assert_eq!(signed(-1.5, 2), "-1.50");
        assert_eq!(format!("{}", plain(-0.0)), "0");
        assert_eq!(format!("{}", plain(-2.5)), "-2.5");
        let mut json = serde_json::json!({"a": -0.0, "b": [1.0, -0.0], "c": -1.0});
        unsign_json_zeros(&mut json);
        assert_eq!(
            serde_json::to_string(&json).expect("json"),
            r#"{"a":0.0,"b":[1.0,0.0],"c":-1.0}"#
        );
    }
}
