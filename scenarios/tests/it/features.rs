//! Scenario features beyond the published cases: loading, errors, outputs, run modes.

use crate::{assert_close, example, run};
use scenarios::cli::{McArgs, RunArgs, ScenarioCommand, SweepArgs, ValidateArgs, run_cli};
use scenarios::compare::compare;
use scenarios::output::TableFormat;
use scenarios::{Scenario, ScenarioError};

fn error_of(text: &str) -> String {
    Scenario::from_toml_str(text, None)
        .expect_err("must be rejected")
        .to_string()
}

const MINIMAL: &str = r#"
schema_version = 1
name = "minimal"
years = { start = 2030, end = 2031 }
[cap]
by_year = 50.0
[[firms]]
id = "a"
baseline_t = 100.0
mac = { type = "linear", intercept = 0.0, slope = 1.0 }
"#;

#[test]
fn errors_name_the_key_and_the_reason() {
    let message = error_of(&MINIMAL.replace("slope = 1.0", "slope = -1.0"));
    assert!(
        message.contains("firms.a.mac.slope") && message.contains(">= 0"),
        "{message}"
    );
    let message = error_of(&MINIMAL.replace(
        "[cap]",
        "[cap]\nlinear_reduction_factor = 0.1\nbase_t = 3.0\nbase_year = 2030\n",
    ));
    assert!(message.contains("cap"), "{message}");
    let message = error_of(&MINIMAL.replace("name = \"minimal\"", "name = \"minimal\"\nbogus = 1"));
    assert!(message.contains("bogus"), "{message}");
    let message = error_of(&MINIMAL.replace("end = 2031", "end = 2020"));
    assert!(message.contains("years.end"), "{message}");
    let message = error_of(&MINIMAL.replace("[cap]", "[banking]\ndiscount_rate = 1.5\n[cap]"));
    assert!(message.contains("banking.discount_rate"), "{message}");
}

#[test]
fn every_example_loads() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 6);
}

#[test]
fn strings_may_not_reference_files() {
    let text = format!("{MINIMAL}\n[[firm_files]]\npath = \"/etc/passwd\"\n");
    let error = Scenario::from_toml_str(&text, None).expect_err("refused");
    assert!(
        matches!(error, ScenarioError::Invalid { ref key, .. } if key.starts_with("firm_files"))
    );
}

#[test]
fn json_and_toml_give_the_same_hash_and_result() {
    let from_toml = Scenario::from_toml_str(MINIMAL, None).expect("toml");
    let json = serde_json::to_string(from_toml.spec()).expect("json");
    let from_json = Scenario::from_json_str(&json, None).expect("json");
    assert_eq!(from_toml.content_hash(), from_json.content_hash());
    assert_eq!(run(&from_toml).prices(), run(&from_json).prices());
    assert_close!(run(&from_toml).market[0].price, 50.0);
}

#[test]
fn text_entry_point_runs_json_for_the_http_api() {
    let spec = Scenario::from_toml_str(MINIMAL, None)
        .expect("toml")
        .spec()
        .clone();
    let json = serde_json::to_string(&spec).expect("json");
    let (scenario, result) =
        scenarios::run_text(&json, scenarios::TextFormat::Json, &Default::default()).expect("runs");
    assert_eq!(scenario.content_hash().len(), 64);
    assert_close!(result.market[1].price, 50.0);
    let body = serde_json::to_value(&result).expect("serialises");
    assert!(body["market"][0]["price"].is_number());
}

#[test]
fn infeasible_caps_are_reported_not_hidden() {
    let text = MINIMAL.replace("slope = 1.0 }", "slope = 1.0, max_abatement_t = 10.0 }");
    let scenario = Scenario::from_toml_str(&text, None).expect("valid");
    let error = scenario.run(&Default::default()).expect_err("infeasible");
    assert!(
        matches!(error, ScenarioError::Infeasible { year: 2030, .. }),
        "{error}"
    );
}

