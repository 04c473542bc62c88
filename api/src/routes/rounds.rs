//! Reallocation rounds (bureau): dry run and commit; published results (bureau and economists).
//!
//! A round's published result names the applicants (credit codes), their grants, statuses with
//! rule and citation, tiers, fill rates, binding constraints with shadow prices, pool usage and
//! the flows of freed capacity: it is what the bureau publishes (公示), so economists may read
//! it. It shows no holdings. Enterprises read their own outcome through their applications.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, FieldProblem, Problem};
use crate::extract::JsonWithBytes;
use crate::extract::{ApiQuery, IdempotencyKey, decode_value};
use crate::idempotency;
use crate::idempotency::replayed;
use crate::keys::Role;
use crate::services::rounds::{self as service, RoundSpec, StoredRound};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dry_run))
        .routes(routes!(commit))
        .routes(routes!(get_round))
        .routes(routes!(list_rounds))
        .routes(routes!(list_policies))
}

/// A round: the policy (exactly one of `policy_id`, `policy`, `policy_toml`) and which
/// applications it decides.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundBody {
    /// A stored policy (`GET /v1/policies`), e.g. `chongqing-2020-r1`.
    #[serde(default)]
    pub policy_id: Option<String>,
    /// A policy inline, as JSON (the optimizer's policy schema: version, objective,
    /// reserve_share, tiers, eligibility, replacement_ratios, caps, enterprise_share_max).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub policy: Option<serde_json::Value>,
    /// A policy inline, as TOML text (the format of `data/policies/*.toml`).
    #[serde(default)]
    pub policy_toml: Option<String>,
    /// Stored applications to decide; default: every pending one.
    #[serde(default)]
    pub application_ids: Option<Vec<String>>,
    /// Applications the bureau enters directly, in the optimizer's application schema.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub applications: Vec<serde_json::Value>,
}

