//! One hand-checkable round per rule of issue 3.

use optimizer::{
    Allocation, ApplicationResult, Area, Constraint, CreditGrade, Error, Objective, RegionalCap,
    ReplacementRule, ShareLimit, Status, ZoneType, allocate,
};
use rust_decimal::Decimal;

use crate::fixture::{app, d, pool, round, with_value};

fn get<'a>(a: &'a Allocation, id: &str) -> &'a ApplicationResult {
    a.applications
        .iter()
        .find(|r| r.id == id)
        .expect("application in result")
}

fn granted(a: &Allocation, id: &str, pollutant: &str) -> Decimal {
    get(a, id)
        .grants
        .iter()
        .find(|g| g.pollutant == pollutant)
        .map_or(Decimal::ZERO, |g| g.granted)
}

fn cod_pool(q: &str) -> Vec<optimizer::Pool> {
    vec![pool("P-COD-B1", "COD", Some("B1"), &[("R1", q)])]
}

#[test]
fn strict_priority_serves_higher_tier_first_whatever_the_value() {
    let r = round(
        vec![
            with_value(app("low", &[], &[("COD", "50")]), "1000000"),
            with_value(app("high", &["major_strategic"], &[("COD", "80")]), "1"),
        ],
        cod_pool("100"),
    );
    let a = allocate(&r).unwrap();
    assert_eq!(get(&a, "high").tier, Some(1));
    assert_eq!(get(&a, "high").status, Status::Full);
    assert_eq!(granted(&a, "high", "COD"), d("80"));
    assert_eq!(granted(&a, "low", "COD"), d("20"));
    assert_eq!(get(&a, "low").status, Status::Partial);
    assert_eq!(
        get(&a, "low").binding[0].constraint,
        Constraint::Pool {
            pool: "P-COD-B1".into()
        }
    );
}

#[test]
fn value_added_per_tonne_decides_within_a_tier_and_prices_the_pool() {
    let r = round(
        vec![
            with_value(app("dense", &[], &[("COD", "50")]), "1000"),
            with_value(app("sparse", &[], &[("COD", "100")]), "500"),
        ],
        cod_pool("100"),
    );
    let a = allocate(&r).unwrap();
    assert_eq!(granted(&a, "dense", "COD"), d("50"));
    assert_eq!(granted(&a, "sparse", "COD"), d("50"));
    // One more tonne goes to `sparse`: 500 CNY over 100 t = 5 CNY/t (plus a 1e-3 weight floor).
    let price = a.pools[0].shadow_price.clone().expect("pool is binding");
    assert_eq!(price.tier, 4);
    assert!((price.value - 5.0).abs() < 1e-3, "{price:?}");
    // It holds while `sparse` stays fractional: capacity between 50 and 150 t.
    assert!(price.range_known);
    // Non-degenerate: one price, the same both ways.
    assert!(!price.interval, "{price:?}");
    assert!((price.value_up.unwrap() - 5.0).abs() < 1e-3, "{price:?}");
    assert!((price.value_down.unwrap() - 5.0).abs() < 1e-3, "{price:?}");
    assert!((price.range_low.unwrap() - 50.0).abs() < 1e-6, "{price:?}");
    assert!(
        (price.range_high.unwrap() - 150.0).abs() < 1e-6,
        "{price:?}"
    );
    assert_eq!(a.pools[0].left, Decimal::ZERO);
}

