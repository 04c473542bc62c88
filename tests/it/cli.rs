//! The README's path for a newcomer: the demo on the embedded SQLite default, then the ledger
//! commands and `ets serve` on the database it leaves.

use serde_json::Value;

use crate::http::common::{Flags, create_key, spawn_serve};
use crate::{ets, text};

#[test]
fn demo_runs_the_full_cycle_and_leaves_a_verifiable_ledger() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let demo = ets(&url, &["demo", "--enterprises", "120", "--trades", "40"]);
    let out = text(&demo);
    assert!(demo.status.success(), "demo failed:\n{out}");
    for expected in [
        "freed capacity certified into the reserve",
        "reallocation round 2025-R1 under policy chongqing-2020-r1",
        "committed as journal entry",
        "trades settled delivery-versus-payment",
        "reserve auction of CEA.2025",
        "clearing price CNY",
        "award:",
        "continuous trading in CEA.2025",
        "OHLC",
        "compliance 2025",
        "verified:",
    ] {
        assert!(
            out.contains(expected),
            "demo report lacks {expected:?}:\n{out}"
        );
    }

    // `ets admin create-key` and `ets serve` open the demo's database and serve its world.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(the_demo_world_over_http(&url));

    let verify = ets(&url, &["ledger", "verify", "--json"]);
    assert!(verify.status.success(), "{}", text(&verify));
    let report: serde_json::Value =
        serde_json::from_slice(&verify.stdout).expect("verify --json prints JSON");
    assert_eq!(report["problem_count"], 0);
    assert!(report["entries"].as_u64().unwrap_or(0) > 10);

    // The same seed gives the same dataset: a second demo refuses to overwrite, --fresh restarts.
    let again = ets(&url, &["demo", "--enterprises", "120", "--trades", "40"]);
    assert!(
        !again.status.success() && text(&again).contains("already holds a ledger"),
        "{}",
        text(&again)
    );

    let balances = ets(&url, &["ledger", "balances", "--owner", "bureau", "--json"]);
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&balances.stdout).expect("balances --json");
    let reserve_cny = rows.iter().find(|r| r["account"] == "bureau/reserve/CNY");
    // The reserve auction's proceeds land in the bureau's reserve cash.
    let proceeds: f64 = reserve_cny
        .and_then(|r| r["balance"].as_str())
        .and_then(|b| b.parse().ok())
        .unwrap_or(0.0);
    assert!(
        proceeds > 0.0,
        "auction proceeds in bureau/reserve/CNY: {rows:?}"
    );
    // A round from the CLI over the (empty) pending applications: a dry run writes nothing.
    let entries = report["entries"].as_u64();
    let dry = ets(&url, &["round", "dry-run", "--id", "2026-R1"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(
        text(&dry).contains("reallocation round 2026-R1 under policy chongqing-2020-r1"),
        "{}",
        text(&dry)
    );
    let verify = ets(&url, &["ledger", "verify", "--json"]);
    let after: serde_json::Value = serde_json::from_slice(&verify.stdout).expect("verify JSON");
    assert_eq!(
        after["entries"].as_u64(),
        entries,
        "a dry run writes nothing"
    );
    let bad = ets(
        &url,
        &["round", "dry-run", "--id", "bad id", "--policy", "nope"],
    );
    assert!(
        !bad.status.success() && text(&bad).contains("round id"),
        "{}",
        text(&bad)
    );

    let journal = ets(&url, &["ledger", "journal", "--limit", "3"]);
    assert!(
        journal.status.success() && text(&journal).contains("genesis"),
        "{}",
        text(&journal)
    );
}

#[test]
fn bad_requests_are_refused_by_name_and_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bad.db").display());
    let file = dir.path().join("requests.json");
    std::fs::write(
        &file,
        r#"[{"idempotency_key": "r1", "actor": "bureau", "actions": [
              {"type": "define_region", "region": {"code": "b1", "name": "basin one", "kind": "basin"}},
              {"type": "define_instrument", "instrument": {"code": "COD.b1", "kind": "discharge_right", "pollutant": "COD",
               "region": "b1", "valid_from": "2024-01-01", "valid_to": "2028-12-31", "scale": 3, "unit": "t/a"}},
              {"type": "issue", "instrument": "COD.b1", "to": "reserve", "amount": "10.0001"}]}]"#,
    )
    .expect("write requests");
    let apply = ets(
        &url,
        &["ledger", "apply", file.to_str().expect("utf-8 path")],
    );
    let out = text(&apply);
    assert!(!apply.status.success(), "{out}");
    assert!(out.contains("more than the 3 decimal places"), "{out}");
    let journal = ets(&url, &["ledger", "journal", "--json"]);
    let entries = String::from_utf8_lossy(&journal.stdout).lines().count();
    assert_eq!(
        entries, 1,
        "only the genesis entry: the refused request wrote nothing"
    );

    let malformed = ets(&url, &["ledger", "balances", "--owner"]);
    assert_eq!(malformed.status.code(), Some(2), "bad usage exits 2");
}

