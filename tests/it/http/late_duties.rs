//! The duties when the ledger's own clock has moved on: a server (in this process, so its clock
//! can be moved, answering real HTTP) left down for ten days closes every missed trading day in
//! order when it comes back, voiding the day order's cash hold although the ledger's expiry of
//! that hold has passed, on both backends.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::*;

/// A server on `url` whose ledger reads `clock` (microseconds since the epoch).
async fn serve_with_clock(url: &str, clock: Arc<AtomicI64>) -> (api::AppState, String) {
    let options = ledger::LedgerOptions {
        clock: Arc::new(move || {
            DateTime::from_timestamp_micros(clock.load(Ordering::SeqCst)).unwrap_or_default()
        }),
        ..ledger::LedgerOptions::default()
    };
    let ledger = ledger::Ledger::open(url, options).await.expect("open");
    let config = api::Config {
        database_url: url.to_owned(),
        duty_interval: None,
        ..api::Config::default()
    };
    let state = api::AppState::with_ledger(config, ledger)
        .await
        .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let serving = state.clone();
    tokio::spawn(async move { api::serve_on(listener, serving, std::future::pending()).await });
    (state, base)
}

async fn post(base: &str, key: &str, path: &str, idempotency: &str, body: &Value) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .header("idempotency-key", idempotency)
        .json(body)
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status(), StatusCode::CREATED, "{path}");
    answer.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_days_down_every_missed_day_closes_and_expired_holds_are_voided() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut urls = vec![format!("sqlite://{}", dir.path().join("late.db").display())];
    urls.extend(postgres_database().await);
    for url in urls {
        // Monday 2026-12-07, 10:00 in Chongqing.
        let start = Utc.with_ymd_and_hms(2026, 12, 7, 2, 0, 0).unwrap();
        let clock = Arc::new(AtomicI64::new(start.timestamp_micros()));
        let (state, base) = serve_with_clock(&url, clock.clone()).await;
        let bureau = api::create_key(&url, api::Role::Bureau, None, "bureau")
            .await
            .expect("key");
        let setup = json!({"actions": setup_actions()});
        post(&base, &bureau, "/v1/requests", "setup", &setup).await;
        let fund = json!({"actions": [deposit(B, "10000.00")]});
        post(&base, &bureau, "/v1/requests", "fund", &fund).await;
        let beta = api::create_key(&url, api::Role::Enterprise, Some(B), "beta")
            .await
            .expect("key");
        let listing =
            json!({"instrument": COD, "tick": "0.01", "lot_t": 10, "previous_close": "100.00"});
        post(&base, &bureau, "/v1/market/instruments", "l", &listing).await;
        let bid = json!({"instrument": COD, "side": "buy", "type": "limit", "price": "100.00",
                         "quantity": "50"});
        let rested = post(&base, &beta, "/v1/market/orders", "o1", &bid).await;
        assert_eq!(rested["status"], "resting");

        // Ten days later (Thursday the 17th, 10:00 local): the hold's ledger expiry (the
        // 7th's close plus seven days) has passed.
        clock.store(
            (start + Duration::days(10)).timestamp_micros(),
            Ordering::SeqCst,
        );
        let report = api::services::duties::run_due(state.market(), state.now())
            .await
            .expect("duties");
        assert_eq!(report.failed, Vec::<String>::new());
        let closed: Vec<String> = report.days_closed.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            closed,
            [
                "2026-12-07",
                "2026-12-08",
                "2026-12-09",
                "2026-12-10",
                "2026-12-11",
                "2026-12-14",
                "2026-12-15",
                "2026-12-16"
            ]
        );
        let holds = state.ledger().store().holds().await.expect("holds");
        let states: Vec<&str> = holds.iter().map(|h| h.state.as_str()).collect();
        assert_eq!(
            states,
            ["voided"],
            "the expired cash hold was voided, not left"
        );
        let cash = state
            .ledger()
            .store()
            .balances(Some(B))
            .await
            .expect("balances");
        let cash = cash.iter().find(|b| b.instrument == CNY).expect("cash");
        assert_eq!(cash.balance.to_string(), "10000.00");
        // Nothing more is due the same day.
        let again = api::services::duties::run_due(state.market(), state.now()).await;
        assert!(again.expect("duties").is_empty());
    }
}