/// A pool filled exactly by whole projects sits on a kink of the tier's optimum: its price is an
/// interval. One more tonne goes to `extra` (60 CNY over 60 t = 1 CNY/t) until it is full at
/// 160 t; the last tonne is taken from `sparse` (500 CNY over 50 t = 10 CNY/t) down to 50 t.
#[test]
fn degenerate_pool_price_is_an_interval() {
    let r = round(
        vec![
            with_value(app("dense", &[], &[("COD", "50")]), "1000"),
            with_value(app("sparse", &[], &[("COD", "50")]), "500"),
            with_value(app("extra", &[], &[("COD", "60")]), "60"),
        ],
        cod_pool("100"),
    );
    let a = allocate(&r).unwrap();
    assert_eq!(granted(&a, "dense", "COD"), d("50"));
    assert_eq!(granted(&a, "sparse", "COD"), d("50"));
    assert_eq!(granted(&a, "extra", "COD"), d("0"));
    let price = a.pools[0].shadow_price.clone().expect("priced");
    assert_eq!(price.tier, 4);
    assert!(price.interval, "{price:?}");
    let (up, down) = (price.value_up.unwrap(), price.value_down.unwrap());
    assert!((up - 1.0).abs() < 1e-3, "{price:?}");
    assert!((down - 10.0).abs() < 1e-3, "{price:?}");
    assert!(
        up - 1e-9 <= price.value && price.value <= down + 1e-9,
        "{price:?}"
    );
    assert!(price.range_known);
    assert!((price.range_low.unwrap() - 50.0).abs() < 1e-6, "{price:?}");
    assert!(
        (price.range_high.unwrap() - 160.0).abs() < 1e-6,
        "{price:?}"
    );
}

/// Filled exactly with nobody left wanting more: one more tonne is worth 0, the last one
/// 500 CNY / 50 t = 10 CNY/t (the least valuable tonne in use).
#[test]
fn exactly_filled_pool_is_worth_nothing_more_but_its_last_tonne() {
    let r = round(
        vec![
            with_value(app("dense", &[], &[("COD", "50")]), "1000"),
            with_value(app("sparse", &[], &[("COD", "50")]), "500"),
        ],
        cod_pool("100"),
    );
    let a = allocate(&r).unwrap();
    let price = a.pools[0].shadow_price.clone().expect("priced");
    assert!(price.interval, "{price:?}");
    assert!(price.value_up.unwrap().abs() < 1e-9, "{price:?}");
    assert!((price.value_down.unwrap() - 10.0).abs() < 1e-3, "{price:?}");
    assert!((price.range_low.unwrap() - 50.0).abs() < 1e-6, "{price:?}");
    assert_eq!(price.range_high, None, "{price:?}");
}

/// A pool with room to spare is worth 0, from what it gave out up to any size.
#[test]
fn slack_pool_price_is_zero_down_to_its_usage() {
    let r = round(
        vec![with_value(app("only", &[], &[("COD", "50")]), "1000")],
        cod_pool("200"),
    );
    let a = allocate(&r).unwrap();
    assert_eq!(granted(&a, "only", "COD"), d("50"));
    let price = a.pools[0]
        .shadow_price
        .clone()
        .expect("slack pools are priced at 0");
    assert_eq!(price.value, 0.0);
    assert_eq!(price.value_up, Some(0.0));
    assert_eq!(price.value_down, Some(0.0));
    assert!(!price.interval && price.range_known, "{price:?}");
    assert_eq!(price.range_low, Some(50.0));
    assert_eq!(price.range_high, None);
}

fn excluded_by(a: &Allocation, id: &str, rule: &str) {
    let r = get(a, id);
    assert_eq!(r.status, Status::Excluded, "{id}");
    assert!(
        r.exclusions
            .iter()
            .any(|h| h.rule == rule && !h.citation.is_empty()),
        "{r:?}"
    );
    assert!(r.grants.iter().all(|g| g.granted.is_zero()));
}

#[test]
fn each_eligibility_rule_excludes_with_its_citation() {
    let mut protect = app("protect", &[], &[("COD", "1")]);
    protect.location.zone = ZoneType::PriorityProtection;
    let mut chem_near = app("chem-near", &["chemical"], &[("COD", "1")]);
    chem_near.location.river_distance_m = Some(800);
    let mut chem_far = app("chem-far", &["chemical"], &[("COD", "1")]);
    chem_far.location.river_distance_m = Some(1_200);
    let mut other_near = app("other-near", &["electronics"], &[("COD", "1")]);
    other_near.location.river_distance_m = Some(800);
    let mut park = app("park", &["new_industrial_park"], &[("COD", "1")]);
    park.location.river_distance_m = Some(4_000);
    let negative = app("negative", &["banned_smelting"], &[("COD", "1")]);
    let mut poor = app("poor", &[], &[("COD", "1")]);
    poor.credit = CreditGrade::Poor;
    let mut frozen = app("frozen", &[], &[("COD", "1")]);
    frozen.location.district = "D3".into();
    let r = round(
        vec![
            protect, chem_near, chem_far, other_near, park, negative, poor, frozen,
        ],
        cod_pool("100"),
    );
    let a = allocate(&r).unwrap();
    excluded_by(&a, "protect", "priority_protection");
    excluded_by(&a, "chem-near", "river_distance");
    excluded_by(&a, "park", "new_park_distance");
    excluded_by(&a, "negative", "negative_list:yangtze-2019");
    excluded_by(&a, "poor", "credit_poor");
    excluded_by(&a, "frozen", "approval_freeze");
    assert_eq!(get(&a, "chem-far").status, Status::Full);
    assert_eq!(get(&a, "other-near").status, Status::Full);
}

