//! State-machine property test: random sequences of operations (valid and invalid, retries with the
//! same idempotency key, reopening the database mid-way) run against the real ledger and a small
//! reference model. After every step both must agree on every balance and on success or failure,
//! and at the end the journal must verify.

mod common;

use std::collections::HashMap;

use chrono::Duration;
use common::*;
use ledger::{Action, Ledger, Party, Purpose, Request};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Holders 0..3 are enterprises A, B, C; 3 is the bureau's reserve.
const HOLDERS: usize = 4;
/// (code, scale) of the instruments the model trades.
const INSTRUMENTS: [(&str, u32); 2] = [(COD, 3), (CEA, 0)];

#[derive(Debug, Clone)]
enum Op {
    Issue {
        to: usize,
        instrument: usize,
        units: i64,
    },
    Transfer {
        from: usize,
        to: usize,
        instrument: usize,
        amount: Amount,
    },
    Surrender {
        from: usize,
        instrument: usize,
        units: i64,
    },
    Freeze {
        holder: usize,
        instrument: usize,
        frozen: bool,
    },
    PlaceHold {
        from: usize,
        instrument: usize,
        units: i64,
    },
    PostHold {
        hold: usize,
        to: usize,
        units: i64,
    },
    VoidHold {
        hold: usize,
    },
    /// A note: changes no balance; refused when blank or too long.
    Annotate {
        note: Note,
    },
    /// Resend an earlier request under its key, unchanged.
    Retry {
        op: usize,
    },
    /// Send a different request under an earlier request's key.
    Reuse {
        op: usize,
        units: i64,
    },
    Reopen,
}

/// Amounts as the caller writes them, including the invalid ones.
#[derive(Debug, Clone, Copy)]
enum Amount {
    Units(i64),
    Zero,
    Negative,
    TooPrecise,
}

/// Notes as the caller writes them, including the invalid ones.
#[derive(Debug, Clone, Copy)]
enum Note {
    /// Valid: this many characters (1..=NOTE_LEN_MAX).
    Chars(usize),
    Blank,
    TooLong,
}

fn note() -> impl Strategy<Value = Note> {
    prop_oneof![
        4 => (1..=ledger::request::NOTE_LEN_MAX).prop_map(Note::Chars),
        1 => Just(Note::Blank),
        1 => Just(Note::TooLong),
    ]
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        8 => (1_i64..400).prop_map(Amount::Units),
        1 => Just(Amount::Zero),
        1 => Just(Amount::Negative),
        1 => Just(Amount::TooPrecise),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let holder = 0..HOLDERS;
    let instrument = 0..INSTRUMENTS.len();
    prop_oneof![
        3 => (holder.clone(), instrument.clone(), 1_i64..500).prop_map(|(to, instrument, units)| Op::Issue { to, instrument, units }),
        6 => (holder.clone(), holder.clone(), instrument.clone(), amount()).prop_map(|(from, to, instrument, amount)| Op::Transfer { from, to, instrument, amount }),
        2 => (0..3_usize, instrument.clone(), 1_i64..300).prop_map(|(from, instrument, units)| Op::Surrender { from, instrument, units }),
        1 => (holder.clone(), instrument.clone(), any::<bool>()).prop_map(|(holder, instrument, frozen)| Op::Freeze { holder, instrument, frozen }),
        2 => (holder.clone(), instrument.clone(), 1_i64..300).prop_map(|(from, instrument, units)| Op::PlaceHold { from, instrument, units }),
        2 => (0..40_usize, holder.clone(), 1_i64..300).prop_map(|(hold, to, units)| Op::PostHold { hold, to, units }),
        1 => (0..40_usize).prop_map(|hold| Op::VoidHold { hold }),
        1 => note().prop_map(|note| Op::Annotate { note }),
        2 => (0..40_usize).prop_map(|op| Op::Retry { op }),
        1 => (0..40_usize, 1_i64..50).prop_map(|(op, units)| Op::Reuse { op, units }),
        1 => Just(Op::Reopen),
    ]
}

fn party(holder: usize) -> Party {
    match holder {
        0 => ent(A),
        1 => ent(B),
        2 => ent(C),
        _ => Party::Reserve,
    }
}

fn account_id(holder: usize, instrument: usize) -> String {
    let code = INSTRUMENTS[instrument].0;
    match holder {
        0..=2 => format!("{}/holding/{code}", [A, B, C][holder]),
        _ => format!("bureau/reserve/{code}"),
    }
}

fn decimal(units: i64, instrument: usize) -> String {
    Decimal::new(units, INSTRUMENTS[instrument].1).to_string()
}

#[derive(Debug, Clone)]
struct ModelHold {
    holder: usize,
    instrument: usize,
    remaining: i64,
}

