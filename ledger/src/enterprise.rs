//! The enterprise register's domain types and their validation.
//!
//! An [`Enterprise`] is built only from an [`EnterpriseInput`] (raw text, as a client sends it) by
//! [`EnterpriseInput::validate`], which checks every field against its rule and against the loaded
//! [`ClassificationLists`], and reports every problem at once in [`EnterpriseError::Invalid`].
//! Each field of an `Enterprise` has a type that enforces its own rule ([`CreditCode`] per
//! GB 32100-2015, [`DistrictCode`] per GB/T 2260, [`IndustryCode`] per GB/T 4754-2017,
//! [`PermitNumber`] per HJ 608-2017), so a record read back from storage is re-checked as it is
//! deserialized.
//!
//! Which industries are high-tech, strategic-emerging or 两高, and which districts exist, is data
//! (`ledger/data/classifications/*.toml`, versioned), not code; classification tags derived from
//! industry codes carry the list version and the code that produced them.
//!
//! Deliberately left out: accounts and holdings (the rest of this crate), eligibility rules and
//! priority tiers (the optimizer's policy), and facilities, product lists and credit scores, which
//! later work may add.

mod attributes;
mod codes;
mod credit_code;
mod error;
mod lists;
mod permit;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use attributes::{ClassificationTag, CreditGrade, FREE_TAG_CHARS_MAX, FreeTag, ZoningType};
pub use codes::{DistrictCode, IndustryCode, SECTOR_TAGS, Section};
pub use credit_code::{CreditCode, Registration};
pub use error::{EnterpriseError, FieldError};
pub use lists::{
    ClassGroup, ClassificationList, ClassificationLists, DerivedTag, District, DistrictKind,
    DistrictList, IndustryPrefix, ListTexts, RetiredDistrict,
};
pub use permit::PermitNumber;

/// Longest enterprise name, in characters.
pub const NAME_CHARS_MAX: usize = 200;
/// Most industry codes per enterprise.
pub const INDUSTRY_CODES_MAX: usize = 32;
/// Most free-form tags per enterprise.
pub const FREE_TAGS_MAX: usize = 32;
/// Largest distance to the Yangtze or a main tributary: 1 000 km, far beyond any point of
/// Chongqing, so a larger value is a unit mistake (millimetres, centimetres).
pub const DISTANCE_TO_RIVER_M_MAX: u32 = 1_000_000;

/// A validated entry of the enterprise register. Fields are public to read; outside this crate an
/// `Enterprise` can only come from [`EnterpriseInput::validate`] or deserialization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Enterprise {
    pub credit_code: CreditCode,
    pub name: String,
    /// Where the enterprise operates (not the registering authority's division in the code).
    pub district: DistrictCode,
    /// GB/T 4754-2017 classes, principal activity first, no duplicates, at least one.
    pub industry_codes: Vec<IndustryCode>,
    pub tags: EnterpriseTags,
    /// `None` when the enterprise has not been rated (most are not).
    pub credit_grade: Option<CreditGrade>,
    pub zoning: ZoningType,
    /// Distance in metres to the Yangtze or its nearest main tributary (Jialing, Wu, ...).
    pub distance_to_river_m: u32,
    /// `None` before the permit is issued: rights may be acquired before the EIA and permit.
    pub permit_number: Option<PermitNumber>,
}

/// Classification and free-form tags.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseTags {
    /// Classifications the bureau asserts, e.g. after checking product evidence for a class the
    /// lists mark partial.
    pub declared: Vec<ClassificationTag>,
    /// Classifications implied by the industry codes under the loaded lists.
    pub derived: Vec<DerivedTag>,
    pub free: Vec<FreeTag>,
}

impl Enterprise {
    /// True if the bureau declared `tag`, or a whole (not partial) class of the enterprise implies
    /// it. A partial derivation alone does not count: it needs product evidence first.
    pub fn has_classification(&self, tag: ClassificationTag) -> bool {
        self.tags.declared.contains(&tag)
            || self.tags.derived.iter().any(|d| d.tag == tag && !d.partial)
    }
}

