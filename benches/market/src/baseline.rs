//! The simple designs the engine is compared with, run on the same inputs in the same process.
//!
//! `BTreeBook`: `BTreeMap<price, VecDeque<order>>` per side plus a `HashMap` from order id to
//! (side, price); cancel scans its level. Price-time priority, no holds, no settlement output
//! (it only records trades), so the comparison flatters the baseline.
//!
//! `sort_clear`: sort all bids by (price desc, random key), one walk with a per-bidder cap
//! array; the marginal bid takes the remainder (no pro-rata tie-break).

use market::Side;
use market::auction::SealedBid;
use std::collections::{BTreeMap, HashMap, VecDeque};

#[derive(Default)]
pub struct BTreeBook {
    bids: BTreeMap<u64, VecDeque<(u64, u64)>>,
    asks: BTreeMap<u64, VecDeque<(u64, u64)>>,
    index: HashMap<u64, (Side, u64)>,
    pub trades: Vec<(u64, u64, u64)>,
}

impl BTreeBook {
    /// Matches then rests (day limit) or drops (market) the remainder.
    pub fn submit(&mut self, id: u64, side: Side, price: Option<u64>, mut lots: u64) {
        while lots > 0 {
            let best = match side {
                Side::Buy => self.asks.first_key_value().map(|(&p, _)| p),
                Side::Sell => self.bids.last_key_value().map(|(&p, _)| p),
            };
            let Some(best) = best else { break };
            let crosses = match (side, price) {
                (_, None) => true,
                (Side::Buy, Some(limit)) => best <= limit,
                (Side::Sell, Some(limit)) => best >= limit,
            };
            if !crosses {
                break;
            }
            let book = match side {
                Side::Buy => &mut self.asks,
                Side::Sell => &mut self.bids,
            };
            let Some(level) = book.get_mut(&best) else {
                break;
            };
            while lots > 0 {
                let Some(front) = level.front_mut() else {
                    break;
                };
                let fill = lots.min(front.1);
                front.1 -= fill;
                lots -= fill;
                self.trades.push((front.0, id, fill));
                if front.1 == 0 {
                    self.index.remove(&front.0);
                    level.pop_front();
                }
            }
            if level.is_empty() {
                book.remove(&best);
            }
        }
        if let (Some(price), true) = (price, lots > 0) {
            let book = match side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            book.entry(price).or_default().push_back((id, lots));
            self.index.insert(id, (side, price));
        }
    }

    pub fn cancel(&mut self, id: u64) -> bool {
        let Some((side, price)) = self.index.remove(&id) else {
            return false;
        };
        let book = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if let Some(level) = book.get_mut(&price) {
            level.retain(|&(order, _)| order != id);
            if level.is_empty() {
                book.remove(&price);
            }
        }
        true
    }
}

/// Returns (clearing price, lots sold).
pub fn sort_clear(
    bids: &[SealedBid],
    bidders: usize,
    volume: u64,
    cap: u64,
    seed: u64,
) -> (u64, u64) {
    let mut rng = crate::workload::Rng::new(seed);
    let mut keyed: Vec<(u64, u64, u32)> = bids
        .iter()
        .enumerate()
        .map(|(i, b)| (b.price_ticks, rng.next(), i as u32))
        .collect();
    keyed.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut used = vec![0_u64; bidders];
    let mut sold = 0;
    let mut price = 0;
    for &(p, _, i) in &keyed {
        let bid = bids[i as usize];
        let lots = bid
            .lots
            .min(cap - used[bid.bidder as usize])
            .min(volume - sold);
        used[bid.bidder as usize] += lots;
        sold += lots;
        price = p;
        if sold == volume {
            break;
        }
    }
    (price, sold)
}