#[test]
fn ceiling_floor_and_reserve_bind() {
    let ceiling = MINIMAL.replace("[cap]", "[price_controls]\nceiling = 20.0\n[cap]");
    let result = run(&Scenario::from_toml_str(&ceiling, None).expect("valid"));
    assert_close!(result.market[0].price, 20.0);
    assert_close!(result.market[0].ceiling_sales_t, 30.0);
    let floor = MINIMAL.replace("[cap]", "[price_controls]\nfloor = 70.0\n[cap]");
    let result = run(&Scenario::from_toml_str(&floor, None).expect("valid"));
    assert_close!(result.market[0].price, 70.0);
    assert_close!(result.market[0].floor_withdrawn_t, 20.0);
    // An auction reserve above the price leaves the auction unsold and the price at the reserve.
    let reserve = MINIMAL.replace(
        "[cap]",
        "[allocation]\nauction_share = 0.5\n[auction]\nreserve_price = 60.0\n[cap]",
    );
    let result = run(&Scenario::from_toml_str(&reserve, None).expect("valid"));
    assert_close!(result.market[0].price, 60.0);
    assert_close!(result.market[0].auction_sold_t, 15.0);
    assert_close!(result.market[0].auction_revenue, 900.0);
}

#[test]
fn policy_example_runs_with_every_section() {
    let scenario = example("policy.toml");
    assert_eq!(scenario.model().firms.len(), 26);
    let result = run(&scenario);
    assert!(result.market.iter().all(|y| y.price > 0.0));
    // Closure in 2030 frees capacity, reallocated by tier.
    let year_2030 = &result.market[4];
    assert!(
        year_2030.freed_t > 0.0 && year_2030.reallocated_t > 0.0,
        "{year_2030:?}"
    );
    // Where the bank is positive, prices rise at the discount rate.
    for pair in result.market.windows(2) {
        let growth = pair[1].price / pair[0].price;
        if pair[0].bank_t > 1e-6
            && pair[1].price < 400.0
            && pair[0].price > 10.0 * 1.05f64.powi(pair[0].year - 2026)
        {
            assert!(
                (growth - 1.05).abs() < 1e-6,
                "{} -> {}: growth {growth}",
                pair[0].year,
                pair[1].year
            );
        }
    }
    assert!(result.totals.cost_savings >= -1e-6);
    assert_eq!(result.sectors.len(), 3);
    assert_eq!(result.regions.len(), 2);
}

#[test]
fn compare_finds_winners_and_losers() {
    let scenario = run(&example("policy.toml"));
    let baseline = run(&example("policy_baseline.toml"));
    let comparison = compare(&scenario, &baseline);
    assert_eq!(comparison.firms.len(), 26);
    assert_eq!(comparison.unmatched_firms, 0);
    assert!(
        comparison.emissions_t_change < 0.0,
        "a tighter cap cuts emissions"
    );
    assert!(comparison.winners + comparison.losers > 0);
}

