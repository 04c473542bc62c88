//! The ledger's rules, each checked on SQLite and PostgreSQL: postings, holds, reductions,
//! idempotency, and every refusal leaving the ledger exactly as it was.

mod common;

use chrono::Duration;
use common::*;
use ledger::{Action, LedgerError, Measure, Party, Purpose};
use rust_decimal::Decimal;
use std::str::FromStr;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn issue(instrument: &str, to: Party, amount: &str) -> Action {
    Action::Issue {
        instrument: instrument.into(),
        to,
        amount: q(amount),
    }
}

fn transfer(instrument: &str, from: &str, to: &str, amount: &str) -> Action {
    Action::Transfer {
        instrument: instrument.into(),
        from: ent(from),
        to: ent(to),
        amount: q(amount),
        purpose: Purpose::Trade,
    }
}

#[tokio::test]
async fn issue_allocate_transfer_surrender_conserve_and_verify() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        ledger
            .submit(req("issue", vec![issue(COD, Party::Reserve, "1000.000")]))
            .await
            .unwrap();
        let allocate = Action::Allocate {
            instrument: COD.into(),
            to: A.into(),
            amount: q("400.250"),
        };
        ledger.submit(req("alloc", vec![allocate])).await.unwrap();
        ledger
            .submit(req("t1", vec![transfer(COD, A, B, "100.125")]))
            .await
            .unwrap();
        let surrender = Action::Surrender {
            instrument: COD.into(),
            enterprise: B.into(),
            amount: q("50"),
            compliance_year: 2025,
        };
        ledger.submit(req("s1", vec![surrender])).await.unwrap();

        assert_eq!(
            balance(&ledger, &format!("bureau/reserve/{COD}")).await,
            dec("599.750"),
            "{url}"
        );
        assert_eq!(
            balance(&ledger, &format!("{A}/holding/{COD}")).await,
            dec("300.125")
        );
        assert_eq!(
            balance(&ledger, &format!("{B}/holding/{COD}")).await,
            dec("50.125")
        );
        assert_eq!(
            balance(&ledger, &format!("bureau/surrender/{COD}")).await,
            dec("50.000")
        );
        assert_eq!(
            balance(&ledger, &format!("bureau/issuance/{COD}")).await,
            dec("-1000.000")
        );
        let total: Decimal = ledger
            .store()
            .balances(None)
            .await
            .unwrap()
            .iter()
            .filter(|b| b.instrument == COD)
            .map(|b| b.balance)
            .sum();
        assert_eq!(
            total,
            Decimal::ZERO,
            "balances of an instrument sum to zero"
        );
        assert_verified(&ledger).await;
    }
}

#[tokio::test]
async fn certified_reduction_moves_freed_capacity_into_the_reserve_with_provenance() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        ledger
            .submit(req("issue", vec![issue(COD, ent(C), "80")]))
            .await
            .unwrap();
        let certify = Action::CertifyReduction {
            reduction: "R-2025-001".into(),
            enterprise: C.into(),
            instrument: COD.into(),
            amount: q("30.5"),
            measure: Measure::Treatment,
            evidence: "EIA acceptance report 渝环验〔2025〕12号".into(),
        };
        let receipt = ledger
            .submit(req("cert", vec![certify.clone()]))
            .await
            .unwrap();
        assert_eq!(receipt.postings.len(), 1);
        assert_eq!(receipt.postings[0].reference.as_deref(), Some("R-2025-001"));
        assert_eq!(
            balance(&ledger, &format!("{C}/holding/{COD}")).await,
            dec("49.5"),
            "{url}"
        );
        assert_eq!(
            balance(&ledger, &format!("bureau/reserve/{COD}")).await,
            dec("30.5")
        );
        let reductions = ledger.store().reductions().await.unwrap();
        assert_eq!(reductions.len(), 1);
        assert_eq!(
            (
                reductions[0].enterprise.as_str(),
                reductions[0].units,
                reductions[0].seq
            ),
            (C, 30_500, receipt.seq)
        );
        // The same reduction id cannot be certified twice.
        let again = ledger
            .submit(req("cert-2", vec![certify]))
            .await
            .unwrap_err();
        assert!(
            matches!(
                again.root(),
                LedgerError::AlreadyExists {
                    what: "reduction",
                    ..
                }
            ),
            "{again}"
        );
        assert_verified(&ledger).await;
    }
}

