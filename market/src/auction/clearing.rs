//! Pure sealed-bid clearing: bids and rules in, awards out. No state, no clock, no I/O, so a
//! stored auction re-runs to exactly the same result.
//!
//! Rules, in order:
//! 1. Bids below the floor (the reserve price) are ignored.
//! 2. Bids are served from the highest price down. A bidder's awards never exceed its cap: its
//!    higher bids are served first, then its bids at one price in submission order.
//! 3. The clearing price is the price of the level at which the served quantity reaches the
//!    supply. Bids above it are filled in full (up to the cap); the supply left for the tied
//!    bids at the clearing price is shared pro rata to their (capped) quantities, rounded down
//!    to whole lots, and the lots left over go one at a time to the tied bidders in an order
//!    drawn from the auction's seed.
//! 4. If all bids together do not reach the supply, the auction is undersubscribed: it is either
//!    cancelled or every bid is filled at the floor and the rest stays unsold.
//! 5. A cost-containment reserve of R lots is released when the auction would clear at or
//!    above its trigger price T: the supply becomes S + R among bids at or above T. If those
//!    bids want less than S + R, the price is T and the reserve is sold only as far as needed.
//!
//! Ranking uses a counting sort on the price (O(N + P) for a P-tick price range), falling back
//! to a comparison sort when the range of prices is very wide.

use super::tie_break::TieDraw;
use crate::ids::BidId;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;

/// Widest price range (in ticks) ranked by counting sort; wider ranges use a comparison sort.
const COUNTING_SORT_TICKS_MAX: u64 = 1 << 22;

/// A bid as the clearing sees it: `bidder` is a dense index into the auction's bidder table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBid {
    pub bid: BidId,
    pub bidder: u32,
    pub price_ticks: u64,
    pub lots: u64,
}

/// Uniform price (everyone pays the clearing price) or pay-as-bid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pricing {
    Uniform,
    PayAsBid,
}

/// What to do when the bids do not cover the supply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UndersubscribedPolicy {
    /// Cancel the auction: nothing is sold, every hold is released.
    Cancel,
    /// Fill every bid at the reserve price; the rest stays unsold.
    SellAvailable,
}

/// The numbers the clearing needs, in lots and ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingRules {
    pub volume_lots: u64,
    pub reserve_price_ticks: u64,
    pub bidder_cap_lots: u64,
    /// (trigger price in ticks, reserve volume in lots)
    pub containment: Option<(u64, u64)>,
    pub pricing: Pricing,
    pub undersubscribed: UndersubscribedPolicy,
}

/// Lots awarded to one bid and the price it pays per tonne (in ticks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Award {
    pub bid: BidId,
    pub bidder: u32,
    pub lots: u64,
    pub price_ticks: u64,
}