/// The demo's database behind a real `ets serve`: the journal verifies, the reallocation round is
/// in the journal (and its id is taken), the reserve auction is cleared, the allowance book and the
/// day's trades are there, and the anonymised holdings statistics cover the demo's districts.
async fn the_demo_world_over_http(url: &str) {
    let server = spawn_serve(url, &Flags::default()).await;
    let (bureau, economist) = tokio::join!(
        create_key(url, "bureau", None, "demo-bureau"),
        create_key(url, "economist", None, "demo-economist"),
    );
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let get = |path: &str, key: &str| {
        let request = client.get(format!("{base}{path}")).bearer_auth(key);
        async move {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(status, 200, "{body}");
            body
        }
    };

    let verify = get("/v1/verify", &bureau).await;
    assert_eq!(verify["ok"], true, "{verify}");

    // The round the demo committed is in the journal, and the API will not commit its id again.
    let mut after = 0;
    let mut round_entry = None;
    while round_entry.is_none() {
        let page = get(&format!("/v1/journal?after={after}&limit=1000"), &bureau).await;
        round_entry = page["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .find(|e| e["idempotency_key"] == "reallocation-round/2025-R1")
            .cloned();
        match page["next_after"].as_u64() {
            Some(next) if page["has_more"] == true => after = next,
            _ => break,
        }
    }
    let round_entry = round_entry.expect("the demo's round 2025-R1 in the journal");
    assert!(
        round_entry["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["type"] == "allocate")),
        "{round_entry}"
    );
    let again = client
        .post(format!("{base}/v1/rounds/2025-R1/commit"))
        .bearer_auth(&bureau)
        .header("idempotency-key", "demo-round-again")
        .json(&serde_json::json!({"policy_id": "chongqing-2020-r1"}))
        .send()
        .await
        .expect("send");
    assert_eq!(again.status().as_u16(), 409, "the demo's round id is taken");

    // The market the demo ran: a cleared reserve auction, a book with resting orders, trades.
    let auction = get("/v1/market/auctions/202512", &bureau).await;
    assert_eq!(auction["state"], "cleared", "{auction}");
    let book = get("/v1/market/book?instrument=CEA.2025", &economist).await;
    let resting = |side: &str| book[side].as_array().map_or(0, Vec::len);
    assert!(resting("bids") + resting("asks") > 0, "{book}");
    let trades = get("/v1/market/trades?instrument=CEA.2025", &economist).await;
    assert!(
        trades["trades"].as_array().is_some_and(|t| !t.is_empty()),
        "{trades}"
    );

    // Anonymised holdings by district: published cells with holders, nobody named.
    let stats = get("/v1/statistics/holdings?by=district", &economist).await;
    let cells = stats["cells"].as_array().expect("cells");
    assert!(
        cells
            .iter()
            .any(|c| c["suppressed"] == false && c["holders"].as_u64().unwrap_or(0) >= 3),
        "{stats}"
    );
    assert!(
        !stats.to_string().contains("91500"),
        "no credit code in the statistics"
    );
    drop(server);
}