#[test]
fn cli_run_writes_tables_manifest_and_plots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/policy.toml");
    run_cli(ScenarioCommand::Run(RunArgs {
        scenario: scenario.clone(),
        out: dir.path().to_path_buf(),
        set: vec!["cap.linear_reduction_factor=0.03".into()],
        no_plots: false,
        format: vec![TableFormat::Csv, TableFormat::Parquet],
    }))
    .expect("run");
    for name in [
        "results_long.csv",
        "summary.json",
        "manifest.json",
        "plots/price_path.svg",
        "plots/price_path.png",
    ] {
        assert!(dir.path().join(name).exists(), "{name} missing");
    }
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("manifest.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(manifest["scenario_hash"].as_str().map(str::len), Some(64));
    assert!(
        manifest["threads"].as_u64().is_some_and(|t| t >= 1),
        "{manifest}"
    );
    assert_eq!(manifest["version"], "0.1.0");
    let csv = std::fs::read_to_string(dir.path().join("results_long.csv")).expect("csv");
    assert!(csv.starts_with("scenario,run_id,year,region,sector,entity,variable,unit,value"));
    assert!(csv.contains("policy,0,2026,all,all,market,price,CNY/t,"));
    assert_parquet_holds_the_csv(&dir.path().join("results_long.parquet"), &csv);
    assert_firm_years_match_the_long_table(&dir.path().join("firms_yearly.csv"), &csv);
    assert!(
        manifest["files"]
            .as_array()
            .is_some_and(|f| f.iter().any(|n| n == "results_long.parquet")),
        "{manifest}"
    );

    run_cli(ScenarioCommand::Sweep(SweepArgs {
        scenario: scenario.clone(),
        params: vec![
            "banking.discount_rate=0.03,0.05".into(),
            "cap.linear_reduction_factor=0.02:0.04:0.02".into(),
        ],
        out: dir.path().join("sweep"),
        threads: Some(2),
        no_plots: false,
        format: vec![TableFormat::Csv],
    }))
    .expect("sweep");
    let runs = std::fs::read_to_string(dir.path().join("sweep/sweep_runs.csv")).expect("runs");
    assert_eq!(runs.lines().count(), 5, "{runs}");

    run_cli(ScenarioCommand::Mc(McArgs {
        scenario,
        draws: Some(20),
        seed: Some(1),
        threads: Some(2),
        out: dir.path().join("mc"),
        no_plots: false,
    }))
    .expect("mc");
    assert!(dir.path().join("mc/plots/price_path.png").exists());
    run_cli(ScenarioCommand::Validate(ValidateArgs {
        files: vec![],
        cases: true,
    }))
    .expect("published cases");
}

#[test]
fn a_floor_under_banking_withdraws_only_what_the_bank_does_not_want() {
    let scenario = example("p3_banking_only.toml");
    let mut spec = scenario.spec().clone();
    spec.price_controls.floor = Some(6.0);
    let result = run(&Scenario::from_spec(spec, None).expect("valid"));
    let (first, second) = (&result.market[0], &result.market[1]);
    assert_close!(first.price, 6.0);
    assert_close!(second.price, 6.0 * 1.07);
    // Year 2 emits 10 - 6.42 = 3.58 with no cap of its own: the bank carries exactly that,
    // and the rest of year 1's surplus (6 - 3.58) is withdrawn at the floor.
    assert_close!(first.bank_t, 10.0 - 6.42);
    assert_close!(first.floor_withdrawn_t, 6.0 - (10.0 - 6.42));
    assert_close!(second.bank_t, 0.0);
}

#[test]
fn sweeps_record_infeasible_points_and_keep_grid_order() {
    use scenarios::sweep::{SweepAxis, run_sweep};
    let text = MINIMAL.replace("slope = 1.0 }", "slope = 1.0, max_abatement_t = 60.0 }");
    let scenario = Scenario::from_toml_str(&text, None).expect("valid");
    // Caps of 30 need 70 t of abatement: more than the 60 t potential.
    let axes = [SweepAxis::parse("cap.by_year=30,50,70").expect("axis")];
    let sweep = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(|| run_sweep(&scenario, &axes, None).expect("sweep"))
    };
    let runs = sweep(2);
    assert!(
        runs[0]
            .outcome
            .as_ref()
            .is_err_and(|e| e.contains("no market-clearing price"))
    );
    let prices: Vec<f64> = runs[1..]
        .iter()
        .map(|r| r.outcome.as_ref().expect("ok").market[0].price)
        .collect();
    assert_close!(prices[0], 50.0);
    assert_close!(prices[1], 30.0);
    let again: Vec<f64> = sweep(1)[1..]
        .iter()
        .map(|r| r.outcome.as_ref().expect("ok").market[0].price)
        .collect();
    assert_eq!(prices, again);
    assert!(
        run_sweep(
            &scenario,
            &[SweepAxis::parse("cap.nope.deeper=1").expect("axis")],
            None
        )
        .is_err()
    );
}