/// The reference: balances in minor units, frozen flags, holds, and recorded keys.
#[derive(Default)]
struct Model {
    balances: HashMap<(usize, usize), i64>,
    frozen: HashMap<(usize, usize), bool>,
    holds: Vec<Option<ModelHold>>,
    /// Every request sent, by op index, and whether it was recorded.
    sent: Vec<(Request, bool)>,
    hold_ids: Vec<String>,
}

impl Model {
    fn balance(&self, holder: usize, instrument: usize) -> i64 {
        self.balances
            .get(&(holder, instrument))
            .copied()
            .unwrap_or(0)
    }

    fn can_send(&self, holder: usize, instrument: usize, units: i64) -> bool {
        !self
            .frozen
            .get(&(holder, instrument))
            .copied()
            .unwrap_or(false)
            && self.balance(holder, instrument) >= units
    }

    fn add(&mut self, holder: usize, instrument: usize, units: i64) {
        *self.balances.entry((holder, instrument)).or_default() += units;
    }

    /// Applies the request's effect if the model says it succeeds; returns that verdict.
    fn apply(&mut self, op: &Op, hold_id: &str) -> bool {
        match *op {
            Op::Issue {
                to,
                instrument,
                units,
            } => {
                self.add(to, instrument, units);
                true
            }
            Op::Transfer {
                from,
                to,
                instrument,
                amount,
            } => {
                let Amount::Units(units) = amount else {
                    return false;
                };
                if from == to || !self.can_send(from, instrument, units) {
                    return false;
                }
                self.add(from, instrument, -units);
                self.add(to, instrument, units);
                true
            }
            Op::Surrender {
                from,
                instrument,
                units,
            } => {
                if !self.can_send(from, instrument, units) {
                    return false;
                }
                self.add(from, instrument, -units);
                true
            }
            Op::Freeze {
                holder,
                instrument,
                frozen,
            } => {
                self.frozen.insert((holder, instrument), frozen);
                true
            }
            Op::PlaceHold {
                from,
                instrument,
                units,
            } => {
                if !self.can_send(from, instrument, units) {
                    return false;
                }
                self.add(from, instrument, -units);
                self.holds.push(Some(ModelHold {
                    holder: from,
                    instrument,
                    remaining: units,
                }));
                self.hold_ids.push(hold_id.to_owned());
                true
            }
            Op::PostHold { hold, to, units } => {
                match self.holds.get_mut(hold).and_then(Option::as_mut) {
                    Some(h) if units <= h.remaining => {
                        h.remaining -= units;
                        let instrument = h.instrument;
                        if h.remaining == 0 {
                            self.holds[hold] = None;
                        }
                        self.add(to, instrument, units);
                        true
                    }
                    _ => false,
                }
            }
            Op::VoidHold { hold } => match self.holds.get_mut(hold).and_then(Option::take) {
                Some(h) => {
                    self.add(h.holder, h.instrument, h.remaining);
                    true
                }
                None => false,
            },
            Op::Annotate { note } => matches!(note, Note::Chars(_)),
            Op::Retry { .. } | Op::Reuse { .. } | Op::Reopen => {
                unreachable!("handled by the driver")
            }
        }
    }
}

/// The ledger request for an op (`None` for ops that send nothing).
fn request(
    op: &Op,
    key: String,
    hold_id: &str,
    model: &Model,
    expires: chrono::DateTime<chrono::Utc>,
) -> Request {
    let action = match *op {
        Op::Issue {
            to,
            instrument,
            units,
        } => Action::Issue {
            instrument: INSTRUMENTS[instrument].0.into(),
            to: party(to),
            amount: q(&decimal(units, instrument)),
        },
        Op::Transfer {
            from,
            to,
            instrument,
            amount,
        } => {
            let text = match amount {
                Amount::Units(units) => decimal(units, instrument),
                Amount::Zero => "0".into(),
                Amount::Negative => "-1".into(),
                Amount::TooPrecise => {
                    format!("1.{}1", "0".repeat(INSTRUMENTS[instrument].1 as usize))
                }
            };
            Action::Transfer {
                instrument: INSTRUMENTS[instrument].0.into(),
                from: party(from),
                to: party(to),
                amount: q(&text),
                purpose: Purpose::Trade,
            }
        }
        Op::Surrender {
            from,
            instrument,
            units,
        } => Action::Surrender {
            instrument: INSTRUMENTS[instrument].0.into(),
            enterprise: [A, B, C][from].into(),
            amount: q(&decimal(units, instrument)),
            compliance_year: 2025,
        },
        Op::Freeze {
            holder,
            instrument,
            frozen: true,
        } => Action::Freeze {
            instrument: INSTRUMENTS[instrument].0.into(),
            holder: party(holder),
        },
        Op::Freeze {
            holder,
            instrument,
            frozen: false,
        } => Action::Unfreeze {
            instrument: INSTRUMENTS[instrument].0.into(),
            holder: party(holder),
        },
        Op::PlaceHold {
            from,
            instrument,
            units,
        } => Action::PlaceHold {
            hold: hold_id.into(),
            instrument: INSTRUMENTS[instrument].0.into(),
            from: party(from),
            amount: q(&decimal(units, instrument)),
            expires_at: expires,
        },
        Op::PostHold { hold, to, units } => {
            let instrument = model
                .holds
                .get(hold)
                .and_then(Option::as_ref)
                .map(|h| h.instrument)
                .unwrap_or(0);
            Action::PostHold {
                hold: model
                    .hold_ids
                    .get(hold)
                    .cloned()
                    .unwrap_or_else(|| format!("missing-{hold}")),
                to: party(to),
                amount: q(&decimal(units, instrument)),
                purpose: Purpose::Trade,
            }
        }
        Op::VoidHold { hold } => Action::VoidHold {
            hold: model
                .hold_ids
                .get(hold)
                .cloned()
                .unwrap_or_else(|| format!("missing-{hold}")),
        },
        Op::Annotate { note } => Action::Annotate {
            note: match note {
                Note::Chars(n) => "注".repeat(n),
                Note::Blank => " \t\n".into(),
                Note::TooLong => "n".repeat(ledger::request::NOTE_LEN_MAX + 1),
            },
        },
        Op::Retry { .. } | Op::Reuse { .. } | Op::Reopen => unreachable!("handled by the driver"),
    };
    req(&key, vec![action])
}

