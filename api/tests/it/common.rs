//! The harness: a fresh database and server per test, keys for every role, and a small register.
#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};

use api::{AppState, Config, Limits, Role};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Valid unified social credit codes (check characters per GB 32100-2015).
pub const A: &str = "91500103MA5U00011H";
pub const B: &str = "91500104MA5U0002XP";
pub const C: &str = "91500105MA5U000386";
pub const COD: &str = "COD.yangtze-cq.2024";
pub const CEA: &str = "CEA.2024";
pub const CNY: &str = "CNY";

pub struct Server {
    pub base: String,
    pub url: String,
    pub client: reqwest::Client,
    pub bureau: String,
    pub enterprise_a: String,
    pub enterprise_b: String,
    pub economist: String,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An answer: status, headers and the JSON body (Null if not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json refusal with `status` and `code`, and returns it.
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.body
        );
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(
            !self.body["detail"].as_str().unwrap_or("").is_empty(),
            "a refusal says why: {}",
            self.body
        );
        &self.body
    }
}

pub fn limits() -> Limits {
    Limits {
        body_bytes: 64 * 1024,
        rate_per_second: 10_000,
        rate_burst: 10_000,
        ..Limits::default()
    }
}

/// One server per backend: SQLite always, PostgreSQL when configured.
pub async fn servers() -> Vec<Server> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("ets.db").display());
    out.push(start(sqlite, Some(dir), limits()).await);
    if let Some(url) = postgres_database().await {
        out.push(start(url, None, limits()).await);
    }
    out
}

pub async fn sqlite_server(limits: Limits) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("ets.db").display());
    start(sqlite, Some(dir), limits).await
}

pub async fn start(url: String, dir: Option<tempfile::TempDir>, limits: Limits) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = Config {
        bind: addr,
        database_url: url.clone(),
        limits,
    };
    let state = AppState::open(config).await.expect("open state");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = state.clone();
    tokio::spawn(async move {
        let _ = api::serve_on(listener, served, async {
            let _ = stopped.await;
        })
        .await;
    });
    Server {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        bureau: api::create_key(&url, Role::Bureau, None, "bureau")
            .await
            .expect("bureau key"),
        enterprise_a: api::create_key(&url, Role::Enterprise, Some(A), "alpha")
            .await
            .expect("key A"),
        enterprise_b: api::create_key(&url, Role::Enterprise, Some(B), "beta")
            .await
            .expect("key B"),
        economist: api::create_key(&url, Role::Economist, None, "economist")
            .await
            .expect("economist key"),
        url,
        state,
        stop: Some(stop),
        _dir: dir,
    }
}

/// A new empty PostgreSQL database when `ETS_TEST_PG_URL` is set; with `ETS_REQUIRE_PG=1` a
/// missing URL fails the test instead of skipping PostgreSQL.
pub async fn postgres_database() -> Option<String> {
    ledger::testing::postgres_database("ets_api_test")
        .await
        .expect("a test database on ETS_TEST_PG_URL")
}

/// Makes idempotency keys unique within a test process.
static NEXT_KEY: AtomicI64 = AtomicI64::new(0);

impl Server {
    pub async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        idempotency: Option<&str>,
        body: &Value,
    ) -> Answer {
        self.post_raw(path, key, idempotency, "application/json", body.to_string())
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        key: Option<&str>,
        idempotency: Option<&str>,
        content_type: &str,
        body: String,
    ) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(idempotency) = idempotency {
            request = request.header("idempotency-key", idempotency);
        }
        answer(request.send().await.expect("send")).await
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Answer {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        answer(request.send().await.expect("send")).await
    }

    /// Regions, instruments and three enterprises, by the bureau in one batch.
    pub async fn setup(&self) {
        let answer = self
            .post(
                "/v1/requests",
                Some(&self.bureau),
                Some("setup"),
                &json!({"memo": "register", "actions": setup_actions()}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }

    /// Issues `amount` of `instrument` to `to`, as the bureau.
    pub async fn issue(&self, instrument: &str, to: &str, amount: &str) {
        let key = format!(
            "issue-{instrument}-{to}-{amount}-{}",
            NEXT_KEY.fetch_add(1, Ordering::SeqCst)
        );
        let answer = self
            .post(
                "/v1/issuances",
                Some(&self.bureau),
                Some(&key),
                &json!({"instrument": instrument, "to": to, "amount": amount}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    }

    pub async fn head(&self) -> u64 {
        self.state.ledger().store().head().await.expect("head").0
    }

    /// The balance of `owner/holding/instrument` as the bureau reads it.
    pub async fn balance(&self, owner: &str, instrument: &str) -> String {
        let answer = self
            .get(&format!("/v1/accounts?owner={owner}"), Some(&self.bureau))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .find(|a| a["kind"] == "holding" && a["instrument"] == instrument)
            .map(|a| a["balance"].as_str().unwrap_or("").to_owned())
            .unwrap_or_else(|| "0".to_owned())
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

pub fn enterprise(code: &str, name: &str, district: &str) -> Value {
    json!({
        "credit_code": code,
        "name": name,
        "district": district,
        "industry_codes": ["3961"],
        "declared_tags": ["high_tech_manufacturing"],
        "credit_grade": "good",
        "zoning": "general",
        "distance_to_river_m": 4200,
        "permit_number": format!("{code}001P"),
    })
}

pub fn setup_actions() -> Value {
    let mut actions = vec![
        json!({"type": "define_region", "region": {"code": "yangtze-cq", "name": "Yangtze (Chongqing reach)", "kind": "basin"}}),
        json!({"type": "define_region", "region": {"code": "cq-main", "name": "Chongqing main-city airshed", "kind": "airshed"}}),
        json!({"type": "define_instrument", "instrument": {"code": COD, "kind": "discharge_right", "pollutant": "COD", "region": "yangtze-cq",
            "valid_from": "2024-01-01", "valid_to": "2028-12-31", "scale": 3, "unit": "t/a"}}),
        json!({"type": "define_instrument", "instrument": {"code": CNY, "kind": "cash", "currency": "CNY", "scale": 2, "unit": "CNY"}}),
        json!({"type": "define_instrument", "instrument": {"code": CEA, "kind": "carbon_allowance", "vintage": 2024, "scale": 0, "unit": "tCO2e"}}),
    ];
    for (code, name, district) in [
        (A, "Chongqing Alpha Chips", "500103"),
        (B, "Beta Pharma", "500104"),
    ] {
        actions.push(
            json!({"type": "register_enterprise", "enterprise": enterprise(code, name, district)}),
        );
    }
    Value::Array(actions)
}
