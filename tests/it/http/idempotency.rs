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