async fn run(url: &str, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = TestClock::new(start_time());
    let mut ledger = open(url, &clock).await;
    let expires = clock.now() + Duration::days(365);
    let mut model = Model::default();
    // Ops sent under their own key, with the model's copy of what they did.
    let mut own: Vec<(Op, String)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Reopen => {
                drop(ledger);
                ledger = Ledger::open(url, clock.options()).await.expect("reopen");
            }
            Op::Retry { op: earlier } | Op::Reuse { op: earlier, .. } => {
                let Some((earlier_op, hold_id)) = own.get(*earlier % own.len().max(1)).cloned()
                else {
                    continue;
                };
                let index = own.iter().position(|(_, h)| *h == hold_id).unwrap_or(0);
                let (sent, recorded) = model.sent[index].clone();
                let retried = match op {
                    Op::Reuse { units, .. } => {
                        let mut changed = sent.clone();
                        changed.memo = Some(format!("changed {units}"));
                        changed
                    }
                    _ => sent.clone(),
                };
                let same = retried == sent;
                let outcome = ledger.submit(retried.clone()).await;
                if recorded {
                    prop_assert_eq!(
                        outcome.is_ok(),
                        same,
                        "op {}: retry of a recorded request on {}: {:?}",
                        i,
                        url,
                        outcome
                    );
                    if let Ok(receipt) = &outcome {
                        prop_assert!(receipt.replayed);
                    }
                } else {
                    // A refused request left no record: the retry is judged afresh.
                    let expected = model.apply(&earlier_op, &hold_id);
                    prop_assert_eq!(
                        outcome.is_ok(),
                        expected,
                        "op {}: retry of a refused request on {}: {:?}",
                        i,
                        url,
                        outcome.err()
                    );
                    // What is recorded under the key now is the request just accepted, which for
                    // a reuse is the changed one: later retries are judged against it.
                    model.sent[index] = (if expected { retried } else { sent }, expected);
                }
            }
            _ => {
                let hold_id = format!("h-{i}");
                let request = request(op, format!("op-{i}"), &hold_id, &model, expires);
                let outcome = ledger.submit(request.clone()).await;
                let expected = model.apply(op, &hold_id);
                prop_assert_eq!(
                    outcome.is_ok(),
                    expected,
                    "op {} {:?} on {}: {:?}",
                    i,
                    op,
                    url,
                    outcome.err()
                );
                model.sent.push((request, expected));
                own.push((op.clone(), hold_id));
            }
        }
        let stored: HashMap<String, Decimal> = ledger
            .store()
            .balances(None)
            .await
            .expect("balances")
            .into_iter()
            .map(|b| (b.account, b.balance))
            .collect();
        for holder in 0..HOLDERS {
            for (instrument, spec) in INSTRUMENTS.iter().enumerate() {
                let expected = Decimal::new(model.balance(holder, instrument), spec.1);
                let actual = stored
                    .get(&account_id(holder, instrument))
                    .copied()
                    .unwrap_or_default();
                prop_assert_eq!(
                    actual,
                    expected,
                    "after op {} on {}: {}",
                    i,
                    url,
                    account_id(holder, instrument)
                );
            }
        }
        prop_assert!(
            stored
                .iter()
                .all(|(id, b)| *b >= Decimal::ZERO || id.contains("/issuance/")),
            "negative balance on {}",
            url
        );
    }
    let report = ledger::verify(ledger.store()).await.expect("verify");
    prop_assert!(report.is_ok(), "verify on {}: {:?}", url, report.problems);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, ..ProptestConfig::default() })]
    #[test]
    fn ledger_matches_the_reference_model(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(async {
            for (url, _dir) in databases().await {
                run(&url, &ops).await?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}