#[tokio::test]
async fn holds_post_partially_void_and_expire() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        let deposit = Action::Deposit {
            instrument: CNY.into(),
            enterprise: A.into(),
            amount: q("10000.00"),
        };
        ledger.submit(req("dep", vec![deposit])).await.unwrap();
        let hold = |id: &str, amount: &str, minutes: i64| Action::PlaceHold {
            hold: id.into(),
            instrument: CNY.into(),
            from: ent(A),
            amount: q(amount),
            // Nanoseconds survive storage, so replay sees the same expiry.
            expires_at: clock.now() + Duration::minutes(minutes) + Duration::nanoseconds(789),
        };
        ledger
            .submit(req(
                "h1",
                vec![hold("bid-1", "6000", 60), hold("bid-2", "3000", 5)],
            ))
            .await
            .unwrap();
        assert_eq!(
            balance(&ledger, &format!("{A}/holding/{CNY}")).await,
            dec("1000.00"),
            "{url}"
        );
        assert_eq!(
            balance(&ledger, &format!("bureau/escrow/{CNY}")).await,
            dec("9000.00")
        );

        let post = Action::PostHold {
            hold: "bid-1".into(),
            to: Party::Reserve,
            amount: q("2500"),
            purpose: Purpose::Auction,
        };
        ledger.submit(req("p1", vec![post])).await.unwrap();
        let over = Action::PostHold {
            hold: "bid-1".into(),
            to: Party::Reserve,
            amount: q("3500.01"),
            purpose: Purpose::Auction,
        };
        let error = ledger.submit(req("p2", vec![over])).await.unwrap_err();
        assert!(
            matches!(error.root(), LedgerError::HoldExceeded { .. }),
            "{error}"
        );
        ledger
            .submit(req(
                "v1",
                vec![Action::VoidHold {
                    hold: "bid-1".into(),
                }],
            ))
            .await
            .unwrap();
        let error = ledger
            .submit(req(
                "v2",
                vec![Action::VoidHold {
                    hold: "bid-1".into(),
                }],
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error.root(),
                LedgerError::HoldNotOpen {
                    state: "voided",
                    ..
                }
            ),
            "{error}"
        );

        clock.advance(Duration::minutes(10));
        // Past its expiry nothing may be posted from a hold (a void would still return it).
        let late = Action::PostHold {
            hold: "bid-2".into(),
            to: Party::Reserve,
            amount: q("1"),
            purpose: Purpose::Auction,
        };
        let error = ledger.submit(req("late", vec![late])).await.unwrap_err();
        assert!(
            matches!(error.root(), LedgerError::HoldExpired { .. }),
            "{error}"
        );
        ledger
            .submit(req("sweep", vec![Action::ExpireHolds {}]))
            .await
            .unwrap();
        assert_eq!(
            balance(&ledger, &format!("{A}/holding/{CNY}")).await,
            dec("7500.00")
        );
        assert_eq!(
            balance(&ledger, &format!("bureau/reserve/{CNY}")).await,
            dec("2500.00")
        );
        assert_eq!(
            balance(&ledger, &format!("bureau/escrow/{CNY}")).await,
            Decimal::ZERO
        );
        let states: Vec<_> = ledger
            .store()
            .holds()
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.state.as_str())
            .collect();
        assert_eq!(states, vec!["voided", "expired"]);
        assert_verified(&ledger).await;
    }
}

