//! The writer works out batch N+1 on a reader connection while batch N commits. These tests drive
//! it with many concurrent submitters, so batches really are worked out ahead (the writer's
//! statistics must say so), and check that nothing a sequential writer guarantees is lost: no
//! double spend, one chain that verifies, retries answered with the first receipt, a reused key
//! with a different request refused, holds placed in one batch seen (and expired) by the next.
//! Several ledgers on one database (as separate processes) force the fallback where the chain
//! head moved under a batch worked out ahead.

mod common;

use std::sync::Arc;

use common::*;
use ledger::{Action, Ledger, LedgerError, Party, Purpose, Receipt};
use rust_decimal::Decimal;

fn spend(amount: &str, to: Party) -> Action {
    Action::Transfer {
        instrument: COD.into(),
        from: ent(A),
        to,
        amount: q(amount),
        purpose: Purpose::Trade,
    }
}

async fn fund(ledger: &Ledger, amount: &str) {
    let issue = Action::Issue {
        instrument: COD.into(),
        to: ent(A),
        amount: q(amount),
    };
    ledger.submit(req("fund", vec![issue])).await.unwrap();
}

async fn cod_total_is_zero(ledger: &Ledger) {
    let balances = ledger.store().balances(None).await.unwrap();
    let total: Decimal = balances
        .iter()
        .filter(|b| b.instrument == COD)
        .map(|b| b.balance)
        .sum();
    assert_eq!(total, Decimal::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_worked_out_ahead_keep_every_guarantee() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        fund(&ledger, "250").await;
        // Each task spends 1, then retries the same request, then reuses its key for another.
        let mut tasks = Vec::new();
        for t in 0..400 {
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(async move {
                let key = format!("spend-{t}");
                let first = ledger.submit(req(&key, vec![spend("1", ent(B))])).await;
                let again = ledger.submit(req(&key, vec![spend("1", ent(B))])).await;
                let other = ledger.submit(req(&key, vec![spend("2", ent(C))])).await;
                (first, again, other)
            }));
        }
        let mut accepted: Vec<Receipt> = Vec::new();
        for task in tasks {
            let (first, again, other) = task.await.unwrap();
            match first {
                Ok(receipt) => {
                    let again = again.expect("a retry of an accepted request succeeds");
                    assert!(again.replayed);
                    assert_eq!((again.seq, &again.hash), (receipt.seq, &receipt.hash));
                    assert!(matches!(
                        other.unwrap_err().root(),
                        LedgerError::IdempotencyConflict { .. }
                    ));
                    accepted.push(receipt);
                }
                Err(error) => {
                    assert!(
                        matches!(error.root(), LedgerError::InsufficientBalance { .. }),
                        "{url}: {error}"
                    );
                    // A refused request recorded nothing: its key is still free, and a retry
                    // is refused the same way while the balance is spent.
                    let again = again.unwrap_err();
                    assert!(
                        matches!(again.root(), LedgerError::InsufficientBalance { .. }),
                        "{url}: {again}"
                    );
                }
            }
        }
        assert_eq!(accepted.len(), 250, "exactly 250 spends of 1 fit on {url}");
        let mut seqs: Vec<u64> = accepted.iter().map(|r| r.seq).collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 250, "every accepted spend has its own entry");
        assert_eq!(
            balance(&ledger, &format!("{A}/holding/{COD}")).await,
            Decimal::ZERO
        );
        assert_eq!(
            balance(&ledger, &format!("{B}/holding/{COD}")).await,
            q("250").0
        );
        cod_total_is_zero(&ledger).await;
        let stats = ledger.writer_stats();
        assert!(
            stats.pipelined > 0,
            "{url}: no batch was worked out ahead: {stats:?}"
        );
        assert_verified(&ledger).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn holds_from_a_committing_batch_are_seen_by_the_next() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        fund(&ledger, "1000").await;
        let expiry = start_time() + chrono::Duration::minutes(5);
        let mut tasks = Vec::new();
        for t in 0..200 {
            let ledger = ledger.clone();
            let clock = clock.clone();
            tasks.push(tokio::spawn(async move {
                let hold = format!("hold-{t}");
                let place = Action::PlaceHold {
                    hold: hold.clone(),
                    instrument: COD.into(),
                    from: ent(A),
                    amount: q("2"),
                    expires_at: expiry,
                };
                ledger
                    .submit(req(&format!("place-{t}"), vec![place]))
                    .await
                    .unwrap();
                // The hold may still be committing when the next request is worked out.
                let next = match t % 4 {
                    0 => Action::PostHold {
                        hold,
                        to: ent(B),
                        amount: q("1.5"),
                        purpose: Purpose::Trade,
                    },
                    1 => Action::VoidHold { hold },
                    2 => {
                        clock.advance(chrono::Duration::seconds(3));
                        Action::ExpireHolds {}
                    }
                    _ => Action::PostHold {
                        hold,
                        to: ent(C),
                        amount: q("2"),
                        purpose: Purpose::Trade,
                    },
                };
                ledger.submit(req(&format!("next-{t}"), vec![next])).await
            }));
        }
        for task in tasks {
            if let Err(error) = task.await.unwrap() {
                // A hold expired by another task's expire_holds can no longer be posted or voided.
                assert!(
                    matches!(
                        error.root(),
                        LedgerError::HoldNotOpen { .. } | LedgerError::HoldExpired { .. }
                    ),
                    "{url}: {error}"
                );
            }
        }
        clock.advance(chrono::Duration::minutes(10));
        ledger
            .submit(req("expire-all", vec![Action::ExpireHolds {}]))
            .await
            .unwrap();
        assert!(
            ledger
                .store()
                .holds()
                .await
                .unwrap()
                .iter()
                .all(|h| h.state != ledger::book::HoldState::Open),
            "{url}: every hold is closed after the final expiry"
        );
        let escrow = ledger::AccountKey::bureau(ledger::AccountKind::Escrow, COD).id();
        assert_eq!(
            balance(&ledger, &escrow).await,
            Decimal::ZERO,
            "{url}: nothing left in escrow"
        );
        cod_total_is_zero(&ledger).await;
        assert_verified(&ledger).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_in_several_processes_fall_back_when_the_head_moves() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let first = open(&url, &clock).await;
        fund(&first, "300").await;
        let mut handles = vec![first];
        for _ in 1..3 {
            handles.push(Ledger::open(&url, clock.options()).await.unwrap());
        }
        let handles = Arc::new(handles);
        let mut tasks = Vec::new();
        for t in 0..600 {
            let handles = handles.clone();
            tasks.push(tokio::spawn(async move {
                let ledger = &handles[t % handles.len()];
                let to = if t % 2 == 0 { ent(B) } else { Party::Reserve };
                ledger
                    .submit(req(&format!("spend-{t}"), vec![spend("1", to)]))
                    .await
            }));
        }
        let mut accepted = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => accepted += 1,
                Err(error) => assert!(
                    matches!(error.root(), LedgerError::InsufficientBalance { .. }),
                    "{url}: {error}"
                ),
            }
        }
        assert_eq!(accepted, 300, "exactly 300 spends of 1 fit on {url}");
        let ledger = &handles[0];
        assert_eq!(
            balance(ledger, &format!("{A}/holding/{COD}")).await,
            Decimal::ZERO
        );
        cod_total_is_zero(ledger).await;
        assert_verified(ledger).await;
    }
}

