//! The harness: a fresh database and an `ets serve` process per backend and test, keys for every
//! role made with `ets admin create-key`, and a small register.
#![allow(dead_code)]

use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

/// Valid unified social credit codes (check characters per GB 32100-2015).
pub const A: &str = "91500103MA5U00011H";
pub const B: &str = "91500104MA5U0002XP";
pub const C: &str = "91500105MA5U000386";
pub const COD: &str = "COD.yangtze-cq.2024";
pub const CEA: &str = "CEA.2024";
pub const CNY: &str = "CNY";

/// The `ets serve` limits a test runs with, passed as flags.
#[derive(Debug, Clone)]
pub struct Flags {
    pub body_limit: usize,
    pub rate_per_second: u32,
    pub rate_burst: u32,
    pub scenario_runs: u32,
    pub scenario_seconds: f64,
    pub key_cache_seconds: u64,
    /// `--duty-seconds`: 0 (no time-driven duties) unless a test is about them, so a test that
    /// happens to run across the calendar's close sees no day end.
    pub duty_seconds: u64,
    /// More `ets serve` flags (e.g. `--cors-origin`, `--log-format`).
    pub extra: Vec<String>,
    /// `ETS_LOG` for the server (the level of its log lines on stderr).
    pub log: &'static str,
}

impl Default for Flags {
    /// A small body limit (64 KiB, so the 413 tests stay small) and a rate limit no test meets.
    fn default() -> Self {
        Flags {
            body_limit: 64 * 1024,
            rate_per_second: 10_000,
            rate_burst: 10_000,
            scenario_runs: 2,
            scenario_seconds: 20.0,
            key_cache_seconds: 30,
            duty_seconds: 0,
            extra: Vec::new(),
            log: "warn",
        }
    }
}

impl Flags {
    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--body-limit".into(),
            self.body_limit.to_string(),
            "--rate-per-second".into(),
            self.rate_per_second.to_string(),
            "--rate-burst".into(),
            self.rate_burst.to_string(),
            "--scenario-runs".into(),
            self.scenario_runs.to_string(),
            "--scenario-seconds".into(),
            self.scenario_seconds.to_string(),
            "--key-cache-seconds".into(),
            self.key_cache_seconds.to_string(),
            "--duty-seconds".into(),
            self.duty_seconds.to_string(),
        ];
        args.extend(self.extra.iter().cloned());
        args
    }
}

pub fn limits() -> Flags {
    Flags::default()
}