#[tokio::test]
async fn a_void_after_expiry_returns_the_hold_as_expiry_would() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        let deposit = Action::Deposit {
            instrument: CNY.into(),
            enterprise: A.into(),
            amount: q("100.00"),
        };
        let hold = Action::PlaceHold {
            hold: "day-order".into(),
            instrument: CNY.into(),
            from: ent(A),
            amount: q("40.00"),
            expires_at: clock.now() + Duration::minutes(1),
        };
        ledger.submit(req("d", vec![deposit, hold])).await.unwrap();
        clock.advance(Duration::days(9));
        let void = Action::VoidHold {
            hold: "day-order".into(),
        };
        ledger.submit(req("late", vec![void])).await.unwrap();
        assert_eq!(
            balance(&ledger, &format!("{A}/holding/{CNY}")).await,
            dec("100.00")
        );
        let states: Vec<_> = ledger.store().holds().await.unwrap();
        assert_eq!(states[0].state.as_str(), "voided");
        assert_verified(&ledger).await;
    }
}

#[tokio::test]
async fn an_annotation_records_its_note_and_changes_nothing() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        let deposit = Action::Deposit {
            instrument: CNY.into(),
            enterprise: A.into(),
            amount: q("100.00"),
        };
        let hold = Action::PlaceHold {
            hold: "short".into(),
            instrument: CNY.into(),
            from: ent(A),
            amount: q("40"),
            expires_at: clock.now() + Duration::minutes(1),
        };
        ledger
            .submit(req("fund", vec![deposit, hold]))
            .await
            .unwrap();
        clock.advance(Duration::minutes(5));
        let balances = ledger.store().balances(None).await.unwrap();
        let holds = ledger.store().holds().await.unwrap();
        // Exactly at the limit, multi-byte, with newline and tab: accepted.
        let note = format!("{}\n\t", "排".repeat(ledger::request::NOTE_LEN_MAX - 2));
        let receipt = ledger
            .submit(req("note", vec![Action::Annotate { note: note.clone() }]))
            .await
            .unwrap();
        assert!(receipt.postings.is_empty(), "{url}: {:?}", receipt.postings);
        // Unlike `expire_holds`, the note leaves the expired hold open and every balance as it was.
        assert_eq!(
            ledger.store().balances(None).await.unwrap(),
            balances,
            "{url}"
        );
        assert_eq!(ledger.store().holds().await.unwrap(), holds, "{url}");
        let page = ledger.store().journal(receipt.seq - 1, 1).await.unwrap();
        let entry: ledger::journal::Entry = serde_json::from_str(&page[0].body).unwrap();
        assert_eq!(
            entry.request.actions,
            vec![Action::Annotate { note: note.clone() }]
        );
        // A retry is answered with the first receipt.
        let again = ledger
            .submit(req("note", vec![Action::Annotate { note }]))
            .await
            .unwrap();
        assert!(again.replayed && again.seq == receipt.seq, "{url}");
        assert_verified(&ledger).await;
        // A reopened ledger (verification replays every entry) agrees.
        drop(ledger);
        let reopened = open(&url, &clock).await;
        assert_verified(&reopened).await;
    }
}

#[tokio::test]
async fn a_retry_returns_the_first_outcome_and_a_changed_request_is_refused() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        let first = ledger
            .submit(req("once", vec![issue(COD, ent(A), "10")]))
            .await
            .unwrap();
        let again = ledger
            .submit(req("once", vec![issue(COD, ent(A), "10")]))
            .await
            .unwrap();
        assert!(!first.replayed && again.replayed, "{url}");
        assert_eq!(
            (first.seq, &first.hash, &first.postings),
            (again.seq, &again.hash, &again.postings)
        );
        assert_eq!(
            balance(&ledger, &format!("{A}/holding/{COD}")).await,
            dec("10"),
            "applied once"
        );

        let changed = ledger
            .submit(req("once", vec![issue(COD, ent(A), "11")]))
            .await
            .unwrap_err();
        assert!(
            matches!(changed, LedgerError::IdempotencyConflict { seq, .. } if seq == first.seq),
            "{changed}"
        );
        // Within one batch too: the second copy replays the first.
        let results = ledger
            .submit_many(vec![
                req("twin", vec![issue(COD, ent(B), "1")]),
                req("twin", vec![issue(COD, ent(B), "1")]),
            ])
            .await
            .unwrap();
        let receipts: Vec<_> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            (receipts[0].seq, receipts[1].replayed),
            (receipts[1].seq, true)
        );
        assert_eq!(
            balance(&ledger, &format!("{B}/holding/{COD}")).await,
            dec("1")
        );
        assert_verified(&ledger).await;
    }
}

