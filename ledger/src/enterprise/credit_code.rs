//! The unified social credit code (统一社会信用代码) of GB 32100-2015.
//!
//! Layout, 1-based positions as the standard counts them:
//! 1 registration authority, 2 entity type, 3-8 division code of the registering authority
//! (GB/T 2260, digits), 9-17 organisation code (GB 11714: 8 characters and their own check
//! character), 18 check character over positions 1-17.
//!
//! Characters come from a 31-symbol set: digits and capital letters except I, O, S, V, Z. The check
//! character uses weights 3^(i) mod 31; because 31 is prime and every weight is non-zero, any single
//! substituted character changes the weighted sum and is detected.
//!
//! The GB 11714 check of positions 9-17 is enforced: GB 32100 says positions 9-17 are the
//! organisation code, which carries its own check character, and every one of 79 real codes we
//! tested (including post-2015 `MA…` and `L…` bodies) satisfies it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::EnterpriseError;

/// The 31 characters of GB 32100, in value order: '0' is 0, 'A' is 10, 'Y' is 30.
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of positions 1-17: 3^(i) mod 31.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// GB 11714 weights of the 8 organisation-code body characters.
const ORGANISATION_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

const _: () = {
    let mut i = 0;
    let mut power = 1;
    while i < WEIGHTS.len() {
        assert!(WEIGHTS[i] == power);
        power = power * 3 % 31;
        i += 1;
    }
};

/// GB/T 2260 province-level prefixes (plus 10, used by central registration authorities).
pub(crate) const PROVINCES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];
const CENTRAL: u32 = 10;

struct Authority {
    code: char,
    name: &'static str,
    entity_types: &'static [(char, &'static str)],
}

/// Registration authorities and their entity types: GB 32100-2015 table 1 (1, 5, 9, Y) plus the
/// codes assigned later (2, 3, 4, 6, 7, 8, A, N), as reproduced by several independent public
/// implementations. Not checked against the official text [U].
const AUTHORITIES: &[Authority] = &[
    Authority {
        code: '1',
        name: "机构编制",
        entity_types: &[
            ('1', "机关"),
            ('2', "事业单位"),
            ('3', "中央编办直接管理机构编制的群众团体"),
            ('9', "其他"),
        ],
    },
    Authority {
        code: '2',
        name: "外交",
        entity_types: &[('1', "外国常驻新闻机构"), ('9', "其他")],
    },
    Authority {
        code: '3',
        name: "司法行政",
        entity_types: &[
            ('1', "律师执业机构"),
            ('2', "公证处"),
            ('3', "基层法律服务所"),
            ('4', "司法鉴定机构"),
            ('5', "仲裁委员会"),
            ('9', "其他"),
        ],
    },
    Authority {
        code: '4',
        name: "文化",
        entity_types: &[('1', "外国在华文化中心"), ('9', "其他")],
    },
    Authority {
        code: '5',
        name: "民政",
        entity_types: &[
            ('1', "社会团体"),
            ('2', "民办非企业单位"),
            ('3', "基金会"),
            ('9', "其他"),
        ],
    },
    Authority {
        code: '6',
        name: "旅游",
        entity_types: &[
            ('1', "外国旅游部门常驻代表机构"),
            ('2', "港澳台地区旅游部门常驻内地(大陆)代表机构"),
            ('9', "其他"),
        ],
    },
    Authority {
        code: '7',
        name: "宗教",
        entity_types: &[('1', "宗教活动场所"), ('2', "宗教院校"), ('9', "其他")],
    },
    Authority {
        code: '8',
        name: "工会",
        entity_types: &[('1', "基层工会"), ('9', "其他")],
    },
    Authority {
        code: '9',
        name: "工商(市场监管)",
        entity_types: &[('1', "企业"), ('2', "个体工商户"), ('3', "农民专业合作社")],
    },
    Authority {
        code: 'A',
        name: "中央军委改革和编制办公室",
        entity_types: &[('1', "军队事业单位"), ('9', "其他")],
    },
    Authority {
        code: 'N',
        name: "农业",
        entity_types: &[
            ('1', "组级集体经济组织"),
            ('2', "村级集体经济组织"),
            ('3', "乡镇级集体经济组织"),
            ('9', "其他"),
        ],
    },
    Authority {
        code: 'Y',
        name: "其他",
        entity_types: &[('1', "其他")],
    },
];

