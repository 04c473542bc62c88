//! `ets round solve` and `ets auction clear` as an economist runs them: real files in, real
//! files out, read back with the `csv` crate, no database and no server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;

use crate::{ets, text};

fn examples(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Every row of a CSV file as column → field.
fn rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).expect("open csv");
    let header = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            assert_eq!(
                r.len(),
                header.len(),
                "{}: a row has as many fields as the header",
                path.display()
            );
            header
                .iter()
                .map(str::to_owned)
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn decimal(text: &str) -> Decimal {
    if text.is_empty() {
        Decimal::ZERO
    } else {
        text.parse().expect("a decimal")
    }
}

fn solve(applications: &Path, pools: &Path, out: &Path) -> std::process::Output {
    let policy = examples("optimizer/examples/strict-priority.toml");
    ets(
        "sqlite://unused.db",
        &[
            "round",
            "solve",
            "--applications",
            applications.to_str().unwrap(),
            "--pools",
            pools.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    )
}

/// The peer's round (`shared/peers/realloc_instance.py 300 DIR 7`): our grants total what the
/// analyst's highspy script grants on the same files (2076.188 t with `simplex`; ours are
/// rounded down to whole kilograms, so up to a kilogram per partial grant lower), and every
/// pool's draws add up exactly to what pools.csv reports used.
#[test]
fn round_from_the_peer_files_grants_what_the_analyst_grants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let peer = examples("optimizer/examples/peer-300");
    let run = solve(
        &peer.join("applications.csv"),
        &peer.join("pools.csv"),
        &out,
    );
    assert!(run.status.success(), "{}", text(&run));
    let grants = rows(&out.join("grants.csv"));
    assert_eq!(grants.len(), 300);
    let pollutants = ["cod", "nh3n", "so2", "nox"];
    let total: Decimal = grants
        .iter()
        .flat_map(|g| pollutants.map(|p| decimal(&g[&format!("{p}_granted")])))
        .sum();
    let partial = grants.iter().filter(|g| g["status"] == "partial").count() as i64;
    let peer_total = Decimal::new(2_076_188, 3);
    assert!(
        total <= peer_total && peer_total - total <= Decimal::new(4 * partial, 3),
        "granted {total} t"
    );
    let mut drawn: BTreeMap<String, Decimal> = BTreeMap::new();
    let applications = rows(&peer.join("applications.csv"));
    let area: BTreeMap<&str, (&str, &str)> = applications
        .iter()
        .map(|a| {
            (
                a["id"].as_str(),
                (a["basin"].as_str(), a["airshed"].as_str()),
            )
        })
        .collect();
    for g in &grants {
        let (basin, airshed) = area[g["application"].as_str()];
        for p in pollutants {
            let region = if matches!(p, "cod" | "nh3n") {
                basin
            } else {
                airshed
            };
            *drawn.entry(format!("{p}.{region}")).or_default() +=
                decimal(&g[&format!("{p}_drawn")]);
        }
    }
    // Strict priority: a pool that stopped a higher tier gives nothing to a lower one (every
    // application here asks for all four pollutants, so it shares a pool only with a bundle).
    for g in grants
        .iter()
        .filter(|g| g["status"] == "full" || g["status"] == "partial")
    {
        let (basin, airshed) = area[g["application"].as_str()];
        let own = pollutants.map(|p| {
            if matches!(p, "cod" | "nh3n") {
                format!("pool:{p}.{basin}")
            } else {
                format!("pool:{p}.{airshed}")
            }
        });
        for higher in grants.iter().filter(|h| h["tier"] < g["tier"]) {
            let stopped = own.iter().any(|pool| {
                higher["binding"]
                    .split("; ")
                    .any(|b| b.split(' ').next() == Some(pool.as_str()))
            });
            assert!(
                !stopped,
                "{} (tier {}) drew from a pool that stopped {} (tier {})",
                g["application"], g["tier"], higher["application"], higher["tier"]
            );
        }
    }
    let pools = rows(&out.join("pools.csv"));
    assert_eq!(pools.len(), 26, "8 basins × 2 + 5 airsheds × 2 pools");
    for pool in &pools {
        assert_eq!(
            drawn[&pool["id"]],
            decimal(&pool["used"]),
            "pool {}",
            pool["id"]
        );
        assert_eq!(
            decimal(&pool["used"]) + decimal(&pool["left"]),
            decimal(&pool["available"])
        );
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["applications"], 300);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(
        manifest["inputs_sha256"].as_object().expect("hashes").len(),
        2
    );
    assert_eq!(manifest["threads"], 1);
    // Built from a git checkout (CI's clone, a developer's tree), the manifest names its commit.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if let Some(head) = head {
        assert_eq!(manifest["commit"], head.as_str(), "{manifest}");
    }
}

