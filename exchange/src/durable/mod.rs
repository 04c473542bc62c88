//! The durable market: the ledger journal is the market's command log.
//!
//! * Each durable step is **one ledger request** whose actions are all the settlements of the
//!   commands it carries (place hold, delivery-versus-payment, void) and whose memo records the
//!   commands themselves ([`LogRecord`]: JSON, with every timestamp and seed as an argument).
//!   Its idempotency key is `market/<n>`, `n` the sequence number of its first command. Many
//!   commands in one request is the group commit; a batch whose actions exceed the ledger's
//!   per-request limit is split into several requests, submitted one after the other.
//! * The market state of any process is a **deterministic projection**: every `market/` entry
//!   of the journal, in journal order, replayed through the engine. Other entries' postings
//!   (deposits, allocations, surrenders…) update the balances view ([`view::JournalView`]).
//!   Nothing else is read: instruments, enterprises and the id mapping come from the journal
//!   too (the mapping is logged as [`MarketCommand::MapAccount`] / `MapInstrument`).
//! * **Optimistic concurrency**: two processes at the same point both try `market/<n>`; the
//!   ledger refuses the second (same key, different request) or answers it with the first
//!   receipt (identical request, hence identical state). The loser rebuilds its projection
//!   from its checkpoint, catches up and retries its commands. A ledger refusal of a settlement
//!   (another writer moved funds underneath) does the same, then retries one command per
//!   request, so only the command the ledger refuses is refused.
//! * **Checkpoints**: after a catch-up (the projection is then exactly the replay of the
//!   journal through its cursor) the handle keeps a deep copy of the projection once the
//!   replay distance since the last copy is large enough to amortise it
//!   ([`DurableMarket::set_checkpoint_every`]); a rebuild restores the copy and replays only
//!   the entries after it. In memory only: opening a handle replays the whole journal.
//!   [`DurableMarket::verify_projection`] checks a projection against a full replay.
//! * An entry whose commands settle nothing carries one `annotate` action ([`CARRIER_NOTE`];
//!   the ledger refuses empty requests); older journals' `expire_holds` carriers still replay.
//! * During replay a logged command that the engine refuses, or whose settlements differ from
//!   the logged actions, is [`BridgeError::Corrupt`], never skipped.

pub mod command;
pub mod view;

pub use command::{
    CommandOutcome, CommandTag, KEY_PREFIX, LOG_VERSION, LogRecord, MarketCommand, RuleNote,
};
pub use view::{JournalView, Overlay, View};

use crate::ledger_bridge::{BridgeError, LedgerMapping};
use chrono::{DateTime, Duration, Utc};
use ledger::journal::{Entry, StoredEntry};
use ledger::{Action, Ledger, LedgerError, Party, Posting, Receipt, Request};
use market::Market;
use market::error::MarketError;
use market::ids::{AccountId, AuctionId, InstrumentId};
use market::rules::AccountRules;
use market::settlement::{Asset, HoldId, Settlement};
use std::collections::BTreeMap;
use std::time::Instant;

/// Journal entries read per page while catching up.
const PAGE: u32 = 2_000;
/// Attempts at a batch before giving up under contention.
const ATTEMPTS_MAX: usize = 64;
/// The actor recorded on market entries.
pub const ACTOR: &str = "market";

/// The parameters of a new market (ignored when the journal already has one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketInit {
    pub namespace: String,
    pub cash_instrument: String,
    pub self_trade: market::book::SelfTradePrevention,
    pub trading_day_end: DateTime<Utc>,
    pub transfer_grace: Duration,
}

/// The least replay distance (journal entries + market commands) between two checkpoints of
/// the projection by default: see [`DurableMarket::set_checkpoint_every`].
pub const CHECKPOINT_EVERY: u64 = 256;
/// The replay distance before a new checkpoint is also at least the market's open holds divided
/// by this (open holds track resting orders, bids and transfers: a proxy for the copy's cost),
/// so the copy is amortised over the commands replayed since, whatever the size of the books.
const CHECKPOINT_SIZE_DIVISOR: u64 = 4;

/// A non-market entry not yet folded into the balances view.
#[derive(Clone)]
struct Pending {
    seq: u64,
    actions: Vec<Action>,
    postings: Vec<Posting>,
}

/// The projection: engine, mapping, balances view and where in the journal it stands.
/// `Clone` is the checkpoint: a deep copy, taken only when the projection is exactly the replay
/// of the journal through `cursor` (after a catch-up, nothing pending, no uncommitted batch).
#[derive(Clone)]
struct State {
    market: Market,
    mapping: Option<LedgerMapping>,
    trading_day_end: DateTime<Utc>,
    transfer_grace: Duration,
    auction_deadlines: BTreeMap<AuctionId, DateTime<Utc>>,
    /// Sequence number of the next market command.
    next: u64,
    /// Last journal entry read.
    cursor: u64,
    view: JournalView,
    overlay: Overlay,
    pending: Vec<Pending>,
    out: Vec<Settlement>,
    /// Tagged commands: client key → (fingerprint, outcome).
    tagged: std::collections::HashMap<String, (String, CommandOutcome)>,
    /// Every rule command accepted, oldest first: the rules' history with who and why.
    rule_log: Vec<MarketCommand>,
}

impl Default for State {
    fn default() -> Self {
        State {
            market: Market::new(AccountRules::default(), Default::default()),
            mapping: None,
            trading_day_end: DateTime::<Utc>::UNIX_EPOCH,
            transfer_grace: Duration::zero(),
            auction_deadlines: BTreeMap::new(),
            next: 0,
            cursor: 0,
            view: JournalView::default(),
            overlay: Overlay::default(),
            pending: Vec::new(),
            out: Vec::new(),
            tagged: std::collections::HashMap::new(),
            rule_log: Vec::new(),
        }
    }
}

