//! Classification lists as versioned data: the TOML files under `ledger/data/classifications/`,
//! embedded at build time and parsed and checked at load. Nothing about which industry is
//! high-tech, strategic-emerging or 两高, or which districts exist, lives in code.
//!
//! Each file carries `version` (bumped whenever its rows change), `effective_from`, `source` and
//! `confirmed`; every [`DerivedTag`] records the version that produced it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::attributes::ClassificationTag;
use super::codes::{DistrictCode, IndustryCode, Section};
use super::error::EnterpriseError;

const HIGH_TECH_MANUFACTURING: &str = include_str!("../../data/classifications/htm-2017.toml");
const STRATEGIC_EMERGING: &str = include_str!("../../data/classifications/sei-2018.toml");
const HIGH_ENERGY_HIGH_EMISSION: &str = include_str!("../../data/classifications/two-high.toml");
const DISTRICTS: &str = include_str!("../../data/classifications/districts-chongqing.toml");

/// The text of each list file, for loading lists other than the embedded ones.
#[derive(Debug, Clone, Copy)]
pub struct ListTexts<'a> {
    pub high_tech_manufacturing: &'a str,
    pub strategic_emerging: &'a str,
    pub high_energy_high_emission: &'a str,
    pub districts: &'a str,
}

/// All lists an enterprise is validated and tagged against.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationLists {
    /// In the order of [`ClassificationTag::ALL`].
    lists: [ClassificationList; 3],
    districts: DistrictList,
}

impl ClassificationLists {
    /// The lists shipped in `ledger/data/classifications/`.
    pub fn embedded() -> Result<ClassificationLists, EnterpriseError> {
        ClassificationLists::from_texts(ListTexts {
            high_tech_manufacturing: HIGH_TECH_MANUFACTURING,
            strategic_emerging: STRATEGIC_EMERGING,
            high_energy_high_emission: HIGH_ENERGY_HIGH_EMISSION,
            districts: DISTRICTS,
        })
    }

    pub fn from_texts(texts: ListTexts<'_>) -> Result<ClassificationLists, EnterpriseError> {
        Ok(ClassificationLists {
            lists: [
                ClassificationList::parse(
                    "htm-2017.toml",
                    texts.high_tech_manufacturing,
                    ClassificationTag::HighTechManufacturing,
                )?,
                ClassificationList::parse(
                    "sei-2018.toml",
                    texts.strategic_emerging,
                    ClassificationTag::StrategicEmerging,
                )?,
                ClassificationList::parse(
                    "two-high.toml",
                    texts.high_energy_high_emission,
                    ClassificationTag::HighEnergyHighEmission,
                )?,
            ],
            districts: DistrictList::parse("districts-chongqing.toml", texts.districts)?,
        })
    }

    pub fn list(&self, tag: ClassificationTag) -> &ClassificationList {
        match tag {
            ClassificationTag::HighTechManufacturing => &self.lists[0],
            ClassificationTag::StrategicEmerging => &self.lists[1],
            ClassificationTag::HighEnergyHighEmission => &self.lists[2],
        }
    }

    pub fn districts(&self) -> &DistrictList {
        &self.districts
    }

    /// Every (list, group, code) match, in list, group and input order, once each. A code matched
    /// by both a whole and a partial prefix of one group counts as whole.
    pub fn derive_tags(&self, codes: &[IndustryCode]) -> Vec<DerivedTag> {
        let mut tags = Vec::new();
        let mut seen = BTreeSet::new();
        for list in &self.lists {
            for group in &list.groups {
                for &code in codes {
                    let Some(partial) = group.matches(code) else {
                        continue;
                    };
                    if seen.insert((list.tag, group.id.as_str(), code)) {
                        tags.push(DerivedTag {
                            tag: list.tag,
                            list_version: list.version.clone(),
                            group: group.id.clone(),
                            evidence_code: code,
                            partial,
                        });
                    }
                }
            }
        }
        tags
    }
}

/// A classification an industry code implies, with the list version, group and code behind it.
/// `partial` means only some products of the class belong: product evidence is needed before the
/// tag counts (see [`super::Enterprise::has_classification`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedTag {
    pub tag: ClassificationTag,
    pub list_version: String,
    pub group: String,
    pub evidence_code: IndustryCode,
    pub partial: bool,
}

