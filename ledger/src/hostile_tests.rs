//! Hostile input against the real writer, on SQLite and (with `ETS_TEST_PG_URL`) PostgreSQL: a
//! request that storage refuses fails alone in its group commit, and stored text that PostgreSQL's
//! `jsonb` cannot represent still verifies and reads. In-crate tests, because they reach below the
//! public API: the storage failpoint ([`crate::batch::FAILPOINT_MEMO`]) and a write that bypasses
//! the text policy, as entries recorded before the policy existed did.

use std::str::FromStr;

use chrono::Utc;
use rust_decimal::Decimal;

use crate::batch::{Backend, FAILPOINT_MEMO, Prepared, run_begun};
use crate::enterprise::{ClassificationLists, EnterpriseInput};
use crate::{Action, Ledger, LedgerError, LedgerOptions, Party, Purpose, Quantity, Request, Store};

const A: &str = "91500103MA5U00011H";
const B: &str = "91500104MA5U0002XP";
const CEA: &str = "CEA.2024";

async fn databases() -> Vec<(String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let mut out = vec![(sqlite, Some(dir))];
    if let Some(url) = crate::testing::postgres_database("ets_hostile")
        .await
        .expect("a test database on ETS_TEST_PG_URL")
    {
        out.push((url, None));
    }
    out
}

fn request(key: &str, memo: Option<&str>, actions: Vec<Action>) -> Request {
    Request {
        idempotency_key: key.into(),
        actor: "bureau".into(),
        memo: memo.map(str::to_owned),
        actions,
    }
}

fn enterprise(code: &str, name: &str, district: &str) -> EnterpriseInput {
    serde_json::from_value(serde_json::json!({
        "credit_code": code, "name": name, "district": district,
        "industry_codes": ["3961"], "zoning": "general", "distance_to_river_m": 4200,
    }))
    .expect("enterprise input")
}

fn cea(units: &str) -> Quantity {
    Quantity(Decimal::from_str(units).expect("decimal"))
}

/// A ledger with A holding 10 000 CEA and B registered.
async fn open(url: &str) -> Ledger {
    let ledger = Ledger::open(url, LedgerOptions::default())
        .await
        .expect("open");
    let instrument = serde_json::from_value(serde_json::json!({
        "code": CEA, "kind": "carbon_allowance", "vintage": 2024, "scale": 0, "unit": "tCO2e"
    }))
    .expect("instrument");
    let setup = vec![
        Action::DefineInstrument { instrument },
        Action::RegisterEnterprise {
            enterprise: enterprise(A, "Alpha Chips", "500103"),
        },
        Action::RegisterEnterprise {
            enterprise: enterprise(B, "Beta Pharma", "500104"),
        },
        Action::Issue {
            instrument: CEA.into(),
            to: Party::Enterprise(A.into()),
            amount: cea("10000"),
        },
    ];
    ledger
        .submit(request("setup", None, setup))
        .await
        .expect("setup");
    ledger
}

fn transfer(key: &str, memo: Option<&str>) -> Request {
    request(
        key,
        memo,
        vec![Action::Transfer {
            instrument: CEA.into(),
            from: Party::Enterprise(A.into()),
            to: Party::Enterprise(B.into()),
            amount: cea("1"),
            purpose: Purpose::Transfer,
        }],
    )
}

async fn balance(ledger: &Ledger, account: &str) -> Decimal {
    let balances = ledger.store().balances(None).await.expect("balances");
    balances
        .into_iter()
        .find(|b| b.account == account)
        .map_or(Decimal::ZERO, |b| b.balance)
}

async fn assert_verified(store: &Store) {
    let report = crate::verify(store).await.expect("verify runs");
    assert!(report.is_ok(), "verify: {:#?}", report.problems);
}

