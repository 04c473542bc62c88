//! Market oversight (bureau): freeze an enterprise in the market (its resting orders are
//! cancelled, its pending transfers vetoed) and lift the freeze. One freeze: the same call
//! freezes (or unfreezes) the enterprise's account in every instrument in the ledger, so no
//! ledger transfer or surrender moves its units either ([`mirror_in_ledger`]).

use axum::extract::State;
use axum::response::Response;
use exchange::durable::MarketCommand;
use ledger::{Action, Party, Request};
use market::AccountId;
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

/// Freeze an enterprise (bureau): in the market its resting orders are cancelled, its pending
/// transfers vetoed, and it can no longer order, bid or transfer; in the ledger its account in
/// every instrument is frozen, so ledger transfers and surrenders are refused too.
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
    let key_text = key.key.clone();
    let response = oversee(&state, &caller, key, &body, |account| {
        MarketCommand::Freeze {
            account,
            now: now(&state),
        }
    })
    .await?;
    if response.status().is_success() {
        mirror_in_ledger(&state, &caller, &key_text, &body.enterprise, true).await?;
    }
    Ok(response)
}

/// The market's freeze (or unfreeze) of `enterprise`, written to the ledger for every
/// instrument in one request, keyed by the caller's key so a retry writes it once. Should it fail
/// after the market's freeze, the caller gets the error, and its retry (the market part replays)
/// finishes the ledger part.
async fn mirror_in_ledger(
    state: &AppState,
    caller: &Caller,
    key: &str,
    enterprise: &str,
    freeze: bool,
) -> Result<(), ApiError> {
    let holder = Party::Enterprise(enterprise.to_owned());
    let instruments = state.ledger().store().instruments().await?;
    let actions = instruments
        .into_iter()
        .map(|instrument| {
            let (instrument, holder) = (instrument.code, holder.clone());
            if freeze {
                Action::Freeze {
                    instrument,
                    holder,
                    reason: Some("frozen in the market by the bureau".to_owned()),
                    reference: Some("POST /v1/market/freezes".to_owned()),
                }
            } else {
                Action::Unfreeze { instrument, holder }
            }
        })
        .collect();
    let verb = if freeze { "freeze" } else { "unfreeze" };
    // The client's key is up to 100 characters and the ledger's at most 128 in all: a digest
    // keeps the derived key short whatever the client chose.
    let digest = crate::idempotency::fingerprint("POST", verb, key.as_bytes());
    let request = Request {
        idempotency_key: format!("{}:market-{verb}:{}", caller.0.key_id, &digest[..32]),
        actor: caller.actor(),
        memo: Some(format!("market {verb} of {enterprise}")),
        actions,
    };
    state.ledger().submit(request).await?;
    Ok(())
}

/// Lift a freeze (bureau): the enterprise may order, bid and transfer again, in the market and
/// in the ledger (every instrument's account is unfrozen).
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
    let key_text = key.key.clone();
    let response = oversee(&state, &caller, key, &body, |account| {
        MarketCommand::Unfreeze { account }
    })
    .await?;
    if response.status().is_success() {
        mirror_in_ledger(&state, &caller, &key_text, &body.enterprise, false).await?;
    }
    Ok(response)
}
