//! The published validation cases P1-P3 (shared/validation/README.md), to 1e-6 relative.

use crate::{assert_close, example, run};

#[test]
fn p1_two_firms_linear_macs() {
    let result = run(&example("p1_two_firms_linear.toml"));
    let year = &result.market[0];
    assert_close!(year.price, 2.0);
    let (firm1, firm2) = (&result.firm_years[0], &result.firm_years[1]);
    assert_close!(firm1.abatement_t, 40.0);
    assert_close!(firm2.abatement_t, 20.0);
    assert_close!(firm1.emissions_t, 10.0);
    assert_close!(firm2.emissions_t, 50.0);
    // Firm 1 sells 20 permits to firm 2, worth 40 at the price.
    assert_close!(firm1.net_purchase_t, -20.0);
    assert_close!(firm2.net_purchase_t, 20.0);
    assert_close!(-firm1.allowance_cost, 40.0);
    assert_close!(result.totals.abatement_cost, 60.0);
    assert_close!(result.totals.cac_abatement_cost, 90.0);
    assert_close!(result.totals.cost_savings, 30.0);
    // Firm 1's abatement cost rises by 30, firm 2's falls by 60.
    assert_close!(firm1.abatement_cost - firm1.cac_abatement_cost, 30.0);
    assert_close!(firm2.abatement_cost - firm2.cac_abatement_cost, -60.0);
    assert_eq!(
        result.totals.winners_vs_cac, 2,
        "trading leaves both firms better off"
    );
}

#[test]
fn p2_step_curves_report_the_price_interval() {
    let result = run(&example("p2_step_curves.toml"));
    let year = &result.market[0];
    assert_close!(result.firm_years[0].abatement_t, 80.0);
    assert_close!(result.firm_years[1].abatement_t, 20.0);
    assert_close!(year.price, 80.0);
    assert_close!(year.price_low, 80.0);
    assert_close!(year.price_high, 90.0);
    assert_eq!(result.solver.price_interval_years, vec![2026]);
    // Without trading each firm abates 50: step costs (10+..+50)·10 and (70+..+110)·10.
    assert_close!(result.totals.cac_abatement_cost, 1500.0 + 4500.0);
    assert_close!(result.totals.abatement_cost, 3600.0 + 1500.0);
}

#[test]
fn p2_other_price_picks_keep_the_allocation() {
    let base = example("p2_step_curves.toml");
    for (pick, price) in [("upper", 90.0), ("midpoint", 85.0)] {
        let mut spec = base.spec().clone();
        spec.solver.price_pick = serde_json::from_value(serde_json::json!(pick)).expect("pick");
        let scenario = scenarios::Scenario::from_spec(spec, None).expect("valid");
        let result = run(&scenario);
        assert_close!(result.market[0].price, price);
        assert_close!(result.firm_years[0].abatement_t, 80.0);
        assert_close!(result.firm_years[1].abatement_t, 20.0);
    }
}

#[test]
fn p3_banking_and_borrowing_follow_hotelling() {
    let result = run(&example("p3_banking_hotelling.toml"));
    let e0 = 1070.0 / 207.0;
    assert_close!(result.market[0].emissions_t, e0);
    assert_close!(result.market[1].emissions_t, 10.0 - e0);
    assert_close!(result.market[0].price, 10.0 - e0);
    assert_close!(result.market[1].price, e0);
    assert_close!(result.market[1].price / result.market[0].price, 1.07);
    assert_close!(result.market[1].bank_t, 0.0);
}

#[test]
fn p3_banking_only_banks_the_difference() {
    let result = run(&example("p3_banking_only.toml"));
    let e0 = 1070.0 / 207.0;
    assert_close!(result.market[0].emissions_t, e0);
    assert_close!(result.market[1].emissions_t, 10.0 - e0);
    assert_close!(result.market[0].bank_t, 10.0 - e0);
    assert_close!(result.market[1].price, 1.07 * result.market[0].price);
}
