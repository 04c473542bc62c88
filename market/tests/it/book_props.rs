//! Properties of the book over random command sequences, checked against the settlement
//! instructions applied to the in-memory ledger model.

use crate::common::*;
use market::{
    Asset, OrderId, OrderPrice, OrderRequest, OrderStatus, SelfTradePrevention, Settlement, Side,
    TimeInForce,
};
use proptest::collection::vec;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Command {
    Submit {
        owner: u64,
        buy: bool,
        /// Ticks from the previous close; ±1,100 reaches beyond the ±1,000 band.
        offset: i64,
        lots: u64,
        /// 0..=3 day limit, 4 IOC, 5 FOK, 6 market.
        kind: u8,
    },
    Cancel {
        pick: usize,
        wrong_owner: bool,
    },
    EndDay,
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        8 => (0..5_u64, any::<bool>(), -30..30_i64, 1..6_u64, 0..7_u8).prop_map(
            |(owner, buy, offset, lots, kind)| Command::Submit { owner, buy, offset, lots, kind }
        ),
        1 => (-1_100..1_100_i64).prop_map(|offset| Command::Submit {
            owner: 0,
            buy: offset > 0,
            offset,
            lots: 1,
            kind: 0
        }),
        3 => (any::<usize>(), prop::bool::weighted(0.2))
            .prop_map(|(pick, wrong_owner)| Command::Cancel { pick, wrong_owner }),
        1 => Just(Command::EndDay),
    ]
}

fn request(owner: u64, buy: bool, price_ticks: u64, lots: u64, kind: u8) -> OrderRequest {
    OrderRequest {
        owner: account(owner),
        side: if buy { Side::Buy } else { Side::Sell },
        price: if kind == 6 {
            OrderPrice::Market
        } else {
            OrderPrice::Limit { price_ticks }
        },
        lots,
        time_in_force: match kind {
            4 | 6 => TimeInForce::ImmediateOrCancel,
            5 => TimeInForce::FillOrKill,
            _ => TimeInForce::Day,
        },
    }
}

struct Run {
    h: Harness,
    self_trade: SelfTradePrevention,
    orders: Vec<(OrderId, u64)>,
    rights_total: u64,
    cash_total: u64,
}

impl Run {
    fn submit(&mut self, request: OrderRequest) -> Result<(), TestCaseError> {
        let book = self.h.market.book(RIGHTS).unwrap();
        let band = book.band();
        let opposite = match request.side {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        };
        let queue = book.resting_orders(opposite);
        let last_seq = book.trades_after(0).last().map_or(0, |t| t.seq);
        let live_before = book.live_orders();
        let mut out = Vec::new();
        let result =
            self.h
                .market
                .submit_order(RIGHTS, &request, &self.h.ledger, self.h.now, &mut out);
        let ack = match result {
            Err(_) => {
                prop_assert!(out.is_empty(), "a refused order emits nothing");
                let book = self.h.market.book(RIGHTS).unwrap();
                prop_assert_eq!(book.live_orders(), live_before);
                return Ok(());
            }
            Ok(ack) => ack,
        };
        self.h.post(&out);
        if ack.status == OrderStatus::Resting {
            self.orders.push((ack.order, request.owner.0));
        }
        let book = self.h.market.book(RIGHTS).unwrap();
        let trades = book.trades_after(last_seq);
        prop_assert_eq!(trades.iter().map(|t| t.lots).sum::<u64>(), ack.filled_lots);
        // The makers are exactly a prefix of the opposite queue in priority order, skipping
        // (cancelled) orders of the same account, or stopping at the first of them.
        let mut expected = Vec::new();
        for resting in queue {
            if resting.owner == request.owner {
                if self.self_trade == SelfTradePrevention::CancelIncoming {
                    break;
                }
                continue;
            }
            expected.push(resting);
        }
        for (k, trade) in trades.iter().enumerate() {
            prop_assert!(band.contains(trade.price_ticks), "trade outside the band");
            let maker = expected[k];
            let maker_order = match request.side {
                Side::Buy => trade.sell_order,
                Side::Sell => trade.buy_order,
            };
            prop_assert_eq!(maker_order, maker.order, "filled out of priority");
            prop_assert_eq!(trade.price_ticks, maker.price_ticks);
            if k + 1 < trades.len() {
                prop_assert_eq!(
                    trade.lots,
                    maker.lots,
                    "a later order filled before an earlier one was done"
                );
            }
            if let OrderPrice::Limit { price_ticks } = request.price {
                let acceptable = match request.side {
                    Side::Buy => trade.price_ticks <= price_ticks,
                    Side::Sell => trade.price_ticks >= price_ticks,
                };
                prop_assert!(acceptable, "trade beyond the limit");
            }
        }
        Ok(())
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        let ledger = &self.h.ledger;
        prop_assert_eq!(ledger.total(RIGHTS_ASSET), self.rights_total);
        prop_assert_eq!(ledger.total(Asset::CashFen), self.cash_total);
        let book = self.h.market.book(RIGHTS).unwrap();
        prop_assert_eq!(ledger.open_holds(), book.live_orders() as usize);
        if let (Some(bid), Some(ask)) = (book.best_bid_ticks(), book.best_ask_ticks()) {
            prop_assert!(bid < ask, "crossed book");
        }
        Ok(())
    }
}