#[test]
fn floor_equal_to_ceiling_is_a_fixed_price_tax_mode() {
    let text = MINIMAL.replace(
        "[cap]",
        "[price_controls]\nfloor = 30.0\nceiling = 30.0\nescalation_rate = 0.1\n[cap]",
    );
    let result = run(&Scenario::from_toml_str(&text, None).expect("valid"));
    // MAC(a) = a: abatement equals the price; the cap of 50 is topped up at the fixed price.
    assert_close!(result.market[0].price, 30.0);
    assert_close!(result.market[0].abatement_t, 30.0);
    assert_close!(result.market[0].ceiling_sales_t, 20.0);
    assert_close!(result.market[1].price, 33.0);
    assert_close!(result.market[1].abatement_t, 33.0);
}

/// No printed number is a signed zero: values in the long CSV, the JSON summary and the
/// engine's empty banks.
#[test]
fn outputs_never_print_a_negative_zero() {
    // P3 with borrowing ends with an empty bank; MINIMAL has no banking at all.
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dir = tempfile::tempdir().expect("tempdir");
    let minimal = dir.path().join("minimal.toml");
    std::fs::write(&minimal, MINIMAL).expect("write");
    for (name, path) in [
        ("p3", examples.join("p3_banking_hotelling.toml")),
        ("minimal", minimal),
        ("realloc", examples.join("reallocation_optimizer.toml")),
    ] {
        let result = run(&Scenario::from_path(&path).expect("loads"));
        for row in &result.market {
            if row.bank_t == 0.0 {
                assert!(
                    row.bank_t.is_sign_positive(),
                    "{name} {}: -0 bank",
                    row.year
                );
            }
        }
        let out = dir.path().join(name);
        run_cli(ScenarioCommand::Run(RunArgs {
            scenario: path,
            out: out.clone(),
            set: vec![],
            no_plots: true,
            format: vec![TableFormat::Csv],
        }))
        .expect("run");
        let csv = std::fs::read_to_string(out.join("results_long.csv")).expect("csv");
        for line in csv.lines().skip(1) {
            let value = line.rsplit(',').next().expect("value column");
            let number: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            assert!(
                !(number == 0.0 && value.starts_with('-')),
                "{name}: signed zero in `{line}`"
            );
        }
        let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
        assert!(
            !summary.contains(": -0.0,") && !summary.contains(": -0.0\n"),
            "{name}"
        );
    }
    let p3 = run(&example("p3_banking_hotelling.toml"));
    assert_eq!(
        p3.market[1].bank_t, 0.0,
        "an exhausted bank is exactly zero"
    );
    assert_eq!(scenarios::numbers::fixed(-1e-13, 3), "0.000");
}

#[test]
fn cli_compare_writes_deltas_and_both_price_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    run_cli(ScenarioCommand::Compare(scenarios::cli::CompareArgs {
        scenario: examples.join("policy.toml"),
        baseline: examples.join("policy_baseline.toml"),
        out: dir.path().to_path_buf(),
        set: vec![],
        no_plots: false,
        format: vec![TableFormat::Csv],
    }))
    .expect("compare");
    for name in [
        "comparison.json",
        "results_long.csv",
        "manifest.json",
        "plots/price_comparison.svg",
        "plots/price_comparison.png",
        "plots/allocation_by_sector.png",
    ] {
        assert!(dir.path().join(name).exists(), "{name} missing");
    }
    let comparison: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("comparison.json")).expect("read"),
    )
    .expect("json");
    assert_eq!(comparison["baseline"], "policy-baseline");
    assert_eq!(comparison["sectors"].as_array().map(Vec::len), Some(3));
    assert_eq!(comparison["regions"].as_array().map(Vec::len), Some(2));
    let svg = std::fs::read_to_string(dir.path().join("plots/price_comparison.svg")).expect("svg");
    assert!(
        svg.contains("baseline: policy-baseline"),
        "legend names the baseline"
    );
}