#[test]
fn credit_warning_moves_down_one_tier() {
    let mut warned = app("warned", &["major_strategic"], &[("COD", "60")]);
    warned.credit = CreditGrade::Warning;
    let peer = with_value(app("peer", &["high_tech"], &[("COD", "60")]), "1");
    let r = round(vec![warned, peer], cod_pool("100"));
    let a = allocate(&r).unwrap();
    assert_eq!(get(&a, "warned").tier, Some(2));
    assert_eq!(get(&a, "warned").notes[0].rule, "credit_warning_demotion");
    assert_eq!(get(&a, "peer").tier, Some(2));
    // Same tier now: value added decides (1000 vs 1 CNY).
    assert_eq!(granted(&a, "warned", "COD"), d("60"));
    assert_eq!(granted(&a, "peer", "COD"), d("40"));
}

#[test]
fn fixed_proportions_scale_the_whole_bundle() {
    let r = round(
        vec![app("bundle", &[], &[("COD", "10"), ("NH3N", "2")])],
        vec![
            pool("P-COD-B1", "COD", Some("B1"), &[("R1", "100")]),
            pool("P-NH3N-B1", "NH3N", Some("B1"), &[("R2", "1")]),
        ],
    );
    let a = allocate(&r).unwrap();
    assert_eq!(granted(&a, "bundle", "COD"), d("5"));
    assert_eq!(granted(&a, "bundle", "NH3N"), d("1"));
    let res = get(&a, "bundle");
    assert_eq!(res.status, Status::Partial);
    assert!((res.fill_rate - 0.5).abs() < 1e-12);
    assert_eq!(
        res.binding[0].constraint,
        Constraint::Pool {
            pool: "P-NH3N-B1".into()
        }
    );
}

#[test]
fn water_stays_in_its_basin_and_air_in_its_airshed() {
    let mut b2 = app("b2", &[], &[("COD", "1")]);
    b2.location.basin = "B2".into();
    let mut a2 = app("a2", &[], &[("SO2", "1")]);
    a2.location.airshed = "A2".into();
    let r = round(
        vec![b2, a2, app("b1", &[], &[("COD", "1"), ("SO2", "1")])],
        vec![
            pool("P-COD-B1", "COD", Some("B1"), &[("R1", "100")]),
            pool("P-SO2-A1", "SO2", Some("A1"), &[("R2", "100")]),
        ],
    );
    let a = allocate(&r).unwrap();
    assert_eq!(get(&a, "b1").status, Status::Full);
    for id in ["b2", "a2"] {
        let res = get(&a, id);
        assert_eq!(res.status, Status::None);
        assert!(
            matches!(res.binding[0].constraint, Constraint::MissingPool { .. }),
            "{res:?}"
        );
    }
}

#[test]
fn replacement_ratio_draws_more_than_it_grants() {
    let mut r = round(vec![app("x", &[], &[("COD", "30")])], cod_pool("30"));
    r.policy.replacement_ratios.push(ReplacementRule {
        pollutant: Some("COD".into()),
        scope: Some(Area::District("D1".into())),
        ratio: d("1.5"),
        citation: "倍量替代".into(),
    });
    let a = allocate(&r).unwrap();
    let g = &get(&a, "x").grants[0];
    assert_eq!(g.granted, d("20"));
    assert_eq!(g.drawn, d("30"));
    assert_eq!(a.pools[0].retired, d("10"));
    assert_eq!(a.pools[0].left, Decimal::ZERO);
}

