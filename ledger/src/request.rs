//! What callers ask the ledger to do. A [`Request`] is a list of [`Action`]s applied as one atomic
//! batch of postings under one idempotency key, recorded as one journal entry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::amount::Quantity;
use crate::enterprise::EnterpriseInput;
use crate::instrument::{Instrument, Pollutant, Region};

/// At most this many actions in one request: large enough for a reallocation round's grants.
pub const ACTIONS_MAX: usize = 100_000;
/// Idempotency keys are at most this long.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 128;
/// An [`Action::Annotate`] note is at most this many characters.
pub const NOTE_LEN_MAX: usize = 1_024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Chosen by the caller and reused on retry. Time-ordered keys (ULID, UUIDv7) keep the index
    /// append-mostly and writes fast.
    pub idempotency_key: String,
    /// Who asks: recorded in the journal, checked by the API layer.
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    pub actions: Vec<Action>,
}

/// Either side of a movement: the bureau's reserve, or an enterprise by its credit code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Party {
    Reserve,
    Enterprise(String),
}

impl Serialize for Party {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Party::Reserve => serializer.serialize_str("reserve"),
            Party::Enterprise(code) => serializer.serialize_str(code),
        }
    }
}

impl<'de> Deserialize<'de> for Party {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Party::parse(&text))
    }
}

impl Party {
    /// `reserve` names the bureau's reserve; anything else is taken as a credit code (checked when
    /// the action is applied, so the error names the action).
    pub fn parse(text: &str) -> Party {
        if text == "reserve" {
            Party::Reserve
        } else {
            Party::Enterprise(text.to_owned())
        }
    }
}

impl std::fmt::Display for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Party::Reserve => f.write_str("reserve"),
            Party::Enterprise(code) => f.write_str(code),
        }
    }
}

/// Why units move between two holders; kept on every posting so each right stays traceable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    #[default]
    Transfer,
    Trade,
    Auction,
    Allocation,
}

