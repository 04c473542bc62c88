//! The settlement bridge: runs the pure [`Market`] against the real [`ledger::Ledger`] and posts
//! every command's [`Settlement`] instructions, in order, before the next command.
//!
//! * [`LedgerMapping`]: market ids ↔ ledger codes, hold codes and idempotency keys; the pure
//!   translation of one instruction into one ledger request.
//! * [`LedgerBalances`]: the engine's [`market::Balances`] view, loaded from the ledger and kept
//!   current by the instructions the bridge posts.
//! * [`LedgerMarket`]: the driver. Each method runs one engine command and returns once its
//!   instructions are durable in the ledger; [`LedgerMarket::execute_batch`] runs many order
//!   commands and commits all their instructions with one `submit_many` (group commit).
//!
//! The engine has checked every amount against the same view, so a ledger refusal means the
//! engine and the ledger disagree (another writer moved funds underneath, a hold expired in the
//! ledger before the market released it, or a bug). The bridge then logs the error, returns
//! [`BridgeError::Settlement`] and refuses every later command ([`BridgeError::Poisoned`]): the
//! engine cannot undo a command, so carrying on would trade on a book the ledger does not back.

mod balances;
mod mapping;

pub use balances::LedgerBalances;
pub use mapping::{LedgerMapping, NAMESPACE_LEN_MAX, market_units, quantity};

use chrono::{DateTime, Duration, Utc};
use ledger::{Ledger, LedgerError, Receipt, Request};
use market::auction::{AuctionConfig, AuctionRecord};
use market::book::{DayClose, OrderAck, OrderRequest, RestingOrder};
use market::error::MarketError;
use market::ids::{AccountId, AuctionId, BidId, InstrumentId, OrderId, Timestamp, TransferId};
use market::instrument::InstrumentSpec;
use market::model::ContractViolation;
use market::rules::AccountRules;
use market::settlement::{HoldId, Settlement};
use market::transfer::TransferRequest;
use market::{DecimalOrder, FreezeReport, Market};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BridgeError {
    /// The engine refused the command: nothing was held or posted.
    #[error(transparent)]
    Market(#[from] MarketError),
    #[error("invalid mapping: {0}")]
    InvalidMapping(String),
    /// A mapping names an enterprise the register does not have (`by`: the market id mapped).
    #[error("invalid mapping: {}", not_a(by, code, "a registered enterprise"))]
    NotRegistered { by: Option<String>, code: String },
    /// The market instrument or the ledger code is mapped already, or the code is the cash.
    #[error(
        "invalid mapping: {instrument} or ledger instrument {code:?} is already mapped (or is the cash instrument)"
    )]
    InstrumentTaken {
        instrument: InstrumentId,
        code: String,
    },
    /// A mapping names a ledger instrument that is not a right or allowance.
    #[error(
        "invalid mapping: {}",
        not_a(by, code, "a right or allowance in the ledger")
    )]
    NotTradable { by: Option<String>, code: String },
    #[error("{0} is not mapped to a ledger party")]
    UnmappedAccount(AccountId),
    #[error("{0} is not mapped to a ledger instrument")]
    UnmappedInstrument(InstrumentId),
    #[error("{0} of {1} has no settlement deadline (open it through the bridge)")]
    NoHoldExpiry(HoldId, &'static str),
    #[error("amount {0} does not fit the ledger's 64-bit minor units")]
    AmountOutOfRange(u64),
    /// The engine emitted an instruction that breaks the settlement contract: a market bug.
    #[error("settlement contract broken (market bug): {0}")]
    Contract(#[from] ContractViolation),
    /// The ledger refused an instruction: engine and ledger have diverged.
    #[error("the ledger refused settlement {key}: {source}; the bridge refuses further commands")]
    Settlement {
        key: String,
        #[source]
        source: LedgerError,
    },
    /// Reading from the ledger (at start or on refresh) failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("the bridge stopped after an earlier settlement failure: {0}")]
    Poisoned(String),
    /// The market log in the journal cannot be replayed (durable market).
    #[error("market log corrupt: {0}")]
    Corrupt(String),
    /// The new account or instrument ids planned for a command were mapped differently by
    /// another writer meanwhile: nothing was logged; plan the command again.
    #[error("market id {0} was mapped by another writer meanwhile; plan again")]
    IdsTaken(String),
    /// Other writers kept winning the race for the next market entry.
    #[error("gave up after {attempts} attempts under contention from other writers")]
    Contention { attempts: usize },
}

/// `"X" is not …`, or `<id> maps to "X", which is not …`.
fn not_a(by: &Option<String>, code: &str, what: &str) -> String {
    match by {
        Some(id) => format!("{id} maps to {code:?}, which is not {what}"),
        None => format!("{code:?} is not {what}"),
    }
}

impl BridgeError {
    /// `code` is not a registered enterprise.
    pub fn not_registered(code: &str) -> BridgeError {
        BridgeError::NotRegistered {
            by: None,
            code: code.to_owned(),
        }
    }

    /// `code` is not a right or allowance in the ledger.
    pub fn not_tradable(code: &str) -> BridgeError {
        BridgeError::NotTradable {
            by: None,
            code: code.to_owned(),
        }
    }

    /// True when the command was refused by the market's rules and nothing changed anywhere.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            BridgeError::Market(_)
                | BridgeError::InvalidMapping(_)
                | BridgeError::NotRegistered { .. }
                | BridgeError::NotTradable { .. }
                | BridgeError::InstrumentTaken { .. }
                | BridgeError::UnmappedAccount(_)
                | BridgeError::UnmappedInstrument(_)
        )
    }

    /// True when the caller gets this as the command's answer: a refusal by the market's
    /// rules or by the ledger's (as opposed to a failure to reach or replay the log).
    pub fn is_answer(&self) -> bool {
        self.is_refusal() || matches!(self, BridgeError::Settlement { .. })
    }
}

