//! The published validation cases P1-P3 (shared/validation/README.md), embedded so that
//! `ets scenario validate --cases` reproduces them anywhere, without the examples folder.

use crate::error::Result;
use crate::results::RunResult;
use crate::run::RunOptions;
use crate::scenario::Scenario;
use serde::Serialize;

/// Relative tolerance of the analytic cases.
pub const TOLERANCE_RELATIVE: f64 = 1e-6;

/// One checked quantity.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub case: &'static str,
    pub quantity: &'static str,
    pub expected: f64,
    pub actual: f64,
    pub passed: bool,
}

type Expectation = (&'static str, f64, fn(&RunResult) -> f64);

fn firm(result: &RunResult, index: usize) -> &crate::results::FirmYear {
    &result.firm_years[index]
}

const E0: f64 = 1070.0 / 207.0;

fn cases() -> Vec<(&'static str, &'static str, Vec<Expectation>)> {
    vec![
        (
            "P1",
            include_str!("../examples/p1_two_firms_linear.toml"),
            vec![
                ("price", 2.0, |r| r.market[0].price),
                ("firm1 abatement", 40.0, |r| firm(r, 0).abatement_t),
                ("firm2 abatement", 20.0, |r| firm(r, 1).abatement_t),
                ("firm1 sales", 20.0, |r| -firm(r, 0).net_purchase_t),
                ("abatement cost with trading", 60.0, |r| {
                    r.totals.abatement_cost
                }),
                ("abatement cost without trading", 90.0, |r| {
                    r.totals.cac_abatement_cost
                }),
                ("firm1 abatement cost change", 30.0, |r| {
                    firm(r, 0).abatement_cost - firm(r, 0).cac_abatement_cost
                }),
                ("firm2 abatement cost change", -60.0, |r| {
                    firm(r, 1).abatement_cost - firm(r, 1).cac_abatement_cost
                }),
            ],
        ),
        (
            "P2",
            include_str!("../examples/p2_step_curves.toml"),
            vec![
                ("firm1 abatement", 80.0, |r| firm(r, 0).abatement_t),
                ("firm2 abatement", 20.0, |r| firm(r, 1).abatement_t),
                ("price (lower end picked)", 80.0, |r| r.market[0].price),
                ("price interval low", 80.0, |r| r.market[0].price_low),
                ("price interval high", 90.0, |r| r.market[0].price_high),
            ],
        ),
        (
            "P3 borrowing",
            include_str!("../examples/p3_banking_hotelling.toml"),
            vec![
                ("e0", E0, |r| r.market[0].emissions_t),
                ("e1", 10.0 - E0, |r| r.market[1].emissions_t),
                ("p0", 10.0 - E0, |r| r.market[0].price),
                ("p1", E0, |r| r.market[1].price),
            ],
        ),
        (
            "P3 banking only",
            include_str!("../examples/p3_banking_only.toml"),
            vec![
                ("e0", E0, |r| r.market[0].emissions_t),
                ("e1", 10.0 - E0, |r| r.market[1].emissions_t),
                ("bank after period 0", 10.0 - E0, |r| r.market[0].bank_t),
                ("p1 / p0", 1.07, |r| r.market[1].price / r.market[0].price),
            ],
        ),
    ]
}

/// Runs every case and returns each check.
pub fn run_published_cases() -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for (case, text, expectations) in cases() {
        let result = Scenario::from_toml_str(text, None)?.run(&RunOptions::default())?;
        for (quantity, expected, measure) in expectations {
            let actual = measure(&result);
            let passed = (actual - expected).abs() <= TOLERANCE_RELATIVE * expected.abs().max(1.0);
            checks.push(Check {
                case,
                quantity,
                expected,
                actual,
                passed,
            });
        }
    }
    Ok(checks)
}
