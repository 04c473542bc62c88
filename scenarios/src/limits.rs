//! Limits on everything a scenario can ask for, checked at load time and published in the README.

/// Most model years in one scenario.
pub const YEARS_MAX: usize = 200;
/// Most firms in one scenario (TOML and CSV together).
pub const FIRMS_MAX: usize = 1_000_000;
/// Most points or steps in one firm's MAC curve.
pub const CURVE_PIECES_MAX: usize = 10_000;
/// Most Monte Carlo draws in one run.
pub const DRAWS_MAX: u32 = 1_000_000;
/// Most runs in one sweep grid.
pub const SWEEP_RUNS_MAX: usize = 100_000;
/// Largest scenario text accepted from a string (the HTTP API's body limit should match).
pub const SCENARIO_BYTES_MAX: usize = 64 * 1024 * 1024;

const _: () = assert!(YEARS_MAX * FIRMS_MAX <= usize::MAX / 16);