/// An enterprise as submitted: raw text, every field optional at the parsing level so that
/// [`EnterpriseInput::validate`] can report all missing and malformed fields together. Surrounding
/// whitespace of every text is ignored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnterpriseInput {
    pub credit_code: String,
    pub name: String,
    /// GB/T 2260 code, e.g. "500103".
    pub district: String,
    /// GB/T 4754-2017 four-digit classes, principal activity first.
    pub industry_codes: Vec<String>,
    /// Classification tags the bureau asserts: "high_tech_manufacturing", "strategic_emerging",
    /// "high_energy_high_emission" or their Chinese names.
    pub declared_tags: Vec<String>,
    pub free_tags: Vec<String>,
    /// "exemplary"/"诚信", "good"/"良好", "warning"/"警示", "poor"/"不良"; absent if unrated.
    pub credit_grade: Option<String>,
    /// "priority_protection"/"优先保护", "key_control"/"重点管控", "general"/"一般管控".
    pub zoning: String,
    /// Whole metres: a non-negative JSON integer, or a string of digits.
    pub distance_to_river_m: serde_json::Value,
    /// 22 characters (HJ 608-2017); absent if no permit has been issued yet.
    pub permit_number: Option<String>,
}

/// Problems found so far, in field order.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn check<T>(&mut self, field: &str, result: Result<T, EnterpriseError>) -> Option<T> {
        result
            .map_err(|reason| {
                self.0.push(FieldError {
                    field: field.to_owned(),
                    reason,
                })
            })
            .ok()
    }
}

impl EnterpriseInput {
    /// Checks every field and returns the enterprise, or one [`EnterpriseError::Invalid`] listing
    /// every problem with its field.
    pub fn validate(self, lists: &ClassificationLists) -> Result<Enterprise, EnterpriseError> {
        let mut problems = Problems::default();
        let credit_code = problems.check(
            "credit_code",
            required(&self.credit_code).and_then(CreditCode::parse),
        );
        let name = problems.check("name", check_name(&self.name));
        let district = problems.check("district", check_district(&self.district, lists));
        let industry_codes = check_industry_codes(&self.industry_codes, &mut problems);
        let declared = check_declared_tags(&self.declared_tags, &mut problems);
        let free = check_free_tags(&self.free_tags, &mut problems);
        let credit_grade = problems.check(
            "credit_grade",
            self.credit_grade
                .as_deref()
                .map(|text| not_empty(text).and_then(CreditGrade::parse))
                .transpose(),
        );
        let zoning = problems.check("zoning", required(&self.zoning).and_then(ZoningType::parse));
        let distance_to_river_m = problems.check(
            "distance_to_river_m",
            check_distance(&self.distance_to_river_m),
        );
        let permit_number = problems.check(
            "permit_number",
            self.permit_number
                .as_deref()
                .map(|text| not_empty(text).and_then(PermitNumber::parse))
                .transpose(),
        );
        if let (Some(code), Some(Some(permit))) = (&credit_code, &permit_number) {
            problems.check("permit_number", check_permit_holder(code, permit));
        }
        let (
            Some(credit_code),
            Some(name),
            Some(district),
            Some(industry_codes),
            Some(declared),
            Some(free),
            Some(credit_grade),
            Some(zoning),
            Some(distance_to_river_m),
            Some(permit_number),
        ) = (
            credit_code,
            name,
            district,
            industry_codes,
            declared,
            free,
            credit_grade,
            zoning,
            distance_to_river_m,
            permit_number,
        )
        else {
            return Err(EnterpriseError::Invalid(problems.0));
        };
        if !problems.0.is_empty() {
            return Err(EnterpriseError::Invalid(problems.0));
        }
        let derived = lists.derive_tags(&industry_codes);
        Ok(Enterprise {
            credit_code,
            name,
            district,
            industry_codes,
            tags: EnterpriseTags {
                declared,
                derived,
                free,
            },
            credit_grade,
            zoning,
            distance_to_river_m,
            permit_number,
        })
    }
}

/// The trimmed text, or `Missing` if nothing is left.
fn required(text: &str) -> Result<&str, EnterpriseError> {
    match text.trim() {
        "" => Err(EnterpriseError::Missing),
        trimmed => Ok(trimmed),
    }
}

/// For optional fields: given but blank is a mistake of its own, not "missing".
fn not_empty(text: &str) -> Result<&str, EnterpriseError> {
    required(text).map_err(|_| EnterpriseError::Empty)
}

fn check_name(text: &str) -> Result<String, EnterpriseError> {
    let name = required(text)?;
    attributes::check_text(name, NAME_CHARS_MAX)?;
    Ok(name.to_owned())
}

fn check_district(
    text: &str,
    lists: &ClassificationLists,
) -> Result<DistrictCode, EnterpriseError> {
    let code = DistrictCode::parse(required(text)?)?;
    lists.districts().check(code)?;
    Ok(code)
}

