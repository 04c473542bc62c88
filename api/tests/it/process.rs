//! A real server process: the `api-server` binary on a SQLite file, driven over HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::json;

use crate::common::*;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_server_process_serves_the_ledger() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("ets.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_api-server"))
        .args(["127.0.0.1:0", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn api-server");
    let stdout = child.stdout.take().expect("stdout");
    let child = Killed(child);
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read");
        line
    })
    .await
    .expect("join");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let health: serde_json::Value = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["backend"], "sqlite");

    // A key made the way `ets admin create-key` makes it, while the server runs.
    let bureau = api::create_key(&url, api::Role::Bureau, None, "ops")
        .await
        .expect("key");
    let setup = client
        .post(format!("{base}/v1/requests"))
        .bearer_auth(&bureau)
        .header("idempotency-key", "setup")
        .json(&json!({"actions": setup_actions()}))
        .send()
        .await
        .expect("setup");
    assert_eq!(setup.status(), 201);
    let issue = client
        .post(format!("{base}/v1/issuances"))
        .bearer_auth(&bureau)
        .header("idempotency-key", "i1")
        .json(&json!({"instrument": COD, "to": A, "amount": "7"}))
        .send()
        .await
        .expect("issue");
    assert_eq!(issue.status(), 201);
    let accounts: serde_json::Value = client
        .get(format!("{base}/v1/accounts?owner={A}"))
        .bearer_auth(&bureau)
        .send()
        .await
        .expect("accounts")
        .json()
        .await
        .expect("json");
    assert_eq!(accounts["accounts"][0]["balance"], "7.000", "{accounts}");
    drop(child);
}
