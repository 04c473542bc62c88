//! Settlement instructions: the only way the market says what must happen to holdings.
//!
//! The market never changes a balance itself. Every command that succeeds appends instructions
//! to a caller-supplied `Vec<Settlement>`; the ledger integrator posts them, in order, as
//! double-entry transfers with holds (two-phase / pending transfers):
//!
//! * [`Settlement::PlaceHold`]: reserve `amount` of `asset` in `holder`'s account under `hold`.
//!   The engine has already checked, through [`Balances`], that the amount is available.
//! * [`Settlement::DeliveryVersusPayment`]: in **one atomic ledger batch**, post `quantity_t`
//!   from `rights_hold` to `buyer` and `cash_fen` from `cash_hold` to `cash_to`.
//! * [`Settlement::ReleaseHold`]: void the rest of `hold`; `amount` is exactly what is left.
//!
//! A hold may be posted from several times (an order filled in several trades). It is closed
//! either when posts use it up exactly, or by exactly one `ReleaseHold` of the remainder; the
//! engine never emits a zero-amount release and never posts more than was held.

use crate::error::MarketError;
use crate::ids::{AccountId, AuctionId, BidId, InstrumentId, OrderId, TransferId};
use serde::{Deserialize, Serialize};

/// What a balance is counted in: whole tonnes of one instrument, or cash in fen (0.01 CNY).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Asset {
    /// Rights or allowances of one instrument, in tonnes.
    Rights(InstrumentId),
    /// Settlement cash in fen.
    CashFen,
}

impl std::fmt::Display for Asset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Asset::Rights(instrument) => write!(f, "t of {instrument}"),
            Asset::CashFen => f.write_str("fen of cash"),
        }
    }
}

/// The name of a hold, unique for the life of the market so the integrator can map it to its
/// own pending-transfer id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HoldId {
    /// Backs an order: the seller's rights or the buyer's cash at its limit (or band) price.
    Order {
        instrument: InstrumentId,
        order: OrderId,
    },
    /// The volume an auction offers, held in the seller's (bureau's or enterprise's) account.
    AuctionSupply { auction: AuctionId },
    /// The cost-containment reserve an auction may release at its trigger price.
    AuctionContainment { auction: AuctionId },
    /// A bid guarantee: the bidder's cash for one bid at its full price.
    AuctionBid { auction: AuctionId, bid: BidId },
    /// The seller's rights under a bilateral transfer proposal.
    TransferRights { transfer: TransferId },
    /// The buyer's cash, held when the buyer accepts a bilateral transfer.
    TransferCash { transfer: TransferId },
}

/// A stable text form for the ledger's hold ids, e.g. `mkt/order/1/4294967301` or
/// `mkt/auction-bid/7/12`: unique for the life of the market, never reused.
impl std::fmt::Display for HoldId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldId::Order { instrument, order } => {
                write!(f, "mkt/order/{}/{}", instrument.0, order.0)
            }
            HoldId::AuctionSupply { auction } => write!(f, "mkt/auction-supply/{}", auction.0),
            HoldId::AuctionContainment { auction } => {
                write!(f, "mkt/auction-containment/{}", auction.0)
            }
            HoldId::AuctionBid { auction, bid } => {
                write!(f, "mkt/auction-bid/{}/{}", auction.0, bid.0)
            }
            HoldId::TransferRights { transfer } => write!(f, "mkt/transfer-rights/{}", transfer.0),
            HoldId::TransferCash { transfer } => write!(f, "mkt/transfer-cash/{}", transfer.0),
        }
    }
}

/// A stable text form usable as (part of) the ledger batch's idempotency key.
impl std::fmt::Display for SettlementRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettlementRef::Trade { instrument, seq } => {
                write!(f, "mkt/trade/{}/{}", instrument.0, seq)
            }
            SettlementRef::AuctionAward {
                auction,
                bid,
                containment,
            } => {
                let part = if *containment { "/containment" } else { "" };
                write!(f, "mkt/award/{}/{}{part}", auction.0, bid.0)
            }
            SettlementRef::Transfer { transfer } => write!(f, "mkt/transfer/{}", transfer.0),
        }
    }
}

/// What a delivery-versus-payment settles, for the ledger's audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SettlementRef {
    /// A continuous-trading trade, by its sequence number in its instrument's tape.
    Trade { instrument: InstrumentId, seq: u64 },
    /// An award of an auction or one-way bidding session. An award that draws on both the base
    /// supply and the containment reserve settles as two deliveries, told apart by `containment`.
    AuctionAward {
        auction: AuctionId,
        bid: BidId,
        containment: bool,
    },
    /// An accepted bilateral transfer or block trade.
    Transfer { transfer: TransferId },
}

/// One instruction for the ledger. See the module documentation for the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Settlement {
    PlaceHold {
        hold: HoldId,
        holder: AccountId,
        asset: Asset,
        amount: u64,
    },
    DeliveryVersusPayment {
        reference: SettlementRef,
        instrument: InstrumentId,
        seller: AccountId,
        buyer: AccountId,
        quantity_t: u64,
        rights_hold: HoldId,
        cash_fen: u64,
        cash_hold: HoldId,
        cash_to: AccountId,
    },
    ReleaseHold {
        hold: HoldId,
        holder: AccountId,
        asset: Asset,
        amount: u64,
    },
}

/// The engine's read-only view of the ledger, asked before anything is held.
///
/// It must reflect every settlement instruction emitted so far (holds included), which is
/// automatic when the integrator posts each command's instructions before the next command.
pub trait Balances {
    /// What `holder` can still commit: posted balance minus open holds.
    fn available(&self, holder: AccountId, asset: Asset) -> u64;
    /// Everything `holder` owns of `instrument`, held or not: the base of holding limits.
    fn position_t(&self, holder: AccountId, instrument: InstrumentId) -> u64;
    /// Whether the ledger has frozen `holder`'s account in `asset`: nothing may be committed
    /// from it, and the refusal says frozen rather than short.
    fn is_frozen(&self, _holder: AccountId, _asset: Asset) -> bool {
        false
    }
}

/// A ledger view with unlimited balances and empty positions: for benchmarks and for callers
/// that check funds elsewhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unlimited;

impl Balances for Unlimited {
    fn available(&self, _holder: AccountId, _asset: Asset) -> u64 {
        u64::MAX
    }

    fn position_t(&self, _holder: AccountId, _instrument: InstrumentId) -> u64 {
        0
    }
}

/// Refuses to hold from a frozen account, or more than `holder` has available.
pub(crate) fn check_available(
    balances: &impl Balances,
    holder: AccountId,
    asset: Asset,
    needed: u64,
) -> Result<(), MarketError> {
    if balances.is_frozen(holder, asset) {
        return Err(MarketError::AccountFrozen(holder));
    }
    let available = balances.available(holder, asset);
    if available < needed {
        return Err(MarketError::InsufficientBalance {
            holder,
            asset,
            needed,
            available,
        });
    }
    Ok(())
}