#[test]
fn a_pool_split_three_ways_sums_to_the_pool_exactly() {
    let mut apps: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| app(id, &[], &[("COD", "100")]))
        .collect();
    for (k, a) in apps.iter_mut().enumerate() {
        a.filed_at_unix_s += k as i64;
    }
    let mut r = round(apps, cod_pool("100"));
    r.policy.objective = Objective::FillRateFairness;
    let a = allocate(&r).unwrap();
    assert_eq!(granted(&a, "a", "COD"), d("33.334"));
    assert_eq!(granted(&a, "b", "COD"), d("33.333"));
    assert_eq!(granted(&a, "c", "COD"), d("33.333"));
    let total: Decimal = a.flows.iter().map(|f| f.quantity).sum();
    assert_eq!(total, d("100"));
    assert_eq!(a.pools[0].left, Decimal::ZERO);
}

#[test]
fn regional_caps_with_transfer_coefficients() {
    let mut far = app("far", &[], &[("COD", "40")]);
    far.location.district = "D2".into();
    let mut r = round(
        vec![app("near", &[], &[("COD", "40")]), far],
        cod_pool("100"),
    );
    r.policy.caps.push(RegionalCap {
        id: "cap-D1-COD".into(),
        pollutant: "COD".into(),
        scope: Area::District("D1".into()),
        cap: d("30"),
        transfer_coefficients: [("D2".to_owned(), d("0.5"))].into(),
        citation: "区县总量控制".into(),
    });
    let a = allocate(&r).unwrap();
    let cap = &a.caps[0];
    assert!(cap.used <= d("30"), "{cap:?}");
    assert_eq!(cap.left, Decimal::ZERO);
    // near counts 1:1, far 0.5:1; 30 of cap: near 10 + far 40 × 0.5 = 30 maximises tonnage-neutral value.
    let near = granted(&a, "near", "COD");
    let far = granted(&a, "far", "COD");
    assert_eq!(near + far * d("0.5"), d("30"));
    assert!(get(&a, "near").binding.iter().any(|b| b.constraint
        == Constraint::Cap {
            cap: "cap-D1-COD".into()
        }));
}

#[test]
fn enterprise_share_limit() {
    let mut x = app("x1", &[], &[("COD", "80")]);
    x.enterprise = "E".into();
    let mut y = app("x2", &[], &[("COD", "80")]);
    y.enterprise = "E".into();
    let mut r = round(
        vec![x, y, app("other", &[], &[("COD", "80")])],
        cod_pool("100"),
    );
    r.policy.enterprise_share_max = Some(ShareLimit {
        share_max: d("0.4"),
        citation: "单一企业上限".into(),
    });
    let a = allocate(&r).unwrap();
    assert_eq!(granted(&a, "x1", "COD") + granted(&a, "x2", "COD"), d("40"));
    assert!(granted(&a, "other", "COD") <= d("40"));
}

#[test]
fn all_or_nothing_is_a_milp_and_reports_its_gap() {
    let mut big = with_value(app("big", &[], &[("COD", "60")]), "100");
    big.min_viable_share = Decimal::ONE;
    let mut s1 = with_value(app("s1", &[], &[("COD", "50")]), "70");
    s1.min_viable_share = Decimal::ONE;
    let mut s2 = with_value(app("s2", &[], &[("COD", "50")]), "70");
    s2.min_viable_share = Decimal::ONE;
    let a = allocate(&round(vec![big, s1, s2], cod_pool("100"))).unwrap();
    assert_eq!(granted(&a, "s1", "COD"), d("50"));
    assert_eq!(granted(&a, "s2", "COD"), d("50"));
    assert_eq!(get(&a, "big").status, Status::None);
    let tier = &a.tiers[3];
    assert!(tier.method.contains("milp"), "{tier:?}");
    assert!(tier.bound >= tier.objective);
    assert!(a.mip_gap < 1e-6, "{}", a.mip_gap);
}