/// A round's published explanation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoundOut {
    pub round_id: String,
    /// `dry_run` (nothing written) or `committed`.
    pub state: String,
    pub policy_version: String,
    /// The journal entry that posted the grants (absent on a dry run, or when nothing was
    /// granted).
    pub journal_seq: Option<u64>,
    pub committed_at: Option<String>,
    /// The optimizer's allocation: per application status (with rule and citation when
    /// excluded), tier, fill rate, grants, binding constraints and shadow prices; per pool used,
    /// left and shadow price with its range; caps; tiers with MILP gap; flows (whose freed
    /// capacity went to whom). Decimals as strings.
    #[schema(value_type = Object)]
    pub allocation: serde_json::Value,
    /// The ledger request that posts (or would post) the grants.
    #[schema(value_type = Object)]
    pub ledger_request: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoundSummary {
    pub round_id: String,
    pub policy_version: String,
    pub journal_seq: Option<u64>,
    pub committed_at: Option<String>,
    pub applications: usize,
    pub granted: usize,
    pub partial: usize,
    pub none: usize,
    pub excluded: usize,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoundsPage {
    pub rounds: Vec<RoundSummary>,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RoundsQuery {
    /// Cursor: the last round id of the previous page.
    pub after: Option<String>,
    /// Page size, at most 1000 (default 100).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyOut {
    pub id: String,
    /// The policy as stored (TOML).
    pub toml: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PoliciesBody {
    pub policies: Vec<PolicyOut>,
}

/// Decodes a round body, listing every problem.
fn spec(id: String, body: RoundBody) -> Result<RoundSpec, ApiError> {
    service::check_round_id(&id)?;
    let mut problems = Vec::new();
    let given = [
        body.policy_id.is_some(),
        body.policy.is_some(),
        body.policy_toml.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    let mut policy = None;
    if given != 1 {
        problems.push(FieldProblem::new(
            "policy",
            "give exactly one of policy_id, policy (JSON) and policy_toml",
        ));
    } else if let Some(id) = &body.policy_id {
        match service::policy_by_id(id) {
            Ok(p) => policy = Some(p),
            Err(problem) => problems.push(problem),
        }
    } else if let Some(value) = body.policy {
        match decode_value::<optimizer::Policy>(value, "policy") {
            Ok(p) => policy = Some(p),
            Err(ApiError::InvalidField { field, reason }) => {
                problems.push(FieldProblem::new(field, reason));
            }
            Err(other) => return Err(other),
        }
    } else if let Some(text) = &body.policy_toml {
        match service::parse_policy_toml(text) {
            Ok(p) => policy = Some(p),
            Err(reason) => problems.push(FieldProblem::new("policy_toml", reason)),
        }
    }
    let mut inline = Vec::with_capacity(body.applications.len());
    for (index, value) in body.applications.into_iter().enumerate() {
        match decode_value::<optimizer::Application>(value, &format!("applications[{index}]")) {
            Ok(a) => inline.push(a),
            Err(ApiError::InvalidField { field, reason }) => {
                problems.push(FieldProblem::new(field, reason));
            }
            Err(other) => return Err(other),
        }
    }
    match policy {
        Some(policy) if problems.is_empty() => Ok(RoundSpec {
            id,
            policy,
            application_ids: body.application_ids,
            inline,
        }),
        _ => Err(ApiError::Invalid(problems)),
    }
}

fn out(
    round_id: String,
    state: &str,
    allocation: &optimizer::Allocation,
    request: &ledger::Request,
    journal_seq: Option<u64>,
    committed_at: Option<String>,
) -> RoundOut {
    RoundOut {
        round_id,
        state: state.to_owned(),
        policy_version: allocation.policy_version.clone(),
        journal_seq,
        committed_at,
        allocation: serde_json::to_value(allocation).unwrap_or_default(),
        ledger_request: serde_json::to_value(request).unwrap_or_default(),
    }
}

fn stored_out(round: &StoredRound) -> RoundOut {
    out(
        round.id.clone(),
        if round.committed {
            "committed"
        } else {
            "committing"
        },
        &round.allocation,
        &round.request,
        round.journal_seq,
        round.committed_at.clone(),
    )
}

/// Dry-run a reallocation round (bureau): the full published explanation; nothing is written.
///
/// A retry simply runs again: with the ledger and the pending applications unchanged it gives
/// the identical answer.
#[utoipa::path(
    post, path = "/v1/rounds/{id}/dry-run", tag = "reallocation",
    request_body = RoundBody,
    params(
        ("id" = String, Path, description = "Round id: 1 to 64 of A-Z a-z 0-9 . _ -"),
        ("Idempotency-Key" = String, Header, description = "Required on every POST; a dry run writes nothing, so a retry recomputes"),
    ),
    responses(
        (status = 200, description = "The round's explanation; nothing written", body = RoundOut),
        (status = 422, description = "Every problem found, in `errors`", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn dry_run(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    JsonWithBytes(body, bytes): JsonWithBytes<RoundBody>,
) -> Result<Json<RoundOut>, ApiError> {
    caller.require(&[Role::Bureau], "running a reallocation round")?;
    let fingerprint = idempotency::fingerprint("POST", &key.endpoint, &bytes);
    idempotency::claim(state.db(), &caller.0.key_id, &key, &fingerprint).await?;
    let spec = spec(id.clone(), body)?;
    let plan = service::plan(state.ledger(), state.db(), spec).await?;
    Ok(Json(out(
        id,
        "dry_run",
        &plan.allocation,
        &plan.request,
        None,
        None,
    )))
}

/// Commit a reallocation round (bureau): every grant in one atomic, idempotent ledger request.
///
/// A second commit of the same round id with the same body answers the stored result (header
/// `idempotent-replayed: true`) and writes nothing; a different body under a committed round id
/// is refused with 409. Committed applications are marked granted, partial, none or excluded.
#[utoipa::path(
    post, path = "/v1/rounds/{id}/commit", tag = "reallocation",
    request_body = RoundBody,
    params(
        ("id" = String, Path, description = "Round id: 1 to 64 of A-Z a-z 0-9 . _ -"),
        ("Idempotency-Key" = String, Header, description = "Required on every POST; the round id itself makes the commit idempotent"),
    ),
    responses(
        (status = 201, description = "Committed (or replayed)", body = RoundOut),
        (status = 409, description = "The round id was committed with another input, or the ledger refused the grants", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every problem found, in `errors`", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn commit(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    JsonWithBytes(body, bytes): JsonWithBytes<RoundBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "committing a reallocation round")?;
    let fingerprint = idempotency::fingerprint("POST", &format!("/v1/rounds/{id}/commit"), &bytes);
    idempotency::claim(state.db(), &caller.0.key_id, &key, &fingerprint).await?;
    let spec = spec(id, body)?;
    let committed = service::commit(state.ledger(), state.db(), spec, &fingerprint).await?;
    let response = (StatusCode::CREATED, Json(stored_out(&committed.round))).into_response();
    Ok(if committed.replayed {
        replayed(response)
    } else {
        response
    })
}

/// A committed round's published result (bureau, economist).
#[utoipa::path(
    get, path = "/v1/rounds/{id}", tag = "reallocation",
    params(("id" = String, Path, description = "Round id")),
    responses(
        (status = 200, body = RoundOut),
        (status = "4XX", description = "Refused, or no committed round with this id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_round(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RoundOut>, ApiError> {
    caller.require(
        &[Role::Bureau, Role::Economist],
        "reading a round's published result (an enterprise reads its own outcome under /v1/applications)",
    )?;
    match service::get(state.db(), &id).await? {
        Some(round) if round.committed => Ok(Json(stored_out(&round))),
        _ => Err(ApiError::NotFound(format!("no committed round {id:?}"))),
    }
}

/// Committed rounds, by id (bureau, economist).
#[utoipa::path(
    get, path = "/v1/rounds", tag = "reallocation",
    params(RoundsQuery),
    responses(
        (status = 200, body = RoundsPage),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn list_rounds(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RoundsQuery>,
) -> Result<Json<RoundsPage>, ApiError> {
    caller.require(&[Role::Bureau, Role::Economist], "listing rounds")?;
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > 1_000 {
        return Err(ApiError::field("limit", "must be 1 to 1000"));
    }
    let rounds = service::list(state.db(), query.after.as_deref(), limit).await?;
    let next = (rounds.len() == limit)
        .then(|| rounds.last().map(|r| r.id.clone()))
        .flatten();
    let count = |round: &StoredRound, status: optimizer::Status| {
        round
            .allocation
            .applications
            .iter()
            .filter(|a| a.status == status)
            .count()
    };
    Ok(Json(RoundsPage {
        rounds: rounds
            .iter()
            .map(|r| RoundSummary {
                round_id: r.id.clone(),
                policy_version: r.policy_version.clone(),
                journal_seq: r.journal_seq,
                committed_at: r.committed_at.clone(),
                applications: r.allocation.applications.len(),
                granted: count(r, optimizer::Status::Full),
                partial: count(r, optimizer::Status::Partial),
                none: count(r, optimizer::Status::None),
                excluded: count(r, optimizer::Status::Excluded),
            })
            .collect(),
        next,
    }))
}

/// Reallocation policies stored with the server (versioned: the id is the policy's version).
#[utoipa::path(
    get, path = "/v1/policies", tag = "reallocation",
    responses(
        (status = 200, body = PoliciesBody),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn list_policies(_caller: Caller) -> Json<PoliciesBody> {
    Json(PoliciesBody {
        policies: service::POLICIES
            .iter()
            .map(|(id, toml)| PolicyOut {
                id: (*id).to_owned(),
                toml: (*toml).to_owned(),
            })
            .collect(),
    })
}