/// Exactly the request at `faulty` failed, as a storage failure; every other one committed.
fn assert_only_faulty_failed(outcomes: &[Result<crate::Receipt, LedgerError>], faulty: usize) {
    for (index, outcome) in outcomes.iter().enumerate() {
        if index == faulty {
            assert!(
                matches!(outcome, Err(LedgerError::BatchFailed(_))),
                "the faulty request: {outcome:?}"
            );
        } else {
            assert!(outcome.is_ok(), "innocent request {index}: {outcome:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_storage_refuses_fails_alone_in_its_batch() {
    for (url, _dir) in databases().await {
        let ledger = open(&url).await;
        // One job is one batch: 200 transfers, the 77th of which storage refuses.
        let requests: Vec<Request> = (0..200)
            .map(|n| transfer(&format!("t-{n}"), (n == 77).then_some(FAILPOINT_MEMO)))
            .collect();
        let outcomes = ledger.submit_many(requests).await.expect("submitted");
        assert_only_faulty_failed(&outcomes, 77);
        assert_eq!(
            balance(&ledger, &format!("{B}/holding/{CEA}")).await,
            Decimal::from(199)
        );

        // The same, as concurrent submitters whose requests the writer gathers as it can.
        let tasks: Vec<_> = (0..100)
            .map(|n| {
                let ledger = ledger.clone();
                let memo = (n == 40).then_some(FAILPOINT_MEMO);
                tokio::spawn(async move { ledger.submit(transfer(&format!("c-{n}"), memo)).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("task"));
        }
        assert_only_faulty_failed(&outcomes, 40);
        assert_eq!(
            balance(&ledger, &format!("{B}/holding/{CEA}")).await,
            Decimal::from(298)
        );
        assert_verified(ledger.store()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_outside_the_policy_is_refused_before_any_batch() {
    for (url, _dir) in databases().await {
        let ledger = open(&url).await;
        let mut evidence = request(
            "nul-evidence",
            None,
            vec![Action::CertifyReduction {
                reduction: "r-1".into(),
                enterprise: A.into(),
                instrument: CEA.into(),
                amount: cea("1"),
                measure: crate::Measure::Upgrade,
                evidence: "meter\u{0}photo".into(),
            }],
        );
        let big = "x".repeat(crate::text::MEMO_CHARS_MAX + 1);
        let requests = vec![
            transfer("good-1", None),
            transfer("nul-memo", Some("a\u{0}b")),
            transfer("big-memo", Some(&big)),
            evidence.clone(),
            transfer("good-2", None),
        ];
        let outcomes = ledger.submit_many(requests).await.expect("submitted");
        assert!(outcomes[0].is_ok() && outcomes[4].is_ok(), "{outcomes:?}");
        let fields: Vec<Option<String>> = outcomes[1..4]
            .iter()
            .map(|o| o.as_ref().err().and_then(LedgerError::pointer))
            .collect();
        assert_eq!(
            fields,
            [
                Some("/memo".to_owned()),
                Some("/memo".to_owned()),
                Some("/actions/0/evidence".to_owned())
            ]
        );
        evidence.idempotency_key = "tab-evidence".into();
        if let Action::CertifyReduction { evidence: text, .. } = &mut evidence.actions[0] {
            *text = "meter\tphoto\nsigned".into();
        }
        ledger
            .submit(evidence)
            .await
            .expect("newline and tab are prose");
        assert_verified(ledger.store()).await;
    }
}

/// Records `request` as the writer would, but without the text policy: as entries recorded
/// before the policy existed.
async fn record_unchecked<B: Backend>(backend: &B, request: Request) {
    let lists = ClassificationLists::embedded().expect("lists");
    let prepared = Prepared::new(&request);
    let begun = backend.begin().await.expect("begin");
    let outcomes = run_begun::<B>(begun, &[request], &[prepared], Utc::now(), &lists)
        .await
        .expect("written");
    assert!(outcomes[0].is_ok(), "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_holding_nul_still_verifies_and_reads() {
    for (url, _dir) in databases().await {
        let ledger = open(&url).await;
        let mut nul = transfer("nul-memo", Some("a\u{0}b"));
        nul.actions.push(Action::Cancel {
            instrument: CEA.into(),
            from: Party::Enterprise(A.into()),
            amount: cea("1"),
            reason: "why\u{0}".into(),
        });
        match ledger.store() {
            Store::Sqlite(backend) => record_unchecked(backend, nul).await,
            Store::Postgres(backend) => {
                record_unchecked(backend, nul).await;
                // The view parses with `json` now: the old `jsonb` cast refused this body.
                let sql = "SELECT reference FROM postings WHERE code = 'cancel'";
                let reference: Option<String> = sqlx::query_scalar(sql)
                    .fetch_one(&backend.pool)
                    .await
                    .expect("the postings view reads");
                assert_eq!(reference.as_deref(), Some("why\u{fffd}"));
            }
        }
        ledger.submit(transfer("after", None)).await.expect("after");
        assert_verified(ledger.store()).await;
        let journal = ledger.store().journal(0, 100).await.expect("journal");
        let entry = journal
            .iter()
            .find(|e| e.idempotency_key == "nul-memo")
            .expect("recorded");
        let parsed: crate::journal::Entry = serde_json::from_str(&entry.body).expect("parses");
        assert_eq!(parsed.request.memo.as_deref(), Some("a\u{0}b"));
        let postings = ledger.store().postings(entry.seq, entry.seq).await;
        let postings = postings.expect("postings read");
        assert_eq!(postings[1].2.reference.as_deref(), Some("why\u{0}"));
    }
}
