//! Discharge permit numbers (排污许可证编号).
//!
//! HJ 608-2017 (排污单位编码规则) codes a stationary pollution source as 22 characters: the permit
//! holder's 18-character credit code, a 3-digit serial distinguishing the holder's sources (001,
//! 002, ...), and one capital letter; its own example is 91130200699229617X001P. 'P' is the letter
//! on permits; other letters seen in practice (e.g. for 排污登记) have meanings we have not confirmed,
//! so any capital letter A-Z is accepted and reported by [`PermitNumber::suffix`] as is.
//! The 2016 trial rules let units without a credit code use an "H9…" substitute with a lower-case
//! letter; such numbers are refused here, because an enterprise in this register has a credit code.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::credit_code::CreditCode;
use super::error::EnterpriseError;

/// A permit number whose first 18 characters are a valid credit code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermitNumber(String);

impl PermitNumber {
    pub fn parse(text: &str) -> Result<PermitNumber, EnterpriseError> {
        let error = |reason: String| EnterpriseError::PermitNumber {
            found: text.to_owned(),
            reason,
        };
        let chars: Vec<char> = text.chars().collect();
        if chars.len() != 22 {
            return Err(error(format!(
                "must have 22 characters (18-character credit code, 3-digit serial, 1 letter), found {}",
                chars.len()
            )));
        }
        let code: String = chars[..18].iter().collect();
        CreditCode::parse(&code)
            .map_err(|e| error(format!("does not start with a valid credit code: {e}")))?;
        if !chars[18..21].iter().all(char::is_ascii_digit) {
            return Err(error(
                "must have a 3-digit serial at positions 19-21".to_owned(),
            ));
        }
        if !chars[21].is_ascii_uppercase() {
            return Err(error(format!(
                "must end with a capital letter (e.g. 'P'), found {:?}",
                chars[21]
            )));
        }
        Ok(PermitNumber(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The permit holder's credit code (characters 1-18).
    pub fn holder(&self) -> &str {
        &self.0[..18]
    }

    /// The holder's source serial (characters 19-21).
    pub fn serial(&self) -> u16 {
        self.0[18..21].parse().unwrap_or(0)
    }

    /// The final letter, e.g. 'P'.
    pub fn suffix(&self) -> char {
        self.0[21..].chars().next().unwrap_or('P')
    }
}

impl fmt::Display for PermitNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PermitNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PermitNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PermitNumber::parse(&text).map_err(serde::de::Error::custom)
    }
}
