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
        "continuous trading in CEA.2025 over 3 trading days",
        "OHLC",
        "closed at CNY",
        "expired: the seller's allowances are back",
        "written off: 110.000 t of NOx.cq-main.season-",
        "left open",
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

    // Certified reductions: exact decimals in the instrument's unit, the enterprise's name.
    let reductions = ets(&url, &["ledger", "reductions", "--json"]);
    assert!(reductions.status.success(), "{}", text(&reductions));
    let rows: Vec<Value> =
        serde_json::from_slice(&reductions.stdout).expect("reductions --json prints JSON");
    assert!(!rows.is_empty(), "the demo certifies reductions");
    for row in &rows {
        let amount = row["amount"].as_str().expect("amount as a decimal string");
        assert!(
            amount.parse::<rust_decimal::Decimal>().is_ok(),
            "{amount} in {row}"
        );
        assert!(
            !row["enterprise_name"].as_str().unwrap_or("").is_empty(),
            "{row}"
        );
        assert!(
            row["unit"].as_str().is_some_and(|u| u.starts_with('t')),
            "{row}"
        );
        assert!(
            row["measure"]
                .as_str()
                .is_some_and(|m| m.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')),
            "a snake_case measure: {row}"
        );
    }
    let table = ets(&url, &["ledger", "reductions"]);
    let shown = String::from_utf8_lossy(&table.stdout);
    let first = &rows[0];
    for column in [
        "reduction",
        "enterprise",
        "name",
        "amount",
        "unit",
        "measure",
    ] {
        assert!(
            shown.lines().next().unwrap_or("").contains(column),
            "{shown}"
        );
    }
    let line = shown
        .lines()
        .find(|l| l.contains(first["id"].as_str().unwrap_or("?")))
        .unwrap_or_else(|| panic!("{first} in:\n{shown}"));
    for field in ["amount", "enterprise_name", "instrument", "measure"] {
        let value = first[field].as_str().unwrap_or("?");
        assert!(line.contains(value), "{field} {value:?} in {line:?}");
    }
}

/// `ets --help` and every command's `--help` say what the command is for, and name the flags
/// that belong to it (and not those that do not: `--database-url` only where a database is
/// opened, `--idempotency-key` only on writes).
#[test]
fn help_describes_every_command_and_its_own_flags() {
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (
            &[],
            &[
                "Emissions trading and pollution-rights allocation engine",
                "Build a realistic synthetic Chongqing-like dataset",
                "Inspect and operate the ledger",
                "Reallocation rounds",
                "Trade from scripts",
                "Call any endpoint of a running `ets serve`",
                "Serve the HTTP API",
                "Administration: API keys",
                "Policy scenarios for economists",
            ],
            &["--database-url", "--idempotency-key"],
        ),
        (
            &["demo"],
            &[
                "Number of synthetic enterprises",
                "--fresh",
                "--database-url",
            ],
            &["--idempotency-key"],
        ),
        (
            &["ledger"],
            &[
                "balances",
                "journal",
                "verify",
                "reductions",
                "--database-url",
            ],
            &["--idempotency-key"],
        ),
        (
            &["ledger", "reductions"],
            &["Certified reductions", "--json", "--database-url"],
            &[],
        ),
        (
            &["ledger", "journal"],
            &["The audit journal", "Entries on the page", "--after"],
            &[],
        ),
        (
            &["ledger", "balances"],
            &["Only this owner's accounts", "--json"],
            &[],
        ),
        (
            &["round"],
            &["dry-run", "commit", "applications", "--database-url"],
            &[],
        ),
        (
            &["serve"],
            &[
                "--bind",
                "--database-url",
                "--rate-per-second",
                "rate-limit-per-second",
                "--request-timeout-seconds",
                "--cors-origin",
                "--log-format",
                "colours only on a terminal",
            ],
            &["--idempotency-key", "--api-key"],
        ),
        (
            &["admin", "create-key"],
            &["What the key may do", "--enterprise", "--database-url"],
            &[],
        ),
        (
            &["market"],
            &[
                "order",
                "book",
                "auction",
                "transfer",
                "--server",
                "--api-key",
            ],
            &["--database-url", "--idempotency-key"],
        ),
        (
            &["market", "order"],
            &["Place an order", "--price", "--idempotency-key"],
            &["--database-url"],
        ),
        (
            &["market", "book"],
            &["Order book depth", "Price levels per side"],
            &["--idempotency-key", "--database-url"],
        ),
        (
            &["market", "transfer", "accept"],
            &[
                "delivery-versus-payment",
                "The transfer's number",
                "--idempotency-key",
            ],
            &[],
        ),
        (
            &["api", "post"],
            &["POST a JSON body", "--idempotency-key"],
            &["--database-url"],
        ),
        (
            &["api", "get"],
            &["GET an endpoint", "--query"],
            &["--idempotency-key", "--database-url"],
        ),
        (
            &["scenario"],
            &["run", "compare", "sweep", "mc", "validate"],
            &["--database-url", "--idempotency-key"],
        ),
    ];
    for (command, shows, lacks) in cases {
        let mut args = command.to_vec();
        args.push("--help");
        let output = ets("sqlite::memory:", &args);
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "ets {args:?}: {}", text(&output));
        for needle in *shows {
            assert!(
                help.contains(needle),
                "`ets {}` help lacks {needle:?}:\n{help}",
                args.join(" ")
            );
        }
        for needle in *lacks {
            assert!(
                !help.contains(needle),
                "`ets {}` help has {needle:?}:\n{help}",
                args.join(" ")
            );
        }
    }
    // `--database-url` after the leaf command, and not before the command that takes it.
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("flag.db").display());
    let init = ets(
        "sqlite::memory:",
        &["ledger", "init", "--database-url", &url],
    );
    assert!(text(&init).contains("flag.db"), "{}", text(&init));
    let misplaced = ets(
        "sqlite::memory:",
        &["--database-url", &url, "ledger", "init"],
    );
    assert_eq!(misplaced.status.code(), Some(2), "{}", text(&misplaced));
}

