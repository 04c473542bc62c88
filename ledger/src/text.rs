//! One text policy for every text a [`Request`] carries, on every backend alike: each field has a
//! declared maximum length (in characters), and no field holds a control character (Unicode
//! category Cc: U+0000–U+001F, U+007F and the C1 controls U+0080–U+009F), except that the free
//! prose fields (memo, reduction evidence, annotate notes, cancel and freeze reasons) may break
//! lines with newline (U+000A) and indent with tab (U+0009). Carriage return is refused
//! everywhere, so one text has one spelling.
//!
//! Memos are the one field whose limit depends on the writer: a component's machine record may be
//! large ([`MEMO_CHARS_MAX`]), an outside caller's memo is short ([`CALLER_MEMO_CHARS_MAX`],
//! checked by [`check_caller_text`], which the API applies to the requests it builds).
//!
//! [`check_request_text`] runs when a request is submitted, before it reaches a batch (so no
//! storage, which may refuse a NUL or a huge key, ever sees it), and answers
//! [`LedgerError::InvalidText`] naming the field as a path into the request (`memo`,
//! `actions/3/evidence`, `actions/0/enterprise/free_tags/2`), which the API turns into a JSON
//! pointer. It is deliberately not part of replay ([`crate::apply`]): entries accepted before
//! this policy existed still verify.
//!
//! Emptiness and the finer shape of codes are the state machine's rules, not this policy's.

use crate::enterprise::EnterpriseInput;
use crate::error::LedgerError;
use crate::instrument::{Instrument, InstrumentKind};
use crate::request::{Action, Party, Request};

/// Idempotency keys, in characters (the state machine also caps them at
/// [`crate::request::IDEMPOTENCY_KEY_LEN_MAX`] bytes).
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = crate::request::IDEMPOTENCY_KEY_LEN_MAX;
/// Who asks (`bureau`, `market`, `enterprise:…`).
pub const ACTOR_CHARS_MAX: usize = 128;
/// A request's memo, as the ledger accepts it from anyone: components keep machine records there
/// (the durable market its command log, a reallocation round its funding flows), which grow with
/// the batch, so this only bounds what storage and memory must hold.
pub const MEMO_CHARS_MAX: usize = 16 * 1024 * 1024;
/// A memo written by an outside caller (an API key): what [`check_caller_text`] allows.
pub const CALLER_MEMO_CHARS_MAX: usize = 1_024;
/// Codes: instruments, pollutants, regions, holds, reductions, and parties (credit codes).
pub const CODE_CHARS_MAX: usize = 64;
/// Names of pollutants, regions and enterprises.
pub const NAME_CHARS_MAX: usize = 200;
/// Short register values: units, currencies, schemes, districts, industry codes, tags, credit
/// grades, zoning types, permit numbers, distances given as text.
pub const SHORT_CHARS_MAX: usize = 64;
/// A certified reduction's evidence.
pub const EVIDENCE_CHARS_MAX: usize = 4_096;
/// Why units are cancelled, a hold code released, an account frozen.
pub const REASON_CHARS_MAX: usize = 1_024;
/// A freeze's reference (a case or decision number).
pub const REFERENCE_CHARS_MAX: usize = 128;
/// An annotate note (the state machine's own limit).
pub const NOTE_CHARS_MAX: usize = crate::request::NOTE_LEN_MAX;

/// Whether a field is one line, or prose that may hold newlines and tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Line,
    Prose,
}

/// What is wrong with one text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextProblem {
    #[error("has {chars} characters, more than the {max} allowed")]
    TooLong { chars: usize, max: usize },
    #[error("contains the control character U+{code_point:04X} at character {position}; {allowed}")]
    ControlCharacter {
        code_point: u32,
        /// 1-based, in characters.
        position: usize,
        allowed: &'static str,
    },
}

/// Checks one text against a length and a form.
pub fn check_text(text: &str, max: usize, form: Form) -> Result<(), TextProblem> {
    if text.len() > max {
        let chars = text.chars().count();
        if chars > max {
            return Err(TextProblem::TooLong { chars, max });
        }
    }
    let allowed = |c: char| form == Form::Prose && (c == '\n' || c == '\t');
    match text
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !allowed(*c))
    {
        Some((at, c)) => Err(TextProblem::ControlCharacter {
            code_point: u32::from(c),
            position: at + 1,
            allowed: match form {
                Form::Line => "this field allows no control characters",
                Form::Prose => "this field allows only newline and tab",
            },
        }),
        None => Ok(()),
    }
}

