//! What an operator expects of the server, over real HTTP: a request id on every answer, CORS
//! only for the origins allowed by flag, `/metrics` per route template and status in a format a
//! Prometheus parser reads, 429 with Retry-After over a key's rate, gzip when asked, a time limit
//! answered as problem+json (the event feeds exempt), and log lines as JSON or plain text.

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::common::*;
use super::scenario_runs::slow_scenario;

/// One server per backend (SQLite always, PostgreSQL when configured), started with `flags`.
async fn each_backend(flags: Flags) -> Vec<Server> {
    let mut servers = Vec::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("ets.db").display());
    servers.push(start(sqlite, Some(dir), flags.clone()).await);
    if let Some(url) = postgres_database().await {
        servers.push(start(url, None, flags).await);
    }
    servers
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[tokio::test]
async fn every_answer_carries_a_request_id_kept_from_the_client_or_made_new() {
    for server in servers().await {
        // Successes, refusals from an extractor, the fallback, and the problem answers alike.
        for (path, key, status) in [
            ("/health", None, 200),
            ("/v1/whoami", Some(server.economist.as_str()), 200),
            ("/v1/whoami", None, 401),
            ("/no/such/route", None, 404),
        ] {
            let mut request = server.client.get(format!("{}{path}", server.base));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request.send().await.expect("send");
            assert_eq!(response.status().as_u16(), status, "{path}");
            let id = header(&response, "x-request-id").unwrap_or("");
            assert!(is_uuid(id), "{path}: a new UUID request id, got {id:?}");

            let mut request = server
                .client
                .get(format!("{}{path}", server.base))
                .header("x-request-id", "client-chosen-42");
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request.send().await.expect("send");
            assert_eq!(
                header(&response, "x-request-id"),
                Some("client-chosen-42"),
                "{path}: the client's id is echoed"
            );
        }
        // Two requests without an id get two different ones.
        let first = server.get("/health", None).await;
        let second = server.get("/health", None).await;
        assert_ne!(
            first.headers["x-request-id"], second.headers["x-request-id"],
            "a fresh id per request"
        );
    }
}

async fn preflight(server: &Server, origin: &str) -> reqwest::Response {
    server
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/market/orders", server.base),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,idempotency-key",
        )
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn cors_is_off_by_default_and_answers_only_the_listed_origins() {
    let allowed = "https://bureau-portal.example.cn";
    for server in each_backend(Flags {
        extra: vec![
            "--cors-origin".into(),
            allowed.into(),
            "--cors-origin".into(),
            "http://localhost:5173".into(),
        ],
        ..limits()
    })
    .await
    {
        let ok = preflight(&server, allowed).await;
        assert!(ok.status().is_success(), "{}", ok.status());
        assert_eq!(header(&ok, "access-control-allow-origin"), Some(allowed));
        let methods = header(&ok, "access-control-allow-methods").unwrap_or("");
        assert!(methods.contains("POST"), "{methods}");
        let headers = header(&ok, "access-control-allow-headers")
            .unwrap_or("")
            .to_ascii_lowercase();
        for needed in ["authorization", "content-type", "idempotency-key"] {
            assert!(headers.contains(needed), "{needed} allowed: {headers}");
        }
        let second = preflight(&server, "http://localhost:5173").await;
        assert_eq!(
            header(&second, "access-control-allow-origin"),
            Some("http://localhost:5173")
        );

        // Another origin gets no allow-origin header: the browser refuses it.
        let refused = preflight(&server, "https://evil.example").await;
        assert_eq!(header(&refused, "access-control-allow-origin"), None);

        // A simple GET from the allowed page can read the answer and its request id.
        let get = server
            .client
            .get(format!("{}/v1/whoami", server.base))
            .bearer_auth(&server.economist)
            .header("origin", allowed)
            .send()
            .await
            .expect("get");
        assert_eq!(get.status(), 200);
        assert_eq!(header(&get, "access-control-allow-origin"), Some(allowed));
        let exposed = header(&get, "access-control-expose-headers").unwrap_or("");
        assert!(exposed.contains("x-request-id"), "{exposed}");
    }

    // Without --cors-origin: no CORS headers for anyone.
    let plain = sqlite_server(limits()).await;
    let answer = preflight(&plain, allowed).await;
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    let get = plain
        .client
        .get(format!("{}/health", plain.base))
        .header("origin", allowed)
        .send()
        .await
        .expect("get");
    assert_eq!(header(&get, "access-control-allow-origin"), None);
}

async fn scrape(server: &Server) -> (String, prometheus_parse::Scrape) {
    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    let content_type = header(&response, "content-type").unwrap_or("").to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.expect("text");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    (text, scrape)
}

/// The value of `name` whose labels include every one of `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
}

