//! The durable market (`exchange::durable`): the journal is the command log, every process's
//! market is a projection of it. On SQLite and PostgreSQL: a restart rebuilds the same books,
//! auctions and transfers; two handles racing on one database agree and log every accepted
//! command exactly once; the conflict and refusal paths; replay determinism (proptest).

use crate::common::*;
use chrono::Duration;
use exchange::durable::{CommandTag, LogRecord};
use exchange::{
    BridgeError, CommandOutcome, DurableMarket, LedgerBalances, MarketCommand, MarketInit,
};
use ledger::journal::Entry;
use ledger::{Action, Ledger, Party};
use market::auction::{Pricing, UndersubscribedPolicy};
use market::{
    AccountId, Asset, AuctionConfig, AuctionId, AuctionKind, InstrumentSpec, MarketError,
    OrderPrice, OrderRequest, OrderStatus, SelfTradePrevention, Side, TimeInForce, Timestamp,
    TransferRequest, seed_commitment,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

const ENTERPRISES: u64 = 4;
const RIGHTS_T: u64 = 10_000;
const CASH_FEN: u64 = 500_000_000;
const RESERVE_T: u64 = 5_000;

/// A ledger with COD and CNY and `ENTERPRISES` funded enterprises (no market yet).
async fn seed_ledger(url: &str, clock: &TestClock) -> Ledger {
    let ledger = Ledger::open(url, clock.options()).await.expect("open");
    let mut actions: Vec<Action> = serde_json::from_value(serde_json::json!([
        {"type": "define_region", "region": {"code": "yangtze-cq", "name": "Yangtze (Chongqing reach)", "kind": "basin"}},
        {"type": "define_instrument", "instrument": {"code": COD, "kind": "discharge_right", "pollutant": "COD", "region": "yangtze-cq",
         "valid_from": "2024-01-01", "valid_to": "2028-12-31", "scale": 3, "unit": "t/a"}},
        {"type": "define_instrument", "instrument": {"code": CNY, "kind": "cash", "currency": "CNY", "scale": 2, "unit": "CNY"}},
    ]))
    .expect("setup actions");
    for n in 1..=ENTERPRISES {
        let code = credit_code(n);
        actions.push(Action::RegisterEnterprise {
            enterprise: enterprise_input(&code, n),
        });
        actions.push(Action::Issue {
            instrument: COD.into(),
            to: Party::Enterprise(code.clone()),
            amount: q(RIGHTS_T, 0),
        });
        actions.push(Action::Deposit {
            instrument: CNY.into(),
            enterprise: code,
            amount: q(CASH_FEN, 2),
        });
    }
    actions.push(Action::Issue {
        instrument: COD.into(),
        to: Party::Reserve,
        amount: q(RESERVE_T, 0),
    });
    ledger
        .submit(req("setup", actions))
        .await
        .expect("setup accepted");
    ledger
}

fn init() -> MarketInit {
    MarketInit {
        namespace: "d1".into(),
        cash_instrument: CNY.into(),
        self_trade: SelfTradePrevention::CancelResting,
        trading_day_end: start_time() + Duration::hours(8),
        transfer_grace: Duration::hours(1),
    }
}

fn setup_commands() -> Vec<MarketCommand> {
    let mut spec = InstrumentSpec::new(RIGHTS, 1, LOT_T).expect("spec");
    spec.block_min_t = 10_000;
    let mut commands = vec![
        MarketCommand::MapAccount {
            account: BUREAU,
            party: Party::Reserve,
        },
        MarketCommand::MapInstrument {
            instrument: RIGHTS,
            code: COD.into(),
        },
    ];
    for n in 1..=ENTERPRISES {
        commands.push(MarketCommand::MapAccount {
            account: AccountId(n),
            party: Party::Enterprise(credit_code(n)),
        });
    }
    commands.push(MarketCommand::ListInstrument {
        spec,
        previous_close_ticks: CLOSE_TICKS,
    });
    commands
}

/// A seeded ledger and a market set up on it.
async fn new_market(url: &str) -> (DurableMarket, TestClock) {
    let clock = TestClock::new();
    let ledger = seed_ledger(url, &clock).await;
    let mut market = DurableMarket::open(ledger, init()).await.expect("open");
    for outcome in market.execute(&setup_commands()).await.expect("setup") {
        outcome.expect("setup command accepted");
    }
    (market, clock)
}

/// Another process: its own ledger handle (and writer) on the same database.
async fn reopen(url: &str, clock: &TestClock) -> DurableMarket {
    let ledger = Ledger::open(url, clock.options()).await.expect("reopen");
    DurableMarket::open_existing(ledger)
        .await
        .expect("the market replays")
}

fn order(owner: u64, side: Side, price_ticks: u64, lots: u64, now: Timestamp) -> MarketCommand {
    MarketCommand::SubmitOrder {
        instrument: RIGHTS,
        request: OrderRequest {
            owner: AccountId(owner),
            side,
            price: OrderPrice::Limit { price_ticks },
            lots,
            time_in_force: TimeInForce::Day,
        },
        now,
    }
}

fn auction_config(id: u64) -> AuctionConfig {
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
        containment: None,
        undersubscribed: UndersubscribedPolicy::SellAvailable,
        closes_at: at(60),
        bids_max: 1_000,
    }
}

