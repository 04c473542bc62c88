//! The JSON shapes of the API: request bodies and answers, with their OpenAPI schemas. Only this
//! crate knows them; each converts from or to a ledger type, so the ledger can change without
//! changing the API. Amounts travel as decimal strings (`"12.345"`), never as JSON numbers,
//! which readers would turn into floats.

use std::collections::BTreeMap;

use ledger::{Measure, Purpose};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::keys::Role;

/// A generic atomic batch: every action succeeds or none does, recorded as one journal entry.
/// Each action is an object tagged by `type`, as the ledger documents them (`transfer`,
/// `place_hold`, `surrender`, `issue`, `define_instrument`, …). `annotate` (`{"type":
/// "annotate", "note": "…"}`, 1 to 1024 characters) records a note and changes nothing; like
/// every action but transfer, place_hold and surrender it needs a bureau key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    #[serde(default)]
    pub memo: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<serde_json::Value>,
}

/// Why units move: kept on every posting so each right stays traceable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurposeBody {
    #[default]
    Transfer,
    Trade,
    Auction,
    Allocation,
}

impl From<PurposeBody> for Purpose {
    fn from(value: PurposeBody) -> Self {
        match value {
            PurposeBody::Transfer => Purpose::Transfer,
            PurposeBody::Trade => Purpose::Trade,
            PurposeBody::Auction => Purpose::Auction,
            PurposeBody::Allocation => Purpose::Allocation,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    pub instrument: String,
    /// A credit code, or `reserve` (bureau only).
    pub from: String,
    /// A credit code, or `reserve`.
    pub to: String,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String, example = "12.5")]
    pub amount: Decimal,
    #[serde(default)]
    pub purpose: PurposeBody,
    #[serde(default)]
    pub memo: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurrenderBody {
    pub instrument: String,
    pub enterprise: String,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String, example = "100")]
    pub amount: Decimal,
    pub compliance_year: i32,
    #[serde(default)]
    pub memo: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuanceBody {
    pub instrument: String,
    /// A credit code, or `reserve`.
    pub to: String,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String, example = "1000")]
    pub amount: Decimal,
    #[serde(default)]
    pub memo: Option<String>,
}

/// How a certified reduction freed its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeasureBody {
    Upgrade,
    Treatment,
    EnergySaving,
    CleanerProduction,
    Closure,
    CapacityCut,
    GovernmentFunded,
    IdleReclaim,
}