/// Applies a rule command to the engine (refusing an instrument that is not listed) and keeps
/// it in `log`, the rules' history.
fn set_rule(
    market: &mut Market,
    log: &mut Vec<MarketCommand>,
    command: &MarketCommand,
) -> Result<CommandOutcome, BridgeError> {
    match command {
        MarketCommand::SetHoldingLimit {
            instrument,
            account,
            limit_t,
            ..
        } => {
            market.book(*instrument)?;
            let table = &mut market.rules_mut().holding_limits;
            table.set(*instrument, *account, *limit_t);
        }
        MarketCommand::SetPurchaseLimit {
            instrument,
            account,
            limit_t,
            ..
        } => {
            market.book(*instrument)?;
            let table = &mut market.rules_mut().purchase_limits_per_day;
            table.set(*instrument, *account, *limit_t);
        }
        MarketCommand::SetBands {
            instrument,
            regular_band_bp,
            block_band_bp,
            ..
        } => market.set_bands(*instrument, *regular_band_bp, *block_band_bp)?,
        other => unreachable!("not a rule command: {other:?}"),
    }
    log.push(command.clone());
    Ok(CommandOutcome::RuleSet {
        rule: Box::new(command.clone()),
    })
}

fn millis(ms: i64) -> Result<DateTime<Utc>, BridgeError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| BridgeError::InvalidMapping(format!("{ms} ms is not a valid time")))
}

fn initialised(mapping: &Option<LedgerMapping>) -> Result<&LedgerMapping, BridgeError> {
    mapping
        .as_ref()
        .ok_or_else(|| BridgeError::InvalidMapping("the market is not initialised".into()))
}

/// Replays the journal entries after `state.cursor` (through `until` when given) into
/// `state`; returns how many were read.
async fn replay_journal(
    ledger: &Ledger,
    state: &mut State,
    until: Option<u64>,
) -> Result<u64, BridgeError> {
    let mut replayed = 0;
    'pages: loop {
        let page = ledger.store().journal(state.cursor, PAGE).await?;
        let full = page.len() == PAGE as usize;
        for stored in &page {
            if until.is_some_and(|until| stored.seq > until) {
                break 'pages;
            }
            DurableMarket::replay_entry(state, stored)?;
            state.cursor = stored.seq;
            replayed += 1;
        }
        if !full {
            break;
        }
    }
    let cursor = state.cursor;
    state.flush_pending(cursor);
    Ok(replayed)
}

impl State {
    fn mapping(&self) -> Result<&LedgerMapping, BridgeError> {
        initialised(&self.mapping)
    }

    fn fold(&mut self, actions: &[Action], postings: &[Posting]) {
        self.view.apply_entry(actions, postings);
        if actions
            .iter()
            .any(|a| matches!(a, Action::DefineInstrument { .. }))
            && let Some(mapping) = &self.mapping
        {
            self.view.resolve(mapping);
        }
    }

    /// Folds the pending non-market entries up to `through` (inclusive).
    fn flush_pending(&mut self, through: u64) {
        let keep = self.pending.partition_point(|p| p.seq <= through);
        let folded: Vec<Pending> = self.pending.drain(..keep).collect();
        for p in folded {
            self.fold(&p.actions, &p.postings);
        }
    }

    /// Runs one command through the engine and the overlay; returns its outcome and the ledger
    /// actions of its settlements. A refusal changes nothing.
    fn run(
        &mut self,
        command: &MarketCommand,
        tag: Option<&CommandTag>,
    ) -> Result<(CommandOutcome, Vec<Action>), BridgeError> {
        self.out.clear();
        let outcome = self.engine(command)?;
        if let Some(tag) = tag {
            self.tagged
                .insert(tag.key.clone(), (tag.fingerprint.clone(), outcome.clone()));
        }
        for settlement in &self.out {
            self.overlay.apply(&self.view, settlement)?;
        }
        let mut actions = Vec::new();
        if !self.out.is_empty() {
            let mapping = self.mapping()?;
            for settlement in &self.out {
                let expires_at = match settlement {
                    Settlement::PlaceHold { hold, .. } => self.hold_expiry(*hold)?,
                    _ => DateTime::<Utc>::UNIX_EPOCH,
                };
                actions.extend(mapping.request(settlement, expires_at)?.actions);
            }
        }
        self.next += 1;
        Ok((outcome, actions))
    }

    /// A stable text form of the whole market state (books, resting orders, tapes, day
    /// statistics, rules, auctions, transfers, open holds, next command number): two
    /// projections of the same log have the same digest.
    fn digest(&self) -> String {
        let market = &self.market;
        let mut text = format!(
            "next={} day_end={} mapping={:?} rules={:?}\n",
            self.next,
            self.trading_day_end,
            self.mapping,
            market.rules()
        );
        for (id, book) in market.books() {
            text += &format!(
                "book {id}: spec={:?} next_bands={:?} band={:?} close={} daily={:?} depth={:?}\n bids={:?}\n asks={:?}\n tape={:?}\n",
                book.spec(),
                book.bands_from_next_close(),
                book.band(),
                book.previous_close_ticks(),
                book.daily(),
                book.depth(usize::MAX),
                book.resting_orders(market::ids::Side::Buy),
                book.resting_orders(market::ids::Side::Sell),
                book.trades_after(0),
            );
        }
        for auction in market.auctions() {
            text += &format!(
                "auction {:?} {:?} commitment={} bids={} record={:?} deadline={:?}\n",
                auction.config(),
                auction.state(),
                auction.seed_commitment_hex(),
                auction.bid_count(),
                auction.record(),
                self.auction_deadlines.get(&auction.config().id),
            );
        }
        for transfer in market.transfers() {
            text += &format!("transfer {transfer:?}\n");
        }
        text += &format!("open holds {}\n", self.overlay.open_holds());
        text
    }

