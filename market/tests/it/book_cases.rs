//! Hand-checked continuous-trading cases.

use crate::common::*;
use market::{
    AccountId, Asset, DecimalOrder, HoldId, InstrumentId, MarketError, OrderPrice, OrderStatus,
    SelfTradePrevention, Settlement, Side, TimeInForce,
};
use rust_decimal::Decimal;
use std::str::FromStr;

const RICH: u64 = 1_000_000_000;

#[test]
fn better_price_fills_first_then_time_priority_and_price_improvement_is_released() {
    let mut h = Harness::new(&[1, 2, 3, 4], 1_000, RICH);
    let (a, _) = h.order(limit(1, Side::Sell, 10_000, 1)).unwrap();
    let (b, _) = h.order(limit(2, Side::Sell, 10_000, 1)).unwrap();
    let (c, _) = h.order(limit(3, Side::Sell, 9_900, 1)).unwrap();
    let (ack, out) = h.order(limit(4, Side::Buy, 10_100, 3)).unwrap();
    assert_eq!(ack.status, OrderStatus::Filled);
    let trades = h.market.book(RIGHTS).unwrap().trades_after(0).to_vec();
    let makers: Vec<_> = trades
        .iter()
        .map(|t| (t.sell_order, t.price_ticks))
        .collect();
    assert_eq!(
        makers,
        vec![(c.order, 9_900), (a.order, 10_000), (b.order, 10_000)]
    );
    assert_eq!(
        trades.iter().map(|t| t.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // Held at 101.00 for 3 lots, paid 99.00 + 100.00 + 100.00: (30300 − 29900) fen × 10 t.
    assert_eq!(
        out.last(),
        Some(&Settlement::ReleaseHold {
            hold: HoldId::Order {
                instrument: RIGHTS,
                order: ack.order
            },
            holder: account(4),
            asset: Asset::CashFen,
            amount: 4_000,
        })
    );
    assert_eq!(h.rights(4), 1_030);
    assert_eq!(h.cash(3), RICH + 99_000);
    assert_eq!(h.ledger.open_holds(), 0);
}

#[test]
fn partial_fill_rests_and_cancel_releases_the_rest() {
    let mut h = Harness::new(&[1, 2], 1_000, RICH);
    let (sell, _) = h.order(limit(1, Side::Sell, 10_000, 5)).unwrap();
    let (buy, _) = h.order(limit(2, Side::Buy, 10_000, 2)).unwrap();
    assert_eq!(buy.status, OrderStatus::Filled);
    let book = h.market.book(RIGHTS).unwrap();
    assert_eq!(book.resting(sell.order).map(|o| o.lots), Some(3));
    let mut out = Vec::new();
    assert_eq!(
        h.market
            .cancel_order(RIGHTS, sell.order, account(2), &mut out),
        Err(MarketError::NotOrderOwner {
            order: sell.order,
            account: account(2)
        })
    );
    h.market
        .cancel_order(RIGHTS, sell.order, account(1), &mut out)
        .unwrap();
    h.post(&out);
    assert_eq!(out.len(), 1);
    assert!(matches!(out[0], Settlement::ReleaseHold { amount: 30, .. }));
    assert_eq!(h.ledger.open_holds(), 0);
    let mut again = Vec::new();
    assert_eq!(
        h.market
            .cancel_order(RIGHTS, sell.order, account(1), &mut again),
        Err(MarketError::UnknownOrder(sell.order))
    );
    assert!(again.is_empty());
}

#[test]
fn immediate_or_cancel_and_fill_or_kill() {
    let mut h = Harness::new(&[1, 2], 1_000, RICH);
    h.order(limit(1, Side::Sell, 10_000, 2)).unwrap();
    let mut fok = limit(2, Side::Buy, 10_000, 3);
    fok.time_in_force = TimeInForce::FillOrKill;
    let (ack, out) = h.order(fok).unwrap();
    assert_eq!(ack.status, OrderStatus::Killed);
    assert!(out.is_empty(), "a killed order holds nothing");
    fok.lots = 2;
    let (ack, _) = h.order(fok).unwrap();
    assert_eq!((ack.status, ack.filled_lots), (OrderStatus::Filled, 2));

    h.order(limit(1, Side::Sell, 10_000, 1)).unwrap();
    let mut ioc = limit(2, Side::Buy, 10_000, 4);
    ioc.time_in_force = TimeInForce::ImmediateOrCancel;
    let (ack, _) = h.order(ioc).unwrap();
    assert_eq!(
        (ack.status, ack.filled_lots, ack.resting_lots),
        (OrderStatus::Cancelled, 1, 0)
    );
    assert_eq!(h.market.book(RIGHTS).unwrap().live_orders(), 0);
    assert_eq!(h.ledger.open_holds(), 0);
}

#[test]
fn market_order_sweeps_within_the_band_and_is_backed_at_the_band_edge() {
    let mut h = Harness::new(&[1, 2], 1_000, RICH);
    h.order(limit(1, Side::Sell, 10_500, 1)).unwrap();
    h.order(limit(1, Side::Sell, 11_000, 1)).unwrap();
    let request = market::OrderRequest {
        price: OrderPrice::Market,
        ..limit(2, Side::Buy, 0, 3)
    };
    let (ack, out) = h.order(request).unwrap();
    assert_eq!((ack.status, ack.filled_lots), (OrderStatus::Cancelled, 2));
    assert!(matches!(
        out[0],
        Settlement::PlaceHold {
            amount: 330_000, // 3 lots × 10 t × 110.00 CNY
            ..
        }
    ));
}

#[test]
fn self_trade_prevention_policies() {
    let mut h = Harness::new(&[1, 2], 1_000, RICH);
    let (own, _) = h.order(limit(1, Side::Sell, 10_000, 1)).unwrap();
    h.order(limit(2, Side::Sell, 10_000, 1)).unwrap();
    let (ack, _) = h.order(limit(1, Side::Buy, 10_000, 1)).unwrap();
    assert_eq!(ack.status, OrderStatus::Filled);
    let trade = h.market.book(RIGHTS).unwrap().trades_after(0)[0];
    assert_eq!((trade.buyer, trade.seller), (account(1), account(2)));
    assert!(h.market.book(RIGHTS).unwrap().resting(own.order).is_none());

    let mut h = Harness::with(&[1, 2], 1_000, RICH, SelfTradePrevention::CancelIncoming);
    let (own, _) = h.order(limit(1, Side::Sell, 10_000, 1)).unwrap();
    h.order(limit(2, Side::Sell, 10_000, 1)).unwrap();
    let (ack, _) = h.order(limit(1, Side::Buy, 10_000, 2)).unwrap();
    assert_eq!((ack.status, ack.filled_lots), (OrderStatus::Cancelled, 0));
    assert!(h.market.book(RIGHTS).unwrap().resting(own.order).is_some());
    assert!(h.market.book(RIGHTS).unwrap().trades_after(0).is_empty());
}

#[test]
fn bad_orders_are_refused_and_change_nothing() {
    let mut h = Harness::new(&[1, 2], 100, 1_000);
    h.market.rules_mut().freeze(account(2));
    h.market.rules_mut().holding_limits.set_default(RIGHTS, 120);
    let cases = [
        (limit(1, Side::Buy, 11_001, 1), "outside band"),
        (limit(1, Side::Sell, 8_999, 1), "outside band"),
        (limit(1, Side::Sell, 10_000, 11), "beyond rights"),
        (limit(1, Side::Buy, 10_000, 1), "beyond cash"),
        (limit(2, Side::Sell, 10_000, 1), "frozen"),
        (limit(1, Side::Sell, 10_000, 0), "zero"),
        (limit(1, Side::Sell, 10_000, 1_000), "block size"),
    ];
    for (request, why) in cases {
        let before = h.market.book(RIGHTS).unwrap().live_orders();
        let mut out = Vec::new();
        let result = h
            .market
            .submit_order(RIGHTS, &request, &h.ledger, h.now, &mut out);
        assert!(result.is_err(), "{why}");
        assert!(out.is_empty(), "{why}: nothing held");
        assert_eq!(h.market.book(RIGHTS).unwrap().live_orders(), before);
    }
    let mut out = Vec::new();
    assert_eq!(
        h.market.submit_order(
            InstrumentId(9),
            &limit(1, Side::Sell, 10_000, 1),
            &h.ledger,
            h.now,
            &mut out
        ),
        Err(MarketError::UnknownInstrument(InstrumentId(9)))
    );
    let dec = |s: &str| Decimal::from_str(s).unwrap();
    let edge = |price: &str, quantity: &str| DecimalOrder {
        owner: account(1),
        side: Side::Sell,
        price_cny_per_t: Some(dec(price)),
        quantity_t: dec(quantity),
        time_in_force: TimeInForce::Day,
    };
    for (order, expected) in [
        (edge("100.001", "10"), "TooManyDecimalPlaces"),
        (edge("100.00", "15"), "NotMultipleOfLot"),
        (edge("100.00", "10.5"), "TooManyDecimalPlaces"),
    ] {
        let err = h
            .market
            .submit_decimal_order(RIGHTS, &order, &h.ledger, h.now, &mut out)
            .unwrap_err();
        assert!(format!("{err:?}").starts_with(expected), "{err:?}");
    }
    assert!(out.is_empty());
    let ok = h
        .market
        .submit_decimal_order(RIGHTS, &edge("100.50", "20"), &h.ledger, h.now, &mut out)
        .unwrap();
    assert_eq!(ok.status, OrderStatus::Resting);
    assert_eq!(
        h.market.book(RIGHTS).unwrap().best_ask_ticks(),
        Some(10_050)
    );
}

#[test]
fn holding_and_purchase_limits_count_open_purchases() {
    let mut h = Harness::new(&[1, 2], 100, RICH);
    h.market.rules_mut().holding_limits.set_default(RIGHTS, 150);
    h.market
        .rules_mut()
        .purchase_limits_per_day
        .set_for(RIGHTS, account(2), 1_000);
    // Account 2 holds 100 t: 5 lots (50 t) reach the limit, the next lot is refused.
    h.order(limit(2, Side::Buy, 10_000, 5)).unwrap();
    assert!(matches!(
        h.order(limit(2, Side::Buy, 10_000, 1)),
        Err(MarketError::HoldingLimitExceeded {
            would_hold_t: 160,
            limit_t: 150,
            ..
        })
    ));
    h.market
        .rules_mut()
        .holding_limits
        .set_for(RIGHTS, account(2), 10_000);
    h.market
        .rules_mut()
        .purchase_limits_per_day
        .set_for(RIGHTS, account(2), 60);
    assert!(matches!(
        h.order(limit(2, Side::Buy, 10_000, 2)),
        Err(MarketError::PurchaseLimitExceeded {
            would_buy_t: 70,
            ..
        })
    ));
    h.order(limit(1, Side::Sell, 10_000, 5)).unwrap();
    assert_eq!(h.rights(2), 150);
    // Bought 50 t today: 10 more are allowed, 20 are not.
    assert!(h.order(limit(2, Side::Buy, 10_000, 2)).is_err());
    assert!(h.order(limit(2, Side::Buy, 10_000, 1)).is_ok());
}

#[test]
fn market_data_and_day_close_at_vwap() {
    let mut h = Harness::new(&[1, 2], 1_000, RICH);
    for (price, lots) in [(10_000, 1), (10_200, 3), (9_900, 1)] {
        h.order(limit(1, Side::Sell, price, lots)).unwrap();
        h.order(limit(2, Side::Buy, price, lots)).unwrap();
    }
    h.order(limit(1, Side::Sell, 10_300, 2)).unwrap();
    h.order(limit(1, Side::Sell, 10_400, 1)).unwrap();
    h.order(limit(2, Side::Buy, 9_500, 4)).unwrap();
    let book = h.market.book(RIGHTS).unwrap();
    let depth = book.depth(5);
    assert_eq!(
        depth
            .asks
            .iter()
            .map(|l| (l.price_ticks, l.lots))
            .collect::<Vec<_>>(),
        vec![(10_300, 2), (10_400, 1)]
    );
    assert_eq!(depth.bids[0].price_ticks, 9_500);
    let day = *book.daily();
    assert_eq!(
        (
            day.open_ticks,
            day.high_ticks,
            day.low_ticks,
            day.last_ticks
        ),
        (Some(10_000), Some(10_200), Some(9_900), Some(9_900))
    );
    // VWAP = (10000 + 3×10200 + 9900) / 5 = 10100.
    assert_eq!(day.vwap_ticks(), Some(10_100));
    let mut out = Vec::new();
    let closes = h.market.end_day(&mut out).unwrap();
    h.post(&out);
    assert_eq!(closes[&RIGHTS].close_ticks, 10_100);
    assert_eq!(closes[&RIGHTS].expired_orders, 3);
    assert_eq!(h.ledger.open_holds(), 0);
    let book = h.market.book(RIGHTS).unwrap();
    assert_eq!(
        (book.band().lower_ticks, book.band().upper_ticks),
        (9_090, 11_110)
    );
    assert_eq!(book.live_orders(), 0);
}

#[test]
fn freezing_cancels_resting_orders() {
    let mut h = Harness::new(&[1, 2], 1_000, RICH);
    h.order(limit(1, Side::Sell, 10_000, 1)).unwrap();
    h.order(limit(1, Side::Buy, 9_000, 1)).unwrap();
    let mut out = Vec::new();
    let report = h.market.freeze(AccountId(1), h.now, &mut out);
    h.post(&out);
    assert_eq!(report.cancelled_orders, 2);
    assert_eq!(h.ledger.open_holds(), 0);
    assert_eq!(
        h.order(limit(1, Side::Sell, 10_000, 1)).map(|_| ()),
        Err(MarketError::AccountFrozen(account(1)))
    );
}

#[test]
fn limits_switched_on_mid_day_count_earlier_open_purchases_and_trades() {
    let mut h = Harness::new(&[1, 2], 100, RICH);
    h.order(limit(1, Side::Sell, 10_000, 2)).unwrap();
    h.order(limit(2, Side::Buy, 10_000, 2)).unwrap();
    h.order(limit(2, Side::Buy, 9_900, 3)).unwrap();
    h.market
        .rules_mut()
        .purchase_limits_per_day
        .set_default(RIGHTS, 55);
    // Bought 20 t, 30 t open: 5 t more would be fine, but the lot is 10 t.
    assert!(matches!(
        h.order(limit(2, Side::Buy, 9_900, 1)),
        Err(MarketError::PurchaseLimitExceeded {
            would_buy_t: 60,
            limit_t: 55,
            ..
        })
    ));
}

/// The bureau narrows the bands: both take effect at the next close (around the new close),
/// so today's orders and block trades keep theirs; a block band narrower than the regular one
/// is refused and changes nothing.
#[test]
fn new_bands_take_effect_at_the_next_close() {
    let mut h = Harness::new(&[1, 2], 1_000, RICH);
    let before = h.market.book(RIGHTS).unwrap().band();
    let refused = h.market.set_bands(RIGHTS, 2_000, 1_000);
    assert!(
        matches!(refused, Err(MarketError::InvalidConfig(_))),
        "{refused:?}"
    );
    let book = h.market.book(RIGHTS).unwrap();
    assert_eq!(book.bands_from_next_close(), (1_000, 3_000));
    h.market.set_bands(RIGHTS, 500, 2_000).unwrap();
    let book = h.market.book(RIGHTS).unwrap();
    assert_eq!(book.band(), before, "today's band stays");
    let spec = book.spec();
    assert_eq!((spec.regular_band_bp, spec.block_band_bp), (1_000, 3_000));
    assert_eq!(book.bands_from_next_close(), (500, 2_000));
    let mut out = Vec::new();
    h.market.end_day(&mut out).unwrap();
    let book = h.market.book(RIGHTS).unwrap();
    let band = book.band();
    assert_eq!((band.lower_ticks, band.upper_ticks), (9_500, 10_500));
    let block = book.spec().block_band(book.previous_close_ticks());
    assert_eq!((block.lower_ticks, block.upper_ticks), (8_000, 12_000));
}
