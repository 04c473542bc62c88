//! Priority reallocation of freed capacity by the optimizer crate's rules
//! (`rule = "optimizer"`), with numbers checked by hand in
//! `examples/reallocation_optimizer.toml`.

use crate::{assert_close, example, run};
use scenarios::results::{RunResult, YearResult};
use scenarios::{Scenario, ScenarioError};

fn firm_index(result: &RunResult, id: &str) -> usize {
    result
        .firms
        .iter()
        .position(|f| f.id == id)
        .unwrap_or_else(|| panic!("no firm {id}"))
}

/// A firm's reallocated tonnes in year index `t`.
fn reallocated(result: &RunResult, id: &str, t: usize) -> f64 {
    result.firm_years[firm_index(result, id) * result.years.len() + t].reallocated_t
}

fn record<'a>(
    result: &'a RunResult,
    year: i32,
    id: &str,
) -> &'a scenarios::allocation::ReallocationRecord {
    result
        .reallocation
        .iter()
        .find(|r| r.year == year && r.firm == id)
        .unwrap_or_else(|| panic!("no reallocation record for {id} in {year}"))
}

/// Every tonne of the cap is allocated free, reallocated, retired or offered at auction.
fn assert_cap_conserved(row: &YearResult) {
    assert_close!(
        row.free_t + row.reallocated_t + row.reallocation_retired_t + row.auction_offered_t,
        row.cap_t
    );
}

#[test]
fn tier_one_is_served_first_and_an_excluded_firm_gets_nothing() {
    let result = run(&example("reallocation_optimizer.toml"));
    assert!(result.solver.reallocator.contains("optimizer"));
    assert!(result.solver.reallocator.contains("example-2026.1"));
    // 2026: nobody has closed, nothing is freed, nothing reallocated.
    let first = &result.market[0];
    assert_close!(first.freed_t, 0.0);
    assert_close!(first.reallocated_t, 0.0);
    assert!(result.reallocation.iter().all(|r| r.year == 2027));
    // 2027: the smelter's 75 t are freed; 15 t held back; 60 t available.
    let second = &result.market[1];
    assert_close!(second.freed_t, 75.0);
    assert_close!(reallocated(&result, "chip-fab", 1), 25.0);
    assert_close!(reallocated(&result, "workshop", 1), 17.5);
    assert_close!(reallocated(&result, "tannery", 1), 0.0);
    assert_close!(reallocated(&result, "old-smelter", 1), 0.0);
    assert_close!(second.reallocated_t, 42.5);
    // Workshop's replacement ratio of 2 draws 35 t for 17.5 t granted.
    assert_close!(second.reallocation_retired_t, 17.5);
    assert_close!(second.auction_offered_t, 15.0);
    for row in &result.market {
        assert_cap_conserved(row);
    }

    let chip = record(&result, 2027, "chip-fab");
    assert_eq!(chip.decision.tier.as_deref(), Some("1"));
    assert_eq!(chip.decision.status, "full");
    assert_close!(chip.requested_t, 25.0);
    let workshop = record(&result, 2027, "workshop");
    assert_eq!(workshop.decision.tier.as_deref(), Some("4"));
    assert_eq!(workshop.decision.status, "partial");
    assert_close!(workshop.requested_t, 75.0);
    assert_close!(workshop.decision.drawn_t, 35.0);
    let tannery = record(&result, 2027, "tannery");
    assert_eq!(tannery.decision.status, "excluded");
    assert_eq!(tannery.decision.tier, None);
    assert!(
        tannery
            .decision
            .reasons
            .iter()
            .any(|r| r.contains("credit_poor") && r.contains("grade poor is excluded")),
        "{:?}",
        tannery.decision.reasons
    );
    assert!(
        !result.reallocation.iter().any(|r| r.firm == "old-smelter"),
        "a closed firm does not apply"
    );
}

