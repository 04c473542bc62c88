//! The market over real HTTP, on SQLite and PostgreSQL: each role's job (bureau lists, opens
//! and clears a reserve auction, vetoes, freezes; enterprises trade, bid and transfer; the
//! economist reads market data), access refusals (nobody sees another's orders or sealed
//! bids), idempotent retries, bad input answered 4xx with nothing held, the SSE feed, and a
//! second server process on the same database serving the same book.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;

use super::common::*;

async fn open_holds(server: &Server) -> usize {
    server
        .ledger()
        .await
        .store()
        .holds()
        .await
        .expect("holds")
        .into_iter()
        .filter(|h| h.state == ledger::book::HoldState::Open)
        .count()
}

fn order(side: &str, price: &str, quantity: &str) -> Value {
    json!({"instrument": COD, "side": side, "type": "limit", "price": price, "quantity": quantity})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_does_its_market_job_and_nothing_more() {
    for s in servers().await {
        s.setup().await;
        s.issue(COD, A, "1000").await;
        s.issue(COD, "reserve", "500").await;
        let funded = s
            .post(
                "/v1/requests",
                Some(&s.bureau),
                Some("fund"),
                &json!({"actions": [deposit(A, "100000.00"), deposit(B, "100000.00")]}),
            )
            .await;
        assert_eq!(funded.status, StatusCode::CREATED, "{}", funded.body);

        // Listing: the bureau only; a retry answers the first listing.
        let listing =
            json!({"instrument": COD, "tick": "0.01", "lot_t": 10, "previous_close": "100.00"});
        s.post(
            "/v1/market/instruments",
            Some(&s.economist),
            Some("l0"),
            &listing,
        )
        .await
        .problem(403, "forbidden");
        s.post(
            "/v1/market/instruments",
            Some(&s.enterprise_a),
            Some("l0"),
            &listing,
        )
        .await
        .problem(403, "forbidden");
        let listed = s
            .post(
                "/v1/market/instruments",
                Some(&s.bureau),
                Some("l1"),
                &listing,
            )
            .await;
        assert_eq!(listed.status, StatusCode::CREATED, "{}", listed.body);
        assert_eq!(listed.body["band_upper"], "110.00");
        let again = s
            .post(
                "/v1/market/instruments",
                Some(&s.bureau),
                Some("l1"),
                &listing,
            )
            .await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        assert_eq!(
            again
                .headers
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap_or("")),
            Some("true")
        );
        let listed_all = s.get("/v1/market/instruments", Some(&s.economist)).await;
        assert_eq!(
            listed_all.body.as_array().map(Vec::len),
            Some(1),
            "{}",
            listed_all.body
        );

        // Continuous trading: A rests an ask, B lifts part of it.
        let ask = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_a),
                Some("o1"),
                &order("sell", "100.50", "100"),
            )
            .await;
        assert_eq!(ask.status, StatusCode::CREATED, "{}", ask.body);
        assert_eq!(ask.body["status"], "resting");
        let ask_id = ask.body["order"].as_u64().expect("order id");
        let bid_body = order("buy", "100.50", "60");
        let lift = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_b),
                Some("o2"),
                &bid_body,
            )
            .await;
        assert_eq!(lift.status, StatusCode::CREATED, "{}", lift.body);
        assert_eq!(
            (lift.body["status"].as_str(), lift.body["filled"].as_str()),
            (Some("filled"), Some("60"))
        );
        // A retry of the same order is the same order, not a second one.
        let retry = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_b),
                Some("o2"),
                &bid_body,
            )
            .await;
        assert_eq!(retry.body, lift.body);
        assert_eq!(
            retry
                .headers
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap_or("")),
            Some("true")
        );
        s.post(
            "/v1/market/orders",
            Some(&s.enterprise_b),
            Some("o2"),
            &order("buy", "100.40", "60"),
        )
        .await
        .problem(422, "idempotency_key_reused");
        s.post(
            "/v1/market/orders",
            Some(&s.economist),
            Some("o3"),
            &bid_body,
        )
        .await
        .problem(403, "forbidden");

        // Bad input: 4xx, the field named, nothing held.
        let holds = open_holds(&s).await;
        let bad = [
            (
                order("buy", "100.005", "10"),
                422,
                "not_multiple_of_tick",
                Some("/price"),
            ),
            (
                order("buy", "100.00", "15"),
                422,
                "not_multiple_of_lot",
                Some("/quantity"),
            ),
            (
                order("buy", "150.00", "10"),
                422,
                "outside_band",
                Some("/price"),
            ),
            (
                order("buy", "100.00", "9000"),
                409,
                "insufficient_balance",
                None,
            ),
            (
                json!({"instrument": "NOPE.x", "side": "buy", "type": "limit", "price": "100.00", "quantity": "10"}),
                404,
                "not_found",
                None,
            ),
            (
                json!({"instrument": COD, "side": "buy", "type": "limit", "quantity": "10"}),
                422,
                "invalid_field",
                None,
            ),
            // A typo is refused by name, never taken as the default (a day order).
            (
                json!({"instrument": COD, "side": "buy", "type": "limit", "price": "100.00", "quantity": "10", "time_in_forc": "ioc"}),
                422,
                "invalid_field",
                Some("/time_in_forc"),
            ),
            (
                order("buy", "1e2", "10"),
                422,
                "invalid_field",
                Some("/price"),
            ),
            (
                order("buy", "100.00", "+10"),
                422,
                "invalid_field",
                Some("/quantity"),
            ),
        ];
        for (i, (body, status, code, field)) in bad.iter().enumerate() {
            let answer = s
                .post(
                    "/v1/market/orders",
                    Some(&s.enterprise_b),
                    Some(&format!("bad{i}")),
                    body,
                )
                .await;
            let problem = answer.problem(*status, code);
            if let Some(field) = field {
                assert_eq!(problem["field"], *field, "{problem}");
            }
        }
        assert_eq!(open_holds(&s).await, holds, "refused orders hold nothing");

        // Orders: each enterprise its own, the bureau all, the economist none.
        let mine = s.get("/v1/market/orders", Some(&s.enterprise_a)).await;
        assert_eq!(mine.body.as_array().map(Vec::len), Some(1), "{}", mine.body);
        assert_eq!(mine.body[0]["quantity"], "40");
        let theirs = s.get("/v1/market/orders", Some(&s.enterprise_b)).await;
        assert_eq!(theirs.body, json!([]), "B never sees A's orders");
        let all = s.get("/v1/market/orders", Some(&s.bureau)).await;
        assert_eq!(all.body.as_array().map(Vec::len), Some(1));
        s.get("/v1/market/orders", Some(&s.economist))
            .await
            .problem(403, "forbidden");

        // Market data for everyone.
        let book = s
            .get(
                &format!("/v1/market/book?instrument={COD}"),
                Some(&s.economist),
            )
            .await;
        assert_eq!(book.status, StatusCode::OK, "{}", book.body);
        assert_eq!(
            book.body["asks"],
            json!([{"price": "100.50", "quantity": "40", "orders": 1}])
        );
        let trades = s
            .get(
                &format!("/v1/market/trades?instrument={COD}&limit=1"),
                Some(&s.economist),
            )
            .await;
        assert_eq!(trades.body["trades"][0]["seq"], 1, "{}", trades.body);
        assert_eq!(trades.body["trades"][0]["quantity"], "60");
        assert_eq!(trades.body["has_more"], false);
        let after = s
            .get(
                &format!("/v1/market/trades?instrument={COD}&after=1"),
                Some(&s.economist),
            )
            .await;
        assert_eq!(after.body["trades"], json!([]));
        let daily = s
            .get(
                &format!("/v1/market/daily?instrument={COD}"),
                Some(&s.economist),
            )
            .await;
        assert_eq!(daily.body["vwap"], "100.5000", "{}", daily.body);
        assert_eq!(daily.body["volume"], "60");

        // A cancel by someone else is refused; by the owner it releases the hold.
        s.post(
            "/v1/market/orders/cancel",
            Some(&s.enterprise_b),
            Some("c1"),
            &json!({"instrument": COD, "order": ask_id}),
        )
        .await
        .problem(403, "forbidden");
        let cancelled = s
            .post(
                "/v1/market/orders/cancel",
                Some(&s.enterprise_a),
                Some("c2"),
                &json!({"instrument": COD, "order": ask_id}),
            )
            .await;
        assert_eq!(cancelled.status, StatusCode::CREATED, "{}", cancelled.body);
        assert_eq!(open_holds(&s).await, 0, "nothing held after the cancel");

        // The reserve auction: uniform price, reserve price, per-bidder cap of 50%.
        let seed = [42_u8; 32];
        let commitment = hex::encode(sha2::Sha256::digest(seed));
        let closes_at = chrono::Utc::now() + chrono::Duration::milliseconds(2_500);
        let opened = s
            .post(
                "/v1/market/auctions",
                Some(&s.bureau),
                Some("a1"),
                &json!({"auction": 1, "instrument": COD, "volume": "100", "reserve_price": "80.00",
                        "bidder_cap_percent": 50, "closes_at": closes_at, "seed_commitment": commitment,
                        "containment": {"trigger_price": "92.00", "volume": "10"}}),
            )
            .await;
        assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
        assert_eq!(opened.body["seed_commitment"], commitment.as_str());
        // An enterprise's one-way auction has no cost-containment reserve: refused, by field.
        let refused = s
            .post(
                "/v1/market/auctions",
                Some(&s.enterprise_a),
                Some("a2"),
                &json!({"auction": 2, "instrument": COD, "volume": "10", "reserve_price": "80.00",
                        "bidder_cap_percent": 50, "closes_at": closes_at, "seed_commitment": commitment,
                        "containment": {"trigger_price": "92.00", "volume": "10"}}),
            )
            .await;
        assert_eq!(
            refused.problem(422, "invalid_field")["field"],
            "/containment"
        );
        for (key, who, price, quantity) in [
            ("b1", &s.enterprise_a, "90.00", "50"),
            ("b2", &s.enterprise_b, "95.00", "60"),
        ] {
            let bid = s
                .post(
                    "/v1/market/auctions/1/bids",
                    Some(who),
                    Some(key),
                    &json!({"price": price, "quantity": quantity}),
                )
                .await;
            assert_eq!(bid.status, StatusCode::CREATED, "{}", bid.body);
        }
        s.post(
            "/v1/market/auctions/1/bids",
            Some(&s.enterprise_a),
            Some("b3"),
            &json!({"price": "70.00", "quantity": "10"}),
        )
        .await
        .problem(422, "below_reserve_price");
        // A third bid by A, withdrawn again: B may not withdraw it, A may once, its guarantee
        // is released (it still counts as submitted; A's own view lists only its live bid).
        let extra = s
            .post(
                "/v1/market/auctions/1/bids",
                Some(&s.enterprise_a),
                Some("b5"),
                &json!({"price": "85.00", "quantity": "10"}),
            )
            .await;
        assert_eq!(extra.status, StatusCode::CREATED, "{}", extra.body);
        let extra_bid = extra.body["bid"].as_u64().expect("bid id");
        let withdraw = format!("/v1/market/auctions/1/bids/{extra_bid}/withdraw");
        let holds_with_extra = open_holds(&s).await;
        let by_b = s
            .post(&withdraw, Some(&s.enterprise_b), Some("w1"), &json!({}))
            .await;
        assert!(by_b.status.is_client_error(), "{}", by_b.body);
        let withdrawn = s
            .post(&withdraw, Some(&s.enterprise_a), Some("w2"), &json!({}))
            .await;
        assert_eq!(withdrawn.status, StatusCode::CREATED, "{}", withdrawn.body);
        assert_eq!(open_holds(&s).await, holds_with_extra - 1);
        let again = s
            .post(&withdraw, Some(&s.enterprise_a), Some("w3"), &json!({}))
            .await;
        assert!(again.status.is_client_error(), "{}", again.body);
        let sealed = s.get("/v1/market/auctions/1", Some(&s.economist)).await;
        assert_eq!(sealed.body["bid_count"], 3, "{}", sealed.body);
        assert_eq!(
            sealed.body["bids"],
            json!([]),
            "the economist never sees sealed bids"
        );
        let own = s.get("/v1/market/auctions/1", Some(&s.enterprise_a)).await;
        assert_eq!(
            own.body["bids"].as_array().map(Vec::len),
            Some(1),
            "{}",
            own.body
        );
        assert_eq!(own.body["bids"][0]["price"], "90.00");
        let bureau_view = s.get("/v1/market/auctions/1", Some(&s.bureau)).await;
        assert_eq!(
            bureau_view.body["bids"],
            json!([]),
            "sealed for the bureau too"
        );
        tokio::time::sleep(Duration::from_millis(2_700)).await;
        s.post(
            "/v1/market/auctions/1/bids",
            Some(&s.enterprise_b),
            Some("b4"),
            &json!({"price": "99.00", "quantity": "10"}),
        )
        .await
        .problem(409, "bidding_closed");
        s.post(
            "/v1/market/auctions/1/close",
            Some(&s.bureau),
            Some("x0"),
            &json!({"seed": hex::encode([1_u8; 32])}),
        )
        .await
        .problem(422, "seed_mismatch");
        let closed = s
            .post(
                "/v1/market/auctions/1/close",
                Some(&s.bureau),
                Some("x1"),
                &json!({"seed": hex::encode(seed)}),
            )
            .await;
        assert_eq!(closed.status, StatusCode::CREATED, "{}", closed.body);
        assert_eq!(closed.body["state"], "cleared");
        assert_eq!(closed.body["clearing_price"], "90.00", "{}", closed.body);
        let awards = closed.body["awards"].as_array().expect("awards");
        assert_eq!(awards.len(), 2);
        assert!(awards.iter().all(|a| a["quantity"] == "50"), "{awards:?}");
        let result = s.get("/v1/market/auctions/1", Some(&s.economist)).await;
        assert_eq!(
            result.body["bids"],
            json!([]),
            "the economist sees awards, never bids"
        );
        assert_eq!(result.body["bid_count"], 3, "{}", result.body);
        assert_public_audit_reruns(&result.body, seed, &commitment);

        // A bilateral transfer: proposed by A, accepted by B; the economist cannot read it.
        let proposed = s
            .post(
                "/v1/market/transfers",
                Some(&s.enterprise_a),
                Some("t1"),
                &json!({"instrument": COD, "buyer": B, "quantity": "20", "price": "100.00",
                        "expires_at": chrono::Utc::now() + chrono::Duration::hours(1)}),
            )
            .await;
        assert_eq!(proposed.status, StatusCode::CREATED, "{}", proposed.body);
        let transfer = proposed.body["transfer"].as_u64().expect("id");
        s.post(
            &format!("/v1/market/transfers/{transfer}/accept"),
            Some(&s.enterprise_a),
            Some("t2"),
            &json!({}),
        )
        .await
        .problem(403, "forbidden");
        let accepted = s
            .post(
                &format!("/v1/market/transfers/{transfer}/accept"),
                Some(&s.enterprise_b),
                Some("t3"),
                &json!({}),
            )
            .await;
        assert_eq!(accepted.body["state"], "settled", "{}", accepted.body);
        s.get("/v1/market/transfers", Some(&s.economist))
            .await
            .problem(403, "forbidden");
        // B received 60 (trade) + 50 (auction) + 20 (transfer) tonnes.
        let b_rights: f64 = s.balance(B, COD).await.parse().expect("number");
        assert_eq!(b_rights, 130.0);

        // Freeze: A's order is cancelled and A can no longer trade.
        s.post(
            "/v1/market/orders",
            Some(&s.enterprise_a),
            Some("o9"),
            &order("sell", "101.00", "10"),
        )
        .await;
        let frozen = s
            .post(
                "/v1/market/freezes",
                Some(&s.bureau),
                Some("f1"),
                &json!({"enterprise": A}),
            )
            .await;
        assert_eq!(frozen.status, StatusCode::CREATED, "{}", frozen.body);
        assert_eq!(open_holds(&s).await, 0);
        s.post(
            "/v1/market/orders",
            Some(&s.enterprise_a),
            Some("o10"),
            &order("sell", "101.00", "10"),
        )
        .await
        .problem(409, "account_frozen");
        // Unfreeze: A may order again; unfreezing twice is refused.
        let unfrozen = s
            .post(
                "/v1/market/unfreezes",
                Some(&s.bureau),
                Some("u1"),
                &json!({"enterprise": A}),
            )
            .await;
        assert_eq!(unfrozen.status, StatusCode::CREATED, "{}", unfrozen.body);
        let twice = s
            .post(
                "/v1/market/unfreezes",
                Some(&s.bureau),
                Some("u2"),
                &json!({"enterprise": A}),
            )
            .await;
        assert!(twice.status.is_client_error(), "{}", twice.body);
        let after = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_a),
                Some("o11"),
                &order("sell", "101.00", "10"),
            )
            .await;
        assert_eq!(after.status, StatusCode::CREATED, "{}", after.body);

        // The feed: trade 1 (resumed after Last-Event-ID 0), then the book.
        let response = s
            .client
            .get(format!("{}/v1/stream/market?instrument={COD}", s.base))
            .bearer_auth(&s.economist)
            .header("last-event-id", "0")
            .send()
            .await
            .expect("stream");
        assert_eq!(response.status(), StatusCode::OK);
        let text = read_some(response, "book").await;
        let field = |name: &str| -> Vec<String> {
            text.lines()
                .filter_map(|line| line.strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .collect()
        };
        assert_eq!(
            field("event:").first().map(String::as_str),
            Some("trade"),
            "{text}"
        );
        assert_eq!(
            field("id:").first().map(String::as_str),
            Some("1"),
            "{text}"
        );
        assert!(field("event:").iter().any(|e| e == "book"), "{text}");

        // Another server process on the same database serves the same market.
        let other = s.another_process().await;
        let here = s
            .get(
                &format!("/v1/market/book?instrument={COD}"),
                Some(&s.economist),
            )
            .await;
        let there = other
            .get(
                &format!("/v1/market/book?instrument={COD}"),
                Some(&other.economist),
            )
            .await;
        assert_eq!(here.body, there.body);
        let trades_there = other
            .get(
                &format!("/v1/market/trades?instrument={COD}"),
                Some(&other.economist),
            )
            .await;
        assert_eq!(
            trades_there.body["trades"].as_array().map(Vec::len),
            Some(1)
        );
        // An order through the other process appears here.
        let via_other = other
            .post(
                "/v1/market/orders",
                Some(&other.enterprise_b),
                Some("o-other"),
                &order("buy", "99.00", "10"),
            )
            .await;
        assert_eq!(via_other.status, StatusCode::CREATED, "{}", via_other.body);
        let book = s
            .get(
                &format!("/v1/market/book?instrument={COD}"),
                Some(&s.economist),
            )
            .await;
        assert_eq!(book.body["bids"][0]["price"], "99.00", "{}", book.body);
    }
}

