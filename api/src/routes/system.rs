//! Operations endpoints: liveness, Prometheus metrics, and which key the caller holds.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::model::{HealthBody, WhoAmIBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(whoami))
}

/// Liveness: answers without touching the database, so a load balancer's probes cost nothing.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = HealthBody)))]
async fn health(State(state): State<AppState>) -> Json<HealthBody> {
    Json(HealthBody {
        status: "ok".to_owned(),
        backend: state.ledger().store().backend_name().to_owned(),
    })
}

/// Request counters and the journal head, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let head = state.ledger().store().head().await.ok().map(|(seq, _)| seq);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics().render(
            head,
            state.scenario_runs_active(),
            state.market().replay_counters(),
        ),
    )
}

/// The role (and enterprise) of the presented key.
#[utoipa::path(
    get, path = "/v1/whoami", tag = "system",
    responses(
        (status = 200, body = WhoAmIBody),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn whoami(caller: Caller) -> Result<Json<WhoAmIBody>, ApiError> {
    let principal = caller.0;
    Ok(Json(WhoAmIBody {
        key_id: principal.key_id,
        role: principal.role,
        enterprise: principal.enterprise,
        label: principal.label,
    }))
}