/// A problem at a path relative to where it was found.
type Found = (String, TextProblem);

/// One field: its name (a path segment), its text, its limit and form.
type Field<'a> = (&'static str, &'a str, usize, Form);

/// Checks every text of `request`: the first problem, with the field's path. What
/// [`crate::Ledger::submit`] applies to every request.
pub fn check_request_text(request: &Request) -> Result<(), LedgerError> {
    check_with_memo_max(request, MEMO_CHARS_MAX)
}

/// [`check_request_text`] for a request an outside caller wrote (the API's endpoints): the same
/// policy, with the memo held to [`CALLER_MEMO_CHARS_MAX`].
pub fn check_caller_text(request: &Request) -> Result<(), LedgerError> {
    check_with_memo_max(request, CALLER_MEMO_CHARS_MAX)
}

fn check_with_memo_max(request: &Request, memo_max: usize) -> Result<(), LedgerError> {
    let top: [Field; 3] = [
        (
            "idempotency_key",
            request.idempotency_key.as_str(),
            IDEMPOTENCY_KEY_CHARS_MAX,
            Form::Line,
        ),
        ("actor", request.actor.as_str(), ACTOR_CHARS_MAX, Form::Line),
        (
            "memo",
            request.memo.as_deref().unwrap_or(""),
            memo_max,
            Form::Prose,
        ),
    ];
    fields(&top).map_err(|(field, problem)| LedgerError::InvalidText { field, problem })?;
    for (index, action) in request.actions.iter().enumerate() {
        check_action(action).map_err(|(field, problem)| LedgerError::InvalidText {
            field: format!("actions/{index}/{field}"),
            problem,
        })?;
    }
    Ok(())
}

fn fields(list: &[Field]) -> Result<(), Found> {
    for &(name, text, max, form) in list {
        check_text(text, max, form).map_err(|problem| (name.to_owned(), problem))?;
    }
    Ok(())
}

fn party(party: &Party) -> &str {
    match party {
        Party::Reserve => "",
        Party::Enterprise(code) => code,
    }
}

fn code<'a>(name: &'static str, text: &'a str) -> Field<'a> {
    (name, text, CODE_CHARS_MAX, Form::Line)
}

fn short<'a>(name: &'static str, text: &'a str) -> Field<'a> {
    (name, text, SHORT_CHARS_MAX, Form::Line)
}

fn optional(text: &Option<String>) -> &str {
    text.as_deref().unwrap_or("")
}

/// Every text of one action, by its field name. An exhaustive match: a new action must say what
/// text it carries.
fn check_action(action: &Action) -> Result<(), Found> {
    match action {
        Action::DefinePollutant { .. }
        | Action::DefineRegion { .. }
        | Action::DefineInstrument { .. }
        | Action::RegisterEnterprise { .. }
        | Action::UpdateEnterprise { .. } => check_record(action),
        Action::PlaceHold { .. }
        | Action::PostHold { .. }
        | Action::VoidHold { .. }
        | Action::ReleaseHoldCode { .. }
        | Action::ExpireHolds {} => check_hold(action),
        Action::Issue { .. }
        | Action::Allocate { .. }
        | Action::Transfer { .. }
        | Action::Deposit { .. }
        | Action::Withdraw { .. }
        | Action::Surrender { .. } => check_movement(action),
        Action::Annotate { .. }
        | Action::Cancel { .. }
        | Action::WriteOff { .. }
        | Action::Freeze { .. }
        | Action::Unfreeze { .. }
        | Action::CertifyReduction { .. } => check_remark(action),
    }
}

/// Definitions and the register.
fn check_record(action: &Action) -> Result<(), Found> {
    match action {
        Action::DefinePollutant { pollutant } => nested(
            "pollutant",
            &[
                code("code", &pollutant.code),
                ("name", pollutant.name.as_str(), NAME_CHARS_MAX, Form::Line),
            ],
        ),
        Action::DefineRegion { region } => nested(
            "region",
            &[
                code("code", &region.code),
                ("name", region.name.as_str(), NAME_CHARS_MAX, Form::Line),
            ],
        ),
        Action::DefineInstrument { instrument } => check_instrument(instrument),
        Action::RegisterEnterprise { enterprise } | Action::UpdateEnterprise { enterprise } => {
            check_enterprise(enterprise)
                .map_err(|(path, problem)| (format!("enterprise/{path}"), problem))
        }
        _ => Ok(()),
    }
}

