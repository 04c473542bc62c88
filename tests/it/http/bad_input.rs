//! Bad input of every kind gets a 4xx problem naming the field, never a 5xx, and writes nothing.

use serde_json::json;

use super::common::*;

#[tokio::test]
async fn bad_input_is_refused_with_the_field_and_nothing_is_written() {
    for server in servers().await {
        server.setup().await;
        server.issue(COD, A, "10").await;
        let head = server.head().await;
        let key = server.bureau.clone();
        // (body, status, code, field)
        let cases: Vec<(String, u16, &str, Option<&str>)> = vec![
            ("{\"instrument\": ".to_owned(), 400, "bad_request", None),
            ("not json".to_owned(), 400, "bad_request", None),
            (
                "{\"instrument\" \"x\"}".to_owned(),
                400,
                "bad_request",
                None,
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "1", "colour": "red"})
                    .to_string(),
                422,
                "invalid_field",
                Some("colour"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B}).to_string(),
                422,
                "invalid_field",
                Some("body"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": 1.5}).to_string(),
                422,
                "invalid_field",
                Some("amount"),
            ),
            (
                json!({"instrument": 7, "from": A, "to": B, "amount": "1"}).to_string(),
                422,
                "invalid_field",
                Some("instrument"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "abc"}).to_string(),
                422,
                "invalid_field",
                Some("amount"),
            ),
            // Amounts have one spelling: plain digits, an optional `-` and point.
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "1e2"}).to_string(),
                422,
                "invalid_field",
                Some("amount"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "1E-3"}).to_string(),
                422,
                "invalid_field",
                Some("amount"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "+1"}).to_string(),
                422,
                "invalid_field",
                Some("amount"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": ".5"}).to_string(),
                422,
                "invalid_field",
                Some("amount"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "1."}).to_string(),
                422,
                "invalid_field",
                Some("amount"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "1.0001"}).to_string(),
                422,
                "too_many_decimal_places",
                Some("amount"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "-1"}).to_string(),
                422,
                "non_positive_amount",
                Some("amount"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "0"}).to_string(),
                422,
                "non_positive_amount",
                Some("amount"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "1", "purpose": "gift"})
                    .to_string(),
                422,
                "invalid_field",
                Some("purpose"),
            ),
            (
                json!({"instrument": "NOPE.x.2024", "from": A, "to": B, "amount": "1"}).to_string(),
                404,
                "unknown_instrument",
                Some("instrument"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": "91500199MA5U0099XX", "amount": "1"})
                    .to_string(),
                404,
                "unknown_enterprise",
                None,
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "99999999999999999999"})
                    .to_string(),
                422,
                "amount_out_of_range",
                Some("amount"),
            ),
            (
                json!({"instrument": COD, "from": A, "to": A, "amount": "1"}).to_string(),
                422,
                "same_party",
                None,
            ),
            (
                json!({"instrument": COD, "from": A, "to": B, "amount": "1000"}).to_string(),
                409,
                "insufficient_balance",
                Some("amount"),
            ),
        ];
        for (index, (body, status, code, field)) in cases.into_iter().enumerate() {
            let answer = server
                .post_raw(
                    "/v1/transfers",
                    Some(&key),
                    Some(&format!("bad-{index}")),
                    "application/json",
                    body.clone(),
                )
                .await;
            println!("{body} -> {}", answer.body);
            answer.problem(status, code);
            if let Some(field) = field {
                assert_eq!(answer.body["field"], field, "{body}: {}", answer.body);
            }
        }
        // Batches name the action and its field.
        let batches = [
            (
                json!({"actions": [{"type": "transfer", "instrument": COD, "from": A, "to": B, "amount": "1"}, {"type": "teleport"}]}),
                422,
                "invalid_field",
                "actions[1]",
            ),
            (
                json!({"actions": [{"type": "transfer", "instrument": COD, "from": A, "to": B, "amount": 3}]}),
                422,
                "invalid_field",
                "actions[0]",
            ),
            (
                json!({"actions": [{"type": "transfer", "instrument": COD, "from": A, "to": B, "amount": "1", "x": 1}]}),
                422,
                "invalid_field",
                "actions[0]",
            ),
            (
                json!({"actions": [{"type": "transfer", "instrument": COD, "from": A, "to": B, "amount": "1"}, {"type": "transfer", "instrument": COD, "from": A, "to": B, "amount": "1.00001"}]}),
                422,
                "too_many_decimal_places",
                "actions[1].amount",
            ),
            (json!({"actions": []}), 422, "empty_request", "actions"),
            (
                json!({"actions": [], "extra": true}),
                422,
                "invalid_field",
                "extra",
            ),
        ];
        for (index, (body, status, code, field)) in batches.into_iter().enumerate() {
            let answer = server
                .post(
                    "/v1/requests",
                    Some(&key),
                    Some(&format!("bad-batch-{index}")),
                    &body,
                )
                .await;
            println!("{body} -> {}", answer.body);
            answer.problem(status, code);
            assert!(
                answer.body["field"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(field),
                "{body}: {}",
                answer.body
            );
        }
        // Transport-level refusals.
        let big = format!(
            "{{\"memo\": \"{}\", \"actions\": []}}",
            "x".repeat(100 * 1024)
        );
        server
            .post_raw(
                "/v1/requests",
                Some(&key),
                Some("big"),
                "application/json",
                big,
            )
            .await
            .problem(413, "body_too_large");
        server
            .post_raw(
                "/v1/transfers",
                Some(&key),
                Some("ct"),
                "text/plain",
                "{}".to_owned(),
            )
            .await
            .problem(415, "unsupported_media_type");
        server
            .get("/v1/journal?limit=0", Some(&key))
            .await
            .problem(422, "invalid_field");
        server
            .get("/v1/journal?limit=x", Some(&key))
            .await
            .problem(422, "invalid_field");
        server
            .get("/v1/journal?after=-1", Some(&key))
            .await
            .problem(422, "invalid_field");
        server
            .get("/v1/nothing", Some(&key))
            .await
            .problem(404, "not_found");
        let long_key = "k".repeat(101);
        server
            .post("/v1/transfers", Some(&key), Some(&long_key), &json!({}))
            .await
            .problem(422, "invalid_field");

        assert_eq!(server.head().await, head, "no bad input wrote anything");
        assert_eq!(server.balance(A, COD).await, "10.000");
    }
}