/// One classification list (HTM, SEI or 两高) as loaded from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationList {
    pub tag: ClassificationTag,
    pub version: String,
    pub title: String,
    pub effective_from: NaiveDate,
    pub source: String,
    /// False while the rows have not been checked against the official source.
    pub confirmed: bool,
    pub groups: Vec<ClassGroup>,
}

/// A group (HTM group, SEI area, 两高 view or segment) and the GB/T 4754-2017 prefixes in it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassGroup {
    pub id: String,
    pub name: String,
    /// Prefixes whose whole activity belongs.
    pub codes: Vec<IndustryPrefix>,
    /// Prefixes of which only some products belong (marked "*" in the NBS tables).
    pub partial_codes: Vec<IndustryPrefix>,
    pub confirmed: bool,
}

impl ClassGroup {
    /// `Some(partial)` if the code is in the group.
    fn matches(&self, code: IndustryCode) -> Option<bool> {
        if self.codes.iter().any(|p| p.matches(code)) {
            Some(false)
        } else if self.partial_codes.iter().any(|p| p.matches(code)) {
            Some(true)
        } else {
            None
        }
    }
}

/// A GB/T 4754-2017 division (2 digits), group (3) or class (4).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndustryPrefix(String);

impl IndustryPrefix {
    pub fn parse(text: &str) -> Result<IndustryPrefix, String> {
        if !(2..=4).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("industry prefix {text:?} must be 2 to 4 digits"));
        }
        let division: u16 = text[..2].parse().unwrap_or(0);
        if Section::of_division(division).is_none() {
            return Err(format!(
                "industry prefix {text:?} has division {division:02}, outside 01-97"
            ));
        }
        Ok(IndustryPrefix(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, code: IndustryCode) -> bool {
        code.starts_with(&self.0)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    list: String,
    version: String,
    title: String,
    effective_from: toml::value::Datetime,
    source: String,
    confirmed: bool,
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    id: String,
    name: String,
    #[serde(default)]
    codes: Vec<String>,
    #[serde(default)]
    partial_codes: Vec<String>,
    confirmed: bool,
}

impl ClassificationList {
    fn parse(
        file: &str,
        text: &str,
        tag: ClassificationTag,
    ) -> Result<ClassificationList, EnterpriseError> {
        let fail = |reason: String| EnterpriseError::List {
            file: file.to_owned(),
            reason,
        };
        let raw: RawList = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        if raw.list != tag.name() {
            return Err(fail(format!(
                "declares list {:?}, expected {:?}",
                raw.list,
                tag.name()
            )));
        }
        check_header(&raw.version, &raw.title, &raw.source).map_err(fail)?;
        if raw.groups.is_empty() {
            return Err(fail("has no groups".to_owned()));
        }
        let mut ids = BTreeSet::new();
        let mut groups = Vec::with_capacity(raw.groups.len());
        for group in raw.groups {
            if !ids.insert(group.id.clone()) {
                return Err(fail(format!("group {:?} appears twice", group.id)));
            }
            groups.push(parse_group(group).map_err(&fail)?);
        }
        Ok(ClassificationList {
            tag,
            version: raw.version,
            title: raw.title,
            effective_from: date(raw.effective_from).map_err(fail)?,
            source: raw.source,
            confirmed: raw.confirmed,
            groups,
        })
    }
}

fn parse_group(raw: RawGroup) -> Result<ClassGroup, String> {
    let context = |e: String| format!("group {:?}: {e}", raw.id);
    if raw.id.trim().is_empty() || raw.name.trim().is_empty() {
        return Err(context("id and name must not be empty".to_owned()));
    }
    if raw.codes.is_empty() && raw.partial_codes.is_empty() {
        return Err(context("lists no codes".to_owned()));
    }
    let mut seen = BTreeSet::new();
    for code in raw.codes.iter().chain(&raw.partial_codes) {
        if !seen.insert(code) {
            return Err(context(format!("code {code:?} appears twice")));
        }
    }
    let prefixes = |codes: &[String]| {
        codes
            .iter()
            .map(|c| IndustryPrefix::parse(c))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(ClassGroup {
        codes: prefixes(&raw.codes).map_err(context)?,
        partial_codes: prefixes(&raw.partial_codes).map_err(context)?,
        id: raw.id,
        name: raw.name,
        confirmed: raw.confirmed,
    })
}

fn check_header(version: &str, title: &str, source: &str) -> Result<(), String> {
    for (field, value) in [("version", version), ("title", title), ("source", source)] {
        if value.trim().is_empty() {
            return Err(format!("{field} must not be empty"));
        }
    }
    Ok(())
}

fn date(value: toml::value::Datetime) -> Result<NaiveDate, String> {
    match (value.date, value.time, value.offset) {
        (Some(d), None, None) => {
            NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                .ok_or_else(|| format!("effective_from {value} is not a calendar date"))
        }
        _ => Err(format!(
            "effective_from {value} must be a plain date (YYYY-MM-DD)"
        )),
    }
}

/// County-level division: 区, 县 or 自治县.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistrictKind {
    District,
    County,
    AutonomousCounty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct District {
    pub code: DistrictCode,
    pub name: String,
    pub kind: DistrictKind,
}

/// A code that no longer exists and the code that took over its area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredDistrict {
    pub code: DistrictCode,
    pub name: String,
    pub replaced_by: DistrictCode,
}

/// The county-level districts an enterprise may be registered in.
#[derive(Debug, Clone, PartialEq)]
pub struct DistrictList {
    pub version: String,
    pub title: String,
    pub effective_from: NaiveDate,
    pub source: String,
    pub confirmed: bool,
    districts: BTreeMap<DistrictCode, District>,
    retired: BTreeMap<DistrictCode, RetiredDistrict>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDistricts {
    list: String,
    version: String,
    title: String,
    effective_from: toml::value::Datetime,
    source: String,
    confirmed: bool,
    districts: Vec<RawDistrict>,
    #[serde(default)]
    retired: Vec<RawRetired>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDistrict {
    code: String,
    name: String,
    kind: DistrictKind,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetired {
    code: String,
    name: String,
    replaced_by: String,
}

impl DistrictList {
    fn parse(file: &str, text: &str) -> Result<DistrictList, EnterpriseError> {
        let fail = |reason: String| EnterpriseError::List {
            file: file.to_owned(),
            reason,
        };
        let raw: RawDistricts = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        if raw.list != "districts" {
            return Err(fail(format!(
                "declares list {:?}, expected \"districts\"",
                raw.list
            )));
        }
        check_header(&raw.version, &raw.title, &raw.source).map_err(fail)?;
        let code = |text: &str| DistrictCode::parse(text).map_err(|e| fail(e.to_string()));
        let mut districts = BTreeMap::new();
        for row in raw.districts {
            let district = District {
                code: code(&row.code)?,
                name: row.name,
                kind: row.kind,
            };
            if district.name.trim().is_empty() {
                return Err(fail(format!("district {} has no name", district.code)));
            }
            if districts.insert(district.code, district.clone()).is_some() {
                return Err(fail(format!("district {} appears twice", district.code)));
            }
        }
        if districts.is_empty() {
            return Err(fail("lists no districts".to_owned()));
        }
        let mut retired = BTreeMap::new();
        for row in raw.retired {
            let entry = RetiredDistrict {
                code: code(&row.code)?,
                name: row.name,
                replaced_by: code(&row.replaced_by)?,
            };
            if districts.contains_key(&entry.code) || !districts.contains_key(&entry.replaced_by) {
                return Err(fail(format!(
                    "retired district {} must not be current and must be replaced by a current one",
                    entry.code
                )));
            }
            if retired.insert(entry.code, entry.clone()).is_some() {
                return Err(fail(format!(
                    "retired district {} appears twice",
                    entry.code
                )));
            }
        }
        Ok(DistrictList {
            version: raw.version,
            title: raw.title,
            effective_from: date(raw.effective_from).map_err(fail)?,
            source: raw.source,
            confirmed: raw.confirmed,
            districts,
            retired,
        })
    }

    pub fn get(&self, code: DistrictCode) -> Option<&District> {
        self.districts.get(&code)
    }

    /// The district, or why it is not acceptable (unknown, or retired with its successor).
    pub fn check(&self, code: DistrictCode) -> Result<&District, EnterpriseError> {
        if let Some(district) = self.districts.get(&code) {
            return Ok(district);
        }
        Err(match self.retired.get(&code) {
            Some(old) => EnterpriseError::RetiredDistrict {
                code,
                name: old.name.clone(),
                replaced_by: old.replaced_by,
                list_version: self.version.clone(),
            },
            None => EnterpriseError::UnknownDistrict {
                code,
                list_version: self.version.clone(),
            },
        })
    }

    /// Current districts in code order.
    pub fn iter(&self) -> impl Iterator<Item = &District> {
        self.districts.values()
    }

    pub fn retired(&self) -> impl Iterator<Item = &RetiredDistrict> {
        self.retired.values()
    }
}
