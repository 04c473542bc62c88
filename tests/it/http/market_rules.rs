//! Market rules the bureau sets at run time, on both backends: a holding limit for one
//! enterprise refuses the order that would pass it; a purchase limit given as a share of the
//! circulation is set in whole tonnes; new bands show at once and move the book's band at the
//! next day's close (today's stays); every rule is listed with who set it and why; a retry answers the rule as
//! first set; bad bodies are refused naming the field and change nothing. A calendar that takes
//! orders in sessions only refuses one placed outside them.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::*;

fn buy(price: &str, quantity: &str) -> Value {
    json!({"instrument": COD, "side": "buy", "type": "limit", "price": price, "quantity": quantity})
}

async fn rule(s: &Server, key: &str, body: &Value) -> Answer {
    s.post("/v1/market/rules", Some(&s.bureau), Some(key), body)
        .await
}

async fn history(s: &Server) -> Vec<Value> {
    let rules = s.get("/v1/market/rules", Some(&s.economist)).await;
    assert_eq!(rules.status, StatusCode::OK, "{}", rules.body);
    rules.body["history"].as_array().cloned().expect("history")
}

async fn market_ready(s: &Server) {
    s.setup().await;
    s.issue(COD, A, "1000").await;
    let fund = json!({"actions": [deposit(B, "100000.00")]});
    let funded = s
        .post("/v1/requests", Some(&s.bureau), Some("fund"), &fund)
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
async fn the_bureau_sets_limits_and_bands_with_who_and_why() {
    for s in servers().await {
        market_ready(&s).await;
        let limit = json!({"rule": "holding_limit", "instrument": COD, "enterprise": B,
                           "limit_t": 30, "reason": "concentration: case 2026-17"});
        let set = rule(&s, "r1", &limit).await;
        assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
        assert_eq!(set.body["limit_t"], 30);
        assert_eq!(set.body["enterprise"], B);
        assert!(
            set.body["by"].as_str().unwrap().starts_with("bureau:"),
            "{}",
            set.body
        );
        let again = rule(&s, "r1", &limit).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        assert_eq!(
            again.body, set.body,
            "a retry answers the rule as first set"
        );

        let over = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_b),
                Some("o1"),
                &buy("100.00", "40"),
            )
            .await;
        let problem = over.problem(409, "limit_exceeded");
        let detail = problem["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains("would hold 40 t") && detail.contains("limit 30 t"),
            "{detail}"
        );
        let within = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_b),
                Some("o2"),
                &buy("100.00", "30"),
            )
            .await;
        assert_eq!(within.status, StatusCode::CREATED, "{}", within.body);

        // 2.5 % of the 1,000 t in circulation: 25 t a day for everyone.
        let share = json!({"rule": "purchase_limit", "instrument": COD, "limit_share_pct": "2.5",
                           "reason": "cool the market after the auction"});
        let set = rule(&s, "r2", &share).await;
        assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
        assert_eq!(set.body["limit_t"], 25);
        assert!(set.body.get("enterprise").is_none(), "{}", set.body);
        // More in circulation since: a retry still answers the rule as first set.
        s.issue(COD, B, "1000").await;
        let again = rule(&s, "r2", &share).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        assert_eq!(again.body, set.body);

        let bands = json!({"rule": "bands", "instrument": COD, "regular_band_pct": "5",
                           "block_band_pct": "20", "reason": "State Council notice"});
        let set = rule(&s, "r3", &bands).await;
        assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
        let listed = s.get("/v1/market/instruments", Some(&s.economist)).await;
        let cod = &listed.body[0];
        assert_eq!(
            (&cod["regular_band_pct"], &cod["block_band_pct"]),
            (&json!("5"), &json!("20"))
        );
        assert_eq!(
            (&cod["band_lower"], &cod["band_upper"]),
            (&json!("90.00"), &json!("110.00")),
            "today's band stays until the close"
        );

        let lifted = json!({"rule": "holding_limit", "instrument": COD, "enterprise": B,
                            "lift": true, "reason": "case 2026-17 closed"});
        let set = rule(&s, "r4", &lifted).await;
        assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
        assert!(set.body.get("limit_t").is_none(), "{}", set.body);

        let rules = history(&s).await;
        let reasons: Vec<&str> = rules.iter().filter_map(|r| r["reason"].as_str()).collect();
        assert_eq!(
            reasons,
            [
                "concentration: case 2026-17",
                "cool the market after the auction",
                "State Council notice",
                "case 2026-17 closed"
            ]
        );
        assert_eq!(rules[2]["regular_band_pct"], "5");

        // The next close lays the book out ±5 % around it (nothing traded: around 100.00).
        let at = (Utc::now() + Duration::days(7)).to_rfc3339();
        let tick = ets(&s.url, &["tick", "--at", &at, "--json"]).await;
        assert!(
            tick.status.success(),
            "{}",
            String::from_utf8_lossy(&tick.stderr)
        );
        let listed = s.get("/v1/market/instruments", Some(&s.economist)).await;
        let cod = &listed.body[0];
        assert_eq!(
            (&cod["band_lower"], &cod["band_upper"]),
            (&json!("95.00"), &json!("105.00"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rules_are_refused_naming_the_field_and_change_nothing() {
    for s in servers().await {
        market_ready(&s).await;
        let base = json!({"rule": "holding_limit", "instrument": COD, "limit_t": 30,
                          "reason": "why"});
        let with = |patch: Value| {
            let mut body = base.clone();
            for (k, v) in patch.as_object().expect("object") {
                match v {
                    Value::Null => body.as_object_mut().expect("object").remove(k),
                    _ => body
                        .as_object_mut()
                        .expect("object")
                        .insert(k.clone(), v.clone()),
                };
            }
            body
        };
        let cases = [
            (with(json!({"limit_share_pct": "5"})), "/limit_t"),
            (with(json!({"limit_t": null})), "/limit_t"),
            (with(json!({"reason": "  "})), "/reason"),
            (with(json!({"reason": "a\u{0}b"})), "/reason"),
            (with(json!({"colour": "red"})), "colour"),
            (
                with(json!({"rule": "bands", "limit_t": null, "regular_band_pct": "5"})),
                "/block_band_pct",
            ),
            (
                with(json!({"rule": "bands", "limit_t": null, "enterprise": A,
                         "regular_band_pct": "5", "block_band_pct": "20"})),
                "/enterprise",
            ),
            (
                with(
                    json!({"rule": "bands", "limit_t": null, "regular_band_pct": "5.001",
                         "block_band_pct": "20"}),
                ),
                "/regular_band_pct",
            ),
            (
                with(
                    json!({"rule": "bands", "limit_t": null, "regular_band_pct": "100",
                         "block_band_pct": "20"}),
                ),
                "/regular_band_pct",
            ),
            (
                with(json!({"limit_t": null, "limit_share_pct": "0"})),
                "/limit_share_pct",
            ),
            (with(json!({"limit_t": -1})), "/limit_t"),
            (
                with(json!({"limit_t": null, "limit_share_pct": "79228162514264337593543950"})),
                "/limit_share_pct",
            ),
        ];
        for (index, (body, field)) in cases.iter().enumerate() {
            let refused = rule(&s, &format!("bad-{index}"), body).await;
            assert_eq!(refused.status.as_u16(), 422, "{body}: {}", refused.body);
            let named = refused.body["field"].as_str().unwrap_or("");
            let detail = refused.body["detail"].as_str().unwrap_or("");
            assert!(
                named == *field || detail.contains(field),
                "{body}: {}",
                refused.body
            );
        }
        // Refused by the engine: a block band narrower than the regular one.
        let narrow = json!({"rule": "bands", "instrument": COD, "regular_band_pct": "20",
                            "block_band_pct": "5", "reason": "typo"});
        let refused = rule(&s, "narrow", &narrow).await;
        assert!(refused.status.is_client_error(), "{}", refused.body);
        let unknown = with(json!({"instrument": "COD.nowhere.2024"}));
        let refused = rule(&s, "unknown", &unknown).await;
        assert!(refused.status.is_client_error(), "{}", refused.body);
        let stranger = with(json!({"enterprise": "91500000MA5U0099XX"}));
        let refused = rule(&s, "stranger", &stranger).await;
        assert!(refused.status.is_client_error(), "{}", refused.body);
        let by_enterprise = s
            .post(
                "/v1/market/rules",
                Some(&s.enterprise_a),
                Some("mine"),
                &base,
            )
            .await;
        assert_eq!(
            by_enterprise.status,
            StatusCode::FORBIDDEN,
            "{}",
            by_enterprise.body
        );
        assert_eq!(history(&s).await, Vec::<Value>::new(), "nothing was set");
        let listed = s.get("/v1/market/instruments", Some(&s.economist)).await;
        assert_eq!(listed.body[0]["regular_band_pct"], "10");
    }
}

/// A server whose calendar takes orders in sessions only, with `open`–`close` (UTC) its one
/// session every day, on SQLite (the check is made before anything is read or written).
async fn server_with_session(open: &str, close: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("calendar.toml");
    let toml = format!(
        "utc_offset_minutes = 0\nweekends_closed = false\norders_in_sessions_only = true\n\
         sessions = [{{ open = \"{open}\", close = \"{close}\" }}]\n"
    );
    std::fs::write(&path, toml).expect("write the calendar");
    let flags = Flags {
        extra: vec!["--calendar".into(), path.display().to_string()],
        ..limits()
    };
    (sqlite_server(flags).await, dir)
}

/// Outside its sessions the market refuses an order, naming the next open, and writes
/// nothing; inside them the same order rests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_outside_the_sessions_are_refused_when_the_calendar_says_so() {
    // One second a day, at midnight UTC: closed now (unless the test runs in that second).
    let (s, _dir) = server_with_session("00:00:00", "00:00:01").await;
    market_ready(&s).await;
    let head = s.head().await;
    let refused = s
        .post(
            "/v1/market/orders",
            Some(&s.enterprise_b),
            Some("o1"),
            &buy("100.00", "10"),
        )
        .await;
    let problem = refused.problem(409, "market_closed");
    let tomorrow = (Utc::now() + Duration::days(1)).date_naive();
    let next = format!("the next opens at {tomorrow}T00:00:00+00:00");
    assert!(
        problem["detail"].as_str().unwrap_or("").contains(&next),
        "{problem}"
    );
    assert_eq!(s.head().await, head, "a refused order writes nothing");

    // Open all day but the last second: the same order rests.
    let (s, _dir) = server_with_session("00:00:00", "23:59:59").await;
    market_ready(&s).await;
    let placed = s
        .post(
            "/v1/market/orders",
            Some(&s.enterprise_b),
            Some("o1"),
            &buy("100.00", "10"),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    assert_eq!(placed.body["status"], "resting", "{}", placed.body);
}
