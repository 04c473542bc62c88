//! Capacity applications: an enterprise applies for freed discharge capacity, lists and withdraws
//! its own; the bureau lists (and may withdraw) all. An enterprise never sees another's
//! applications: asking for one by id answers 404, as if it did not exist. Economists see none
//! (they read the published round results instead).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, ApiQuery, IdempotencyKey, JsonWithBytes};
use crate::idempotency::{self, Keyed};
use crate::keys::Role;
use crate::services::applications::{self as service, Filing, Status, Stored};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_application, list_applications))
        .routes(routes!(get_application))
        .routes(routes!(withdraw_application))
}

/// An application for freed capacity for one project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationBody {
    /// The applicant's credit code: an enterprise key applies for itself (omit it, or give its
    /// own); a bureau key files on an enterprise's behalf and must give it.
    #[serde(default)]
    pub enterprise: Option<String>,
    pub project: String,
    /// Quantities the project needs together, in fixed proportion (half the COD is useless
    /// without half the NH3-N).
    pub requests: Vec<RequestBody>,
    /// 0 = any part helps, 1 = all or nothing; a grant is 0 or at least this share.
    #[serde(default, with = "ledger::amount::plain")]
    #[schema(value_type = String, example = "0")]
    pub min_viable_share: Decimal,
    /// The river basin the project discharges to (a region the register defines).
    pub basin: String,
    /// The airshed the project emits into.
    pub airshed: String,
    /// Project tags the policy gives meaning to (e.g. `major_project`, `chemical`,
    /// `new_industrial_park`); the register's classification tags are added when a round runs.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String, example = "120000000")]
    pub value_added_cny_per_year: Decimal,
    #[serde(default)]
    pub jobs: u32,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// A pollutant with a discharge right valid today (e.g. `COD`, `NH3-N`, `SO2`, `NOx`).
    pub pollutant: String,
    /// Tonnes per year, at most the pollutant's scale in decimal places.
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String, example = "12.5")]
    pub quantity: Decimal,
}