    fn hold_expiry(&self, hold: HoldId) -> Result<DateTime<Utc>, BridgeError> {
        match hold {
            HoldId::Order { .. } => Ok(self.trading_day_end),
            HoldId::AuctionSupply { auction }
            | HoldId::AuctionContainment { auction }
            | HoldId::AuctionBid { auction, .. } => self
                .auction_deadlines
                .get(&auction)
                .copied()
                .ok_or(BridgeError::NoHoldExpiry(hold, "auction")),
            HoldId::TransferRights { transfer } | HoldId::TransferCash { transfer } => {
                let transfer = self
                    .market
                    .transfer(transfer)
                    .ok_or(BridgeError::NoHoldExpiry(hold, "transfer"))?;
                let expires = DateTime::from_timestamp_millis(transfer.request.expires_at.0)
                    .ok_or(BridgeError::NoHoldExpiry(hold, "transfer"))?;
                Ok(expires + self.transfer_grace)
            }
        }
    }

    fn engine(&mut self, command: &MarketCommand) -> Result<CommandOutcome, BridgeError> {
        use MarketCommand as C;
        let balances = View {
            view: &self.view,
            overlay: &self.overlay,
        };
        let out = &mut self.out;
        let market = &mut self.market;
        let outcome = match command {
            C::Init {
                namespace,
                cash_instrument,
                self_trade,
                trading_day_end_ms,
                transfer_grace_ms,
            } => {
                if self.mapping.is_some() {
                    return Err(BridgeError::InvalidMapping(
                        "the market is already initialised".into(),
                    ));
                }
                match self.view.instrument(cash_instrument) {
                    Some((scale, true)) if scale >= 2 => {}
                    _ => {
                        return Err(BridgeError::InvalidMapping(format!(
                            "{cash_instrument:?} is not a cash instrument of scale at least 2 in the ledger"
                        )));
                    }
                }
                if *transfer_grace_ms < 0 {
                    return Err(BridgeError::InvalidMapping(
                        "transfer grace must not be negative".into(),
                    ));
                }
                let mapping = LedgerMapping::new(namespace, ACTOR, cash_instrument)?;
                self.trading_day_end = millis(*trading_day_end_ms)?;
                self.transfer_grace = Duration::milliseconds(*transfer_grace_ms);
                *market = Market::new(AccountRules::default(), *self_trade);
                self.view.resolve(&mapping);
                self.mapping = Some(mapping);
                CommandOutcome::Done
            }
            C::MapAccount { account, party } => {
                let mapping = self.mapping.as_mut().ok_or_else(|| {
                    BridgeError::InvalidMapping("the market is not initialised".into())
                })?;
                if let ledger::Party::Enterprise(code) = party
                    && !self.view.is_registered(code)
                {
                    return Err(BridgeError::not_registered(code));
                }
                mapping.map_account(*account, party.clone())?;
                self.view.resolve(mapping);
                CommandOutcome::Done
            }
            C::MapInstrument { instrument, code } => {
                let mapping = self.mapping.as_mut().ok_or_else(|| {
                    BridgeError::InvalidMapping("the market is not initialised".into())
                })?;
                match self.view.instrument(code) {
                    Some((_, false)) => {}
                    _ => {
                        return Err(BridgeError::not_tradable(code));
                    }
                }
                mapping.map_instrument(*instrument, code)?;
                self.view.resolve(mapping);
                CommandOutcome::Done
            }
            C::ListInstrument {
                spec,
                previous_close_ticks,
            } => {
                initialised(&self.mapping)?.instrument_code(spec.id)?;
                market.list_instrument(spec.clone(), *previous_close_ticks)?;
                CommandOutcome::Done
            }
            C::SetHoldingLimit { .. } | C::SetPurchaseLimit { .. } | C::SetBands { .. } => {
                set_rule(market, &mut self.rule_log, command)?
            }
            C::SubmitOrder {
                instrument,
                request,
                now,
            } => {
                let mapping = initialised(&self.mapping)?;
                mapping.instrument_code(*instrument)?;
                mapping.party(request.owner)?;
                CommandOutcome::Order {
                    ack: market.submit_order(*instrument, request, &balances, *now, out)?,
                }
            }
            C::CancelOrder {
                instrument,
                order,
                owner,
            } => CommandOutcome::Cancelled {
                order: market.cancel_order(*instrument, *order, *owner, out)?,
            },
            C::EndDay { next_day_end_ms } => {
                let next_end = millis(*next_day_end_ms)?;
                let closes = market.end_day(out)?;
                self.trading_day_end = next_end;
                CommandOutcome::DayEnded { closes }
            }
            C::Freeze { account, now } => {
                initialised(&self.mapping)?.party(*account)?;
                CommandOutcome::Frozen {
                    report: market.freeze(*account, *now, out),
                }
            }
            C::Unfreeze { account } => {
                if !market.rules().is_frozen(*account) {
                    return Err(MarketError::NotFrozen(*account).into());
                }
                market.unfreeze(*account);
                CommandOutcome::Done
            }
            C::ProposeTransfer { request, now } => {
                let mapping = initialised(&self.mapping)?;
                mapping.instrument_code(request.instrument)?;
                mapping.party(request.seller)?;
                mapping.party(request.buyer)?;
                CommandOutcome::TransferProposed {
                    transfer: market.propose_transfer(*request, &balances, *now, out)?,
                }
            }
            C::AcceptTransfer {
                transfer,
                buyer,
                now,
            } => {
                market.accept_transfer(*transfer, *buyer, &balances, *now, out)?;
                CommandOutcome::Done
            }
            C::RejectTransfer {
                transfer,
                buyer,
                now,
            } => {
                market.reject_transfer(*transfer, *buyer, *now, out)?;
                CommandOutcome::Done
            }
            C::WithdrawTransfer {
                transfer,
                seller,
                now,
            } => {
                market.withdraw_transfer(*transfer, *seller, *now, out)?;
                CommandOutcome::Done
            }
            C::VetoTransfer { transfer, now } => {
                market.veto_transfer(*transfer, *now, out)?;
                CommandOutcome::Done
            }
            C::ExpireTransfers { now } => CommandOutcome::TransfersExpired {
                transfers: market.expire_transfers(*now, out),
            },
            C::OpenAuction {
                config,
                seed_commitment,
                settle_by_ms,
            } => {
                let mapping = initialised(&self.mapping)?;
                mapping.instrument_code(config.instrument)?;
                mapping.party(config.seller)?;
                mapping.party(config.proceeds_to)?;
                if let Some(c) = config.containment {
                    mapping.party(c.account)?;
                }
                let settle_by = millis(*settle_by_ms)?;
                if *settle_by_ms <= config.closes_at.0 {
                    return Err(MarketError::InvalidConfig(
                        "the settlement deadline must be after the auction closes",
                    )
                    .into());
                }
                market.open_auction(config.clone(), *seed_commitment, &balances, out)?;
                self.auction_deadlines.insert(config.id, settle_by);
                CommandOutcome::Done
            }
            C::SubmitBid {
                auction,
                bidder,
                price_ticks,
                lots,
                now,
            } => {
                initialised(&self.mapping)?.party(*bidder)?;
                CommandOutcome::BidSubmitted {
                    bid: market.submit_bid(
                        *auction,
                        *bidder,
                        *price_ticks,
                        *lots,
                        &balances,
                        *now,
                        out,
                    )?,
                }
            }
            C::WithdrawBid {
                auction,
                bidder,
                bid,
                now,
            } => {
                market.withdraw_bid(*auction, *bidder, *bid, *now, out)?;
                CommandOutcome::Done
            }
            C::CloseAuction { auction, seed, now } => CommandOutcome::AuctionClosed {
                record: Box::new(market.close_auction(*auction, *seed, *now, out)?.clone()),
            },
        };
        Ok(outcome)
    }
}