fn check_industry_codes(texts: &[String], problems: &mut Problems) -> Option<Vec<IndustryCode>> {
    let field = "industry_codes";
    if texts.is_empty() {
        return problems.check(field, Err(EnterpriseError::Missing));
    }
    if texts.len() > INDUSTRY_CODES_MAX {
        return problems.check(
            field,
            Err(EnterpriseError::TooMany {
                found: texts.len(),
                max: INDUSTRY_CODES_MAX,
            }),
        );
    }
    let parsed = each(texts, field, problems, |text| {
        IndustryCode::parse(required(text)?)
    })?;
    problems.check(field, no_duplicates(&parsed))?;
    Some(parsed)
}

fn check_declared_tags(
    texts: &[String],
    problems: &mut Problems,
) -> Option<Vec<ClassificationTag>> {
    let field = "declared_tags";
    let parsed = each(texts, field, problems, |text| {
        ClassificationTag::parse(required(text)?)
    })?;
    problems.check(field, no_duplicates(&parsed))?;
    Some(parsed)
}

fn check_free_tags(texts: &[String], problems: &mut Problems) -> Option<Vec<FreeTag>> {
    let field = "free_tags";
    if texts.len() > FREE_TAGS_MAX {
        return problems.check(
            field,
            Err(EnterpriseError::TooMany {
                found: texts.len(),
                max: FREE_TAGS_MAX,
            }),
        );
    }
    let parsed = each(texts, field, problems, |text| {
        FreeTag::parse(required(text)?)
    })?;
    problems.check(field, no_duplicates(&parsed))?;
    Some(parsed)
}

/// Parses every entry, recording a problem per bad entry as `field[index]`.
fn each<T>(
    texts: &[String],
    field: &str,
    problems: &mut Problems,
    parse: impl Fn(&str) -> Result<T, EnterpriseError>,
) -> Option<Vec<T>> {
    let before = problems.0.len();
    let parsed: Vec<Option<T>> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| problems.check(&format!("{field}[{index}]"), parse(text)))
        .collect();
    if problems.0.len() > before {
        return None;
    }
    parsed.into_iter().collect()
}

fn no_duplicates<T: Ord + ToString>(values: &[T]) -> Result<(), EnterpriseError> {
    let mut seen = BTreeSet::new();
    match values.iter().find(|value| !seen.insert(*value)) {
        Some(value) => Err(EnterpriseError::Duplicate {
            value: value.to_string(),
        }),
        None => Ok(()),
    }
}

fn check_distance(raw: &serde_json::Value) -> Result<u32, EnterpriseError> {
    use serde_json::Value;
    let fail = |reason: &str| EnterpriseError::Distance {
        found: raw.to_string(),
        reason: reason.to_owned(),
    };
    let metres: u64 = match raw {
        Value::Null => return Err(EnterpriseError::Missing),
        Value::Number(number) => match (number.as_u64(), number.as_f64()) {
            (Some(whole), _) => whole,
            (None, Some(value)) if value < 0.0 => return Err(fail("must not be negative")),
            (None, Some(value)) if value.fract() == 0.0 && value <= f64::from(u32::MAX) => {
                // Exact: an integral f64 within u32 range.
                value as u64
            }
            _ => return Err(fail("must be a whole number of metres")),
        },
        Value::String(text) => match text.trim() {
            "" => return Err(EnterpriseError::Missing),
            digits if digits.bytes().all(|b| b.is_ascii_digit()) => digits
                .parse()
                .map_err(|_| fail("is too large for a distance in metres"))?,
            _ => return Err(fail("must be a whole number of metres, digits only")),
        },
        _ => return Err(fail("must be a whole number of metres")),
    };
    match u32::try_from(metres) {
        Ok(metres) if metres <= DISTANCE_TO_RIVER_M_MAX => Ok(metres),
        _ => Err(fail(&format!(
            "is beyond {DISTANCE_TO_RIVER_M_MAX} m (1 000 km): is the unit metres?"
        ))),
    }
}

fn check_permit_holder(code: &CreditCode, permit: &PermitNumber) -> Result<(), EnterpriseError> {
    if permit.holder() == code.as_str() {
        Ok(())
    } else {
        Err(EnterpriseError::PermitHolder {
            permit: permit.to_string(),
            permit_holder: permit.holder().to_owned(),
            credit_code: code.to_string(),
        })
    }
}