/// A firm whose name holds a comma, quotes and Chinese stays in its field of the long table:
/// every row has the header's nine fields, and values carry no binary-float noise.
#[test]
fn long_csv_quotes_names_and_prints_plain_decimals() {
    let text = MINIMAL.replace("id = \"a\"", "id = \"重庆 \\\"Fuling\\\" Power, Unit 3\"");
    let (_, result) =
        scenarios::run_text(&text, scenarios::TextFormat::Toml, &Default::default()).expect("runs");
    let mut bytes = scenarios::output::LONG_HEADER.as_bytes().to_vec();
    bytes.push(b'\n');
    scenarios::output::write_long_rows(&mut bytes, &result, "0").expect("writes");
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let mut firm_rows = 0;
    for record in reader.records() {
        let record = record.expect("a well-formed row");
        assert_eq!(record.len(), 9, "{record:?}");
        if &record[5] == "重庆 \"Fuling\" Power, Unit 3" {
            firm_rows += 1;
        }
        let value = &record[8];
        assert!(
            value.split('.').nth(1).is_none_or(|d| d.len() <= 6),
            "{value}"
        );
    }
    assert!(firm_rows > 0, "the firm's rows carry its name");
}

/// The Parquet long table has the CSV's rows, in order, with the same tags and values.
fn assert_parquet_holds_the_csv(path: &std::path::Path, csv: &str) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    let reader =
        SerializedFileReader::new(std::fs::File::open(path).expect("parquet")).expect("read");
    let mut records = ::csv::Reader::from_reader(csv.as_bytes());
    let expected: Vec<::csv::StringRecord> = records.records().map(|r| r.expect("row")).collect();
    assert_eq!(
        reader.metadata().file_metadata().num_rows() as usize,
        expected.len()
    );
    let rows = reader.get_row_iter(None).expect("rows");
    for (row, want) in rows.zip(&expected) {
        let row = row.expect("row");
        for (column, index) in [(0, 0), (1, 1), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7)] {
            assert_eq!(row.get_string(column).expect("text"), &want[index]);
        }
        assert_eq!(
            row.get_int(2).expect("year").to_string(),
            want[2].to_string()
        );
        let value: f64 = want[8].parse().expect("value");
        assert_eq!(row.get_double(8).expect("value"), value, "{want:?}");
    }
}

/// `firms_yearly.csv` holds one row per firm and year, each cell equal to the long table's.
fn assert_firm_years_match_the_long_table(path: &std::path::Path, long: &str) {
    let mut long_values = std::collections::BTreeMap::new();
    for row in ::csv::Reader::from_reader(long.as_bytes()).records() {
        let row = row.expect("row");
        if !["market", "sector", "region"].contains(&&row[5]) {
            long_values.insert(
                (row[5].to_owned(), row[2].to_owned(), row[6].to_owned()),
                row[8].to_owned(),
            );
        }
    }
    let mut wide = ::csv::Reader::from_path(path).expect("firms_yearly.csv");
    let header = wide.headers().expect("header").clone();
    assert_eq!(
        &header.iter().take(5).collect::<Vec<_>>(),
        &["firm", "region", "sector", "year", "emissions"]
    );
    let mut cells = 0;
    for row in wide.records() {
        let row = row.expect("row");
        for (variable, value) in header.iter().zip(row.iter()).skip(4) {
            let key = (row[0].to_owned(), row[3].to_owned(), variable.to_owned());
            assert_eq!(
                long_values.get(&key).map(String::as_str),
                Some(value),
                "{key:?}"
            );
            cells += 1;
        }
    }
    assert_eq!(
        cells,
        long_values.len(),
        "every firm value of the long table is in a cell"
    );
}
