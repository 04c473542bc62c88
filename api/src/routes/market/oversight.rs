//! Market oversight (bureau): freeze an enterprise in the market (its resting orders are
//! cancelled, its pending transfers vetoed) and lift the freeze.

use axum::extract::State;
use axum::response::Response;
use market::AccountId;
use market::durable::MarketCommand;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::command::{Open, Planned, execute};
use super::types::DoneBody;
use super::units::now;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, IdempotencyKey};
use crate::keys::Role;
use crate::services::market::account_of;
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketFreezeBody {
    /// The enterprise to freeze in the market (its orders are cancelled, pending transfers
    /// vetoed).
    pub enterprise: String,
}

/// Runs the freeze or unfreeze `command` builds for the body's enterprise.
async fn oversee(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    body: &MarketFreezeBody,
    command: impl FnOnce(AccountId) -> MarketCommand,
) -> Result<Response, ApiError> {
    execute(
        state,
        caller,
        key,
        body,
        Open::Existing,
        async |market| {
            let account = account_of(market, &body.enterprise)?;
            Ok(Planned::new(command(account), ()))
        },
        |_, _, ()| Ok(DoneBody { done: true }),
    )
    .await
}

/// Freeze an enterprise in the market (bureau): its resting orders are cancelled, its pending
/// transfers vetoed, and it can no longer order, bid or transfer.
#[utoipa::path(
    post, path = "/v1/market/freezes", tag = "market", operation_id = "post_market_freeze",
    request_body = MarketFreezeBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = DoneBody),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn post_freeze(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<MarketFreezeBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "freezing an account in the market")?;
    oversee(&state, &caller, key, &body, |account| {
        MarketCommand::Freeze {
            account,
            now: now(),
        }
    })
    .await
}

/// Lift a market freeze (bureau): the enterprise may order, bid and transfer again.
#[utoipa::path(
    post, path = "/v1/market/unfreezes", tag = "market",
    request_body = MarketFreezeBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = DoneBody),
        (status = "4XX", description = "Refused (e.g. not frozen)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn post_unfreeze(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<MarketFreezeBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "unfreezing an account in the market")?;
    oversee(&state, &caller, key, &body, |account| {
        MarketCommand::Unfreeze { account }
    })
    .await
}