#[tokio::test]
async fn metrics_count_each_route_template_by_status_and_time_it() {
    for server in servers().await {
        server.setup().await;
        for _ in 0..3 {
            let who = server.get("/v1/whoami", Some(&server.bureau)).await;
            assert_eq!(who.status, 200);
        }
        server
            .get("/v1/whoami", None)
            .await
            .problem(401, "missing_api_key");
        // A path with an id: counted under its template, never under the raw path.
        server
            .get("/v1/applications/9999", Some(&server.bureau))
            .await
            .problem(404, "not_found");

        let (text, scrape) = scrape(&server).await;
        let whoami = [("route", "/v1/whoami"), ("method", "GET")];
        assert_eq!(
            sample(
                &scrape,
                "ets_http_requests_total",
                &[whoami[0], whoami[1], ("status", "200")]
            ),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &scrape,
                "ets_http_requests_total",
                &[whoami[0], ("status", "401")]
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &scrape,
                "ets_http_requests_total",
                &[("route", "/v1/applications/:id"), ("status", "404")]
            ),
            Some(1.0),
            "{text}"
        );
        // Label sets only: sample values (a duration, a count) may contain any digits.
        let labels: Vec<&str> = text
            .lines()
            .filter_map(|line| Some(line.split_once('{')?.1.split_once('}')?.0))
            .collect();
        assert!(
            labels.iter().all(|l| !l.contains("9999")),
            "no raw ids in labels:\n{text}"
        );
        // The parser read every request series (a line it cannot read it skips silently).
        let lines = text
            .lines()
            .filter(|l| l.starts_with("ets_http_requests_total{"))
            .count();
        let parsed = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "ets_http_requests_total")
            .count();
        assert_eq!(parsed, lines, "{text}");
        // The setup POST (the harness registers first, the test's own setup replays it).
        assert_eq!(
            sample(
                &scrape,
                "ets_http_requests_total",
                &[
                    ("route", "/v1/requests"),
                    ("method", "POST"),
                    ("status", "201")
                ]
            ),
            Some(2.0),
            "{text}"
        );
        // Latency histogram: the +Inf bucket counts all four GETs of /v1/whoami.
        let histogram = scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "ets_http_request_duration_seconds"
                    && s.labels.get("route") == Some("/v1/whoami")
                    && s.labels.get("class") == Some("2xx")
            })
            .unwrap_or_else(|| panic!("a latency histogram for /v1/whoami:\n{text}"));
        match &histogram.value {
            prometheus_parse::Value::Histogram(buckets) => {
                let total = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
                assert_eq!(total, 3.0, "{text}");
                assert!(buckets.iter().any(|b| b.less_than == 0.005), "{text}");
            }
            other => panic!("a histogram, got {other:?}\n{text}"),
        }
        // The ledger's group commits and the journal head.
        assert!(
            sample(&scrape, "ets_ledger_batches_total", &[]).unwrap_or(0.0) >= 1.0,
            "{text}"
        );
        // The server committed at least one group (the registration), and both ledger
        // histograms are rendered with a sample per committed group.
        let commits = histogram_count(&scrape, ledger::service::COMMIT_SECONDS);
        assert!(commits >= 1.0, "{text}");
        assert_eq!(
            histogram_count(&scrape, ledger::service::GROUP_REQUESTS),
            commits,
            "{text}"
        );
        assert_eq!(
            sample(&scrape, "ets_journal_head_seq", &[]),
            Some(server.head().await as f64),
            "{text}"
        );
    }
}

/// Samples counted by the unlabelled histogram `metric` (its `+Inf` bucket).
fn histogram_count(scrape: &prometheus_parse::Scrape, metric: &str) -> f64 {
    let found = scrape.samples.iter().find(|s| s.metric == metric);
    match found.map(|s| &s.value) {
        Some(prometheus_parse::Value::Histogram(buckets)) => {
            buckets.iter().map(|b| b.count).fold(0.0, f64::max)
        }
        other => panic!("{metric}: a histogram, got {other:?}"),
    }
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_problem_json_with_retry_after_and_is_counted() {
    for server in each_backend(Flags {
        rate_per_second: 1,
        rate_burst: 2,
        extra: Vec::new(),
        ..limits()
    })
    .await
    {
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(server.get("/v1/whoami", Some(&server.economist)).await);
        }
        assert!(answers[..2].iter().all(|a| a.status == 200));
        let limited = answers
            .iter()
            .find(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
            .expect("a 429 after the burst");
        limited.problem(429, "rate_limited");
        let retry: u64 = limited.headers["retry-after"]
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=2).contains(&retry), "retry after {retry} s");
        assert!(limited.headers.contains_key("x-request-id"));

        let (text, scrape) = scrape(&server).await;
        assert!(
            sample(&scrape, "ets_rate_limited_total", &[]).unwrap_or(0.0) >= 1.0,
            "{text}"
        );
        assert!(
            sample(
                &scrape,
                "ets_http_requests_total",
                &[("route", "/v1/whoami"), ("status", "429")]
            )
            .unwrap_or(0.0)
                >= 1.0,
            "{text}"
        );
        // After Retry-After the key is served again.
        tokio::time::sleep(Duration::from_secs(retry)).await;
        assert_eq!(
            server
                .get("/v1/whoami", Some(&server.economist))
                .await
                .status,
            200
        );
    }
}