/// The durable market handle of one process; see the module documentation.
pub struct DurableMarket {
    ledger: Ledger,
    state: State,
    /// The engine ran commands that are not (or not known to be) in the journal: rebuild
    /// from the journal before anything else.
    stale: bool,
    actions_max: usize,
    entries_written: u64,
    rebuilds: u64,
    /// The projection as of journal entry `checkpoint.cursor`: a lost race or a failed
    /// batch restores it and replays only the entries after it.
    checkpoint: Option<Box<State>>,
    /// Least replay distance between checkpoints (0: none; every rebuild replays the whole
    /// journal).
    checkpoint_every: u64,
    stats: ReplayStats,
    /// Account and instrument ids promised for the next command ([`DurableMarket::account_for`]).
    deferred: Vec<MarketCommand>,
}

/// What replaying the journal has cost this handle: for tests, benches and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Journal entries read and replayed (catch-ups and rebuilds; not the handle's own
    /// entries, which it folds from their receipts).
    pub entries_replayed: u64,
    /// Checkpoints of the projection taken.
    pub checkpoints_taken: u64,
    /// Rebuilds that started from a checkpoint instead of the journal's beginning.
    pub restored_from_checkpoint: u64,
    /// Wall-clock time spent reading and replaying the journal (catch-ups and rebuilds).
    pub replay_time: std::time::Duration,
    /// The last rebuild: the journal entry it started after (0: the beginning) and how many
    /// entries it replayed.
    pub last_rebuild: Option<RebuildStats>,
}

/// One rebuild of the projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RebuildStats {
    pub from_entry: u64,
    pub entries_replayed: u64,
}

/// Per-command answers of [`DurableMarket::execute`].
pub type Outcomes = Vec<Result<CommandOutcome, BridgeError>>;

impl DurableMarket {
    /// Replays the journal; when it holds no market yet, logs `init` as the market's first
    /// command. Another process may initialise first: then its parameters stand.
    pub async fn open(ledger: Ledger, init: MarketInit) -> Result<Self, BridgeError> {
        let mut me = DurableMarket {
            ledger,
            state: State::default(),
            stale: false,
            actions_max: ledger::request::ACTIONS_MAX,
            entries_written: 0,
            rebuilds: 0,
            checkpoint: None,
            checkpoint_every: CHECKPOINT_EVERY,
            stats: ReplayStats::default(),
            deferred: Vec::new(),
        };
        me.catch_up().await?;
        if me.state.mapping.is_none() {
            let command = MarketCommand::Init {
                namespace: init.namespace,
                cash_instrument: init.cash_instrument,
                self_trade: init.self_trade,
                trading_day_end_ms: init.trading_day_end.timestamp_millis(),
                transfer_grace_ms: init.transfer_grace.num_milliseconds(),
            };
            match me.execute(std::slice::from_ref(&command)).await?.pop() {
                Some(Ok(_)) => {}
                Some(Err(error)) if me.state.mapping.is_some() => {
                    tracing::debug!(target: "market::durable", "init lost to another process: {error}");
                }
                Some(Err(error)) => return Err(error),
                None => {}
            }
        }
        Ok(me)
    }

    /// Opens the market of a journal that already has one (no init).
    pub async fn open_existing(ledger: Ledger) -> Result<Self, BridgeError> {
        let mut me = DurableMarket {
            ledger,
            state: State::default(),
            stale: false,
            actions_max: ledger::request::ACTIONS_MAX,
            entries_written: 0,
            rebuilds: 0,
            checkpoint: None,
            checkpoint_every: CHECKPOINT_EVERY,
            stats: ReplayStats::default(),
            deferred: Vec::new(),
        };
        me.catch_up().await?;
        me.state.mapping()?;
        Ok(me)
    }

    /// Most ledger actions per market entry (the ledger's limit by default; lower it to test
    /// the split).
    pub fn set_actions_max(&mut self, actions_max: usize) {
        self.actions_max = actions_max.clamp(1, ledger::request::ACTIONS_MAX);
    }

    /// The checkpoint policy: after a catch-up, the projection is copied (a deep clone of the
    /// engine, balances view and holds; its cost grows with the books, see
    /// `benches/market/RESULTS.md`) once its replay distance from the last checkpoint (journal
    /// entries + market commands since) is at least `distance`, and at least a quarter of the
    /// market's open holds. A rebuild (after a lost race or a refused batch) restores the copy
    /// and replays only the entries after it. 0: no checkpoints, every rebuild replays the
    /// whole journal. Default [`CHECKPOINT_EVERY`].
    pub fn set_checkpoint_every(&mut self, distance: u64) {
        self.checkpoint_every = distance;
        if distance == 0 {
            self.checkpoint = None;
        }
    }

