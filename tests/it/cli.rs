//! The README's path for a newcomer: the demo on the embedded SQLite default, then the ledger
//! commands on the database it leaves.

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

    // `ets serve` on the demo database shows the book and the trades: its market service
    // replays the market's command log from the journal.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let config = api::Config {
            bind: "127.0.0.1:0".parse().expect("addr"),
            database_url: url.clone(),
            limits: api::Limits::default(),
        };
        let state = api::AppState::open(config).await.expect("serve state");
        let market = state.market().lock(false).await.expect("the demo's market");
        let book = market
            .market()
            .book(market::InstrumentId(1))
            .expect("the allowance book");
        assert!(book.live_orders() > 0, "resting orders on the book");
        assert!(!book.trades_after(0).is_empty(), "the day's trades");
        let auctions: Vec<_> = market.market().auctions().collect();
        assert_eq!(auctions.len(), 1);
        assert_eq!(auctions[0].state(), market::AuctionState::Cleared);
    });

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
