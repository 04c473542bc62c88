//! The CLI's HTTP client: `ets market` and `ets api` talk to a running `ets serve` with the
//! caller's API key, an Idempotency-Key on every write, and problem+json turned into an error.

use anyhow::{Context, Result, bail};
use api::idempotency::REPLAYED_HEADER;
use clap::Args;
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;

/// Where the server is and who is calling.
#[derive(Args, Debug)]
pub struct Connection {
    /// The API server (`ets serve`) to talk to.
    #[arg(
        long,
        global = true,
        env = "ETS_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// Your API key (from `ets admin create-key`).
    #[arg(long, global = true, env = "ETS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

/// The Idempotency-Key of a command that writes (only those take `--idempotency-key`).
#[derive(Args, Debug)]
pub struct WriteKey {
    /// Idempotency-Key of this write: run the same command again with the same key to retry it
    /// safely (the first answer is replayed). Default: a fresh key, printed on stderr.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
}

/// The HTTP side: bearer key, idempotency key on writes, problem+json turned into an error.
pub struct Client {
    http: reqwest::Client,
    server: String,
    api_key: Option<String>,
}

impl Client {
    pub fn new(args: &Connection) -> Result<Client> {
        let server = args.server.trim_end_matches('/').to_owned();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            bail!("--server must be an http:// or https:// URL, got {server:?}");
        }
        Ok(Client {
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .build()
                .context("setting up the HTTP client")?,
            server,
            api_key: args.api_key.clone(),
        })
    }

    fn request(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.server), query)
            .with_context(|| format!("{}{path} is not a valid URL", self.server))?;
        self.send(self.request(self.http.get(url))).await
    }

    /// POSTs `body` under `write`'s Idempotency-Key (a fresh one, printed, if none was given).
    pub async fn post(&self, path: &str, body: &impl Serialize, write: &WriteKey) -> Result<Value> {
        let key = match &write.idempotency_key {
            Some(key) => key.clone(),
            None => {
                let mut bytes = [0u8; 16];
                rand::rng().fill_bytes(&mut bytes);
                let key = format!("cli-{}", hex::encode(bytes));
                eprintln!("idempotency-key: {key} (pass --idempotency-key {key} to retry)");
                key
            }
        };
        let request = self
            .http
            .post(format!("{}{path}", self.server))
            .header("idempotency-key", key)
            .json(body);
        self.send(self.request(request)).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("reaching the API server at {}", self.server))?;
        let status = response.status();
        let replayed = response.headers().contains_key(REPLAYED_HEADER);
        let bytes = response.bytes().await.context("reading the answer")?;
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if replayed {
            eprintln!("(replayed: the first answer to this idempotency key)");
        }
        if status.is_success() {
            return Ok(body);
        }
        bail!("{}", refusal(status, &body))
    }
}

/// One line per problem: the status, the detail and the field it names.
fn refusal(status: reqwest::StatusCode, body: &Value) -> String {
    let detail = match body {
        Value::String(text) if !text.trim().is_empty() => text.trim(),
        _ => body["detail"].as_str().unwrap_or("no detail given"),
    };
    let mut text = format!("the server refused ({status}): {detail}");
    if let Some(field) = body["field"].as_str() {
        text.push_str(&format!(" [field: {field}]"));
    }
    for problem in body["errors"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "\n  {}: {}",
            problem["field"].as_str().unwrap_or("?"),
            problem["reason"].as_str().unwrap_or("?")
        ));
    }
    text
}
