//! `ets market` and `ets api`: the CLI as a client of a real `ets serve` process, on SQLite and
//! PostgreSQL: a listing, a resting sell and a crossing buy, trades; a refusal exits 1 naming
//! the field and writes nothing; a retry under the same key replays the first answer.

use serde_json::{Value, json};
use tokio::process::Command;

use super::common::*;

/// `ets <args>` against `server` with `key`; (exit code, stdout JSON, stderr).
async fn client(server: &Server, key: &str, args: &[&str]) -> (i32, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ets"))
        .env("ETS_SERVER", &server.base)
        .env("ETS_API_KEY", key)
        .args(args)
        .output()
        .await
        .expect("run ets");
    let stdout = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_trades_through_a_running_server() {
    for s in servers().await {
        s.setup().await;
        s.issue(COD, A, "100").await;
        let funded = s
            .post(
                "/v1/requests",
                Some(&s.bureau),
                Some("fund"),
                &json!({"actions": [{"type": "deposit", "instrument": CNY, "enterprise": B, "amount": "50000.00"}]}),
            )
            .await;
        assert_eq!(funded.status.as_u16(), 201, "{}", funded.body);

        let (code, listed, err) = client(
            &s,
            &s.bureau,
            &[
                "market",
                "list-instrument",
                COD,
                "--lot",
                "10",
                "--previous-close",
                "100.00",
            ],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(listed["band_upper"], "110.00", "{listed}");

        // An enterprise cannot list: the server's 403 reaches the script as exit 1.
        let (code, _, err) = client(
            &s,
            &s.enterprise_a,
            &["market", "list-instrument", COD, "--previous-close", "100"],
        )
        .await;
        assert_eq!(code, 1);
        assert!(err.contains("403"), "{err}");

        let (code, sell, err) = client(
            &s,
            &s.enterprise_a,
            &["market", "order", "sell", COD, "30", "--price", "101.50"],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(sell["status"], "resting", "{sell}");

        // Too many decimal places: refused naming the field, nothing written.
        let head = s.head().await;
        let (code, _, err) = client(
            &s,
            &s.enterprise_b,
            &["market", "order", "buy", COD, "20", "--price", "101.505"],
        )
        .await;
        assert_eq!(code, 1);
        assert!(err.contains("[field: /price]"), "{err}");
        assert_eq!(s.head().await, head, "a refused order writes nothing");

        // A crossing IOC buy, then its retry under the same key: the first answer again.
        let buy = [
            "market",
            "order",
            "buy",
            COD,
            "20",
            "--price",
            "101.50",
            "--tif",
            "ioc",
            "--idempotency-key",
            "buy-1",
        ];
        let (code, bought, err) = client(&s, &s.enterprise_b, &buy).await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(bought["status"], "filled", "{bought}");
        assert_eq!(bought["filled"], "20");
        let head = s.head().await;
        let (code, again, err) = client(&s, &s.enterprise_b, &buy).await;
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("replayed"), "{err}");
        assert_eq!(again, bought);
        assert_eq!(s.head().await, head, "a retry writes nothing");

        // The bureau sets a rule from the CLI; everyone reads its history.
        let bands = [
            "market",
            "rule",
            "bands",
            COD,
            "--regular-pct",
            "7.5",
            "--block-pct",
            "25",
            "--reason",
            "notice 2026-3",
        ];
        let (code, set, err) = client(&s, &s.bureau, &bands).await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(set["regular_band_pct"], "7.5", "{set}");
        let limit = [
            "market",
            "rule",
            "limit",
            "holding",
            COD,
            "--reason",
            "no amount",
        ];
        let (code, _, err) = client(&s, &s.bureau, &limit).await;
        assert_eq!(code, 2, "clap refuses a limit with no amount: {err}");
        let (code, rules, err) = client(&s, &s.economist, &["market", "rule", "show"]).await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(rules["history"][0]["reason"], "notice 2026-3", "{rules}");

        let (code, trades, err) = client(&s, &s.economist, &["market", "trades", COD]).await;
        assert_eq!(code, 0, "{err}");
        let trades = trades["trades"].as_array().expect("trades").clone();
        assert_eq!(trades.len(), 1);
        assert_eq!(trades[0]["quantity"], "20");
        assert_eq!(trades[0]["price"], "101.50");

        // `ets api`: any endpoint; B now holds the 20 t it bought.
        let (code, accounts, err) = client(
            &s,
            &s.enterprise_b,
            &["api", "get", "/v1/accounts", "-q", &format!("owner={B}")],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let cod = accounts["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .find(|a| a["kind"] == "holding" && a["instrument"] == COD)
            .map(|a| a["balance"].clone());
        assert_eq!(cod, Some(json!("20.000")), "{accounts}");
        let (code, _, err) = client(
            &s,
            &s.enterprise_b,
            &["api", "post", "/v1/surrenders", r#"{"bogus": 1}"#],
        )
        .await;
        assert_eq!(code, 1);
        assert!(err.contains("bogus"), "{err}");
    }
}
