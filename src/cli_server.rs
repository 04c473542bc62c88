//! `ets serve` and `ets admin …`: the HTTP API and its keys.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: std::net::SocketAddr,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an API key and print it once (only its SHA-256 hash is stored).
    ///
    /// Bootstrap the first bureau key with `ets admin create-key --role bureau`.
    CreateKey {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The enterprise's unified social credit code (enterprise keys only).
        #[arg(long)]
        enterprise: Option<String>,
        /// A label to recognise the key by.
        #[arg(long, default_value = "cli")]
        label: String,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum RoleArg {
    Bureau,
    Enterprise,
    Economist,
}

pub async fn serve(args: ServeArgs, database_url: &str) -> Result<()> {
    let config = api::Config {
        bind: args.bind,
        database_url: database_url.to_owned(),
        ..api::Config::default()
    };
    eprintln!(
        "serving the ETS API on http://{} (database {database_url}); OpenAPI at /openapi.json",
        args.bind
    );
    api::serve(config).await.context("running the API server")
}

pub async fn admin(command: AdminCommand, database_url: &str) -> Result<()> {
    match command {
        AdminCommand::CreateKey {
            role,
            enterprise,
            label,
        } => {
            let role = match role {
                RoleArg::Bureau => api::Role::Bureau,
                RoleArg::Enterprise => api::Role::Enterprise,
                RoleArg::Economist => api::Role::Economist,
            };
            if matches!(role, api::Role::Enterprise) && enterprise.is_none() {
                bail!("an enterprise key needs --enterprise CREDIT_CODE");
            }
            let key = api::create_key(database_url, role, enterprise.as_deref(), &label).await?;
            println!("{key}");
            eprintln!("keep this key: it is shown once. Send it as `Authorization: Bearer <key>`.");
            Ok(())
        }
    }
}