    /// Journal entry of the checkpoint a rebuild would start from (`None`: the beginning).
    pub fn checkpoint_cursor(&self) -> Option<u64> {
        self.checkpoint.as_ref().map(|c| c.cursor)
    }

    /// Checkpoints the projection now, whatever the policy (after catching up): for benches
    /// and tests.
    pub async fn checkpoint_now(&mut self) -> Result<(), BridgeError> {
        self.refresh().await?;
        self.take_checkpoint();
        Ok(())
    }

    fn take_checkpoint(&mut self) {
        self.checkpoint = Some(Box::new(self.state.clone()));
        self.stats.checkpoints_taken += 1;
    }

    /// After a catch-up: a new checkpoint once the projection is far enough past the last one.
    fn maybe_checkpoint(&mut self) {
        if self.checkpoint_every == 0 {
            return;
        }
        let (cursor, next) = self
            .checkpoint
            .as_ref()
            .map_or((0, 0), |c| (c.cursor, c.next));
        let distance =
            self.state.cursor.saturating_sub(cursor) + self.state.next.saturating_sub(next);
        let size = self.state.overlay.open_holds() as u64 / CHECKPOINT_SIZE_DIVISOR;
        if distance >= self.checkpoint_every.max(size) {
            self.take_checkpoint();
        }
    }

    pub fn replay_stats(&self) -> ReplayStats {
        self.stats
    }

    /// Catches up, then replays the whole journal into a fresh projection, ignoring the
    /// checkpoint, up to this handle's position, and checks that it equals this handle's
    /// projection (digest): the `verify` of the market. Returns the entries replayed; a
    /// difference is [`BridgeError::Corrupt`].
    pub async fn verify_projection(&mut self) -> Result<u64, BridgeError> {
        self.refresh().await?;
        let mut fresh = State::default();
        let replayed = replay_journal(&self.ledger, &mut fresh, Some(self.state.cursor)).await?;
        let (mine, full) = (self.state.digest(), fresh.digest());
        if mine != full {
            return Err(BridgeError::Corrupt(format!(
                "the projection at journal entry {} differs from a full replay of the journal",
                self.state.cursor
            )));
        }
        Ok(replayed)
    }

