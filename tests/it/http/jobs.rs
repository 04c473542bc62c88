//! Each role's whole job, end to end.

use serde_json::json;

use super::common::*;

#[tokio::test]
async fn bureau_enterprise_and_economist_do_their_jobs() {
    for server in servers().await {
        // Bureau: the register, issuance, a third enterprise through its own endpoint.
        server.setup().await;
        let registered = server
            .post(
                "/v1/enterprises",
                Some(&server.bureau),
                Some("register-c"),
                &enterprise(C, "Gamma Steel", "500105"),
            )
            .await;
        assert_eq!(registered.status, 201, "{}", registered.body);
        server.issue(COD, A, "100").await;
        server.issue(CEA, A, "50").await;

        // Enterprise A: transfer to B, read its own accounts, surrender.
        let transfer = server
            .post(
                "/v1/transfers",
                Some(&server.enterprise_a),
                Some("t1"),
                &json!({"instrument": COD, "from": A, "to": B, "amount": "12.5"}),
            )
            .await;
        assert_eq!(transfer.status, 201, "{}", transfer.body);
        assert_eq!(transfer.body["replayed"], false);
        assert_eq!(transfer.body["postings"][0]["amount"], "12.500");
        let own = server.get("/v1/accounts", Some(&server.enterprise_a)).await;
        assert_eq!(own.status, 200, "{}", own.body);
        let accounts = own.body["accounts"].as_array().expect("accounts");
        assert!(
            accounts.iter().all(|a| a["owner"] == A),
            "only its own: {}",
            own.body
        );
        assert!(
            accounts
                .iter()
                .any(|a| a["instrument"] == COD && a["balance"] == "87.500"),
            "{}",
            own.body
        );
        let surrender = server
            .post("/v1/surrenders", Some(&server.enterprise_a), Some("s1"), &json!({"instrument": CEA, "enterprise": A, "amount": "20", "compliance_year": 2024}))
            .await;
        assert_eq!(surrender.status, 201, "{}", surrender.body);
        // A batch of its own actions: two transfers, all or nothing.
        let batch = server
            .post(
                "/v1/requests",
                Some(&server.enterprise_a),
                Some("b1"),
                &json!({"actions": [
                    {"type": "transfer", "instrument": COD, "from": A, "to": B, "amount": "0.25"},
                    {"type": "transfer", "instrument": COD, "from": A, "to": B, "amount": "0.25"}
                ]}),
            )
            .await;
        assert_eq!(batch.status, 201, "{}", batch.body);
        assert_eq!(server.balance(B, COD).await, "13.000");

        // Bureau: certify a reduction at B, freeze A, and A's next transfer is refused.
        let reduction = server
            .post(
                "/v1/reductions",
                Some(&server.bureau),
                Some("r1"),
                &json!({"reduction": "R-2024-001", "enterprise": B, "instrument": COD, "amount": "3", "measure": "upgrade", "evidence": "report 17"}),
            )
            .await;
        assert_eq!(reduction.status, 201, "{}", reduction.body);
        assert_eq!(server.balance(B, COD).await, "10.000");
        let freeze = server
            .post(
                "/v1/freezes",
                Some(&server.bureau),
                Some("f1"),
                &json!({"instrument": COD, "holder": A}),
            )
            .await;
        assert_eq!(freeze.status, 201, "{}", freeze.body);
        let frozen = server
            .post(
                "/v1/transfers",
                Some(&server.enterprise_a),
                Some("t2"),
                &json!({"instrument": COD, "from": A, "to": B, "amount": "1"}),
            )
            .await;
        frozen.problem(409, "account_frozen");
        let unfreeze = server
            .post(
                "/v1/freezes",
                Some(&server.bureau),
                Some("f2"),
                &json!({"instrument": COD, "holder": A, "frozen": false}),
            )
            .await;
        assert_eq!(unfreeze.status, 201, "{}", unfreeze.body);

        // Economist: instruments and anonymised aggregates, no holder named.
        let instruments = server.get("/v1/instruments", Some(&server.economist)).await;
        assert_eq!(instruments.status, 200);
        assert!(
            instruments.body["instruments"]
                .as_array()
                .expect("list")
                .iter()
                .any(|i| i["code"] == COD && i["scale"] == 3)
        );
        let aggregates = server.get("/v1/aggregates", Some(&server.economist)).await;
        assert_eq!(aggregates.status, 200, "{}", aggregates.body);
        let text = aggregates.body.to_string();
        assert!(
            !text.contains(A) && !text.contains(B),
            "aggregates name no enterprise: {text}"
        );
        let cod = aggregates.body["instruments"]
            .as_array()
            .expect("list")
            .iter()
            .find(|i| i["instrument"] == COD)
            .cloned()
            .expect("COD");
        assert_eq!(cod["issued"], "100.000");
        assert_eq!(cod["holders"], 2);
        assert_eq!(cod["reserve"], "3.000");

        // Bureau: the journal page by page, then verification.
        let mut after = 0;
        let mut seen = Vec::new();
        loop {
            let page = server
                .get(
                    &format!("/v1/journal?after={after}&limit=3"),
                    Some(&server.bureau),
                )
                .await;
            assert_eq!(page.status, 200, "{}", page.body);
            for entry in page.body["entries"].as_array().expect("entries") {
                seen.push(entry["seq"].as_u64().expect("seq"));
            }
            match page.body["next_after"].as_u64() {
                Some(next) => after = next,
                None => break,
            }
        }
        let head = server.head().await;
        assert_eq!(seen, (1..=head).collect::<Vec<_>>());
        let verify = server.get("/v1/verify", Some(&server.bureau)).await;
        assert_eq!(verify.status, 200, "{}", verify.body);
        assert_eq!(verify.body["ok"], true, "{}", verify.body);
        assert_eq!(verify.body["head_seq"], head);

        let who = server.get("/v1/whoami", Some(&server.enterprise_a)).await;
        assert_eq!(who.body["role"], "enterprise");
        assert_eq!(who.body["enterprise"], A);
        let health = server.get("/health", None).await;
        assert_eq!(health.status, 200);
        let metrics = server
            .client
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .expect("metrics");
        let text = metrics.text().await.expect("text");
        assert!(
            text.lines()
                .any(|line| line.starts_with("ets_http_requests_total{")
                    && line.contains("route=\"/v1/whoami\"")
                    && line.contains("status=\"200\"")),
            "{text}"
        );
        assert!(
            text.contains(&format!("ets_journal_head_seq {head}")),
            "{text}"
        );
    }
}

/// Two `ets serve` processes on one PostgreSQL database: each has its own ledger handle and
/// writer, and the ledger's lock keeps the chain whole.
#[tokio::test]
async fn two_servers_share_one_postgres() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let first = start(url, None, limits()).await;
    let second = first.another_process().await;
    first.setup().await;
    first.issue(COD, A, "1000").await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (base, key) = if i % 2 == 0 {
            (first.base.clone(), first.enterprise_a.clone())
        } else {
            (second.base.clone(), first.enterprise_a.clone())
        };
        let client = first.client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{base}/v1/transfers"))
                .bearer_auth(key)
                .header("idempotency-key", format!("pg-{i}"))
                .json(&json!({"instrument": COD, "from": A, "to": B, "amount": "1"}))
                .send()
                .await
                .expect("send")
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), 201);
    }
    assert_eq!(second.balance(B, COD).await, "40.000");
    let verify = second.get("/v1/verify", Some(&second.bureau)).await;
    assert_eq!(verify.body["ok"], true, "{}", verify.body);
}
