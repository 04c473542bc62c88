//! Scenario runs over HTTP: the summary equals the library's own run of the same text, the tidy
//! CSV on `Accept: text/csv`, errors that name the key, and the bounds.

use reqwest::StatusCode;

use crate::common::*;

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
