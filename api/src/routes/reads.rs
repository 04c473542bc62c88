//! Holdings and the register: balances (each enterprise its own), instruments (everyone), and
//! anonymised aggregates (the bureau and economists).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use ledger::AccountKind;
use rust_decimal::Decimal;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::keys::Role;
use crate::model::{
    AccountBody, AccountsBody, AccountsQuery, AggregateBody, AggregatesBody, InstrumentsBody,
};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_accounts))
        .routes(routes!(get_instruments))
        .routes(routes!(get_aggregates))
}

/// Balances of one owner's accounts (bureau: any owner, or all without `owner`; enterprise: its
/// own only).
#[utoipa::path(
    get, path = "/v1/accounts", tag = "reads",
    params(AccountsQuery),
    responses(
        (status = 200, body = AccountsBody),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_accounts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AccountsQuery>,
) -> Result<Json<AccountsBody>, ApiError> {
    let owner = match (caller.role(), query.owner) {
        (Role::Enterprise, None) => caller.enterprise().map(str::to_owned),
        (_, owner) => owner,
    };
    match &owner {
        Some(owner) => caller.require_owner(owner, "reading balances")?,
        None => caller.require(&[Role::Bureau], "reading every account's balance")?,
    }
    let balances = state.ledger().store().balances(owner.as_deref()).await?;
    let accounts = balances
        .into_iter()
        .map(|b| AccountBody {
            account: b.account,
            owner: b.owner,
            kind: b.kind.as_str().to_owned(),
            instrument: b.instrument,
            balance: b.balance.to_string(),
            frozen: b.frozen,
        })
        .collect();
    Ok(Json(AccountsBody { accounts }))
}

/// Every instrument the register defines.
#[utoipa::path(
    get, path = "/v1/instruments", tag = "reads",
    responses(
        (status = 200, body = InstrumentsBody),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_instruments(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<InstrumentsBody>, ApiError> {
    let instruments = state.ledger().store().instruments().await?;
    Ok(Json(InstrumentsBody {
        instruments: instruments
            .into_iter()
            .map(crate::convert::instrument_body)
            .collect(),
    }))
}

/// Totals per instrument with no holder named (bureau, economist).
#[utoipa::path(
    get, path = "/v1/aggregates", tag = "reads",
    responses(
        (status = 200, body = AggregatesBody),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_aggregates(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AggregatesBody>, ApiError> {
    caller.require(
        &[Role::Bureau, Role::Economist],
        "reading market aggregates",
    )?;
    let store = state.ledger().store();
    let (head_seq, _) = store.head().await?;
    #[derive(Default)]
    struct Totals {
        issued: Decimal,
        held: Decimal,
        holders: u64,
        reserve: Decimal,
        escrow: Decimal,
        surrendered: Decimal,
        cancelled: Decimal,
    }
    let mut by_instrument: BTreeMap<String, Totals> = BTreeMap::new();
    for balance in store.balances(None).await? {
        let totals = by_instrument.entry(balance.instrument).or_default();
        match balance.kind {
            AccountKind::Holding => {
                totals.held += balance.balance;
                if balance.balance > Decimal::ZERO {
                    totals.holders += 1;
                }
            }
            AccountKind::Issuance | AccountKind::SettlementBank => totals.issued -= balance.balance,
            AccountKind::Reserve => totals.reserve += balance.balance,
            AccountKind::Escrow => totals.escrow += balance.balance,
            AccountKind::Surrender => totals.surrendered += balance.balance,
            AccountKind::Cancellation => totals.cancelled += balance.balance,
        }
    }
    let instruments = by_instrument
        .into_iter()
        .map(|(instrument, t)| AggregateBody {
            instrument,
            issued: t.issued.to_string(),
            held_by_enterprises: t.held.to_string(),
            holders: t.holders,
            reserve: t.reserve.to_string(),
            escrow: t.escrow.to_string(),
            surrendered: t.surrendered.to_string(),
            cancelled: t.cancelled.to_string(),
        })
        .collect();
    Ok(Json(AggregatesBody {
        head_seq,
        instruments,
    }))
}