#[test]
fn scarce_capacity_goes_to_tier_one_before_tier_four() {
    // Holding back 70 % leaves 22.5 t: all of it to chip-fab (tier 1, need 25), none to
    // workshop (tier 4). The override reaches into the inline policy by dotted path.
    let scenario = example("reallocation_optimizer.toml")
        .with_overrides(&[("allocation.reallocation.policy.reserve_share".into(), 0.7)])
        .expect("valid override");
    let result = run(&scenario);
    assert_close!(reallocated(&result, "chip-fab", 1), 22.5);
    assert_close!(reallocated(&result, "workshop", 1), 0.0);
    assert_close!(result.market[1].reallocation_retired_t, 0.0);
    assert_close!(result.market[1].auction_offered_t, 75.0 - 22.5);
    assert_eq!(record(&result, 2027, "chip-fab").decision.status, "partial");
    assert_eq!(record(&result, 2027, "workshop").decision.status, "none");
    assert_cap_conserved(&result.market[1]);
}

#[test]
fn tiered_and_optimizer_rules_differ_only_in_who_gets_the_capacity() {
    // The same firms under the built-in tiered rule with one tier: pro rata to need
    // (chip-fab 25, workshop 75, tannery 75 of 75 t freed), nothing retired or held back.
    let scenario = example("reallocation_optimizer.toml");
    let mut spec = scenario.spec().clone();
    let realloc = spec
        .allocation
        .reallocation
        .as_mut()
        .expect("reallocation block");
    realloc.rule = scenarios::spec::ReallocationRuleKind::Tiered;
    realloc.policy = None;
    realloc.tiers = vec!["all".into()];
    spec.sectors = vec![scenarios::spec::SectorSpec {
        name: "all".into(),
        tier: Some("all".into()),
        tags: Vec::new(),
        benchmark_t_per_unit: None,
        baseline_scale: 1.0,
        mac_scale: 1.0,
    }];
    let result = run(&Scenario::from_spec(spec, None).expect("valid"));
    assert_eq!(result.solver.reallocator, "tiered-pro-rata");
    assert_close!(reallocated(&result, "chip-fab", 1), 75.0 * 25.0 / 175.0);
    assert_close!(reallocated(&result, "tannery", 1), 75.0 * 75.0 / 175.0);
    assert_close!(result.market[1].reallocation_retired_t, 0.0);
    assert_close!(result.market[1].auction_offered_t, 0.0);
    assert_eq!(
        record(&result, 2027, "tannery").decision.tier.as_deref(),
        Some("all")
    );
}

#[test]
fn the_chongqing_policy_file_ranks_excludes_and_retires() {
    let scenario = example("reallocation_chongqing.toml");
    let result = run(&scenario);
    assert!(result.solver.reallocator.contains("chongqing-2020-r1"));
    let t = result
        .years
        .iter()
        .position(|y| *y == 2029)
        .expect("2029 is a model year");
    let row = &result.market[t];
    assert!(row.freed_t > 0.0, "{row:?}");
    assert!(row.reallocated_t > 0.0);
    // Airshed cq-main's ratio of 1.5 retires a third of what its firms draw.
    assert!(row.reallocation_retired_t > 0.0);
    assert_cap_conserved(row);
    assert_eq!(
        record(&result, 2029, "chip-fab").decision.tier.as_deref(),
        Some("1")
    );
    assert_eq!(
        record(&result, 2029, "ev-battery").decision.tier.as_deref(),
        Some("2")
    );
    assert_eq!(
        record(&result, 2029, "cement-works")
            .decision
            .tier
            .as_deref(),
        Some("5")
    );
    for (id, rule) in [
        ("chem-plant", "river_distance"),
        ("steel-mill", "approval_freeze"),
    ] {
        let excluded = record(&result, 2029, id);
        assert_eq!(excluded.decision.status, "excluded", "{id}");
        assert!(
            excluded
                .decision
                .reasons
                .iter()
                .any(|r| r.starts_with(rule)),
            "{id}: {:?}",
            excluded.decision.reasons
        );
        assert_close!(reallocated(&result, id, t), 0.0);
    }
    let chip = record(&result, 2029, "chip-fab");
    assert_close!(chip.decision.drawn_t, 1.5 * chip.granted_t);
    // The policy file's bytes are part of the scenario's identity.
    assert_eq!(scenario.content_hash().len(), 64);
}