/// A reader that closes the pipe early (`ets ledger journal | head -1`) ends the command quietly
/// with status 0: no panic, no error message.
#[test]
fn a_closed_pipe_ends_a_listing_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("pipe.db").display());
    assert!(ets(&url, &["ledger", "init"]).status.success());
    for args in [
        &["ledger", "journal"][..],
        &["ledger", "journal", "--json"],
        &["ledger", "balances"],
        &["ledger", "reductions"],
        &["ledger", "verify"],
        &["scenario", "validate", "scenarios/examples/policy.toml"],
    ] {
        // The reading end is closed before the command starts, so its first line meets EPIPE.
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ets"))
            .env("ETS_DATABASE_URL", &url)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run ets");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "ets {args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("error"),
            "ets {args:?}: {stderr}"
        );
    }
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

/// An enterprise that holds CNY in `accounts` (the bureau's `/v1/accounts` page).
fn book_owner(accounts: &Value) -> String {
    let rows = accounts["accounts"].as_array().expect("accounts");
    let row = rows
        .iter()
        .find(|a| a["instrument"] == "CNY" && a["kind"] == "holding")
        .expect("an enterprise with cash");
    row["owner"].as_str().expect("owner").to_owned()
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

    // Trading goes on after the demo: its last day is the one open now; a tick at that day's
    // close ends it, and an enterprise's order rests in the next day's book.
    let calendar = market::TradingCalendar::default();
    let open_day = calendar
        .open_day_at(chrono::Utc::now())
        .expect("a trading day");
    let close = calendar.close_of(open_day).expect("its close") + chrono::Duration::minutes(1);
    let at = close.to_rfc3339();
    let tick = crate::http::common::ets(url, &["tick", "--at", &at, "--json"]).await;
    assert!(
        tick.status.success(),
        "{}",
        String::from_utf8_lossy(&tick.stderr)
    );
    let report: Value = serde_json::from_slice(&tick.stdout).expect("tick JSON");
    assert_eq!(
        report["days_closed"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    let book = get("/v1/market/book?instrument=CEA.2025", &economist).await;
    assert_eq!(
        book["bids"],
        serde_json::json!([]),
        "day orders expired: {book}"
    );
    let buyer = book_owner(&get("/v1/accounts", &bureau).await);
    let key = create_key(url, "enterprise", Some(&buyer), "demo-buyer").await;
    let listed = get("/v1/market/instruments", &economist).await;
    let close = &listed[0]["previous_close"];
    let order = serde_json::json!({"instrument": "CEA.2025", "side": "buy", "type": "limit",
                                   "price": close, "quantity": "100"});
    let placed = client
        .post(format!("{base}/v1/market/orders"))
        .bearer_auth(&key)
        .header("idempotency-key", "after-the-demo")
        .json(&order)
        .send()
        .await
        .expect("send");
    let status = placed.status().as_u16();
    let body: Value = placed.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "resting", "{body}");
    drop(server);
}