/// Commas, quotes and Chinese names survive the round trip; tiers come from the `tier` column.
#[test]
fn round_example_keeps_names_and_serves_tiers_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let run = solve(
        &examples("optimizer/examples/applications.csv"),
        &examples("optimizer/examples/pools.csv"),
        &out,
    );
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("5 applications (2 full, 3 partial)"),
        "{}",
        text(&run)
    );
    let grants = rows(&out.join("grants.csv"));
    let by_id: BTreeMap<&str, &BTreeMap<String, String>> = grants
        .iter()
        .map(|g| (g["application"].as_str(), g))
        .collect();
    assert_eq!(by_id["APP0001"]["enterprise"], "重庆长江新材料有限公司");
    assert_eq!(
        by_id["APP0002"]["enterprise"],
        "Jialing \"Green\" Pharma Co., Ltd."
    );
    assert_eq!(
        (
            by_id["APP0001"]["tier"].as_str(),
            by_id["APP0001"]["status"].as_str()
        ),
        ("1", "full")
    );
    assert_eq!(by_id["APP0005"]["status"], "full");
    // Tier 2 takes what tier 1 left of cod in B0: 8 - 6.5 = 1.5 t, and the bundle follows.
    assert_eq!(by_id["APP0002"]["cod_granted"], "1.500");
    assert_eq!(by_id["APP0002"]["fill_rate"], "0.375");
    assert!(by_id["APP0002"]["binding"].starts_with("pool:cod.B0 @ "));
    assert_eq!(
        by_id["APP0004"]["cod_requested"], "",
        "not requested: empty, not zero"
    );
}

/// Bad files get an error naming the file, line and column, exit 1, and no output folder.
#[test]
fn round_solve_refuses_bad_files_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pools = examples("optimizer/examples/pools.csv");
    let header = "id,enterprise,tier,district,basin,airshed,cod,value_added\n";
    let cases = [
        (
            "id,enterprise,district,basin,airshed,lead,value_added\nA,E,D,B0,A0,1,5\n",
            "unknown column `lead`",
        ),
        (
            &format!("{header}A,E,1,D,B0,A0,1.5e3,5\n"),
            "line 2, column `cod`: `1.5e3` is not a decimal",
        ),
        (
            &format!("{header}A,E,9,D,B0,A0,1,5\n"),
            "line 2, column `tier`: tier 9 is outside 1..=5",
        ),
        (
            &format!("{header}A,E,1,D,B0,A0,1.2345,5\n"),
            "line 2, column `cod`: `1.2345` has more than 3 decimal places",
        ),
        (
            &format!("{header}A,E,1,D,B0,A0,1,\n"),
            "line 2, column `value_added`: is empty",
        ),
        (
            &format!("{header}A,E,1,D,B0,A0,1,5,extra\n"),
            "found record with 9 fields",
        ),
    ];
    for (i, (csv, expected)) in cases.iter().enumerate() {
        let applications = dir.path().join(format!("applications-{i}.csv"));
        std::fs::write(&applications, csv).expect("write");
        let out = dir.path().join(format!("out-{i}"));
        let run = solve(&applications, &pools, &out);
        assert_eq!(run.status.code(), Some(1), "case {i}: {}", text(&run));
        assert!(
            text(&run).contains(expected),
            "case {i}: expected {expected:?} in {}",
            text(&run)
        );
        assert!(!out.exists(), "case {i}: nothing is written");
    }
}

