//! No double spending across processes: two `ets ledger apply` processes spend from the same
//! account at once, on SQLite (one file) and on PostgreSQL (one server).

use crate::{ets, postgres_database, text};

const CODE_A: &str = "91500103MA5U00011H";
const CODE_B: &str = "91500104MA5U0002XP";

fn setup_file(dir: &std::path::Path) -> std::path::PathBuf {
    let enterprise = |code: &str, district: &str| {
        serde_json::json!({"type": "register_enterprise", "enterprise": {"credit_code": code, "name": format!("Firm {code}"),
            "district": district, "industry_codes": ["3982"], "zoning": "general", "distance_to_river_m": 3000}})
    };
    let setup = serde_json::json!([{"idempotency_key": "setup", "actor": "bureau", "actions": [
        {"type": "define_region", "region": {"code": "b1", "name": "basin one", "kind": "basin"}},
        {"type": "define_instrument", "instrument": {"code": "COD.b1", "kind": "discharge_right", "pollutant": "COD",
            "region": "b1", "valid_from": "2024-01-01", "valid_to": "2028-12-31", "scale": 3, "unit": "t/a"}},
        enterprise(CODE_A, "500103"), enterprise(CODE_B, "500104"),
        {"type": "issue", "instrument": "COD.b1", "to": CODE_A, "amount": "100"}]}]);
    let path = dir.join("setup.json");
    std::fs::write(&path, setup.to_string()).expect("write setup");
    path
}

/// 150 requests of 1 t each from A: only 100 can succeed in total.
fn spend_file(dir: &std::path::Path, process: usize) -> std::path::PathBuf {
    let lines: Vec<String> = (0..150)
        .map(|n| {
            serde_json::json!({"idempotency_key": format!("p{process}-{n:04}"), "actor": CODE_A, "actions": [
                {"type": "transfer", "instrument": "COD.b1", "from": CODE_A, "to": CODE_B, "amount": "1", "purpose": "trade"}]})
            .to_string()
        })
        .collect();
    let path = dir.join(format!("spend-{process}.jsonl"));
    std::fs::write(&path, lines.join("\n")).expect("write spends");
    path
}

fn race(url: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = ets(
        url,
        &[
            "ledger",
            "apply",
            setup_file(dir.path()).to_str().expect("path"),
        ],
    );
    assert!(setup.status.success(), "{}", text(&setup));
    let children: Vec<_> = (0..2)
        .map(|p| {
            std::process::Command::new(env!("CARGO_BIN_EXE_ets"))
                .env("ETS_DATABASE_URL", url)
                .args([
                    "ledger",
                    "apply",
                    "--concurrency",
                    "16",
                    spend_file(dir.path(), p).to_str().expect("path"),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn ets")
        })
        .collect();
    let mut recorded = 0;
    for child in children {
        let output = child.wait_with_output().expect("wait for ets");
        let out = text(&output);
        // Each process reports "N requests: R recorded, …, F refused"; refusals must be overdrafts.
        let summary = out
            .lines()
            .find(|l| l.starts_with("150 requests:"))
            .unwrap_or_else(|| panic!("no summary:\n{out}"));
        recorded += summary
            .split(": ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok())
            .expect("count");
        for line in out.lines().filter(|l| l.starts_with("refused ")) {
            assert!(line.contains("insufficient balance"), "{line}");
        }
    }
    assert_eq!(
        recorded, 100,
        "exactly the 100 t held could be spent, across both processes ({url})"
    );
    let balances = ets(url, &["ledger", "balances", "--json"]);
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&balances.stdout).expect("balances json");
    let balance = |account: &str| {
        rows.iter()
            .find(|r| r["account"] == account)
            .and_then(|r| r["balance"].as_str().map(String::from))
    };
    assert_eq!(
        balance(&format!("{CODE_A}/holding/COD.b1")).as_deref(),
        Some("0.000")
    );
    assert_eq!(
        balance(&format!("{CODE_B}/holding/COD.b1")).as_deref(),
        Some("100.000")
    );
    let verify = ets(url, &["ledger", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
}

#[test]
fn two_processes_cannot_double_spend_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    race(&format!(
        "sqlite://{}",
        dir.path().join("race.db").display()
    ));
}

#[tokio::test]
async fn two_processes_cannot_double_spend_on_postgres() {
    if let Some(url) = postgres_database("ets_it_race").await {
        race(&url);
    }
}
