//! One continuous-trading order book per instrument: limit and market orders, price-time
//! priority, cancel, IOC and FOK, self-trade prevention, price bands, day close at the VWAP.
//!
//! The book is single-threaded and pure: commands come in with the caller's clock, settlement
//! instructions go out into the caller's `Vec<Settlement>`. Every order is backed when it is
//! accepted (a `PlaceHold` of the seller's rights, or of the buyer's cash at its limit price), so
//! every trade settles from holds and can never fail in the ledger.

mod arena;
mod ladder;
pub mod market_data;

use crate::error::MarketError;
use crate::fx::FxHashMap;
use crate::ids::{AccountId, OrderId, Side, Timestamp};
use crate::instrument::{BAND_TICKS_MAX, Band, InstrumentSpec};
use crate::rules::AccountRules;
use crate::settlement::{Asset, Balances, HoldId, Settlement, SettlementRef};
use arena::{Arena, NIL};
use ladder::Ladder;
pub use market_data::{DailyStats, Depth, DepthLevel, Trade};
use serde::{Deserialize, Serialize};

/// The price instruction of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderPrice {
    /// Trade at this price or better; must lie in the regular band.
    Limit { price_ticks: u64 },
    /// Trade at any price in the band, immediately; the remainder is cancelled. A market buy is
    /// backed by cash at the band's upper bound.
    Market,
}

/// How long the unfilled part of an order lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeInForce {
    /// Rests in the book until filled, cancelled or the end of the trading day.
    Day,
    /// Fills what it can now; the rest is cancelled.
    ImmediateOrCancel,
    /// Fills completely now or not at all (nothing is held when it is killed).
    FillOrKill,
}

/// What happens when an incoming order would trade with a resting order of the same account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelfTradePrevention {
    /// Cancel the resting order and keep matching.
    #[default]
    CancelResting,
    /// Stop matching and cancel the rest of the incoming order.
    CancelIncoming,
}

/// A new order in engine units (ticks and lots); see `InstrumentSpec` for the decimal edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub owner: AccountId,
    pub side: Side,
    pub price: OrderPrice,
    pub lots: u64,
    pub time_in_force: TimeInForce,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Partly filled or not at all; the rest is in the book.
    Resting,
    Filled,
    /// Done without filling completely (IOC, market, or self-trade prevention).
    Cancelled,
    /// Fill-or-kill that could not fill completely: nothing happened.
    Killed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAck {
    pub order: OrderId,
    pub status: OrderStatus,
    pub filled_lots: u64,
    pub resting_lots: u64,
}

/// A resting order as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestingOrder {
    pub order: OrderId,
    pub owner: AccountId,
    pub side: Side,
    pub price_ticks: u64,
    pub lots: u64,
}

/// The result of closing a trading day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayClose {
    pub stats: DailyStats,
    /// The VWAP of the day, or the previous close when nothing traded.
    pub close_ticks: u64,
    pub expired_orders: u32,
}

/// Open purchases and today's purchases of one account, for holding and purchase limits.
#[derive(Clone, Copy, Debug, Default)]
struct Exposure {
    open_buy_t: u64,
    bought_today_t: u64,
}

#[derive(PartialEq, Eq)]
enum MatchStop {
    Filled,
    NoLiquidity,
    SelfTrade,
}

struct Admission {
    limit_idx: u32,
    hold_asset: Asset,
    hold_amount: u64,
}

#[derive(Clone)]
pub struct Book {
    spec: InstrumentSpec,
    previous_close_ticks: u64,
    band: Band,
    bids: Ladder,
    asks: Ladder,
    arena: Arena,
    tape: Vec<Trade>,
    next_trade_seq: u64,
    daily: DailyStats,
    self_trade: SelfTradePrevention,
    /// Open and today's purchases per account, kept only while limits apply to the instrument
    /// (the hot path skips the map otherwise) and rebuilt from the book and the day's tape
    /// when limits are switched on.
    exposure: Option<FxHashMap<AccountId, Exposure>>,
    /// Sequence number of the first trade of the current day.
    day_first_seq: u64,
    /// Bands set today, applied at the day's close: `(regular_band_bp, block_band_bp)`.
    next_bands: Option<(u64, u64)>,
}