/// Holds.
fn check_hold(action: &Action) -> Result<(), Found> {
    match action {
        Action::PlaceHold {
            hold,
            instrument,
            from,
            ..
        } => fields(&[
            code("hold", hold),
            code("instrument", instrument),
            code("from", party(from)),
        ]),
        Action::PostHold { hold, to, .. } => fields(&[code("hold", hold), code("to", party(to))]),
        Action::VoidHold { hold } => fields(&[code("hold", hold)]),
        Action::ReleaseHoldCode { hold, reason } => fields(&[
            code("hold", hold),
            ("reason", reason.as_str(), REASON_CHARS_MAX, Form::Prose),
        ]),
        Action::ExpireHolds {} => Ok(()),
        _ => Ok(()),
    }
}

/// Movements of units.
fn check_movement(action: &Action) -> Result<(), Found> {
    match action {
        Action::Issue { instrument, to, .. } => {
            fields(&[code("instrument", instrument), code("to", party(to))])
        }
        Action::Allocate { instrument, to, .. } => {
            fields(&[code("instrument", instrument), code("to", to)])
        }
        Action::Transfer {
            instrument,
            from,
            to,
            ..
        } => fields(&[
            code("instrument", instrument),
            code("from", party(from)),
            code("to", party(to)),
        ]),
        Action::Deposit {
            instrument,
            enterprise,
            ..
        }
        | Action::Withdraw {
            instrument,
            enterprise,
            ..
        }
        | Action::Surrender {
            instrument,
            enterprise,
            ..
        } => fields(&[
            code("instrument", instrument),
            code("enterprise", enterprise),
        ]),
        _ => Ok(()),
    }
}

/// Notes, cancellations, freezes and reductions: where the prose is.
fn check_remark(action: &Action) -> Result<(), Found> {
    match action {
        Action::Annotate { note } => {
            fields(&[("note", note.as_str(), NOTE_CHARS_MAX, Form::Prose)])
        }
        Action::Cancel {
            instrument,
            from,
            reason,
            ..
        } => fields(&[
            code("instrument", instrument),
            code("from", party(from)),
            ("reason", reason.as_str(), REASON_CHARS_MAX, Form::Prose),
        ]),
        Action::WriteOff {
            instrument,
            holders,
            reason,
        } => check_write_off(instrument, holders, reason),
        Action::Freeze {
            instrument,
            holder,
            reason,
            reference,
        } => fields(&[
            code("instrument", instrument),
            code("holder", party(holder)),
            ("reason", optional(reason), REASON_CHARS_MAX, Form::Prose),
            (
                "reference",
                optional(reference),
                REFERENCE_CHARS_MAX,
                Form::Line,
            ),
        ]),
        Action::Unfreeze { instrument, holder } => fields(&[
            code("instrument", instrument),
            code("holder", party(holder)),
        ]),
        Action::CertifyReduction {
            reduction,
            enterprise,
            instrument,
            evidence,
            ..
        } => fields(&[
            code("reduction", reduction),
            code("enterprise", enterprise),
            code("instrument", instrument),
            (
                "evidence",
                evidence.as_str(),
                EVIDENCE_CHARS_MAX,
                Form::Prose,
            ),
        ]),
        _ => Ok(()),
    }
}

/// A write-off's instrument, reason and each holder (`holders/2`).
fn check_write_off(instrument: &str, holders: &[Party], reason: &str) -> Result<(), Found> {
    fields(&[
        code("instrument", instrument),
        ("reason", reason, REASON_CHARS_MAX, Form::Prose),
    ])?;
    for (index, holder) in holders.iter().enumerate() {
        check_text(party(holder), CODE_CHARS_MAX, Form::Line)
            .map_err(|problem| (format!("holders/{index}"), problem))?;
    }
    Ok(())
}

/// The fields of an object inside the action (`pollutant/name`).
fn nested(object: &'static str, list: &[Field]) -> Result<(), Found> {
    fields(list).map_err(|(field, problem)| (format!("{object}/{field}"), problem))
}

fn check_instrument(instrument: &Instrument) -> Result<(), Found> {
    let mut list: Vec<Field> = vec![
        code("code", &instrument.code),
        short("unit", instrument.unit.as_str()),
    ];
    match &instrument.kind {
        InstrumentKind::DischargeRight {
            pollutant, region, ..
        } => {
            list.push(code("pollutant", pollutant));
            list.push(code("region", region));
        }
        InstrumentKind::CarbonAllowance { .. } => {}
        InstrumentKind::OffsetCredit { scheme, .. } => list.push(short("scheme", scheme)),
        InstrumentKind::Cash { currency } => list.push(short("currency", currency)),
    }
    nested("instrument", &list)
}

