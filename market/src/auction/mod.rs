//! Sealed-bid auctions: the bureau's primary auctions from its reserve, and one-way bidding
//! (an enterprise offers a quantity, buyers bid). Both use the same state machine and clearing:
//!
//! `open` (supply held, seed commitment published) → `submit_bid` / `withdraw_bid` while
//! `now < closes_at` (each bid's guarantee held in cash) → `close` with the revealed seed
//! (checked against the commitment) → `Cleared` or `Cancelled`, with an [`AuctionRecord`] that
//! anyone can re-run.
//!
//! Bids stay sealed: an open auction exposes only how many bids it holds.

pub mod clearing;
mod tie_break;

use crate::error::MarketError;
use crate::ids::{AccountId, AuctionId, BidId, InstrumentId, Timestamp};
use crate::instrument::{BASIS_POINTS, InstrumentSpec, cash_fen};
use crate::rules::AccountRules;
use crate::settlement::{Asset, Balances, HoldId, Settlement, SettlementRef, check_available};
pub use clearing::{
    Award, ClearedAuction, Clearing, ClearingRules, Pricing, SealedBid, TieBreak,
    UndersubscribedPolicy, clear,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
pub use tie_break::seed_commitment;

/// Upper bound on bids per auction, so memory and clearing time are bounded.
pub const BIDS_PER_AUCTION_MAX: u32 = 4_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuctionKind {
    /// The bureau sells from its reserve.
    Primary,
    /// An enterprise offers a quantity and buyers bid (单向竞价).
    OneWay,
}

/// Extra supply released when the auction would clear at or above `trigger_price_ticks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainmentReserve {
    /// The account the reserve is held in (the bureau's cost-containment reserve).
    pub account: AccountId,
    pub trigger_price_ticks: u64,
    pub volume_lots: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionConfig {
    pub id: AuctionId,
    pub kind: AuctionKind,
    pub instrument: InstrumentId,
    /// Holds the offered volume: the bureau's reserve account, or the offering enterprise.
    pub seller: AccountId,
    /// Receives the proceeds: the bureau's account, or the offering enterprise.
    pub proceeds_to: AccountId,
    pub lot_t: u64,
    pub tick_fen: u64,
    pub volume_lots: u64,
    pub reserve_price_ticks: u64,
    /// Most a bidder may win, in basis points of `volume_lots` (2500 = 25%), rounded down to lots.
    pub bidder_cap_bp: u64,
    pub pricing: Pricing,
    pub containment: Option<ContainmentReserve>,
    pub undersubscribed: UndersubscribedPolicy,
    pub closes_at: Timestamp,
    pub bids_max: u32,
}

impl AuctionConfig {
    pub fn validate(&self) -> Result<(), MarketError> {
        let cap_lots = self.bidder_cap_lots();
        let problem = if self.lot_t == 0 || self.tick_fen == 0 {
            Some("lot and tick must be positive")
        } else if self.volume_lots == 0 {
            Some("the auction must offer at least one lot")
        } else if self.reserve_price_ticks == 0 {
            Some("the reserve price must be positive")
        } else if self.bidder_cap_bp == 0 || self.bidder_cap_bp > BASIS_POINTS || cap_lots == 0 {
            Some("the bidder cap must allow at least one lot and at most 100%")
        } else if self.bids_max == 0 || self.bids_max > BIDS_PER_AUCTION_MAX {
            Some("bids_max must be in 1..=BIDS_PER_AUCTION_MAX")
        } else if self
            .containment
            .is_some_and(|c| c.volume_lots == 0 || c.trigger_price_ticks < self.reserve_price_ticks)
        {
            Some("the containment reserve needs lots and a trigger at or above the reserve price")
        } else {
            None
        };
        problem.map_or(Ok(()), |why| Err(MarketError::InvalidConfig(why)))
    }

    pub fn bidder_cap_lots(&self) -> u64 {
        let cap = u128::from(self.volume_lots) * u128::from(self.bidder_cap_bp)
            / u128::from(BASIS_POINTS);
        // At most volume_lots, so it fits.
        cap as u64
    }

    pub fn clearing_rules(&self) -> ClearingRules {
        ClearingRules {
            volume_lots: self.volume_lots,
            reserve_price_ticks: self.reserve_price_ticks,
            bidder_cap_lots: self.bidder_cap_lots(),
            containment: self
                .containment
                .map(|c| (c.trigger_price_ticks, c.volume_lots)),
            pricing: self.pricing,
            undersubscribed: self.undersubscribed,
        }
    }

    /// The decimal edge for bids in this auction.
    pub fn spec(&self) -> Result<InstrumentSpec, MarketError> {
        InstrumentSpec::new(self.instrument, self.tick_fen, self.lot_t)
    }

    fn tonnes(&self, lots: u64) -> Result<u64, MarketError> {
        lots.checked_mul(self.lot_t).ok_or(MarketError::Overflow)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuctionState {
    Open,
    Cleared,
    Cancelled,
}

/// Clears `bids` of auction `auction` with its revealed `seed`: the one clearing the registry
/// runs at the close, re-runs from a record, and `ets auction clear` runs from files. The tie
/// draw is keyed by the auction's id and seed, so the same bids and seed always give the same
/// awards.
pub fn clear_revealed(
    rules: &ClearingRules,
    auction: AuctionId,
    seed: &[u8; 32],
    bids: &[SealedBid],
    bidder_count: usize,
) -> Clearing {
    clear(
        rules,
        bids,
        bidder_count,
        tie_break::tie_seed(auction, seed),
    )
}

/// Everything needed to re-run and check an auction: inputs, seed and result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionRecord {
    pub config: AuctionConfig,
    /// SHA-256 of `seed`, published when the auction opened.
    pub seed_commitment: [u8; 32],
    pub seed: [u8; 32],
    /// Dense bidder index → account, in order of first bid.
    pub bidders: Vec<AccountId>,
    /// Every bid, `BidId(i)` at index `i`; a withdrawn bid has zero lots.
    pub bids: Vec<SealedBid>,
    pub clearing: Clearing,
}

impl AuctionRecord {
    /// Clears the stored inputs again with the stored seed.
    pub fn rerun(&self) -> Clearing {
        clear_revealed(
            &self.config.clearing_rules(),
            self.config.id,
            &self.seed,
            &self.bids,
            self.bidders.len(),
        )
    }

    /// Checks the seed against its commitment and the stored result against a re-run.
    pub fn verify(&self) -> Result<(), MarketError> {
        if seed_commitment(&self.seed) != self.seed_commitment {
            return Err(MarketError::SeedMismatch(self.config.id));
        }
        if self.rerun() != self.clearing {
            return Err(MarketError::ResultMismatch(self.config.id));
        }
        Ok(())
    }

    pub fn bidder(&self, index: u32) -> Option<AccountId> {
        self.bidders.get(index as usize).copied()
    }
}

#[derive(Clone)]
pub struct Auction {
    config: AuctionConfig,
    seed_commitment: [u8; 32],
    state: AuctionState,
    bidder_index: BTreeMap<AccountId, u32>,
    bidders: Vec<AccountId>,
    bids: Vec<SealedBid>,
    /// Cash held for each bid (0 once withdrawn).
    guarantees_fen: Vec<u64>,
    /// Lots bid per bidder (withdrawn bids excluded), for holding limits.
    bid_lots_per_bidder: Vec<u64>,
    record: Option<AuctionRecord>,
}

/// Bids are sealed until the result: debug output (and so logs) shows only their number.
impl std::fmt::Debug for Auction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auction")
            .field("config", &self.config)
            .field("seed_commitment", &self.seed_commitment_hex())
            .field("state", &self.state)
            .field("bids", &self.bids.len())
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl Auction {
    /// Opens an auction: holds the offered volume (and the containment reserve) in the seller's
    /// accounts. `seed_commitment` is SHA-256 of a seed the operator keeps secret until closing.
    pub fn open(
        config: AuctionConfig,
        seed_commitment: [u8; 32],
        balances: &impl Balances,
        rules: &AccountRules,
        out: &mut Vec<Settlement>,
    ) -> Result<Self, MarketError> {
        config.validate()?;
        rules.check_not_frozen(config.seller)?;
        let asset = Asset::Rights(config.instrument);
        let supply_t = config.tonnes(config.volume_lots)?;
        check_available(balances, config.seller, asset, supply_t)?;
        let containment_t = match config.containment {
            Some(c) => {
                let t = config.tonnes(c.volume_lots)?;
                check_available(balances, c.account, asset, t)?;
                Some((c.account, t))
            }
            None => None,
        };
        out.push(Settlement::PlaceHold {
            hold: HoldId::AuctionSupply { auction: config.id },
            holder: config.seller,
            asset,
            amount: supply_t,
        });
        if let Some((account, amount)) = containment_t {
            out.push(Settlement::PlaceHold {
                hold: HoldId::AuctionContainment { auction: config.id },
                holder: account,
                asset,
                amount,
            });
        }
        Ok(Auction {
            config,
            seed_commitment,
            state: AuctionState::Open,
            bidder_index: BTreeMap::new(),
            bidders: Vec::new(),
            bids: Vec::new(),
            guarantees_fen: Vec::new(),
            bid_lots_per_bidder: Vec::new(),
            record: None,
        })
    }

    pub fn config(&self) -> &AuctionConfig {
        &self.config
    }

    pub fn state(&self) -> AuctionState {
        self.state
    }

    pub fn seed_commitment_hex(&self) -> String {
        hex::encode(self.seed_commitment)
    }

    /// How many bids were submitted, withdrawn ones included (the only thing visible before the
    /// result); after the close they live in the record.
    pub fn bid_count(&self) -> usize {
        self.record
            .as_ref()
            .map_or(self.bids.len(), |r| r.bids.len())
    }

    /// One bidder's own bids (a withdrawn bid has zero lots): what that bidder may see while the
    /// auction is sealed. Nobody else's bids are visible before the result.
    pub fn bids_of(&self, bidder: AccountId) -> Vec<SealedBid> {
        match self.bidder_index.get(&bidder) {
            Some(&index) => self
                .bids
                .iter()
                .filter(|bid| bid.bidder == index)
                .copied()
                .collect(),
            None => Vec::new(),
        }
    }

    /// The full record, once the auction is cleared or cancelled.
    pub fn record(&self) -> Option<&AuctionRecord> {
        self.record.as_ref()
    }

    /// A bid at a decimal price (CNY per tonne) for a decimal quantity (tonnes).
    #[allow(clippy::too_many_arguments)]
    pub fn submit_bid_decimal(
        &mut self,
        bidder: AccountId,
        price_cny_per_t: Decimal,
        quantity_t: Decimal,
        balances: &impl Balances,
        rules: &AccountRules,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<BidId, MarketError> {
        let spec = self.config.spec()?;
        let price_ticks = spec.price_ticks(price_cny_per_t)?;
        let lots = spec.quantity_lots(quantity_t)?;
        self.submit_bid(bidder, price_ticks, lots, balances, rules, now, out)
    }

    /// A sealed bid; its full value is held from the bidder's cash as the bid guarantee.
    #[allow(clippy::too_many_arguments)]
    pub fn submit_bid(
        &mut self,
        bidder: AccountId,
        price_ticks: u64,
        lots: u64,
        balances: &impl Balances,
        rules: &AccountRules,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<BidId, MarketError> {
        self.check_bidding_open(now)?;
        let config = &self.config;
        if bidder == config.seller {
            return Err(MarketError::SellerCannotBid(config.id));
        }
        rules.check_not_frozen(bidder)?;
        if lots == 0 {
            return Err(MarketError::ZeroQuantity);
        }
        if price_ticks < config.reserve_price_ticks {
            return Err(MarketError::BelowReservePrice {
                price_ticks,
                reserve_ticks: config.reserve_price_ticks,
                tick_fen: config.tick_fen,
            });
        }
        if self.bids.len() >= config.bids_max as usize {
            return Err(MarketError::TooManyBids {
                auction: config.id,
                bids_max: config.bids_max,
            });
        }
        let already_lots = self
            .bidder_index
            .get(&bidder)
            .map_or(0, |&k| self.bid_lots_per_bidder[k as usize]);
        // A bidder can win at most its cap, so that is what counts against its holding limit.
        let winnable_lots = already_lots
            .saturating_add(lots)
            .min(config.bidder_cap_lots());
        let position_t = balances.position_t(bidder, config.instrument);
        let would_hold_t = position_t.saturating_add(config.tonnes(winnable_lots)?);
        rules.check_holding(bidder, config.instrument, would_hold_t)?;
        let guarantee_fen = cash_fen(config.lot_t, config.tick_fen, lots, price_ticks)?;
        check_available(balances, bidder, Asset::CashFen, guarantee_fen)?;

        let bid = BidId(self.bids.len() as u32);
        let index = self.bidder_slot(bidder);
        let bid_lots = &mut self.bid_lots_per_bidder[index as usize];
        *bid_lots = bid_lots.saturating_add(lots);
        self.bids.push(SealedBid {
            bid,
            bidder: index,
            price_ticks,
            lots,
        });
        self.guarantees_fen.push(guarantee_fen);
        out.push(Settlement::PlaceHold {
            hold: HoldId::AuctionBid {
                auction: self.config.id,
                bid,
            },
            holder: bidder,
            asset: Asset::CashFen,
            amount: guarantee_fen,
        });
        Ok(bid)
    }

    /// Withdraws a bid before the close and releases its guarantee.
    pub fn withdraw_bid(
        &mut self,
        bidder: AccountId,
        bid: BidId,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        self.check_bidding_open(now)?;
        let unknown = MarketError::UnknownBid {
            auction: self.config.id,
            bid,
        };
        let index = bid.0 as usize;
        let Some(sealed) = self.bids.get(index).copied() else {
            return Err(unknown);
        };
        if self.bidders[sealed.bidder as usize] != bidder || sealed.lots == 0 {
            return Err(unknown);
        }
        let bid_lots = &mut self.bid_lots_per_bidder[sealed.bidder as usize];
        *bid_lots = bid_lots.saturating_sub(sealed.lots);
        self.bids[index].lots = 0;
        let amount = std::mem::take(&mut self.guarantees_fen[index]);
        out.push(Settlement::ReleaseHold {
            hold: HoldId::AuctionBid {
                auction: self.config.id,
                bid,
            },
            holder: bidder,
            asset: Asset::CashFen,
            amount,
        });
        Ok(())
    }

    /// Closes bidding with the revealed seed, clears, and emits the settlement of the result.
    pub fn close(
        &mut self,
        seed: [u8; 32],
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<&AuctionRecord, MarketError> {
        if self.state != AuctionState::Open {
            return Err(MarketError::AuctionNotOpen(self.config.id));
        }
        if now < self.config.closes_at {
            return Err(MarketError::BiddingStillOpen {
                auction: self.config.id,
                closes_at: self.config.closes_at,
                now,
            });
        }
        if seed_commitment(&seed) != self.seed_commitment {
            return Err(MarketError::SeedMismatch(self.config.id));
        }
        let clearing = clear_revealed(
            &self.config.clearing_rules(),
            self.config.id,
            &seed,
            &self.bids,
            self.bidders.len(),
        );
        self.state = match &clearing {
            Clearing::Cleared(result) => {
                self.settle_awards(result, out);
                AuctionState::Cleared
            }
            Clearing::Cancelled { .. } => {
                self.release_everything(out);
                AuctionState::Cancelled
            }
        };
        Ok(self.record.insert(AuctionRecord {
            config: self.config.clone(),
            seed_commitment: self.seed_commitment,
            seed,
            bidders: std::mem::take(&mut self.bidders),
            bids: std::mem::take(&mut self.bids),
            clearing,
        }))
    }

    fn check_bidding_open(&self, now: Timestamp) -> Result<(), MarketError> {
        if self.state != AuctionState::Open {
            return Err(MarketError::AuctionNotOpen(self.config.id));
        }
        if now >= self.config.closes_at {
            return Err(MarketError::BiddingClosed {
                auction: self.config.id,
                closes_at: self.config.closes_at,
                now,
            });
        }
        Ok(())
    }

    fn bidder_slot(&mut self, bidder: AccountId) -> u32 {
        let next = self.bidders.len() as u32;
        let index = *self.bidder_index.entry(bidder).or_insert(next);
        if index == next {
            self.bidders.push(bidder);
            self.bid_lots_per_bidder.push(0);
        }
        index
    }

    /// Awards draw on the base supply first, in bid order, then on the containment reserve;
    /// each part is one delivery-versus-payment from the bid's guarantee.
    fn settle_awards(&mut self, result: &ClearedAuction, out: &mut Vec<Settlement>) {
        let config = &self.config;
        let auction = config.id;
        let mut base_left = config.volume_lots;
        let mut used_fen = vec![0_u64; self.bids.len()];
        for award in &result.awards {
            let from_base = award.lots.min(base_left);
            base_left -= from_base;
            let parts = [
                (from_base, HoldId::AuctionSupply { auction }, config.seller),
                (
                    award.lots - from_base,
                    HoldId::AuctionContainment { auction },
                    config.containment.map_or(config.seller, |c| c.account),
                ),
            ];
            for (lots, rights_hold, seller) in parts.into_iter().filter(|p| p.0 > 0) {
                let containment = matches!(rights_hold, HoldId::AuctionContainment { .. });
                // Bounded by the bid's guarantee, which was admitted without overflow.
                let cash = lots * config.lot_t * award.price_ticks * config.tick_fen;
                used_fen[award.bid.0 as usize] += cash;
                out.push(Settlement::DeliveryVersusPayment {
                    reference: SettlementRef::AuctionAward {
                        auction,
                        bid: award.bid,
                        containment,
                    },
                    instrument: config.instrument,
                    seller,
                    buyer: self.bidders[award.bidder as usize],
                    quantity_t: lots * config.lot_t,
                    rights_hold,
                    cash_fen: cash,
                    cash_hold: HoldId::AuctionBid {
                        auction,
                        bid: award.bid,
                    },
                    cash_to: config.proceeds_to,
                });
            }
        }
        for (i, bid) in self.bids.iter().enumerate() {
            let left = self.guarantees_fen[i] - used_fen[i];
            if left > 0 {
                out.push(release_bid(
                    auction,
                    bid.bid,
                    self.bidders[bid.bidder as usize],
                    left,
                ));
            }
        }
        let asset = Asset::Rights(config.instrument);
        if base_left > 0 {
            out.push(Settlement::ReleaseHold {
                hold: HoldId::AuctionSupply { auction },
                holder: config.seller,
                asset,
                amount: base_left * config.lot_t,
            });
        }
        if let Some(c) = config.containment {
            let unused = c.volume_lots - result.containment_sold_lots;
            if unused > 0 {
                out.push(Settlement::ReleaseHold {
                    hold: HoldId::AuctionContainment { auction },
                    holder: c.account,
                    asset,
                    amount: unused * config.lot_t,
                });
            }
        }
    }

    fn release_everything(&mut self, out: &mut Vec<Settlement>) {
        let config = &self.config;
        let auction = config.id;
        for (i, bid) in self.bids.iter().enumerate() {
            if self.guarantees_fen[i] > 0 {
                let holder = self.bidders[bid.bidder as usize];
                out.push(release_bid(
                    auction,
                    bid.bid,
                    holder,
                    self.guarantees_fen[i],
                ));
            }
        }
        let asset = Asset::Rights(config.instrument);
        out.push(Settlement::ReleaseHold {
            hold: HoldId::AuctionSupply { auction },
            holder: config.seller,
            asset,
            amount: config.volume_lots * config.lot_t,
        });
        if let Some(c) = config.containment {
            out.push(Settlement::ReleaseHold {
                hold: HoldId::AuctionContainment { auction },
                holder: c.account,
                asset,
                amount: c.volume_lots * config.lot_t,
            });
        }
    }
}

fn release_bid(auction: AuctionId, bid: BidId, holder: AccountId, amount: u64) -> Settlement {
    Settlement::ReleaseHold {
        hold: HoldId::AuctionBid { auction, bid },
        holder,
        asset: Asset::CashFen,
        amount,
    }
}