/// What `Ledger::submit_many` answers.
type Answer = Result<Vec<Result<Receipt, LedgerError>>, LedgerError>;
/// A `submit_many` whose job is queued to the ledger's writer and whose answer is awaited later.
type InFlight<'a> = Pin<Box<dyn Future<Output = Answer> + 'a>>;

/// When ledger holds expire. The ledger returns an expired hold's remainder to its holder by
/// itself (`ExpireHolds`), so expiries are a safety net for a market that stopped; the market
/// must release (or post) every hold before its expiry, or the ledger refuses the late post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldHorizons {
    /// Order holds: the end of the current trading day (plus any grace the operator wants).
    /// [`LedgerMarket::end_day`] moves it to the next day's.
    pub trading_day_end: DateTime<Utc>,
    /// Transfer holds live until the proposal's `expires_at` plus this grace.
    pub transfer_grace: Duration,
}

/// An order-entry command for [`LedgerMarket::execute_batch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderCommand {
    Submit {
        instrument: InstrumentId,
        request: OrderRequest,
        now: Timestamp,
    },
    Cancel {
        instrument: InstrumentId,
        order: OrderId,
        owner: AccountId,
    },
}

/// What an [`OrderCommand`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderOutcome {
    Submitted(OrderAck),
    Cancelled(RestingOrder),
}

/// The market and the ledger behind one handle; see the module documentation.
pub struct LedgerMarket {
    market: Market,
    ledger: Ledger,
    mapping: LedgerMapping,
    balances: LedgerBalances,
    horizons: HoldHorizons,
    auction_deadlines: BTreeMap<AuctionId, DateTime<Utc>>,
    /// The last command's instructions (all of a batch's for `execute_batch`).
    out: Vec<Settlement>,
    requests_posted: u64,
    poisoned: Option<String>,
}