/// Every refusal names its problem and writes nothing: same chain head, same balances.
#[tokio::test]
async fn bad_input_is_refused_with_a_named_error_and_changes_nothing() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        ledger
            .submit(req(
                "fund",
                vec![issue(COD, ent(A), "100"), issue(CEA, ent(A), "5")],
            ))
            .await
            .unwrap();
        ledger
            .submit(req(
                "freeze",
                vec![Action::Freeze {
                    instrument: CEA.into(),
                    holder: ent(A),
                    reason: None,
                    reference: None,
                }],
            ))
            .await
            .unwrap();
        let before = (
            ledger.store().head().await.unwrap(),
            ledger.store().balances(None).await.unwrap(),
        );

        type Case = (
            &'static str,
            Vec<Action>,
            fn(&LedgerError) -> bool,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "unknown instrument",
                vec![transfer("NOPE", A, B, "1")],
                |e| matches!(e, LedgerError::UnknownInstrument { .. }),
                "unknown instrument \"NOPE\"",
            ),
            (
                "zero",
                vec![transfer(COD, A, B, "0")],
                |e| matches!(e, LedgerError::NonPositiveAmount { .. }),
                "must be greater than zero",
            ),
            (
                "negative",
                vec![transfer(COD, A, B, "-5")],
                |e| matches!(e, LedgerError::NonPositiveAmount { .. }),
                "must be greater than zero",
            ),
            (
                "too many places",
                vec![transfer(COD, A, B, "1.0005")],
                |e| matches!(e, LedgerError::TooManyDecimalPlaces { scale: 3, .. }),
                "more than the 3 decimal places",
            ),
            (
                "overdraft",
                vec![transfer(COD, A, B, "100.001")],
                |e| matches!(e, LedgerError::InsufficientBalance { .. }),
                "has 100.000, needs 100.001",
            ),
            (
                "frozen",
                vec![transfer(CEA, A, B, "1")],
                |e| matches!(e, LedgerError::AccountFrozen { .. }),
                "is frozen",
            ),
            (
                "expired",
                vec![issue(SO2, ent(A), "1")],
                |e| matches!(e, LedgerError::InstrumentExpired { .. }),
                "expired on 2024-12-31",
            ),
            (
                "unregistered enterprise",
                vec![transfer(COD, A, "91350100M000100Y43", "1")],
                |e| matches!(e, LedgerError::UnknownEnterprise { .. }),
                "is not registered",
            ),
            (
                "cash cannot be issued",
                vec![issue(CNY, ent(A), "1")],
                |e| matches!(e, LedgerError::WrongInstrumentKind { .. }),
                "settlement cash",
            ),
            (
                "blank note",
                vec![Action::Annotate {
                    note: " \n ".into(),
                }],
                |e| matches!(e, LedgerError::InvalidField { field, .. } if field == "note"),
                "invalid note: must not be blank",
            ),
            (
                "note too long",
                vec![Action::Annotate {
                    note: "排".repeat(ledger::request::NOTE_LEN_MAX + 1),
                }],
                // The text policy refuses it on submission, naming the field's path.
                |e| matches!(e, LedgerError::InvalidText { field, .. } if field == "actions/0/note"),
                "has 1025 characters, more than the 1024 allowed",
            ),
            (
                "control character in a note",
                vec![Action::Annotate {
                    note: "bell \u{7}".into(),
                }],
                |e| matches!(e, LedgerError::InvalidText { field, .. } if field == "actions/0/note"),
                "control character",
            ),
            // All or nothing: the first action alone would succeed.
            (
                "note with a failing action",
                vec![
                    Action::Annotate {
                        note: "fine".into(),
                    },
                    transfer(COD, A, B, "100.001"),
                ],
                |e| matches!(e, LedgerError::InsufficientBalance { .. }),
                "action 1 (transfer)",
            ),
            (
                "second action fails",
                vec![transfer(COD, A, B, "60"), transfer(COD, A, B, "60")],
                |e| matches!(e, LedgerError::InsufficientBalance { .. }),
                "action 1 (transfer)",
            ),
        ];
        for (name, actions, expected, message) in cases {
            let error = ledger
                .submit(req(&format!("bad-{name}"), actions))
                .await
                .unwrap_err();
            assert!(
                expected(error.root()),
                "{name} on {url}: wrong error {error:?}"
            );
            assert!(
                error.to_string().contains(message),
                "{name}: message {:?} lacks {message:?}",
                error.to_string()
            );
        }
        let bad_code = ledger
            .submit(req(
                "bad-code",
                vec![Action::RegisterEnterprise {
                    enterprise: enterprise_input("91500103MA5U00011X", "Typo Ltd", "500103"),
                }],
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(bad_code.root(), LedgerError::InvalidEnterprise(_)),
            "{bad_code}"
        );
        let reused = ledger
            .submit(req("fund", vec![issue(COD, ent(B), "1")]))
            .await
            .unwrap_err();
        assert!(
            matches!(reused, LedgerError::IdempotencyConflict { .. }),
            "{reused}"
        );

        let after = (
            ledger.store().head().await.unwrap(),
            ledger.store().balances(None).await.unwrap(),
        );
        assert_eq!(before, after, "a refused request wrote nothing on {url}");
        assert_verified(&ledger).await;
    }
}