async fn run_ok(market: &mut DurableMarket, command: MarketCommand) -> CommandOutcome {
    let text = format!("{command:?}");
    market
        .execute_one(command)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The projection's balances equal the ledger's, rights and cash are conserved, no balance is
/// negative, and the ledger verifies.
async fn assert_ledger_agrees(market: &DurableMarket, context: &str) {
    let ledger = market.ledger();
    let mapping = market.mapping().expect("mapping");
    let fresh = LedgerBalances::load(ledger, mapping).await.expect("load");
    for n in 0..=ENTERPRISES {
        for asset in [RIGHTS_ASSET, Asset::CashFen] {
            let account = AccountId(n);
            assert_eq!(
                market.balance(account, asset),
                (fresh.balance(account, asset), fresh.held(account, asset)),
                "{context}: {account} {asset:?} (balance, held): projection vs ledger"
            );
        }
    }
    let balances = ledger.store().balances(None).await.expect("balances");
    for (code, total) in [
        (COD, Decimal::from(RIGHTS_T * ENTERPRISES + RESERVE_T)),
        (CNY, Decimal::new((CASH_FEN * ENTERPRISES) as i64, 2)),
    ] {
        let inside: Decimal = balances
            .iter()
            .filter(|b| b.instrument == code)
            .filter(|b| {
                matches!(
                    b.kind,
                    ledger::AccountKind::Holding
                        | ledger::AccountKind::Reserve
                        | ledger::AccountKind::Escrow
                )
            })
            .map(|b| b.balance)
            .sum();
        assert_eq!(inside, total, "{context}: {code} conserved");
    }
    for b in &balances {
        if !b.kind.may_go_negative() {
            assert!(
                b.balance >= Decimal::ZERO,
                "{context}: {} is negative",
                b.account
            );
        }
    }
    let report = ledger::verify(ledger.store()).await.expect("verify");
    assert!(report.is_ok(), "{context}: {:#?}", report.problems);
}

/// Every market entry's memo, in journal order.
async fn market_log(ledger: &Ledger) -> Vec<LogRecord> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = ledger.store().journal(after, 500).await.expect("journal");
        let Some(last) = page.last() else { break };
        after = last.seq;
        for stored in page {
            if stored.idempotency_key.starts_with("market/") {
                let entry: Entry = serde_json::from_str(&stored.body).expect("entry");
                let memo = entry.request.memo.expect("memo");
                out.push(serde_json::from_str(&memo).expect("record"));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_process_rebuilds_books_auctions_and_transfers() {
    for (url, _dir) in databases().await {
        let (mut m, clock) = new_market(&url).await;
        // Continuous trading: a trade, resting orders on both sides.
        run_ok(&mut m, order(1, Side::Sell, 10_100, 5, at(1))).await;
        run_ok(&mut m, order(2, Side::Sell, 10_200, 3, at(2))).await;
        let outcome = run_ok(&mut m, order(3, Side::Buy, 10_150, 7, at(3))).await;
        match outcome {
            CommandOutcome::Order { ack } => {
                assert_eq!((ack.filled_lots, ack.status), (5, OrderStatus::Resting))
            }
            other => panic!("{other:?}"),
        }
        // An auction: opened, bid, closed; another left open with a sealed bid.
        let seed = [7_u8; 32];
        run_ok(
            &mut m,
            MarketCommand::OpenAuction {
                config: auction_config(1),
                seed_commitment: seed_commitment(&seed),
                settle_by_ms: (start_time() + Duration::hours(4)).timestamp_millis(),
            },
        )
        .await;
        for (bidder, price) in [(1, 120), (2, 110), (4, 100)] {
            run_ok(
                &mut m,
                MarketCommand::SubmitBid {
                    auction: AuctionId(1),
                    bidder: AccountId(bidder),
                    price_ticks: price,
                    lots: 5,
                    now: at(10),
                },
            )
            .await;
        }
        let closed = run_ok(
            &mut m,
            MarketCommand::CloseAuction {
                auction: AuctionId(1),
                seed,
                now: at(61),
            },
        )
        .await;
        assert!(matches!(closed, CommandOutcome::AuctionClosed { .. }));
        let mut open = auction_config(2);
        open.closes_at = at(200);
        run_ok(
            &mut m,
            MarketCommand::OpenAuction {
                config: open,
                seed_commitment: seed_commitment(&[9; 32]),
                settle_by_ms: (start_time() + Duration::hours(5)).timestamp_millis(),
            },
        )
        .await;
        run_ok(
            &mut m,
            MarketCommand::SubmitBid {
                auction: AuctionId(2),
                bidder: AccountId(4),
                price_ticks: 90,
                lots: 2,
                now: at(62),
            },
        )
        .await;
        // Transfers: one settled, one pending.
        let request = TransferRequest {
            instrument: RIGHTS,
            seller: AccountId(1),
            buyer: AccountId(4),
            lots: 3,
            price_ticks: 10_500,
            expires_at: at(120),
        };
        let transfer = match run_ok(
            &mut m,
            MarketCommand::ProposeTransfer {
                request,
                now: at(63),
            },
        )
        .await
        {
            CommandOutcome::TransferProposed { transfer } => transfer,
            other => panic!("{other:?}"),
        };
        run_ok(
            &mut m,
            MarketCommand::AcceptTransfer {
                transfer,
                buyer: AccountId(4),
                now: at(64),
            },
        )
        .await;
        run_ok(
            &mut m,
            MarketCommand::ProposeTransfer {
                request: TransferRequest {
                    seller: AccountId(2),
                    ..request
                },
                now: at(65),
            },
        )
        .await;
        assert_ledger_agrees(&m, &format!("{url}: live")).await;
        let live = m.digest();
        let holds = m.open_holds();
        assert!(holds > 0, "resting orders, a bid and a transfer are held");
        drop(m);

        let mut again = reopen(&url, &clock).await;
        assert_eq!(again.digest(), live, "{url}: the restarted projection");
        assert_eq!(again.open_holds(), holds);
        assert_ledger_agrees(&again, &format!("{url}: restarted")).await;
        // And it carries on where the first left off: the resting ask trades.
        let outcome = run_ok(&mut again, order(4, Side::Buy, 10_200, 3, at(70))).await;
        assert!(matches!(
            outcome,
            CommandOutcome::Order { ack } if ack.filled_lots == 3
        ));
        assert_ledger_agrees(&again, &format!("{url}: after restart")).await;
    }
}

/// Runs the batches; returns the `now` of every accepted order.
async fn race(market: &mut DurableMarket, batches: Vec<Vec<MarketCommand>>) -> Vec<i64> {
    let mut accepted = Vec::new();
    for batch in batches {
        let outcomes = market.execute(&batch).await.expect("batch");
        for (command, outcome) in batch.iter().zip(outcomes) {
            if outcome.is_ok()
                && let MarketCommand::SubmitOrder { now, .. } = command
            {
                accepted.push(now.0);
            }
        }
        tokio::task::yield_now().await;
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_racing_for_one_book_agree() {
    for (url, _dir) in databases().await {
        let (mut a, clock) = new_market(&url).await;
        let mut b = reopen(&url, &clock).await;
        // A trades for enterprises 1 and 2, B for 3 and 4, crossing each other's orders.
        // Every command's `now` is unique: even milliseconds for A, odd for B.
        let base = at(1).0;
        let batches = |odd: i64, owners: [u64; 2]| -> Vec<Vec<MarketCommand>> {
            (0..24_i64)
                .map(|k| {
                    (0..(1 + k % 4))
                        .map(|j| {
                            let i = k * 4 + j;
                            let side = if (i + odd) % 2 == 0 {
                                Side::Buy
                            } else {
                                Side::Sell
                            };
                            let price = CLOSE_TICKS - 20 + ((i * 7 + odd * 3) % 40) as u64;
                            order(
                                owners[(i % 2) as usize],
                                side,
                                price,
                                1 + (i % 3) as u64,
                                Timestamp(base + 2 * i + odd),
                            )
                        })
                        .collect()
                })
                .collect()
        };
        let (from_a, from_b) = tokio::join!(
            race(&mut a, batches(0, [1, 2])),
            race(&mut b, batches(1, [3, 4]))
        );
        a.refresh().await.expect("refresh a");
        b.refresh().await.expect("refresh b");
        assert_eq!(a.digest(), b.digest(), "{url}: the two projections agree");
        let mut accepted: Vec<i64> = from_a.into_iter().chain(from_b).collect();
        accepted.sort_unstable();
        let mut logged: Vec<i64> = market_log(a.ledger())
            .await
            .iter()
            .flat_map(|r| r.commands.iter())
            .filter_map(|c| match c {
                MarketCommand::SubmitOrder { now, .. } => Some(now.0),
                _ => None,
            })
            .collect();
        logged.sort_unstable();
        assert_eq!(
            logged, accepted,
            "{url}: every accepted order is logged exactly once"
        );
        let trades = a.market().book(RIGHTS).expect("book").trades_after(0).len();
        assert!(trades > 0, "{url}: the two writers' orders crossed");
        eprintln!(
            "{url}: {} orders, {trades} trades, rebuilds a={} b={}",
            accepted.len(),
            a.rebuilds(),
            b.rebuilds()
        );
        assert_ledger_agrees(&a, &format!("{url}: a")).await;
        assert_ledger_agrees(&b, &format!("{url}: b")).await;
        let fresh = reopen(&url, &clock).await;
        assert_eq!(fresh.digest(), a.digest(), "{url}: a third process agrees");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_race_rebuilds_and_retries_and_a_refused_settlement_refuses_one_command() {
    for (url, _dir) in databases().await {
        let (mut a, clock) = new_market(&url).await;
        let mut b = reopen(&url, &clock).await;
        let next = a.commands_logged();
        // A commits command `next`; B, still at the same point, tries the same key.
        run_ok(&mut a, order(1, Side::Sell, 10_100, 2, at(1))).await;
        let outcomes = b
            .execute_without_catching_up(&[order(3, Side::Buy, 10_100, 1, at(2))])
            .await
            .expect("b retries");
        match &outcomes[..] {
            [Ok(CommandOutcome::Order { ack })] => assert_eq!(ack.filled_lots, 1),
            other => panic!("{url}: {other:?}"),
        }
        assert_eq!(b.rebuilds(), 1, "{url}: b lost the race once and rebuilt");
        let log = market_log(b.ledger()).await;
        let firsts: Vec<u64> = log.iter().map(|r| r.first).collect();
        assert!(firsts.ends_with(&[next, next + 1]), "{url}: {firsts:?}");
        a.refresh().await.expect("refresh");
        assert_eq!(a.digest(), b.digest());

        // Another writer withdraws enterprise 2's cash behind B's back; B's batch of two buys
        // is refused by the ledger, retried one by one: only enterprise 2's buy is refused.
        let code = credit_code(2);
        b.ledger()
            .submit(req(
                "withdraw-2",
                vec![Action::Withdraw {
                    instrument: CNY.into(),
                    enterprise: code,
                    amount: q(CASH_FEN, 2),
                }],
            ))
            .await
            .expect("withdrawal");
        let rebuilds = b.rebuilds();
        let outcomes = b
            .execute_without_catching_up(&[
                order(2, Side::Buy, 10_000, 4, at(3)),
                order(4, Side::Buy, 10_000, 4, at(4)),
            ])
            .await
            .expect("b");
        assert!(
            matches!(
                &outcomes[0],
                Err(BridgeError::Market(MarketError::InsufficientBalance { .. }))
            ),
            "{url}: {:?}",
            outcomes[0]
        );
        assert!(
            matches!(&outcomes[1], Ok(CommandOutcome::Order { ack }) if ack.status == OrderStatus::Resting)
        );
        assert!(b.rebuilds() > rebuilds);
        assert_eq!(b.balance(AccountId(2), Asset::CashFen), (0, 0));
        let logged: Vec<i64> = market_log(b.ledger())
            .await
            .iter()
            .flat_map(|r| r.commands.iter())
            .filter_map(|c| match c {
                MarketCommand::SubmitOrder { now, .. } => Some(now.0),
                _ => None,
            })
            .collect();
        assert!(
            !logged.contains(&at(3).0),
            "{url}: the refused buy is not in the log"
        );
        assert!(logged.contains(&at(4).0));
        // Replay of a tampered log is refused, never skipped: a fresh process reading a market
        // entry whose command cannot run (an order from an unmapped account) stops.
        let bogus = LogRecord {
            v: exchange::durable::LOG_VERSION,
            first: b.commands_logged(),
            based_on: b.cursor(),
            commands: vec![order(99, Side::Buy, 10_000, 1, at(5))],
            tags: Vec::new(),
        };
        b.ledger()
            .submit(ledger::Request {
                idempotency_key: format!("market/{}", bogus.first),
                actor: "market".into(),
                memo: Some(serde_json::to_string(&bogus).expect("memo")),
                actions: vec![Action::ExpireHolds {}],
            })
            .await
            .expect("a forged entry");
        let ledger = Ledger::open(&url, clock.options()).await.expect("open");
        match DurableMarket::open_existing(ledger).await {
            Err(BridgeError::Corrupt(why)) => assert!(why.contains("refused on replay"), "{why}"),
            Err(other) => panic!("{url}: {other}"),
            Ok(_) => panic!("{url}: a corrupt log replayed"),
        }
    }
}

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
    Propose {
        seller: u64,
        buyer: u64,
        lots: u64,
    },
    Accept(usize),
    EndDay,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..=ENTERPRISES, any::<bool>(), -30..=30_i64, 1..=6_u64, 0..4_u8).prop_map(
            |(owner, buy, offset, lots, tif)| Op::Order { owner, buy, offset, lots, tif }
        ),
        2 => (0..64_usize).prop_map(Op::Cancel),
        1 => (1..=ENTERPRISES, 1..=ENTERPRISES, 1..=5_u64)
            .prop_map(|(seller, buyer, lots)| Op::Propose { seller, buyer, lots }),
        1 => (0..8_usize).prop_map(Op::Accept),
        1 => Just(Op::EndDay),
    ]
}

async fn replay_case(ops: &[Op], batch: usize) -> Result<(), TestCaseError> {
    for (url, _dir) in databases().await {
        let (mut m, clock) = new_market(&url).await;
        let mut orders = Vec::new();
        let mut transfers = Vec::new();
        let mut day = 0;
        for (k, chunk) in ops.chunks(batch).enumerate() {
            let commands: Vec<MarketCommand> = chunk
                .iter()
                .enumerate()
                .filter_map(|(j, op)| {
                    let now = at((k * batch + j) as i64 + day * 600);
                    Some(match *op {
                        Op::Order {
                            owner,
                            buy,
                            offset,
                            lots,
                            tif,
                        } => MarketCommand::SubmitOrder {
                            instrument: RIGHTS,
                            request: OrderRequest {
                                owner: AccountId(owner),
                                side: if buy { Side::Buy } else { Side::Sell },
                                price: if tif == 3 {
                                    OrderPrice::Market
                                } else {
                                    OrderPrice::Limit {
                                        price_ticks: (CLOSE_TICKS as i64 + offset) as u64,
                                    }
                                },
                                lots,
                                time_in_force: match tif {
                                    1 | 3 => TimeInForce::ImmediateOrCancel,
                                    2 => TimeInForce::FillOrKill,
                                    _ => TimeInForce::Day,
                                },
                            },
                            now,
                        },
                        Op::Cancel(i) => {
                            let &(order, owner) = orders.get(i % orders.len().max(1))?;
                            MarketCommand::CancelOrder {
                                instrument: RIGHTS,
                                order,
                                owner,
                            }
                        }
                        Op::Propose {
                            seller,
                            buyer,
                            lots,
                        } => MarketCommand::ProposeTransfer {
                            request: TransferRequest {
                                instrument: RIGHTS,
                                seller: AccountId(seller),
                                buyer: AccountId(buyer),
                                lots,
                                price_ticks: CLOSE_TICKS,
                                expires_at: Timestamp(now.0 + 3_600_000),
                            },
                            now,
                        },
                        Op::Accept(i) => {
                            let &(transfer, buyer) = transfers.get(i % transfers.len().max(1))?;
                            MarketCommand::AcceptTransfer {
                                transfer,
                                buyer,
                                now,
                            }
                        }
                        Op::EndDay => MarketCommand::EndDay {
                            next_day_end_ms: (start_time() + Duration::hours(8 + 24))
                                .timestamp_millis(),
                        },
                    })
                })
                .collect();
            if chunk.iter().any(|op| matches!(op, Op::EndDay)) {
                day += 1;
            }
            let outcomes = m.execute(&commands).await.expect("batch");
            for (command, outcome) in commands.iter().zip(outcomes) {
                match (command, outcome) {
                    (
                        MarketCommand::SubmitOrder { request, .. },
                        Ok(CommandOutcome::Order { ack }),
                    ) if ack.status == OrderStatus::Resting => {
                        orders.push((ack.order, request.owner))
                    }
                    (
                        MarketCommand::ProposeTransfer { request, .. },
                        Ok(CommandOutcome::TransferProposed { transfer }),
                    ) => transfers.push((transfer, request.buyer)),
                    _ => {}
                }
            }
        }
        let live = m.digest();
        assert_ledger_agrees(&m, &url).await;
        let fresh = reopen(&url, &clock).await;
        prop_assert_eq!(fresh.digest(), live, "{}: projection after reopen", url);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn replay_gives_the_live_state(ops in prop::collection::vec(op(), 1..60), batch in 1..8_usize) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(replay_case(&ops, batch))?;
    }
}

/// The actions of every market entry, in journal order.
async fn market_entry_actions(ledger: &Ledger) -> Vec<Vec<Action>> {
    let page = ledger.store().journal(0, 10_000).await.expect("journal");
    page.iter()
        .filter(|stored| stored.idempotency_key.starts_with("market/"))
        .map(|stored| {
            let entry: Entry = serde_json::from_str(&stored.body).expect("entry");
            entry.request.actions
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_that_settle_nothing_carry_a_note_and_old_expire_holds_carriers_still_replay() {
    for (url, _dir) in databases().await {
        let (mut m, clock) = new_market(&url).await;
        let carrier = vec![Action::Annotate {
            note: exchange::durable::CARRIER_NOTE.into(),
        }];
        let actions = market_entry_actions(m.ledger()).await;
        assert!(!actions.is_empty());
        assert!(
            actions.iter().all(|a| *a == carrier),
            "{url}: init and setup settle nothing: {actions:?}"
        );
        // An entry written before `annotate` existed: a limit (settles nothing) carried by
        // `expire_holds`. A process replaying the journal accepts it, and so does this one.
        let legacy = LogRecord {
            v: exchange::durable::LOG_VERSION,
            first: m.commands_logged(),
            based_on: m.cursor(),
            commands: vec![MarketCommand::SetHoldingLimit {
                instrument: RIGHTS,
                account: None,
                limit_t: Some(12_340),
                note: None,
            }],
            tags: Vec::new(),
        };
        m.ledger()
            .submit(ledger::Request {
                idempotency_key: format!("market/{}", legacy.first),
                actor: "market".into(),
                memo: Some(serde_json::to_string(&legacy).expect("memo")),
                actions: vec![Action::ExpireHolds {}],
            })
            .await
            .expect("a legacy entry");
        m.refresh().await.expect("the legacy entry replays");
        assert_eq!(m.commands_logged(), legacy.first + 1);
        assert_eq!(
            m.market()
                .rules()
                .holding_limits
                .limit_t(RIGHTS, AccountId(1)),
            Some(12_340),
            "{url}"
        );
        run_ok(&mut m, order(1, Side::Sell, 10_100, 2, at(1))).await;
        let fresh = reopen(&url, &clock).await;
        assert_eq!(fresh.digest(), m.digest(), "{url}");
        assert_eq!(m.verify_projection().await.expect("verify"), m.cursor());
        // A note other than the market's own is not a carrier: corruption.
        let forged = LogRecord {
            first: m.commands_logged(),
            based_on: m.cursor(),
            ..legacy
        };
        m.ledger()
            .submit(ledger::Request {
                idempotency_key: format!("market/{}", forged.first),
                actor: "market".into(),
                memo: Some(serde_json::to_string(&forged).expect("memo")),
                actions: vec![Action::Annotate {
                    note: "something else".into(),
                }],
            })
            .await
            .expect("a forged entry");
        match m.refresh().await {
            Err(BridgeError::Corrupt(why)) => assert!(why.contains("differ"), "{why}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_race_after_a_checkpoint_replays_only_the_tail() {
    for (url, _dir) in databases().await {
        let (mut a, clock) = new_market(&url).await;
        a.set_checkpoint_every(4);
        let mut b = reopen(&url, &clock).await;
        let mut full = reopen(&url, &clock).await;
        full.set_checkpoint_every(0);
        for i in 0..10 {
            let side = if i % 2 == 0 { Side::Sell } else { Side::Buy };
            run_ok(
                &mut a,
                order(1 + i % 4, side, 10_000 + 50 - i * 11, 1, at(i as i64)),
            )
            .await;
        }
        let taken = a.replay_stats().checkpoints_taken;
        assert!(taken >= 2, "{url}: a checkpoint every 4 entries: {taken}");
        a.checkpoint_now().await.expect("checkpoint");
        let checkpoint = a.cursor();
        assert_eq!(a.checkpoint_cursor(), Some(checkpoint));
        // Two more entries of A's, then B commits while A is not looking.
        run_ok(&mut a, order(2, Side::Buy, 9_900, 1, at(20))).await;
        run_ok(&mut a, order(3, Side::Sell, 10_300, 1, at(21))).await;
        b.refresh().await.expect("refresh b");
        run_ok(&mut b, order(4, Side::Buy, 10_300, 1, at(22))).await;
        let rebuilds = a.rebuilds();
        let outcomes = a
            .execute_without_catching_up(&[order(1, Side::Sell, 9_900, 1, at(23))])
            .await
            .expect("a retries");
        assert!(matches!(&outcomes[..], [Ok(_)]), "{url}: {outcomes:?}");
        assert_eq!(a.rebuilds(), rebuilds + 1, "{url}: a lost the race once");
        let stats = a.replay_stats();
        assert_eq!(
            stats.last_rebuild,
            Some(exchange::durable::RebuildStats {
                from_entry: checkpoint,
                entries_replayed: 3,
            }),
            "{url}: the rebuild replayed A's two entries and B's one after the checkpoint"
        );
        assert!(stats.restored_from_checkpoint >= 1);
        // The same race without checkpoints replays the whole journal.
        full.refresh().await.expect("refresh full");
        let before = full.cursor();
        run_ok(&mut b, order(2, Side::Buy, 9_800, 1, at(24))).await;
        full.execute_without_catching_up(&[order(3, Side::Sell, 10_400, 1, at(25))])
            .await
            .expect("full retries");
        assert_eq!(
            full.replay_stats().last_rebuild,
            Some(exchange::durable::RebuildStats {
                from_entry: 0,
                entries_replayed: before + 1,
            }),
            "{url}: without a checkpoint the rebuild reads every entry"
        );
        // Every projection is the full replay of the journal.
        for m in [&mut a, &mut b, &mut full] {
            m.refresh().await.expect("refresh");
        }
        assert_eq!(a.digest(), b.digest(), "{url}");
        assert_eq!(a.digest(), full.digest(), "{url}");
        assert_eq!(a.verify_projection().await.expect("verify a"), a.cursor());
        let fresh = reopen(&url, &clock).await;
        assert_eq!(fresh.digest(), a.digest(), "{url}: a fresh process agrees");
        assert_ledger_agrees(&a, &url).await;
    }
}

/// One step of a two-writer race.
#[derive(Clone, Debug)]
struct RaceStep {
    /// Which handle writes (false: A, true: B).
    b: bool,
    /// Skip the catch-up, as if the other writer had committed in between.
    blind: bool,
    orders: Vec<(u64, bool, i64, u64)>,
}

fn race_step() -> impl Strategy<Value = RaceStep> {
    (
        any::<bool>(),
        prop::bool::weighted(0.4),
        prop::collection::vec(
            (1..=ENTERPRISES, any::<bool>(), -15..=15_i64, 1..=4_u64),
            1..4,
        ),
    )
        .prop_map(|(b, blind, orders)| RaceStep { b, blind, orders })
}

async fn checkpoint_case(
    steps: &[RaceStep],
    every_a: u64,
    every_b: u64,
) -> Result<(), TestCaseError> {
    for (url, _dir) in databases().await {
        let (mut a, clock) = new_market(&url).await;
        let mut b = reopen(&url, &clock).await;
        a.set_checkpoint_every(every_a);
        b.set_checkpoint_every(every_b);
        let mut minute = 0;
        for step in steps {
            let commands: Vec<MarketCommand> = step
                .orders
                .iter()
                .map(|&(owner, buy, offset, lots)| {
                    minute += 1;
                    let side = if buy { Side::Buy } else { Side::Sell };
                    order(
                        owner,
                        side,
                        (CLOSE_TICKS as i64 + offset) as u64,
                        lots,
                        at(minute),
                    )
                })
                .collect();
            let m = if step.b { &mut b } else { &mut a };
            let outcomes = if step.blind {
                m.execute_without_catching_up(&commands).await
            } else {
                m.execute(&commands).await
            };
            prop_assert!(outcomes.is_ok(), "{}: {:?}", url, outcomes.err());
        }
        a.refresh().await.expect("refresh a");
        b.refresh().await.expect("refresh b");
        prop_assert_eq!(a.digest(), b.digest(), "{}", url);
        for m in [&mut a, &mut b] {
            let replayed = m.verify_projection().await;
            prop_assert!(replayed.is_ok(), "{}: {:?}", url, replayed.err());
            // A rebuild that found a checkpoint replayed from it, not from the beginning.
            let stats = m.replay_stats();
            if stats.restored_from_checkpoint > 0
                && let Some(last) = stats.last_rebuild
                && m.checkpoint_cursor().is_some()
            {
                prop_assert!(last.from_entry > 0, "{}: {:?}", url, stats);
            }
        }
        let fresh = reopen(&url, &clock).await;
        prop_assert_eq!(fresh.digest(), a.digest(), "{}: a fresh process", url);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    /// Checkpoint + tail == full replay, whatever the checkpoint interval and however the two
    /// writers' batches race (blind writes force lost races and rebuilds from checkpoints).
    #[test]
    fn checkpoint_and_tail_equal_a_full_replay(
        steps in prop::collection::vec(race_step(), 1..24),
        every_a in 1..6_u64,
        every_b in 0..3_u64,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(checkpoint_case(&steps, every_a, every_b))?;
    }
}

/// A party's first command maps its account in the same entry, and only if it is accepted: a
/// refused first command (or an unregistered party) logs nothing and maps nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_is_mapped_only_with_an_accepted_first_command() {
    for (url, _dir) in databases().await {
        let (mut m, clock) = new_market(&url).await;
        let party = register(&mut m, ENTERPRISES + 1).await;
        let head = m.ledger().store().head().await.expect("head").0;
        let logged = m.commands_logged();

        // Outside the ±10% band: refused, and the promised account is not mapped.
        let account = m.account_for(&party).expect("an id");
        assert_eq!(account, AccountId(ENTERPRISES + 1));
        let refused = m
            .execute_with_new_ids(order(account.0, Side::Buy, CLOSE_TICKS * 2, 1, at(1)), None)
            .await
            .expect("answered");
        assert!(
            matches!(refused, Err(ref e) if e.is_refusal()),
            "{url}: {refused:?}"
        );
        assert_eq!(
            m.ledger().store().head().await.expect("head").0,
            head,
            "{url}"
        );
        assert_eq!(m.commands_logged(), logged, "{url}: nothing logged");
        assert_eq!(m.mapping().and_then(|map| map.account_of(&party)), None);

        // An unregistered party: its mapping is refused, and the command with it.
        let stranger = Party::Enterprise(credit_code(ENTERPRISES + 2));
        let id = m.account_for(&stranger).expect("an id");
        let refused = m
            .execute_with_new_ids(order(id.0, Side::Buy, CLOSE_TICKS, 1, at(1)), None)
            .await
            .expect("answered");
        assert!(
            matches!(refused, Err(exchange::BridgeError::NotRegistered { .. })),
            "{url}: {refused:?}"
        );
        assert_eq!(
            m.ledger().store().head().await.expect("head").0,
            head,
            "{url}"
        );

        // Accepted: one entry with the mapping and the order.
        let account = m.account_for(&party).expect("an id");
        let placed = m
            .execute_with_new_ids(order(account.0, Side::Buy, CLOSE_TICKS, 1, at(2)), None)
            .await
            .expect("answered");
        assert!(placed.is_ok(), "{url}: {placed:?}");
        assert_eq!(m.ledger().store().head().await.expect("head").0, head + 1);
        let last = market_log(m.ledger()).await.pop().expect("an entry");
        assert!(
            matches!(
                last.commands.as_slice(),
                [
                    MarketCommand::MapAccount { .. },
                    MarketCommand::SubmitOrder { .. }
                ]
            ),
            "{url}: {:?}",
            last.commands
        );
        assert_eq!(
            m.mapping().and_then(|map| map.account_of(&party)),
            Some(account)
        );
        let fresh = reopen(&url, &clock).await;
        assert_eq!(fresh.digest(), m.digest(), "{url}");
    }
}

/// Registers and funds enterprise `n` (not yet in the market) and catches `m` up.
async fn register(m: &mut DurableMarket, n: u64) -> Party {
    let code = credit_code(n);
    m.ledger()
        .submit(req(
            &format!("register {n}"),
            vec![
                Action::RegisterEnterprise {
                    enterprise: enterprise_input(&code, n),
                },
                Action::Deposit {
                    instrument: CNY.into(),
                    enterprise: code.clone(),
                    amount: q(CASH_FEN, 2),
                },
            ],
        ))
        .await
        .expect("registered");
    m.refresh().await.expect("caught up");
    Party::Enterprise(code)
}

/// Two processes promise the same new account id: the second learns it was taken and logs
/// nothing, then plans again; a retry of a logged first command (same tag) on another process
/// answers from the log instead of mapping again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_commands_never_share_an_account_and_a_retry_answers_from_the_log() {
    for (url, _dir) in databases().await {
        let (mut a, clock) = new_market(&url).await;
        let p = register(&mut a, ENTERPRISES + 1).await;
        let q_party = register(&mut a, ENTERPRISES + 2).await;
        let mut b = reopen(&url, &clock).await;
        let buy =
            |account: AccountId, minute| order(account.0, Side::Buy, CLOSE_TICKS, 1, at(minute));
        let tag = |key: &str| CommandTag {
            key: key.into(),
            fingerprint: "f".into(),
        };

        let for_p = a.account_for(&p).expect("an id");
        let for_q = b.account_for(&q_party).expect("an id");
        assert_eq!(for_p, for_q, "both promise the next id");
        let placed = b
            .execute_with_new_ids(buy(for_q, 1), Some(tag("q-1")))
            .await
            .expect("answered");
        assert!(placed.is_ok(), "{url}: {placed:?}");
        let head = a.ledger().store().head().await.expect("head").0;
        let taken = a
            .execute_with_new_ids(buy(for_p, 1), Some(tag("p-1")))
            .await;
        assert!(
            matches!(taken, Err(exchange::BridgeError::IdsTaken(_))),
            "{url}: {taken:?}"
        );
        assert_eq!(
            a.ledger().store().head().await.expect("head").0,
            head,
            "{url}"
        );
        let for_p = a.account_for(&p).expect("a new id");
        assert_ne!(for_p, for_q);
        let placed = a
            .execute_with_new_ids(buy(for_p, 2), Some(tag("p-1")))
            .await
            .expect("answered");
        assert!(placed.is_ok(), "{url}: {placed:?}");

        // b retries p's command under p's tag, with the id it would promise: the log answers.
        let head = a.ledger().store().head().await.expect("head").0;
        let again = b.account_for(&p).expect("an id");
        let retried = b
            .execute_with_new_ids(buy(again, 2), Some(tag("p-1")))
            .await
            .expect("answered");
        assert_eq!(retried.ok(), placed.ok(), "{url}");
        assert_eq!(b.ledger().store().head().await.expect("head").0, head);
        b.refresh().await.expect("caught up");
        assert_eq!(a.digest(), b.digest(), "{url}");
        assert_eq!(b.verify_projection().await.expect("verify"), b.cursor());
    }
}

/// The market entries of `golden/market-v1.jsonl`, one ledger request per line, exactly as
/// today's code wrote them (`ETS_WRITE_GOLDEN=1` rewrites the file from the session below).
const GOLDEN_MARKET: &str = include_str!("golden/market-v1.jsonl");

/// Trades, a resting order, a transfer proposed and a day's end: the session the golden
/// entries record, on top of [`seed_ledger`] and [`setup_commands`].
fn golden_session() -> Vec<MarketCommand> {
    let transfer = TransferRequest {
        instrument: RIGHTS,
        seller: AccountId(2),
        buyer: AccountId(4),
        lots: 2,
        price_ticks: 10_050,
        expires_at: at(90),
    };
    vec![
        order(1, Side::Sell, 10_100, 5, at(1)),
        order(3, Side::Buy, 10_150, 7, at(3)),
        MarketCommand::ProposeTransfer {
            request: transfer,
            now: at(4),
        },
        MarketCommand::EndDay {
            next_day_end_ms: (start_time() + Duration::hours(32)).timestamp_millis(),
        },
    ]
}

/// Every market entry's request, in journal order, one JSON text per entry.
async fn market_requests(ledger: &Ledger) -> Vec<String> {
    let page = ledger.store().journal(0, 1_000).await.expect("journal");
    page.iter()
        .filter(|stored| stored.idempotency_key.starts_with("market/"))
        .map(|stored| {
            let entry: Entry = serde_json::from_str(&stored.body).expect("entry");
            serde_json::to_string(&entry.request).expect("request text")
        })
        .collect()
}

/// The persisted market format cannot drift silently: literal entries written by this code
/// replay into the same market, and today's code writes them byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literal_market_entries_replay_and_are_what_todays_code_writes() {
    for (url, _dir) in databases().await {
        let (mut live, _clock) = new_market(&url).await;
        for command in golden_session() {
            run_ok(&mut live, command).await;
        }
        let written = market_requests(live.ledger()).await;
        if std::env::var_os("ETS_WRITE_GOLDEN").is_some() {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/ledger/golden/market-v1.jsonl"
            );
            std::fs::write(path, written.join("\n") + "\n").expect("write the golden file");
        }
        let golden: Vec<&str> = GOLDEN_MARKET.lines().collect();
        assert_eq!(
            written, golden,
            "today's market entries differ from the golden text"
        );

        // A fresh database: the same register, then the literal entries, submitted as text.
        let dir = tempfile::tempdir().expect("temp dir");
        let fresh_url = format!("sqlite://{}", dir.path().join("golden.db").display());
        let clock = TestClock::new();
        let ledger = seed_ledger(&fresh_url, &clock).await;
        for line in &golden {
            let request: ledger::Request = serde_json::from_str(line).expect("a literal request");
            ledger
                .submit(request)
                .await
                .expect("the literal entry is accepted");
        }
        let replayed = DurableMarket::open_existing(ledger)
            .await
            .expect("the literal entries replay");
        assert_eq!(replayed.commands_logged(), live.commands_logged());
        let (book, live_book) = (
            replayed.market().book(RIGHTS).expect("listed"),
            live.market().book(RIGHTS).expect("listed"),
        );
        assert_eq!(book.trades_after(0), live_book.trades_after(0));
        assert_eq!(book.trades_after(0).len(), 1, "one trade of 5 lots");
        assert_eq!(book.depth(10), live_book.depth(10));
        for n in 0..=ENTERPRISES {
            for asset in [RIGHTS_ASSET, Asset::CashFen] {
                let account = AccountId(n);
                assert_eq!(
                    replayed.balance(account, asset),
                    live.balance(account, asset)
                );
            }
        }
        assert_ledger_agrees(&replayed, "golden replay").await;
    }
}
