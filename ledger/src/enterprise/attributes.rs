//! The small closed vocabularies of an enterprise record: environmental credit grade, zoning-unit
//! type, classification tags, and the rules for free-form tags. Each parses its English
//! snake_case name or its Chinese name.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::EnterpriseError;

/// Longest free-form tag, in characters.
pub const FREE_TAG_CHARS_MAX: usize = 64;

/// Environmental credit rating (环境信用评价) grade under 渝环规〔2021〕7号.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditGrade {
    /// 诚信 (score ≥ 100, red list).
    Exemplary,
    /// 良好 (80-99).
    Good,
    /// 警示 (60-79).
    Warning,
    /// 不良 (< 60, black list).
    Poor,
}

impl CreditGrade {
    const ALLOWED: &'static str = "exemplary/诚信, good/良好, warning/警示, poor/不良";

    pub fn parse(text: &str) -> Result<CreditGrade, EnterpriseError> {
        match text {
            "exemplary" | "诚信" => Ok(CreditGrade::Exemplary),
            "good" | "良好" => Ok(CreditGrade::Good),
            "warning" | "警示" => Ok(CreditGrade::Warning),
            "poor" | "不良" => Ok(CreditGrade::Poor),
            _ => Err(unknown(text, Self::ALLOWED)),
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            CreditGrade::Exemplary => "诚信",
            CreditGrade::Good => "良好",
            CreditGrade::Warning => "警示",
            CreditGrade::Poor => "不良",
        }
    }
}

/// Type of the 三线一单 environmental control unit (环境管控单元) the enterprise lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoningType {
    /// 优先保护单元.
    PriorityProtection,
    /// 重点管控单元.
    KeyControl,
    /// 一般管控单元.
    General,
}

impl ZoningType {
    const ALLOWED: &'static str =
        "priority_protection/优先保护, key_control/重点管控, general/一般管控";

    pub fn parse(text: &str) -> Result<ZoningType, EnterpriseError> {
        match text {
            "priority_protection" | "优先保护" => Ok(ZoningType::PriorityProtection),
            "key_control" | "重点管控" => Ok(ZoningType::KeyControl),
            "general" | "一般管控" => Ok(ZoningType::General),
            _ => Err(unknown(text, Self::ALLOWED)),
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            ZoningType::PriorityProtection => "优先保护",
            ZoningType::KeyControl => "重点管控",
            ZoningType::General => "一般管控",
        }
    }
}

/// The classifications that drive reserve priority: high-tech manufacturing, strategic emerging
/// industry, high energy/high emission (两高).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassificationTag {
    HighTechManufacturing,
    StrategicEmerging,
    HighEnergyHighEmission,
}

impl ClassificationTag {
    pub const ALL: [ClassificationTag; 3] = [
        ClassificationTag::HighTechManufacturing,
        ClassificationTag::StrategicEmerging,
        ClassificationTag::HighEnergyHighEmission,
    ];
    const ALLOWED: &'static str = "high_tech_manufacturing/高技术制造业, strategic_emerging/战略性新兴产业, high_energy_high_emission/两高";

    pub fn parse(text: &str) -> Result<ClassificationTag, EnterpriseError> {
        ClassificationTag::ALL
            .into_iter()
            .find(|tag| text == tag.name() || text == tag.name_zh())
            .ok_or_else(|| unknown(text, Self::ALLOWED))
    }

    /// The snake_case name used in data files and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ClassificationTag::HighTechManufacturing => "high_tech_manufacturing",
            ClassificationTag::StrategicEmerging => "strategic_emerging",
            ClassificationTag::HighEnergyHighEmission => "high_energy_high_emission",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            ClassificationTag::HighTechManufacturing => "高技术制造业",
            ClassificationTag::StrategicEmerging => "战略性新兴产业",
            ClassificationTag::HighEnergyHighEmission => "两高",
        }
    }
}

impl fmt::Display for ClassificationTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A free-form label the bureau attaches (e.g. "化工园区内", "重点排污单位"): 1-64 characters, no
/// surrounding spaces, no control characters, and not a classification tag's name, so that a
/// classification can never hide among free labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FreeTag(String);

impl FreeTag {
    pub fn parse(text: &str) -> Result<FreeTag, EnterpriseError> {
        check_text(text, FREE_TAG_CHARS_MAX)?;
        if ClassificationTag::parse(text).is_ok() {
            return Err(EnterpriseError::ReservedTag {
                found: text.to_owned(),
            });
        }
        Ok(FreeTag(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FreeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for FreeTag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FreeTag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        FreeTag::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Non-empty, trimmed, at most `chars_max` characters, no control characters.
pub(crate) fn check_text(text: &str, chars_max: usize) -> Result<(), EnterpriseError> {
    if text.trim().is_empty() {
        return Err(EnterpriseError::Missing);
    }
    if text.trim() != text {
        return Err(EnterpriseError::UnknownValue {
            found: text.to_owned(),
            allowed: "text without leading or trailing spaces",
        });
    }
    let count = text.chars().count();
    if count > chars_max {
        return Err(EnterpriseError::TooLong {
            found: count,
            max: chars_max,
        });
    }
    if let Some(index) = text.chars().position(char::is_control) {
        return Err(EnterpriseError::ControlCharacter {
            position: index + 1,
        });
    }
    Ok(())
}

fn unknown(text: &str, allowed: &'static str) -> EnterpriseError {
    EnterpriseError::UnknownValue {
        found: text.to_owned(),
        allowed,
    }
}
