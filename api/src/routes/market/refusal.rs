//! A market refusal as the API answers it: status, code and field ([`refusal`]), and a detail
//! in the caller's words ([`detail`]): credit codes, instrument codes and the order numbers the
//! API hands out, never the engine's internal account, instrument or order ids.

use axum::http::StatusCode;
use exchange::{BridgeError, DurableMarket};
use market::{AccountId, Asset, InstrumentId, MarketError, OrderId};

use ledger::Party;

use crate::error::{Location, Problem};

/// The problem+json body of a market refusal.
/// `promised`: accounts the refused command would have mapped ([`DurableMarket::promised_accounts`]).
pub(super) fn problem(
    error: &BridgeError,
    market: &DurableMarket,
    promised: &[(AccountId, Party)],
) -> Problem {
    let (status, code, field) = refusal(error);
    Problem {
        kind: format!("/problems/{}", code.replace('_', "-")),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail(error, market, promised),
        code: code.to_owned(),
        location: field.map(|_| Location::Body),
        field: field.map(|name| format!("/{name}")),
        errors: Vec::new(),
    }
}

/// Status, code and field of a market refusal.
fn refusal(error: &BridgeError) -> (StatusCode, &'static str, Option<&'static str>) {
    use MarketError as M;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let conflict = StatusCode::CONFLICT;
    match error {
        BridgeError::Market(e) => match e {
            M::UnknownInstrument(_) => (
                StatusCode::NOT_FOUND,
                "unknown_instrument",
                Some("instrument"),
            ),
            M::UnknownOrder(_) => (StatusCode::NOT_FOUND, "unknown_order", Some("order")),
            M::UnknownAuction(_) => (StatusCode::NOT_FOUND, "unknown_auction", Some("auction")),
            M::UnknownTransfer(_) => (StatusCode::NOT_FOUND, "unknown_transfer", Some("transfer")),
            M::UnknownBid { .. } => (StatusCode::NOT_FOUND, "unknown_bid", Some("bid")),
            M::NotMultipleOfTick { .. } | M::TooManyDecimalPlaces { .. } => {
                (unprocessable, "not_multiple_of_tick", Some("price"))
            }
            M::NotMultipleOfLot { .. } | M::ZeroQuantity => {
                (unprocessable, "not_multiple_of_lot", Some("quantity"))
            }
            M::OutOfRange(_) | M::Overflow => (unprocessable, "out_of_range", None),
            M::OutsideBand { .. } => (unprocessable, "outside_band", Some("price")),
            M::BlockSizeInBook { .. } | M::BelowBlockSize { .. } | M::OrderTooLarge { .. } => {
                (unprocessable, "invalid_size", Some("quantity"))
            }
            M::BelowReservePrice { .. } => (unprocessable, "below_reserve_price", Some("price")),
            M::InvalidConfig(_) | M::SameAccount => (unprocessable, "invalid_field", None),
            M::SeedMismatch(_) => (unprocessable, "seed_mismatch", Some("seed")),
            M::InsufficientBalance { .. } => (conflict, "insufficient_balance", None),
            M::AccountFrozen(_) => (conflict, "account_frozen", None),
            M::HoldingLimitExceeded { .. } | M::PurchaseLimitExceeded { .. } => {
                (conflict, "limit_exceeded", Some("quantity"))
            }
            M::BiddingClosed { .. } | M::AuctionNotOpen(_) => (conflict, "bidding_closed", None),
            M::BiddingStillOpen { .. } => (conflict, "bidding_still_open", None),
            M::NotOrderOwner { .. } | M::NotCounterparty { .. } | M::SellerCannotBid(_) => {
                (StatusCode::FORBIDDEN, "forbidden", None)
            }
            M::DuplicateInstrument(_) | M::DuplicateAuction(_) => {
                (conflict, "already_exists", None)
            }
            M::TooManyBids { .. }
            | M::TransferExpired { .. }
            | M::TransferNotPending(..)
            | M::ResultMismatch(..)
            | M::NotFrozen(..)
            | M::BookFull { .. } => (conflict, "market_refused", None),
        },
        BridgeError::NotRegistered { .. } => (StatusCode::NOT_FOUND, "unknown_enterprise", None),
        BridgeError::NotTradable { .. } | BridgeError::InstrumentTaken { .. } => {
            (unprocessable, "invalid_field", Some("instrument"))
        }
        BridgeError::UnmappedAccount(_) | BridgeError::UnmappedInstrument(_) => {
            (StatusCode::NOT_FOUND, "not_found", None)
        }
        BridgeError::Settlement { .. } => (conflict, "settlement_refused", None),
        BridgeError::InvalidMapping(_)
        | BridgeError::NoHoldExpiry(..)
        | BridgeError::AmountOutOfRange(_)
        | BridgeError::Contract(_)
        | BridgeError::Ledger(_)
        | BridgeError::Poisoned(_)
        | BridgeError::Corrupt(_)
        | BridgeError::IdsTaken(_)
        | BridgeError::Contention { .. } => (unprocessable, "invalid_field", None),
    }
}