#[tokio::test]
async fn answers_are_gzipped_when_the_client_asks() {
    for server in servers().await {
        let plain = server
            .client
            .get(format!("{}/openapi.json", server.base))
            .send()
            .await
            .expect("plain");
        assert_eq!(header(&plain, "content-encoding"), None);
        let plain = plain.bytes().await.expect("body");

        let zipped = server
            .client
            .get(format!("{}/openapi.json", server.base))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .expect("gzip");
        assert_eq!(header(&zipped, "content-encoding"), Some("gzip"));
        let bytes = zipped.bytes().await.expect("body");
        assert!(
            bytes.len() * 4 < plain.len(),
            "{} gzipped bytes of {}",
            bytes.len(),
            plain.len()
        );
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut unzipped)
            .expect("valid gzip");
        assert_eq!(unzipped, plain.to_vec(), "the same document");
    }
}

#[tokio::test]
async fn a_request_over_the_time_limit_gets_503_problem_json_but_the_feeds_stay_open() {
    let server = sqlite_server(Flags {
        body_limit: 1024 * 1024,
        scenario_seconds: 600.0,
        extra: vec!["--request-timeout-seconds".into(), "0.5".into()],
        ..limits()
    })
    .await;
    let started = Instant::now();
    let answer = server
        .post_raw(
            "/v1/scenarios/run",
            Some(&server.economist),
            Some("slow"),
            "application/toml",
            slow_scenario(),
        )
        .await;
    let waited = started.elapsed();
    let problem = answer.problem(503, "timeout");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("--request-timeout-seconds"),
        "{problem}"
    );
    assert!(answer.headers.contains_key("retry-after"));
    assert!(answer.headers.contains_key("x-request-id"));
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(20),
        "answered after {waited:?}"
    );

    // The journal feed is still streaming well after the time limit.
    server.setup().await;
    let mut feed = server
        .client
        .get(format!("{}/v1/stream/journal", server.base))
        .bearer_auth(&server.bureau)
        .send()
        .await
        .expect("connect");
    assert_eq!(feed.status(), 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.issue(COD, A, "1").await;
    let head = server.head().await;
    let mut received = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !received
        .lines()
        .any(|line| line.trim_start_matches("id:").trim() == head.to_string())
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, feed.chunk()).await {
            Ok(Ok(Some(chunk))) => received.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the feed ended or stalled ({other:?}) after:\n{received}"),
        }
    }
}

/// Waits until the server's stderr has a line for which `found` holds.
async fn wait_for_log(server: &Server, found: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stderr = server.process.stderr();
        if stderr.lines().any(&found) {
            return stderr;
        }
        assert!(Instant::now() < deadline, "no such log line in:\n{stderr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn json_log_lines_parse_and_carry_the_request_id() {
    let server = sqlite_server(Flags {
        extra: vec!["--log-format".into(), "json".into()],
        log: "info",
        ..limits()
    })
    .await;
    let response = server
        .client
        .get(format!("{}/v1/whoami", server.base))
        .bearer_auth(&server.economist)
        .header("x-request-id", "trace-me-7")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let stderr = wait_for_log(&server, |line| line.contains("trace-me-7")).await;
    let mut logged = Vec::new();
    for line in stderr.lines().filter(|l| l.starts_with('{')) {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        logged.push(value);
    }
    assert!(!logged.is_empty(), "{stderr}");
    let answered = logged
        .iter()
        .find(|v| v["span"]["request_id"] == "trace-me-7")
        .unwrap_or_else(|| panic!("the request's line:\n{stderr}"));
    assert_eq!(answered["span"]["route"], "/v1/whoami");
    assert_eq!(answered["span"]["method"], "GET");
    assert_eq!(answered["fields"]["status"], 200);
    assert_eq!(answered["level"], "INFO");
}

#[tokio::test]
async fn text_logs_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let server = sqlite_server(Flags {
        log: "info",
        ..limits()
    })
    .await;
    server
        .client
        .get(format!("{}/health", server.base))
        .header("x-request-id", "plain-text-1")
        .send()
        .await
        .expect("send");
    let stderr = wait_for_log(&server, |line| line.contains("plain-text-1")).await;
    assert!(!stderr.contains('\u{1b}'), "no ANSI escapes:\n{stderr}");
    assert!(stderr.contains("finished processing request"), "{stderr}");
}
