//! The structured solver (pruning, sifting) against the same model built naively through good_lp
//! and solved whole by HiGHS: per tier, the LP optima agree.

use optimizer::{Method, Objective, Options, allocate_with};
use proptest::prelude::*;

use crate::properties::{Shape, check_invariants, random_round};

/// Returns the methods our solver used per tier.
fn compare(seed: u64, applications: usize, structured: Options) -> Vec<String> {
    let shape = Shape {
        applications,
        min_shares: false,
        objective: Some(Objective::ValueAddedPerTonne),
    };
    let r = random_round(seed, &shape);
    let ours = allocate_with(&r, &structured).unwrap();
    let naive = allocate_with(
        &r,
        &Options {
            method: Method::NaiveGoodLp,
            ..Options::default()
        },
    )
    .unwrap();
    check_invariants(&r, &ours);
    check_invariants(&r, &naive);
    for (x, y) in ours.tiers.iter().zip(&naive.tiers) {
        let scale = x.objective.abs().max(y.objective.abs()).max(1.0);
        assert!(
            (x.objective - y.objective).abs() <= 1e-6 * scale,
            "seed {seed} tier {}: ours {} ({}) vs naive {} ({})",
            x.tier,
            x.objective,
            x.method,
            y.objective,
            y.method
        );
    }
    ours.tiers.iter().map(|t| t.method.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn direct_highs_matches_naive(seed in any::<u64>(), n in 1usize..30) {
        compare(seed, n, Options::default());

    }
}

#[test]
fn sifting_matches_naive_on_larger_tiers() {
    let mut methods = Vec::new();
    for seed in 0..6 {
        let options = Options {
            direct_columns_max: 50,
            sift_working_min: 20,
            ..Options::default()
        };
        methods.extend(compare(seed, 3_000, options));
    }
    assert!(
        methods.iter().any(|m| m.starts_with("sifting")),
        "{methods:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// With all-or-nothing projects both sides branch; on the first tier that needs a solver
    /// (same residuals on both sides) ours is never worse than naive beyond HiGHS's default gap.
    #[test]
    fn milp_is_never_worse_than_naive(seed in any::<u64>(), n in 1usize..25) {
        let shape = Shape {
            applications: n,
            min_shares: true,
            objective: Some(Objective::ValueAddedPerTonne),
        };
        let r = random_round(seed, &shape);
        let ours = allocate_with(&r, &Options::default()).unwrap();
        let naive_options = Options { method: Method::NaiveGoodLp, ..Options::default() };
        let naive = allocate_with(&r, &naive_options).unwrap();
        for (x, y) in ours.tiers.iter().zip(&naive.tiers) {
            let tolerance = 1e-4 * y.objective.abs().max(1.0);
            prop_assert!(x.objective >= y.objective - tolerance, "{:?} vs {:?}", x, y);
            if x.columns > 0 {
                break;
            }
        }
    }
}
