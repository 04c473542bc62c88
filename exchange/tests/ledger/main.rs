//! The settlement bridge against a real ledger, on SQLite and (when configured) PostgreSQL:
//! after every command the ledger's balances and holds equal what the market's `LedgerModel`
//! says, totals are conserved, escrow is empty when the day ends and `ledger::verify` passes.

mod common;
mod durable;
mod props;

use common::*;
use exchange::{BridgeError, OrderCommand, OrderOutcome};
use ledger::{Action, LedgerError, Party};
use market::auction::{Pricing, UndersubscribedPolicy};
use market::{
    AccountId, Asset, AuctionConfig, AuctionId, AuctionKind, OrderPrice, OrderRequest, OrderStatus,
    Side, TimeInForce, TransferRequest, seed_commitment,
};

fn limit(owner: u64, side: Side, price_ticks: u64, lots: u64) -> OrderRequest {
    OrderRequest {
        owner: AccountId(owner),
        side,
        price: OrderPrice::Limit { price_ticks },
        lots,
        time_in_force: TimeInForce::Day,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_session_settles_through_the_ledger() {
    for (url, _dir) in databases().await {
        let mut f = fixture(&url, 4, 1_000, 50_000_000, 0).await;
        // Sellers 1 and 2 rest asks; buyer 3 sweeps; buyer 4 rests a bid; 1 cancels the rest.
        let a1 = f
            .bridge
            .submit_order(RIGHTS, &limit(1, Side::Sell, 10_100, 5), at(1))
            .await
            .expect("ask 1");
        f.follow();
        f.assert_agrees("ask 1 rests").await;
        f.bridge
            .submit_order(RIGHTS, &limit(2, Side::Sell, 10_050, 3), at(2))
            .await
            .expect("ask 2");
        f.follow();
        let sweep = f
            .bridge
            .submit_order(RIGHTS, &limit(3, Side::Buy, 10_100, 6), at(3))
            .await
            .expect("sweep");
        f.follow();
        assert_eq!(sweep.status, OrderStatus::Filled);
        assert_eq!(sweep.filled_lots, 6);
        f.assert_agrees("buy sweeps two levels").await;
        // 3 paid 3 lots at 100.50 and 3 at 101.00: 30 t × 10050 + 30 t × 10100 fen.
        assert_eq!(
            f.bridge.balances().balance(AccountId(3), Asset::CashFen),
            50_000_000 - 30 * 10_050 - 30 * 10_100
        );
        f.bridge
            .submit_order(RIGHTS, &limit(4, Side::Buy, 9_900, 4), at(4))
            .await
            .expect("bid rests");
        f.follow();
        let ioc = OrderRequest {
            time_in_force: TimeInForce::ImmediateOrCancel,
            ..limit(2, Side::Sell, 9_900, 10)
        };
        let ack = f
            .bridge
            .submit_order(RIGHTS, &ioc, at(5))
            .await
            .expect("ioc");
        f.follow();
        assert_eq!((ack.status, ack.filled_lots), (OrderStatus::Cancelled, 4));
        f.assert_agrees("IOC partly filled, rest released").await;
        let market_buy = OrderRequest {
            owner: AccountId(4),
            side: Side::Buy,
            price: OrderPrice::Market,
            lots: 1,
            time_in_force: TimeInForce::ImmediateOrCancel,
        };
        f.bridge
            .submit_order(RIGHTS, &market_buy, at(6))
            .await
            .expect("market buy");
        f.follow();
        f.assert_agrees("market buy, band-price hold partly used")
            .await;
        f.bridge
            .cancel_order(RIGHTS, a1.order, AccountId(1))
            .await
            .expect("cancel");
        f.follow();
        // Orders still resting at the close expire and release their holds.
        f.bridge
            .submit_order(RIGHTS, &limit(4, Side::Buy, 9_500, 2), at(7))
            .await
            .expect("late bid");
        f.follow();
        f.bridge
            .submit_order(RIGHTS, &limit(1, Side::Sell, 10_500, 2), at(8))
            .await
            .expect("late ask");
        f.follow();
        f.assert_agrees("before the close").await;
        let closes = f
            .bridge
            .end_day(start_time() + chrono::Duration::days(1))
            .await
            .expect("end of day");
        f.follow();
        assert_eq!(closes[&RIGHTS].expired_orders, 2);
        f.assert_agrees("after the close").await;
        f.assert_escrow_empty().await;
        f.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_batch_matches_one_at_a_time() {
    for (url, _dir) in databases().await {
        let mut f = fixture(&url, 3, 10_000, 500_000_000, 0).await;
        let mut commands = Vec::new();
        for i in 0..60_u64 {
            let owner = 1 + i % 3;
            let side = if i % 2 == 0 { Side::Sell } else { Side::Buy };
            let price = if side == Side::Sell {
                10_000 + i % 7
            } else {
                10_003 - i % 5
            };
            commands.push(OrderCommand::Submit {
                instrument: RIGHTS,
                request: limit(owner, side, price, 1 + i % 4),
                now: at(i as i64),
            });
        }
        // A refused command (unknown owner) in the middle does not stop the batch.
        commands.insert(
            10,
            OrderCommand::Submit {
                instrument: RIGHTS,
                request: limit(99, Side::Buy, 10_000, 1),
                now: at(10),
            },
        );
        let outcomes = f.bridge.execute_batch(&commands).await.expect("batch");
        f.follow();
        assert!(matches!(outcomes[10], Err(BridgeError::UnmappedAccount(_))));
        let resting: Vec<_> = outcomes
            .iter()
            .filter_map(|o| match o {
                Ok(OrderOutcome::Submitted(ack)) if ack.status == OrderStatus::Resting => {
                    Some(ack.order)
                }
                _ => None,
            })
            .collect();
        assert!(!resting.is_empty());
        f.assert_agrees("after a group-committed batch").await;
        let cancels: Vec<_> = resting
            .iter()
            .map(|&order| {
                let owner = f
                    .bridge
                    .market()
                    .book(RIGHTS)
                    .expect("book")
                    .resting(order)
                    .map_or(AccountId(1), |r| r.owner);
                OrderCommand::Cancel {
                    instrument: RIGHTS,
                    order,
                    owner,
                }
            })
            .collect();
        f.bridge.execute_batch(&cancels).await.expect("cancels");
        f.follow();
        f.assert_agrees("after cancelling in a batch").await;
        f.bridge
            .end_day(start_time() + chrono::Duration::days(1))
            .await
            .expect("close");
        f.follow();
        f.assert_escrow_empty().await;
        f.assert_verified().await;
    }
}

fn auction_config(id: u64, containment: bool) -> AuctionConfig {
    AuctionConfig {
        id: AuctionId(id),
        kind: AuctionKind::Primary,
        instrument: RIGHTS,
        seller: BUREAU,
        proceeds_to: BUREAU,
        lot_t: 10,
        tick_fen: 100,
        volume_lots: 10,
        reserve_price_ticks: 80,
        bidder_cap_bp: 5_000,
        pricing: Pricing::Uniform,
        containment: containment.then_some(market::ContainmentReserve {
            account: BUREAU,
            trigger_price_ticks: 120,
            volume_lots: 4,
        }),
        undersubscribed: UndersubscribedPolicy::SellAvailable,
        closes_at: at(60),
        bids_max: 1_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bureau_auction_sells_from_reserve_and_proceeds_land_in_reserve_cash() {
    for (url, _dir) in databases().await {
        let mut f = fixture(&url, 4, 0, 10_000_000, 1_000).await;
        let seed = [7_u8; 32];
        let settle_by = start_time() + chrono::Duration::days(2);
        f.bridge
            .open_auction(auction_config(1, true), seed_commitment(&seed), settle_by)
            .await
            .expect("open");
        f.follow();
        f.assert_agrees("supply and containment held").await;
        // 100 t + 40 t containment at trigger 120.00; bids (price CNY/t as ticks of 1 CNY).
        let bids = [
            (1, 130, 5),
            (2, 125, 4),
            (3, 121, 4),
            (4, 90, 5),
            (1, 119, 2),
        ];
        for (i, &(bidder, price, lots)) in bids.iter().enumerate() {
            f.bridge
                .submit_bid(AuctionId(1), AccountId(bidder), price, lots, at(i as i64))
                .await
                .expect("bid");
            f.follow();
        }
        f.assert_agrees("bid guarantees held").await;
        let late = f
            .bridge
            .submit_bid(AuctionId(1), AccountId(4), 150, 1, at(61))
            .await;
        assert!(
            matches!(late, Err(BridgeError::Market(_))),
            "bids after the close are refused"
        );
        let reserve_cash_before = f.bridge.balances().balance(BUREAU, Asset::CashFen);
        let record = f
            .bridge
            .close_auction(AuctionId(1), seed, at(61))
            .await
            .expect("close");
        f.follow();
        record.verify().expect("record re-runs");
        f.assert_agrees("auction settled").await;
        let sold_fen: u64 = f
            .bridge
            .last_settlements()
            .iter()
            .filter_map(|s| match s {
                market::Settlement::DeliveryVersusPayment {
                    cash_fen, cash_to, ..
                } => {
                    assert_eq!(*cash_to, BUREAU, "proceeds go to the bureau");
                    Some(*cash_fen)
                }
                _ => None,
            })
            .sum();
        assert!(sold_fen > 0);
        assert_eq!(
            f.bridge.balances().balance(BUREAU, Asset::CashFen),
            reserve_cash_before + sold_fen
        );
        let reserve_cny = f
            .bridge
            .ledger()
            .store()
            .balances(Some("bureau"))
            .await
            .expect("bureau balances")
            .into_iter()
            .find(|b| b.account == format!("bureau/reserve/{CNY}"))
            .map(|b| b.balance)
            .unwrap_or_default();
        assert_eq!(
            exchange::ledger_bridge::market_units(Asset::CashFen, reserve_cny),
            sold_fen
        );
        f.assert_escrow_empty().await;
        f.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bilateral_transfers_settle_reject_and_expire() {
    for (url, _dir) in databases().await {
        let mut f = fixture(&url, 3, 50_000, 2_000_000_000, 0).await;
        let request = |seller: u64, buyer: u64, lots: u64| TransferRequest {
            instrument: RIGHTS,
            seller: AccountId(seller),
            buyer: AccountId(buyer),
            lots,
            price_ticks: 10_500,
            expires_at: at(120),
        };
        // A block trade (≥ 10,000 t) accepted.
        let block = f
            .bridge
            .propose_transfer(request(1, 2, 1_500), at(1))
            .await
            .expect("propose block");
        f.follow();
        f.assert_agrees("block proposed").await;
        f.bridge
            .accept_transfer(block, AccountId(2), at(2))
            .await
            .expect("accept");
        f.follow();
        f.assert_agrees("block settled").await;
        assert_eq!(
            f.bridge
                .balances()
                .balance(AccountId(2), common::RIGHTS_ASSET),
            50_000 + 15_000
        );
        let rejected = f
            .bridge
            .propose_transfer(request(2, 3, 10), at(3))
            .await
            .expect("propose");
        f.follow();
        f.bridge
            .reject_transfer(rejected, AccountId(3), at(4))
            .await
            .expect("reject");
        f.follow();
        let stale = f
            .bridge
            .propose_transfer(request(3, 1, 10), at(5))
            .await
            .expect("propose");
        f.follow();
        let wrong = f.bridge.accept_transfer(stale, AccountId(2), at(6)).await;
        assert!(matches!(wrong, Err(BridgeError::Market(_))));
        let expired = f.bridge.expire_transfers(at(121)).await.expect("expire");
        f.follow();
        assert_eq!(expired, vec![stale]);
        f.assert_agrees("after reject and expiry").await;
        f.assert_escrow_empty().await;
        f.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_are_answered_from_the_journal() {
    for (url, _dir) in databases().await {
        let mut f = fixture(&url, 2, 1_000, 10_000_000, 0).await;
        f.bridge
            .submit_order(RIGHTS, &limit(1, Side::Sell, 10_000, 2), at(1))
            .await
            .expect("ask");
        f.follow();
        f.bridge
            .submit_order(RIGHTS, &limit(2, Side::Buy, 10_000, 5), at(2))
            .await
            .expect("bid");
        f.follow();
        let horizon = f.bridge.horizons().trading_day_end;
        let requests: Vec<_> = f
            .bridge
            .last_settlements()
            .iter()
            .map(|s| f.bridge.mapping().request(s, horizon).expect("request"))
            .collect();
        assert_eq!(
            requests.len(),
            2,
            "place hold, then delivery versus payment"
        );
        assert_eq!(
            requests[1].actions.len(),
            2,
            "DvP is one request of two posts"
        );
        let receipts = f
            .bridge
            .ledger()
            .submit_many(requests)
            .await
            .expect("replay");
        assert!(
            receipts
                .iter()
                .all(|r| r.as_ref().is_ok_and(|receipt| receipt.replayed))
        );
        f.assert_agrees("after replaying").await;
        f.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_refusal_stops_the_bridge() {
    for (url, _dir) in databases().await {
        let mut f = fixture(&url, 2, 1_000, 10_000_000, 0).await;
        // Another writer takes enterprise 2's cash behind the bridge's back.
        f.bridge
            .ledger()
            .submit(req(
                "withdraw",
                vec![Action::Withdraw {
                    instrument: CNY.into(),
                    enterprise: credit_code(2),
                    amount: q(10_000_000, 2),
                }],
            ))
            .await
            .expect("withdraw");
        let error = f
            .bridge
            .submit_order(RIGHTS, &limit(2, Side::Buy, 10_000, 1), at(1))
            .await
            .expect_err("the ledger refuses the hold");
        match &error {
            BridgeError::Settlement { key, source } => {
                assert!(key.starts_with("t1/place/"), "{key}");
                assert!(matches!(
                    source.root(),
                    LedgerError::InsufficientBalance { .. }
                ));
            }
            other => panic!("{other}"),
        }
        let next = f
            .bridge
            .submit_order(RIGHTS, &limit(1, Side::Sell, 10_000, 1), at(2))
            .await;
        assert!(matches!(next, Err(BridgeError::Poisoned(_))));
        let _ = Party::Reserve;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_commit_in_engine_order() {
    for (url, _dir) in databases().await {
        let mut f = fixture(&url, 3, 2_000, 100_000_000, 0).await;
        let batches: Vec<Vec<OrderCommand>> = (0..6_u64)
            .map(|b| {
                (0..25_u64)
                    .map(|i| {
                        let n = b * 25 + i;
                        let side = if n % 3 == 0 { Side::Buy } else { Side::Sell };
                        let price = if side == Side::Buy {
                            10_010 - n % 9
                        } else {
                            9_995 + n % 11
                        };
                        OrderCommand::Submit {
                            instrument: RIGHTS,
                            request: limit(1 + n % 3, side, price, 1 + n % 3),
                            now: at(n as i64),
                        }
                    })
                    .collect()
            })
            .collect();
        let outcomes = f
            .bridge
            .execute_pipelined(&batches, 2)
            .await
            .expect("pipelined batches");
        f.follow();
        assert_eq!(outcomes.len(), 6);
        f.assert_agrees("after pipelined batches").await;
        f.bridge
            .end_day(start_time() + chrono::Duration::days(1))
            .await
            .expect("close");
        f.follow();
        f.assert_escrow_empty().await;
        f.assert_verified().await;
    }
}