#[test]
fn policies_are_validated_on_load_and_files_only_from_files() {
    let text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/reallocation_optimizer.toml"),
    )
    .expect("example");
    let error_of = |text: &str| {
        Scenario::from_toml_str(text, None)
            .expect_err("must be rejected")
            .to_string()
    };
    // Inline policies are fine in text (the HTTP API); a tier beyond 5 is not.
    Scenario::from_toml_str(&text, None).expect("inline policy is allowed in text");
    let message = error_of(&text.replace("tier = 1\n", "tier = 9\n"));
    assert!(
        message.contains("allocation.reallocation.policy") && message.contains('9'),
        "{message}"
    );
    let message = error_of(&text.replace("reserve_share = \"0.2\"", "reserve_share = \"1.5\""));
    assert!(message.contains("reserve_share"), "{message}");
    // A policy rule naming another pollutant than the scenario's.
    let message =
        error_of(&text.replace("ratio = \"2\"\n", "ratio = \"2\"\npollutant = \"SO2\"\n"));
    assert!(message.contains("SO2"), "{message}");
    let message = error_of(&text.replace("rule = \"optimizer\"", "rule = \"tiered\""));
    assert!(message.contains("allocation.reallocation"), "{message}");
    let message = error_of(&text.replace(
        "recipient_cap_share = 1.0",
        "recipient_cap_share = 1.0\ntiers = [\"a\"]",
    ));
    assert!(
        message.contains("allocation.reallocation.tiers"),
        "{message}"
    );
    let message = error_of(&text.replace("scale = 3", "scale = 12"));
    assert!(
        message.contains("allocation.reallocation.scale"),
        "{message}"
    );
    let message = error_of(&text.replace(
        "applicant = { credit = \"poor\" }",
        "applicant = { credit = \"dubious\" }",
    ));
    assert!(message.contains("dubious"), "{message}");
    // A policy file may not be read for a scenario given as text.
    let with_file = r#"
schema_version = 1
name = "file"
years = { start = 2026, end = 2026 }
[cap]
by_year = 10.0
[allocation.reallocation]
rule = "optimizer"
policy_file = "../../data/policies/chongqing-2020-r1.toml"
[[firms]]
id = "a"
baseline_t = 20.0
mac = { type = "linear", intercept = 0.0, slope = 1.0 }
"#;
    let error = Scenario::from_toml_str(with_file, None).expect_err("refused");
    assert!(
        matches!(error, ScenarioError::Invalid { ref key, .. } if key == "allocation.reallocation.policy_file"),
        "{error}"
    );
}

#[test]
fn the_text_entry_point_runs_the_optimizer_rule() {
    let text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/reallocation_optimizer.toml"),
    )
    .expect("example");
    // The HTTP API passes default options: the file's rule still applies.
    let (_, result) =
        scenarios::run_text(&text, scenarios::TextFormat::Toml, &Default::default()).expect("runs");
    assert_close!(result.market[1].reallocation_retired_t, 17.5);
    let body = serde_json::to_value(&result).expect("serialises");
    assert_eq!(body["reallocation"][0]["year"], 2027);
    assert!(body["reallocation"][0]["status"].is_string());
}

mod properties {
    use proptest::prelude::*;
    use scenarios::{RunOptions, Scenario};

