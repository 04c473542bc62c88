//! What every request passes through on its way to a handler, from tower-http: a request id
//! (`x-request-id`, kept from the client or a new UUID, echoed on the answer), a tracing span per
//! request that carries it, metrics per route ([`crate::metrics::track`]), CORS for the origins
//! an operator allows (none by default), gzip compression, and a time limit on answering.
//!
//! The time limit ([`timeout`]) is tower-http's `Timeout`; only the decision to skip the
//! server-sent-event feeds and the problem+json body of its answer are ours.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower::ServiceExt;
use tower_http::LatencyUnit;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::Timeout;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::{Problem, problem_response};
use crate::idempotency::REPLAYED_HEADER;
use crate::state::AppState;

/// The request id header, set on every request and answer.
pub const REQUEST_ID: &str = "x-request-id";

/// Paths of the server-sent-event feeds: long-lived answers the time limit must not cut.
const STREAM_PREFIX: &str = "/v1/stream/";

/// The status of a request that ran out of time: the server, not the client, was too slow.
const TIMEOUT_STATUS: StatusCode = StatusCode::SERVICE_UNAVAILABLE;

/// Wraps every route of `router` (and its fallbacks) in the operational layers.
pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = state.config();
    let request_time = config.limits.request_time;
    // Layers added later run first: the request id is set before the span that logs it is made,
    // and copied onto every answer, including the CORS layer's and the time limit's own.
    let router = router
        .layer(middleware::from_fn_with_state(request_time, timeout))
        .layer(CompressionLayer::new());
    let router = match cors(&config.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(span)
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                )
                .on_failure(DefaultOnFailure::new().latency_unit(LatencyUnit::Millis)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The span every log line of a request is in: method, path, matched route and request id.
fn span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("");
    tracing::info_span!(
        target: "ets::http",
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        route,
        request_id,
    )
}

/// CORS for `origins` (exact `scheme://host[:port]` values), or `None` when there are none: then
/// no CORS header is ever sent and a browser on another origin cannot read an answer.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(
            |origin| match HeaderValue::from_str(origin.trim_end_matches('/')) {
                Ok(value) => Some(value),
                Err(_) => {
                    tracing::warn!(origin, "ignoring a CORS origin that is not a header value");
                    None
                }
            },
        )
        .collect();
    if allowed.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static(REQUEST_ID),
            ])
            .expose_headers([
                HeaderName::from_static(REQUEST_ID),
                HeaderName::from_static(REPLAYED_HEADER),
                header::RETRY_AFTER,
                header::LOCATION,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Answers 503 problem+json when a handler has not answered within `limit`; the event feeds
/// (`/v1/stream/…`) are exempt. A POST cut off here may still be committed: its retry with the
/// same Idempotency-Key answers what happened.
async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with(STREAM_PREFIX) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let answer = Timeout::with_status_code(next, TIMEOUT_STATUS, limit)
        .oneshot(request)
        .await;
    let response = match answer {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // tower-http's own answer is the bare status with an empty body and no content type; every
    // answer of ours has one, so this tells the two apart.
    if response.status() == TIMEOUT_STATUS
        && !response.headers().contains_key(header::CONTENT_TYPE)
        && started.elapsed() >= limit
    {
        return timed_out(limit);
    }
    response
}

fn timed_out(limit: Duration) -> Response {
    let problem = Problem {
        kind: "/problems/timeout".to_owned(),
        title: TIMEOUT_STATUS
            .canonical_reason()
            .unwrap_or("Service Unavailable")
            .to_owned(),
        status: TIMEOUT_STATUS.as_u16(),
        detail: format!(
            "the server did not answer within {} s (ets serve --request-timeout-seconds); a POST may still have been recorded: retry it with the same Idempotency-Key",
            limit.as_secs_f64()
        ),
        code: "timeout".to_owned(),
        field: None,
        location: None,
        errors: Vec::new(),
    };
    let mut response = problem_response(TIMEOUT_STATUS, &problem);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
