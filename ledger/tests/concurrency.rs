//! No double spending: many tasks, through several independently opened ledgers (each its own
//! writer and connection pool, as separate processes would have), spend from one account at once.
//! (Two real OS processes on PostgreSQL are exercised by the whole-system tests in `tests/`.)

mod common;

use common::*;
use ledger::{Action, Ledger, LedgerError, Party, Purpose};
use rust_decimal::Decimal;

const HANDLES: usize = 3;
const TASKS_PER_HANDLE: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spenders_never_overdraw_and_totals_are_conserved() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let first = open(&url, &clock).await;
        let fund = Action::Issue {
            instrument: COD.into(),
            to: ent(A),
            amount: q("100"),
        };
        first.submit(req("fund", vec![fund])).await.unwrap();
        let mut handles = vec![first];
        for _ in 1..HANDLES {
            handles.push(Ledger::open(&url, clock.options()).await.unwrap());
        }
        let mut tasks = Vec::new();
        for (h, ledger) in handles.iter().enumerate() {
            for t in 0..TASKS_PER_HANDLE {
                let ledger = ledger.clone();
                tasks.push(tokio::spawn(async move {
                    let spend = Action::Transfer {
                        instrument: COD.into(),
                        from: ent(A),
                        to: if t % 2 == 0 { ent(B) } else { Party::Reserve },
                        amount: q("3"),
                        purpose: Purpose::Trade,
                    };
                    ledger
                        .submit(req(&format!("spend-{h}-{t}"), vec![spend]))
                        .await
                }));
            }
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
        let ledger = &handles[0];
        assert_eq!(accepted, 33, "exactly floor(100 / 3) spends fit on {url}");
        assert_eq!(
            balance(ledger, &format!("{A}/holding/{COD}")).await,
            Decimal::ONE
        );
        let balances = ledger.store().balances(None).await.unwrap();
        assert!(
            balances
                .iter()
                .all(|b| b.balance >= Decimal::ZERO || b.account.contains("/issuance/"))
        );
        let total: Decimal = balances
            .iter()
            .filter(|b| b.instrument == COD)
            .map(|b| b.balance)
            .sum();
        assert_eq!(total, Decimal::ZERO);
        assert_verified(ledger).await;
    }
}
