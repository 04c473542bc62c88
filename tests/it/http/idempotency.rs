//! Retries with the same `Idempotency-Key` replay the first answer, refusals included.

use serde_json::json;

use super::common::*;

#[tokio::test]
async fn retries_replay_the_first_answer() {
    for server in servers().await {
        server.setup().await;
        server.issue(COD, A, "10").await;
        let body = json!({"instrument": COD, "from": A, "to": B, "amount": "4"});
        let first = server
            .post(
                "/v1/transfers",
                Some(&server.enterprise_a),
                Some("k1"),
                &body,
            )
            .await;
        assert_eq!(first.status, 201, "{}", first.body);
        assert!(!first.headers.contains_key("idempotent-replayed"));
        let again = server
            .post(
                "/v1/transfers",
                Some(&server.enterprise_a),
                Some("k1"),
                &body,
            )
            .await;
        assert_eq!(again.status, 201, "{}", again.body);
        assert_eq!(
            again
                .headers
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap_or("")),
            Some("true")
        );
        assert_eq!(again.body["seq"], first.body["seq"]);
        assert_eq!(again.body["hash"], first.body["hash"]);
        assert_eq!(again.body["replayed"], true);
        assert_eq!(server.balance(B, COD).await, "4.000", "moved once");

        // The same key for a different request is refused; nothing moves.
        let other = json!({"instrument": COD, "from": A, "to": B, "amount": "5"});
        server
            .post(
                "/v1/transfers",
                Some(&server.enterprise_a),
                Some("k1"),
                &other,
            )
            .await
            .problem(422, "idempotency_key_reused");

        // Keys are per caller: B may use "k1" for its own request.
        server.issue(COD, B, "1").await;
        let b = server
            .post(
                "/v1/transfers",
                Some(&server.enterprise_b),
                Some("k1"),
                &json!({"instrument": COD, "from": B, "to": A, "amount": "1"}),
            )
            .await;
        assert_eq!(b.status, 201, "{}", b.body);
        assert!(!b.headers.contains_key("idempotent-replayed"));

        // A refusal is replayed too, even once the request would now succeed.
        let big = json!({"instrument": COD, "from": A, "to": B, "amount": "50"});
        let refused = server
            .post(
                "/v1/transfers",
                Some(&server.enterprise_a),
                Some("k2"),
                &big,
            )
            .await;
        refused.problem(409, "insufficient_balance");
        assert_eq!(refused.body["field"], "amount");
        server.issue(COD, A, "100").await;
        let replay = server
            .post(
                "/v1/transfers",
                Some(&server.enterprise_a),
                Some("k2"),
                &big,
            )
            .await;
        replay.problem(409, "insufficient_balance");
        assert_eq!(
            replay
                .headers
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap_or("")),
            Some("true")
        );
        server
            .post(
                "/v1/transfers",
                Some(&server.enterprise_a),
                Some("k2"),
                &body,
            )
            .await
            .problem(422, "idempotency_key_reused");

        // Without the header a POST is refused before anything else.
        server
            .post("/v1/transfers", Some(&server.enterprise_a), None, &body)
            .await
            .problem(400, "missing_idempotency_key");
        assert_eq!(
            server.balance(B, COD).await,
            "4.000",
            "the refused and unkeyed requests moved nothing"
        );
    }
}

/// A key names one request on one endpoint across the whole API: used on a ledger endpoint, it
/// is refused on a market endpoint (and the other way), naming where it was first used.
#[tokio::test]
async fn a_key_is_claimed_across_every_endpoint() {
    for s in servers().await {
        s.setup().await;
        s.issue(COD, A, "100").await;
        let funded = s
            .post(
                "/v1/requests",
                Some(&s.bureau),
                Some("fund"),
                &json!({"actions": [{"type": "deposit", "instrument": CNY, "enterprise": B, "amount": "5000.00"}]}),
            )
            .await;
        assert_eq!(funded.status, 201, "{}", funded.body);
        let listing =
            json!({"instrument": COD, "tick": "0.01", "lot_t": 10, "previous_close": "100.00"});
        let listed = s
            .post(
                "/v1/market/instruments",
                Some(&s.bureau),
                Some("fund"),
                &listing,
            )
            .await;
        listed.problem(422, "idempotency_key_reused");
        let detail = listed.body["detail"].as_str().unwrap_or("");
        assert!(
            detail.contains("first used on POST /v1/requests at 20"),
            "{}",
            listed.body
        );
        assert_eq!(listed.body["field"], "Idempotency-Key");
        assert_eq!(
            s.get("/v1/market/instruments", Some(&s.bureau)).await.body,
            json!([]),
            "nothing listed"
        );
        let listed = s
            .post(
                "/v1/market/instruments",
                Some(&s.bureau),
                Some("list"),
                &listing,
            )
            .await;
        assert_eq!(listed.status, 201, "{}", listed.body);
        // An enterprise's key used for a transfer cannot place an order, nor the reverse.
        let transfer = json!({"instrument": COD, "from": A, "to": B, "amount": "1"});
        let moved = s
            .post("/v1/transfers", Some(&s.enterprise_a), Some("k"), &transfer)
            .await;
        assert_eq!(moved.status, 201, "{}", moved.body);
        let order = json!({"instrument": COD, "side": "sell", "type": "limit", "price": "100.00", "quantity": "10"});
        s.post(
            "/v1/market/orders",
            Some(&s.enterprise_a),
            Some("k"),
            &order,
        )
        .await
        .problem(422, "idempotency_key_reused");
        let placed = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_a),
                Some("o"),
                &order,
            )
            .await;
        assert_eq!(placed.status, 201, "{}", placed.body);
        let surrender =
            json!({"instrument": COD, "enterprise": A, "amount": "1", "compliance_year": 2024});
        s.post(
            "/v1/surrenders",
            Some(&s.enterprise_a),
            Some("o"),
            &surrender,
        )
        .await
        .problem(422, "idempotency_key_reused");
        // The same request on the same endpoint is still a replay.
        let again = s
            .post("/v1/transfers", Some(&s.enterprise_a), Some("k"), &transfer)
            .await;
        assert_eq!(again.status, 201, "{}", again.body);
        assert_eq!(again.body["replayed"], true);
        assert_eq!(s.balance(B, COD).await, "1.000");
    }
}