#[tokio::test]
async fn verify_detects_a_tampered_balance() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let clock = TestClock::new(start_time());
    let ledger = open(&url, &clock).await;
    ledger
        .submit(req("i", vec![issue(COD, ent(A), "5")]))
        .await
        .unwrap();
    assert_verified(&ledger).await;
    let ledger::Store::Sqlite(_) = ledger.store() else {
        unreachable!()
    };
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE accounts SET credits = credits + 1 WHERE owner = ?")
        .bind(A)
        .execute(&mut conn)
        .await
        .unwrap();
    let edit = sqlx::query("UPDATE journal SET body = body || ' ' WHERE seq = 2")
        .execute(&mut conn)
        .await;
    assert!(
        edit.unwrap_err().to_string().contains("append-only"),
        "the journal refuses edits"
    );
    let report = ledger::verify(ledger.store()).await.unwrap();
    assert!(!report.is_ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&format!("account {A}/holding/{COD}"))),
        "{:?}",
        report.problems
    );
    assert!(
        report.problems.iter().any(|p| p.contains("sum to 1")),
        "{:?}",
        report.problems
    );
}

fn place(hold: &str, from: &str, amount: &str, expires: chrono::DateTime<chrono::Utc>) -> Action {
    Action::PlaceHold {
        hold: hold.into(),
        instrument: CEA.into(),
        from: ent(from),
        amount: q(amount),
        expires_at: expires,
    }
}