/// An enterprise as submitted: every text, lists by index (`free_tags/2`).
fn check_enterprise(input: &EnterpriseInput) -> Result<(), Found> {
    let distance = match &input.distance_to_river_m {
        serde_json::Value::String(text) => text.as_str(),
        _ => "",
    };
    fields(&[
        code("credit_code", &input.credit_code),
        ("name", input.name.as_str(), NAME_CHARS_MAX, Form::Line),
        short("district", input.district.as_str()),
        short("credit_grade", optional(&input.credit_grade)),
        short("zoning", input.zoning.as_str()),
        short("distance_to_river_m", distance),
        short("permit_number", optional(&input.permit_number)),
    ])?;
    for (name, list) in [
        ("industry_codes", &input.industry_codes),
        ("declared_tags", &input.declared_tags),
        ("free_tags", &input.free_tags),
    ] {
        for (index, text) in list.iter().enumerate() {
            check_text(text, SHORT_CHARS_MAX, Form::Line)
                .map_err(|problem| (format!("{name}/{index}"), problem))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memo(text: &str) -> Request {
        Request {
            idempotency_key: "k".into(),
            actor: "bureau".into(),
            memo: Some(text.into()),
            actions: vec![Action::ExpireHolds {}],
        }
    }

    #[test]
    fn a_nul_or_c1_control_is_refused_with_its_position() {
        for (text, code_point, position) in [
            ("a\u{0}b", 0, 2),
            ("ab\u{85}", 0x85, 3),
            ("\u{7f}", 0x7f, 1),
        ] {
            let error = check_request_text(&memo(text)).unwrap_err();
            let LedgerError::InvalidText { field, problem } = error else {
                panic!("{error:?}")
            };
            assert_eq!(field, "memo");
            assert_eq!(
                problem,
                TextProblem::ControlCharacter {
                    code_point,
                    position,
                    allowed: "this field allows only newline and tab"
                }
            );
        }
    }

    #[test]
    fn prose_keeps_newlines_and_tabs_but_a_line_does_not() {
        assert_eq!(check_text("a\n\tb", 10, Form::Prose), Ok(()));
        assert!(check_text("a\nb", 10, Form::Line).is_err());
        assert!(check_text("a\r\nb", 10, Form::Prose).is_err());
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert_eq!(check_text(&"排".repeat(64), 64, Form::Line), Ok(()));
        assert_eq!(
            check_text(&"排".repeat(65), 64, Form::Line),
            Err(TextProblem::TooLong { chars: 65, max: 64 })
        );
        let big = memo(&"x".repeat(900_000));
        let error = check_caller_text(&big).unwrap_err();
        assert_eq!(
            error.to_string(),
            "memo: has 900000 characters, more than the 1024 allowed"
        );
        // A component's record may be that large; nothing may be larger than the hard cap.
        assert!(check_request_text(&big).is_ok());
        let huge = memo(&"x".repeat(MEMO_CHARS_MAX + 1));
        assert!(check_request_text(&huge).is_err());
    }

    #[test]
    fn an_action_field_is_named_by_its_path() {
        let mut request = memo("fine");
        request.actions.push(Action::CertifyReduction {
            reduction: "r-1".into(),
            enterprise: "91500103MA5U00011H".into(),
            instrument: "COD.x".into(),
            amount: crate::Quantity(rust_decimal::Decimal::ONE),
            measure: crate::Measure::Upgrade,
            evidence: "photo\u{0}".into(),
        });
        let Err(LedgerError::InvalidText { field, .. }) = check_request_text(&request) else {
            panic!("refused")
        };
        assert_eq!(field, "actions/1/evidence");
        let mut input = EnterpriseInput {
            credit_code: "91500103MA5U00011H".into(),
            ..EnterpriseInput::default()
        };
        input.free_tags = vec!["ok".into(), "b\u{1b}[31m".into()];
        request.actions = vec![Action::RegisterEnterprise { enterprise: input }];
        let Err(LedgerError::InvalidText { field, .. }) = check_request_text(&request) else {
            panic!("refused")
        };
        assert_eq!(field, "actions/0/enterprise/free_tags/1");
    }
}
