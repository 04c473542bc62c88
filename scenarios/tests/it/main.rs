//! Integration tests of the scenarios crate: one binary, one module per feature.

mod features;
mod invariants;
mod plots;
mod reallocation;
mod validation;

use scenarios::{RunOptions, RunResult, Scenario};
use std::path::PathBuf;

pub fn example(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    Scenario::from_path(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn run(scenario: &Scenario) -> RunResult {
    scenario
        .run(&RunOptions::default())
        .unwrap_or_else(|e| panic!("run: {e}"))
}

/// Relative closeness with an absolute floor for values near zero.
pub fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-6 * expected.abs().max(1.0)
}

#[macro_export]
macro_rules! assert_close {
    ($actual:expr, $expected:expr) => {{
        let (a, e) = ($actual, $expected);
        assert!(
            $crate::close(a, e),
            "{} = {a}, expected {e}",
            stringify!($actual)
        );
    }};
}