/// A code taken by a squatter blocks its owner until the bureau releases it: what was held goes
/// back to the squatter, the release and its reason are journaled, and the owner's hold under the
/// same code is accepted; a released code cannot be released twice, and the replay verifies.
#[tokio::test]
async fn release_hold_code_frees_a_stuck_code_for_its_owner() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        let expires = clock.now() + Duration::hours(1);
        let fund = vec![issue(CEA, ent(A), "10"), issue(CEA, ent(B), "10")];
        ledger.submit(req("fund", fund)).await.unwrap();
        let code = "mkt.order.1.7";
        ledger
            .submit(req("squat", vec![place(code, B, "1", expires)]))
            .await
            .unwrap();
        let error = ledger
            .submit(req("owner-1", vec![place(code, A, "4", expires)]))
            .await
            .unwrap_err();
        assert!(
            matches!(error.root(), LedgerError::AlreadyExists { .. }),
            "{error}"
        );
        let release = |key: &str, reason: &str| {
            req(
                key,
                vec![Action::ReleaseHoldCode {
                    hold: code.into(),
                    reason: reason.into(),
                }],
            )
        };
        let error = ledger.submit(release("r0", " ")).await.unwrap_err();
        assert!(error.to_string().contains("needs a reason"), "{error}");
        let receipt = ledger
            .submit(release(
                "r1",
                "taken by 91500104MA5U0002XP outside its namespace",
            ))
            .await
            .unwrap();
        assert_eq!(receipt.postings.len(), 1);
        assert_eq!(receipt.postings[0].credit, format!("{B}/holding/{CEA}"));
        assert_eq!(
            balance(&ledger, &format!("{B}/holding/{CEA}")).await,
            dec("10")
        );
        let error = ledger.submit(release("r2", "again")).await.unwrap_err();
        assert!(
            matches!(
                error.root(),
                LedgerError::HoldNotOpen {
                    state: "released",
                    ..
                }
            ),
            "{error}"
        );
        ledger
            .submit(req("owner-2", vec![place(code, A, "4", expires)]))
            .await
            .unwrap();
        let post = Action::PostHold {
            hold: code.into(),
            to: ent(B),
            amount: q("4"),
            purpose: Purpose::Trade,
        };
        ledger.submit(req("deliver", vec![post])).await.unwrap();
        assert_eq!(
            balance(&ledger, &format!("{B}/holding/{CEA}")).await,
            dec("14")
        );
        let holds = ledger.store().holds().await.unwrap();
        let hold = holds.iter().find(|h| h.id == code).unwrap();
        assert_eq!(hold.holder.owner, A);
        assert_verified(&ledger).await;
    }
}

/// A freeze stops deliveries out of holds its holder placed before it, and every refusal names
/// the freeze's reason and reference.
#[tokio::test]
async fn a_freeze_stops_earlier_holds_and_says_why() {
    for (url, _dir) in databases().await {
        let clock = TestClock::new(start_time());
        let ledger = open(&url, &clock).await;
        let expires = clock.now() + Duration::hours(1);
        let setup = vec![issue(CEA, ent(A), "10"), place("sell-1", A, "3", expires)];
        ledger.submit(req("setup-2", setup)).await.unwrap();
        let freeze = Action::Freeze {
            instrument: CEA.into(),
            holder: ent(A),
            reason: Some("court order".into()),
            reference: Some("(2025)渝01执123号".into()),
        };
        ledger.submit(req("freeze", vec![freeze])).await.unwrap();
        let post = Action::PostHold {
            hold: "sell-1".into(),
            to: ent(B),
            amount: q("3"),
            purpose: Purpose::Trade,
        };
        for (key, action) in [("settle", post), ("send", transfer(CEA, A, B, "1"))] {
            let error = ledger.submit(req(key, vec![action])).await.unwrap_err();
            assert!(
                matches!(error.root(), LedgerError::AccountFrozen { .. }),
                "{error}"
            );
            assert_eq!(
                error.root().to_string(),
                format!(
                    "account {A}/holding/{CEA} is frozen and cannot send: court order (reference (2025)渝01执123号)"
                )
            );
        }
        let void = Action::VoidHold {
            hold: "sell-1".into(),
        };
        ledger.submit(req("void", vec![void])).await.unwrap();
        assert_eq!(
            balance(&ledger, &format!("{A}/holding/{CEA}")).await,
            dec("10")
        );
        let unfreeze = Action::Unfreeze {
            instrument: CEA.into(),
            holder: ent(A),
        };
        ledger
            .submit(req("unfreeze", vec![unfreeze]))
            .await
            .unwrap();
        ledger
            .submit(req("send-2", vec![transfer(CEA, A, B, "1")]))
            .await
            .unwrap();
        assert_verified(&ledger).await;
    }
}

