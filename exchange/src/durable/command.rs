//! The market's command log: what a market journal entry's memo records, and what each command
//! answered.

use market::FreezeReport;
use market::auction::{AuctionConfig, AuctionRecord};
use market::book::{DayClose, OrderAck, OrderRequest, RestingOrder, SelfTradePrevention};
use market::ids::{AccountId, AuctionId, BidId, InstrumentId, OrderId, Timestamp, TransferId};
use market::instrument::InstrumentSpec;
use market::transfer::TransferRequest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Idempotency keys of market entries: `market/<n>`, `n` the sequence number of the entry's
/// first command.
pub const KEY_PREFIX: &str = "market/";

/// Version of the memo format. New commands and optional fields are added within a version
/// (old entries still read); every process on one database must run the same release, since
/// an older one cannot read a command it does not know (it reports the entry as unreadable).
pub const LOG_VERSION: u32 = 1;

/// One market command as logged. Every argument the engine needs is here, including the
/// caller's clock (`now`) and the auction seeds: replaying the log through the engine gives the
/// same state in any process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MarketCommand {
    /// The market's first command: fixes the hold-code namespace, the cash instrument, the
    /// self-trade policy, the first trading day's end and the grace of transfer holds.
    Init {
        namespace: String,
        cash_instrument: String,
        self_trade: SelfTradePrevention,
        /// Milliseconds since the epoch (UTC): when the first day's order holds expire.
        trading_day_end_ms: i64,
        transfer_grace_ms: i64,
    },
    /// Maps a market account to a ledger party (`reserve` or a registered credit code).
    MapAccount {
        account: AccountId,
        party: ledger::Party,
    },
    /// Maps a market instrument to a ledger right or allowance.
    MapInstrument {
        instrument: InstrumentId,
        code: String,
    },
    ListInstrument {
        spec: InstrumentSpec,
        previous_close_ticks: u64,
    },
    /// Sets or lifts a holding limit (most an account may hold, counting open purchases).
    SetHoldingLimit {
        instrument: InstrumentId,
        /// `None`: the default for every account.
        account: Option<AccountId>,
        /// `None` lifts the limit.
        limit_t: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<RuleNote>,
    },
    /// Sets or lifts a daily purchase limit.
    SetPurchaseLimit {
        instrument: InstrumentId,
        account: Option<AccountId>,
        limit_t: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<RuleNote>,
    },
    /// Sets an instrument's price bands (basis points of the previous close), from the next
    /// day's close.
    SetBands {
        instrument: InstrumentId,
        regular_band_bp: u64,
        block_band_bp: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<RuleNote>,
    },
    SubmitOrder {
        instrument: InstrumentId,
        request: OrderRequest,
        now: Timestamp,
    },
    CancelOrder {
        instrument: InstrumentId,
        order: OrderId,
        owner: AccountId,
    },
    /// Ends the trading day in every book; order holds of the next day expire at
    /// `next_day_end_ms`.
    EndDay {
        next_day_end_ms: i64,
    },
    Freeze {
        account: AccountId,
        now: Timestamp,
    },
    Unfreeze {
        account: AccountId,
    },
    ProposeTransfer {
        request: TransferRequest,
        now: Timestamp,
    },
    AcceptTransfer {
        transfer: TransferId,
        buyer: AccountId,
        now: Timestamp,
    },
    RejectTransfer {
        transfer: TransferId,
        buyer: AccountId,
        now: Timestamp,
    },
    WithdrawTransfer {
        transfer: TransferId,
        seller: AccountId,
        now: Timestamp,
    },
    VetoTransfer {
        transfer: TransferId,
        now: Timestamp,
    },
    ExpireTransfers {
        now: Timestamp,
    },
    /// Opens an auction; its holds expire at `settle_by_ms` (after `closes_at`).
    OpenAuction {
        config: AuctionConfig,
        #[serde(with = "hex_32")]
        seed_commitment: [u8; 32],
        settle_by_ms: i64,
    },
    SubmitBid {
        auction: AuctionId,
        bidder: AccountId,
        price_ticks: u64,
        lots: u64,
        now: Timestamp,
    },
    WithdrawBid {
        auction: AuctionId,
        bidder: AccountId,
        bid: BidId,
        now: Timestamp,
    },
    CloseAuction {
        auction: AuctionId,
        #[serde(with = "hex_32")]
        seed: [u8; 32],
        now: Timestamp,
    },
}

/// Who set a market rule, when and why: logged with the rule, and listed with it afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleNote {
    pub by: String,
    pub reason: String,
    pub at: Timestamp,
}

/// What an accepted command answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CommandOutcome {
    Done,
    /// A rule command accepted: the command as logged, note and all (a retry answers it).
    RuleSet {
        rule: Box<MarketCommand>,
    },
    Order {
        ack: OrderAck,
    },
    Cancelled {
        order: RestingOrder,
    },
    DayEnded {
        closes: BTreeMap<InstrumentId, DayClose>,
    },
    Frozen {
        report: FreezeReport,
    },
    TransferProposed {
        transfer: TransferId,
    },
    TransfersExpired {
        transfers: Vec<TransferId>,
    },
    BidSubmitted {
        bid: BidId,
    },
    AuctionClosed {
        record: Box<AuctionRecord>,
    },
}

/// The memo of a market journal entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRecord {
    pub v: u32,
    /// Sequence number of the first command (also in the idempotency key).
    pub first: u64,
    /// The journal entry the writer's balances view was at when it ran the commands: a replay
    /// runs them against the view as of that entry, whatever other writers committed between.
    pub based_on: u64,
    pub commands: Vec<MarketCommand>,
    /// Client idempotency tags, one per command (absent when no command has one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Option<CommandTag>>,
}

/// A client's idempotency key for a command (scoped by the caller, e.g. `key-id:client-key`)
/// and a fingerprint of what the client asked: a retry with the same key finds the command's
/// first outcome in the projection, in any process, instead of running it twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandTag {
    pub key: String,
    pub fingerprint: String,
}

mod hex_32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes of hex"))
    }
}
