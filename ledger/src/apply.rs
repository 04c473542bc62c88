//! The state machine: applies a request's actions to a [`Book`] and returns its postings. Pure:
//! no I/O, no clock (the time is an argument), so verification replays it exactly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::{Account, AccountKey, AccountKind};
use crate::amount::{Quantity, Units, to_decimal, to_units};
use crate::book::{Book, Hold, HoldState, Reduction};
use crate::enterprise::ClassificationLists;
use crate::error::LedgerError;
use crate::instrument::{Instrument, InstrumentKind, validate_code};
use crate::request::{ACTIONS_MAX, Action, NOTE_LEN_MAX, Party, Purpose, Request};

/// Why a posting was made: with the journal entry it belongs to, this is each unit's provenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostingCode {
    Issue,
    Allocation,
    Reduction,
    Transfer,
    Trade,
    Auction,
    Deposit,
    Withdrawal,
    Hold,
    HoldVoid,
    HoldExpiry,
    Surrender,
    Cancel,
}

impl PostingCode {
    pub fn as_str(self) -> &'static str {
        match self {
            PostingCode::Issue => "issue",
            PostingCode::Allocation => "allocation",
            PostingCode::Reduction => "reduction",
            PostingCode::Transfer => "transfer",
            PostingCode::Trade => "trade",
            PostingCode::Auction => "auction",
            PostingCode::Deposit => "deposit",
            PostingCode::Withdrawal => "withdrawal",
            PostingCode::Hold => "hold",
            PostingCode::HoldVoid => "hold_void",
            PostingCode::HoldExpiry => "hold_expiry",
            PostingCode::Surrender => "surrender",
            PostingCode::Cancel => "cancel",
        }
    }

    fn for_purpose(purpose: Purpose) -> PostingCode {
        match purpose {
            Purpose::Transfer => PostingCode::Transfer,
            Purpose::Trade => PostingCode::Trade,
            Purpose::Auction => PostingCode::Auction,
            Purpose::Allocation => PostingCode::Allocation,
        }
    }
}

/// One double-entry movement: `units` leave `debit` and arrive in `credit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub instrument: String,
    pub debit: String,
    pub credit: String,
    pub units: Units,
    pub code: PostingCode,
    /// The hold, reduction or other record this posting belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Applies `request`, to be journal entry `seq`, to `book` at time `now`. On error the book is
/// exactly as before.
pub fn apply_request(
    book: &mut Book,
    request: &Request,
    seq: u64,
    now: DateTime<Utc>,
    lists: &ClassificationLists,
) -> Result<Vec<Posting>, LedgerError> {
    check_request_shape(request)?;
    let mark = book.mark();
    let mut postings = Vec::with_capacity(request.actions.len());
    let mut machine = Machine {
        book,
        seq,
        now,
        lists,
        postings: &mut postings,
    };
    for (index, action) in request.actions.iter().enumerate() {
        if let Err(source) = machine.apply(action) {
            book.rollback(mark);
            return Err(LedgerError::Action {
                index,
                action: action.name(),
                source: Box::new(source),
            });
        }
    }
    book.keep();
    Ok(postings)
}

/// Checks that need no stored state: key, action count.
pub fn check_request_shape(request: &Request) -> Result<(), LedgerError> {
    let key = &request.idempotency_key;
    if key.is_empty()
        || key.len() > crate::request::IDEMPOTENCY_KEY_LEN_MAX
        || key.chars().any(char::is_control)
    {
        return Err(LedgerError::InvalidField {
            field: "idempotency_key".into(),
            reason: format!(
                "must be 1 to {} printable characters",
                crate::request::IDEMPOTENCY_KEY_LEN_MAX
            ),
        });
    }
    if request.actor.trim().is_empty() {
        return Err(LedgerError::InvalidField {
            field: "actor".into(),
            reason: "must not be empty".into(),
        });
    }
    match request.actions.len() {
        0 => Err(LedgerError::EmptyRequest),
        count if count > ACTIONS_MAX => Err(LedgerError::TooManyActions {
            count,
            max: ACTIONS_MAX,
        }),
        _ => Ok(()),
    }
}

