//! Names ↔ ids under the market lock: a listed instrument and its spec, an auction, the
//! caller's market account, and what the caller may see.

use exchange::DurableMarket;
use ledger::Party;
use market::{AccountId, Auction, AuctionId, Book, InstrumentId, InstrumentSpec};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::keys::Role;
use crate::services::market::{account_of, instrument_of};

/// The market id and order book of a ledger instrument code listed for trading.
pub(super) fn book_of<'m>(
    market: &'m DurableMarket,
    code: &str,
) -> Result<(InstrumentId, &'m Book), ApiError> {
    let id = instrument_of(market, code)?;
    let book = market
        .market()
        .book(id)
        .map_err(|e| ApiError::NotFound(e.to_string()))?;
    Ok((id, book))
}

/// The market id and spec of a ledger instrument code listed for trading.
pub(super) fn listed(
    market: &DurableMarket,
    code: &str,
) -> Result<(InstrumentId, InstrumentSpec), ApiError> {
    let (id, book) = book_of(market, code)?;
    Ok((id, book.spec().clone()))
}

pub(super) fn code_of(market: &DurableMarket, id: InstrumentId) -> String {
    market
        .mapping()
        .and_then(|m| m.instrument_code(id).ok())
        .unwrap_or_default()
        .to_owned()
}

pub(super) fn auction_of(market: &DurableMarket, auction: u64) -> Result<&Auction, ApiError> {
    market
        .market()
        .auction(AuctionId(auction))
        .ok_or_else(|| ApiError::NotFound(format!("auction {auction}")))
}

/// The enterprise caller's market account (a new one is mapped with the command it is for,
/// and only if that command is accepted: see `DurableMarket::account_for`).
pub(super) fn own_account(
    caller: &Caller,
    market: &mut DurableMarket,
) -> Result<AccountId, ApiError> {
    let code = caller
        .enterprise()
        .ok_or_else(|| ApiError::forbidden("this needs an enterprise key"))?
        .to_owned();
    account_of(market, &code)
}

/// The enterprise caller's market account if it has one yet (reads map nothing).
pub(super) fn known_account(caller: &Caller, market: &DurableMarket) -> Option<AccountId> {
    let party = Party::Enterprise(caller.enterprise().unwrap_or_default().into());
    market.mapping().and_then(|m| m.account_of(&party))
}

/// Whose things the caller sees: its own account's (an enterprise), or all (the bureau).
pub(super) fn viewer(caller: &Caller, market: &DurableMarket) -> (Option<AccountId>, bool) {
    match caller.role() {
        Role::Bureau => (None, true),
        Role::Enterprise => (known_account(caller, market), false),
        Role::Economist => (None, false),
    }
}

/// The instrument terms an auction trades in (lot, tick).
pub(super) fn auction_spec(auction: &Auction) -> Result<InstrumentSpec, ApiError> {
    auction
        .config()
        .spec()
        .map_err(|e| ApiError::Internal(e.to_string()))
}