    /// Firms: (baseline, closing year offset or none, tier-1 tag, poor credit).
    fn scenario_text(firms: &[(f64, Option<i32>, bool, bool)], reserve: f64, ratio: f64) -> String {
        let mut text = format!(
            "schema_version = 1\nname = \"prop-realloc\"\nyears = {{ start = 2026, end = 2030 }}\n\
             [cap]\nbase_t = {}\nlinear_reduction_factor = 0.03\n\
             [allocation]\nauction_share = 0.2\n\
             [allocation.reallocation]\nrule = \"optimizer\"\nscale = 2\n\
             [allocation.reallocation.policy]\nversion = \"prop\"\nreserve_share = \"{reserve:.2}\"\ndefault_tier = 4\n\
             [[allocation.reallocation.policy.tiers]]\ntier = 1\nany_tags = [\"major_project\"]\ncitation = \"c\"\n\
             [allocation.reallocation.policy.eligibility.credit_poor]\ncitation = \"poor\"\n\
             [[allocation.reallocation.policy.replacement_ratios]]\nratio = \"{ratio}\"\ncitation = \"r\"\n\
             [price_controls]\nceiling = 500.0\n",
            0.9 * firms.iter().map(|f| f.0).sum::<f64>()
        );
        for (index, (baseline, closes, major, poor)) in firms.iter().enumerate() {
            let baseline_t = match closes {
                Some(offset) => format!("{{ 2026 = {baseline}, {} = 0.0 }}", 2027 + offset),
                None => format!("{{ 2026 = {baseline}, 2028 = {} }}", baseline * 1.3),
            };
            text.push_str(&format!(
                "[[firms]]\nid = \"f{index}\"\nbaseline_t = {baseline_t}\n\
                 mac = {{ type = \"linear\", intercept = 1.0, slope = 0.5 }}\n"
            ));
            if *major {
                text.push_str("tags = [\"major_project\"]\n");
            }
            if *poor {
                text.push_str("applicant = { credit = \"poor\" }\n");
            }
        }
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Under the optimizer rule every run conserves allowances every year (the run
        /// checks it and fails otherwise), grants never exceed requests, excluded firms get
        /// nothing, and tier 4 gets capacity only once every tier-1 request is full.
        #[test]
        fn optimizer_reallocation_conserves_and_respects_priority(
            firms in prop::collection::vec(
                (5.0f64..100.0, prop::option::of(0i32..4), any::<bool>(), prop::bool::weighted(0.2)),
                2..9,
            ),
            reserve in 0.0f64..0.5,
            ratio in prop::sample::select(vec![1.0, 1.5, 2.0]),
        ) {
            let scenario = Scenario::from_toml_str(&scenario_text(&firms, reserve, ratio), None)
                .expect("generated scenarios are valid");
            let result = scenario.run(&RunOptions::default()).expect("feasible with a ceiling");
            for row in &result.market {
                let allocated = row.free_t + row.reallocated_t + row.reallocation_retired_t
                    + row.auction_offered_t;
                prop_assert!((allocated - row.cap_t).abs() <= 1e-6 * row.cap_t.max(1.0));
                prop_assert!(row.reallocated_t + row.reallocation_retired_t <= row.freed_t + 1e-9);
                let records: Vec<_> = result.reallocation.iter().filter(|r| r.year == row.year).collect();
                let granted: f64 = records.iter().map(|r| r.granted_t).sum();
                prop_assert!((granted - row.reallocated_t).abs() <= 1e-6);
                for record in &records {
                    prop_assert!(record.granted_t <= record.requested_t + 1e-9);
                    if record.decision.status == "excluded" {
                        prop_assert_eq!(record.granted_t, 0.0);
                    }
                }
                let in_tier = |name: &'static str| {
                    records.iter().filter(move |r| r.decision.tier.as_deref() == Some(name))
                };
                if in_tier("4").any(|r| r.granted_t > 0.0) {
                    // Needs below one ledger unit (0.01 t) are not requested.
                    prop_assert!(
                        in_tier("1").all(|r| r.decision.status == "full" || r.requested_t < 0.01),
                        "{}: tier 4 served before tier 1 was full: {:?}", row.year, records
                    );
                }
            }
        }
    }
}
