//! The OpenAPI document: generated from the handlers, served at /openapi.json, identical to the
//! checked-in `api/openapi.json` (regenerate with
//! `UPDATE_OPENAPI=1 cargo test --workspace --locked --test it http::openapi`), and valid by
//! `openapi-spec-validator`.

use super::common::*;

const ROUTES: [(&str, &str); 44] = [
    ("/health", "get"),
    ("/metrics", "get"),
    ("/v1/whoami", "get"),
    ("/v1/requests", "post"),
    ("/v1/transfers", "post"),
    ("/v1/surrenders", "post"),
    ("/v1/issuances", "post"),
    ("/v1/reductions", "post"),
    ("/v1/enterprises", "post"),
    ("/v1/freezes", "post"),
    ("/v1/accounts", "get"),
    ("/v1/instruments", "get"),
    ("/v1/aggregates", "get"),
    ("/v1/journal", "get"),
    ("/v1/verify", "get"),
    ("/v1/applications", "post"),
    ("/v1/applications", "get"),
    ("/v1/applications/{id}", "get"),
    ("/v1/applications/{id}/withdraw", "post"),
    ("/v1/rounds/{id}/dry-run", "post"),
    ("/v1/rounds/{id}/commit", "post"),
    ("/v1/rounds/{id}", "get"),
    ("/v1/rounds", "get"),
    ("/v1/policies", "get"),
    ("/v1/scenarios/run", "post"),
    ("/v1/statistics/holdings", "get"),
    ("/v1/market/auctions", "post"),
    ("/v1/market/auctions/{auction}", "get"),
    ("/v1/market/auctions/{auction}/bids", "post"),
    ("/v1/market/auctions/{auction}/bids/{bid}/withdraw", "post"),
    ("/v1/market/auctions/{auction}/close", "post"),
    ("/v1/market/book", "get"),
    ("/v1/market/daily", "get"),
    ("/v1/market/freezes", "post"),
    ("/v1/market/instruments", "get"),
    ("/v1/market/instruments", "post"),
    ("/v1/market/orders", "get"),
    ("/v1/market/orders", "post"),
    ("/v1/market/orders/cancel", "post"),
    ("/v1/market/trades", "get"),
    ("/v1/market/transfers", "get"),
    ("/v1/market/transfers", "post"),
    ("/v1/market/transfers/{transfer}/{decision}", "post"),
    ("/v1/market/unfreezes", "post"),
];

#[tokio::test]
async fn openapi_is_served_lists_every_route_and_matches_the_checked_in_copy() {
    let server = sqlite_server(limits()).await;
    let answer = server.get("/openapi.json", None).await;
    assert_eq!(answer.status, 200);
    let spec = answer.body;
    assert!(
        spec["openapi"].as_str().unwrap_or("").starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    let paths = spec["paths"].as_object().expect("paths");
    for (path, method) in ROUTES.iter().chain(&[("/v1/stream/journal", "get")]) {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} is documented"
        );
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("item") {
            let secured = operation.get("security").is_some();
            let public = ["/health", "/metrics"].contains(&path.as_str());
            assert!(
                secured != public,
                "{method} {path}: security listed exactly on authenticated routes"
            );
        }
    }
    assert!(spec["components"]["securitySchemes"]["api_key"].is_object());
    assert!(spec["components"]["schemas"]["Problem"].is_object());

    let generated = api::openapi().to_pretty_json().expect("json");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/api/openapi.json");
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(path, format!("{generated}\n")).expect("write openapi.json");
    }
    let checked_in = std::fs::read_to_string(path)
        .expect("api/openapi.json exists (UPDATE_OPENAPI=1 writes it)");
    assert_eq!(
        checked_in.trim_end(),
        generated,
        "api/openapi.json is stale: rerun with UPDATE_OPENAPI=1"
    );
}

/// The served document passes `openapi-spec-validator` (the pinned Python package that
/// `scripts/install-deps --for-tests` installs): every path parameter in its path, unique
/// operationIds, schemas that resolve. A missing validator fails the test, never skips it.
#[tokio::test]
async fn the_served_document_passes_openapi_spec_validator() {
    let probe = tokio::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--version"])
        .output()
        .await;
    match &probe {
        Ok(output) if output.status.success() => {}
        other => panic!(
            "python3 -m openapi_spec_validator is not runnable ({}); install it with \
             `scripts/install-deps --for-tests`",
            match other {
                Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                Err(e) => e.to_string(),
            }
        ),
    }

    let server = sqlite_server(limits()).await;
    let answer = server
        .client
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.expect("the document's text");
    let spec: serde_json::Value = serde_json::from_str(&text).expect("the document is JSON");
    assert!(
        spec["paths"].as_object().is_some_and(|p| p.len() >= 40),
        "{text}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &text).expect("write the served document");
    let output = tokio::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--validation-errors", "all"])
        .arg(&file)
        .output()
        .await
        .expect("run python3 -m openapi_spec_validator");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "openapi-spec-validator refused the served document ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains(": OK"),
        "the validator says OK: {stdout}\n{stderr}"
    );
}
