//! `ets auction clear` gives exactly what the registry's own auction gives at its close: the
//! same bids and seed through `market::Auction` (open, submit, close) and through the offline
//! reader award the same tonnes to the same bids at the same price, with the same tie draw.

use market::auction::{AuctionConfig, AuctionKind, Clearing, ContainmentReserve};
use market::{
    AccountId, AccountRules, Auction, AuctionId, InstrumentId, Timestamp, Unlimited,
    seed_commitment,
};
use offline::auction::{BidLine, PricingRule, Rules, Undersubscribed, clear, prepare};
use proptest::prelude::*;
use rust_decimal::Decimal;

const BIDDERS: [&str; 5] = [
    "重庆钢铁",
    "Fuling Power, Unit 3",
    "Changshou \"Chem\"",
    "D",
    "E",
];

fn rules(
    supply: u64,
    reserve: u64,
    cap: u64,
    containment: Option<(u64, u64)>,
    seed: [u8; 32],
) -> Rules {
    Rules {
        auction: 42,
        supply: Decimal::from(supply),
        reserve_price: Decimal::new(reserve as i64, 2),
        lot: 1,
        tick: Decimal::new(1, 2),
        bidder_cap_percent: Decimal::from(cap),
        pricing: PricingRule::Uniform,
        undersubscribed: Undersubscribed::SellAvailable,
        seed: hex::encode(seed),
        seed_commitment: None,
        containment: containment.map(|(trigger, volume)| offline::auction::Containment {
            trigger_price: Decimal::new((reserve + trigger) as i64, 2),
            volume: Decimal::from(volume),
        }),
    }
}

/// The registry's clearing of `bids` (bidder index, price in fen, tonnes): lots per bid in order
/// (below-reserve bids are refused by the registry, so they are skipped), and the price in fen.
fn registry(rules: &Rules, bids: &[(usize, u64, u64)]) -> (Vec<u64>, Option<u64>) {
    let prepared = prepare(rules).expect("valid rules");
    let r = &prepared.rules;
    let config = AuctionConfig {
        id: AuctionId(rules.auction),
        kind: AuctionKind::Primary,
        instrument: InstrumentId(1),
        seller: AccountId(1_000),
        proceeds_to: AccountId(1_000),
        lot_t: 1,
        tick_fen: 1,
        volume_lots: r.volume_lots,
        reserve_price_ticks: r.reserve_price_ticks,
        bidder_cap_bp: (rules.bidder_cap_percent * Decimal::ONE_HUNDRED)
            .to_string()
            .parse()
            .expect("bp"),
        pricing: market::auction::Pricing::Uniform,
        containment: r.containment.map(|(trigger, lots)| ContainmentReserve {
            account: AccountId(1_001),
            trigger_price_ticks: trigger,
            volume_lots: lots,
        }),
        undersubscribed: market::auction::UndersubscribedPolicy::SellAvailable,
        closes_at: Timestamp(10),
        bids_max: 1_000,
    };
    let account_rules = AccountRules::default();
    let mut out = Vec::new();
    let mut auction = Auction::open(
        config,
        seed_commitment(&prepared.seed),
        &Unlimited,
        &account_rules,
        &mut out,
    )
    .expect("opens");
    for &(bidder, price, lots) in bids.iter().filter(|b| b.1 >= r.reserve_price_ticks) {
        auction
            .submit_bid(
                AccountId(bidder as u64),
                price,
                lots,
                &Unlimited,
                &account_rules,
                Timestamp(0),
                &mut out,
            )
            .expect("bid accepted");
    }
    let record = auction
        .close(prepared.seed, Timestamp(10), &mut out)
        .expect("closes");
    match &record.clearing {
        Clearing::Cleared(c) => {
            let mut lots = vec![0; record.bids.len()];
            for award in &c.awards {
                lots[award.bid.0 as usize] = award.lots;
            }
            (lots, Some(c.clearing_price_ticks))
        }
        Clearing::Cancelled { .. } => (vec![0; record.bids.len()], None),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn offline_clearing_is_the_registrys(
        supply in 1_u64..300,
        reserve in 100_u64..110,
        cap in 1_u64..=100,
        containment in proptest::option::of((0_u64..8, 1_u64..100)),
        seed in any::<[u8; 32]>(),
        bids in proptest::collection::vec((0_usize..5, 95_u64..120, 1_u64..80), 0..40),
    ) {
        let rules = rules(supply, reserve, cap, containment, seed);
        prop_assume!(prepare(&rules).is_ok());
        let lines: Vec<(u64, BidLine)> = bids
            .iter()
            .enumerate()
            .map(|(i, &(bidder, price, lots))| {
                (i as u64 + 2, BidLine {
                    bid: None,
                    bidder: BIDDERS[bidder].to_owned(),
                    price: Decimal::new(price as i64, 2),
                    quantity: Decimal::from(lots),
                })
            })
            .collect();
        let outcome = clear(&prepare(&rules).expect("valid"), &lines, "bids.csv").expect("clears");
        let (lots, price) = registry(&rules, &bids);
        let entered: Vec<Decimal> = outcome
            .awards
            .iter()
            .filter(|a| a.status != "below_reserve")
            .map(|a| a.awarded)
            .collect();
        prop_assert_eq!(entered, lots.iter().map(|&l| Decimal::from(l)).collect::<Vec<_>>());
        prop_assert_eq!(outcome.clearing_price, price.map(|p| Decimal::new(p as i64, 2)));
        let sold: Decimal = outcome.awards.iter().map(|a| a.awarded).sum();
        prop_assert_eq!(sold, outcome.sold);
        prop_assert!(outcome.sold <= outcome.supply + outcome.containment_sold);
    }
}