/// A summary: the ladders hold thousands of levels, too many for a log line.
impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book")
            .field("instrument", &self.spec.id)
            .field("band", &self.band)
            .field("live_orders", &self.arena.live())
            .field("best_bid_ticks", &self.best_bid_ticks())
            .field("best_ask_ticks", &self.best_ask_ticks())
            .field("next_trade_seq", &self.next_trade_seq)
            .finish_non_exhaustive()
    }
}

impl Book {
    /// An empty book whose band is centred on `previous_close_ticks`.
    pub fn new(
        spec: InstrumentSpec,
        previous_close_ticks: u64,
        self_trade: SelfTradePrevention,
    ) -> Result<Self, MarketError> {
        spec.validate()?;
        let band = checked_band(&spec, previous_close_ticks)?;
        let len = ladder_len(band);
        Ok(Book {
            spec,
            previous_close_ticks,
            band,
            bids: Ladder::new(len, Side::Buy),
            asks: Ladder::new(len, Side::Sell),
            arena: Arena::default(),
            tape: Vec::new(),
            next_trade_seq: 1,
            daily: DailyStats::default(),
            self_trade,
            exposure: None,
            day_first_seq: 1,
            next_bands: None,
        })
    }

    /// Checks, holds and matches one order. On `Err` nothing was held or recorded.
    pub fn submit(
        &mut self,
        request: &OrderRequest,
        balances: &impl Balances,
        rules: &AccountRules,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<OrderAck, MarketError> {
        self.track_exposure(rules.limits_apply_to(self.spec.id));
        let admission = self.admit(request, balances, rules)?;
        let (slot, order) = self.arena.alloc(
            request.owner,
            request.side,
            request.lots,
            admission.hold_amount,
        );
        if request.time_in_force == TimeInForce::FillOrKill
            && !self.can_fill(
                request.owner,
                request.side,
                admission.limit_idx,
                request.lots,
            )
        {
            self.arena.release(slot);
            return Ok(OrderAck {
                order,
                status: OrderStatus::Killed,
                filled_lots: 0,
                resting_lots: 0,
            });
        }
        out.push(Settlement::PlaceHold {
            hold: self.hold_of(order),
            holder: request.owner,
            asset: admission.hold_asset,
            amount: admission.hold_amount,
        });
        let stop = self.match_incoming(slot, admission.limit_idx, now, out);
        let remaining = self.arena.node(slot).lots;
        let may_rest = remaining > 0
            && stop != MatchStop::SelfTrade
            && matches!(request.price, OrderPrice::Limit { .. })
            && request.time_in_force == TimeInForce::Day;
        let status = if may_rest {
            self.rest(slot, admission.limit_idx);
            OrderStatus::Resting
        } else {
            self.close_order(slot, out);
            if remaining == 0 {
                OrderStatus::Filled
            } else {
                OrderStatus::Cancelled
            }
        };
        Ok(OrderAck {
            order,
            status,
            filled_lots: request.lots - remaining,
            resting_lots: if may_rest { remaining } else { 0 },
        })
    }

    /// Cancels a resting order of `owner` and releases the rest of its hold.
    pub fn cancel(
        &mut self,
        order: OrderId,
        owner: AccountId,
        out: &mut Vec<Settlement>,
    ) -> Result<RestingOrder, MarketError> {
        let slot = self
            .arena
            .find(order)
            .filter(|&slot| self.arena.node(slot).resting)
            .ok_or(MarketError::UnknownOrder(order))?;
        let view = self.view(slot);
        if view.owner != owner {
            return Err(MarketError::NotOrderOwner {
                order,
                account: owner,
            });
        }
        self.cancel_resting(slot, out);
        Ok(view)
    }

    /// Cancels every resting order of `owner` (used when the bureau freezes an account).
    pub fn cancel_all_of(&mut self, owner: AccountId, out: &mut Vec<Settlement>) -> u32 {
        let mut cancelled = 0;
        for slot in self.arena.resting_slots() {
            if self.arena.node(slot).owner == owner {
                self.cancel_resting(slot, out);
                cancelled += 1;
            }
        }
        cancelled
    }

    /// Ends the trading day: every resting order expires (its hold is released), the close is
    /// the day's VWAP (or the previous close if nothing traded) and the band moves around it.
    pub fn end_day(&mut self, out: &mut Vec<Settlement>) -> Result<DayClose, MarketError> {
        let close_ticks = self.daily.vwap_ticks().unwrap_or(self.previous_close_ticks);
        // Bands set today start now, unless they cannot lay out a book around this close.
        let spec = self
            .next_bands
            .map(|bands| self.spec_with(bands))
            .filter(|spec| checked_band(spec, close_ticks).is_ok())
            .unwrap_or_else(|| self.spec.clone());
        let band = checked_band(&spec, close_ticks)?;
        self.spec = spec;
        self.next_bands = None;
        let mut expired_orders = 0;
        for slot in self.arena.resting_slots() {
            self.cancel_resting(slot, out);
            expired_orders += 1;
        }
        let stats = std::mem::take(&mut self.daily);
        self.previous_close_ticks = close_ticks;
        self.band = band;
        self.bids = Ladder::new(ladder_len(band), Side::Buy);
        self.asks = Ladder::new(ladder_len(band), Side::Sell);
        if let Some(exposure) = &mut self.exposure {
            exposure.clear();
        }
        self.day_first_seq = self.next_trade_seq;
        Ok(DayClose {
            stats,
            close_ticks,
            expired_orders,
        })
    }

    pub fn spec(&self) -> &InstrumentSpec {
        &self.spec
    }

    /// Sets the price bands in basis points of the previous close, from the day's close (when
    /// the book is laid out around the new close): today, orders and block trades keep the
    /// bands they were placed under. Refused, changing nothing, if the bands are invalid or
    /// too wide to lay out around today's close.
    pub fn set_bands(
        &mut self,
        regular_band_bp: u64,
        block_band_bp: u64,
    ) -> Result<(), MarketError> {
        let spec = self.spec_with((regular_band_bp, block_band_bp));
        spec.validate()?;
        checked_band(&spec, self.previous_close_ticks)?;
        self.next_bands = Some((regular_band_bp, block_band_bp));
        Ok(())
    }

    /// The bands from the next close: today's, unless new ones were set.
    pub fn bands_from_next_close(&self) -> (u64, u64) {
        let spec = &self.spec;
        self.next_bands
            .unwrap_or((spec.regular_band_bp, spec.block_band_bp))
    }

    fn spec_with(&self, (regular_band_bp, block_band_bp): (u64, u64)) -> InstrumentSpec {
        InstrumentSpec {
            regular_band_bp,
            block_band_bp,
            ..self.spec.clone()
        }
    }

    pub fn band(&self) -> Band {
        self.band
    }

    pub fn previous_close_ticks(&self) -> u64 {
        self.previous_close_ticks
    }

    pub fn daily(&self) -> &DailyStats {
        &self.daily
    }

    pub fn live_orders(&self) -> u32 {
        self.arena.live()
    }

    pub fn best_bid_ticks(&self) -> Option<u64> {
        self.bids.best().map(|idx| self.price_of(idx))
    }

    pub fn best_ask_ticks(&self) -> Option<u64> {
        self.asks.best().map(|idx| self.price_of(idx))
    }

    /// A resting order, if `order` still rests in the book.
    pub fn resting(&self, order: OrderId) -> Option<RestingOrder> {
        let slot = self.arena.find(order)?;
        self.arena.node(slot).resting.then(|| self.view(slot))
    }

    /// Every resting order of one side in priority order (best price first, then time).
    pub fn resting_orders(&self, side: Side) -> Vec<RestingOrder> {
        let ladder = self.ladder(side);
        let mut orders = Vec::new();
        let mut level = ladder.best();
        while let Some(idx) = level {
            let mut slot = ladder.levels[idx as usize].head;
            while slot != NIL {
                orders.push(self.view(slot));
                slot = self.arena.node(slot).next;
            }
            level = ladder.next_worse(idx);
        }
        orders
    }

    /// Up to `levels_max` aggregated levels per side, best first.
    pub fn depth(&self, levels_max: usize) -> Depth {
        Depth {
            bids: self.depth_of(Side::Buy, levels_max),
            asks: self.depth_of(Side::Sell, levels_max),
        }
    }

    /// Trades with a sequence number above `seq`, oldest first.
    pub fn trades_after(&self, seq: u64) -> &[Trade] {
        let first = self.tape.first().map_or(self.next_trade_seq, |t| t.seq);
        let skip =
            usize::try_from(seq.saturating_add(1).saturating_sub(first)).unwrap_or(usize::MAX);
        self.tape.get(skip..).unwrap_or(&[])
    }

    /// Forgets trades up to and including `seq` once a feed or store has them, bounding memory.
    pub fn discard_trades_through(&mut self, seq: u64) {
        let first = self.tape.first().map_or(self.next_trade_seq, |t| t.seq);
        let count =
            usize::try_from(seq.saturating_add(1).saturating_sub(first)).unwrap_or(usize::MAX);
        self.tape.drain(..count.min(self.tape.len()));
    }

    /// Starts or stops keeping per-account purchase exposure. Starting rebuilds it from the
    /// resting buy orders and the day's trades still in the tape.
    fn track_exposure(&mut self, wanted: bool) {
        match (wanted, self.exposure.is_some()) {
            (true, false) => {
                let mut exposure: FxHashMap<AccountId, Exposure> = FxHashMap::default();
                for order in self.resting_orders(Side::Buy) {
                    exposure.entry(order.owner).or_default().open_buy_t +=
                        order.lots * self.spec.lot_t;
                }
                for trade in self.trades_after(self.day_first_seq - 1) {
                    exposure.entry(trade.buyer).or_default().bought_today_t +=
                        trade.lots * self.spec.lot_t;
                }
                self.exposure = Some(exposure);
            }
            (false, true) => self.exposure = None,
            _ => {}
        }
    }

    fn admit(
        &self,
        request: &OrderRequest,
        balances: &impl Balances,
        rules: &AccountRules,
    ) -> Result<Admission, MarketError> {
        rules.check_not_frozen(request.owner)?;
        if request.lots == 0 {
            return Err(MarketError::ZeroQuantity);
        }
        if request.lots > self.spec.order_lots_max {
            return Err(MarketError::OrderTooLarge {
                lots: request.lots,
                lots_max: self.spec.order_lots_max,
            });
        }
        let quantity_t = self.spec.tonnes(request.lots)?;
        if quantity_t >= self.spec.block_min_t {
            return Err(MarketError::BlockSizeInBook {
                quantity_t,
                block_min_t: self.spec.block_min_t,
            });
        }
        if self.arena.live() >= self.spec.orders_max {
            return Err(MarketError::BookFull {
                instrument: self.spec.id,
                orders_max: self.spec.orders_max,
            });
        }
        let limit_ticks = self.limit_ticks(request)?;
        let (hold_asset, hold_amount) = match request.side {
            Side::Sell => (Asset::Rights(self.spec.id), quantity_t),
            Side::Buy => {
                self.check_buy_limits(request.owner, quantity_t, balances, rules)?;
                (
                    Asset::CashFen,
                    self.spec.cash_fen(request.lots, limit_ticks)?,
                )
            }
        };
        crate::settlement::check_available(balances, request.owner, hold_asset, hold_amount)?;
        Ok(Admission {
            limit_idx: self.index_of(limit_ticks),
            hold_asset,
            hold_amount,
        })
    }

    /// The worst price the order accepts: its limit, or the far edge of the band.
    fn limit_ticks(&self, request: &OrderRequest) -> Result<u64, MarketError> {
        match (request.price, request.side) {
            (OrderPrice::Limit { price_ticks }, _) if self.band.contains(price_ticks) => {
                Ok(price_ticks)
            }
            (OrderPrice::Limit { price_ticks }, _) => Err(MarketError::OutsideBand {
                price_ticks,
                lower_ticks: self.band.lower_ticks,
                upper_ticks: self.band.upper_ticks,
                tick_fen: self.spec.tick_fen,
            }),
            (OrderPrice::Market, Side::Buy) => Ok(self.band.upper_ticks),
            (OrderPrice::Market, Side::Sell) => Ok(self.band.lower_ticks),
        }
    }

    fn check_buy_limits(
        &self,
        owner: AccountId,
        quantity_t: u64,
        balances: &impl Balances,
        rules: &AccountRules,
    ) -> Result<(), MarketError> {
        let instrument = self.spec.id;
        let holding = rules.holding_limits.limit_t(instrument, owner);
        let purchase = rules.purchase_limits_per_day.limit_t(instrument, owner);
        if holding.is_none() && purchase.is_none() {
            return Ok(());
        }
        let exposure = self
            .exposure
            .as_ref()
            .and_then(|e| e.get(&owner).copied())
            .unwrap_or_default();
        let open_and_new_t = exposure.open_buy_t.saturating_add(quantity_t);
        if holding.is_some() {
            let position_t = balances.position_t(owner, instrument);
            rules.check_holding(owner, instrument, position_t.saturating_add(open_and_new_t))?;
        }
        if purchase.is_some() {
            let would_buy_t = exposure.bought_today_t.saturating_add(open_and_new_t);
            rules.check_purchase(owner, instrument, would_buy_t)?;
        }
        Ok(())
    }

    /// Whether an incoming order can fill `lots` completely right now, counting only the
    /// liquidity that self-trade prevention would let it trade with.
    fn can_fill(&self, owner: AccountId, side: Side, limit_idx: u32, lots: u64) -> bool {
        let ladder = self.ladder(opposite(side));
        let mut needed = lots;
        let mut level = ladder.best();
        while let Some(idx) = level.filter(|&idx| crosses(side, idx, limit_idx)) {
            let mut slot = ladder.levels[idx as usize].head;
            while slot != NIL {
                let node = self.arena.node(slot);
                if node.owner != owner {
                    if node.lots >= needed {
                        return true;
                    }
                    needed -= node.lots;
                } else if self.self_trade == SelfTradePrevention::CancelIncoming {
                    return false;
                }
                slot = node.next;
            }
            level = ladder.next_worse(idx);
        }
        false
    }

    /// Matches the incoming order in `taker` against the opposite side, best price first and
    /// oldest first within a price, at the resting order's price.
    fn match_incoming(
        &mut self,
        taker: u32,
        limit_idx: u32,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> MatchStop {
        let taker_side = self.arena.node(taker).side;
        let taker_owner = self.arena.node(taker).owner;
        loop {
            let wanted = self.arena.node(taker).lots;
            if wanted == 0 {
                return MatchStop::Filled;
            }
            let ladder = self.ladder(opposite(taker_side));
            let Some(idx) = ladder
                .best()
                .filter(|&idx| crosses(taker_side, idx, limit_idx))
            else {
                return MatchStop::NoLiquidity;
            };
            let maker = ladder.levels[idx as usize].head;
            let maker_node = *self.arena.node(maker);
            if maker_node.owner == taker_owner {
                match self.self_trade {
                    SelfTradePrevention::CancelResting => {
                        self.cancel_resting(maker, out);
                        continue;
                    }
                    SelfTradePrevention::CancelIncoming => return MatchStop::SelfTrade,
                }
            }
            self.fill(maker, taker, idx, wanted.min(maker_node.lots), now, out);
        }
    }

    fn fill(
        &mut self,
        maker: u32,
        taker: u32,
        idx: u32,
        lots: u64,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) {
        let price_ticks = self.price_of(idx);
        // Both fit in u64: they are at most what the orders' holds were admitted for.
        let quantity_t = lots * self.spec.lot_t;
        let cash_fen = quantity_t * price_ticks * self.spec.tick_fen;
        let taker_side = self.arena.node(taker).side;
        let (buyer_slot, seller_slot) = match taker_side {
            Side::Buy => (taker, maker),
            Side::Sell => (maker, taker),
        };
        let (buy_order, sell_order) = (self.arena.id_of(buyer_slot), self.arena.id_of(seller_slot));
        let buyer = self.arena.node(buyer_slot).owner;
        let seller = self.arena.node(seller_slot).owner;
        let seq = self.next_trade_seq;
        self.next_trade_seq += 1;
        out.push(Settlement::DeliveryVersusPayment {
            reference: SettlementRef::Trade {
                instrument: self.spec.id,
                seq,
            },
            instrument: self.spec.id,
            seller,
            buyer,
            quantity_t,
            rights_hold: self.hold_of(sell_order),
            cash_fen,
            cash_hold: self.hold_of(buy_order),
            cash_to: seller,
        });
        take_from(self.arena.node_mut(buyer_slot), lots, cash_fen);
        take_from(self.arena.node_mut(seller_slot), lots, quantity_t);
        let ladder = match taker_side {
            Side::Buy => &mut self.asks,
            Side::Sell => &mut self.bids,
        };
        ladder.levels[idx as usize].lots -= lots;
        let maker_done = self.arena.node(maker).lots == 0;
        if maker_done {
            ladder.unlink(&mut self.arena, maker);
        }
        if let Some(exposure) = &mut self.exposure {
            let exposure = exposure.entry(buyer).or_default();
            exposure.bought_today_t += quantity_t;
            if taker_side == Side::Sell {
                exposure.open_buy_t -= quantity_t;
            }
        }
        self.daily.record(price_ticks, lots);
        if maker_done {
            // A resting buy keeps the price improvement it got as a taker before it rested;
            // that part of its hold is released now.
            self.close_order(maker, out);
        }
        self.tape.push(Trade {
            seq,
            instrument: self.spec.id,
            price_ticks,
            lots,
            buyer,
            seller,
            buy_order,
            sell_order,
            aggressor: taker_side,
            at: now,
        });
    }

    fn rest(&mut self, slot: u32, idx: u32) {
        let node = *self.arena.node(slot);
        let ladder = match node.side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        ladder.push_back(&mut self.arena, idx, slot, node.lots);
        if node.side == Side::Buy
            && let Some(exposure) = &mut self.exposure
        {
            exposure.entry(node.owner).or_default().open_buy_t += node.lots * self.spec.lot_t;
        }
    }

    fn cancel_resting(&mut self, slot: u32, out: &mut Vec<Settlement>) {
        let node = *self.arena.node(slot);
        let ladder = match node.side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        ladder.unlink(&mut self.arena, slot);
        if node.side == Side::Buy
            && let Some(exposure) = self.exposure.as_mut().and_then(|e| e.get_mut(&node.owner))
        {
            exposure.open_buy_t -= node.lots * self.spec.lot_t;
        }
        self.close_order(slot, out);
    }

    /// Releases what is left of the order's hold and frees its slot.
    fn close_order(&mut self, slot: u32, out: &mut Vec<Settlement>) {
        let node = *self.arena.node(slot);
        if node.hold_remaining > 0 {
            out.push(Settlement::ReleaseHold {
                hold: self.hold_of(self.arena.id_of(slot)),
                holder: node.owner,
                asset: match node.side {
                    Side::Buy => Asset::CashFen,
                    Side::Sell => Asset::Rights(self.spec.id),
                },
                amount: node.hold_remaining,
            });
        }
        self.arena.release(slot);
    }

    fn depth_of(&self, side: Side, levels_max: usize) -> Vec<DepthLevel> {
        let ladder = self.ladder(side);
        let mut levels = Vec::with_capacity(levels_max.min(64));
        let mut level = ladder.best();
        while let Some(idx) = level.filter(|_| levels.len() < levels_max) {
            let l = ladder.levels[idx as usize];
            levels.push(DepthLevel {
                price_ticks: self.price_of(idx),
                lots: l.lots,
                orders: l.orders,
            });
            level = ladder.next_worse(idx);
        }
        levels
    }

    fn view(&self, slot: u32) -> RestingOrder {
        let node = self.arena.node(slot);
        RestingOrder {
            order: self.arena.id_of(slot),
            owner: node.owner,
            side: node.side,
            price_ticks: self.price_of(node.level),
            lots: node.lots,
        }
    }

    fn ladder(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn hold_of(&self, order: OrderId) -> HoldId {
        HoldId::Order {
            instrument: self.spec.id,
            order,
        }
    }

    fn price_of(&self, idx: u32) -> u64 {
        self.band.lower_ticks + u64::from(idx)
    }

    fn index_of(&self, price_ticks: u64) -> u32 {
        // The band is at most BAND_TICKS_MAX wide, checked when it was set.
        (price_ticks - self.band.lower_ticks) as u32
    }
}

fn take_from(node: &mut arena::Node, lots: u64, hold_used: u64) {
    node.lots -= lots;
    node.hold_remaining -= hold_used;
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

/// Whether a resting level at `idx` is acceptable to an incoming order of `side` limited at
/// `limit_idx`.
fn crosses(side: Side, idx: u32, limit_idx: u32) -> bool {
    match side {
        Side::Buy => idx <= limit_idx,
        Side::Sell => idx >= limit_idx,
    }
}

fn checked_band(spec: &InstrumentSpec, close_ticks: u64) -> Result<Band, MarketError> {
    if close_ticks == 0 {
        return Err(MarketError::InvalidConfig(
            "the previous close must be positive",
        ));
    }
    let band = spec.regular_band(close_ticks);
    if band.upper_ticks - band.lower_ticks >= BAND_TICKS_MAX {
        return Err(MarketError::InvalidConfig(
            "the band is wider than BAND_TICKS_MAX ticks",
        ));
    }
    Ok(band)
}

fn ladder_len(band: Band) -> usize {
    (band.upper_ticks - band.lower_ticks + 1) as usize
}
