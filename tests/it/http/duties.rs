//! Time-driven duties on a live registry, on both backends: a week later, two `ets tick`
//! processes racing beside the running server close every trading day that came due, in order
//! and once each; day orders expire with their cash released; an expired transfer gives the
//! seller's rights back; a third tick finds nothing due; the server then keeps trading. An
//! instrument whose validity ended is written off once, frozen holders included.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::*;

fn order(side: &str, price: &str, quantity: &str) -> Value {
    json!({"instrument": COD, "side": side, "type": "limit", "price": price, "quantity": quantity})
}

/// The trading days whose close falls in `(now, at]` by the default (Chongqing) calendar.
fn days_due(now: chrono::DateTime<Utc>, at: chrono::DateTime<Utc>) -> Vec<String> {
    let calendar = market::TradingCalendar::default();
    let mut day = calendar.open_day_at(now).expect("a trading day");
    let mut out = Vec::new();
    while calendar.close_of(day).expect("a close") <= at {
        out.push(day.to_string());
        day = calendar.next_trading_day(day).expect("a next day");
    }
    out
}

/// How many `end_day` commands the journal's market entries hold.
async fn day_ends_logged(server: &Server) -> usize {
    let page = server.ledger().await.store().journal(0, 1_000).await;
    let page = page.expect("journal");
    page.iter()
        .filter(|e| e.idempotency_key.starts_with("market/"))
        .map(|e| e.body.matches(r#"\"op\":\"end_day\""#).count())
        .sum()
}

/// The bureau lists COD for trading at 100.00 CNY/t.
async fn list_cod(server: &Server) {
    let listing =
        json!({"instrument": COD, "tick": "0.01", "lot_t": 10, "previous_close": "100.00"});
    let bureau = Some(server.bureau.as_str());
    let listed = server
        .post("/v1/market/instruments", bureau, Some("l"), &listing)
        .await;
    assert_eq!(listed.status, StatusCode::CREATED, "{}", listed.body);
}

async fn tick(server: &Server, at: &str) -> Value {
    let output = ets(&server.url, &["tick", "--at", at, "--json"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ets tick: {stderr}");
    serde_json::from_slice(&output.stdout).expect("a JSON report")
}

async fn open_holds(server: &Server) -> usize {
    let holds = server.ledger().await.store().holds().await.expect("holds");
    holds
        .iter()
        .filter(|h| h.state == ledger::book::HoldState::Open)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_later_every_due_day_closes_once_and_stuck_rights_come_back() {
    for s in servers().await {
        s.setup().await;
        s.issue(COD, A, "1000").await;
        let fund = json!({"actions": [deposit(B, "100000.00")]});
        let funded = s
            .post("/v1/requests", Some(&s.bureau), Some("fund"), &fund)
            .await;
        assert_eq!(funded.status, StatusCode::CREATED, "{}", funded.body);
        list_cod(&s).await;
        let now = Utc::now();
        // A day bid that rests, and a transfer nobody accepts.
        let bid = order("buy", "100.00", "50");
        let rested = s
            .post("/v1/market/orders", Some(&s.enterprise_b), Some("o1"), &bid)
            .await;
        assert_eq!(rested.body["status"], "resting", "{}", rested.body);
        let proposal = json!({"instrument": COD, "buyer": B, "quantity": "20", "price": "100.00",
                              "expires_at": now + Duration::hours(1)});
        let proposed = s
            .post(
                "/v1/market/transfers",
                Some(&s.enterprise_a),
                Some("t1"),
                &proposal,
            )
            .await;
        assert_eq!(proposed.status, StatusCode::CREATED, "{}", proposed.body);
        assert_eq!(
            open_holds(&s).await,
            2,
            "the bid's cash and the transfer's rights"
        );
        assert_eq!(day_ends_logged(&s).await, 0);

        // A week later, two ticks at once beside the server.
        let at = now + Duration::days(7);
        let at_text = at.to_rfc3339();
        let (first, second) = tokio::join!(tick(&s, &at_text), tick(&s, &at_text));
        let due = days_due(now, at);
        assert_eq!(due.len(), 5, "a week holds five trading days: {due:?}");
        assert_eq!(
            day_ends_logged(&s).await,
            due.len(),
            "each due day closed once"
        );
        // Each process reports the days it found due, in order; between them, every due day
        // (the other process may have closed some in between).
        let mut reported = Vec::new();
        for report in [&first, &second] {
            let closed: Vec<String> = report["days_closed"]
                .as_array()
                .expect("days_closed")
                .iter()
                .filter_map(|d| d.as_str().map(str::to_owned))
                .collect();
            assert!(closed.is_sorted(), "{closed:?}");
            assert!(
                closed.iter().all(|d| due.contains(d)),
                "{closed:?} of {due:?}"
            );
            reported.extend(closed);
        }
        reported.sort();
        reported.dedup();
        assert_eq!(reported, due);
        let transfer = proposed.body["transfer"].as_u64().expect("transfer id");
        let expired: Vec<Value> = [&first, &second]
            .iter()
            .flat_map(|r| {
                r["transfers_expired"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        assert!(expired.contains(&json!(transfer)), "{first} {second}");
        assert_eq!(
            open_holds(&s).await,
            0,
            "the bid's cash and the rights released"
        );

        // Nothing is due any more.
        let third = tick(&s, &at_text).await;
        assert_eq!(
            third,
            json!({"days_closed": [], "transfers_expired": [], "auctions_to_close": [], "written_off": [], "failed": []})
        );
        let transfers = s.get("/v1/market/transfers", Some(&s.enterprise_a)).await;
        assert_eq!(transfers.body[0]["state"], "expired", "{}", transfers.body);
        let orders = s.get("/v1/market/orders", Some(&s.enterprise_b)).await;
        assert_eq!(orders.body, json!([]), "the day order expired");

        // The server goes on trading.
        let again = s
            .post("/v1/market/orders", Some(&s.enterprise_b), Some("o2"), &bid)
            .await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        assert_eq!(again.body["status"], "resting", "{}", again.body);
    }
}

/// `ets serve` performs the duties by itself: a transfer two seconds from its deadline expires
/// within a few duty ticks, with no tick command and no request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_itself_expires_a_transfer_at_its_deadline() {
    let s = sqlite_server(Flags {
        duty_seconds: 1,
        ..limits()
    })
    .await;
    s.setup().await;
    s.issue(COD, A, "1000").await;
    list_cod(&s).await;
    let proposal = json!({"instrument": COD, "buyer": B, "quantity": "20", "price": "100.00",
                          "expires_at": Utc::now() + Duration::seconds(2)});
    let proposed = s
        .post(
            "/v1/market/transfers",
            Some(&s.enterprise_a),
            Some("t1"),
            &proposal,
        )
        .await;
    assert_eq!(proposed.status, StatusCode::CREATED, "{}", proposed.body);
    assert_eq!(open_holds(&s).await, 1);
    let mut state = Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let transfers = s.get("/v1/market/transfers", Some(&s.enterprise_a)).await;
        state = transfers.body[0]["state"].clone();
        if state == "expired" {
            break;
        }
    }
    assert_eq!(state, "expired");
    assert_eq!(open_holds(&s).await, 0, "the seller's rights are back");
}

/// A ledger beside the server whose clock reads `at`: how a test puts units into an instrument
/// that has since expired (the server, on the wall clock, can no longer issue it).
async fn ledger_at(server: &Server, at: chrono::DateTime<Utc>) -> ledger::Ledger {
    let options = ledger::LedgerOptions {
        clock: std::sync::Arc::new(move || at),
        ..ledger::LedgerOptions::default()
    };
    let opened = ledger::Ledger::open(&server.url, options).await;
    opened.expect("a ledger with a past clock")
}

/// Ten days ago the bureau issued a right valid to yesterday, to A (since frozen) and to its
/// reserve. Two ticks racing beside the server write it off in one journal entry; a third finds
/// nothing left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_instrument_is_written_off_once() {
    const NOX: &str = "NOx.cq-main.short";
    for s in servers().await {
        s.setup().await;
        let now = Utc::now();
        let yesterday = (now - Duration::days(1)).date_naive();
        let past = ledger_at(&s, now - Duration::days(10)).await;
        let actions = json!([
            {"type": "define_instrument", "instrument": {"code": NOX, "kind": "discharge_right",
             "pollutant": "NOx", "region": "cq-main", "valid_from": "2024-01-01",
             "valid_to": yesterday, "scale": 3, "unit": "t/a"}},
            {"type": "issue", "instrument": NOX, "to": A, "amount": "120.5"},
            {"type": "issue", "instrument": NOX, "to": "reserve", "amount": "30"},
            {"type": "freeze", "instrument": NOX, "holder": A, "reason": "inspection"},
        ]);
        let request = ledger::Request {
            idempotency_key: "short-lived".into(),
            actor: "bureau".into(),
            memo: None,
            actions: serde_json::from_value(actions).expect("actions"),
        };
        past.submit(request).await.expect("issued while valid");

        let at = now.to_rfc3339();
        let (first, second) = tokio::join!(tick(&s, &at), tick(&s, &at));
        let written: Vec<Value> = [&first, &second]
            .iter()
            .flat_map(|r| r["written_off"].as_array().cloned().unwrap_or_default())
            .collect();
        assert_eq!(written.len(), 1, "written off once: {first} {second}");
        assert_eq!(written[0]["instrument"], NOX);
        assert_eq!(written[0]["amount"], "150.500");
        assert_eq!(written[0]["holders"], 2);
        assert_eq!(written[0]["valid_to"], yesterday.to_string());
        let store = s.ledger().await.store();
        let left = store.positive_balances(NOX).await.expect("balances");
        let left: Vec<(String, String)> = left
            .iter()
            .map(|b| (b.account.clone(), b.balance.to_string()))
            .collect();
        assert_eq!(
            left,
            vec![(format!("bureau/cancellation/{NOX}"), "150.500".to_owned())]
        );
        let entry = store.journal(0, 1_000).await.expect("journal");
        let write_offs: Vec<_> = entry
            .iter()
            .filter(|e| e.idempotency_key.starts_with("duty/write-off/"))
            .collect();
        assert_eq!(write_offs.len(), 1);
        assert!(
            write_offs[0].body.contains(r#""actor":"registry""#),
            "{}",
            write_offs[0].body
        );
        assert!(write_offs[0].body.contains("remaining units written off"));

        let third = tick(&s, &at).await;
        assert_eq!(third["written_off"], json!([]), "{third}");
        assert_eq!(third["failed"], json!([]), "{third}");
    }
}
