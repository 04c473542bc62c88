//! Ledger writes: the generic atomic batch and one convenience endpoint per common operation.
//! Every POST needs an `Idempotency-Key`; a retry replays the first answer.

use axum::extract::State;
use axum::response::Response;
use ledger::{Action, Party, Quantity};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, IdempotencyKey, decode_value};
use crate::keys::Role;
use crate::model::{
    BatchBody, EnterpriseBody, FreezeBody, IssuanceBody, ReceiptBody, ReductionBody, SurrenderBody,
    TransferBody,
};
use crate::routes::submit::{Shape, submit};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_request))
        .routes(routes!(post_transfer))
        .routes(routes!(post_surrender))
        .routes(routes!(post_issuance))
        .routes(routes!(post_reduction))
        .routes(routes!(post_enterprise))
        .routes(routes!(post_freeze))
}

/// Submit a generic atomic batch of ledger actions.
///
/// Bureau keys may submit any action. Enterprise keys may submit `transfer` (from themselves,
/// purpose `transfer`), `place_hold` (from themselves) and `surrender` (their own) only.
#[utoipa::path(
    post, path = "/v1/requests", tag = "ledger",
    request_body = BatchBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, description = "Recorded (or replayed)", body = ReceiptBody),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key's role or enterprise may not ask for this", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown instrument, enterprise or hold", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Refused by a ledger rule (balance, freeze, hold state)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_request(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<BatchBody>,
) -> Result<Response, ApiError> {
    let mut actions = Vec::with_capacity(body.actions.len());
    for (index, value) in body.actions.into_iter().enumerate() {
        actions.push(decode_value::<Action>(value, &format!("/actions/{index}"))?);
    }
    submit(&state, &caller, key, body.memo, actions, Shape::Batch).await
}

/// Transfer units between two holders.
#[utoipa::path(
    post, path = "/v1/transfers", tag = "ledger",
    request_body = TransferBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, description = "Recorded (or replayed)", body = ReceiptBody),
        (status = "4XX", description = "Refused; nothing was written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_transfer(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau, Role::Enterprise], "a transfer")?;
    let action = Action::Transfer {
        instrument: body.instrument,
        from: Party::parse(&body.from),
        to: Party::parse(&body.to),
        amount: Quantity(body.amount),
        purpose: body.purpose.into(),
    };
    submit(&state, &caller, key, body.memo, vec![action], Shape::Single).await
}

/// Surrender units for year-end compliance.
#[utoipa::path(
    post, path = "/v1/surrenders", tag = "ledger",
    request_body = SurrenderBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, description = "Recorded (or replayed)", body = ReceiptBody),
        (status = "4XX", description = "Refused; nothing was written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_surrender(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<SurrenderBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau, Role::Enterprise], "a surrender")?;
    let action = Action::Surrender {
        instrument: body.instrument,
        enterprise: body.enterprise,
        amount: Quantity(body.amount),
        compliance_year: body.compliance_year,
    };
    submit(&state, &caller, key, body.memo, vec![action], Shape::Single).await
}

/// Issue new units into the reserve or an enterprise's holding (bureau).
#[utoipa::path(
    post, path = "/v1/issuances", tag = "ledger",
    request_body = IssuanceBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, description = "Recorded (or replayed)", body = ReceiptBody),
        (status = "4XX", description = "Refused; nothing was written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_issuance(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<IssuanceBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "issuing units")?;
    let action = Action::Issue {
        instrument: body.instrument,
        to: Party::parse(&body.to),
        amount: Quantity(body.amount),
    };
    submit(&state, &caller, key, body.memo, vec![action], Shape::Single).await
}

/// Certify capacity freed by an enterprise's measure: it moves to the reserve (bureau).
#[utoipa::path(
    post, path = "/v1/reductions", tag = "ledger",
    request_body = ReductionBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, description = "Recorded (or replayed)", body = ReceiptBody),
        (status = "4XX", description = "Refused; nothing was written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_reduction(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<ReductionBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "certifying a reduction")?;
    let action = Action::CertifyReduction {
        reduction: body.reduction,
        enterprise: body.enterprise,
        instrument: body.instrument,
        amount: Quantity(body.amount),
        measure: body.measure.into(),
        evidence: body.evidence,
    };
    submit(&state, &caller, key, body.memo, vec![action], Shape::Single).await
}

/// Register an enterprise (bureau).
#[utoipa::path(
    post, path = "/v1/enterprises", tag = "ledger",
    request_body = EnterpriseBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, description = "Recorded (or replayed)", body = ReceiptBody),
        (status = "4XX", description = "Refused; nothing was written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_enterprise(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<EnterpriseBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "registering an enterprise")?;
    let action = Action::RegisterEnterprise {
        enterprise: body.into(),
    };
    submit(&state, &caller, key, None, vec![action], Shape::Single).await
}

/// Freeze or unfreeze a holder's account in one instrument (bureau). An enterprise frozen in
/// any instrument is frozen in the market too (resting orders cancelled, pending transfers
/// vetoed), until none of its accounts is frozen.
#[utoipa::path(
    post, path = "/v1/freezes", tag = "ledger",
    request_body = FreezeBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, description = "Recorded (or replayed)", body = ReceiptBody),
        (status = "4XX", description = "Refused; nothing was written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn post_freeze(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<FreezeBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "freezing an account")?;
    let holder = Party::parse(&body.holder);
    let enterprise = match &holder {
        Party::Enterprise(code) => Some(code.clone()),
        _ => None,
    };
    let action = if body.frozen {
        Action::Freeze {
            instrument: body.instrument,
            holder,
            reason: body.reason,
            reference: body.reference,
        }
    } else {
        Action::Unfreeze {
            instrument: body.instrument,
            holder,
        }
    };
    let response = submit(&state, &caller, key, body.memo, vec![action], Shape::Single).await?;
    if let Some(code) = enterprise
        && response.status().is_success()
    {
        let accounts = state.ledger().store().balances(Some(&code)).await?;
        let any_frozen = accounts.iter().any(|account| account.frozen);
        let now = market::Timestamp(state.now().timestamp_millis());
        state
            .market()
            .follow_ledger_freeze(&code, any_frozen, now)
            .await?;
    }
    Ok(response)
}