/// A running `ets serve` process; killed when dropped.
pub struct Process {
    child: Child,
    pub addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Process {
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().await.expect("wait for ets serve")
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Starts `ets serve --bind 127.0.0.1:0` on `url` and waits for its `listening on ADDR` line.
pub async fn spawn_serve(url: &str, flags: &Flags) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ets"))
        .env("ETS_DATABASE_URL", url)
        .env("ETS_LOG", flags.log)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(flags.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn `ets serve`");
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut err = child.stderr.take().expect("stderr");
    let sink = Arc::clone(&stderr);
    tokio::spawn(async move {
        let mut chunk = [0_u8; 4096];
        while let Ok(n) = err.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            if let Ok(mut text) = sink.lock() {
                text.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        }
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
    let line = match first {
        Ok(Ok(Some(line))) => line,
        other => {
            let status = child.wait().await;
            let text = stderr.lock().map(|s| s.clone()).unwrap_or_default();
            panic!("`ets serve` on {url} did not start ({other:?}, exit {status:?}):\n{text}");
        }
    };
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line of `ets serve`: {line:?}"))
        .to_owned();
    Process {
        child,
        addr,
        stderr,
    }
}

/// Runs `ets` with `args` on the database `url`.
pub async fn ets(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ets"))
        .env("ETS_DATABASE_URL", url)
        .args(args)
        .output()
        .await
        .expect("run ets")
}

/// Runs `ets admin create-key` on `url` and returns the printed key.
pub async fn create_key(url: &str, role: &str, enterprise: Option<&str>, label: &str) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ets"));
    command.env("ETS_DATABASE_URL", url).args([
        "admin",
        "create-key",
        "--role",
        role,
        "--label",
        label,
    ]);
    if let Some(enterprise) = enterprise {
        command.args(["--enterprise", enterprise]);
    }
    let output = command.output().await.expect("run `ets admin create-key`");
    assert!(
        output.status.success(),
        "ets admin create-key --role {role}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(key.starts_with("ets_"), "a key on stdout: {key:?}");
    key
}

pub struct Server {
    pub base: String,
    pub url: String,
    pub client: reqwest::Client,
    pub bureau: String,
    pub enterprise_a: String,
    pub enterprise_b: String,
    pub economist: String,
    pub flags: Flags,
    pub process: Process,
    ledger: OnceCell<ledger::Ledger>,
    db: OnceCell<api::db::Db>,
    _dir: Option<Arc<tempfile::TempDir>>,
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

/// One server process per backend: SQLite always, PostgreSQL when configured.
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

pub async fn sqlite_server(flags: Flags) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("ets.db").display());
    start(sqlite, Some(dir), flags).await
}

/// `ets serve` on `url`, then a key for every role from `ets admin create-key` (run at once).
pub async fn start(url: String, dir: Option<tempfile::TempDir>, flags: Flags) -> Server {
    let process = spawn_serve(&url, &flags).await;
    let (bureau, economist) = tokio::join!(
        create_key(&url, "bureau", None, "bureau"),
        create_key(&url, "economist", None, "economist"),
    );
    // Enterprise keys are only made for registered enterprises: the register comes first
    // (a test's own `setup()` replays this request).
    let client = reqwest::Client::new();
    let base = format!("http://{}", process.addr);
    let registered = client
        .post(format!("{base}/v1/requests"))
        .bearer_auth(&bureau)
        .header("idempotency-key", "setup")
        .json(&json!({"memo": "register", "actions": setup_actions()}))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED, "setup");
    let (enterprise_a, enterprise_b) = tokio::join!(
        create_key(&url, "enterprise", Some(A), "alpha"),
        create_key(&url, "enterprise", Some(B), "beta"),
    );
    Server {
        base,
        client,
        bureau,
        enterprise_a,
        enterprise_b,
        economist,
        url,
        flags,
        process,
        ledger: OnceCell::new(),
        db: OnceCell::new(),
        _dir: dir.map(Arc::new),
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
        self.answer(request).await
    }

    /// Sends `request`; a failure to reach the server shows what the server printed.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Answer {
        match request.send().await {
            Ok(response) => answer(response).await,
            Err(error) => panic!(
                "send: {error}\n--- ets serve stderr ---\n{}",
                self.process.stderr()
            ),
        }
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Answer {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        self.answer(request).await
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

    /// Another `ets serve` process on the same database, with the same flags and keys.
    pub async fn another_process(&self) -> Server {
        let process = spawn_serve(&self.url, &self.flags).await;
        Server {
            base: format!("http://{}", process.addr),
            client: reqwest::Client::new(),
            bureau: self.bureau.clone(),
            enterprise_a: self.enterprise_a.clone(),
            enterprise_b: self.enterprise_b.clone(),
            economist: self.economist.clone(),
            url: self.url.clone(),
            flags: self.flags.clone(),
            process,
            ledger: OnceCell::new(),
            db: OnceCell::new(),
            _dir: self._dir.clone(),
        }
    }

    /// The journal head as the server reports it (`ets_journal_head_seq` on `/metrics`).
    pub async fn head(&self) -> u64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        metric(&text, "ets_journal_head_seq")
            .unwrap_or_else(|| panic!("ets_journal_head_seq in /metrics:\n{text}")) as u64
    }

    /// A gauge or counter from the server's `/metrics`.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        metric(&text, name)
    }

    /// The test's own ledger handle on the server's database, for checks under the API.
    pub async fn ledger(&self) -> &ledger::Ledger {
        self.ledger
            .get_or_init(|| async {
                ledger::Ledger::open(&self.url, ledger::LedgerOptions::default())
                    .await
                    .expect("open the ledger beside the server")
            })
            .await
    }

    /// The test's own handle on the API's tables in the server's database.
    pub async fn db(&self) -> &api::db::Db {
        self.db
            .get_or_init(|| async {
                api::db::Db::open(&self.url)
                    .await
                    .expect("open the API tables beside the server")
            })
            .await
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

/// The value of the sample `name` (without labels) in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse().ok())?
        })
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

/// A `deposit` action: settlement cash (CNY) into an enterprise's account.
pub fn deposit(enterprise: &str, amount: &str) -> Value {
    json!({"type": "deposit", "instrument": CNY, "enterprise": enterprise, "amount": amount})
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