/// An annotation's note: not blank, at most [`NOTE_LEN_MAX`] characters, no control characters
/// but newline and tab.
pub fn check_note(note: &str) -> Result<(), LedgerError> {
    let chars = note.chars().count();
    if note.trim().is_empty() {
        return Err(invalid("note", "must not be blank".into()));
    }
    if chars > NOTE_LEN_MAX {
        return Err(invalid(
            "note",
            format!("has {chars} characters, more than the {NOTE_LEN_MAX} allowed"),
        ));
    }
    if let Some(c) = note
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(invalid(
            "note",
            format!("contains the control character {c:?}"),
        ));
    }
    Ok(())
}

struct Machine<'a> {
    book: &'a mut Book,
    seq: u64,
    now: DateTime<Utc>,
    lists: &'a ClassificationLists,
    postings: &'a mut Vec<Posting>,
}

impl Machine<'_> {
    fn apply(&mut self, action: &Action) -> Result<(), LedgerError> {
        match action {
            Action::DefinePollutant { pollutant } => {
                validate_code(&pollutant.code)
                    .map_err(|reason| invalid("pollutant.code", reason))?;
                if self.book.pollutants.contains(&pollutant.code) {
                    return Err(exists("pollutant", &pollutant.code));
                }
                self.book
                    .pollutants
                    .put(pollutant.code.clone(), pollutant.clone());
                Ok(())
            }
            Action::DefineRegion { region } => {
                validate_code(&region.code).map_err(|reason| invalid("region.code", reason))?;
                if self.book.regions.contains(&region.code) {
                    return Err(exists("region", &region.code));
                }
                self.book.regions.put(region.code.clone(), region.clone());
                Ok(())
            }
            Action::DefineInstrument { instrument } => self.define_instrument(instrument),
            Action::RegisterEnterprise { enterprise } => {
                let enterprise = enterprise
                    .clone()
                    .validate(self.lists)
                    .map_err(|error| LedgerError::InvalidEnterprise(error.to_string()))?;
                let code = enterprise.credit_code.to_string();
                if self.book.enterprises.contains(&code) {
                    return Err(exists("enterprise", &code));
                }
                self.book.enterprises.put(code, Some(enterprise));
                Ok(())
            }
            Action::UpdateEnterprise { enterprise } => {
                let enterprise = enterprise
                    .clone()
                    .validate(self.lists)
                    .map_err(|error| LedgerError::InvalidEnterprise(error.to_string()))?;
                let code = enterprise.credit_code.to_string();
                if !self.book.enterprises.contains(&code) {
                    return Err(LedgerError::UnknownEnterprise { credit_code: code });
                }
                self.book.enterprises.put(code, Some(enterprise));
                Ok(())
            }
            Action::Issue {
                instrument,
                to,
                amount,
            } => {
                let instrument = self.usable(instrument)?;
                not_cash(&instrument, "issue")?;
                let units = to_units(&instrument.code, amount.0, instrument.scale)?;
                let to = self.party_account(to, &instrument.code)?;
                let from = AccountKey::bureau(AccountKind::Issuance, &instrument.code);
                self.post(&instrument, &from, &to, units, PostingCode::Issue, None)
            }
            Action::Allocate {
                instrument,
                to,
                amount,
            } => {
                let instrument = self.usable(instrument)?;
                not_cash(&instrument, "allocate")?;
                let units = to_units(&instrument.code, amount.0, instrument.scale)?;
                let to = self.enterprise_account(to, &instrument.code)?;
                let from = AccountKey::bureau(AccountKind::Reserve, &instrument.code);
                self.post(
                    &instrument,
                    &from,
                    &to,
                    units,
                    PostingCode::Allocation,
                    None,
                )
            }
            Action::Transfer {
                instrument,
                from,
                to,
                amount,
                purpose,
            } => {
                if from == to {
                    return Err(LedgerError::SameParty {
                        from: from.to_string(),
                    });
                }
                let instrument = self.usable(instrument)?;
                let units = to_units(&instrument.code, amount.0, instrument.scale)?;
                let from = self.party_account(from, &instrument.code)?;
                let to = self.party_account(to, &instrument.code)?;
                self.post(
                    &instrument,
                    &from,
                    &to,
                    units,
                    PostingCode::for_purpose(*purpose),
                    None,
                )
            }
            Action::Deposit {
                instrument,
                enterprise,
                amount,
            } => {
                let instrument = self.cash(instrument, "deposit")?;
                let units = to_units(&instrument.code, amount.0, instrument.scale)?;
                let to = self.enterprise_account(enterprise, &instrument.code)?;
                let from = AccountKey::bureau(AccountKind::SettlementBank, &instrument.code);
                self.post(&instrument, &from, &to, units, PostingCode::Deposit, None)
            }
            Action::Withdraw {
                instrument,
                enterprise,
                amount,
            } => {
                let instrument = self.cash(instrument, "withdraw")?;
                let units = to_units(&instrument.code, amount.0, instrument.scale)?;
                let from = self.enterprise_account(enterprise, &instrument.code)?;
                let to = AccountKey::bureau(AccountKind::SettlementBank, &instrument.code);
                self.post(
                    &instrument,
                    &from,
                    &to,
                    units,
                    PostingCode::Withdrawal,
                    None,
                )
            }
            Action::PlaceHold {
                hold,
                instrument,
                from,
                amount,
                expires_at,
            } => self.place_hold(hold, instrument, from, amount, *expires_at),
            Action::PostHold {
                hold,
                to,
                amount,
                purpose,
            } => self.post_hold(hold, to, amount, *purpose),
            Action::VoidHold { hold } => {
                let held = self.voidable_hold(hold)?;
                self.release(held, HoldState::Voided, PostingCode::HoldVoid)
            }
            Action::ReleaseHoldCode { hold, reason } => self.release_code(hold, reason),
            Action::ExpireHolds {} => self.expire_holds(),
            Action::Annotate { note } => check_note(note),
            Action::Surrender {
                instrument,
                enterprise,
                amount,
                compliance_year,
            } => {
                if !(2000..=2100).contains(compliance_year) {
                    return Err(invalid(
                        "compliance_year",
                        format!("{compliance_year} is outside 2000..=2100"),
                    ));
                }
                let instrument = self.usable(instrument)?;
                not_cash(&instrument, "surrender")?;
                let units = to_units(&instrument.code, amount.0, instrument.scale)?;
                let from = self.enterprise_account(enterprise, &instrument.code)?;
                let to = AccountKey::bureau(AccountKind::Surrender, &instrument.code);
                let reference = Some(format!("compliance-{compliance_year}"));
                self.post(
                    &instrument,
                    &from,
                    &to,
                    units,
                    PostingCode::Surrender,
                    reference,
                )
            }
            Action::Cancel {
                instrument,
                from,
                amount,
                reason,
            } => self.cancel(instrument, from, *amount, reason),
            Action::WriteOff {
                instrument,
                holders,
                reason,
            } => self.write_off(instrument, holders, reason),
            Action::Freeze {
                instrument,
                holder,
                reason,
                reference,
            } => {
                let note = crate::account::FreezeNote::of(reason, reference);
                self.set_frozen(instrument, holder, Some(note))
            }
            Action::Unfreeze { instrument, holder } => self.set_frozen(instrument, holder, None),
            Action::CertifyReduction {
                reduction,
                enterprise,
                instrument,
                amount,
                measure,
                evidence,
            } => {
                validate_code(reduction).map_err(|reason| invalid("reduction", reason))?;
                if self.book.reductions.contains(reduction) {
                    return Err(exists("reduction", reduction));
                }
                if evidence.trim().is_empty() {
                    return Err(invalid(
                        "evidence",
                        "a certified reduction needs its evidence".into(),
                    ));
                }
                let instrument = self.usable(instrument)?;
                not_cash(&instrument, "certify_reduction")?;
                let units = to_units(&instrument.code, amount.0, instrument.scale)?;
                let from = self.enterprise_account(enterprise, &instrument.code)?;
                let to = AccountKey::bureau(AccountKind::Reserve, &instrument.code);
                self.post(
                    &instrument,
                    &from,
                    &to,
                    units,
                    PostingCode::Reduction,
                    Some(reduction.clone()),
                )?;
                self.book.reductions.put(
                    reduction.clone(),
                    Reduction {
                        id: reduction.clone(),
                        enterprise: enterprise.clone(),
                        instrument: instrument.code.clone(),
                        units,
                        measure: *measure,
                        evidence: evidence.clone(),
                        seq: self.seq,
                    },
                );
                Ok(())
            }
        }
    }

    fn define_instrument(&mut self, instrument: &Instrument) -> Result<(), LedgerError> {
        instrument.validate_shape()?;
        if self.book.instruments.contains(&instrument.code) {
            return Err(exists("instrument", &instrument.code));
        }
        if let InstrumentKind::DischargeRight {
            pollutant, region, ..
        } = &instrument.kind
        {
            let pollutant = self.book.pollutants.get(pollutant).ok_or_else(|| {
                LedgerError::UnknownPollutant {
                    pollutant: pollutant.clone(),
                }
            })?;
            let region =
                self.book
                    .regions
                    .get(region)
                    .ok_or_else(|| LedgerError::UnknownRegion {
                        region: region.clone(),
                    })?;
            let needed = pollutant.medium.region_kind();
            if region.kind != needed {
                return Err(LedgerError::InvalidInstrument {
                    instrument: instrument.code.clone(),
                    reason: format!(
                        "{} is a {:?} pollutant, so its rights live in a {:?}, but {} is a {:?}",
                        pollutant.code, pollutant.medium, needed, region.code, region.kind
                    ),
                });
            }
        }
        self.book
            .instruments
            .put(instrument.code.clone(), instrument.clone());
        Ok(())
    }

    fn place_hold(
        &mut self,
        hold: &str,
        instrument: &str,
        from: &Party,
        amount: &Quantity,
        expires_at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        validate_code(hold).map_err(|reason| invalid("hold", reason))?;
        let released = |h: &Hold| h.state == HoldState::Released;
        if self.book.holds.get(hold).is_some_and(|h| !released(h)) {
            return Err(exists("hold", hold));
        }
        if expires_at <= self.now {
            return Err(invalid(
                "expires_at",
                format!("{expires_at} is not in the future"),
            ));
        }
        let instrument = self.usable(instrument)?;
        let units = to_units(&instrument.code, amount.0, instrument.scale)?;
        let holder = self.party_account(from, &instrument.code)?;
        let escrow = AccountKey::bureau(AccountKind::Escrow, &instrument.code);
        self.post(
            &instrument,
            &holder,
            &escrow,
            units,
            PostingCode::Hold,
            Some(hold.to_owned()),
        )?;
        self.book.holds.put(
            hold.to_owned(),
            Hold {
                id: hold.to_owned(),
                instrument: instrument.code.clone(),
                holder,
                amount: units,
                remaining: units,
                expires_at,
                state: HoldState::Open,
            },
        );
        Ok(())
    }

    fn post_hold(
        &mut self,
        hold: &str,
        to: &Party,
        amount: &Quantity,
        purpose: Purpose,
    ) -> Result<(), LedgerError> {
        let mut held = self.open_hold(hold)?;
        // A freeze also stops what the holder committed to before it: nothing leaves.
        self.not_frozen(&held.holder.id())?;
        let instrument = self.usable(&held.instrument)?;
        let units = to_units(&instrument.code, amount.0, instrument.scale)?;
        if units > held.remaining {
            return Err(LedgerError::HoldExceeded {
                hold: hold.to_owned(),
                remaining: to_decimal(held.remaining, instrument.scale),
                requested: amount.0,
            });
        }
        let to = self.party_account(to, &instrument.code)?;
        let escrow = AccountKey::bureau(AccountKind::Escrow, &instrument.code);
        self.post(
            &instrument,
            &escrow,
            &to,
            units,
            PostingCode::for_purpose(purpose),
            Some(hold.to_owned()),
        )?;
        held.remaining -= units;
        if held.remaining == 0 {
            held.state = HoldState::Posted;
        }
        self.book.holds.put(hold.to_owned(), held);
        Ok(())
    }

    /// The hold named `hold`, in whatever state.
    fn known_hold(&self, hold: &str) -> Result<Hold, LedgerError> {
        self.book
            .holds
            .get(hold)
            .cloned()
            .ok_or_else(|| LedgerError::UnknownHold {
                hold: hold.to_owned(),
            })
    }

    /// An open hold that has not expired.
    fn open_hold(&self, hold: &str) -> Result<Hold, LedgerError> {
        let held = self.known_hold(hold)?;
        if held.state != HoldState::Open {
            return Err(LedgerError::HoldNotOpen {
                hold: hold.to_owned(),
                state: held.state.as_str(),
            });
        }
        if held.expires_at <= self.now {
            return Err(LedgerError::HoldExpired {
                hold: hold.to_owned(),
                expires_at: held.expires_at.to_rfc3339(),
            });
        }
        Ok(held)
    }

    /// An open hold, expired or not: voiding one past its expiry returns the remainder to its
    /// holder, as expiry would, so the component that placed it can close it late (a market
    /// closing a day after a server was down) instead of being refused forever. Only posting
    /// from a hold is bound by its expiry.
    fn voidable_hold(&self, hold: &str) -> Result<Hold, LedgerError> {
        let held = self.known_hold(hold)?;
        if held.state != HoldState::Open {
            return Err(LedgerError::HoldNotOpen {
                hold: hold.to_owned(),
                state: held.state.as_str(),
            });
        }
        Ok(held)
    }

    /// Returns what is left of a hold to its holder and closes it.
    fn release(
        &mut self,
        mut held: Hold,
        state: HoldState,
        code: PostingCode,
    ) -> Result<(), LedgerError> {
        let instrument = self.instrument(&held.instrument)?;
        if held.remaining > 0 {
            let escrow = AccountKey::bureau(AccountKind::Escrow, &instrument.code);
            // A release never fails for a frozen holder: the units go home, they don't leave.
            self.move_units(
                &instrument,
                &escrow,
                &held.holder,
                held.remaining,
                code,
                Some(held.id.clone()),
            )?;
        }
        held.remaining = 0;
        held.state = state;
        self.book.holds.put(held.id.clone(), held);
        Ok(())
    }

    /// The bureau's recovery for a stuck hold code: returns what is left, releases the code.
    fn release_code(&mut self, hold: &str, reason: &str) -> Result<(), LedgerError> {
        if reason.trim().is_empty() {
            return Err(invalid(
                "reason",
                "releasing a hold code needs a reason".into(),
            ));
        }
        let held = self.known_hold(hold)?;
        if held.state == HoldState::Released {
            return Err(LedgerError::HoldNotOpen {
                hold: hold.to_owned(),
                state: held.state.as_str(),
            });
        }
        self.release(held, HoldState::Released, PostingCode::HoldVoid)
    }

    fn expire_holds(&mut self) -> Result<(), LedgerError> {
        let mut expired: Vec<Hold> = self
            .book
            .holds
            .values()
            .filter(|h| h.state == HoldState::Open && h.expires_at <= self.now)
            .cloned()
            .collect();
        expired.sort_by(|a, b| a.id.cmp(&b.id));
        for held in expired {
            self.release(held, HoldState::Expired, PostingCode::HoldExpiry)?;
        }
        Ok(())
    }

    fn cancel(
        &mut self,
        code: &str,
        from: &Party,
        amount: Quantity,
        reason: &str,
    ) -> Result<(), LedgerError> {
        if reason.trim().is_empty() {
            return Err(invalid("reason", "a cancellation needs a reason".into()));
        }
        // Expired rights may still be cancelled: that is how they leave the books.
        let instrument = self.instrument(code)?;
        not_cash(&instrument, "cancel")?;
        let units = to_units(&instrument.code, amount.0, instrument.scale)?;
        let from = self.party_account(from, &instrument.code)?;
        let to = AccountKey::bureau(AccountKind::Cancellation, &instrument.code);
        let reference = Some(reason.to_owned());
        self.post(
            &instrument,
            &from,
            &to,
            units,
            PostingCode::Cancel,
            reference,
        )
    }

    /// Moves each holder's whole balance of an expired instrument to cancellation, frozen
    /// holders included (a freeze keeps value from leaving; an expired unit has none). The
    /// amounts are read here, so the entry writes off exactly what was left.
    fn write_off(
        &mut self,
        code: &str,
        holders: &[Party],
        reason: &str,
    ) -> Result<(), LedgerError> {
        if reason.trim().is_empty() {
            return Err(invalid("reason", "a write-off needs a reason".into()));
        }
        if holders.is_empty() {
            return Err(invalid("holders", "name at least one holder".into()));
        }
        let instrument = self.instrument(code)?;
        not_cash(&instrument, "write_off")?;
        let today = self.now.date_naive();
        if instrument
            .valid_to()
            .is_none_or(|valid_to| today <= valid_to)
        {
            let until = instrument
                .valid_to()
                .map_or("it does not expire".to_owned(), |d| {
                    format!("it is valid to {d}")
                });
            return Err(invalid(
                "instrument",
                format!("{code} has not expired ({until}): use cancel"),
            ));
        }
        let to = AccountKey::bureau(AccountKind::Cancellation, code);
        let mut seen = std::collections::BTreeSet::new();
        for holder in holders {
            if !seen.insert(holder) {
                return Err(invalid("holders", format!("{holder} is listed twice")));
            }
            let from = self.party_account(holder, code)?;
            let left = self
                .book
                .accounts
                .get(&from.id())
                .map_or(0, Account::balance);
            let units = Units::try_from(left)
                .map_err(|_| LedgerError::Corrupt(format!("{} holds {left} units", from.id())))?;
            if units > 0 {
                let reference = Some(reason.to_owned());
                self.move_units(
                    &instrument,
                    &from,
                    &to,
                    units,
                    PostingCode::Cancel,
                    reference,
                )?;
            }
        }
        Ok(())
    }

    /// Freezes (`Some`, with what the freeze said about itself) or unfreezes (`None`).
    fn set_frozen(
        &mut self,
        instrument: &str,
        holder: &Party,
        freeze: Option<Option<crate::account::FreezeNote>>,
    ) -> Result<(), LedgerError> {
        let instrument = self.instrument(instrument)?;
        let key = self.party_account(holder, &instrument.code)?;
        let mut account = self.book.account(&key);
        account.frozen = freeze.is_some();
        account.freeze = freeze.flatten();
        self.book.accounts.put(key.id(), account);
        Ok(())
    }

    /// Refuses a frozen account, naming the freeze's reason and reference.
    fn not_frozen(&self, id: &str) -> Result<(), LedgerError> {
        match self.book.accounts.get(id) {
            Some(account) if account.frozen => {
                let note = account.freeze.clone();
                Err(LedgerError::AccountFrozen {
                    account: id.to_owned(),
                    reason: note.as_ref().and_then(|n| n.reason.clone()),
                    reference: note.and_then(|n| n.reference),
                })
            }
            _ => Ok(()),
        }
    }

    /// Moves units from a sender that must not be frozen and must hold enough.
    fn post(
        &mut self,
        instrument: &Instrument,
        from: &AccountKey,
        to: &AccountKey,
        units: Units,
        code: PostingCode,
        reference: Option<String>,
    ) -> Result<(), LedgerError> {
        let from_id = from.id();
        self.not_frozen(&from_id)?;
        self.move_ids(
            instrument,
            from,
            from_id,
            to,
            to.id(),
            units,
            code,
            reference,
        )
    }

    /// The one place balances change: debit one account, credit another, record the posting.
    fn move_units(
        &mut self,
        instrument: &Instrument,
        from: &AccountKey,
        to: &AccountKey,
        units: Units,
        code: PostingCode,
        reference: Option<String>,
    ) -> Result<(), LedgerError> {
        self.move_ids(
            instrument,
            from,
            from.id(),
            to,
            to.id(),
            units,
            code,
            reference,
        )
    }

    /// [`Self::move_units`] with the account ids already formatted.
    #[allow(clippy::too_many_arguments)]
    fn move_ids(
        &mut self,
        instrument: &Instrument,
        from: &AccountKey,
        from_id: String,
        to: &AccountKey,
        to_id: String,
        units: Units,
        code: PostingCode,
        reference: Option<String>,
    ) -> Result<(), LedgerError> {
        debug_assert!(units > 0);
        let account = |id: &str, key: &AccountKey| {
            self.book
                .accounts
                .get(id)
                .cloned()
                .unwrap_or_else(|| Account::new(key.clone()))
        };
        let mut debit = account(&from_id, from);
        let mut credit = account(&to_id, to);
        if !from.kind.may_go_negative() && debit.balance() < i128::from(units) {
            return Err(LedgerError::InsufficientBalance {
                account: from_id,
                balance: to_decimal(
                    i64::try_from(debit.balance()).unwrap_or(i64::MAX),
                    instrument.scale,
                ),
                requested: to_decimal(units, instrument.scale),
            });
        }
        let out_of_range = || LedgerError::AmountOutOfRange {
            instrument: instrument.code.clone(),
            amount: to_decimal(units, instrument.scale),
        };
        debit.debits = debit.debits.checked_add(units).ok_or_else(out_of_range)?;
        credit.credits = credit.credits.checked_add(units).ok_or_else(out_of_range)?;
        self.book.accounts.put(from_id.clone(), debit);
        self.book.accounts.put(to_id.clone(), credit);
        self.postings.push(Posting {
            instrument: instrument.code.clone(),
            debit: from_id,
            credit: to_id,
            units,
            code,
            reference,
        });
        Ok(())
    }

    fn instrument(&self, code: &str) -> Result<Instrument, LedgerError> {
        self.book
            .instruments
            .get(code)
            .cloned()
            .ok_or_else(|| LedgerError::UnknownInstrument {
                instrument: code.to_owned(),
            })
    }

    /// An instrument that exists and has not expired.
    fn usable(&self, code: &str) -> Result<Instrument, LedgerError> {
        let instrument = self.instrument(code)?;
        instrument.check_usable(self.now.date_naive())?;
        Ok(instrument)
    }

    fn cash(&self, code: &str, action: &'static str) -> Result<Instrument, LedgerError> {
        let instrument = self.instrument(code)?;
        if !instrument.is_cash() {
            return Err(LedgerError::WrongInstrumentKind {
                instrument: instrument.code,
                action,
                expected: "settlement cash",
                actual: "not cash",
            });
        }
        Ok(instrument)
    }

    fn enterprise_account(
        &self,
        credit_code: &str,
        instrument: &str,
    ) -> Result<AccountKey, LedgerError> {
        if !self.book.enterprises.contains(credit_code) {
            return Err(LedgerError::UnknownEnterprise {
                credit_code: credit_code.to_owned(),
            });
        }
        Ok(AccountKey::holding(credit_code, instrument))
    }

    fn party_account(&self, party: &Party, instrument: &str) -> Result<AccountKey, LedgerError> {
        match party {
            Party::Reserve => Ok(AccountKey::bureau(AccountKind::Reserve, instrument)),
            Party::Enterprise(code) => self.enterprise_account(code, instrument),
        }
    }
}

fn not_cash(instrument: &Instrument, action: &'static str) -> Result<(), LedgerError> {
    if instrument.is_cash() {
        return Err(LedgerError::WrongInstrumentKind {
            instrument: instrument.code.clone(),
            action,
            expected: "a right, allowance or credit",
            actual: "settlement cash",
        });
    }
    Ok(())
}

fn invalid(field: &str, reason: String) -> LedgerError {
    LedgerError::InvalidField {
        field: field.to_owned(),
        reason,
    }
}

fn exists(what: &'static str, id: &str) -> LedgerError {
    LedgerError::AlreadyExists {
        what,
        id: id.to_owned(),
    }
}
