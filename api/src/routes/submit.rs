//! The one path every ledger write takes: check the caller may ask for each action, replay a
//! stored refusal for a retried key, submit, and answer with the receipt or the problem.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ledger::{Action, LedgerError, Party, Purpose, Request};

use crate::auth::Caller;
use crate::error::{ApiError, problem_response};
use crate::extract::IdempotencyKey;
use crate::idempotency::{self, StoredAnswer, replayed};
use crate::keys::Role;
use crate::state::AppState;

/// Whether field names in problems should point into an `actions` list (the generic batch) or at
/// the body of a single-action endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Batch,
    Single,
}

pub async fn submit(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    memo: Option<String>,
    actions: Vec<Action>,
    shape: Shape,
) -> Result<Response, ApiError> {
    authorize(caller, &actions, shape)?;
    let principal = caller.0.key_id.as_str();
    let request = Request {
        // Scoped by key id: two callers choosing the same key never see each other's answers.
        idempotency_key: format!("{principal}:{}", key.key),
        actor: caller.actor(),
        memo,
        actions,
    };
    if let Err(error) = check_caller_request(&request) {
        let error = ApiError::Ledger(error);
        return Ok(problem_response(
            error.status(),
            &shaped_problem(&error, shape),
        ));
    }
    let fingerprint = hex::encode(ledger::journal::fingerprint(&request));
    if let Some(replay) = idempotency::replay(state.db(), principal, &key, &fingerprint).await? {
        return Ok(replay);
    }
    match state.ledger().submit(request).await {
        Ok(receipt) => {
            let replay = receipt.replayed;
            state.metrics().ledger_submit(replay);
            let body = crate::convert::receipt_body(state, receipt).await?;
            let response = (StatusCode::CREATED, axum::Json(body)).into_response();
            Ok(if replay { replayed(response) } else { response })
        }
        Err(error) if error.is_refusal() => {
            let keep = !matches!(error.root(), LedgerError::IdempotencyConflict { .. });
            let error = ApiError::Ledger(error);
            let status = error.status();
            let problem = shaped_problem(&error, shape);
            if keep {
                let answer = StoredAnswer {
                    fingerprint,
                    status: status.as_u16(),
                    body: serde_json::to_string(&problem).unwrap_or_default(),
                };
                idempotency::store(state.db(), principal, &key.key, &answer).await?;
            }
            Ok(problem_response(status, &problem))
        }
        Err(error) => Err(error.into()),
    }
}

/// What the ledger accepts from components but not from an outside caller: a long memo, and a
/// hold in a namespace a component owns (the market's `mkt.` holds: a caller who took the next
/// code would block every later order). The bureau's way out of a stuck code,
/// `release_hold_code`, names a reserved code by design.
fn check_caller_request(request: &Request) -> Result<(), LedgerError> {
    ledger::check_caller_text(request)?;
    for (index, action) in request.actions.iter().enumerate() {
        if matches!(action, Action::ReleaseHoldCode { .. }) {
            continue;
        }
        if let Some(hold) = ledger::namespace::hold_of(action) {
            ledger::check_hold_code(hold, None).map_err(|source| LedgerError::Action {
                index,
                action: action.name(),
                source: Box::new(source),
            })?;
        }
    }
    Ok(())
}

/// The problem for `error`, its field named as a single-action endpoint's body has it.
fn shaped_problem(error: &ApiError, shape: Shape) -> crate::error::Problem {
    let mut problem = error.problem();
    if shape == Shape::Single {
        problem.field = problem.field.map(|field| single_field(&field));
    }
    problem
}

/// `actions[0].amount` → `amount`: a single-action endpoint's body has no `actions` list.
fn single_field(field: &str) -> String {
    match field.strip_prefix("actions[0]") {
        Some(rest) => rest.strip_prefix('.').unwrap_or("body").to_owned(),
        None => field.to_owned(),
    }
}

/// The access matrix for writes: the bureau may ask for anything; an enterprise may move units
/// out of its own accounts only (a plain transfer, a surrender); an economist writes nothing.
/// Everything else is bureau-only: `annotate` (a note in the journal is the bureau's record) and
/// holds (an enterprise's units are held by the flow that needs them: its order, bid or
/// bilateral transfer, through the market's endpoints; a hold of its own making could only be
/// posted or voided by the bureau, so it serves no flow and could only squat on a code).
fn authorize(caller: &Caller, actions: &[Action], shape: Shape) -> Result<(), ApiError> {
    match caller.role() {
        Role::Bureau => Ok(()),
        Role::Economist => Err(ApiError::forbidden(
            "an economist key is read-only: it cannot submit ledger requests",
        )),
        Role::Enterprise => {
            let own = caller.enterprise().unwrap_or_default();
            for (index, action) in actions.iter().enumerate() {
                let at = match shape {
                    Shape::Batch => format!("actions[{index}] ({})", action.name()),
                    Shape::Single => action.name().to_owned(),
                };
                let mine = |party: &Party| matches!(party, Party::Enterprise(code) if code == own);
                let allowed = match action {
                    Action::Transfer { from, purpose, .. } => {
                        if *purpose != Purpose::Transfer {
                            return Err(ApiError::forbidden(format!(
                                "{at}: an enterprise key makes plain transfers only; trades, auctions and allocations are settled by the bureau"
                            )));
                        }
                        mine(from)
                    }
                    Action::Surrender { enterprise, .. } => enterprise == own,
                    _ => {
                        return Err(ApiError::forbidden(format!(
                            "{at}: only a bureau key may ask for this; an enterprise key may transfer and surrender from its own accounts (holds are placed by the market for orders, bids and bilateral transfers)"
                        )));
                    }
                };
                if !allowed {
                    return Err(ApiError::forbidden(format!(
                        "{at}: this key acts for enterprise {own} and may move units out of its own accounts only"
                    )));
                }
            }
            Ok(())
        }
    }
}
