//! Deterministic workloads: a small PRNG, the mixed order-book operation stream and the sealed
//! bids for clearing.

use market::auction::SealedBid;
use market::{
    AccountRules, BidId, Book, InstrumentId, InstrumentSpec, OrderId, OrderPrice, OrderRequest,
    SelfTradePrevention, Side, TimeInForce, Timestamp, Unlimited,
};

/// Previous close in ticks: band ±3,000 ticks at ±10%.
pub const CLOSE_TICKS: u64 = 30_000;

/// SplitMix64: enough randomness for workloads, reproducible from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// A limit (day) or market (IOC) order; `owner` is unique per order so self-trade
    /// prevention never fires and both books see the same matches.
    Add {
        owner: u64,
        side: Side,
        price_ticks: Option<u64>,
        lots: u64,
    },
    /// Cancel the order created by the `add`-th `Add`, whose engine id is `order` (replays are
    /// deterministic, so the id is known when the stream is built and the timed loop needs no
    /// lookup table).
    Cancel { add: u32, order: OrderId },
}

pub struct Workload {
    /// Operations that build the book up to the live-order target (untimed).
    pub prefill: Vec<Op>,
    /// The measured operations.
    pub ops: Vec<Op>,
    pub adds: u32,
    pub cancels: u32,
    pub markets: u32,
}

pub fn spec() -> InstrumentSpec {
    let mut spec = InstrumentSpec::new(InstrumentId(1), 1, 1).expect("valid spec");
    spec.block_min_t = u64::MAX;
    spec
}

pub fn request(op: &Op) -> Option<OrderRequest> {
    match *op {
        Op::Add {
            owner,
            side,
            price_ticks,
            lots,
        } => Some(OrderRequest {
            owner: market::AccountId(owner),
            side,
            price: price_ticks.map_or(OrderPrice::Market, |price_ticks| OrderPrice::Limit {
                price_ticks,
            }),
            lots,
            time_in_force: if price_ticks.is_some() {
                TimeInForce::Day
            } else {
                TimeInForce::ImmediateOrCancel
            },
        }),
        Op::Cancel { .. } => None,
    }
}

/// Builds the stream against the real book so every cancel hits a live order: 10% market
/// orders, otherwise a limit order while the book holds fewer than `live_target` orders and a
/// cancel of a random live order when it holds more. Passive limits sit 1..=`spread_max` ticks
/// from the mid; 8% of limits cross it.
pub fn mixed(live_target: usize, ops: usize, spread_max: u64, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let mut book =
        Book::new(spec(), CLOSE_TICKS, SelfTradePrevention::CancelResting).expect("valid book");
    let rules = AccountRules::default();
    let mut out = Vec::new();
    let mut ids: Vec<OrderId> = Vec::new();
    let mut live: Vec<u32> = Vec::new();
    let mut workload = Workload {
        prefill: Vec::new(),
        ops: Vec::new(),
        adds: 0,
        cancels: 0,
        markets: 0,
    };
    let total = live_target + ops;
    for step in 0..total {
        let measured = step >= live_target;
        let op = if measured && rng.chance(10) {
            workload.markets += u32::from(measured);
            add(&mut rng, ids.len() as u64, None)
        } else if live.len() < live_target || live.is_empty() {
            workload.adds += u32::from(measured);
            let price = limit_price(&mut rng, spread_max);
            add(&mut rng, ids.len() as u64, Some(price))
        } else {
            workload.cancels += u32::from(measured);
            pick_live(&mut rng, &book, &ids, &mut live)
        };
        match request(&op) {
            Some(request) => {
                let ack = book
                    .submit(&request, &Unlimited, &rules, Timestamp(0), &mut out)
                    .expect("valid order");
                ids.push(ack.order);
                if book.resting(ack.order).is_some() {
                    live.push(ids.len() as u32 - 1);
                }
            }
            None => {
                if let Op::Cancel { add, order } = op {
                    book.cancel(order, market::AccountId(u64::from(add)), &mut out)
                        .expect("cancel hits a live order");
                }
            }
        }
        out.clear();
        if measured {
            workload.ops.push(op);
        } else {
            workload.prefill.push(op);
        }
    }
    workload
}

/// `distance` is ticks from the mid away from the other side (negative crosses the mid).
fn add(rng: &mut Rng, owner: u64, distance: Option<i64>) -> Op {
    let side = if rng.chance(50) {
        Side::Buy
    } else {
        Side::Sell
    };
    let price_ticks = distance.map(|d| match side {
        Side::Buy => CLOSE_TICKS.saturating_add_signed(-d),
        Side::Sell => CLOSE_TICKS.saturating_add_signed(d),
    });
    Op::Add {
        owner,
        side,
        price_ticks,
        lots: rng.range(1, 10),
    }
}

/// Distance from the mid: positive is passive, zero or negative crosses.
fn limit_price(rng: &mut Rng, spread_max: u64) -> i64 {
    if rng.chance(8) {
        -(rng.range(0, 5) as i64)
    } else {
        rng.range(1, spread_max) as i64
    }
}

fn pick_live(rng: &mut Rng, book: &Book, ids: &[OrderId], live: &mut Vec<u32>) -> Op {
    loop {
        let k = (rng.next() % live.len() as u64) as usize;
        let add = live[k];
        live.swap_remove(k);
        if book.resting(ids[add as usize]).is_some() {
            return Op::Cancel {
                add,
                order: ids[add as usize],
            };
        }
    }
}

/// `count` bids from `bidders` bidders at prices reserve..reserve+2,000 ticks, 1..=100 lots.
pub fn sealed_bids(count: usize, bidders: u32, reserve_ticks: u64, seed: u64) -> Vec<SealedBid> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| SealedBid {
            bid: BidId(i as u32),
            bidder: (rng.next() % u64::from(bidders)) as u32,
            price_ticks: rng.range(reserve_ticks, reserve_ticks + 2_000),
            lots: rng.range(1, 100),
        })
        .collect()
}