/// The refusal in public names. Variants that carry no internal id read as the engine writes
/// them (auction and transfer numbers are the caller's own).
pub(super) fn detail(
    error: &BridgeError,
    market: &DurableMarket,
    promised: &[(AccountId, Party)],
) -> String {
    use MarketError as M;
    let party = |account: &AccountId| match promised.iter().find(|(a, _)| a == account) {
        Some((_, party)) => party.to_string(),
        None => crate::services::market::party_name(market, *account),
    };
    let code = |instrument: &InstrumentId| instrument_code(market, *instrument);
    let order = |order: &OrderId| format!("order {}", order.0);
    let amount = |asset: &Asset, units: u64| match asset {
        Asset::Rights(instrument) => format!("{units} t of {}", code(instrument)),
        Asset::CashFen => format!(
            "{} CNY",
            rust_decimal::Decimal::from_i128_with_scale(i128::from(units), 2)
        ),
    };
    let BridgeError::Market(error) = error else {
        return match error {
            BridgeError::UnmappedAccount(_) => "no such account in the market".to_owned(),
            BridgeError::UnmappedInstrument(_) => "no such instrument in the market".to_owned(),
            other => other.to_string(),
        };
    };
    match error {
        M::UnknownInstrument(i) => format!("{} is not listed", code(i)),
        M::DuplicateInstrument(i) => format!("{} is already listed", code(i)),
        M::NotFrozen(a) => format!("{} is not frozen", party(a)),
        M::AccountFrozen(a) => format!("{} is frozen", party(a)),
        M::BookFull {
            instrument,
            orders_max,
        } => format!(
            "the book of {} is full ({orders_max} live orders)",
            code(instrument)
        ),
        M::InsufficientBalance {
            holder,
            asset: what,
            needed,
            available,
        } => format!(
            "{} has {} available, {} needed",
            party(holder),
            amount(what, *available),
            amount(what, *needed)
        ),
        M::HoldingLimitExceeded {
            holder,
            instrument,
            would_hold_t,
            limit_t,
        } => format!(
            "{} would hold {would_hold_t} t of {}, above its limit {limit_t} t",
            party(holder),
            code(instrument)
        ),
        M::PurchaseLimitExceeded {
            holder,
            instrument,
            would_buy_t,
            limit_t,
        } => format!(
            "{} would buy {would_buy_t} t of {} today, above its limit {limit_t} t",
            party(holder),
            code(instrument)
        ),
        M::UnknownOrder(o) => format!("unknown {}", order(o)),
        M::NotOrderOwner { order: o, account } => {
            format!("{} does not belong to {}", order(o), party(account))
        }
        M::NotCounterparty { transfer, account } => {
            format!("{} is not the counterparty of {transfer}", party(account))
        }
        other => other.to_string(),
    }
}

/// The ledger code of a market instrument (or `an unlisted instrument`).
fn instrument_code(market: &DurableMarket, instrument: InstrumentId) -> String {
    market
        .mapping()
        .and_then(|m| m.instrument_code(instrument).ok())
        .map_or_else(|| "an unlisted instrument".to_owned(), str::to_owned)
}
