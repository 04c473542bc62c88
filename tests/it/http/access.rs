//! Every refusal in the access matrix: 401 without a valid key, 403 for a role or an enterprise
//! reaching beyond its own accounts, each with a problem+json body that says why, nothing written.

use serde_json::{Value, json};

use super::common::*;

/// Who asks, method, path, body, expected status and problem code.
type Case<'a> = (Who, &'a str, &'a str, Option<Value>, u16, &'a str);

enum Who {
    Nobody,
    BadKey,
    EnterpriseA,
    Economist,
}

#[tokio::test]
async fn every_refusal_in_the_access_matrix() {
    for server in servers().await {
        server.setup().await;
        server.issue(COD, A, "100").await;
        server.issue(COD, B, "100").await;
        let head = server.head().await;
        let owner_a = format!("/v1/accounts?owner={A}");
        let owner_b = format!("/v1/accounts?owner={B}");
        let transfer_from_b = json!({"instrument": COD, "from": B, "to": A, "amount": "1"});
        let cases: Vec<Case> = vec![
            (
                Who::Nobody,
                "GET",
                "/v1/instruments",
                None,
                401,
                "missing_api_key",
            ),
            (
                Who::Nobody,
                "POST",
                "/v1/transfers",
                Some(transfer_from_b.clone()),
                401,
                "missing_api_key",
            ),
            (
                Who::BadKey,
                "GET",
                "/v1/accounts",
                None,
                401,
                "unknown_api_key",
            ),
            (
                Who::BadKey,
                "POST",
                "/v1/requests",
                Some(json!({"actions": []})),
                401,
                "unknown_api_key",
            ),
            // An enterprise: never another's accounts, never the bureau's operations.
            (
                Who::EnterpriseA,
                "POST",
                "/v1/transfers",
                Some(transfer_from_b.clone()),
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "POST",
                "/v1/transfers",
                Some(json!({"instrument": COD, "from": "reserve", "to": A, "amount": "1"})),
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "POST",
                "/v1/transfers",
                Some(
                    json!({"instrument": COD, "from": A, "to": B, "amount": "1", "purpose": "allocation"}),
                ),
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "POST",
                "/v1/surrenders",
                Some(
                    json!({"instrument": COD, "enterprise": B, "amount": "1", "compliance_year": 2024}),
                ),
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "POST",
                "/v1/issuances",
                Some(json!({"instrument": COD, "to": A, "amount": "1"})),
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "POST",
                "/v1/reductions",
                Some(
                    json!({"reduction": "R1", "enterprise": A, "instrument": COD, "amount": "1", "measure": "upgrade", "evidence": "x"}),
                ),
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "POST",
                "/v1/enterprises",
                Some(enterprise(C, "Gamma Steel", "500105")),
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "POST",
                "/v1/freezes",
                Some(json!({"instrument": COD, "holder": B})),
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "POST",
                "/v1/requests",
                Some(
                    json!({"actions": [{"type": "transfer", "instrument": COD, "from": B, "to": A, "amount": "1"}]}),
                ),
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "POST",
                "/v1/requests",
                Some(
                    json!({"actions": [{"type": "issue", "instrument": COD, "to": A, "amount": "1"}]}),
                ),
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "POST",
                "/v1/requests",
                Some(
                    json!({"actions": [{"type": "place_hold", "hold": "h", "instrument": COD, "from": B, "amount": "1", "expires_at": "2099-01-01T00:00:00Z"}]}),
                ),
                403,
                "forbidden",
            ),
            (Who::EnterpriseA, "GET", &owner_b, None, 403, "forbidden"),
            (
                Who::EnterpriseA,
                "GET",
                "/v1/journal",
                None,
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "GET",
                "/v1/verify",
                None,
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "GET",
                "/v1/aggregates",
                None,
                403,
                "forbidden",
            ),
            (
                Who::EnterpriseA,
                "GET",
                "/v1/stream/journal",
                None,
                403,
                "forbidden",
            ),
            // An economist: reads market data and aggregates, nothing else.
            (
                Who::Economist,
                "POST",
                "/v1/transfers",
                Some(json!({"instrument": COD, "from": A, "to": B, "amount": "1"})),
                403,
                "forbidden",
            ),
            (
                Who::Economist,
                "POST",
                "/v1/requests",
                Some(
                    json!({"actions": [{"type": "transfer", "instrument": COD, "from": A, "to": B, "amount": "1"}]}),
                ),
                403,
                "forbidden",
            ),
            (
                Who::Economist,
                "POST",
                "/v1/issuances",
                Some(json!({"instrument": COD, "to": A, "amount": "1"})),
                403,
                "forbidden",
            ),
            (Who::Economist, "GET", &owner_a, None, 403, "forbidden"),
            (
                Who::Economist,
                "GET",
                "/v1/accounts",
                None,
                403,
                "forbidden",
            ),
            (Who::Economist, "GET", "/v1/journal", None, 403, "forbidden"),
            (Who::Economist, "GET", "/v1/verify", None, 403, "forbidden"),
            (
                Who::Economist,
                "GET",
                "/v1/stream/journal",
                None,
                403,
                "forbidden",
            ),
        ];
        for (index, (who, method, path, body, status, code)) in cases.into_iter().enumerate() {
            let key = match who {
                Who::Nobody => None,
                Who::BadKey => {
                    Some("ets_0000000000000000000000000000000000000000000000".to_owned())
                }
                Who::EnterpriseA => Some(server.enterprise_a.clone()),
                Who::Economist => Some(server.economist.clone()),
            };
            let answer = match (method, body) {
                ("POST", Some(body)) => {
                    server
                        .post(
                            path,
                            key.as_deref(),
                            Some(&format!("access-{index}")),
                            &body,
                        )
                        .await
                }
                _ => server.get(path, key.as_deref()).await,
            };
            println!("{method} {path}: {}", answer.body);
            answer.problem(status, code);
        }
        assert_eq!(server.head().await, head, "no refusal wrote anything");
        assert_eq!(server.balance(B, COD).await, "100.000");
    }
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429() {
    let server = sqlite_server(Flags {
        rate_per_second: 1,
        rate_burst: 3,
        ..limits()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(server.get("/v1/whoami", Some(&server.economist)).await);
    }
    assert!(statuses[..3].iter().all(|a| a.status == 200));
    let limited = statuses[4].problem(429, "rate_limited");
    assert!(
        limited["detail"]
            .as_str()
            .unwrap_or("")
            .contains("1 requests/s")
    );
    assert!(statuses[4].headers.contains_key("retry-after"));
    // Another key has its own bucket.
    assert_eq!(
        server.get("/v1/whoami", Some(&server.bureau)).await.status,
        200
    );
}

/// Keys from the command line: their rules, and a revoked key refused over HTTP on every backend
/// (the servers read keys afresh: `--key-cache-seconds 0`).
#[tokio::test]
async fn revoked_keys_and_key_rules() {
    let mut backends = vec![{
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("ets.db").display());
        (url, Some(dir))
    }];
    if let Some(url) = postgres_database().await {
        backends.push((url, None));
    }
    for (url, dir) in backends {
        let flags = Flags {
            key_cache_seconds: 0,
            ..Flags::default()
        };
        let server = start(url.clone(), dir, flags).await;
        for (args, needle) in [
            (
                vec!["admin", "create-key", "--role", "enterprise"],
                "needs --enterprise",
            ),
            (
                vec!["admin", "create-key", "--role", "bureau", "--enterprise", A],
                "only enterprise keys are bound to a credit code",
            ),
            (
                vec!["admin", "create-key", "--role", "economist", "--label", ""],
                "label must not be empty",
            ),
            (vec!["admin", "revoke-key", "nonsense"], "neither a key"),
            (
                vec!["admin", "revoke-key", "0123456789abcdef"],
                "no live key with id 0123456789abcdef",
            ),
        ] {
            let output = ets(&url, &args).await;
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(stderr.contains(needle), "{args:?}: {stderr}");
            assert!(output.stdout.is_empty(), "no key printed: {args:?}");
        }

        let key = create_key(&url, "economist", None, "to-revoke").await;
        assert!(key.starts_with("ets_") && key.len() == 52, "{key}");
        let whoami = server.get("/v1/whoami", Some(&key)).await;
        assert_eq!(whoami.status, 200, "{}", whoami.body);
        let id = whoami.body["key_id"].as_str().expect("key_id").to_owned();
        let revoked = ets(&url, &["admin", "revoke-key", &key]).await;
        assert!(
            revoked.status.success(),
            "{}",
            String::from_utf8_lossy(&revoked.stderr)
        );
        server
            .get("/v1/whoami", Some(&key))
            .await
            .problem(401, "unknown_api_key");
        server
            .post(
                "/v1/scenarios/run",
                Some(&key),
                Some("after-revoke"),
                &json!({}),
            )
            .await
            .problem(401, "unknown_api_key");
        // By id, a second time: nothing left to revoke.
        let again = ets(&url, &["admin", "revoke-key", &id]).await;
        assert_eq!(again.status.code(), Some(1));
        // The other keys still work.
        assert_eq!(
            server
                .get("/v1/whoami", Some(&server.economist))
                .await
                .status,
            200
        );
    }
}

/// An enterprise key is made only for a valid, registered credit code.
#[tokio::test]
async fn enterprise_keys_need_a_registered_credit_code() {
    for server in servers().await {
        for (code, expected) in [
            (
                "91500103MA5U00012H",
                "not a valid unified social credit code",
            ),
            ("not-a-code", "not a valid unified social credit code"),
            ("91500106MA5U00046F", "is not in the register"),
        ] {
            let out = ets(
                &server.url,
                &[
                    "admin",
                    "create-key",
                    "--role",
                    "enterprise",
                    "--enterprise",
                    code,
                ],
            )
            .await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{code}: {stderr}");
            assert!(stderr.contains(expected), "{code}: {stderr}");
            assert!(out.stdout.is_empty(), "no key printed for {code}");
        }
        let made = create_key(&server.url, "enterprise", Some(B), "beta-2").await;
        assert!(made.starts_with("ets_"), "{made}");
    }
}

/// A revoked key stops working on every server within the key cache's lifetime
/// (`--key-cache-seconds`), though each server had it cached.
#[tokio::test]
async fn a_revoked_key_stops_on_every_server_within_the_cache_lifetime() {
    let flags = Flags {
        key_cache_seconds: 1,
        ..Flags::default()
    };
    let first = sqlite_server(flags).await;
    let second = first.another_process().await;
    let key = create_key(&first.url, "economist", None, "short-lived").await;
    for server in [&first, &second] {
        let who = server.get("/v1/whoami", Some(&key)).await;
        assert_eq!(who.status, 200, "{}", who.body);
    }
    let revoked = ets(&first.url, &["admin", "revoke-key", &key]).await;
    assert!(revoked.status.success());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for server in [&first, &second] {
        server
            .get("/v1/whoami", Some(&key))
            .await
            .problem(401, "unknown_api_key");
    }
}