/// How the tied bids at the clearing price were served.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TieBreak {
    /// Lots that were left for the tied bids.
    pub lots: u64,
    /// Lots handed out one at a time after the pro-rata shares.
    pub leftover_lots: u64,
    /// Tied bidders (dense indices) in the order drawn from the seed; the first
    /// `leftover_lots` of them received one extra lot.
    pub draw: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Clearing {
    Cleared(ClearedAuction),
    /// Undersubscribed with `UndersubscribedPolicy::Cancel`.
    Cancelled {
        demand_lots: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearedAuction {
    pub clearing_price_ticks: u64,
    /// Lots sold in total, base supply and containment reserve together.
    pub sold_lots: u64,
    /// Lots of the containment reserve among `sold_lots`.
    pub containment_sold_lots: u64,
    /// Lots of the base supply left unsold.
    pub unsold_lots: u64,
    /// Awards with at least one lot, in bid order.
    pub awards: Vec<Award>,
    /// Present when the clearing price was shared by more demand than supply left.
    pub tie_break: Option<TieBreak>,
}

/// Clears `bids` (bid `i` must be `BidId(i)`) for bidders `0..bidder_count`.
pub fn clear(
    rules: &ClearingRules,
    bids: &[SealedBid],
    bidder_count: usize,
    tie_seed: [u8; 32],
) -> Clearing {
    let ranked = rank_by_price(bids, rules.reserve_price_ticks);
    let mut walk = Walk::new(bids, bidder_count, rules.bidder_cap_lots, tie_seed);
    let base = walk.run(&ranked, rules.volume_lots, rules.reserve_price_ticks);
    if base.served_lots < rules.volume_lots {
        if rules.undersubscribed == UndersubscribedPolicy::Cancel {
            return Clearing::Cancelled {
                demand_lots: base.served_lots,
            };
        }
        return Clearing::Cleared(walk.finish(rules, base, 0));
    }
    match rules.containment {
        Some((trigger_ticks, reserve_lots)) if base.price_ticks >= trigger_ticks => {
            let at_or_above =
                ranked.partition_point(|&i| bids[i as usize].price_ticks >= trigger_ticks);
            let mut walk = Walk::new(bids, bidder_count, rules.bidder_cap_lots, tie_seed);
            let supply = rules.volume_lots + reserve_lots;
            let released = walk.run(&ranked[..at_or_above], supply, trigger_ticks);
            // Demand at the trigger covers the base supply (that is why the base cleared at
            // or above it), so only the reserve can be left over.
            debug_assert!(released.served_lots >= rules.volume_lots);
            let containment_sold = released.served_lots - rules.volume_lots;
            Clearing::Cleared(walk.finish(rules, released, containment_sold))
        }
        _ => Clearing::Cleared(walk.finish(rules, base, 0)),
    }
}

/// Indices of bids at or above `floor_ticks`, highest price first, then in bid order.
fn rank_by_price(bids: &[SealedBid], floor_ticks: u64) -> Vec<u32> {
    let eligible = |b: &SealedBid| b.price_ticks >= floor_ticks && b.lots > 0;
    let Some(max) = bids
        .iter()
        .filter(|b| eligible(b))
        .map(|b| b.price_ticks)
        .max()
    else {
        return Vec::new();
    };
    let range = max - floor_ticks + 1;
    if range > COUNTING_SORT_TICKS_MAX {
        let mut ranked: Vec<u32> = (0..bids.len() as u32)
            .filter(|&i| eligible(&bids[i as usize]))
            .collect();
        ranked.sort_by_key(|&i| (Reverse(bids[i as usize].price_ticks), i));
        return ranked;
    }
    // Counting sort keyed by distance below the highest price; stable, so bid order is kept
    // within a price.
    let mut starts = vec![0_u32; range as usize + 1];
    for bid in bids.iter().filter(|b| eligible(b)) {
        starts[(max - bid.price_ticks) as usize + 1] += 1;
    }
    for k in 1..starts.len() {
        starts[k] += starts[k - 1];
    }
    let mut ranked = vec![0_u32; starts[range as usize] as usize];
    for (i, bid) in bids.iter().enumerate() {
        if eligible(bid) {
            let slot = &mut starts[(max - bid.price_ticks) as usize];
            ranked[*slot as usize] = i as u32;
            *slot += 1;
        }
    }
    ranked
}

/// Where one pass of the walk stopped.
struct WalkEnd {
    served_lots: u64,
    /// The clearing price: the last level served, or the floor when undersubscribed.
    price_ticks: u64,
    tie_break: Option<TieBreak>,
}

struct Walk<'a> {
    bids: &'a [SealedBid],
    used_lots: Vec<u64>,
    awarded_lots: Vec<u64>,
    cap_lots: u64,
    tie_seed: [u8; 32],
}

impl<'a> Walk<'a> {
    fn new(bids: &'a [SealedBid], bidder_count: usize, cap_lots: u64, tie_seed: [u8; 32]) -> Self {
        Walk {
            bids,
            used_lots: vec![0; bidder_count],
            awarded_lots: vec![0; bids.len()],
            cap_lots,
            tie_seed,
        }
    }

    fn run(&mut self, ranked: &[u32], supply_lots: u64, floor_ticks: u64) -> WalkEnd {
        let mut served = 0_u64;
        let mut start = 0;
        while start < ranked.len() {
            let price = self.bids[ranked[start] as usize].price_ticks;
            let end = start
                + ranked[start..]
                    .iter()
                    .position(|&i| self.bids[i as usize].price_ticks != price)
                    .unwrap_or(ranked.len() - start);
            let level = &ranked[start..end];
            let wanted = self.serve_capped(level);
            if wanted <= supply_lots - served {
                served += wanted;
                if served == supply_lots {
                    return self.end(served, price, None);
                }
                start = end;
                continue;
            }
            let left = supply_lots - served;
            let tie_break = self.share_tied(level, left);
            return self.end(supply_lots, price, Some(tie_break));
        }
        self.end(served, floor_ticks, None)
    }

    fn end(&self, served_lots: u64, price_ticks: u64, tie_break: Option<TieBreak>) -> WalkEnd {
        WalkEnd {
            served_lots,
            price_ticks,
            tie_break,
        }
    }

    /// Awards each bid of a level its quantity trimmed to its bidder's remaining cap.
    fn serve_capped(&mut self, level: &[u32]) -> u64 {
        let mut wanted = 0_u64;
        for &i in level {
            let bid = self.bids[i as usize];
            let used = &mut self.used_lots[bid.bidder as usize];
            let lots = bid.lots.min(self.cap_lots - *used);
            *used += lots;
            self.awarded_lots[i as usize] = lots;
            wanted = wanted.saturating_add(lots);
        }
        wanted
    }

    /// Replaces the capped quantities of the tied level by pro-rata shares of `left` lots plus
    /// the seeded one-lot remainder.
    fn share_tied(&mut self, level: &[u32], left: u64) -> TieBreak {
        // One entry per tied bidder, in bidder order, holding its bids in bid order.
        let mut tied: Vec<(u32, u32)> = level
            .iter()
            .filter(|&&i| self.awarded_lots[i as usize] > 0)
            .map(|&i| (self.bids[i as usize].bidder, i))
            .collect();
        tied.sort_unstable();
        let mut bidders: Vec<(u32, u64)> = Vec::new();
        for &(bidder, i) in &tied {
            let lots = self.awarded_lots[i as usize];
            match bidders.last_mut() {
                Some((last, total)) if *last == bidder => *total += lots,
                _ => bidders.push((bidder, lots)),
            }
        }
        let demand: u128 = bidders.iter().map(|&(_, lots)| u128::from(lots)).sum();
        let mut shares: Vec<u64> = bidders
            .iter()
            .map(|&(_, lots)| pro_rata(left, lots, demand))
            .collect();
        let leftover = left - shares.iter().sum::<u64>();
        let mut draw: Vec<usize> = (0..bidders.len()).collect();
        TieDraw::new(self.tie_seed).shuffle(&mut draw);
        // Each share was rounded down from a value below the bidder's demand, so one more lot
        // still fits, and fewer lots are left over than there are tied bidders.
        debug_assert!((leftover as usize) < bidders.len().max(1));
        for &k in draw.iter().take(leftover as usize) {
            shares[k] += 1;
        }
        let mut next_bid = 0;
        for (k, &(bidder, _)) in bidders.iter().enumerate() {
            let mut share = shares[k];
            while next_bid < tied.len() && tied[next_bid].0 == bidder {
                let i = tied[next_bid].1 as usize;
                let lots = self.awarded_lots[i].min(share);
                self.awarded_lots[i] = lots;
                share -= lots;
                next_bid += 1;
            }
        }
        for &i in level {
            // Bids that were capped to zero stay at zero; nothing else to reset.
            debug_assert!(self.awarded_lots[i as usize] <= self.bids[i as usize].lots);
        }
        TieBreak {
            lots: left,
            leftover_lots: leftover,
            draw: draw.iter().map(|&k| bidders[k].0).collect(),
        }
    }

    fn finish(
        self,
        rules: &ClearingRules,
        end: WalkEnd,
        containment_sold_lots: u64,
    ) -> ClearedAuction {
        let awards = self
            .awarded_lots
            .iter()
            .enumerate()
            .filter(|&(_, &lots)| lots > 0)
            .map(|(i, &lots)| {
                let bid = self.bids[i];
                Award {
                    bid: bid.bid,
                    bidder: bid.bidder,
                    lots,
                    price_ticks: match rules.pricing {
                        Pricing::Uniform => end.price_ticks,
                        Pricing::PayAsBid => bid.price_ticks,
                    },
                }
            })
            .collect();
        ClearedAuction {
            clearing_price_ticks: end.price_ticks,
            sold_lots: end.served_lots,
            containment_sold_lots,
            unsold_lots: rules.volume_lots.saturating_sub(end.served_lots),
            awards,
            tie_break: end.tie_break,
        }
    }
}

/// ⌊left × lots / demand⌋ without overflow.
fn pro_rata(left: u64, lots: u64, demand: u128) -> u64 {
    let share = u128::from(left) * u128::from(lots) / demand;
    // share ≤ left because lots ≤ demand.
    share as u64
}
