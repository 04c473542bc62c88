//! The market facade: books by instrument, account rules, transfers and auctions behind one
//! value, so unknown instruments and frozen accounts are refused in one place.

use crate::auction::{Auction, AuctionConfig, AuctionRecord};
use crate::book::{
    Book, DayClose, OrderAck, OrderPrice, OrderRequest, RestingOrder, SelfTradePrevention,
    TimeInForce,
};
use crate::error::MarketError;
use crate::ids::{AccountId, AuctionId, BidId, InstrumentId, OrderId, Side, Timestamp, TransferId};
use crate::instrument::InstrumentSpec;
use crate::rules::AccountRules;
use crate::settlement::{Balances, Settlement};
use crate::transfer::{Transfer, TransferRequest, Transfers};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// An order as it arrives at the edge, with decimal price (CNY per tonne) and quantity (t).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecimalOrder {
    pub owner: AccountId,
    pub side: Side,
    /// `None` for a market order.
    pub price_cny_per_t: Option<Decimal>,
    pub quantity_t: Decimal,
    pub time_in_force: TimeInForce,
}

/// What freezing an account undid.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FreezeReport {
    pub cancelled_orders: u32,
    pub vetoed_transfers: Vec<TransferId>,
}

/// `Clone` is a deep copy (books, orders, tapes, auctions): the durable market keeps one as
/// its checkpoint.
#[derive(Clone, Debug, Default)]
pub struct Market {
    books: BTreeMap<InstrumentId, Book>,
    rules: AccountRules,
    transfers: Transfers,
    auctions: BTreeMap<AuctionId, Auction>,
    self_trade: SelfTradePrevention,
}

impl Market {
    pub fn new(rules: AccountRules, self_trade: SelfTradePrevention) -> Self {
        Market {
            rules,
            self_trade,
            ..Market::default()
        }
    }

    /// Opens a book for a new instrument around its reference (previous close) price.
    pub fn list_instrument(
        &mut self,
        spec: InstrumentSpec,
        previous_close_ticks: u64,
    ) -> Result<(), MarketError> {
        if self.books.contains_key(&spec.id) {
            return Err(MarketError::DuplicateInstrument(spec.id));
        }
        let id = spec.id;
        let book = Book::new(spec, previous_close_ticks, self.self_trade)?;
        self.books.insert(id, book);
        Ok(())
    }

    pub fn book(&self, instrument: InstrumentId) -> Result<&Book, MarketError> {
        self.books
            .get(&instrument)
            .ok_or(MarketError::UnknownInstrument(instrument))
    }

    /// Sets an instrument's price bands from the day's close: see [`Book::set_bands`].
    pub fn set_bands(
        &mut self,
        instrument: InstrumentId,
        regular_band_bp: u64,
        block_band_bp: u64,
    ) -> Result<(), MarketError> {
        let book = self
            .books
            .get_mut(&instrument)
            .ok_or(MarketError::UnknownInstrument(instrument))?;
        book.set_bands(regular_band_bp, block_band_bp)
    }

    pub fn rules(&self) -> &AccountRules {
        &self.rules
    }

    /// Limits and freezes apply to commands from now on (nothing recorded is re-checked).
    pub fn rules_mut(&mut self) -> &mut AccountRules {
        &mut self.rules
    }