/// A stored application and, once a committed round decided it, its result.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApplicationOut {
    pub id: String,
    pub enterprise: String,
    pub project: String,
    /// `pending`, `withdrawn`, or after a committed round `granted`, `partial`, `none` or
    /// `excluded`.
    pub status: String,
    pub round_id: Option<String>,
    pub requests: Vec<RequestBody>,
    #[schema(value_type = String)]
    pub min_viable_share: String,
    pub basin: String,
    pub airshed: String,
    pub tags: Vec<String>,
    #[schema(value_type = String)]
    pub value_added_cny_per_year: String,
    pub jobs: u32,
    pub filed_at: String,
    pub updated_at: String,
    /// The round's explanation for this application (tier, fill rate, grants per pollutant,
    /// exclusions with rule and citation, binding constraints with shadow prices).
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApplicationsPage {
    pub applications: Vec<ApplicationOut>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApplicationsQuery {
    /// Only applications with this status.
    pub status: Option<String>,
    /// Only this enterprise's (bureau; an enterprise key always sees its own only).
    pub enterprise: Option<String>,
    /// Cursor: the last id of the previous page.
    pub after: Option<String>,
    /// Page size, at most 1000 (default 100).
    pub limit: Option<usize>,
}

pub(crate) fn out(stored: Stored) -> ApplicationOut {
    let a = stored.application;
    ApplicationOut {
        id: a.id,
        enterprise: a.enterprise,
        project: a.project,
        status: stored.status.as_str().to_owned(),
        round_id: stored.round_id,
        requests: a
            .requests
            .into_iter()
            .map(|r| RequestBody {
                pollutant: r.pollutant,
                quantity: r.quantity,
            })
            .collect(),
        min_viable_share: a.min_viable_share.to_string(),
        basin: a.location.basin,
        airshed: a.location.airshed,
        tags: a.tags,
        value_added_cny_per_year: a.value_added_cny_per_year.to_string(),
        jobs: a.jobs,
        filed_at: stored.filed_at,
        updated_at: stored.updated_at,
        result: stored
            .result
            .and_then(|result| serde_json::to_value(result).ok()),
    }
}

/// Apply for freed capacity (enterprise for itself; bureau on an enterprise's behalf).
///
/// Every problem with the application is listed at once (`errors`), and nothing is stored.
#[utoipa::path(
    post, path = "/v1/applications", tag = "reallocation",
    request_body = ApplicationBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, description = "Filed (or replayed)", body = ApplicationOut),
        (status = 403, description = "Not this key's enterprise, or an economist key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too many pending applications", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every problem found, in `errors`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_application(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    JsonWithBytes(body, bytes): JsonWithBytes<ApplicationBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise, Role::Bureau], "applying for capacity")?;
    let enterprise = match (caller.role(), &body.enterprise) {
        (Role::Enterprise, None) => caller.enterprise().unwrap_or_default().to_owned(),
        (_, Some(code)) => code.clone(),
        (_, None) => {
            return Err(ApiError::field(
                "enterprise",
                "a bureau key files on an enterprise's behalf: give its credit code",
            ));
        }
    };
    caller.require_owner(&enterprise, "applying for capacity")?;
    let fingerprint = idempotency::fingerprint("POST", "/v1/applications", &bytes);
    if let Some(replay) =
        idempotency::replay(state.db(), &caller.0.key_id, &key, &fingerprint).await?
    {
        return Ok(replay);
    }
    let filing = Filing {
        enterprise,
        project: body.project,
        requests: body
            .requests
            .into_iter()
            .map(|r| (r.pollutant, r.quantity))
            .collect(),
        min_viable_share: body.min_viable_share,
        basin: body.basin,
        airshed: body.airshed,
        tags: body.tags,
        value_added_cny_per_year: body.value_added_cny_per_year,
        jobs: body.jobs,
    };
    let register = service::register(state.ledger()).await?;
    let now = state.now();
    let application = service::validate(&filing, &register, &service::new_id(), now.timestamp())
        .map_err(ApiError::Invalid)?;
    if service::pending_count(state.db(), &filing.enterprise).await?
        >= service::PENDING_PER_ENTERPRISE_MAX
    {
        return Err(ApiError::Conflict(format!(
            "enterprise {} already has {} pending applications; withdraw one or wait for a round",
            filing.enterprise,
            service::PENDING_PER_ENTERPRISE_MAX
        )));
    }
    let stamp = ledger::journal::format_time(now);
    let answer = out(Stored {
        application: application.clone(),
        status: Status::Pending,
        round_id: None,
        result: None,
        filed_at: stamp.clone(),
        updated_at: stamp,
    });
    let text = serde_json::to_string(&answer)
        .map_err(|error| ApiError::Internal(format!("encoding an application: {error}")))?;
    let keyed = Keyed {
        principal: &caller.0.key_id,
        key: &key.key,
        fingerprint: fingerprint.clone(),
        status: StatusCode::CREATED.as_u16(),
        body: text.clone(),
    };
    if !service::insert(state.db(), state.now(), &application, &keyed).await? {
        // A concurrent retry with the same key stored its answer first.
        if let Some(replay) =
            idempotency::replay(state.db(), &caller.0.key_id, &key, &fingerprint).await?
        {
            return Ok(replay);
        }
    }
    Ok((
        StatusCode::CREATED,
        [(CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response())
}

/// List applications: an enterprise its own, the bureau all (cursor-paged by id).
#[utoipa::path(
    get, path = "/v1/applications", tag = "reallocation",
    params(ApplicationsQuery),
    responses(
        (status = 200, body = ApplicationsPage),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn list_applications(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ApplicationsQuery>,
) -> Result<Json<ApplicationsPage>, ApiError> {
    caller.require(&[Role::Enterprise, Role::Bureau], "listing applications")?;
    let enterprise = match caller.role() {
        Role::Enterprise => {
            let own = caller.enterprise().unwrap_or_default();
            if let Some(asked) = &query.enterprise {
                caller.require_owner(asked, "listing applications")?;
            }
            Some(own.to_owned())
        }
        _ => query.enterprise.clone(),
    };
    let status = match &query.status {
        Some(text) => Some(Status::parse(text).ok_or_else(|| {
            ApiError::param(crate::error::Location::Query,
                "status",
                format!(
                    "unknown status {text:?}: pending, withdrawn, granted, partial, none or excluded"
                ),
            )
        })?),
        None => None,
    };
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > service::LIST_MAX {
        return Err(ApiError::param(
            crate::error::Location::Query,
            "limit",
            format!("must be 1 to {}", service::LIST_MAX),
        ));
    }
    let rows = service::list(
        state.db(),
        enterprise.as_deref(),
        status,
        query.after.as_deref(),
        limit,
    )
    .await?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.application.id.clone()))
        .flatten();
    Ok(Json(ApplicationsPage {
        applications: rows.into_iter().map(out).collect(),
        next,
    }))
}

/// One application (an enterprise's own; the bureau any).
#[utoipa::path(
    get, path = "/v1/applications/{id}", tag = "reallocation",
    params(("id" = String, Path, description = "Application id")),
    responses(
        (status = 200, body = ApplicationOut),
        (status = "4XX", description = "Refused, or no such application of this caller", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_application(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApplicationOut>, ApiError> {
    let stored = visible(&state, &caller, &id, "reading an application").await?;
    Ok(Json(out(stored)))
}

/// The application `id` if the caller may see it; 404 otherwise (an enterprise cannot tell
/// another's application from none).
async fn visible(
    state: &AppState,
    caller: &Caller,
    id: &str,
    operation: &str,
) -> Result<Stored, ApiError> {
    caller.require(&[Role::Enterprise, Role::Bureau], operation)?;
    let stored = service::get(state.db(), id).await?;
    match stored {
        Some(stored)
            if caller.role() == Role::Bureau
                || caller.enterprise() == Some(stored.application.enterprise.as_str()) =>
        {
            Ok(stored)
        }
        _ => Err(ApiError::NotFound(format!(
            "application {id:?} (an enterprise key sees its own applications only)"
        ))),
    }
}

/// Withdraw a pending application (the applicant, or the bureau).
#[utoipa::path(
    post, path = "/v1/applications/{id}/withdraw", tag = "reallocation",
    params(
        ("id" = String, Path, description = "Application id"),
        ("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry"),
    ),
    responses(
        (status = 200, description = "Withdrawn (or replayed)", body = ApplicationOut),
        (status = 409, description = "Not pending (already decided or withdrawn)", body = Problem, content_type = "application/problem+json"),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn withdraw_application(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let path = format!("/v1/applications/{id}/withdraw");
    let fingerprint = idempotency::fingerprint("POST", &path, b"");
    if let Some(replay) =
        idempotency::replay(state.db(), &caller.0.key_id, &key, &fingerprint).await?
    {
        return Ok(replay);
    }
    let mut stored = visible(&state, &caller, &id, "withdrawing an application").await?;
    if stored.status != Status::Pending {
        return Err(ApiError::Conflict(format!(
            "application {id} is {}, not pending: only a pending application can be withdrawn",
            stored.status.as_str()
        )));
    }
    let updated_at = ledger::journal::format_time(state.now());
    stored.status = Status::Withdrawn;
    stored.updated_at = updated_at.clone();
    let text = serde_json::to_string(&out(stored))
        .map_err(|error| ApiError::Internal(format!("encoding an application: {error}")))?;
    let keyed = Keyed {
        principal: &caller.0.key_id,
        key: &key.key,
        fingerprint: fingerprint.clone(),
        status: StatusCode::OK.as_u16(),
        body: text.clone(),
    };
    if !service::withdraw(state.db(), &id, &updated_at, &keyed).await? {
        if let Some(replay) =
            idempotency::replay(state.db(), &caller.0.key_id, &key, &fingerprint).await?
        {
            return Ok(replay);
        }
        return Err(ApiError::Conflict(format!(
            "application {id} was decided or withdrawn meanwhile: it is no longer pending"
        )));
    }
    Ok((StatusCode::OK, [(CONTENT_TYPE, "application/json")], text).into_response())
}
