//! State-machine property test: random sequences of operations (valid and invalid, retries with the
//! same idempotency key, reopening the database mid-way) run against the real ledger and a small
//! reference model. After every step both must agree on every balance and on success or failure,
//! and at the end the journal must verify.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use common::*;
use ledger::{Action, Ledger, Party, Purpose, Request};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use rust_decimal::Decimal;

/// Holders 0..3 are enterprises A, B, C; 3 is the bureau's reserve.
const HOLDERS: usize = 4;
/// (code, scale) of the instruments the model trades: rights and allowances, then cash.
const INSTRUMENTS: [(&str, u32); 3] = [(COD, 3), (CEA, 0), (CNY, 2)];
/// Instruments `0..RIGHTS` are rights or allowances; [`CASH`] is settlement cash.
const RIGHTS: usize = 2;
const CASH: usize = 2;
/// Holds expire this many days after they are placed; `ExpireHolds { advance: true }` first moves
/// the clock past that.
const HOLD_DAYS: i64 = 30;

/// What `Define` defines.
#[derive(Debug, Clone, Copy)]
enum Definable {
    Pollutant,
    Region,
    Instrument,
}

#[derive(Debug, Clone)]
enum Op {
    /// A new pollutant, region or instrument (`fresh`), or one that exists already (refused).
    Define {
        what: Definable,
        fresh: bool,
    },
    /// Registers enterprise D (accepted once) or A again (refused).
    Register {
        fresh: bool,
    },
    /// Updates A (registered) or D (accepted once D is registered).
    Update {
        registered: bool,
    },
    Issue {
        to: usize,
        instrument: usize,
        units: i64,
    },
    Allocate {
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
    Deposit {
        to: usize,
        units: i64,
    },
    Withdraw {
        from: usize,
        units: i64,
    },
    Surrender {
        from: usize,
        instrument: usize,
        units: i64,
    },
    /// Refused without a reason.
    Cancel {
        from: usize,
        instrument: usize,
        units: i64,
        reason: bool,
    },
    Freeze {
        holder: usize,
        instrument: usize,
        frozen: bool,
    },
    /// Always refused here: none of the model's instruments expires (a write-off that succeeds
    /// is checked in `tests/rules.rs`), so the model checks that a refusal changes nothing.
    WriteOff {
        instrument: usize,
        holders: Vec<usize>,
    },
    /// Under a new code, or under an earlier hold's code (accepted only once it is released).
    PlaceHold {
        from: usize,
        instrument: usize,
        units: i64,
        reuse: Option<usize>,
    },
    PostHold {
        hold: usize,
        to: usize,
        units: i64,
    },
    VoidHold {
        hold: usize,
    },
    /// Refused without a reason, or for a code already released.
    ReleaseHoldCode {
        hold: usize,
        reason: bool,
    },
    ExpireHolds {
        advance: bool,
    },
    /// Under a new reduction id or an earlier one (refused); refused without evidence.
    CertifyReduction {
        enterprise: usize,
        instrument: usize,
        units: i64,
        reuse: Option<usize>,
        evidence: bool,
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

fn definable() -> impl Strategy<Value = Definable> {
    prop_oneof![
        Just(Definable::Pollutant),
        Just(Definable::Region),
        Just(Definable::Instrument),
    ]
}

/// Ops that define and register: they change no balance.
fn register_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (definable(), any::<bool>()).prop_map(|(what, fresh)| Op::Define { what, fresh }),
        any::<bool>().prop_map(|fresh| Op::Register { fresh }),
        any::<bool>().prop_map(|registered| Op::Update { registered }),
    ]
}

/// Ops that move units in or out of the books, or between holders.
fn move_op() -> impl Strategy<Value = Op> {
    let (holder, right, enterprise) = (0..HOLDERS, 0..RIGHTS, 0..3_usize);
    prop_oneof![
        3 => (holder.clone(), right.clone(), 1_i64..500).prop_map(|(to, instrument, units)| Op::Issue { to, instrument, units }),
        1 => (enterprise.clone(), right.clone(), 1_i64..300).prop_map(|(to, instrument, units)| Op::Allocate { to, instrument, units }),
        6 => (holder.clone(), holder.clone(), right.clone(), amount()).prop_map(|(from, to, instrument, amount)| Op::Transfer { from, to, instrument, amount }),
        1 => (enterprise.clone(), 1_i64..50_000).prop_map(|(to, units)| Op::Deposit { to, units }),
        1 => (enterprise.clone(), 1_i64..50_000).prop_map(|(from, units)| Op::Withdraw { from, units }),
        2 => (enterprise.clone(), right.clone(), 1_i64..300).prop_map(|(from, instrument, units)| Op::Surrender { from, instrument, units }),
        1 => (holder.clone(), right.clone(), 1_i64..300, any::<bool>()).prop_map(|(from, instrument, units, reason)| Op::Cancel { from, instrument, units, reason }),
        1 => (holder.clone(), 0..INSTRUMENTS.len(), any::<bool>()).prop_map(|(holder, instrument, frozen)| Op::Freeze { holder, instrument, frozen }),
        1 => (0..INSTRUMENTS.len(), proptest::collection::vec(holder.clone(), 0..4)).prop_map(|(instrument, holders)| Op::WriteOff { instrument, holders }),
        1 => (enterprise, right, 1_i64..300, proptest::option::weighted(0.3, 0..40_usize), any::<bool>()).prop_map(|(enterprise, instrument, units, reuse, evidence)| Op::CertifyReduction { enterprise, instrument, units, reuse, evidence }),
    ]
}

/// Ops on holds.
fn hold_op() -> impl Strategy<Value = Op> {
    let holder = 0..HOLDERS;
    prop_oneof![
        4 => (holder.clone(), 0..RIGHTS, 1_i64..300, proptest::option::weighted(0.2, 0..40_usize)).prop_map(|(from, instrument, units, reuse)| Op::PlaceHold { from, instrument, units, reuse }),
        4 => (0..40_usize, holder, 1_i64..300).prop_map(|(hold, to, units)| Op::PostHold { hold, to, units }),
        2 => (0..40_usize).prop_map(|hold| Op::VoidHold { hold }),
        1 => (0..40_usize, any::<bool>()).prop_map(|(hold, reason)| Op::ReleaseHoldCode { hold, reason }),
        1 => any::<bool>().prop_map(|advance| Op::ExpireHolds { advance }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => register_op(),
        14 => move_op(),
        6 => hold_op(),
        1 => note().prop_map(|note| Op::Annotate { note }),
        2 => (0..40_usize).prop_map(|op| Op::Retry { op }),
        1 => (0..40_usize, 1_i64..50).prop_map(|(op, units)| Op::Reuse { op, units }),
        1 => Just(Op::Reopen),
    ]
}

impl Op {
    /// The op's kind, as [`generator_of`] names it.
    fn kind(&self) -> &'static str {
        match self {
            Op::Define { .. } => "define",
            Op::Register { .. } => "register",
            Op::Update { .. } => "update",
            Op::Issue { .. } => "issue",
            Op::Allocate { .. } => "allocate",
            Op::Transfer { .. } => "transfer",
            Op::Deposit { .. } => "deposit",
            Op::Withdraw { .. } => "withdraw",
            Op::Surrender { .. } => "surrender",
            Op::Cancel { .. } => "cancel",
            Op::Freeze { .. } => "freeze",
            Op::WriteOff { .. } => "write_off",
            Op::PlaceHold { .. } => "place_hold",
            Op::PostHold { .. } => "post_hold",
            Op::VoidHold { .. } => "void_hold",
            Op::ReleaseHoldCode { .. } => "release_hold_code",
            Op::ExpireHolds { .. } => "expire_holds",
            Op::CertifyReduction { .. } => "certify_reduction",
            Op::Annotate { .. } => "annotate",
            Op::Retry { .. } => "retry",
            Op::Reuse { .. } => "reuse",
            Op::Reopen => "reopen",
        }
    }
}

/// The op kind that generates each action. Exhaustive, with no catch-all: a new action does not
/// compile until the model generates it (and `every_action_has_a_generator` checks it does).
fn generator_of(action: &Action) -> &'static str {
    match action {
        Action::DefinePollutant { .. }
        | Action::DefineRegion { .. }
        | Action::DefineInstrument { .. } => "define",
        Action::RegisterEnterprise { .. } => "register",
        Action::UpdateEnterprise { .. } => "update",
        Action::Issue { .. } => "issue",
        Action::Allocate { .. } => "allocate",
        Action::Transfer { .. } => "transfer",
        Action::Deposit { .. } => "deposit",
        Action::Withdraw { .. } => "withdraw",
        Action::PlaceHold { .. } => "place_hold",
        Action::PostHold { .. } => "post_hold",
        Action::VoidHold { .. } => "void_hold",
        Action::ReleaseHoldCode { .. } => "release_hold_code",
        Action::ExpireHolds {} => "expire_holds",
        Action::Annotate { .. } => "annotate",
        Action::Surrender { .. } => "surrender",
        Action::Cancel { .. } => "cancel",
        Action::WriteOff { .. } => "write_off",
        Action::Freeze { .. } | Action::Unfreeze { .. } => "freeze",
        Action::CertifyReduction { .. } => "certify_reduction",
    }
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

/// Enterprise D: registered only by the model's `Register { fresh: true }`.
fn enterprise_d() -> String {
    ledger::enterprise::CreditCode::from_parts("91", "500106", "MA5U0004")
        .expect("a valid credit code")
        .to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoldState {
    Open,
    Closed,
    Released,
}

#[derive(Debug, Clone)]
struct ModelHold {
    holder: usize,
    instrument: usize,
    remaining: i64,
    expires_at: DateTime<Utc>,
    state: HoldState,
}

/// The reference: balances in minor units, frozen flags, holds, records, and recorded keys.
struct Model {
    now: DateTime<Utc>,
    balances: HashMap<(usize, usize), i64>,
    frozen: HashMap<(usize, usize), bool>,
    holds: HashMap<String, ModelHold>,
    /// Hold codes in the order first placed: what `hold: usize` picks from.
    hold_ids: Vec<String>,
    reduction_ids: Vec<String>,
    /// Codes of pollutants, regions and instruments that exist.
    defined: HashSet<String>,
    registered_d: bool,
    /// Every request sent, by op index, and whether it was recorded.
    sent: Vec<(Request, bool)>,
}

impl Model {
    fn new(now: DateTime<Utc>) -> Model {
        let defined = ["COD", "yangtze-cq", COD]
            .into_iter()
            .map(String::from)
            .collect();
        Model {
            now,
            balances: HashMap::new(),
            frozen: HashMap::new(),
            holds: HashMap::new(),
            hold_ids: Vec::new(),
            reduction_ids: Vec::new(),
            defined,
            registered_d: false,
            sent: Vec::new(),
        }
    }

    fn balance(&self, holder: usize, instrument: usize) -> i64 {
        self.balances
            .get(&(holder, instrument))
            .copied()
            .unwrap_or(0)
    }

    fn is_frozen(&self, holder: usize, instrument: usize) -> bool {
        self.frozen
            .get(&(holder, instrument))
            .copied()
            .unwrap_or(false)
    }

    fn can_send(&self, holder: usize, instrument: usize, units: i64) -> bool {
        !self.is_frozen(holder, instrument) && self.balance(holder, instrument) >= units
    }

    fn add(&mut self, holder: usize, instrument: usize, units: i64) {
        *self.balances.entry((holder, instrument)).or_default() += units;
    }

    /// Moves `units` from one holder to another if the sender can send them.
    fn send(&mut self, from: usize, to: usize, instrument: usize, units: i64) -> bool {
        if !self.can_send(from, instrument, units) {
            return false;
        }
        self.add(from, instrument, -units);
        self.add(to, instrument, units);
        true
    }

    /// A hold by the index `hold: usize` picks, or by the code an action names.
    fn hold_code(&self, hold: usize) -> String {
        self.hold_ids
            .get(hold)
            .cloned()
            .unwrap_or_else(|| format!("missing-{hold}"))
    }

    /// An open hold that has not expired.
    fn open_hold(&self, code: &str) -> Option<ModelHold> {
        self.holds
            .get(code)
            .filter(|h| h.state == HoldState::Open && h.expires_at > self.now)
            .cloned()
    }

    /// Returns what is left of a hold to its holder and sets its state.
    fn close(&mut self, code: &str, state: HoldState) {
        if let Some(hold) = self.holds.get(code).cloned() {
            self.add(hold.holder, hold.instrument, hold.remaining);
            self.holds.insert(
                code.to_owned(),
                ModelHold {
                    remaining: 0,
                    state,
                    ..hold
                },
            );
        }
    }

    /// Applies the request's effect if the model says it succeeds; returns that verdict. Codes
    /// (of holds, reductions, definitions) and times come from the request's one action.
    fn apply(&mut self, op: &Op, action: &Action) -> bool {
        match *op {
            Op::Define { .. } => self.define(action),
            Op::Register { fresh } => {
                let accepted = fresh && !self.registered_d;
                self.registered_d |= accepted;
                accepted
            }
            Op::Update { registered } => registered || self.registered_d,
            Op::Issue {
                to,
                instrument,
                units,
            } => {
                self.add(to, instrument, units);
                true
            }
            Op::Allocate {
                to,
                instrument,
                units,
            } => self.send(3, to, instrument, units),
            Op::Transfer {
                from,
                to,
                instrument,
                amount,
            } => match amount {
                Amount::Units(units) if from != to => self.send(from, to, instrument, units),
                _ => false,
            },
            Op::Deposit { to, units } => {
                self.add(to, CASH, units);
                true
            }
            Op::Withdraw { from, units } => self.remove(from, CASH, units),
            Op::Surrender {
                from,
                instrument,
                units,
            } => self.remove(from, instrument, units),
            Op::Cancel {
                from,
                instrument,
                units,
                reason,
            } => reason && self.remove(from, instrument, units),
            Op::WriteOff { .. } => false,
            Op::Freeze {
                holder,
                instrument,
                frozen,
            } => {
                self.frozen.insert((holder, instrument), frozen);
                true
            }
            Op::CertifyReduction {
                enterprise,
                instrument,
                units,
                evidence,
                ..
            } => self.certify(action, evidence, enterprise, instrument, units),
            Op::PlaceHold { .. }
            | Op::PostHold { .. }
            | Op::VoidHold { .. }
            | Op::ReleaseHoldCode { .. }
            | Op::ExpireHolds { .. } => self.apply_hold(op, action),
            Op::Annotate { note } => matches!(note, Note::Chars(_)),
            Op::Retry { .. } | Op::Reuse { .. } | Op::Reopen => {
                unreachable!("handled by the driver")
            }
        }
    }

    /// Units leaving the books (surrender, cancel, withdraw) from a holder that can send them.
    fn remove(&mut self, from: usize, instrument: usize, units: i64) -> bool {
        if !self.can_send(from, instrument, units) {
            return false;
        }
        self.add(from, instrument, -units);
        true
    }

    fn define(&mut self, action: &Action) -> bool {
        let code = match action {
            Action::DefinePollutant { pollutant } => &pollutant.code,
            Action::DefineRegion { region } => &region.code,
            Action::DefineInstrument { instrument } => &instrument.code,
            other => unreachable!("not a definition: {other:?}"),
        };
        self.defined.insert(code.clone())
    }

    fn certify(
        &mut self,
        action: &Action,
        evidence: bool,
        enterprise: usize,
        instrument: usize,
        units: i64,
    ) -> bool {
        let Action::CertifyReduction { reduction, .. } = action else {
            unreachable!("not a reduction: {action:?}")
        };
        if self.reduction_ids.contains(reduction) || !evidence {
            return false;
        }
        let accepted = self.send(enterprise, 3, instrument, units);
        if accepted {
            self.reduction_ids.push(reduction.clone());
        }
        accepted
    }

    fn apply_hold(&mut self, op: &Op, action: &Action) -> bool {
        match (op, action) {
            (
                Op::PlaceHold {
                    from,
                    instrument,
                    units,
                    ..
                },
                Action::PlaceHold {
                    hold, expires_at, ..
                },
            ) => self.place(hold, *from, *instrument, *units, *expires_at),
            (Op::PostHold { to, units, .. }, Action::PostHold { hold, .. }) => {
                let Some(held) = self.open_hold(hold) else {
                    return false;
                };
                if self.is_frozen(held.holder, held.instrument) || *units > held.remaining {
                    return false;
                }
                self.add(*to, held.instrument, *units);
                let remaining = held.remaining - units;
                let state = if remaining == 0 {
                    HoldState::Closed
                } else {
                    HoldState::Open
                };
                let updated = ModelHold {
                    remaining,
                    state,
                    ..held
                };
                self.holds.insert(hold.clone(), updated);
                true
            }
            (Op::VoidHold { .. }, Action::VoidHold { hold }) => {
                // Expired or not: a late void returns the remainder as expiry would.
                let open = self
                    .holds
                    .get(hold)
                    .is_some_and(|h| h.state == HoldState::Open);
                if open {
                    self.close(hold, HoldState::Closed);
                }
                open
            }
            (Op::ReleaseHoldCode { reason, .. }, Action::ReleaseHoldCode { hold, .. }) => {
                let releasable = self
                    .holds
                    .get(hold)
                    .is_some_and(|h| h.state != HoldState::Released);
                if releasable && *reason {
                    self.close(hold, HoldState::Released);
                }
                releasable && *reason
            }
            (Op::ExpireHolds { .. }, Action::ExpireHolds {}) => {
                let now = self.now;
                let expired: Vec<String> = self
                    .holds
                    .iter()
                    .filter(|(_, h)| h.state == HoldState::Open && h.expires_at <= now)
                    .map(|(code, _)| code.clone())
                    .collect();
                for code in expired {
                    self.close(&code, HoldState::Closed);
                }
                true
            }
            (op, action) => unreachable!("{op:?} does not send {action:?}"),
        }
    }

    fn place(
        &mut self,
        code: &str,
        from: usize,
        instrument: usize,
        units: i64,
        expires_at: DateTime<Utc>,
    ) -> bool {
        let taken = self
            .holds
            .get(code)
            .is_some_and(|h| h.state != HoldState::Released);
        if taken || expires_at <= self.now || !self.can_send(from, instrument, units) {
            return false;
        }
        self.add(from, instrument, -units);
        let hold = ModelHold {
            holder: from,
            instrument,
            remaining: units,
            expires_at,
            state: HoldState::Open,
        };
        if self.holds.insert(code.to_owned(), hold).is_none() {
            self.hold_ids.push(code.to_owned());
        }
        true
    }
}

/// The one action an op sends (ops that send nothing are the driver's). `i` is the op's index,
/// which names what it creates.
fn action(op: &Op, i: usize, model: &Model) -> Action {
    match *op {
        Op::Define { what, fresh } => define_action(what, fresh, i),
        Op::Register { fresh } => Action::RegisterEnterprise {
            enterprise: if fresh {
                enterprise_input(&enterprise_d(), "Delta Cement", "500106")
            } else {
                enterprise_input(A, "Chongqing Alpha Chips", "500103")
            },
        },
        Op::Update { registered } => Action::UpdateEnterprise {
            enterprise: if registered {
                enterprise_input(A, &format!("Alpha Chips {i}"), "500103")
            } else {
                enterprise_input(&enterprise_d(), &format!("Delta {i}"), "500106")
            },
        },
        Op::Issue { .. }
        | Op::Allocate { .. }
        | Op::Transfer { .. }
        | Op::Deposit { .. }
        | Op::Withdraw { .. }
        | Op::Surrender { .. }
        | Op::Cancel { .. }
        | Op::Freeze { .. }
        | Op::WriteOff { .. }
        | Op::CertifyReduction { .. } => move_action(op, i, model),
        Op::PlaceHold { .. }
        | Op::PostHold { .. }
        | Op::VoidHold { .. }
        | Op::ReleaseHoldCode { .. }
        | Op::ExpireHolds { .. } => hold_action(op, i, model),
        Op::Annotate { note } => Action::Annotate {
            note: match note {
                Note::Chars(n) => "注".repeat(n),
                Note::Blank => " \t\n".into(),
                Note::TooLong => "n".repeat(ledger::request::NOTE_LEN_MAX + 1),
            },
        },
        Op::Retry { .. } | Op::Reuse { .. } | Op::Reopen => unreachable!("handled by the driver"),
    }
}

/// The action of an op that moves units (or freezes them).
fn move_action(op: &Op, i: usize, model: &Model) -> Action {
    match *op {
        Op::Issue {
            to,
            instrument,
            units,
        } => Action::Issue {
            instrument: INSTRUMENTS[instrument].0.into(),
            to: party(to),
            amount: q(&decimal(units, instrument)),
        },
        Op::Allocate {
            to,
            instrument,
            units,
        } => Action::Allocate {
            instrument: INSTRUMENTS[instrument].0.into(),
            to: [A, B, C][to].into(),
            amount: q(&decimal(units, instrument)),
        },
        Op::Transfer {
            from,
            to,
            instrument,
            amount,
        } => transfer_action(from, to, instrument, amount),
        Op::Deposit { to, units } => Action::Deposit {
            instrument: CNY.into(),
            enterprise: [A, B, C][to].into(),
            amount: q(&decimal(units, CASH)),
        },
        Op::Withdraw { from, units } => Action::Withdraw {
            instrument: CNY.into(),
            enterprise: [A, B, C][from].into(),
            amount: q(&decimal(units, CASH)),
        },
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
        Op::Cancel {
            from,
            instrument,
            units,
            reason,
        } => Action::Cancel {
            instrument: INSTRUMENTS[instrument].0.into(),
            from: party(from),
            amount: q(&decimal(units, instrument)),
            reason: if reason {
                "retired at the holder's request"
            } else {
                " "
            }
            .into(),
        },
        Op::Freeze {
            holder,
            instrument,
            frozen,
        } => freeze_action(holder, instrument, frozen),
        Op::WriteOff {
            instrument,
            ref holders,
        } => Action::WriteOff {
            instrument: INSTRUMENTS[instrument].0.into(),
            holders: holders.iter().map(|&holder| party(holder)).collect(),
            reason: "validity ended".into(),
        },
        Op::CertifyReduction {
            enterprise,
            instrument,
            units,
            reuse,
            evidence,
        } => Action::CertifyReduction {
            reduction: match reuse {
                Some(earlier) if !model.reduction_ids.is_empty() => {
                    model.reduction_ids[earlier % model.reduction_ids.len()].clone()
                }
                _ => format!("r-{i}"),
            },
            enterprise: [A, B, C][enterprise].into(),
            instrument: INSTRUMENTS[instrument].0.into(),
            amount: q(&decimal(units, instrument)),
            measure: ledger::Measure::Upgrade,
            evidence: if evidence {
                "inspection report 2025-17\n\tsigned"
            } else {
                ""
            }
            .into(),
        },
        _ => unreachable!("not a movement: {op:?}"),
    }
}

fn define_action(what: Definable, fresh: bool, i: usize) -> Action {
    match (what, fresh) {
        (Definable::Pollutant, _) => Action::DefinePollutant {
            pollutant: ledger::Pollutant {
                code: if fresh {
                    format!("P-{i}")
                } else {
                    "COD".into()
                },
                name: format!("pollutant {i}"),
                medium: ledger::Medium::Water,
            },
        },
        (Definable::Region, _) => Action::DefineRegion {
            region: ledger::Region {
                code: if fresh {
                    format!("basin-{i}")
                } else {
                    "yangtze-cq".into()
                },
                name: format!("basin {i}"),
                kind: ledger::RegionKind::Basin,
            },
        },
        (Definable::Instrument, _) => Action::DefineInstrument {
            instrument: serde_json::from_value(serde_json::json!({
                "code": if fresh { format!("CEA.m{i}") } else { COD.to_owned() },
                "kind": "carbon_allowance", "vintage": 2024, "scale": 0, "unit": "tCO2e",
            }))
            .expect("an instrument"),
        },
    }
}

fn transfer_action(from: usize, to: usize, instrument: usize, amount: Amount) -> Action {
    let text = match amount {
        Amount::Units(units) => decimal(units, instrument),
        Amount::Zero => "0".into(),
        Amount::Negative => "-1".into(),
        Amount::TooPrecise => format!("1.{}1", "0".repeat(INSTRUMENTS[instrument].1 as usize)),
    };
    Action::Transfer {
        instrument: INSTRUMENTS[instrument].0.into(),
        from: party(from),
        to: party(to),
        amount: q(&text),
        purpose: Purpose::Trade,
    }
}

fn freeze_action(holder: usize, instrument: usize, frozen: bool) -> Action {
    let (instrument, holder) = (INSTRUMENTS[instrument].0.to_owned(), party(holder));
    if frozen {
        Action::Freeze {
            instrument,
            holder,
            reason: Some("court order".into()),
            reference: Some("(2025)渝01执123号".into()),
        }
    } else {
        Action::Unfreeze { instrument, holder }
    }
}

fn hold_action(op: &Op, i: usize, model: &Model) -> Action {
    match *op {
        Op::PlaceHold {
            from,
            instrument,
            units,
            reuse,
        } => Action::PlaceHold {
            hold: match reuse {
                Some(earlier) if !model.hold_ids.is_empty() => {
                    model.hold_ids[earlier % model.hold_ids.len()].clone()
                }
                _ => format!("h-{i}"),
            },
            instrument: INSTRUMENTS[instrument].0.into(),
            from: party(from),
            amount: q(&decimal(units, instrument)),
            expires_at: model.now + Duration::days(HOLD_DAYS),
        },
        Op::PostHold { hold, to, units } => {
            let code = model.hold_code(hold);
            let instrument = model.holds.get(&code).map_or(0, |h| h.instrument);
            Action::PostHold {
                hold: code,
                to: party(to),
                amount: q(&decimal(units, instrument)),
                purpose: Purpose::Trade,
            }
        }
        Op::VoidHold { hold } => Action::VoidHold {
            hold: model.hold_code(hold),
        },
        Op::ReleaseHoldCode { hold, reason } => Action::ReleaseHoldCode {
            hold: model.hold_code(hold),
            reason: if reason {
                "taken by another caller"
            } else {
                ""
            }
            .into(),
        },
        Op::ExpireHolds { .. } => Action::ExpireHolds {},
        _ => unreachable!("not a hold op: {op:?}"),
    }
}

async fn run(url: &str, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = TestClock::new(start_time());
    let mut ledger = open(url, &clock).await;
    let mut model = Model::new(clock.now());
    // Ops sent under their own key (`own[n]` sent `model.sent[n]`).
    let mut own: Vec<Op> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Reopen => {
                drop(ledger);
                ledger = Ledger::open(url, clock.options()).await.expect("reopen");
            }
            Op::Retry { op: earlier } | Op::Reuse { op: earlier, .. } => {
                if own.is_empty() {
                    continue;
                }
                let index = earlier % own.len();
                retry(&ledger, &mut model, op, &own[index], index, i, url).await?;
            }
            _ => {
                if let Op::ExpireHolds { advance: true } = op {
                    clock.advance(Duration::days(HOLD_DAYS + 1));
                }
                model.now = clock.now();
                let request = req(&format!("op-{i}"), vec![action(op, i, &model)]);
                let outcome = ledger.submit(request.clone()).await;
                let expected = model.apply(op, &request.actions[0]);
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
                own.push(op.clone());
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
            stored.iter().all(|(id, b)| *b >= Decimal::ZERO
                || id.contains("/issuance/")
                || id.contains("/settlement_bank/")),
            "negative balance on {}",
            url
        );
    }
    let report = ledger::verify(ledger.store()).await.expect("verify");
    prop_assert!(report.is_ok(), "verify on {}: {:?}", url, report.problems);
    Ok(())
}

/// Resends the request an earlier op (`own`, sent as `model.sent[index]`) sent, unchanged
/// (`Retry`) or with another memo (`Reuse`), and checks the ledger's answer.
async fn retry(
    ledger: &Ledger,
    model: &mut Model,
    op: &Op,
    earlier: &Op,
    index: usize,
    i: usize,
    url: &str,
) -> Result<(), TestCaseError> {
    let (sent, recorded) = model.sent[index].clone();
    let mut retried = sent.clone();
    if let Op::Reuse { units, .. } = op {
        retried.memo = Some(format!("changed {units}"));
    }
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
        return Ok(());
    }
    // A refused request left no record: the retry is judged afresh.
    let expected = model.apply(earlier, &retried.actions[0]);
    prop_assert_eq!(
        outcome.is_ok(),
        expected,
        "op {}: retry of a refused request on {}: {:?}",
        i,
        url,
        outcome.err()
    );
    // What is recorded under the key now is the request just accepted, which for a reuse is the
    // changed one: later retries are judged against it.
    model.sent[index] = (if expected { retried } else { sent }, expected);
    Ok(())
}

/// Every action the ledger has is generated: run the op strategy over many cases, build each
/// op's request, and collect the action names. Fails if an action has no generator, or if
/// [`ledger::ACTION_NAMES`] misses one.
#[test]
fn every_action_has_a_generator() {
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::collection::vec(op(), 1..40);
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        let ops = strategy.new_tree(&mut runner).expect("ops").current();
        let mut model = Model::new(start_time());
        for (i, op) in ops.iter().enumerate() {
            if matches!(op, Op::Retry { .. } | Op::Reuse { .. } | Op::Reopen) {
                continue;
            }
            let sent = action(op, i, &model);
            assert_eq!(generator_of(&sent), op.kind(), "{op:?} sent {sent:?}");
            model.apply(op, &sent);
            seen.insert(sent.name());
        }
    }
    let all: BTreeSet<&str> = ledger::ACTION_NAMES.iter().copied().collect();
    assert_eq!(seen, all, "actions generated vs all actions");
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
