//! `ets api get|post`: any endpoint of the HTTP API from a script, with the same key,
//! idempotency and error handling as `ets market` (e.g. surrenders, capacity applications,
//! the journal). The endpoint list is the OpenAPI document at `/openapi.json`.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::http_client::{Client, Connection, WriteKey};

#[derive(Args, Debug)]
pub struct ApiArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: ApiCommand,
}

#[derive(Subcommand, Debug)]
enum ApiCommand {
    /// GET an endpoint, e.g. `ets api get /v1/accounts` or `ets api get /v1/journal -q limit=5`.
    Get {
        /// The path, starting with `/`.
        path: String,
        /// A query parameter as NAME=VALUE (repeatable).
        #[arg(short, long = "query", value_name = "NAME=VALUE")]
        queries: Vec<String>,
    },
    /// POST a JSON body, e.g. `ets api post /v1/surrenders @surrender.json`.
    Post {
        /// The path, starting with `/`.
        path: String,
        /// The JSON body: inline, `@FILE`, or `-` for standard input.
        #[arg(default_value = "{}")]
        body: String,
        #[command(flatten)]
        write: WriteKey,
    },
}

pub async fn run(args: ApiArgs) -> Result<()> {
    let client = Client::new(&args.connection)?;
    let answer = match args.command {
        ApiCommand::Get { path, queries } => {
            let query = queries
                .iter()
                .map(|q| match q.split_once('=') {
                    Some((name, value)) => Ok((name, value.to_owned())),
                    None => bail!("--query {q:?} is not NAME=VALUE"),
                })
                .collect::<Result<Vec<_>>>()?;
            client.get(&checked(&path)?, &query).await?
        }
        ApiCommand::Post { path, body, write } => {
            let text = match body.as_str() {
                "-" => std::io::read_to_string(std::io::stdin()).context("reading stdin")?,
                file if file.starts_with('@') => std::fs::read_to_string(&file[1..])
                    .with_context(|| format!("reading {}", &file[1..]))?,
                inline => inline.to_owned(),
            };
            let body: Value = serde_json::from_str(&text).context("the body is not JSON")?;
            client.post(&checked(&path)?, &body, &write).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

fn checked(path: &str) -> Result<String> {
    if !path.starts_with('/') {
        bail!("the path must start with `/`, e.g. /v1/accounts (got {path:?})");
    }
    Ok(path.to_owned())
}
