//! Properties of sealed-bid auctions over random bids and rules.

use crate::auction_cases::{BUREAU, CLOSES_AT, CONTAINMENT, config, ledger_for};
use crate::common::*;
use market::auction::{Clearing, Pricing, UndersubscribedPolicy};
use market::{AccountRules, Asset, Auction, ContainmentReserve, Timestamp, seed_commitment};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::BTreeMap;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn auctions_respect_caps_reserve_priority_conservation_and_replay(
        bids in vec((1..9_u64, 45..80_u64, 1..40_u64), 0..60),
        volume in 1..200_u64,
        cap_bp in 500..=10_000_u64,
        pay_as_bid in any::<bool>(),
        containment in proptest::option::of((55..75_u64, 1..50_u64)),
        cancel_when_short in any::<bool>(),
        seed in any::<[u8; 32]>(),
    ) {
        let mut cfg = config(volume, 50);
        cfg.bidder_cap_bp = cap_bp;
        prop_assume!(cfg.bidder_cap_lots() > 0);
        cfg.pricing = if pay_as_bid { Pricing::PayAsBid } else { Pricing::Uniform };
        cfg.containment = containment.map(|(trigger, lots)| ContainmentReserve {
            account: account(CONTAINMENT),
            trigger_price_ticks: trigger,
            volume_lots: lots,
        });
        cfg.undersubscribed = if cancel_when_short {
            UndersubscribedPolicy::Cancel
        } else {
            UndersubscribedPolicy::SellAvailable
        };
        let cap = cfg.bidder_cap_lots();
        let bidders: Vec<u64> = (1..9).collect();
        let mut ledger = ledger_for(&cfg, &bidders);
        let rights_total = ledger.total(RIGHTS_ASSET);
        let cash_total = ledger.total(Asset::CashFen);
        let rules = AccountRules::default();
        let mut out = Vec::new();
        let mut auction = Auction::open(cfg.clone(), seed_commitment(&seed), &ledger, &rules, &mut out).unwrap();
        ledger.apply_all(&out).unwrap();
        for &(bidder, price, lots) in &bids {
            out.clear();
            let result = auction.submit_bid(account(bidder), price, lots, &ledger, &rules, Timestamp(0), &mut out);
            prop_assert_eq!(result.is_err(), price < 50);
            ledger.apply_all(&out).unwrap();
        }
        out.clear();
        let record = auction.close(seed, CLOSES_AT, &mut out).unwrap().clone();
        ledger.apply_all(&out).unwrap();

        prop_assert_eq!(ledger.open_holds(), 0);
        prop_assert_eq!(ledger.total(RIGHTS_ASSET), rights_total);
        prop_assert_eq!(ledger.total(Asset::CashFen), cash_total);
        prop_assert_eq!(record.verify(), Ok(()));

        let result = match &record.clearing {
            Clearing::Cancelled { demand_lots } => {
                prop_assert!(cancel_when_short && *demand_lots < volume);
                prop_assert_eq!(ledger.posted(account(BUREAU), RIGHTS_ASSET), 1_000_000);
                return Ok(());
            }
            Clearing::Cleared(result) => result,
        };
        let mut per_bidder: BTreeMap<u32, u64> = BTreeMap::new();
        for award in &result.awards {
            let bid = record.bids[award.bid.0 as usize];
            prop_assert!(award.lots <= bid.lots);
            prop_assert!(award.price_ticks >= 50, "award below the reserve");
            match cfg.pricing {
                Pricing::Uniform => prop_assert_eq!(award.price_ticks, result.clearing_price_ticks),
                Pricing::PayAsBid => prop_assert_eq!(award.price_ticks, bid.price_ticks),
            }
            prop_assert!(bid.price_ticks >= result.clearing_price_ticks);
            *per_bidder.entry(award.bidder).or_default() += award.lots;
        }
        for (&bidder, &lots) in &per_bidder {
            prop_assert!(lots <= cap, "bidder {} won {} above its cap {}", bidder, lots, cap);
        }
        let sold: u64 = result.awards.iter().map(|a| a.lots).sum();
        prop_assert_eq!(sold, result.sold_lots);
        prop_assert_eq!(sold, volume - result.unsold_lots + result.containment_sold_lots);
        if let Some(c) = cfg.containment {
            prop_assert!(result.containment_sold_lots <= c.volume_lots);
            if result.containment_sold_lots > 0 {
                prop_assert!(result.clearing_price_ticks >= c.trigger_price_ticks);
            }
        } else {
            prop_assert_eq!(result.containment_sold_lots, 0);
        }
        // No bid is served ahead of a better-priced one: a bid left short although its bidder
        // had cap to spare means nothing went to any lower price.
        let awarded: BTreeMap<u32, u64> = result.awards.iter().map(|a| (a.bid.0, a.lots)).collect();
        for bid in &record.bids {
            let got = awarded.get(&bid.bid.0).copied().unwrap_or(0);
            let bidder_total = per_bidder.get(&bid.bidder).copied().unwrap_or(0);
            if got < bid.lots && bidder_total < cap {
                for lower in record.bids.iter().filter(|b| b.price_ticks < bid.price_ticks) {
                    prop_assert_eq!(awarded.get(&lower.bid.0).copied().unwrap_or(0), 0);
                }
            }
        }
    }
}
