//! Scenario runs over HTTP: the summary equals the library's own run of the same text, the tidy
//! CSV on `Accept: text/csv`, errors that name the key, and the bounds (body size, concurrent
//! runs per process, time), set with `ets serve --scenario-runs / --scenario-seconds`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::common::*;

const P1: &str = include_str!("../../../scenarios/examples/p1_two_firms_linear.toml");

#[tokio::test]
async fn an_economist_runs_a_scenario_and_gets_the_engines_answer() {
    let server = sqlite_server(limits()).await;
    let answer = server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.economist),
            Some("run-1"),
            "application/toml",
            P1.to_owned(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let (scenario, expected) = scenarios::run_text(
        P1,
        scenarios::TextFormat::Toml,
        &scenarios::RunOptions::default(),
    )
    .expect("the library runs P1");
    assert_eq!(
        answer.body["manifest"]["scenario_hash"],
        scenario.content_hash()
    );
    let prices: Vec<f64> = answer.body["result"]["market"]
        .as_array()
        .expect("market")
        .iter()
        .map(|y| y["price"].as_f64().expect("price"))
        .collect();
    // Compared through the same JSON text and parser (serde_json's default float parsing is not
    // bit-exact for every value, e.g. 1.9999999999999998).
    let expected_prices: Vec<f64> =
        serde_json::from_str(&serde_json::to_string(&expected.prices()).expect("json"))
            .expect("parse");
    assert_eq!(prices, expected_prices);
    assert!(!prices.is_empty());

    // The same scenario as JSON, by the bureau.
    let spec: toml::Value = toml::from_str(P1).expect("toml");
    let as_json = serde_json::to_string(&spec).expect("json");
    let answer = server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.bureau),
            Some("run-json"),
            "application/json",
            as_json,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["result"]["market"][0]["price"], prices[0]);

    // The tidy long CSV.
    let csv = server
        .client
        .post(format!("{}/v1/scenarios/run", server.base))
        .bearer_auth(&server.economist)
        .header("idempotency-key", "run-csv")
        .header("content-type", "text/toml")
        .header("accept", "text/csv")
        .body(P1)
        .send()
        .await
        .expect("send");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    let text = csv.text().await.expect("text");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(scenarios::output::LONG_HEADER));
    assert!(
        text.lines().any(|l| l.contains(",firm1,emissions,t,")),
        "firm rows in the CSV"
    );
}

#[tokio::test]
async fn scenario_errors_name_the_key_and_the_bounds_hold() {
    let server = sqlite_server(limits()).await;
    let bad = P1.replace("by_year = 60.0", "by_year = -60.0");
    let answer = server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.economist),
            Some("bad-1"),
            "application/toml",
            bad,
        )
        .await;
    let problem = answer.problem(422, "invalid_field");
    assert!(
        problem["field"].as_str().unwrap_or("").contains("cap"),
        "{problem}"
    );
    let unknown = P1.replace("[cap]", "[cap]\nbogus_key = 1");
    let answer = server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.economist),
            Some("bad-2"),
            "application/toml",
            unknown,
        )
        .await;
    let problem = answer.problem(422, "invalid_field");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("bogus_key"),
        "{problem}"
    );
    server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.economist),
            Some("bad-3"),
            "text/plain",
            P1.to_owned(),
        )
        .await
        .problem(422, "invalid_field");
    server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.enterprise_a),
            Some("bad-4"),
            "application/toml",
            P1.to_owned(),
        )
        .await
        .problem(403, "forbidden");
    // Over the server's body limit (64 KiB in tests): 413 before any parsing.
    let huge = format!("{P1}\n#{}", "x".repeat(70 * 1024));
    server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.economist),
            Some("bad-5"),
            "application/toml",
            huge,
        )
        .await
        .problem(413, "body_too_large");
}

/// A valid scenario that keeps the engine busy for seconds (debug build: ~6 s of CPU): 400 firms
/// with 60-step cost curves over 200 years with banking (about 340 KB of TOML).
/// A scenario that runs for seconds (minutes in a debug build).
pub(super) fn slow_scenario() -> String {
    let mut text = String::from(
        "schema_version = 1\nname = \"slow\"\nyears = { start = 2026, end = 2225 }\n\
         [cap]\nby_year = 20000\n[banking]\nenabled = true\ndiscount_rate = 0.05\n",
    );
    for firm in 0..400_u32 {
        let steps: Vec<String> = (0..60_u32)
            .map(|k| format!("[0.016,{}]", 10 + (firm * 7 + k * 13) % 997))
            .collect();
        text.push_str(&format!(
            "[[firms]]\nid = \"f{firm}\"\nbaseline_t = {}\nmac = {{type=\"steps\",quantity=\"share\",steps=[{}]}}\n",
            80 + firm % 50,
            steps.join(",")
        ));
    }
    text
}

/// Starts a run of `text` in the background; its answer is not awaited.
fn run_in_background(
    server: &Server,
    text: String,
    idempotency: &str,
) -> tokio::task::JoinHandle<()> {
    let request = server
        .client
        .post(format!("{}/v1/scenarios/run", server.base))
        .bearer_auth(&server.economist)
        .header("idempotency-key", idempotency)
        .header("content-type", "application/toml")
        .body(text);
    tokio::spawn(async move {
        let _ = request.send().await;
    })
}

/// Waits until the server reports `count` scenario runs holding a slot.
async fn wait_for_runs(server: &Server, count: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let active = server.metric("ets_scenario_runs_active").await;
        if active == Some(count) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{count} runs never became active (last {active:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_runs_at_once_and_the_third_is_told_to_retry() {
    let server = sqlite_server(Flags {
        body_limit: 1024 * 1024,
        scenario_runs: 2,
        scenario_seconds: 120.0,
        ..Flags::default()
    })
    .await;
    let slow = slow_scenario();
    let first = run_in_background(&server, slow.clone(), "slow-1");
    let second = run_in_background(&server, slow, "slow-2");
    wait_for_runs(&server, 2.0).await;
    // Both slots are taken: even a tiny scenario is refused, with Retry-After, and nothing runs.
    let third = server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.bureau),
            Some("third"),
            "application/toml",
            P1.to_owned(),
        )
        .await;
    let problem = third.problem(503, "busy");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("2 scenarios are already running"),
        "{problem}"
    );
    assert_eq!(third.headers["retry-after"], "1");
    assert_eq!(
        server.metric("ets_scenario_runs_active").await,
        Some(2.0),
        "the refused run took no slot"
    );
    first.abort();
    second.abort();
}

#[tokio::test]
async fn a_run_over_the_time_limit_is_answered_422_and_keeps_its_slot_until_it_stops() {
    let server = sqlite_server(Flags {
        body_limit: 1024 * 1024,
        scenario_runs: 1,
        scenario_seconds: 0.5,
        ..Flags::default()
    })
    .await;
    let started = Instant::now();
    let answer = server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.economist),
            Some("too-slow"),
            "application/toml",
            slow_scenario(),
        )
        .await;
    let waited = started.elapsed();
    let problem = answer.problem(422, "invalid_field");
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("longer than the API's 0.5 s limit") && detail.contains("ets scenario run"),
        "{problem}"
    );
    assert!(
        waited >= Duration::from_millis(500),
        "answered after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(30),
        "answered after {waited:?}"
    );
    // The engine is still running on its thread and still holds the only slot.
    assert_eq!(server.metric("ets_scenario_runs_active").await, Some(1.0));
    server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.economist),
            Some("meanwhile"),
            "application/toml",
            P1.to_owned(),
        )
        .await
        .problem(503, "busy");
}