/// Reads the event stream until `until` appears (or a few seconds pass).
async fn read_some(mut response: reqwest::Response, until: &str) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !text.contains(until) {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

/// A refused first use writes nothing: a listing the market refuses maps no instrument, and an
/// enterprise's refused first order maps no account; its first accepted order is one entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_first_use_writes_nothing() {
    for s in servers().await {
        s.setup().await;
        let funded = s
            .post(
                "/v1/requests",
                Some(&s.bureau),
                Some("fund"),
                &json!({"actions": [deposit(B, "100000.00")]}),
            )
            .await;
        assert_eq!(funded.status, StatusCode::CREATED, "{}", funded.body);
        let listing =
            json!({"instrument": COD, "tick": "0.01", "lot_t": 10, "previous_close": "100.00"});
        let listed = s
            .post(
                "/v1/market/instruments",
                Some(&s.bureau),
                Some("l1"),
                &listing,
            )
            .await;
        assert_eq!(listed.status, StatusCode::CREATED, "{}", listed.body);

        let head = s.head().await;
        for (key, instrument, close) in [
            ("l2", CNY, "80.00"),
            ("l3", "NOPE.2024", "80.00"),
            ("l4", CEA, "80.005"),
        ] {
            let refused = s
                .post(
                    "/v1/market/instruments",
                    Some(&s.bureau),
                    Some(key),
                    &json!({"instrument": instrument, "tick": "0.01", "lot_t": 1, "previous_close": close}),
                )
                .await;
            assert!(
                refused.status.is_client_error(),
                "{instrument}: {} {}",
                refused.status,
                refused.body
            );
            assert!(refused.body["field"].is_string(), "{}", refused.body);
        }
        // B's first order, outside the ±10% band: refused by the engine, no account mapped.
        s.post(
            "/v1/market/orders",
            Some(&s.enterprise_b),
            Some("b1"),
            &order("buy", "150.00", "10"),
        )
        .await
        .problem(422, "outside_band");
        assert_eq!(s.head().await, head, "refused first uses write nothing");

        let placed = s
            .post(
                "/v1/market/orders",
                Some(&s.enterprise_b),
                Some("b2"),
                &order("buy", "100.00", "10"),
            )
            .await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        assert_eq!(
            s.head().await,
            head + 1,
            "the mapping and the order: one entry"
        );
    }
}

