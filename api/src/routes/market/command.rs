//! The one write path of every market POST ([`execute`]): lock the market, plan the command
//! under the lock (look up the instrument, the caller's account), run it under the caller's
//! `Idempotency-Key` tag (or find its logged outcome), and answer the outcome, or the
//! refusal as problem+json, stored so that a retry answers it again.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use exchange::durable::{CommandTag, MarketCommand};
use exchange::{BridgeError, CommandOutcome, DurableMarket};
use market::MarketError;
use serde::Serialize;

use crate::auth::Caller;
use crate::error::{ApiError, problem_response};
use crate::extract::IdempotencyKey;
use crate::idempotency::{self, StoredAnswer, replayed};
use crate::services::market::{internal, run_tagged};
use crate::state::AppState;

/// Whether a write may create the market: only listing an instrument does; every other write
/// needs an open market (404 before the first listing).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Open {
    Existing,
    OrCreate,
}

/// A command planned under the market lock, with what its answer needs from the planning.
pub(super) struct Planned<C> {
    /// The command, or the market's refusal to build it (answered and stored like any refusal).
    command: Result<MarketCommand, BridgeError>,
    context: C,
}

impl<C> Planned<C> {
    pub(super) fn new(command: MarketCommand, context: C) -> Planned<C> {
        Planned {
            command: Ok(command),
            context,
        }
    }

    /// A command whose building the market may refuse (price not on the tick, quantity not in
    /// lots, …).
    pub(super) fn checked(command: Result<MarketCommand, MarketError>, context: C) -> Planned<C> {
        Planned {
            command: command.map_err(BridgeError::Market),
            context,
        }
    }
}

/// Runs one market write for `caller`: under the market lock, `plan` builds the command
/// (resolving what it names first, such as the instrument and the caller's account, so a
/// request that names something unknown is refused before anything is kept); then a stored
/// answer to this key is answered again (`idempotency::replay`), or the command runs (or its
/// logged outcome is found) under the key's tag and `answer` turns the outcome into the 201
/// body; a market refusal is answered as problem+json and stored. `request` is what the key's
/// fingerprint is taken of.
pub(super) async fn execute<R, C, B>(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    request: &R,
    open: Open,
    plan: impl AsyncFnOnce(&mut DurableMarket) -> Result<Planned<C>, ApiError>,
    answer: impl FnOnce(&DurableMarket, CommandOutcome, C) -> Result<B, ApiError>,
) -> Result<Response, ApiError>
where
    R: Serialize,
    B: Serialize,
{
    let service = state.market();
    let mut guard = service.lock(open == Open::OrCreate).await?;
    let market = &mut *guard;
    // A new account is promised by the plan and mapped only with an accepted command (if
    // another server maps its id first, the answer is a 503 to retry, and the retry plans
    // again); a promise left by a request cancelled half-way is void.
    market.drop_new_ids();
    let answered = match plan(market).await {
        Ok(planned) => run(state, caller, key, request, market, planned, answer).await,
        Err(error) => Err(error),
    };
    market.drop_new_ids();
    answered
}

/// [`execute`] after planning: the idempotency replay, the run, the answer.
async fn run<R, C, B>(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    request: &R,
    market: &mut DurableMarket,
    Planned { command, context }: Planned<C>,
    answer: impl FnOnce(&DurableMarket, CommandOutcome, C) -> Result<B, ApiError>,
) -> Result<Response, ApiError>
where
    R: Serialize,
    B: Serialize,
{
    let principal = caller.0.key_id.as_str();
    let fingerprint = fingerprint(request);
    if let Some(replay) = idempotency::replay(state.db(), principal, &key, &fingerprint).await? {
        return Ok(replay);
    }
    let promised = market.promised_accounts();
    let tag = CommandTag {
        key: format!("{principal}:{}", key.key),
        fingerprint: fingerprint.clone(),
    };
    let (outcome, was_replayed) = match command {
        Ok(command) => run_tagged(market, command, tag).await?,
        Err(error) => (Err(error), false),
    };
    match outcome {
        Ok(outcome) => {
            let body = answer(market, outcome, context)?;
            let response = (StatusCode::CREATED, Json(body)).into_response();
            Ok(if was_replayed {
                replayed(response)
            } else {
                response
            })
        }
        Err(error) if error.is_answer() => {
            let problem = super::refusal::problem(&error, market, &promised);
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::CONFLICT);
            let stored = StoredAnswer {
                fingerprint,
                status: problem.status,
                body: serde_json::to_string(&problem).unwrap_or_default(),
            };
            idempotency::store(state.db(), principal, &key.key, &stored).await?;
            Ok(problem_response(status, &problem))
        }
        Err(error) => Err(internal(error)),
    }
}

/// The answer to an outcome of another kind than the command's (a bug, not a refusal).
pub(super) fn unexpected(outcome: CommandOutcome) -> ApiError {
    ApiError::Internal(format!("unexpected {outcome:?}"))
}

fn fingerprint(value: &impl Serialize) -> String {
    use sha2::Digest;
    let text = serde_json::to_string(value).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}
