//! `ets serve` as an operator runs it: the first line names the bound address, SIGTERM stops it
//! cleanly, an address already in use or a bad limit is refused with a message and an exit code.

use std::time::Duration;

use super::common::*;

#[tokio::test]
async fn serve_reports_its_address_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("ets.db").display());
    let mut server = spawn_serve(&url, &Flags::default()).await;
    let (ip, port) = server.addr.rsplit_once(':').expect("ADDR is IP:PORT");
    assert_eq!(ip, "127.0.0.1");
    assert_ne!(port, "0", "port 0 is replaced by the port actually bound");
    let health: serde_json::Value = reqwest::get(format!("http://{}/health", server.addr))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["backend"], "sqlite");

    // A second server on the same address: refused, named, exit status 1.
    let busy = tokio::process::Command::new(env!("CARGO_BIN_EXE_ets"))
        .env("ETS_DATABASE_URL", &url)
        .args(["serve", "--bind", &server.addr])
        .output()
        .await
        .expect("run ets serve");
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert_eq!(busy.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("binding {}", server.addr)),
        "{stderr}"
    );
    assert!(
        busy.stdout.is_empty(),
        "no `listening on` line when not listening"
    );

    let pid = server.pid().expect("pid");
    let term = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .expect("kill -TERM");
    assert!(term.success());
    let status = tokio::time::timeout(Duration::from_secs(20), server.wait())
        .await
        .expect("stops within 20 s of SIGTERM");
    assert!(
        status.success(),
        "a clean exit: {status:?}\n{}",
        server.stderr()
    );
}

#[tokio::test]
async fn bad_serve_flags_are_refused_by_name() {
    for (flag, value) in [
        ("--scenario-seconds", "0"),
        ("--rate-per-second", "0"),
        ("--body-limit", "lots"),
        ("--bind", "localhost"),
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ets"))
            .env("ETS_DATABASE_URL", "sqlite::memory:")
            .args(["serve", flag, value])
            .output()
            .await
            .expect("run ets serve");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{flag} named: {stderr}");
    }
}