/// An expired instrument's units leave the books in one entry: every listed holder's whole
/// balance, a frozen one's too, goes to cancellation with the reason; held units stay put until
/// their hold ends. Before expiry, on cash, or with a holder twice, it is refused and changes
/// nothing.
#[tokio::test]
async fn a_write_off_takes_what_is_left_of_an_expired_instrument() {
    for (url, _dir) in databases().await {
        let june = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2024, 6, 1, 8, 0, 0);
        let clock = TestClock::new(june.unwrap());
        let ledger = open(&url, &clock).await;
        let setup = vec![
            issue(SO2, ent(A), "300.125"),
            issue(SO2, ent(B), "40"),
            issue(SO2, Party::Reserve, "100"),
            Action::PlaceHold {
                hold: "sell-b".into(),
                instrument: SO2.into(),
                from: ent(B),
                amount: q("15"),
                expires_at: clock.now() + Duration::days(365),
            },
            Action::Freeze {
                instrument: SO2.into(),
                holder: ent(A),
                reason: Some("inspection".into()),
                reference: None,
            },
        ];
        ledger.submit(req("setup-2", setup)).await.unwrap();
        let write_off = |instrument: &str, holders: Vec<Party>| Action::WriteOff {
            instrument: instrument.into(),
            holders,
            reason: "validity ended 2024-12-31".into(),
        };
        let everyone = || vec![ent(A), ent(B), ent(C), Party::Reserve];
        let early = ledger
            .submit(req("early", vec![write_off(SO2, everyone())]))
            .await;
        let early = early.unwrap_err().root().to_string();
        assert!(
            early.contains("has not expired (it is valid to 2024-12-31)"),
            "{early}"
        );

        clock.advance(Duration::days(214));
        for (key, action, says) in [
            ("cash", write_off(CNY, vec![ent(A)]), "cash"),
            ("valid", write_off(COD, vec![ent(A)]), "valid to 2028-12-31"),
            (
                "twice",
                write_off(SO2, vec![ent(A), ent(A)]),
                "listed twice",
            ),
            ("nobody", write_off(SO2, vec![]), "at least one holder"),
        ] {
            let error = ledger.submit(req(key, vec![action])).await.unwrap_err();
            let text = error.root().to_string();
            assert!(text.contains(says), "{key}: {text}");
        }
        assert_eq!(
            balance(&ledger, &format!("{A}/holding/{SO2}")).await,
            dec("300.125")
        );

        let receipt = ledger
            .submit(req("write-off", vec![write_off(SO2, everyone())]))
            .await
            .unwrap();
        for holder in [A, B, C] {
            let left = balance(&ledger, &format!("{holder}/holding/{SO2}")).await;
            assert_eq!(left, Decimal::ZERO, "{holder} {url}");
        }
        assert_eq!(
            balance(&ledger, &format!("bureau/reserve/{SO2}")).await,
            Decimal::ZERO
        );
        assert_eq!(
            balance(&ledger, &format!("bureau/escrow/{SO2}")).await,
            dec("15")
        );
        let cancelled = balance(&ledger, &format!("bureau/cancellation/{SO2}")).await;
        assert_eq!(cancelled, dec("425.125"), "{url}");
        let postings = receipt.postings;
        assert_eq!(postings.len(), 3, "A, B and the reserve; C held nothing");
        assert!(
            postings
                .iter()
                .all(|p| p.reference.as_deref() == Some("validity ended 2024-12-31"))
        );
        assert_verified(&ledger).await;
    }
}