impl LedgerMarket {
    /// Checks the mapping against the ledger (every mapped instrument exists, the cash
    /// instrument is cash at scale ≥ 2, every mapped enterprise is registered) and loads the
    /// balances.
    pub async fn open(
        market: Market,
        ledger: Ledger,
        mapping: LedgerMapping,
        horizons: HoldHorizons,
    ) -> Result<Self, BridgeError> {
        let store = ledger.store();
        let instruments: BTreeMap<String, ledger::Instrument> = store
            .instruments()
            .await?
            .into_iter()
            .map(|i| (i.code.clone(), i))
            .collect();
        match instruments.get(mapping.cash_instrument()) {
            Some(cash) if cash.is_cash() && cash.scale >= 2 => {}
            _ => {
                return Err(BridgeError::InvalidMapping(format!(
                    "{:?} is not a cash instrument of scale at least 2 in the ledger",
                    mapping.cash_instrument()
                )));
            }
        }
        for (id, code) in mapping.instruments() {
            match instruments.get(code) {
                Some(instrument) if !instrument.is_cash() => {}
                _ => {
                    return Err(BridgeError::NotTradable {
                        by: Some(id.to_string()),
                        code: code.to_string(),
                    });
                }
            }
        }
        let registered: std::collections::BTreeSet<String> = store
            .enterprises()
            .await?
            .into_iter()
            .map(|e| e.credit_code.to_string())
            .collect();
        for (account, party) in mapping.accounts() {
            if let ledger::Party::Enterprise(code) = party
                && !registered.contains(code)
            {
                return Err(BridgeError::NotRegistered {
                    by: Some(account.to_string()),
                    code: code.clone(),
                });
            }
        }
        let balances = LedgerBalances::load(&ledger, &mapping).await?;
        Ok(LedgerMarket {
            market,
            ledger,
            mapping,
            balances,
            horizons,
            auction_deadlines: BTreeMap::new(),
            out: Vec::new(),
            requests_posted: 0,
            poisoned: None,
        })
    }

