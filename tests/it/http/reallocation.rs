//! Capacity applications and reallocation rounds over HTTP, on SQLite and PostgreSQL: private
//! applications, a dry run that writes nothing, a commit that posts exactly the grants it
//! publishes, an idempotent second commit, and bad input answered with every problem.

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::common::*;

fn dec(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a decimal string, got {value}"))
        .parse()
        .expect("decimal")
}

fn application(quantity: &str) -> Value {
    json!({
        "project": "wafer line expansion",
        "requests": [{"pollutant": "COD", "quantity": quantity}],
        "min_viable_share": "0",
        "basin": "yangtze-cq",
        "airshed": "cq-main",
        "tags": ["major_project"],
        "value_added_cny_per_year": "250000000",
        "jobs": 300,
    })
}

/// Freed capacity in the reserve: B holds 100 COD and the bureau certifies 60 of it freed.
async fn free_capacity(server: &Server) {
    server.issue(COD, B, "100").await;
    let answer = server
        .post(
            "/v1/reductions",
            Some(&server.bureau),
            Some("reduction-1"),
            &json!({"reduction": "R-1", "enterprise": B, "instrument": COD, "amount": "60",
                    "measure": "upgrade", "evidence": "acceptance report 2026-17"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}

async fn reserve(server: &Server) -> Decimal {
    let answer = server
        .get("/v1/accounts?owner=bureau", Some(&server.bureau))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["kind"] == "reserve" && a["instrument"] == COD)
        .map(|a| dec(&a["balance"]))
        .unwrap_or_default()
}

async fn balance(server: &Server, owner: &str) -> Decimal {
    server.balance(owner, COD).await.parse().expect("decimal")
}

#[tokio::test]
async fn applications_are_private_validated_and_withdrawable() {
    for server in servers().await {
        server.setup().await;
        let filed = server
            .post(
                "/v1/applications",
                Some(&server.enterprise_a),
                Some("apply-1"),
                &application("30"),
            )
            .await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        assert_eq!(filed.body["status"], "pending");
        assert_eq!(filed.body["enterprise"], A);
        let id = filed.body["id"].as_str().expect("id").to_owned();

        // A retry replays the first answer; the same key with another body is refused.
        let again = server
            .post(
                "/v1/applications",
                Some(&server.enterprise_a),
                Some("apply-1"),
                &application("30"),
            )
            .await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.body["id"], id.as_str());
        assert_eq!(again.headers["idempotent-replayed"], "true");
        server
            .post(
                "/v1/applications",
                Some(&server.enterprise_a),
                Some("apply-1"),
                &application("31"),
            )
            .await
            .problem(422, "idempotency_key_reused");

        // B files its own; neither sees the other's.
        let b = server
            .post(
                "/v1/applications",
                Some(&server.enterprise_b),
                Some("apply-b"),
                &application("10"),
            )
            .await;
        assert_eq!(b.status, StatusCode::CREATED, "{}", b.body);
        let listed = server
            .get("/v1/applications", Some(&server.enterprise_b))
            .await;
        let ids: Vec<&str> = listed.body["applications"]
            .as_array()
            .expect("list")
            .iter()
            .map(|a| a["enterprise"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(ids, [B]);
        server
            .get(
                &format!("/v1/applications/{id}"),
                Some(&server.enterprise_b),
            )
            .await
            .problem(404, "not_found");
        server
            .get(
                &format!("/v1/applications?enterprise={A}"),
                Some(&server.enterprise_b),
            )
            .await
            .problem(403, "forbidden");
        server
            .post(
                "/v1/applications",
                Some(&server.enterprise_b),
                Some("apply-b-for-a"),
                &json!({"enterprise": A, "project": "x", "requests": [{"pollutant": "COD", "quantity": "1"}],
                        "basin": "yangtze-cq", "airshed": "cq-main", "value_added_cny_per_year": "1"}),
            )
            .await
            .problem(403, "forbidden");
        server
            .get("/v1/applications", Some(&server.economist))
            .await
            .problem(403, "forbidden");
        let all = server.get("/v1/applications", Some(&server.bureau)).await;
        assert_eq!(all.body["applications"].as_array().expect("all").len(), 2);

        // Every problem of a bad application at once; nothing stored.
        let bad = server
            .post(
                "/v1/applications",
                Some(&server.enterprise_a),
                Some("apply-bad"),
                &json!({
                    "project": "",
                    "requests": [
                        {"pollutant": "COD", "quantity": "-5"},
                        {"pollutant": "PM9", "quantity": "1"},
                        {"pollutant": "COD", "quantity": "1.0001"},
                    ],
                    "min_viable_share": "1.5",
                    "basin": "nile",
                    "airshed": "cq-main",
                    "value_added_cny_per_year": "10",
                }),
            )
            .await;
        let problem = bad.problem(422, "invalid_input");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().unwrap_or(""))
            .collect();
        for expected in [
            "/project",
            "/requests/0/quantity",
            "/requests/1/pollutant",
            "/requests/2/pollutant",
            "/requests/2/quantity",
            "/min_viable_share",
            "/basin",
        ] {
            assert!(fields.contains(&expected), "{expected} in {fields:?}");
        }
        let all = server.get("/v1/applications", Some(&server.bureau)).await;
        assert_eq!(all.body["applications"].as_array().expect("all").len(), 2);

        // Withdraw: once; then it is no longer pending.
        let withdrawn = server
            .post(
                &format!("/v1/applications/{id}/withdraw"),
                Some(&server.enterprise_a),
                Some("withdraw-1"),
                &json!({}),
            )
            .await;
        assert_eq!(withdrawn.status, StatusCode::OK, "{}", withdrawn.body);
        assert_eq!(withdrawn.body["status"], "withdrawn");
        server
            .post(
                &format!("/v1/applications/{id}/withdraw"),
                Some(&server.enterprise_a),
                Some("withdraw-2"),
                &json!({}),
            )
            .await
            .problem(409, "conflict");
        let pending = server
            .get("/v1/applications?status=pending", Some(&server.bureau))
            .await;
        let pending: Vec<&str> = pending.body["applications"]
            .as_array()
            .expect("pending")
            .iter()
            .map(|a| a["enterprise"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(pending, [B]);
    }
}

#[tokio::test]
async fn a_round_dry_runs_commits_exactly_and_commits_once() {
    for server in servers().await {
        server.setup().await;
        free_capacity(&server).await;
        for (key, who, quantity) in [
            ("a-1", &server.enterprise_a, "30"),
            ("b-1", &server.enterprise_b, "50"),
        ] {
            let filed = server
                .post(
                    "/v1/applications",
                    Some(who),
                    Some(key),
                    &application(quantity),
                )
                .await;
            assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        }
        let body = json!({"policy_id": "chongqing-2020-r1"});
        let reserve_before = reserve(&server).await;
        let (a_before, b_before) = (balance(&server, A).await, balance(&server, B).await);
        let head = server.head().await;

        // Dry run: the whole explanation, nothing written.
        let dry = server
            .post(
                "/v1/rounds/2026-R1/dry-run",
                Some(&server.bureau),
                Some("dry-1"),
                &body,
            )
            .await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
        assert_eq!(dry.body["state"], "dry_run");
        let allocation = &dry.body["allocation"];
        assert_eq!(allocation["policy_version"], "chongqing-2020-r1");
        let apps = allocation["applications"].as_array().expect("apps");
        assert_eq!(apps.len(), 2);
        for app in apps {
            assert!(app["tier"].is_u64(), "{app}");
            assert!(app["fill_rate"].is_number(), "{app}");
            assert!(["full", "partial", "none"].contains(&app["status"].as_str().unwrap_or("")));
        }
        let pools = allocation["pools"].as_array().expect("pools");
        assert_eq!(pools.len(), 1);
        assert!(
            allocation["tiers"]
                .as_array()
                .is_some_and(|t| !t.is_empty())
        );
        assert!(
            allocation["flows"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        );
        assert_eq!(server.head().await, head, "a dry run writes nothing");
        server
            .get("/v1/rounds/2026-R1", Some(&server.economist))
            .await
            .problem(404, "not_found");
        let pending = server
            .get("/v1/applications?status=pending", Some(&server.bureau))
            .await;
        assert_eq!(pending.body["applications"].as_array().expect("p").len(), 2);

        // Only the bureau runs rounds.
        server
            .post(
                "/v1/rounds/2026-R1/dry-run",
                Some(&server.economist),
                Some("dry-e"),
                &body,
            )
            .await
            .problem(403, "forbidden");
        server
            .post(
                "/v1/rounds/2026-R1/commit",
                Some(&server.enterprise_a),
                Some("commit-a"),
                &body,
            )
            .await
            .problem(403, "forbidden");

        // Commit: one journal entry posting exactly the published grants.
        let committed = server
            .post(
                "/v1/rounds/2026-R1/commit",
                Some(&server.bureau),
                Some("commit-1"),
                &body,
            )
            .await;
        assert_eq!(committed.status, StatusCode::CREATED, "{}", committed.body);
        assert_eq!(committed.body["state"], "committed");
        assert_eq!(server.head().await, head + 1, "one atomic ledger request");
        assert_eq!(committed.body["journal_seq"], head + 1);
        let allocation = &committed.body["allocation"];
        assert_eq!(
            allocation, &dry.body["allocation"],
            "nothing changed between the dry run and the commit"
        );
        let granted_to = |who: &str| -> Decimal {
            allocation["applications"]
                .as_array()
                .expect("apps")
                .iter()
                .filter(|a| a["enterprise"] == who)
                .flat_map(|a| a["grants"].as_array().cloned().unwrap_or_default())
                .map(|g| dec(&g["granted"]))
                .sum()
        };
        let (to_a, to_b) = (granted_to(A), granted_to(B));
        assert!(to_a > Decimal::ZERO && to_b > Decimal::ZERO, "{allocation}");
        assert_eq!(balance(&server, A).await, a_before + to_a);
        assert_eq!(balance(&server, B).await, b_before + to_b);
        let pool = &allocation["pools"][0];
        assert_eq!(dec(&pool["granted"]), to_a + to_b);
        assert_eq!(
            dec(&pool["used"]) + dec(&pool["left"]) + dec(&pool["held_back"]),
            dec(&pool["total"]),
            "pool conserved: {pool}"
        );
        assert_eq!(
            reserve(&server).await,
            reserve_before - dec(&pool["used"]),
            "the reserve gives exactly what was granted and retired"
        );
        let verify = server.get("/v1/verify", Some(&server.bureau)).await;
        assert_eq!(verify.status, 200, "{}", verify.body);

        // Applications are marked with their outcome.
        let mine = server
            .get("/v1/applications", Some(&server.enterprise_a))
            .await;
        let mine = &mine.body["applications"][0];
        assert!(
            ["granted", "partial"].contains(&mine["status"].as_str().unwrap_or("")),
            "{mine}"
        );
        assert_eq!(mine["round_id"], "2026-R1");
        assert_eq!(
            mine["result"]["grants"][0]["granted"],
            allocation["applications"]
                .as_array()
                .expect("apps")
                .iter()
                .find(|a| a["enterprise"] == A)
                .expect("A")["grants"][0]["granted"]
        );

        // The same commit again: the same result, nothing written.
        let again = server
            .post(
                "/v1/rounds/2026-R1/commit",
                Some(&server.bureau),
                Some("commit-2"),
                &body,
            )
            .await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(again.body["allocation"], *allocation);
        assert_eq!(server.head().await, head + 1);
        // Another input under the same id: refused, nothing written.
        server
            .post(
                "/v1/rounds/2026-R1/commit",
                Some(&server.bureau),
                Some("commit-3"),
                &json!({"policy_toml": "version = \"other\"\ndefault_tier = 4\n"}),
            )
            .await
            .problem(409, "conflict");
        assert_eq!(server.head().await, head + 1);
        assert_eq!(balance(&server, A).await, a_before + to_a);

        // Published: economists read it; enterprises read their own outcome instead.
        let published = server
            .get("/v1/rounds/2026-R1", Some(&server.economist))
            .await;
        assert_eq!(published.status, 200, "{}", published.body);
        assert_eq!(published.body["allocation"], *allocation);
        let listed = server.get("/v1/rounds", Some(&server.economist)).await;
        assert_eq!(listed.body["rounds"][0]["round_id"], "2026-R1");
        server
            .get("/v1/rounds/2026-R1", Some(&server.enterprise_a))
            .await
            .problem(403, "forbidden");
    }
}

#[tokio::test]
async fn a_bad_round_lists_every_problem_and_writes_nothing() {
    for server in servers().await {
        server.setup().await;
        free_capacity(&server).await;
        let head = server.head().await;
        let inline = |id: &str, enterprise: &str, pollutant: &str, quantity: &str| {
            json!({
                "id": id, "enterprise": enterprise, "project": "p",
                "requests": [{"pollutant": pollutant, "quantity": quantity}],
                "location": {"district": "", "basin": "yangtze-cq", "airshed": "cq-main", "zone": "general"},
                "credit": "good", "value_added_cny_per_year": "1000", "filed_at_unix_s": 0,
            })
        };
        let body = json!({
            "policy_toml": "version = \"bad\"\ndefault_tier = 4\nreserve_share = \"1.5\"\n",
            "applications": [
                inline("neg", A, "COD", "-3"),
                inline("unknown-pollutant", A, "PM9", "1"),
                inline("decimals", B, "COD", "1.0001"),
                inline("stranger", C, "COD", "1"),
            ],
        });
        let answer = server
            .post(
                "/v1/rounds/bad-1/commit",
                Some(&server.bureau),
                Some("bad-commit"),
                &body,
            )
            .await;
        let problem = answer.problem(422, "invalid_input");
        let text = problem["errors"].to_string();
        for needle in [
            "negative quantity -3",
            "unknown pollutant `PM9`",
            "more decimal places",
            "is not registered",
            "reserve_share",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert_eq!(server.head().await, head, "nothing written");
        server
            .get("/v1/rounds/bad-1", Some(&server.bureau))
            .await
            .problem(404, "not_found");
        // The same id is still free for a good round.
        let good = server
            .post(
                "/v1/rounds/bad-1/dry-run",
                Some(&server.bureau),
                Some("good-dry"),
                &json!({"policy_id": "chongqing-2020-r1", "applications": [inline("ok", A, "COD", "5")]}),
            )
            .await;
        assert_eq!(good.status, StatusCode::OK, "{}", good.body);
        // A round id already committed to the ledger outside the API (as the demo does) is kept.
        let outside = ledger::Request {
            idempotency_key: api::services::reallocation::commit_key("R-outside"),
            actor: "bureau".into(),
            memo: None,
            actions: vec![ledger::Action::Allocate {
                instrument: COD.into(),
                to: A.into(),
                amount: ledger::Quantity("1".parse().expect("decimal")),
            }],
        };
        server
            .ledger()
            .await
            .submit(outside)
            .await
            .expect("a round posted outside the API");
        let head = server.head().await;
        server
            .post(
                "/v1/rounds/R-outside/commit",
                Some(&server.bureau),
                Some("outside-commit"),
                &json!({"policy_id": "chongqing-2020-r1", "applications": [inline("again", A, "COD", "1")]}),
            )
            .await
            .problem(409, "conflict");
        assert_eq!(server.head().await, head);
        // Malformed policy fields and unknown policies are named.
        let unknown = server
            .post(
                "/v1/rounds/bad-2/dry-run",
                Some(&server.bureau),
                Some("unknown-policy"),
                &json!({"policy_id": "nope"}),
            )
            .await;
        assert_eq!(unknown.problem(422, "invalid_input")["field"], "/policy_id");
    }
}

#[tokio::test]
async fn an_interrupted_commit_is_finished_with_the_stored_request() {
    for server in servers().await {
        server.setup().await;
        free_capacity(&server).await;
        let filed = server
            .post(
                "/v1/applications",
                Some(&server.enterprise_a),
                Some("a-1"),
                &application("20"),
            )
            .await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        let body = json!({"policy_id": "chongqing-2020-r1"});
        // A server planned and stored the commit, then stopped before posting it.
        let spec = api::services::rounds::RoundSpec {
            id: "R-crash".into(),
            policy: api::services::rounds::policy_by_id("chongqing-2020-r1").expect("policy"),
            application_ids: None,
            inline: Vec::new(),
        };
        let plan = api::services::rounds::plan(server.ledger().await, server.db().await, spec)
            .await
            .expect("plan");
        let fingerprint = api::idempotency::fingerprint(
            "POST",
            "/v1/rounds/R-crash/commit",
            body.to_string().as_bytes(),
        );
        let insert = "INSERT INTO api_rounds (id, fingerprint, state, policy_version, request, result, journal_seq, created_at, committed_at)
                      VALUES ($1, $2, 'committing', $3, $4, $5, NULL, '2026-11-28T00:00:00Z', NULL)";
        let request = serde_json::to_string(&plan.request).expect("request");
        let result = serde_json::to_string(&plan.allocation).expect("result");
        match server.db().await {
            api::db::Db::Sqlite(pool) => {
                sqlx::query(insert)
                    .bind("R-crash")
                    .bind(&fingerprint)
                    .bind(&plan.allocation.policy_version)
                    .bind(&request)
                    .bind(&result)
                    .execute(pool)
                    .await
                    .expect("insert");
            }
            api::db::Db::Postgres(pool) => {
                sqlx::query(insert)
                    .bind("R-crash")
                    .bind(&fingerprint)
                    .bind(&plan.allocation.policy_version)
                    .bind(&request)
                    .bind(&result)
                    .execute(pool)
                    .await
                    .expect("insert");
            }
        }
        let head = server.head().await;
        let a_before = balance(&server, A).await;
        // The retry posts the stored request once and marks everything committed.
        let committed = server
            .post(
                "/v1/rounds/R-crash/commit",
                Some(&server.bureau),
                Some("commit-retry"),
                &body,
            )
            .await;
        assert_eq!(committed.status, StatusCode::CREATED, "{}", committed.body);
        assert_eq!(committed.body["state"], "committed");
        assert_eq!(server.head().await, head + 1);
        let granted: Decimal = plan.allocation.applications[0]
            .grants
            .iter()
            .map(|g| g.granted)
            .sum();
        assert!(granted > Decimal::ZERO);
        assert_eq!(balance(&server, A).await, a_before + granted);
        let mine = server
            .get("/v1/applications", Some(&server.enterprise_a))
            .await;
        assert_eq!(mine.body["applications"][0]["round_id"], "R-crash");
        // And once more: nothing new.
        let again = server
            .post(
                "/v1/rounds/R-crash/commit",
                Some(&server.bureau),
                Some("commit-again"),
                &body,
            )
            .await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(server.head().await, head + 1);
    }
}

/// The register decides eligibility: a chemical manufacturer (GB/T 4754 class 2614) 800 m from
/// the Yangtze that leaves `chemical` out of its application, and claims a priority tag the
/// register does not give it, is still excluded by the 1 km rule.
#[tokio::test]
async fn the_register_not_the_applicant_decides_eligibility() {
    const D: &str = "91500106MA5U00046F";
    for server in servers().await {
        server.setup().await;
        free_capacity(&server).await;
        let mut chemical = enterprise(D, "Delta Chemicals", "500106");
        chemical["industry_codes"] = json!(["2614"]);
        chemical["declared_tags"] = json!([]);
        chemical["distance_to_river_m"] = json!(800);
        let registered = server
            .post(
                "/v1/enterprises",
                Some(&server.bureau),
                Some("reg-d"),
                &chemical,
            )
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.body
        );
        let mut filing = application("20");
        filing["enterprise"] = json!(D);
        filing["tags"] = json!(["high_tech_manufacturing", "major_project"]);
        let filed = server
            .post(
                "/v1/applications",
                Some(&server.bureau),
                Some("apply-d"),
                &filing,
            )
            .await;
        assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
        let dry = server
            .post(
                "/v1/rounds/2026-R9/dry-run",
                Some(&server.bureau),
                Some("dry-d"),
                &json!({"policy_id": "chongqing-2020-r1"}),
            )
            .await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
        let apps = dry.body["allocation"]["applications"]
            .as_array()
            .expect("apps");
        let delta = apps
            .iter()
            .find(|a| a["enterprise"] == D)
            .unwrap_or_else(|| panic!("D in {apps:?}"));
        assert_eq!(delta["status"], "excluded", "{delta}");
        let rules: Vec<&str> = delta["exclusions"]
            .as_array()
            .expect("exclusions")
            .iter()
            .map(|hit| hit["rule"].as_str().unwrap_or(""))
            .collect();
        assert!(rules.contains(&"river_distance"), "{delta}");
    }
}
