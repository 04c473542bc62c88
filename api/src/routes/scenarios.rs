//! Policy scenarios (economist, bureau): POST a scenario as TOML or JSON, get the JSON summary
//! (or, with `Accept: text/csv`, the tidy long CSV). Nothing is written anywhere.
//!
//! Bounded: the body is at most [`SCENARIO_BYTES_MAX`] (and the server's body limit), at most
//! `Limits::scenario_runs` scenarios run at once per process (more get 503 with `Retry-After`),
//! and a run that takes longer than `Limits::scenario_time` is answered 422 (run it with
//! `ets scenario run` instead); a run answered 422 keeps its slot until the engine stops. The
//! engine runs on the blocking pool, never on the async workers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use scenarios::output::{LONG_HEADER, Manifest, write_long_rows};
use scenarios::{RunOptions, ScenarioError, TextFormat};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::IdempotencyKey;
use crate::extract::{body_bytes, media_type};
use crate::keys::Role;
use crate::state::AppState;

/// Largest scenario text accepted over HTTP (larger ones: `ets scenario run` on a file).
pub const SCENARIO_BYTES_MAX: usize = 512 * 1024;
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run_scenario))
}

/// The JSON answer: the manifest (engine version, scenario hash, solver settings) and the run's
/// summary (per year market results, totals, sectors, regions, firms).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScenarioOut {
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
}

/// Run a policy scenario (economist, bureau) and return its summary.
///
/// The body is the scenario file's text: `Content-Type: application/toml` (or `text/toml`) or
/// `application/json`. Files cannot be referenced (`firm_files`): give firms inline. Errors name
/// the scenario key and the reason (`field` is the dotted key). A run writes nothing, so a retry
/// recomputes the same answer.
#[utoipa::path(
    post, path = "/v1/scenarios/run", tag = "scenarios",
    request_body(content = String, description = "The scenario, TOML or JSON", content_type = "application/toml"),
    params(("Idempotency-Key" = String, Header, description = "Required on every POST; a run writes nothing, so a retry recomputes")),
    responses(
        (status = 200, description = "The summary (or the long CSV with `Accept: text/csv`)", body = ScenarioOut),
        (status = 413, description = "Scenario too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not TOML or JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid scenario (the key and the reason), infeasible, or over the time limit", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many scenarios running; retry after the given seconds", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn run_scenario(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    request: Request,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Economist, Role::Bureau], "running a scenario")?;
    let format = match media_type(request.headers().get(CONTENT_TYPE)).as_str() {
        "application/toml" | "text/toml" | "text/x-toml" => TextFormat::Toml,
        "application/json" => TextFormat::Json,
        _ => {
            return Err(ApiError::field(
                "Content-Type",
                "a scenario is application/toml (or text/toml) or application/json",
            ));
        }
    };
    let csv = request
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    let bytes = body_bytes(request, &state).await?;
    if bytes.len() > SCENARIO_BYTES_MAX {
        return Err(ApiError::BodyTooLarge {
            limit: SCENARIO_BYTES_MAX,
        });
    }
    let fingerprint = crate::idempotency::fingerprint("POST", &key.endpoint, &bytes);
    crate::idempotency::claim(state.db(), &caller.0.key_id, &key, &fingerprint).await?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::field("body", "a scenario is UTF-8 text"))?;
    let limits = &state.config().limits;
    let (runs_max, time_limit) = (limits.scenario_runs, limits.scenario_time);
    let permit = Arc::clone(state.scenario_runs())
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::Busy(format!(
                "{runs_max} scenarios are already running on this server; retry shortly"
            ))
        })?;
    let run = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // The CLI's defaults, firm-year detail included, so the API answers exactly what
        // `ets scenario run` computes for the same text.
        let options = RunOptions::default();
        let (scenario, result) = scenarios::run_text(&text, format, &options)?;
        let manifest = Manifest::new("run", &scenario, Some(&result));
        Ok::<_, ScenarioError>((manifest, Arc::new(result)))
    });
    let (manifest, result) = match tokio::time::timeout(time_limit, run).await {
        Err(_) => {
            return Err(ApiError::field(
                "body",
                format!(
                    "the scenario ran longer than the API's {} s limit; run it with `ets scenario run`",
                    time_limit.as_secs_f64()
                ),
            ));
        }
        Ok(Err(error)) => {
            return Err(ApiError::Internal(format!("scenario task failed: {error}")));
        }
        Ok(Ok(Err(error))) => return Err(scenario_error(error)),
        Ok(Ok(Ok(done))) => done,
    };
    if csv {
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(LONG_HEADER.as_bytes());
        out.push(b'\n');
        write_long_rows(&mut out, &result, "api")
            .map_err(|error| ApiError::Internal(format!("writing CSV: {error}")))?;
        return Ok((
            StatusCode::OK,
            [(CONTENT_TYPE, "text/csv; charset=utf-8")],
            out,
        )
            .into_response());
    }
    let body = ScenarioOut {
        manifest: serde_json::to_value(&manifest).unwrap_or_default(),
        result: serde_json::to_value(result.as_ref()).unwrap_or_default(),
    };
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// Scenario errors as problems: bad input names the key; engine faults are 500s.
fn scenario_error(error: ScenarioError) -> ApiError {
    match error {
        ScenarioError::Invalid { key, reason } => ApiError::field(key, reason),
        ScenarioError::Parameter { path, reason } => ApiError::field(path, reason),
        ScenarioError::Parse(reason) => ApiError::field("body", reason),
        error @ (ScenarioError::Infeasible { .. } | ScenarioError::Io { .. }) => {
            ApiError::field("body", error.to_string())
        }
        error @ ScenarioError::Csv { .. } => ApiError::field("body", error.to_string()),
        error => ApiError::Internal(error.to_string()),
    }
}