    pub fn submit_order(
        &mut self,
        instrument: InstrumentId,
        request: &OrderRequest,
        balances: &impl Balances,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<OrderAck, MarketError> {
        let book = self
            .books
            .get_mut(&instrument)
            .ok_or(MarketError::UnknownInstrument(instrument))?;
        book.submit(request, balances, &self.rules, now, out)
    }

    /// The decimal edge: converts price and quantity (refusing off-grid values) and submits.
    pub fn submit_decimal_order(
        &mut self,
        instrument: InstrumentId,
        order: &DecimalOrder,
        balances: &impl Balances,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<OrderAck, MarketError> {
        let spec = self.book(instrument)?.spec();
        let price = match order.price_cny_per_t {
            Some(price) => OrderPrice::Limit {
                price_ticks: spec.price_ticks(price)?,
            },
            None => OrderPrice::Market,
        };
        let request = OrderRequest {
            owner: order.owner,
            side: order.side,
            price,
            lots: spec.quantity_lots(order.quantity_t)?,
            time_in_force: order.time_in_force,
        };
        self.submit_order(instrument, &request, balances, now, out)
    }

    pub fn cancel_order(
        &mut self,
        instrument: InstrumentId,
        order: OrderId,
        owner: AccountId,
        out: &mut Vec<Settlement>,
    ) -> Result<RestingOrder, MarketError> {
        self.books
            .get_mut(&instrument)
            .ok_or(MarketError::UnknownInstrument(instrument))?
            .cancel(order, owner, out)
    }

    /// Ends the trading day in every book (in instrument order).
    pub fn end_day(
        &mut self,
        out: &mut Vec<Settlement>,
    ) -> Result<BTreeMap<InstrumentId, DayClose>, MarketError> {
        let mut closes = BTreeMap::new();
        for (&id, book) in &mut self.books {
            closes.insert(id, book.end_day(out)?);
        }
        Ok(closes)
    }

    /// The bureau freezes an account: new orders, bids and transfers are refused, its resting
    /// orders are cancelled and its pending transfers vetoed.
    pub fn freeze(
        &mut self,
        account: AccountId,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> FreezeReport {
        self.rules.freeze(account);
        let cancelled_orders = self
            .books
            .values_mut()
            .map(|book| book.cancel_all_of(account, out))
            .sum();
        FreezeReport {
            cancelled_orders,
            vetoed_transfers: self.transfers.veto_all_of(account, now, out),
        }
    }

    pub fn unfreeze(&mut self, account: AccountId) {
        self.rules.unfreeze(account);
    }

    /// Proposes a bilateral transfer (a block trade when at or above the block size).
    pub fn propose_transfer(
        &mut self,
        request: TransferRequest,
        balances: &impl Balances,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<TransferId, MarketError> {
        let book = self
            .books
            .get(&request.instrument)
            .ok_or(MarketError::UnknownInstrument(request.instrument))?;
        self.transfers.propose(
            request,
            book.spec(),
            book.previous_close_ticks(),
            balances,
            &self.rules,
            now,
            out,
        )
    }

    pub fn accept_transfer(
        &mut self,
        id: TransferId,
        buyer: AccountId,
        balances: &impl Balances,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        self.transfers
            .accept(id, buyer, balances, &self.rules, now, out)
    }

    pub fn reject_transfer(
        &mut self,
        id: TransferId,
        buyer: AccountId,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        self.transfers.reject(id, buyer, now, out)
    }

    pub fn withdraw_transfer(
        &mut self,
        id: TransferId,
        seller: AccountId,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        self.transfers.withdraw(id, seller, now, out)
    }

    /// Bureau only (the caller checks the role).
    pub fn veto_transfer(
        &mut self,
        id: TransferId,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        self.transfers.veto(id, now, out)
    }

    pub fn expire_transfers(
        &mut self,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Vec<TransferId> {
        self.transfers.expire_due(now, out)
    }

    pub fn transfer(&self, id: TransferId) -> Option<&Transfer> {
        self.transfers.get(id)
    }

    /// Opens a primary auction or one-way bidding session (bureau or exchange operator).
    pub fn open_auction(
        &mut self,
        config: AuctionConfig,
        seed_commitment: [u8; 32],
        balances: &impl Balances,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        if self.auctions.contains_key(&config.id) {
            return Err(MarketError::DuplicateAuction(config.id));
        }
        let id = config.id;
        let auction = Auction::open(config, seed_commitment, balances, &self.rules, out)?;
        self.auctions.insert(id, auction);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn submit_bid(
        &mut self,
        auction: AuctionId,
        bidder: AccountId,
        price_ticks: u64,
        lots: u64,
        balances: &impl Balances,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<BidId, MarketError> {
        self.auctions
            .get_mut(&auction)
            .ok_or(MarketError::UnknownAuction(auction))?
            .submit_bid(bidder, price_ticks, lots, balances, &self.rules, now, out)
    }

    pub fn withdraw_bid(
        &mut self,
        auction: AuctionId,
        bidder: AccountId,
        bid: BidId,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        self.auctions
            .get_mut(&auction)
            .ok_or(MarketError::UnknownAuction(auction))?
            .withdraw_bid(bidder, bid, now, out)
    }

    pub fn close_auction(
        &mut self,
        auction: AuctionId,
        seed: [u8; 32],
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<&AuctionRecord, MarketError> {
        self.auctions
            .get_mut(&auction)
            .ok_or(MarketError::UnknownAuction(auction))?
            .close(seed, now, out)
    }

    pub fn auction(&self, auction: AuctionId) -> Option<&Auction> {
        self.auctions.get(&auction)
    }

    /// Every listed instrument's book, in instrument order.
    pub fn books(&self) -> impl Iterator<Item = (InstrumentId, &Book)> {
        self.books.iter().map(|(&id, book)| (id, book))
    }

    /// Every auction, open or finished, in id order.
    pub fn auctions(&self) -> impl Iterator<Item = &Auction> {
        self.auctions.values()
    }

    /// Every transfer proposal, in id order.
    pub fn transfers(&self) -> impl Iterator<Item = &Transfer> {
        self.transfers.iter()
    }
}
