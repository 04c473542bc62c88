//! The one error type of the enterprise register: a variant per broken rule, carrying the offending
//! values, and [`FieldError`] to name the input field a problem was found in.

use std::fmt;

use super::codes::DistrictCode;

/// Everything that can be wrong with an enterprise, one of its codes, or a classification list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnterpriseError {
    #[error("credit code must have 18 characters, found {found}")]
    CreditCodeLength { found: usize },
    #[error("expected {expected} characters to compute a check character, found {found}")]
    CheckBodyLength { expected: usize, found: usize },
    #[error("credit code has {found:?} at position {position}: {expected}")]
    CreditCodeCharacter {
        position: usize,
        found: char,
        expected: &'static str,
    },
    #[error(
        "credit code starts with {found:?}, which is not a registration authority code (known: 1-9, A, N, Y)"
    )]
    CreditCodeAuthority { found: char },
    #[error(
        "credit code has entity type {found:?} at position 2, which registration authority {authority:?} ({authority_name}) does not use (allowed: {allowed})"
    )]
    CreditCodeEntityType {
        authority: char,
        authority_name: &'static str,
        found: char,
        allowed: String,
    },
    #[error(
        "credit code positions 3-8 {found:?} are not a GB/T 2260 division code: province {province:?} does not exist"
    )]
    CreditCodeDivision { found: String, province: String },
    #[error(
        "credit code check character (position 18) is wrong: expected {expected:?}, found {found:?}"
    )]
    CreditCodeCheck { expected: char, found: char },
    #[error(
        "credit code organisation-code check character (position 17, GB 11714) is wrong: expected {expected:?}, found {found:?}"
    )]
    OrganisationCodeCheck { expected: char, found: char },
    #[error("district code {found:?} {reason}")]
    DistrictCode { found: String, reason: &'static str },
    #[error("district {code} is not in district list {list_version}")]
    UnknownDistrict {
        code: DistrictCode,
        list_version: String,
    },
    #[error("district {code} ({name}) no longer exists in list {list_version}: use {replaced_by}")]
    RetiredDistrict {
        code: DistrictCode,
        name: String,
        replaced_by: DistrictCode,
        list_version: String,
    },
    #[error("industry code {found:?} {reason}")]
    IndustryCode { found: String, reason: String },
    #[error("permit number {found:?} {reason}")]
    PermitNumber { found: String, reason: String },
    #[error("permit number {permit} was issued to credit code {permit_holder}, not {credit_code}")]
    PermitHolder {
        permit: String,
        permit_holder: String,
        credit_code: String,
    },
    #[error("is required")]
    Missing,
    #[error("is empty: omit the field when there is no value")]
    Empty,
    #[error("has {found} characters, at most {max} are allowed")]
    TooLong { found: usize, max: usize },
    #[error("contains a control character at character {position}")]
    ControlCharacter { position: usize },
    #[error("has {found} entries, at most {max} are allowed")]
    TooMany { found: usize, max: usize },
    #[error("{value:?} appears more than once")]
    Duplicate { value: String },
    #[error("{found:?} is not one of: {allowed}")]
    UnknownValue {
        found: String,
        allowed: &'static str,
    },
    #[error("{found:?} names a classification tag: put it in declared_tags")]
    ReservedTag { found: String },
    #[error("{found} is not a distance: {reason}")]
    Distance { found: String, reason: String },
    /// Every problem found in an [`super::EnterpriseInput`], in field order.
    #[error("{}", join(.0))]
    Invalid(Vec<FieldError>),
    #[error("classification list {file}: {reason}")]
    List { file: String, reason: String },
}

/// One problem with one input field. `field` is the input's field name, with an index for list
/// entries (`industry_codes[1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: EnterpriseError,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn join(problems: &[FieldError]) -> String {
    let parts: Vec<String> = problems.iter().map(FieldError::to_string).collect();
    parts.join("; ")
}