/// Who registered the organisation and as what (positions 1 and 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub authority: char,
    pub authority_name: &'static str,
    pub entity_type: char,
    pub entity_type_name: &'static str,
}

/// A unified social credit code that passed every GB 32100 rule; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode(String);

impl CreditCode {
    /// Checks length, characters, registration authority and entity type, the division code's
    /// province, the check character and the organisation code's check character, and reports the
    /// first rule broken. Input must be exact: no surrounding spaces, capital letters only.
    pub fn parse(text: &str) -> Result<CreditCode, EnterpriseError> {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() != 18 {
            return Err(EnterpriseError::CreditCodeLength { found: chars.len() });
        }
        for (index, &c) in chars.iter().enumerate() {
            check_character(index + 1, c)?;
        }
        registration_of(chars[0], chars[1])?;
        check_division(&text[2..8])?;
        let expected = check_char_of(&text[..17]);
        if chars[17] != expected {
            return Err(EnterpriseError::CreditCodeCheck {
                expected,
                found: chars[17],
            });
        }
        let expected = organisation_check_of(&text[8..16]);
        if chars[16] != expected {
            return Err(EnterpriseError::OrganisationCodeCheck {
                expected,
                found: chars[16],
            });
        }
        Ok(CreditCode(text.to_owned()))
    }

    /// The check character (position 18) for the first 17 characters. Only the character set is
    /// checked, so this also serves for bodies that are not otherwise valid.
    pub fn check_char(first17: &str) -> Result<char, EnterpriseError> {
        let count = first17.chars().count();
        if count != 17 {
            return Err(EnterpriseError::CheckBodyLength {
                expected: 17,
                found: count,
            });
        }
        for (index, c) in first17.chars().enumerate() {
            if value(c).is_none() {
                return Err(EnterpriseError::CreditCodeCharacter {
                    position: index + 1,
                    found: c,
                    expected: charset_hint(c),
                });
            }
        }
        Ok(check_char_of(first17))
    }

    /// Appends the computed check character to `first17` and parses the result: every other rule
    /// still applies. Meant for synthetic codes in demos and tests.
    pub fn with_check_char(first17: &str) -> Result<CreditCode, EnterpriseError> {
        let check = CreditCode::check_char(first17)?;
        CreditCode::parse(&format!("{first17}{check}"))
    }

    /// The GB 11714 check character (position 17) for an 8-character organisation-code body.
    pub fn organisation_check_char(body8: &str) -> Result<char, EnterpriseError> {
        let count = body8.chars().count();
        if count != 8 {
            return Err(EnterpriseError::CheckBodyLength {
                expected: 8,
                found: count,
            });
        }
        for (index, c) in body8.chars().enumerate() {
            if value(c).is_none() {
                return Err(EnterpriseError::CreditCodeCharacter {
                    position: index + 9,
                    found: c,
                    expected: charset_hint(c),
                });
            }
        }
        Ok(organisation_check_of(body8))
    }