/// How a certified reduction freed its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Upgrade,
    Treatment,
    EnergySaving,
    CleanerProduction,
    Closure,
    CapacityCut,
    GovernmentFunded,
    IdleReclaim,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    DefinePollutant {
        pollutant: Pollutant,
    },
    DefineRegion {
        region: Region,
    },
    DefineInstrument {
        instrument: Instrument,
    },
    RegisterEnterprise {
        enterprise: EnterpriseInput,
    },
    /// Replaces an enterprise's record (a new credit grade, tags, permit); the journal keeps the old.
    UpdateEnterprise {
        enterprise: EnterpriseInput,
    },
    /// New units from issuance into the reserve or an enterprise's holding.
    Issue {
        instrument: String,
        to: Party,
        amount: Quantity,
    },
    /// Initial or reserve allocation: from the bureau's reserve to an enterprise.
    Allocate {
        instrument: String,
        to: String,
        amount: Quantity,
    },
    Transfer {
        instrument: String,
        from: Party,
        to: Party,
        amount: Quantity,
        #[serde(default)]
        purpose: Purpose,
    },
    /// Cash received by the settlement bank for an enterprise, recorded by the bureau.
    Deposit {
        instrument: String,
        enterprise: String,
        amount: Quantity,
    },
    /// Cash paid out by the settlement bank to an enterprise.
    Withdraw {
        instrument: String,
        enterprise: String,
        amount: Quantity,
    },
    /// Moves `amount` from the holder into escrow until posted, voided or expired.
    PlaceHold {
        hold: String,
        instrument: String,
        from: Party,
        amount: Quantity,
        expires_at: DateTime<Utc>,
    },
    /// Delivers part or all of a hold's remaining amount to `to`; the rest stays held.
    PostHold {
        hold: String,
        to: Party,
        amount: Quantity,
        #[serde(default)]
        purpose: Purpose,
    },
    /// Returns a hold's remaining amount to its holder; also past the hold's expiry (as expiry
    /// would), so whoever placed it can close it late.
    VoidHold {
        hold: String,
    },
    /// The bureau's recovery for a hold code that blocks the component owning its namespace
    /// (see [`crate::namespace`]): whatever the hold's state, what is left of it goes back to its
    /// holder (as a void), and the code is released, so a later `place_hold` may use it again
    /// (the journal keeps both holds' histories). `reason` (1 to
    /// [`crate::text::REASON_CHARS_MAX`] characters) says why.
    ReleaseHoldCode {
        hold: String,
        reason: String,
    },
    /// Returns every hold past its expiry to its holder.
    ExpireHolds {},
    /// Records a note in the journal and changes nothing else: no balance, hold or record.
    /// For entries whose meaning is all in the request (a market command that settles nothing,
    /// a bureau remark). 1 to [`NOTE_LEN_MAX`] characters, not blank, no control characters
    /// other than newline and tab. The ledger lets any actor record one (the durable market
    /// does, as `market`); the HTTP API accepts it from bureau keys only.
    Annotate {
        note: String,
    },
    /// Year-end compliance: units leave the enterprise for the surrender account.
    Surrender {
        instrument: String,
        enterprise: String,
        amount: Quantity,
        compliance_year: i32,
    },
    /// Cancels or retires units for good.
    Cancel {
        instrument: String,
        from: Party,
        amount: Quantity,
        reason: String,
    },
    /// Writes off what is left of an expired instrument: each listed holder's whole balance
    /// goes to the cancellation account, frozen holders included, with `reason` on every
    /// posting. Refused while the instrument is still valid (use `cancel`). Units on hold are
    /// not touched; they come home when the hold ends and a later write-off takes them.
    WriteOff {
        instrument: String,
        holders: Vec<Party>,
        reason: String,
    },
    /// Stops the holder's account from sending: transfers, holds, surrenders, and deliveries out
    /// of holds it placed earlier. `reason` and `reference` (a case or decision number) are
    /// optional and named in every refusal the freeze causes.
    Freeze {
        instrument: String,
        holder: Party,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    Unfreeze {
        instrument: String,
        holder: Party,
    },
    /// The bureau certifies capacity freed by an enterprise's measure: the enterprise's holding is
    /// reduced by the amount and the reserve credited with it.
    CertifyReduction {
        reduction: String,
        enterprise: String,
        instrument: String,
        amount: Quantity,
        measure: Measure,
        evidence: String,
    },
}

/// Every action's [`Action::name`], in declaration order.
pub const ACTION_NAMES: &[&str] = &[
    "define_pollutant",
    "define_region",
    "define_instrument",
    "register_enterprise",
    "update_enterprise",
    "issue",
    "allocate",
    "transfer",
    "deposit",
    "withdraw",
    "place_hold",
    "post_hold",
    "void_hold",
    "release_hold_code",
    "expire_holds",
    "annotate",
    "surrender",
    "cancel",
    "write_off",
    "freeze",
    "unfreeze",
    "certify_reduction",
];

impl Action {
    /// A short name for messages: "action 3 (transfer)".
    pub fn name(&self) -> &'static str {
        match self {
            Action::DefinePollutant { .. } => "define_pollutant",
            Action::DefineRegion { .. } => "define_region",
            Action::DefineInstrument { .. } => "define_instrument",
            Action::RegisterEnterprise { .. } => "register_enterprise",
            Action::UpdateEnterprise { .. } => "update_enterprise",
            Action::Issue { .. } => "issue",
            Action::Allocate { .. } => "allocate",
            Action::Transfer { .. } => "transfer",
            Action::Deposit { .. } => "deposit",
            Action::Withdraw { .. } => "withdraw",
            Action::PlaceHold { .. } => "place_hold",
            Action::PostHold { .. } => "post_hold",
            Action::VoidHold { .. } => "void_hold",
            Action::ReleaseHoldCode { .. } => "release_hold_code",
            Action::ExpireHolds { .. } => "expire_holds",
            Action::Annotate { .. } => "annotate",
            Action::Surrender { .. } => "surrender",
            Action::Cancel { .. } => "cancel",
            Action::WriteOff { .. } => "write_off",
            Action::Freeze { .. } => "freeze",
            Action::Unfreeze { .. } => "unfreeze",
            Action::CertifyReduction { .. } => "certify_reduction",
        }
    }
}