    /// Throws the projection and its checkpoint away and replays the whole journal.
    pub async fn rebuild_from_scratch(&mut self) -> Result<(), BridgeError> {
        self.checkpoint = None;
        self.stale = true;
        self.refresh().await
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The engine as of the last catch-up ([`DurableMarket::refresh`] first to see other
    /// processes' commands).
    pub fn market(&self) -> &Market {
        &self.state.market
    }

    pub fn mapping(&self) -> Option<&LedgerMapping> {
        self.state.mapping.as_ref()
    }

    /// Last journal entry read.
    pub fn cursor(&self) -> u64 {
        self.state.cursor
    }

    /// Market commands in the log so far (the next command's sequence number).
    pub fn commands_logged(&self) -> u64 {
        self.state.next
    }

    /// Market entries this handle wrote.
    pub fn entries_written(&self) -> u64 {
        self.entries_written
    }

    /// Times this handle rebuilt its projection from the journal (after conflicts).
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds
    }

    pub fn trading_day_end(&self) -> DateTime<Utc> {
        self.state.trading_day_end
    }

    /// Every rule command accepted (limits, bands), oldest first, each with its note.
    pub fn rule_log(&self) -> &[MarketCommand] {
        &self.state.rule_log
    }

    /// Settlement deadline of an auction's holds.
    pub fn auction_deadline(&self, auction: AuctionId) -> Option<DateTime<Utc>> {
        self.state.auction_deadlines.get(&auction).copied()
    }

    /// (balance net of holds, held) of a mapped account in market units, as the projection has
    /// it: the ledger's own numbers once caught up.
    pub fn balance(&self, account: AccountId, asset: Asset) -> (u64, u64) {
        let view = &self.state.view;
        (
            u64::try_from(view.balance(account, asset).max(0)).unwrap_or(0),
            u64::try_from(view.held(account, asset).max(0)).unwrap_or(0),
        )
    }

    /// Open holds of the market (placed and neither used up nor released).
    pub fn open_holds(&self) -> usize {
        self.state.overlay.open_holds()
    }

    /// Catches up with the journal (other processes' commands, deposits, allocations…).
    pub async fn refresh(&mut self) -> Result<(), BridgeError> {
        if self.stale {
            self.rebuild().await
        } else {
            self.catch_up().await.map(drop)
        }
    }

    /// Throws the projection away and replays the journal: from the checkpoint when there is
    /// one, from the beginning otherwise.
    async fn rebuild(&mut self) -> Result<(), BridgeError> {
        self.state = match &self.checkpoint {
            Some(checkpoint) => {
                self.stats.restored_from_checkpoint += 1;
                State::clone(checkpoint)
            }
            None => State::default(),
        };
        self.rebuilds += 1;
        self.stale = false;
        let from_entry = self.state.cursor;
        let entries_replayed = self.catch_up().await?;
        self.stats.last_rebuild = Some(RebuildStats {
            from_entry,
            entries_replayed,
        });
        Ok(())
    }

    /// Replays the entries after the cursor; returns how many. On an error the projection is
    /// stale.
    async fn catch_up(&mut self) -> Result<u64, BridgeError> {
        let started = Instant::now();
        let replayed = replay_journal(&self.ledger, &mut self.state, None).await;
        self.stats.replay_time += started.elapsed();
        match replayed {
            Ok(entries) => {
                self.stats.entries_replayed += entries;
                self.maybe_checkpoint();
                Ok(entries)
            }
            Err(error) => {
                self.stale = true;
                Err(error)
            }
        }
    }

    /// Replays one journal entry (does not move the cursor): a market entry through the
    /// engine, checked against its logged actions; any other entry is kept pending.
    fn replay_entry(state: &mut State, stored: &StoredEntry) -> Result<(), BridgeError> {
        let corrupt =
            |why: String| BridgeError::Corrupt(format!("journal entry {}: {why}", stored.seq));
        let entry: Entry = serde_json::from_str(&stored.body)
            .map_err(|e| corrupt(format!("unreadable body: {e}")))?;
        if !stored.idempotency_key.starts_with(KEY_PREFIX) {
            state.pending.push(Pending {
                seq: stored.seq,
                actions: entry.request.actions,
                postings: entry.postings,
            });
            return Ok(());
        }
        let memo = entry
            .request
            .memo
            .as_deref()
            .ok_or_else(|| corrupt("market entry without a memo".into()))?;
        let record: LogRecord =
            serde_json::from_str(memo).map_err(|e| corrupt(format!("unreadable memo: {e}")))?;
        if record.v != LOG_VERSION
            || stored.idempotency_key != format!("{KEY_PREFIX}{}", record.first)
        {
            return Err(corrupt(format!(
                "memo version {} / first {} does not match key {:?}",
                record.v, record.first, stored.idempotency_key
            )));
        }
        if record.first < state.next {
            // Written by this process and already in its engine: only the postings are new.
            state.flush_pending(stored.seq);
            state.fold(&[], &entry.postings);
            return Ok(());
        }
        if record.first > state.next {
            return Err(corrupt(format!(
                "commands {}.. follow command {} with a gap",
                record.first, state.next
            )));
        }
        // Run against the view the writer had: entries after `based_on` come after it.
        state.flush_pending(record.based_on);
        let mut actions = Vec::new();
        for (i, command) in record.commands.iter().enumerate() {
            let n = record.first + i as u64;
            let tag = record.tags.get(i).and_then(Option::as_ref);
            match state.run(command, tag) {
                Ok((_, more)) => actions.extend(more),
                Err(error) => {
                    return Err(corrupt(format!(
                        "logged command {n} is refused on replay: {error}"
                    )));
                }
            }
        }
        let matches = if actions.is_empty() {
            is_carrier(&entry.request.actions)
        } else {
            actions == entry.request.actions
        };
        if !matches {
            return Err(corrupt(
                "the replayed commands' settlements differ from the logged actions".into(),
            ));
        }
        state.overlay.clear_delta();
        state.fold(&[], &entry.postings);
        Ok(())
    }

    /// Runs one command durably: `Ok` once it is in the journal.
    pub async fn execute_one(
        &mut self,
        command: MarketCommand,
    ) -> Result<CommandOutcome, BridgeError> {
        self.execute(std::slice::from_ref(&command))
            .await?
            .pop()
            .unwrap_or_else(|| Err(BridgeError::Corrupt("no answer for the command".into())))
    }

    /// Group commit: catches up, runs every command through the engine (each sees the holds of
    /// the ones before), writes the accepted ones and their settlements as one market entry
    /// (more when the actions exceed the ledger's limit) and returns once they are durable.
    /// Conflicts with other writers are retried; each command's own answer is in the list
    /// (refusals change nothing). An `Err` means the ledger could not be reached or the log is
    /// corrupt: the projection is rebuilt on the next call.
    pub async fn execute(&mut self, commands: &[MarketCommand]) -> Result<Outcomes, BridgeError> {
        self.run_and_log(commands, &[], true, false).await
    }

    /// [`DurableMarket::execute`] with a client tag per command (`tags[i]` for
    /// `commands[i]`): a command whose tag is already in the log is not run again, its first
    /// outcome is answered (check [`DurableMarket::tagged`] first to tell a replay apart).
    pub async fn execute_tagged(
        &mut self,
        commands: &[MarketCommand],
        tags: &[Option<CommandTag>],
    ) -> Result<Outcomes, BridgeError> {
        self.run_and_log(commands, tags, true, false).await
    }

    /// The market account of `party`, or the id it will get: a new account is mapped by the
    /// next [`DurableMarket::execute_with_new_ids`], in the same entry as its command and only
    /// if that command is accepted, so a party's refused first command logs nothing.
    pub fn account_for(&mut self, party: &Party) -> Result<AccountId, BridgeError> {
        let mapping = self.state.mapping()?;
        if let Some(account) = mapping.account_of(party) {
            return Ok(account);
        }
        let mut next = mapping.accounts().map(|(a, _)| a.0 + 1).max().unwrap_or(1);
        for deferred in &self.deferred {
            if let MarketCommand::MapAccount { account, party: p } = deferred {
                if p == party {
                    return Ok(*account);
                }
                next = next.max(account.0 + 1);
            }
        }
        self.deferred.push(MarketCommand::MapAccount {
            account: AccountId(next),
            party: party.clone(),
        });
        Ok(AccountId(next))
    }

    /// The market id of ledger instrument `code`, or the id it will get, mapped like a new
    /// account ([`DurableMarket::account_for`]): with the next command, only if accepted.
    pub fn instrument_for(&mut self, code: &str) -> Result<InstrumentId, BridgeError> {
        let mapping = self.state.mapping()?;
        if let Some(instrument) = mapping.instrument_of(code) {
            return Ok(instrument);
        }
        let mut next = mapping
            .instruments()
            .map(|(i, _)| i.0 + 1)
            .max()
            .unwrap_or(1);
        for deferred in &self.deferred {
            if let MarketCommand::MapInstrument {
                instrument,
                code: c,
            } = deferred
            {
                if c == code {
                    return Ok(*instrument);
                }
                next = next.max(instrument.0 + 1);
            }
        }
        self.deferred.push(MarketCommand::MapInstrument {
            instrument: InstrumentId(next),
            code: code.to_owned(),
        });
        Ok(InstrumentId(next))
    }

    /// The accounts [`DurableMarket::account_for`] promised and the next command will map, so
    /// a refusal of that command can still name their parties.
    pub fn promised_accounts(&self) -> Vec<(AccountId, Party)> {
        self.deferred
            .iter()
            .filter_map(|command| match command {
                MarketCommand::MapAccount { account, party } => Some((*account, party.clone())),
                _ => None,
            })
            .collect()
    }

    /// Forgets the ids [`DurableMarket::account_for`] and [`DurableMarket::instrument_for`]
    /// promised (the command was not run).
    pub fn drop_new_ids(&mut self) {
        self.deferred.clear();
    }

    /// Runs `command` (tagged) after mapping the ids [`DurableMarket::account_for`] and
    /// [`DurableMarket::instrument_for`] promised, all or nothing: one entry with the mappings
    /// and the command, or, if any of them is refused, that refusal and nothing logged.
    pub async fn execute_with_new_ids(
        &mut self,
        command: MarketCommand,
        tag: Option<CommandTag>,
    ) -> Result<Result<CommandOutcome, BridgeError>, BridgeError> {
        let mut commands = std::mem::take(&mut self.deferred);
        let group = !commands.is_empty();
        let mut tags = vec![None; commands.len()];
        commands.push(command);
        tags.push(tag);
        let outcomes = if group {
            // All or nothing: the first refusal stops the group and nothing is logged.
            let outcomes = self.run_and_log(&commands, &tags, true, true).await?;
            if self.stale
                && let Err(error) = self.refresh().await
            {
                // The answer stands; the next call rebuilds.
                tracing::warn!(target: "market::durable", "refresh after a refused group: {error}");
            }
            outcomes
        } else {
            self.run_and_log(&commands, &tags, true, false).await?
        };
        // The group's refusal (a mapping's or the command's), else the command's answer.
        let mut outcomes = outcomes.into_iter();
        let own = outcomes.next_back();
        for outcome in outcomes {
            if let Err(error) = outcome
                && error.is_answer()
            {
                return Ok(Err(error));
            }
        }
        Ok(own.unwrap_or_else(|| Err(BridgeError::Corrupt("no answer for the command".into()))))
    }

    /// The fingerprint and first outcome of the command logged with client tag `key`.
    pub fn tagged(&self, key: &str) -> Option<&(String, CommandOutcome)> {
        self.state.tagged.get(key)
    }

    /// [`DurableMarket::execute`] without the first catch-up, as if another writer had raced
    /// in between the catch-up and the commit: for tests of the conflict paths.
    #[doc(hidden)]
    pub async fn execute_without_catching_up(
        &mut self,
        commands: &[MarketCommand],
    ) -> Result<Outcomes, BridgeError> {
        self.run_and_log(commands, &[], false, false).await
    }

    /// Before each attempt at a group, against the caught-up projection: if a tagged command
    /// of the group is already logged, the whole group was (all or nothing), so every answer
    /// comes from the log (`true`: done); a mapping already in place is dropped from `todo`;
    /// an id, party or code another writer mapped differently is [`BridgeError::IdsTaken`].
    fn settle_group(
        &self,
        commands: &[MarketCommand],
        tags: &[Option<CommandTag>],
        results: &mut [Option<Result<CommandOutcome, BridgeError>>],
        todo: &mut Vec<usize>,
    ) -> Result<bool, BridgeError> {
        let logged = |i: usize| {
            tags.get(i)
                .and_then(Option::as_ref)
                .and_then(|tag| self.state.tagged.get(&tag.key))
                .map(|(_, outcome)| outcome.clone())
        };
        if todo.iter().any(|&i| logged(i).is_some()) {
            for &i in todo.iter() {
                results[i] = Some(Ok(logged(i).unwrap_or(CommandOutcome::Done)));
            }
            todo.clear();
            return Ok(true);
        }
        let mapping = self.state.mapping()?;
        let mut taken = None;
        todo.retain(|&i| {
            // A promised mapping as the journal now has it: (already made as promised, its
            // id or name mapped otherwise, what it maps).
            let (in_place, elsewhere, what) = match &commands[i] {
                MarketCommand::MapAccount { account, party } => {
                    let by_name = mapping.account_of(party);
                    let by_id = mapping.party(*account).is_ok();
                    (
                        by_name == Some(*account),
                        by_name.is_some() || by_id,
                        format!("{account} for {party}"),
                    )
                }
                MarketCommand::MapInstrument { instrument, code } => {
                    let by_name = mapping.instrument_of(code);
                    let by_id = mapping.instrument_code(*instrument).is_ok();
                    (
                        by_name == Some(*instrument),
                        by_name.is_some() || by_id,
                        format!("{instrument} for {code}"),
                    )
                }
                _ => return true,
            };
            if in_place {
                results[i] = Some(Ok(CommandOutcome::Done));
            } else if elsewhere {
                taken = Some(what);
            }
            !in_place
        });
        match taken {
            Some(what) => Err(BridgeError::IdsTaken(what)),
            None => Ok(false),
        }
    }

    /// The engine and the log: runs the commands, logs the accepted ones, retries lost races.
    /// With `group`, all or nothing: a refusal stops the group, one entry or none.
    async fn run_and_log(
        &mut self,
        commands: &[MarketCommand],
        tags: &[Option<CommandTag>],
        mut catch_up: bool,
        group: bool,
    ) -> Result<Outcomes, BridgeError> {
        let mut results: Vec<Option<Result<CommandOutcome, BridgeError>>> =
            (0..commands.len()).map(|_| None).collect();
        let mut todo: Vec<usize> = (0..commands.len()).collect();
        let mut one_by_one = false;
        let mut attempts = 0;
        while !todo.is_empty() {
            attempts += 1;
            if attempts > ATTEMPTS_MAX {
                return Err(BridgeError::Contention { attempts });
            }
            if catch_up || self.stale {
                self.refresh().await?;
            }
            catch_up = true;
            if group && self.settle_group(commands, tags, &mut results, &mut todo)? {
                break;
            }
            let based_on = self.state.cursor;
            // Run the commands; group the accepted ones into entries.
            let mut chunks: Vec<Chunk> = Vec::new();
            for &i in &todo {
                let tag = tags.get(i).and_then(Option::as_ref);
                if let Some(tag) = tag
                    && let Some((_, outcome)) = self.state.tagged.get(&tag.key)
                {
                    results[i] = Some(Ok(outcome.clone()));
                    continue;
                }
                let first = self.state.next;
                match self.state.run(&commands[i], tag) {
                    Ok((outcome, actions)) => {
                        let fits = chunks.last().is_some_and(|c| {
                            group
                                || !one_by_one
                                    && c.actions.len() + actions.len() <= self.actions_max
                        });
                        if !fits {
                            chunks.push(Chunk {
                                first,
                                commands: Vec::new(),
                                actions: Vec::new(),
                            });
                        }
                        if let Some(chunk) = chunks.last_mut() {
                            chunk.commands.push((i, outcome));
                            chunk.actions.extend(actions);
                        }
                    }
                    Err(error) if error.is_refusal() => {
                        results[i] = Some(Err(error));
                        if group {
                            // The engine ran the group's earlier commands: forget them.
                            self.stale |= !chunks.is_empty();
                            chunks.clear();
                            break;
                        }
                    }
                    Err(error) => {
                        self.stale = true;
                        return Err(error);
                    }
                }
            }
            todo.clear();
            // Until every entry is committed the engine is ahead of the journal (also if this
            // future is dropped while it waits for the ledger).
            let ahead = !chunks.is_empty();
            self.stale |= ahead;
            // Submit the entries in order, stopping at the first that is not committed (a
            // later one would be logged on top of a state the journal does not have).
            let mut receipts: Vec<Receipt> = Vec::new();
            let mut failed: Option<(usize, LedgerError, String)> = None;
            for (k, chunk) in chunks.iter_mut().enumerate() {
                let request = chunk.request(based_on, commands, tags)?;
                let key = request.idempotency_key.clone();
                match self.ledger.submit(request).await {
                    Ok(receipt) => {
                        self.entries_written += u64::from(!receipt.replayed);
                        for (i, outcome) in chunk.commands.drain(..) {
                            results[i] = Some(Ok(outcome));
                        }
                        receipts.push(receipt);
                    }
                    Err(error) => {
                        failed = Some((k, error, key));
                        break;
                    }
                }
            }
            self.state.overlay.clear_delta();
            match failed {
                None => {
                    // All committed (a refused group's engine run stays stale).
                    if ahead {
                        self.stale = false;
                    }
                    self.fast_forward(&receipts);
                }
                Some((k, error, key)) => {
                    // The engine ran commands the journal does not have.
                    self.stale = true;
                    let retry: Vec<usize> = chunks[k..]
                        .iter()
                        .flat_map(|c| c.commands.iter().map(|(i, _)| *i))
                        .collect();
                    match error {
                        LedgerError::IdempotencyConflict { .. } => {
                            tracing::debug!(target: "market::durable", "lost {key} to another writer; retrying");
                        }
                        error if !error.is_refusal() => {
                            return Err(BridgeError::Ledger(error));
                        }
                        source if one_by_one && (group || retry.len() == 1) => {
                            // Refused alone, against a fresh view: this command is refused.
                            results[retry[0]] = Some(Err(BridgeError::Settlement { key, source }));
                            todo = Vec::new();
                            continue;
                        }
                        source => {
                            tracing::warn!(target: "market::durable", "ledger refused {key}: {source}; retrying one by one");
                            one_by_one = true;
                        }
                    }
                    todo = retry;
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(BridgeError::Corrupt("command not run".into()))))
            .collect())
    }

    /// After a commit: when this handle's entries directly follow its cursor, fold their
    /// postings now instead of reading them back.
    fn fast_forward(&mut self, receipts: &[Receipt]) {
        let first = self.state.cursor + 1;
        for (expected, receipt) in (first..).zip(receipts) {
            if receipt.replayed || receipt.seq != expected {
                return;
            }
        }
        for receipt in receipts {
            self.state.fold(&[], &receipt.postings);
            self.state.cursor = receipt.seq;
        }
    }

    /// A stable text form of the whole market state (books, resting orders, tapes, day
    /// statistics, rules, auctions, transfers, open holds, next command number): two
    /// projections of the same log have the same digest.
    pub fn digest(&self) -> String {
        self.state.digest()
    }
}

/// The note of [`carrier`].
pub const CARRIER_NOTE: &str = "market commands with no settlement";

/// The actions of an entry whose commands settle nothing (a mapping, a listing, a killed
/// fill-or-kill…): the ledger refuses an empty request, so it carries one `annotate`, which
/// changes nothing.
fn carrier() -> Vec<Action> {
    vec![Action::Annotate {
        note: CARRIER_NOTE.into(),
    }]
}

/// Whether `logged` are the actions of an entry that settles nothing: today's [`carrier`], or
/// the `expire_holds` that entries written before the ledger had `annotate` carry (that one may
/// have returned expired holds; its postings are folded like any other entry's).
fn is_carrier(logged: &[Action]) -> bool {
    logged == carrier().as_slice() || matches!(logged, [Action::ExpireHolds {}])
}

/// Accepted commands that go into one market entry.
struct Chunk {
    first: u64,
    /// (index in the caller's list, outcome)
    commands: Vec<(usize, CommandOutcome)>,
    actions: Vec<Action>,
}

impl Chunk {
    fn request(
        &self,
        based_on: u64,
        all: &[MarketCommand],
        tags: &[Option<CommandTag>],
    ) -> Result<Request, BridgeError> {
        let tags: Vec<Option<CommandTag>> = self
            .commands
            .iter()
            .map(|(i, _)| tags.get(*i).cloned().flatten())
            .collect();
        let record = LogRecord {
            v: LOG_VERSION,
            first: self.first,
            based_on,
            commands: self.commands.iter().map(|(i, _)| all[*i].clone()).collect(),
            tags: if tags.iter().any(Option::is_some) {
                tags
            } else {
                Vec::new()
            },
        };
        let memo = serde_json::to_string(&record)
            .map_err(|e| BridgeError::Corrupt(format!("memo does not serialize: {e}")))?;
        let actions = if self.actions.is_empty() {
            carrier()
        } else {
            self.actions.clone()
        };
        Ok(Request {
            idempotency_key: format!("{KEY_PREFIX}{}", self.first),
            actor: ACTOR.into(),
            memo: Some(memo),
            actions,
        })
    }
}
