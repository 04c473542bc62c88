//! Bilateral transfers: the seller (an enterprise) proposes, the buyer accepts or rejects, the
//! seller may withdraw, the bureau vetoes; at or above the block size a transfer is a block
//! trade (±30% band).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use exchange::durable::MarketCommand;
use exchange::{CommandOutcome, DurableMarket};
use market::{Timestamp, TransferId, TransferRequest};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::command::{Open, Planned, execute, unexpected};
use super::lookup::{code_of, listed, own_account, viewer};
use super::units::{now, price, time_of, tonnes};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, IdempotencyKey};
use crate::keys::Role;
use crate::services::market::{account_of, party_name};
use crate::state::AppState;

/// A bilateral transfer proposal by the seller (enterprise).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferProposalBody {
    pub instrument: String,
    /// The buyer's credit code.
    pub buyer: String,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub price: Decimal,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferView {
    pub transfer: u64,
    pub instrument: String,
    pub seller: String,
    pub buyer: String,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub quantity: Decimal,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String)]
    pub price: Decimal,
    pub is_block: bool,
    /// `proposed`, `settled`, `rejected`, `withdrawn`, `vetoed` or `expired`.
    pub state: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

fn transfer_view(market: &DurableMarket, t: &market::Transfer) -> TransferView {
    let spec = market
        .market()
        .book(t.request.instrument)
        .ok()
        .map(|b| b.spec().clone());
    let (quantity, price_cny) = match &spec {
        Some(spec) => (
            tonnes(spec, t.request.lots),
            price(spec, t.request.price_ticks),
        ),
        None => (Decimal::ZERO, Decimal::ZERO),
    };
    TransferView {
        transfer: t.id.0,
        instrument: code_of(market, t.request.instrument),
        seller: party_name(market, t.request.seller),
        buyer: party_name(market, t.request.buyer),
        quantity,
        price: price_cny,
        is_block: t.is_block,
        state: format!("{:?}", t.state).to_lowercase(),
        expires_at: time_of(t.request.expires_at),
    }
}

/// Propose a bilateral transfer to a buyer (the seller, an enterprise): the rights are held.
/// At or above the block size it is a block trade (±30% band).
#[utoipa::path(
    post, path = "/v1/market/transfers", tag = "market", operation_id = "post_market_transfer",
    request_body = TransferProposalBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = TransferView),
        (status = "4XX", description = "Refused; nothing was held", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn post_transfer(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<TransferProposalBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Enterprise], "proposing a transfer")?;
    execute(
        &state,
        &caller,
        key,
        &body,
        Open::Existing,
        async |market| {
            let (id, spec) = listed(market, &body.instrument)?;
            let seller = own_account(&caller, market)?;
            let buyer = account_of(market, &body.buyer)?;
            let command = (|| {
                Ok(MarketCommand::ProposeTransfer {
                    request: TransferRequest {
                        instrument: id,
                        seller,
                        buyer,
                        lots: spec.quantity_lots(body.quantity)?,
                        price_ticks: spec.price_ticks(body.price)?,
                        expires_at: Timestamp(body.expires_at.timestamp_millis()),
                    },
                    now: now(&state),
                })
            })();
            Ok(Planned::checked(command, ()))
        },
        |market, outcome, ()| match outcome {
            CommandOutcome::TransferProposed { transfer } => {
                view_after(market, transfer, "proposed")
            }
            other => Err(unexpected(other)),
        },
    )
    .await
}

/// The view of a transfer right after a command on it (`done`: what the command did).
fn view_after(
    market: &DurableMarket,
    transfer: TransferId,
    done: &str,
) -> Result<TransferView, ApiError> {
    market
        .market()
        .transfer(transfer)
        .map(|t| transfer_view(market, t))
        .ok_or_else(|| ApiError::Internal(format!("{done} but not found")))
}

/// Transfers: those an enterprise is party to, or all (bureau).
#[utoipa::path(
    get, path = "/v1/market/transfers", tag = "market",
    responses(
        (status = 200, body = Vec<TransferView>),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn get_transfers(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TransferView>>, ApiError> {
    caller.require(&[Role::Bureau, Role::Enterprise], "reading transfers")?;
    let service = state.market();
    let guard = service.lock(false).await?;
    let market = &*guard;
    let (me, bureau) = viewer(&caller, market);
    Ok(Json(
        market
            .market()
            .transfers()
            .filter(|t| bureau || Some(t.request.seller) == me || Some(t.request.buyer) == me)
            .map(|t| transfer_view(market, t))
            .collect(),
    ))
}

/// Decide a transfer: the buyer `accept`s or `reject`s, the seller `withdraw`s, the bureau
/// `veto`es.
#[utoipa::path(
    post, path = "/v1/market/transfers/{transfer}/{decision}", tag = "market",
    params(
        ("transfer" = u64, Path, description = "Transfer id"),
        ("decision" = String, Path, description = "accept, reject, withdraw or veto"),
        ("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry"),
    ),
    responses(
        (status = 201, body = TransferView),
        (status = "4XX", description = "Refused; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn post_transfer_decision(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiPath((transfer, decision)): ApiPath<(u64, String)>,
) -> Result<Response, ApiError> {
    let id = TransferId(transfer);
    execute(
        &state,
        &caller,
        key,
        &(transfer, &decision),
        Open::Existing,
        async |market| {
            let t = now(&state);
            let command = match decision.as_str() {
                "veto" => {
                    caller.require(&[Role::Bureau], "vetoing a transfer")?;
                    MarketCommand::VetoTransfer {
                        transfer: id,
                        now: t,
                    }
                }
                "accept" | "reject" | "withdraw" => {
                    caller.require(&[Role::Enterprise], "deciding a transfer")?;
                    let me = own_account(&caller, market)?;
                    match decision.as_str() {
                        "accept" => MarketCommand::AcceptTransfer {
                            transfer: id,
                            buyer: me,
                            now: t,
                        },
                        "reject" => MarketCommand::RejectTransfer {
                            transfer: id,
                            buyer: me,
                            now: t,
                        },
                        _ => MarketCommand::WithdrawTransfer {
                            transfer: id,
                            seller: me,
                            now: t,
                        },
                    }
                }
                other => {
                    return Err(ApiError::param(
                        crate::error::Location::Path,
                        "decision",
                        format!("{other:?} is not accept, reject, withdraw or veto"),
                    ));
                }
            };
            Ok(Planned::new(command, ()))
        },
        |market, _, ()| view_after(market, id, "decided"),
    )
    .await
}
