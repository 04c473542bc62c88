//! A bare server process for end-to-end tests and benchmarks, until `ets serve` wraps
//! [`api::serve`]: `api-server [BIND] [DATABASE_URL]`. It prints `listening on ADDR` once bound.

use std::net::SocketAddr;

use api::{AppState, Config};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let mut config = Config::default();
    if let Some(bind) = args.next() {
        match bind.parse::<SocketAddr>() {
            Ok(bind) => config.bind = bind,
            Err(error) => {
                eprintln!("api-server: bad bind address {bind:?}: {error}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    if let Some(url) = args.next() {
        config.database_url = url;
    }
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("api-server: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(config.bind).await?;
    let state = AppState::open(config).await?;
    println!("listening on {}", listener.local_addr()?);
    api::serve_on(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
