//! Issue 12's attacks, each against real `ets serve` processes on SQLite and PostgreSQL: no
//! enterprise can block others, no stored text can break the audit, no request fails another.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::*;

fn sell(price: &str, quantity: &str) -> Value {
    json!({"instrument": COD, "side": "sell", "type": "limit", "price": price, "quantity": quantity})
}

fn hold(code: &str, from: &str) -> Value {
    json!({"actions": [{"type": "place_hold", "hold": code, "instrument": CNY, "from": from,
        "amount": "0.01", "expires_at": "2099-01-01T00:00:00Z"}]})
}

async fn list_cod(s: &Server) {
    let funded = s
        .post(
            "/v1/requests",
            Some(&s.bureau),
            Some("fund"),
            &json!({"actions": [deposit(A, "1000.00"), deposit(B, "1000.00")]}),
        )
        .await;
    assert_eq!(funded.status, StatusCode::CREATED, "{}", funded.body);
    let listing =
        json!({"instrument": COD, "tick": "0.01", "lot_t": 10, "previous_close": "100.00"});
    let listed = s
        .post(
            "/v1/market/instruments",
            Some(&s.bureau),
            Some("l"),
            &listing,
        )
        .await;
    assert_eq!(listed.status, StatusCode::CREATED, "{}", listed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_can_take_the_markets_next_hold_code() {
    for s in servers().await {
        s.setup().await;
        s.issue(COD, A, "100").await;
        list_cod(&s).await;
        let first = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_a),
                Some("o1"),
                &sell("100.00", "10"),
            )
            .await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
        let order = first.body["order"].as_u64().expect("order id");
        // Every name the market would use next, in every namespace it derives.
        let squats = [
            format!("mkt.order.1.{}", order + 1),
            format!("mkt.order.{COD}.{}", order + 1),
            "mkt.transfer-rights.1".to_owned(),
            "mkt.auction-bid.1.1".to_owned(),
            "mkt.auction-supply.1".to_owned(),
        ];
        for (n, code) in squats.iter().enumerate() {
            // An enterprise places no raw holds at all, in any namespace.
            s.post(
                "/v1/requests",
                Some(&s.enterprise_b),
                Some(&format!("squat-b-{n}")),
                &hold(code, B),
            )
            .await
            .problem(403, "forbidden");
            // Not even the bureau takes a code the market owns.
            let refused = s
                .post(
                    "/v1/requests",
                    Some(&s.bureau),
                    Some(&format!("squat-bureau-{n}")),
                    &hold(code, B),
                )
                .await;
            refused.problem(422, "reserved_hold_code");
            assert_eq!(refused.body["field"], "/actions/0/hold", "{}", refused.body);
            assert!(
                refused.body["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("reserved for the market"),
                "{}",
                refused.body
            );
        }
        s.post(
            "/v1/requests",
            Some(&s.enterprise_b),
            Some("own-hold"),
            &hold("my-own-code", B),
        )
        .await
        .problem(403, "forbidden");
        // The market goes on: later orders by anyone rest.
        for n in 2..5 {
            let next = s
                .post(
                    "/v1/market/orders",
                    Some(&s.enterprise_a),
                    Some(&format!("o{n}")),
                    &sell(&format!("10{n}.00"), "10"),
                )
                .await;
            assert_eq!(next.status, StatusCode::CREATED, "{}", next.body);
            assert_eq!(next.body["status"], "resting", "{}", next.body);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_text_can_break_verify_and_limits_hold_on_both_backends() {
    for s in servers().await {
        s.setup().await;
        s.issue(COD, A, "10").await;
        let transfer = |memo: &str| json!({"instrument": COD, "from": A, "to": B, "amount": "1", "memo": memo});
        let cases = [
            ("a\u{0}b", "/memo"),
            ("bell\u{7}", "/memo"),
            ("crlf\r\n", "/memo"),
            ("c1\u{85}", "/memo"),
        ];
        for (n, (memo, field)) in cases.iter().enumerate() {
            let refused = s
                .post(
                    "/v1/transfers",
                    Some(&s.bureau),
                    Some(&format!("t{n}")),
                    &transfer(memo),
                )
                .await;
            refused.problem(422, "invalid_text");
            assert_eq!(refused.body["field"], *field, "{}", refused.body);
        }
        let long = "x".repeat(1025);
        let refused = s
            .post(
                "/v1/transfers",
                Some(&s.bureau),
                Some("long"),
                &transfer(&long),
            )
            .await;
        refused.problem(422, "invalid_text");
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("1024"),
            "{}",
            refused.body
        );
        // Newlines and tabs are prose; they are kept.
        let prose = s
            .post(
                "/v1/transfers",
                Some(&s.bureau),
                Some("prose"),
                &transfer("line one\n\tline two"),
            )
            .await;
        assert_eq!(prose.status, StatusCode::CREATED, "{}", prose.body);
        let evidence = s
            .post(
                "/v1/reductions",
                Some(&s.bureau),
                Some("r-nul"),
                &json!({"reduction": "R-1", "enterprise": B, "instrument": COD, "amount": "1",
                    "measure": "upgrade", "evidence": "report\u{0}17"}),
            )
            .await;
        evidence.problem(422, "invalid_text");
        assert_eq!(evidence.body["field"], "/evidence", "{}", evidence.body);
        let batch = s
            .post(
                "/v1/requests",
                Some(&s.bureau),
                Some("batch-nul"),
                &json!({"actions": [
                    {"type": "transfer", "instrument": COD, "from": A, "to": B, "amount": "1"},
                    {"type": "annotate", "note": "ok\u{0}"}]}),
            )
            .await;
        batch.problem(422, "invalid_text");
        assert_eq!(batch.body["field"], "/actions/1/note", "{}", batch.body);
        assert_eq!(s.balance(B, COD).await, "1.000");
        let verify = s.get("/v1/verify", Some(&s.bureau)).await;
        assert_eq!(verify.status, 200, "{}", verify.body);
        assert_eq!(verify.body["ok"], true, "{}", verify.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_request_in_a_group_commit_fails_alone() {
    for s in servers().await {
        s.setup().await;
        s.issue(COD, A, "1000").await;
        let mut tasks = Vec::new();
        for n in 0..120 {
            let (base, key) = (s.base.clone(), s.bureau.clone());
            let client = s.client.clone();
            let bad = n % 10 == 3;
            let body = if bad {
                json!({"reduction": format!("R-{n}"), "enterprise": B, "instrument": COD,
                    "amount": "1", "measure": "upgrade", "evidence": "nul\u{0}"})
            } else {
                json!({"instrument": COD, "from": A, "to": B, "amount": "1"})
            };
            let path = if bad {
                "/v1/reductions"
            } else {
                "/v1/transfers"
            };
            tasks.push(tokio::spawn(async move {
                let response = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(key)
                    .header("idempotency-key", format!("g{n}"))
                    .json(&body)
                    .send()
                    .await
                    .expect("send");
                (bad, response.status().as_u16())
            }));
        }
        let mut innocent = 0;
        for task in tasks {
            let (bad, status) = task.await.expect("task");
            if bad {
                assert_eq!(status, 422);
            } else {
                assert_eq!(status, 201);
                innocent += 1;
            }
        }
        assert_eq!(innocent, 108);
        assert_eq!(s.balance(B, COD).await, "108.000");
    }
}

/// Refusals speak the caller's names: credit codes, instrument codes, prices in CNY, order
/// numbers as the API gave them; never an engine id or Rust debug text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_refusals_name_things_as_the_caller_knows_them() {
    for s in servers().await {
        s.setup().await;
        s.issue(COD, A, "100").await;
        list_cod(&s).await;
        let buy = |price: &str, quantity: &str| json!({"instrument": COD, "side": "buy", "type": "limit", "price": price, "quantity": quantity});
        let short = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_b),
                Some("short"),
                &buy("100.00", "9000"),
            )
            .await;
        short.problem(409, "insufficient_balance");
        let band = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_b),
                Some("band"),
                &buy("150.00", "10"),
            )
            .await;
        band.problem(422, "outside_band");
        let cancel = s
            .post(
                "/v1/market/orders/cancel",
                Some(&s.enterprise_b),
                Some("cancel"),
                &json!({"instrument": COD, "order": 4242}),
            )
            .await;
        cancel.problem(404, "unknown_order");
        let details =
            [&short, &band, &cancel].map(|a| a.body["detail"].as_str().unwrap_or("").to_owned());
        assert!(
            details[0].contains(B) && details[0].contains("CNY"),
            "{}",
            details[0]
        );
        assert!(
            details[1].contains("150.00") && details[1].contains("CNY/t"),
            "{}",
            details[1]
        );
        assert_eq!(details[2], "unknown order 4242");
        for detail in details {
            for internal in [
                "account ",
                "instrument ",
                "Rights(",
                "InstrumentId",
                "Timestamp(",
                "ticks",
            ] {
                assert!(!detail.contains(internal), "{internal:?} in {detail:?}");
            }
        }
        // The open market's replay work is on /metrics.
        for name in [
            "ets_market_rebuilds_total",
            "ets_market_entries_replayed_total",
        ] {
            assert!(s.metric(name).await.is_some(), "{name} on /metrics");
        }
    }
}

/// One freeze: wherever units can move (ledger transfers, surrenders, orders, bilateral
/// transfers) a frozen enterprise is refused with `account_frozen`, and nothing it committed
/// before the freeze settles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_means_the_same_everywhere() {
    for s in servers().await {
        s.setup().await;
        s.issue(COD, A, "100").await;
        s.issue(CEA, A, "50").await;
        list_cod(&s).await;
        let rest = |key: &'static str| {
            let s = &s;
            async move {
                s.post(
                    "/v1/market/orders",
                    Some(&s.enterprise_a),
                    Some(key),
                    &sell("100.00", "10"),
                )
                .await
            }
        };
        let resting = rest("o1").await;
        assert_eq!(resting.status, StatusCode::CREATED, "{}", resting.body);
        let transfer = json!({"instrument": COD, "from": A, "to": B, "amount": "1"});
        let surrender =
            json!({"instrument": CEA, "enterprise": A, "amount": "1", "compliance_year": 2024});

        // A market freeze reaches the ledger (under the longest key a client may choose).
        let long_key = "f".repeat(100);
        let frozen = s
            .post(
                "/v1/market/freezes",
                Some(&s.bureau),
                Some(&long_key),
                &json!({"enterprise": A}),
            )
            .await;
        assert_eq!(frozen.status, StatusCode::CREATED, "{}", frozen.body);
        let mine = s.get("/v1/market/orders", Some(&s.enterprise_a)).await;
        assert_eq!(mine.body, json!([]), "resting orders cancelled");
        let moved = s
            .post(
                "/v1/transfers",
                Some(&s.enterprise_a),
                Some("t1"),
                &transfer,
            )
            .await;
        moved.problem(409, "account_frozen");
        assert!(
            moved.body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("frozen in the market"),
            "{}",
            moved.body
        );
        s.post(
            "/v1/surrenders",
            Some(&s.enterprise_a),
            Some("s1"),
            &surrender,
        )
        .await
        .problem(409, "account_frozen");
        rest("o2").await.problem(409, "account_frozen");
        let lifted = s
            .post(
                "/v1/market/unfreezes",
                Some(&s.bureau),
                Some("mu"),
                &json!({"enterprise": A}),
            )
            .await;
        assert_eq!(lifted.status, StatusCode::CREATED, "{}", lifted.body);
        let moved = s
            .post(
                "/v1/transfers",
                Some(&s.enterprise_a),
                Some("t2"),
                &transfer,
            )
            .await;
        assert_eq!(moved.status, StatusCode::CREATED, "{}", moved.body);

        // A ledger freeze reaches the market: the order resting before it never settles.
        let resting = rest("o3").await;
        assert_eq!(resting.status, StatusCode::CREATED, "{}", resting.body);
        let freeze = json!({"instrument": COD, "holder": A, "reason": "permit suspended",
            "reference": "渝环罚〔2026〕12号"});
        let frozen = s
            .post("/v1/freezes", Some(&s.bureau), Some("lf"), &freeze)
            .await;
        assert_eq!(frozen.status, StatusCode::CREATED, "{}", frozen.body);
        let lift = json!({"instrument": COD, "side": "buy", "type": "limit", "price": "100.00", "quantity": "10", "time_in_force": "ioc"});
        let bought = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_b),
                Some("b1"),
                &lift,
            )
            .await;
        assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
        assert_ne!(bought.body["status"], "filled", "{}", bought.body);
        assert_eq!(
            s.balance(B, COD).await,
            "1.000",
            "only the transfer reached B"
        );
        rest("o4").await.problem(409, "account_frozen");
        let moved = s
            .post(
                "/v1/transfers",
                Some(&s.enterprise_a),
                Some("t3"),
                &transfer,
            )
            .await;
        moved.problem(409, "account_frozen");
        let detail = moved.body["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains("permit suspended") && detail.contains("渝环罚〔2026〕12号"),
            "{detail}"
        );
    }
}