/// A large entry (a market batch carries its commands in the memo: megabytes of JSON) reads back
/// byte for byte and verifies; on PostgreSQL its body column is lz4-compressed (migration 0002).
/// In the same batch, one request names a hold that exists and sweeps expired ones: hold loads
/// by id and by expiry are separate queries, each hold is seen once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_round_trip_and_hold_loads_combine() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        fund(&ledger, "1000").await;
        let place = |hold: &str, minutes: i64| Action::PlaceHold {
            hold: hold.into(),
            instrument: COD.into(),
            from: ent(A),
            amount: q("10"),
            expires_at: start_time() + chrono::Duration::minutes(minutes),
        };
        ledger
            .submit(req("place", vec![place("early", 1), place("late", 60)]))
            .await
            .unwrap();
        clock.advance(chrono::Duration::minutes(2));
        let memo: String = (0..40_000).map(|i| format!("\"{i}\"é\n")).collect();
        let mut big = req("big", vec![Action::ExpireHolds {}]);
        big.memo = Some(memo.clone());
        let post = req(
            "post-late",
            vec![Action::PostHold {
                hold: "late".into(),
                to: ent(B),
                amount: q("10"),
                purpose: Purpose::Trade,
            }],
        );
        let results = ledger.submit_many(vec![big, post]).await.unwrap();
        for result in &results {
            assert!(result.is_ok(), "{result:?}");
        }
        let states: Vec<(String, String)> = ledger
            .store()
            .holds()
            .await
            .unwrap()
            .into_iter()
            .map(|h| (h.id, h.state.as_str().to_owned()))
            .collect();
        assert_eq!(
            states,
            vec![
                ("early".to_owned(), "expired".to_owned()),
                ("late".to_owned(), "posted".to_owned())
            ]
        );
        let journal = ledger.store().journal(0, 100).await.unwrap();
        let stored = journal
            .iter()
            .find(|e| e.idempotency_key == "big")
            .expect("the big entry");
        let entry: ledger::journal::Entry = serde_json::from_str(&stored.body).unwrap();
        assert_eq!(entry.request.memo.as_deref(), Some(memo.as_str()));
        assert!(ledger::verify(ledger.store()).await.unwrap().is_ok());
        if url.starts_with("postgres") {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let compression: String = sqlx::query_scalar(
                "SELECT attcompression::text FROM pg_attribute
                 WHERE attrelid = 'journal'::regclass AND attname = 'body'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            assert_eq!(compression, "l", "journal.body should be lz4-compressed");
        }
    }
}