impl From<MeasureBody> for Measure {
    fn from(value: MeasureBody) -> Self {
        match value {
            MeasureBody::Upgrade => Measure::Upgrade,
            MeasureBody::Treatment => Measure::Treatment,
            MeasureBody::EnergySaving => Measure::EnergySaving,
            MeasureBody::CleanerProduction => Measure::CleanerProduction,
            MeasureBody::Closure => Measure::Closure,
            MeasureBody::CapacityCut => Measure::CapacityCut,
            MeasureBody::GovernmentFunded => Measure::GovernmentFunded,
            MeasureBody::IdleReclaim => Measure::IdleReclaim,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReductionBody {
    /// The certificate's id, unique in the register.
    pub reduction: String,
    pub enterprise: String,
    pub instrument: String,
    #[serde(with = "ledger::amount::plain")]
    #[schema(value_type = String, example = "3.5")]
    pub amount: Decimal,
    pub measure: MeasureBody,
    pub evidence: String,
    #[serde(default)]
    pub memo: Option<String>,
}

/// An enterprise as the bureau registers it; every field is checked and all problems reported.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseBody {
    /// The 18-character unified social credit code (GB 32100-2015).
    pub credit_code: String,
    pub name: String,
    /// GB/T 2260 district code, e.g. "500103".
    pub district: String,
    /// GB/T 4754-2017 four-digit classes, principal activity first.
    pub industry_codes: Vec<String>,
    #[serde(default)]
    pub declared_tags: Vec<String>,
    #[serde(default)]
    pub free_tags: Vec<String>,
    #[serde(default)]
    pub credit_grade: Option<String>,
    pub zoning: String,
    /// Whole metres.
    pub distance_to_river_m: u64,
    #[serde(default)]
    pub permit_number: Option<String>,
}

impl From<EnterpriseBody> for ledger::enterprise::EnterpriseInput {
    fn from(body: EnterpriseBody) -> Self {
        ledger::enterprise::EnterpriseInput {
            credit_code: body.credit_code,
            name: body.name,
            district: body.district,
            industry_codes: body.industry_codes,
            declared_tags: body.declared_tags,
            free_tags: body.free_tags,
            credit_grade: body.credit_grade,
            zoning: body.zoning,
            distance_to_river_m: serde_json::Value::from(body.distance_to_river_m),
            permit_number: body.permit_number,
        }
    }
}

/// Freezes (or unfreezes) one holder's account in one instrument.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeBody {
    pub instrument: String,
    /// A credit code, or `reserve`.
    pub holder: String,
    /// `true` to freeze (the default), `false` to lift a freeze.
    #[serde(default = "yes")]
    pub frozen: bool,
    /// Why (shown in every refusal the freeze causes), e.g. `permit suspended pending inspection`.
    #[serde(default)]
    pub reason: Option<String>,
    /// The decision it rests on, e.g. `渝环罚〔2026〕12号`.
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub memo: Option<String>,
}

fn yes() -> bool {
    true
}

/// One double-entry movement of a receipt or journal entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostingBody {
    pub instrument: String,
    pub debit: String,
    pub credit: String,
    /// The amount as a decimal string at the instrument's scale.
    pub amount: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Where an accepted request was recorded. A retry with the same `Idempotency-Key` gets the same
/// receipt with `replayed: true` (and the header `Idempotent-Replayed: true`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptBody {
    pub seq: u64,
    pub recorded_at: String,
    pub hash: String,
    pub postings: Vec<PostingBody>,
    pub replayed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountBody {
    /// `owner/kind/instrument`.
    pub account: String,
    pub owner: String,
    pub kind: String,
    pub instrument: String,
    pub balance: String,
    pub frozen: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountsBody {
    pub accounts: Vec<AccountBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountsQuery {
    /// A credit code, or `bureau`. Enterprise keys may name only their own (the default).
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstrumentBody {
    pub code: String,
    /// `discharge_right`, `carbon_allowance`, `offset_credit` or `cash`.
    pub kind: String,
    pub scale: u32,
    pub unit: String,
    /// Kind-specific fields: pollutant, region, validity, vintage, scheme or currency.
    pub details: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstrumentsBody {
    pub instruments: Vec<InstrumentBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JournalQuery {
    /// Entries after this sequence number (the previous page's `next_after`); 0 for the start.
    #[serde(default)]
    pub after: u64,
    /// Page size, 1 to the server's page limit; 100 by default.
    pub limit: Option<u32>,
}

/// One journal entry as recorded: the request, its postings, and its link in the hash chain.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JournalEntryBody {
    pub seq: u64,
    pub recorded_at: String,
    pub idempotency_key: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<serde_json::Value>,
    pub postings: Vec<PostingBody>,
    pub prev_hash: String,
    pub hash: String,
}

/// A page of the journal. `next_after` is the cursor for the next page when `has_more`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JournalPage {
    pub entries: Vec<JournalEntryBody>,
    pub has_more: bool,
    pub next_after: Option<u64>,
}

/// Totals per instrument with no holder named: what an economist may see.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AggregateBody {
    pub instrument: String,
    /// Everything ever issued.
    pub issued: String,
    /// Held by enterprises, all together.
    pub held_by_enterprises: String,
    /// Enterprises holding a positive balance.
    pub holders: u64,
    pub reserve: String,
    pub escrow: String,
    pub surrendered: String,
    pub cancelled: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AggregatesBody {
    pub head_seq: u64,
    pub instruments: Vec<AggregateBody>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifyBody {
    pub ok: bool,
    pub entries: u64,
    pub postings: u64,
    pub accounts: usize,
    pub holds: usize,
    pub head_seq: u64,
    pub head_hash: String,
    pub problem_count: usize,
    pub problems: Vec<String>,
}

impl From<ledger::VerifyReport> for VerifyBody {
    fn from(report: ledger::VerifyReport) -> Self {
        VerifyBody {
            ok: report.is_ok(),
            entries: report.entries,
            postings: report.postings,
            accounts: report.accounts,
            holds: report.holds,
            head_seq: report.head_seq,
            head_hash: report.head_hash,
            problem_count: report.problem_count,
            problems: report.problems,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthBody {
    pub status: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
}

/// Who the presented key speaks for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WhoAmIBody {
    pub key_id: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise: Option<String>,
    pub label: String,
}