/// After the close anyone sees the audit: the revealed seed (matching the commitment), the
/// bids in submission order under bidder numbers (no names), and rules that `ets auction
/// clear` reads; clearing them offline gives the registry's price and awards.
fn assert_public_audit_reruns(view: &Value, seed: [u8; 32], commitment: &str) {
    let audit = &view["audit"];
    assert_eq!(audit["rules"]["seed"], hex::encode(seed), "{view}");
    assert_eq!(audit["rules"]["seed_commitment"], commitment);
    assert_eq!(
        audit["bids"],
        json!([
            {"bid": "b0", "bidder": "bidder-1", "price": "90.00", "quantity": "50"},
            {"bid": "b1", "bidder": "bidder-2", "price": "95.00", "quantity": "60"},
            {"bid": "b2", "bidder": "bidder-1", "price": "85.00", "quantity": "0"},
        ])
    );
    assert!(!audit.to_string().contains(A) && !audit.to_string().contains(B));
    // The cost-containment reserve (trigger 92.00) stays unsold: the auction cleared at 90.00.
    assert_eq!(
        audit["rules"]["containment"],
        json!({"trigger_price": "92.00", "volume": "10"})
    );
    assert_eq!(audit["containment_sold"], "0");
    let input = |label: &str, value: &Value| offline::round::Input {
        label: label.to_owned(),
        reader: std::io::Cursor::new(value.to_string()),
    };
    let rules = offline::auction::rules_from(input("rules.json", &audit["rules"])).expect("rules");
    let bids = offline::auction::bids_from(input("bids.json", &audit["bids"])).expect("bids");
    let outcome = offline::auction::clear(&rules, &bids, "bids.json").expect("clear");
    assert_eq!(
        outcome.clearing_price.map(|p| p.to_string()),
        view["clearing_price"].as_str().map(str::to_owned)
    );
    let awarded: Vec<String> = (outcome.awards.iter())
        .filter(|a| !a.awarded.is_zero())
        .map(|a| a.awarded.to_string())
        .collect();
    let registry: Vec<String> = (view["awards"].as_array().expect("awards").iter())
        .map(|a| a["quantity"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(awarded, registry);
    assert_eq!(outcome.awards[2].status, "withdrawn");
}
