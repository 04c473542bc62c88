//! Every way a request can be refused. Each variant names the rule and carries the offending
//! values; a refused request writes nothing.

use chrono::NaiveDate;
use rust_decimal::Decimal;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("unknown instrument {instrument:?}")]
    UnknownInstrument { instrument: String },
    #[error("unknown pollutant {pollutant:?}")]
    UnknownPollutant { pollutant: String },
    #[error("unknown region {region:?}")]
    UnknownRegion { region: String },
    #[error("enterprise {credit_code:?} is not registered")]
    UnknownEnterprise { credit_code: String },
    #[error("no hold {hold:?}")]
    UnknownHold { hold: String },

    #[error("amount {amount} of {instrument} must be greater than zero")]
    NonPositiveAmount { instrument: String, amount: Decimal },
    #[error(
        "amount {amount} of {instrument} has more than the {scale} decimal places the instrument allows"
    )]
    TooManyDecimalPlaces {
        instrument: String,
        amount: Decimal,
        scale: u32,
    },
    #[error("amount {amount} of {instrument} is too large to record")]
    AmountOutOfRange { instrument: String, amount: Decimal },
    #[error("insufficient balance in {account}: has {balance}, needs {requested}")]
    InsufficientBalance {
        account: String,
        balance: Decimal,
        requested: Decimal,
    },
    #[error("account {account} is frozen and cannot send{}", freeze_detail(.reason, .reference))]
    AccountFrozen {
        account: String,
        /// The freeze's reason and reference, if it gave them.
        reason: Option<String>,
        reference: Option<String>,
    },
    #[error("{instrument} expired on {valid_to} and can no longer be used")]
    InstrumentExpired {
        instrument: String,
        valid_to: NaiveDate,
    },
    #[error("{instrument} is {actual}, but {action} needs {expected}")]
    WrongInstrumentKind {
        instrument: String,
        action: &'static str,
        expected: &'static str,
        actual: &'static str,
    },

    #[error("invalid instrument {instrument:?}: {reason}")]
    InvalidInstrument { instrument: String, reason: String },
    #[error("invalid {field}: {reason}")]
    InvalidField { field: String, reason: String },
    /// A text outside the text policy ([`crate::text`]); `field` is its path in the request,
    /// `/`-separated (`memo`, `actions/3/evidence`): see [`LedgerError::pointer`].
    #[error("{field}: {problem}")]
    InvalidText {
        field: String,
        problem: crate::text::TextProblem,
    },
    #[error("{what} {id:?} already exists")]
    AlreadyExists { what: &'static str, id: String },
    #[error("invalid enterprise: {0}")]
    InvalidEnterprise(String),

    #[error(
        "hold code {hold:?} is reserved for the {owner} (namespace {prefix:?}); use a code outside it"
    )]
    ReservedHoldCode {
        hold: String,
        owner: &'static str,
        prefix: &'static str,
    },
    #[error("hold {hold:?} is {state}, not open")]
    HoldNotOpen { hold: String, state: &'static str },
    #[error("hold {hold:?} expired at {expires_at}")]
    HoldExpired { hold: String, expires_at: String },
    #[error("hold {hold:?} has {remaining} left, cannot post {requested}")]
    HoldExceeded {
        hold: String,
        remaining: Decimal,
        requested: Decimal,
    },
    #[error("{from} cannot send to itself")]
    SameParty { from: String },

    #[error("request has no actions")]
    EmptyRequest,
    #[error("request has {count} actions, more than the {max} allowed")]
    TooManyActions { count: usize, max: usize },
    #[error(
        "idempotency key {key:?} was already used for a different request (journal entry {seq}); use a new key"
    )]
    IdempotencyConflict { key: String, seq: u64 },
    #[error("action {index} ({action}): {source}")]
    Action {
        index: usize,
        action: &'static str,
        #[source]
        source: Box<LedgerError>,
    },

    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url {0:?}: use sqlite:PATH or postgres://…")]
    UnsupportedDatabase(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("storage failed, nothing was written: {0}")]
    BatchFailed(String),
    #[error("the ledger writer has stopped")]
    WriterStopped,
}

impl LedgerError {
    /// The innermost error, without the "action N" wrapper.
    pub fn root(&self) -> &LedgerError {
        match self {
            LedgerError::Action { source, .. } => source.root(),
            other => other,
        }
    }

    /// The field at fault as a JSON pointer into the request (`/actions/3/evidence`), for the
    /// refusals that name one.
    pub fn pointer(&self) -> Option<String> {
        match self.root() {
            LedgerError::InvalidText { field, .. } => Some(format!("/{field}")),
            _ => None,
        }
    }

    /// True for refusals caused by the request (4xx), false for storage faults (5xx).
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self.root(),
            LedgerError::Storage(_)
                | LedgerError::Migration(_)
                | LedgerError::UnsupportedDatabase(_)
                | LedgerError::Corrupt(_)
                | LedgerError::WriterStopped
                | LedgerError::BatchFailed(_)
        )
    }
}

impl From<serde_json::Error> for LedgerError {
    fn from(error: serde_json::Error) -> Self {
        LedgerError::Corrupt(error.to_string())
    }
}

/// `": court order (reference 2025-17)"`, or nothing for a freeze that gave no reason.
fn freeze_detail(reason: &Option<String>, reference: &Option<String>) -> String {
    match (reason, reference) {
        (Some(reason), Some(reference)) => format!(": {reason} (reference {reference})"),
        (Some(reason), None) => format!(": {reason}"),
        (None, Some(reference)) => format!(" (reference {reference})"),
        (None, None) => String::new(),
    }
}