    pub fn market(&self) -> &Market {
        &self.market
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn mapping(&self) -> &LedgerMapping {
        &self.mapping
    }

    pub fn balances(&self) -> &LedgerBalances {
        &self.balances
    }

    pub fn horizons(&self) -> HoldHorizons {
        self.horizons
    }

    /// The instructions of the last command (of the whole batch after `execute_batch`), all
    /// posted.
    pub fn last_settlements(&self) -> &[Settlement] {
        &self.out
    }

    /// Ledger requests posted so far.
    pub fn requests_posted(&self) -> u64 {
        self.requests_posted
    }

    /// Reloads the balances from the ledger: after deposits, allocations or withdrawals by other
    /// writers. Holds placed through the bridge stay tracked.
    pub async fn refresh_balances(&mut self) -> Result<(), BridgeError> {
        self.check_live()?;
        let fresh = LedgerBalances::load(&self.ledger, &self.mapping).await?;
        self.balances.replace_amounts(fresh);
        Ok(())
    }

    pub fn list_instrument(
        &mut self,
        spec: InstrumentSpec,
        previous_close_ticks: u64,
    ) -> Result<(), BridgeError> {
        self.mapping.instrument_code(spec.id)?;
        Ok(self.market.list_instrument(spec, previous_close_ticks)?)
    }

    /// Limits and freezes in the market's rules (no settlement involved).
    pub fn rules_mut(&mut self) -> &mut AccountRules {
        self.market.rules_mut()
    }

    pub async fn submit_order(
        &mut self,
        instrument: InstrumentId,
        request: &OrderRequest,
        now: Timestamp,
    ) -> Result<OrderAck, BridgeError> {
        self.begin()?;
        self.mapping.instrument_code(instrument)?;
        self.mapping.party(request.owner)?;
        let ack =
            self.market
                .submit_order(instrument, request, &self.balances, now, &mut self.out)?;
        self.settle().await?;
        Ok(ack)
    }

    pub async fn submit_decimal_order(
        &mut self,
        instrument: InstrumentId,
        order: &DecimalOrder,
        now: Timestamp,
    ) -> Result<OrderAck, BridgeError> {
        self.begin()?;
        self.mapping.instrument_code(instrument)?;
        self.mapping.party(order.owner)?;
        let ack = self.market.submit_decimal_order(
            instrument,
            order,
            &self.balances,
            now,
            &mut self.out,
        )?;
        self.settle().await?;
        Ok(ack)
    }

    pub async fn cancel_order(
        &mut self,
        instrument: InstrumentId,
        order: OrderId,
        owner: AccountId,
    ) -> Result<RestingOrder, BridgeError> {
        self.begin()?;
        let cancelled = self
            .market
            .cancel_order(instrument, order, owner, &mut self.out)?;
        self.settle().await?;
        Ok(cancelled)
    }

    /// Group commit: runs every command through the engine in order (each sees the holds of the
    /// ones before, through the write-through balances), then posts all their instructions with
    /// one `submit_many`, so the ledger commits them in as few transactions as its writer takes.
    /// Returns once everything is durable; each command's own market outcome is in the list.
    pub async fn execute_batch(
        &mut self,
        commands: &[OrderCommand],
    ) -> Result<Vec<Result<OrderOutcome, BridgeError>>, BridgeError> {
        self.begin()?;
        let mut outcomes = Vec::with_capacity(commands.len());
        for command in commands {
            let outcome = self.run_order_command(command);
            if let Err(error) = outcome {
                if !error.is_refusal() {
                    return Err(self.poison(error));
                }
                outcomes.push(Err(error));
            } else {
                outcomes.push(outcome);
            }
        }
        self.post_all().await?;
        Ok(outcomes)
    }

    /// Group commit with pipelining: like [`LedgerMarket::execute_batch`] for each batch, but
    /// the engine runs batch k+1 while the ledger commits batch k, with up to `depth` batches
    /// in flight. Each batch's requests join the writer's FIFO queue before the next batch
    /// runs, so the ledger commits them in engine order. Returns once every batch is durable.
    /// `last_settlements` then holds the instructions of all batches.
    pub async fn execute_pipelined(
        &mut self,
        batches: &[Vec<OrderCommand>],
        depth: usize,
    ) -> Result<Vec<Vec<Result<OrderOutcome, BridgeError>>>, BridgeError> {
        self.begin()?;
        let ledger = self.ledger.clone();
        let mut in_flight: VecDeque<(Vec<String>, InFlight<'_>)> = VecDeque::new();
        let mut all = Vec::with_capacity(batches.len());
        for batch in batches {
            let start = self.out.len();
            let mut outcomes = Vec::with_capacity(batch.len());
            for command in batch {
                match self.run_order_command(command) {
                    Err(error) if !error.is_refusal() => return Err(self.poison(error)),
                    outcome => outcomes.push(outcome),
                }
            }
            all.push(outcomes);
            if self.out.len() == start {
                continue;
            }
            let requests = match self.requests(start) {
                Ok(requests) => requests,
                Err(error) => return Err(self.poison(error)),
            };
            let keys: Vec<String> = requests.iter().map(|r| r.idempotency_key.clone()).collect();
            let mut answer: InFlight<'_> = Box::pin(ledger.submit_many(requests));
            // Polled once here, the job is queued to the writer (or waits in the channel's
            // FIFO) before the next batch's, so the commit order is the engine's.
            let polled = std::future::poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx))).await;
            match polled {
                Poll::Ready(result) => self.receive(&keys, result)?,
                Poll::Pending => in_flight.push_back((keys, answer)),
            }
            while in_flight.len() >= depth.max(1) {
                if let Some((keys, answer)) = in_flight.pop_front() {
                    let result = answer.await;
                    self.receive(&keys, result)?;
                }
            }
        }
        while let Some((keys, answer)) = in_flight.pop_front() {
            let result = answer.await;
            self.receive(&keys, result)?;
        }
        Ok(all)
    }

    /// Checks one `submit_many` answer; any refusal poisons the bridge.
    fn receive(&mut self, keys: &[String], answer: Answer) -> Result<(), BridgeError> {
        let results = match answer {
            Ok(results) => results,
            Err(source) => {
                let error = BridgeError::Settlement {
                    key: keys.first().cloned().unwrap_or_default(),
                    source,
                };
                return Err(self.poison(error));
            }
        };
        self.requests_posted += keys.len() as u64;
        check_receipts(keys, results).map_err(|error| self.poison(error))
    }

    fn run_order_command(&mut self, command: &OrderCommand) -> Result<OrderOutcome, BridgeError> {
        let start = self.out.len();
        let outcome = match *command {
            OrderCommand::Submit {
                instrument,
                request,
                now,
            } => {
                self.mapping.instrument_code(instrument)?;
                self.mapping.party(request.owner)?;
                OrderOutcome::Submitted(self.market.submit_order(
                    instrument,
                    &request,
                    &self.balances,
                    now,
                    &mut self.out,
                )?)
            }
            OrderCommand::Cancel {
                instrument,
                order,
                owner,
            } => OrderOutcome::Cancelled(self.market.cancel_order(
                instrument,
                order,
                owner,
                &mut self.out,
            )?),
        };
        self.apply_since(start)?;
        Ok(outcome)
    }

    /// Ends the trading day in every book (resting orders expire, their holds are voided) and
    /// moves the order-hold horizon to `next_day_end`.
    pub async fn end_day(
        &mut self,
        next_day_end: DateTime<Utc>,
    ) -> Result<BTreeMap<InstrumentId, DayClose>, BridgeError> {
        self.begin()?;
        let closes = self.market.end_day(&mut self.out)?;
        self.settle().await?;
        self.horizons.trading_day_end = next_day_end;
        Ok(closes)
    }

    pub async fn freeze(
        &mut self,
        account: AccountId,
        now: Timestamp,
    ) -> Result<FreezeReport, BridgeError> {
        self.begin()?;
        let report = self.market.freeze(account, now, &mut self.out);
        self.settle().await?;
        Ok(report)
    }

    /// Opens an auction; its supply, containment reserve and bid guarantees are held in the
    /// ledger until `settle_by` (the auction's settlement deadline, after `closes_at`).
    pub async fn open_auction(
        &mut self,
        config: AuctionConfig,
        seed_commitment: [u8; 32],
        settle_by: DateTime<Utc>,
    ) -> Result<(), BridgeError> {
        self.begin()?;
        self.mapping.instrument_code(config.instrument)?;
        self.mapping.party(config.seller)?;
        self.mapping.party(config.proceeds_to)?;
        if let Some(c) = config.containment {
            self.mapping.party(c.account)?;
        }
        let id = config.id;
        self.market
            .open_auction(config, seed_commitment, &self.balances, &mut self.out)?;
        self.auction_deadlines.insert(id, settle_by);
        self.settle().await
    }

    pub async fn submit_bid(
        &mut self,
        auction: AuctionId,
        bidder: AccountId,
        price_ticks: u64,
        lots: u64,
        now: Timestamp,
    ) -> Result<BidId, BridgeError> {
        self.begin()?;
        self.mapping.party(bidder)?;
        let bid = self.market.submit_bid(
            auction,
            bidder,
            price_ticks,
            lots,
            &self.balances,
            now,
            &mut self.out,
        )?;
        self.settle().await?;
        Ok(bid)
    }

    pub async fn withdraw_bid(
        &mut self,
        auction: AuctionId,
        bidder: AccountId,
        bid: BidId,
        now: Timestamp,
    ) -> Result<(), BridgeError> {
        self.begin()?;
        self.market
            .withdraw_bid(auction, bidder, bid, now, &mut self.out)?;
        self.settle().await
    }

    /// Closes and clears an auction: awards settle delivery-versus-payment (proceeds to the
    /// configured `proceeds_to`, the bureau's reserve for primary auctions), the rest is voided.
    pub async fn close_auction(
        &mut self,
        auction: AuctionId,
        seed: [u8; 32],
        now: Timestamp,
    ) -> Result<AuctionRecord, BridgeError> {
        self.begin()?;
        let record = self
            .market
            .close_auction(auction, seed, now, &mut self.out)?
            .clone();
        self.settle().await?;
        Ok(record)
    }

    pub async fn propose_transfer(
        &mut self,
        request: TransferRequest,
        now: Timestamp,
    ) -> Result<TransferId, BridgeError> {
        self.begin()?;
        self.mapping.instrument_code(request.instrument)?;
        self.mapping.party(request.seller)?;
        self.mapping.party(request.buyer)?;
        let id = self
            .market
            .propose_transfer(request, &self.balances, now, &mut self.out)?;
        self.settle().await?;
        Ok(id)
    }

    pub async fn accept_transfer(
        &mut self,
        id: TransferId,
        buyer: AccountId,
        now: Timestamp,
    ) -> Result<(), BridgeError> {
        self.begin()?;
        self.market
            .accept_transfer(id, buyer, &self.balances, now, &mut self.out)?;
        self.settle().await
    }

    pub async fn reject_transfer(
        &mut self,
        id: TransferId,
        buyer: AccountId,
        now: Timestamp,
    ) -> Result<(), BridgeError> {
        self.begin()?;
        self.market.reject_transfer(id, buyer, now, &mut self.out)?;
        self.settle().await
    }

    pub async fn withdraw_transfer(
        &mut self,
        id: TransferId,
        seller: AccountId,
        now: Timestamp,
    ) -> Result<(), BridgeError> {
        self.begin()?;
        self.market
            .withdraw_transfer(id, seller, now, &mut self.out)?;
        self.settle().await
    }

    /// Bureau only (the caller checks the role).
    pub async fn veto_transfer(
        &mut self,
        id: TransferId,
        now: Timestamp,
    ) -> Result<(), BridgeError> {
        self.begin()?;
        self.market.veto_transfer(id, now, &mut self.out)?;
        self.settle().await
    }

    pub async fn expire_transfers(
        &mut self,
        now: Timestamp,
    ) -> Result<Vec<TransferId>, BridgeError> {
        self.begin()?;
        let expired = self.market.expire_transfers(now, &mut self.out);
        self.settle().await?;
        Ok(expired)
    }

    fn check_live(&self) -> Result<(), BridgeError> {
        match &self.poisoned {
            Some(why) => Err(BridgeError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    fn begin(&mut self) -> Result<(), BridgeError> {
        self.check_live()?;
        self.out.clear();
        Ok(())
    }

    /// Records a failure after the engine changed state: every later command is refused.
    fn poison(&mut self, error: BridgeError) -> BridgeError {
        let why = error.to_string();
        tracing::error!(target: "market::ledger_bridge", "market and ledger diverged: {why}");
        self.poisoned = Some(why);
        error
    }

    /// Applies the instructions from `start` on to the balances view (contract-checked).
    fn apply_since(&mut self, start: usize) -> Result<(), BridgeError> {
        for settlement in &self.out[start..] {
            self.balances.apply(settlement)?;
        }
        Ok(())
    }

    /// One command's instructions: check and apply to the view, then post and wait.
    async fn settle(&mut self) -> Result<(), BridgeError> {
        if let Err(error) = self.apply_since(0) {
            return Err(self.poison(error));
        }
        self.post_all().await
    }

    fn hold_expiry(&self, hold: HoldId) -> Result<DateTime<Utc>, BridgeError> {
        match hold {
            HoldId::Order { .. } => Ok(self.horizons.trading_day_end),
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
                Ok(expires + self.horizons.transfer_grace)
            }
        }
    }

    /// Posts `self.out` in order as one `submit_many`; any refusal poisons the bridge.
    async fn post_all(&mut self) -> Result<(), BridgeError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let requests = match self.requests(0) {
            Ok(requests) => requests,
            Err(error) => return Err(self.poison(error)),
        };
        let count = requests.len();
        let keys: Vec<String> = requests.iter().map(|r| r.idempotency_key.clone()).collect();
        let results = match self.ledger.submit_many(requests).await {
            Ok(results) => results,
            Err(source) => {
                let error = BridgeError::Settlement {
                    key: keys.first().cloned().unwrap_or_default(),
                    source,
                };
                return Err(self.poison(error));
            }
        };
        self.requests_posted += count as u64;
        check_receipts(&keys, results).map_err(|error| self.poison(error))
    }

    fn requests(&self, from: usize) -> Result<Vec<Request>, BridgeError> {
        self.out[from..]
            .iter()
            .map(|settlement| {
                let expires_at = match settlement {
                    Settlement::PlaceHold { hold, .. } => self.hold_expiry(*hold)?,
                    _ => DateTime::<Utc>::UNIX_EPOCH,
                };
                self.mapping.request(settlement, expires_at)
            })
            .collect()
    }
}

fn check_receipts(
    keys: &[String],
    results: Vec<Result<Receipt, LedgerError>>,
) -> Result<(), BridgeError> {
    if results.len() != keys.len() {
        return Err(BridgeError::Settlement {
            key: keys.first().cloned().unwrap_or_default(),
            source: LedgerError::Corrupt(format!(
                "{} answers for {} requests",
                results.len(),
                keys.len()
            )),
        });
    }
    for (key, result) in keys.iter().zip(results) {
        if let Err(source) = result {
            return Err(BridgeError::Settlement {
                key: key.clone(),
                source,
            });
        }
    }
    Ok(())
}