#[test]
fn bad_input_lists_every_problem() {
    let mut bad = app("bad", &[], &[("COD", "-1"), ("PM25", "1")]);
    bad.location.district = "D9".into();
    bad.requests[0].unit = Some("kg/a".into());
    let mut r = round(
        vec![bad],
        vec![pool("P", "COD", Some("B1"), &[("R1", "-5")])],
    );
    r.policy.caps.push(RegionalCap {
        id: "c".into(),
        pollutant: "COD".into(),
        scope: Area::Basin("B7".into()),
        cap: d("1.23456"),
        transfer_coefficients: Default::default(),
        citation: String::new(),
    });
    let Err(Error::InvalidRound(problems)) = allocate(&r) else {
        panic!("expected InvalidRound")
    };
    let text = problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "unknown district `D9`",
        "negative quantity -1",
        "unknown pollutant `PM25`",
        "negative quantity -5",
        "unknown basin `B7`",
        "unit `kg/a`",
        "decimal places",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

#[test]
fn reserve_share_is_held_back() {
    let mut r = round(vec![app("x", &[], &[("COD", "100")])], cod_pool("100"));
    r.policy.reserve_share = d("0.05");
    let a = allocate(&r).unwrap();
    assert_eq!(a.pools[0].held_back, d("5"));
    assert_eq!(granted(&a, "x", "COD"), d("95"));
}

#[test]
fn provenance_names_the_reductions() {
    let r = round(
        vec![
            app("a", &["high_tech"], &[("COD", "60")]),
            app("b", &[], &[("COD", "60")]),
        ],
        vec![pool("P", "COD", Some("B1"), &[("R2", "50"), ("R1", "50")])],
    );
    let a = allocate(&r).unwrap();
    let flows: Vec<(String, String, Decimal)> = a
        .flows
        .iter()
        .map(|f| (f.reduction_id.clone(), f.application.clone(), f.quantity))
        .collect();
    assert_eq!(
        flows,
        vec![
            ("R1".into(), "a".into(), d("50")),
            ("R2".into(), "a".into(), d("10")),
            ("R2".into(), "b".into(), d("40")),
        ]
    );
}

#[test]
fn policy_loads_from_toml_and_json() {
    let text = toml::to_string(&crate::fixture::policy()).unwrap();
    let back: optimizer::Policy = toml::from_str(&text).unwrap();
    assert_eq!(back, crate::fixture::policy());
    let round = round(vec![app("x", &[], &[("COD", "1")])], cod_pool("1"));
    let json = serde_json::to_string(&round).unwrap();
    let back: optimizer::Round = serde_json::from_str(&json).unwrap();
    assert_eq!(back, round);
}

#[test]
fn readme_policy_example_parses() {
    let readme = include_str!("../../README.md");
    let start = readme.find("```toml\n").expect("toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("end of block");
    let policy: optimizer::Policy = toml::from_str(&readme[start..end]).unwrap();
    assert_eq!(policy.tiers[0].tier, 5);
    assert_eq!(policy.reserve_share, d("0.05"));
    assert_eq!(policy.caps[0].transfer_coefficients["D2"], d("0.5"));
    assert_eq!(
        policy.eligibility.river_distance.unwrap().distance_m_min,
        1_000
    );
}

/// Strict priority down to the weights: a very valuable lower-tier project must not change how a
/// higher tier splits a pool. Tier 1 alone: `b` (500 CNY/t) beats `a` (100 CNY/t) for the 5 t.
/// The weights' positive floor once came from the largest value added of the whole round, so a
/// tier-4 project worth 1e9 raised it to 1 000 per project and `a` (1 100 per t) overtook `b`.
#[test]
fn lower_tier_value_never_reorders_a_higher_tier() {
    let top = vec![
        with_value(app("a", &["major_strategic"], &[("COD", "1")]), "100"),
        with_value(app("b", &["major_strategic"], &[("COD", "10")]), "5000"),
    ];
    let alone = allocate(&round(top.clone(), cod_pool("5"))).unwrap();
    assert_eq!(granted(&alone, "b", "COD"), d("5"));
    assert_eq!(granted(&alone, "a", "COD"), d("0"));
    let mut all = top;
    all.push(with_value(app("rich", &[], &[("COD", "1")]), "1000000000"));
    let with_rich = allocate(&round(all, cod_pool("5"))).unwrap();
    for id in ["a", "b"] {
        assert_eq!(get(&with_rich, id).grants, get(&alone, id).grants, "{id}");
    }
}
