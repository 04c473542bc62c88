//! Random order and cancel sequences settle through the real ledger with conservation: the
//! ledger ends equal to the market's `LedgerModel`, escrow empty after the close, and verified.
//! Few cases: every case is a fresh database and hundreds of commits.

use crate::common::*;
use exchange::{OrderCommand, OrderOutcome};
use market::{AccountId, OrderId, OrderPrice, OrderRequest, Side, TimeInForce};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Order {
        owner: u64,
        buy: bool,
        offset: i64,
        lots: u64,
        tif: u8,
    },
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..=4_u64, any::<bool>(), -30..=30_i64, 1..=6_u64, 0..4_u8).prop_map(
            |(owner, buy, offset, lots, tif)| Op::Order { owner, buy, offset, lots, tif }
        ),
        1 => (0..64_usize).prop_map(Op::Cancel),
    ]
}

fn command(op: &Op, orders: &[(OrderId, AccountId)], step: usize) -> Option<OrderCommand> {
    match *op {
        Op::Order {
            owner,
            buy,
            offset,
            lots,
            tif,
        } => {
            let price = match tif {
                3 => OrderPrice::Market,
                _ => OrderPrice::Limit {
                    price_ticks: (CLOSE_TICKS as i64 + offset) as u64,
                },
            };
            let time_in_force = match tif {
                1 => TimeInForce::ImmediateOrCancel,
                2 => TimeInForce::FillOrKill,
                3 => TimeInForce::ImmediateOrCancel,
                _ => TimeInForce::Day,
            };
            Some(OrderCommand::Submit {
                instrument: RIGHTS,
                request: OrderRequest {
                    owner: AccountId(owner),
                    side: if buy { Side::Buy } else { Side::Sell },
                    price,
                    lots,
                    time_in_force,
                },
                now: at(step as i64),
            })
        }
        Op::Cancel(i) if !orders.is_empty() => {
            let (order, owner) = orders[i % orders.len()];
            Some(OrderCommand::Cancel {
                instrument: RIGHTS,
                order,
                owner,
            })
        }
        Op::Cancel(_) => None,
    }
}

async fn run(ops: &[Op], batch: usize) {
    for (url, _dir) in databases().await {
        // Small balances so that some orders are refused for lack of funds or rights.
        let mut f = fixture(&url, 4, 200, 1_500_000, 0).await;
        let mut orders: Vec<(OrderId, AccountId)> = Vec::new();
        let commands: Vec<(usize, &Op)> = ops.iter().enumerate().collect();
        for chunk in commands.chunks(batch.max(1)) {
            let batch_commands: Vec<OrderCommand> = chunk
                .iter()
                .filter_map(|&(step, op)| command(op, &orders, step))
                .collect();
            if batch == 1 {
                for c in &batch_commands {
                    let outcome = match *c {
                        OrderCommand::Submit {
                            instrument,
                            request,
                            now,
                        } => f
                            .bridge
                            .submit_order(instrument, &request, now)
                            .await
                            .map(|ack| {
                                orders.push((ack.order, request.owner));
                            }),
                        OrderCommand::Cancel {
                            instrument,
                            order,
                            owner,
                        } => f
                            .bridge
                            .cancel_order(instrument, order, owner)
                            .await
                            .map(|_| ()),
                    };
                    if let Err(error) = outcome {
                        assert!(error.is_refusal(), "{url}: {error}");
                    }
                    f.follow();
                }
            } else {
                let outcomes = f
                    .bridge
                    .execute_batch(&batch_commands)
                    .await
                    .expect("batch settles");
                f.follow();
                for (c, outcome) in batch_commands.iter().zip(&outcomes) {
                    if let (
                        OrderCommand::Submit { request, .. },
                        Ok(OrderOutcome::Submitted(ack)),
                    ) = (c, outcome)
                    {
                        orders.push((ack.order, request.owner));
                    }
                }
            }
            f.assert_agrees("after a step").await;
        }
        f.bridge
            .end_day(start_time() + chrono::Duration::days(1))
            .await
            .expect("close");
        f.follow();
        f.assert_agrees("after the close").await;
        f.assert_escrow_empty().await;
        f.assert_verified().await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn random_orders_and_cancels_settle_with_conservation(
        ops in proptest::collection::vec(op(), 1..40),
        batch in prop_oneof![Just(1_usize), Just(7), Just(40)],
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(&ops, batch));
    }
}