    /// Builds a code from its parts, computing both check characters: `prefix` is positions 1-2
    /// (e.g. "91"), `division` positions 3-8, `organisation_body` positions 9-16.
    pub fn from_parts(
        prefix: &str,
        division: &str,
        organisation_body: &str,
    ) -> Result<CreditCode, EnterpriseError> {
        let organisation_check = CreditCode::organisation_check_char(organisation_body)?;
        CreditCode::with_check_char(&format!(
            "{prefix}{division}{organisation_body}{organisation_check}"
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Positions 1-2, described.
    pub fn registration(&self) -> Registration {
        let mut chars = self.0.chars();
        let (authority, entity_type) = (chars.next(), chars.next());
        match (authority, entity_type) {
            (Some(a), Some(t)) => {
                registration_of(a, t).expect("parse admits only known registration pairs")
            }
            _ => unreachable!("a credit code has 18 characters"),
        }
    }

    /// Positions 3-8: the GB/T 2260 division of the registering authority (not necessarily where
    /// the enterprise operates).
    pub fn registration_division(&self) -> &str {
        &self.0[2..8]
    }

    /// Positions 9-17: the GB 11714 organisation code, check character included.
    pub fn organisation_code(&self) -> &str {
        &self.0[8..17]
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CreditCode {
    type Err = EnterpriseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        CreditCode::parse(text)
    }
}

impl Serialize for CreditCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CreditCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CreditCode::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The value of `c` in the GB 32100 character set.
fn value(c: char) -> Option<u32> {
    CHARSET
        .iter()
        .position(|&b| char::from(b) == c)
        .and_then(|p| u32::try_from(p).ok())
}

fn check_char_of(first17: &str) -> char {
    let sum: u32 = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| value(c).unwrap_or(0) * w)
        .sum();
    let index = (31 - sum % 31) % 31;
    char::from(CHARSET[index as usize])
}

/// GB 11714 values: digits are themselves, letters A-Z are 10-35 (the full alphabet, unlike
/// GB 32100's set).
fn organisation_check_of(body8: &str) -> char {
    let sum: u32 = body8
        .chars()
        .zip(ORGANISATION_WEIGHTS)
        .map(|(c, w)| c.to_digit(36).unwrap_or(0) * w)
        .sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        digit => char::from_digit(digit, 10).unwrap_or('0'),
    }
}

fn check_character(position: usize, c: char) -> Result<(), EnterpriseError> {
    if (3..=8).contains(&position) {
        if !c.is_ascii_digit() {
            return Err(EnterpriseError::CreditCodeCharacter {
                position,
                found: c,
                expected: "positions 3-8 (the registering authority's division code) are digits",
            });
        }
    } else if value(c).is_none() {
        return Err(EnterpriseError::CreditCodeCharacter {
            position,
            found: c,
            expected: charset_hint(c),
        });
    }
    Ok(())
}

fn charset_hint(c: char) -> &'static str {
    if c.is_ascii_lowercase() {
        "letters must be capitals"
    } else if matches!(c, 'I' | 'O' | 'S' | 'V' | 'Z') {
        "the letters I, O, S, V and Z are not used"
    } else {
        "allowed are digits 0-9 and capital letters except I, O, S, V, Z"
    }
}

fn registration_of(authority: char, entity_type: char) -> Result<Registration, EnterpriseError> {
    let entry = AUTHORITIES
        .iter()
        .find(|a| a.code == authority)
        .ok_or(EnterpriseError::CreditCodeAuthority { found: authority })?;
    let (_, entity_type_name) = entry
        .entity_types
        .iter()
        .find(|(code, _)| *code == entity_type)
        .ok_or_else(|| EnterpriseError::CreditCodeEntityType {
            authority,
            authority_name: entry.name,
            found: entity_type,
            allowed: entry
                .entity_types
                .iter()
                .map(|(code, name)| format!("{code} {name}"))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok(Registration {
        authority,
        authority_name: entry.name,
        entity_type,
        entity_type_name,
    })
}

fn check_division(digits: &str) -> Result<(), EnterpriseError> {
    let province: u32 = digits[..2].parse().unwrap_or(0);
    if province == CENTRAL || PROVINCES.contains(&province) {
        Ok(())
    } else {
        Err(EnterpriseError::CreditCodeDivision {
            found: digits.to_owned(),
            province: digits[..2].to_owned(),
        })
    }
}