/// The example auction: ties at the clearing price shared pro rata to capped quantities, the
/// leftover lot drawn from the seed, a bid below the reserve recorded unfilled.
#[test]
fn auction_clear_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let rules = examples("market/examples/auction-rules.toml");
    let bids = examples("market/examples/auction-bids.csv");
    let run = ets(
        "sqlite://unused.db",
        &[
            "auction",
            "clear",
            "--rules",
            rules.to_str().unwrap(),
            "--bids",
            bids.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("cleared at 58.00 CNY/t; sold 1000 of 1000 t"),
        "{}",
        text(&run)
    );
    let awards = rows(&out.join("awards.csv"));
    let got: Vec<(&str, &str, &str, &str)> = awards
        .iter()
        .map(|a| {
            (
                a["bid"].as_str(),
                a["bidder"].as_str(),
                a["awarded"].as_str(),
                a["status"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("b1", "重庆钢铁股份有限公司", "300", "filled"),
            ("b2", "Fuling Power, Unit 3", "400", "filled"),
            // 300 t left for 400 (capped) + 300 + 200 at 58.00: 133 + 100 + 66 and one drawn lot.
            ("b3", "Changshou Chemicals", "134", "partial"),
            ("b4", "Liangjiang Cement", "100", "partial"),
            ("b5", "Qijiang Aluminium", "0", "below_reserve"),
            ("b6", "Fuling Power; Unit 4", "66", "partial"),
        ]
    );
    assert_eq!(awards[0]["amount_cny"], "17400.00");
    let clearing: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("clearing.json")).expect("clearing"))
            .expect("json");
    assert_eq!(clearing["tie_draw"][0], "Changshou Chemicals");
    assert_eq!(clearing["tie_leftover_lots"], 1);
    assert_eq!(clearing["revenue_cny"], "58000.00");
    // A rule finer than the tick is refused by its setting's name, and nothing is written.
    let coarse = dir.path().join("coarse.toml");
    let finer = std::fs::read_to_string(&rules)
        .expect("rules")
        .replace("\"30.00\"", "\"30.005\"");
    std::fs::write(&coarse, finer).expect("write");
    let refused_out = dir.path().join("refused");
    let run = ets(
        "sqlite://unused.db",
        &[
            "auction",
            "clear",
            "--rules",
            coarse.to_str().unwrap(),
            "--bids",
            bids.to_str().unwrap(),
            "--out",
            refused_out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(
        text(&run).contains(
            "coarse.toml, setting `reserve_price`: 30.005 has more than 2 decimal places"
        ),
        "{}",
        text(&run)
    );
    assert!(!refused_out.exists());
}

/// A whole Round as TOML, and `--policy` replacing its own: that policy's 5 % reserve is held
/// back from the pool.
#[test]
fn round_solve_reads_a_round_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let round = dir.path().join("round.toml");
    let application = |id: &str, tonnes: &str, value: &str| {
        format!(
            "[[applications]]\nid = \"{id}\"\nenterprise = \"E-{id}\"\nrequests = [{{ pollutant = \"COD\", quantity = \"{tonnes}\" }}]\n\
             location = {{ district = \"fuling\", basin = \"wujiang\", airshed = \"east\", zone = \"general\" }}\n\
             credit = \"good\"\nvalue_added_cny_per_year = \"{value}\"\nfiled_at_unix_s = 0\n"
        )
    };
    let body = format!(
        "id = \"doc-1\"\ndistricts = [\"fuling\"]\nbasins = [\"wujiang\"]\nairsheds = [\"east\"]\n\
         [[pollutants]]\nid = \"COD\"\nmedium = \"water\"\nscale = 3\n\
         [[pools]]\nid = \"cod-wujiang\"\npollutant = \"COD\"\narea = \"wujiang\"\nsources = [{{ reduction_id = \"R-1\", quantity = \"10.000\" }}]\n\
         {}{}[policy]\nversion = \"inline\"\ndefault_tier = 4\n",
        application("A", "6.000", "900"),
        application("B", "6.000", "800"),
    );
    std::fs::write(&round, body).expect("write");
    let out = dir.path().join("out");
    let args = |policy: Option<&str>, out: &Path| {
        let mut args = vec![
            "round",
            "solve",
            "--round",
            round.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(policy.map(|p| ["--policy", p]).into_iter().flatten());
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        ets(
            "sqlite://unused.db",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    let solved = run(args(None, &out));
    assert!(solved.status.success(), "{}", text(&solved));
    let grants = rows(&out.join("grants.csv"));
    let granted: Vec<(&str, &str)> = grants
        .iter()
        .map(|g| (g["application"].as_str(), g["COD_granted"].as_str()))
        .collect();
    assert_eq!(granted, [("A", "6.000"), ("B", "4.000")]);
    let policy = dir.path().join("reserve.toml");
    std::fs::write(
        &policy,
        "version = \"reserve\"\nreserve_share = \"0.05\"\ndefault_tier = 4\n",
    )
    .expect("write");
    let stored = dir.path().join("stored");
    let solved = run(args(Some(policy.to_str().unwrap()), &stored));
    assert!(solved.status.success(), "{}", text(&solved));
    let pools = rows(&stored.join("pools.csv"));
    assert_eq!(
        (
            pools[0]["held_back"].as_str(),
            pools[0]["available"].as_str()
        ),
        ("0.500", "9.500")
    );
}
