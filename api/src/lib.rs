//! The HTTP API (axum) and the application services it shares with the `ets` CLI: services read
//! the ledger, call the pure cores (optimizer, market, scenarios) and post the results.
//!
//! [`serve`] runs a server from a [`Config`]; [`app`] builds the router on an [`AppState`] (tests
//! serve it on `127.0.0.1:0`). Callers authenticate with API keys made by [`keys::create_key`]
//! (the CLI's `ets admin create-key`), each bound to a role: bureau, enterprise or economist.
//! Every answer that is not a success is RFC 9457 problem+json ([`error::ApiError`]). The
//! OpenAPI 3.1 document is generated from the handlers ([`openapi`]) and served at
//! `/openapi.json`.

pub mod auth;
pub mod config;
mod convert;
pub mod db;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod keys;
pub mod layers;
pub mod metrics;
pub mod model;
pub mod routes;
pub mod services;
pub mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

pub use config::{Config, Limits};
pub use error::ApiError;
pub use keys::{Role, create_key, revoke_key};
pub use state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ets",
        description = "Emissions-trading and pollution-rights register: ledger, audit journal and market data."
    ),
    modifiers(&ApiKeyScheme),
    components(schemas(error::Problem))
)]
struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key `ets_…` from `ets admin create-key`"))
                    .build(),
            ),
        );
    }
}

fn routers() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::system::router())
        .merge(routes::writes::router())
        .merge(routes::reads::router())
        .merge(routes::audit::router())
        .merge(routes::applications::router())
        .merge(routes::rounds::router())
        .merge(routes::scenarios::router())
        .merge(routes::statistics::router())
        .merge(routes::market::router())
}

/// The OpenAPI 3.1 document of every route, as generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routers().split_for_parts().1
}

/// The whole API on `state`: every area's routes, `/openapi.json`, problem+json fallbacks, the
/// body limit, and the operational layers of [`layers`] (request ids, tracing, metrics, CORS,
/// compression, the time limit).
pub fn app(state: AppState) -> Router {
    let (router, spec) = routers().split_for_parts();
    let spec = Arc::new(spec.to_pretty_json().unwrap_or_default());
    let limit = state.config().limits.body_bytes;
    let router = router
        .route(
            "/openapi.json",
            get(move || {
                let spec = Arc::clone(&spec);
                async move {
                    (
                        [(CONTENT_TYPE, "application/json")],
                        spec.as_str().to_owned(),
                    )
                        .into_response()
                }
            }),
        )
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(limit));
    layers::apply(router, &state).with_state(state)
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("opening the ledger at {url}: {source}")]
    Open { url: String, source: ApiError },
    #[error("binding {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// Opens the ledger at `config.database_url` and serves the API on `config.bind` until the process
/// receives Ctrl-C. Logs go through `tracing`: the caller installs the subscriber.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.bind,
            source,
        })?;
    let url = config.database_url.clone();
    let state = AppState::open(config)
        .await
        .map_err(|source| ServeError::Open { url, source })?;
    serve_on(listener, state, shutdown_signal()).await
}

/// Serves `state` on an already bound listener until `shutdown` completes (tests bind port 0).
pub async fn serve_on(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, backend = state.ledger().store().backend_name(), "serving the ets API");
    }
    let upkeep = tokio::spawn(metrics_upkeep(state.clone()));
    let duties = state
        .config()
        .duty_interval
        .map(|every| tokio::spawn(perform_duties(state.clone(), every)));
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve);
    upkeep.abort();
    if let Some(duties) = duties {
        duties.abort();
    }
    served
}

/// Performs the time-driven duties due (`services::duties`) every `every`, by the ledger's clock.
/// A failed run is logged and tried again at the next tick: the duties are idempotent.
async fn perform_duties(state: AppState, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match services::duties::run_due(state.market(), state.now()).await {
            Ok(report) if report.is_empty() => {}
            Ok(report) if !report.failed.is_empty() => {
                tracing::warn!(
                    ?report,
                    "some time-driven duties failed; retrying next tick"
                )
            }
            Ok(report) if !report.auctions_to_close.is_empty() => tracing::warn!(
                ?report,
                "auctions past their close wait for the bureau to close them with the seed"
            ),
            Ok(report) => tracing::info!(?report, "performed the duties due"),
            Err(error) => tracing::warn!(%error, "time-driven duties failed; retrying next tick"),
        }
    }
}

/// Folds recorded latencies into their histogram buckets every few seconds, scraped or not.
async fn metrics_upkeep(state: AppState) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        every.tick().await;
        state.metrics().upkeep();
    }
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM: the signal to stop serving gracefully. If a
/// handler cannot be installed the server simply runs until killed.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