fn execute(
    commands: &[Command],
    self_trade: SelfTradePrevention,
    holding_limit_t: Option<u64>,
) -> Result<Vec<Settlement>, TestCaseError> {
    // 200 t and 25,000 CNY each: enough for a few orders, not for all of them.
    let mut h = Harness::with(&[0, 1, 2, 3, 4], 200, 2_500_000, self_trade);
    if let Some(limit_t) = holding_limit_t {
        h.market
            .rules_mut()
            .holding_limits
            .set_default(RIGHTS, limit_t);
    }
    let mut run = Run {
        rights_total: h.ledger.total(RIGHTS_ASSET),
        cash_total: h.ledger.total(Asset::CashFen),
        h,
        self_trade,
        orders: Vec::new(),
    };
    for command in commands.iter().cloned() {
        run.h.now.0 += 1;
        match command {
            Command::Submit {
                owner,
                buy,
                offset,
                lots,
                kind,
            } => {
                let close = run.h.market.book(RIGHTS).unwrap().previous_close_ticks();
                let price = close.saturating_add_signed(offset);
                run.submit(request(owner, buy, price, lots, kind))?;
            }
            Command::Cancel { pick, wrong_owner } => {
                if run.orders.is_empty() {
                    continue;
                }
                let (order, owner) = run.orders[pick % run.orders.len()];
                let who = account(if wrong_owner { owner + 1 } else { owner });
                let mut out = Vec::new();
                let result = run.h.market.cancel_order(RIGHTS, order, who, &mut out);
                if result.is_err() {
                    prop_assert!(out.is_empty());
                }
                run.h.post(&out);
            }
            Command::EndDay => {
                let mut out = Vec::new();
                run.h.market.end_day(&mut out).unwrap();
                run.h.post(&out);
                prop_assert_eq!(run.h.ledger.open_holds(), 0);
            }
        }
        run.check_invariants()?;
        if let Some(limit_t) = holding_limit_t {
            for n in 0..5 {
                prop_assert!(
                    run.h.rights(n) <= limit_t,
                    "account {} above its holding limit",
                    n
                );
            }
        }
    }
    Ok(run.h.out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn book_conserves_holdings_respects_band_priority_and_limits_and_replays(
        commands in vec(command(), 1..150),
        cancel_incoming in any::<bool>(),
        holding_limit_t in proptest::option::of(200..260_u64),
    ) {
        let self_trade = if cancel_incoming {
            SelfTradePrevention::CancelIncoming
        } else {
            SelfTradePrevention::CancelResting
        };
        let first = execute(&commands, self_trade, holding_limit_t)?;
        let second = execute(&commands, self_trade, holding_limit_t)?;
        prop_assert_eq!(first, second, "same commands, same settlement instructions");
    }
}
