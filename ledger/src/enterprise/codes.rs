//! GB/T 2260 district codes and GB/T 4754-2017 industry classes, checked for form. Whether a
//! district exists is a question for the loaded list ([`super::DistrictList`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::credit_code::PROVINCES;
use super::error::EnterpriseError;

/// A GB/T 2260 county-level division code (区/县/自治县), e.g. 500103 渝中区. `parse` checks the
/// form only: six digits, an existing province, a non-zero county part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DistrictCode(u32);

impl DistrictCode {
    pub fn parse(text: &str) -> Result<DistrictCode, EnterpriseError> {
        let error = |reason| EnterpriseError::DistrictCode {
            found: text.to_owned(),
            reason,
        };
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error("must be 6 digits"));
        }
        let code: u32 = text.parse().map_err(|_| error("must be 6 digits"))?;
        if !PROVINCES.contains(&(code / 10_000)) {
            return Err(error("does not start with a GB/T 2260 province code"));
        }
        if code.is_multiple_of(100) {
            return Err(error(
                "is a province or prefecture code, not a county-level district (last two digits are 00)",
            ));
        }
        Ok(DistrictCode(code))
    }

    /// The two-digit province prefix (50 for Chongqing).
    pub fn province(self) -> u32 {
        self.0 / 10_000
    }

    pub fn value(self) -> u32 {
        self.0
    }
}

impl fmt::Display for DistrictCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

impl FromStr for DistrictCode {
    type Err = EnterpriseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        DistrictCode::parse(text)
    }
}

impl Serialize for DistrictCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DistrictCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DistrictCode::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A GB/T 4754-2017 four-digit industry class (行业小类), e.g. 2710. `parse` checks four digits and
/// that the division (first two) is one of 01-97; whether the class itself exists is not checked
/// (the full table of about 1 380 classes is not loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndustryCode(u16);

impl IndustryCode {
    pub fn parse(text: &str) -> Result<IndustryCode, EnterpriseError> {
        let error = |reason: &str| EnterpriseError::IndustryCode {
            found: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error("must be 4 digits (a GB/T 4754-2017 class)"));
        }
        let code: u16 = text.parse().map_err(|_| error("must be 4 digits"))?;
        let division = code / 100;
        if Section::of_division(division).is_none() {
            return Err(error(&format!(
                "has division {division:02}; GB/T 4754-2017 divisions are 01-97"
            )));
        }
        Ok(IndustryCode(code))
    }

    /// The two-digit division (行业大类), e.g. 27 for 2710.
    pub fn division(self) -> u16 {
        self.0 / 100
    }

    /// The section letter (门类) the division belongs to.
    pub fn section(self) -> Section {
        Section::of_division(self.division()).expect("parse admits only divisions 01-97")
    }

    /// True if `prefix` (2, 3 or 4 digits) is a leading part of this code.
    pub fn starts_with(self, prefix: &str) -> bool {
        self.to_string().starts_with(prefix)
    }

    /// The sectors this class belongs to, as the policies' zoning rules name them (the Yangtze
    /// 1 km rule's `chemical`, `pulp`, `dyeing`, `textile`, `paper`), from GB/T 4754-2017:
    /// division 26 化学原料和化学制品制造业 is `chemical`; 17 纺织业 is `textile`, and its
    /// 印染 / 染整 classes (1713, 1723, 1733, 1743, 1752, 1762) are `dyeing` too; 22 造纸和纸制品业
    /// is `paper`, and its group 221 纸浆制造 is `pulp` too. The register decides these, never
    /// the applicant.
    pub fn sectors(self) -> Vec<&'static str> {
        let mut sectors = Vec::new();
        match self.division() {
            26 => sectors.push("chemical"),
            17 => {
                sectors.push("textile");
                if matches!(self.0, 1713 | 1723 | 1733 | 1743 | 1752 | 1762) {
                    sectors.push("dyeing");
                }
            }
            22 => {
                sectors.push("paper");
                if self.0 / 10 == 221 {
                    sectors.push("pulp");
                }
            }
            _ => {}
        }
        sectors
    }
}

/// Every sector name [`IndustryCode::sectors`] can give: tags only the register may set.
pub const SECTOR_TAGS: [&str; 5] = ["chemical", "textile", "dyeing", "paper", "pulp"];

impl fmt::Display for IndustryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl FromStr for IndustryCode {
    type Err = EnterpriseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        IndustryCode::parse(text)
    }
}

impl Serialize for IndustryCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IndustryCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        IndustryCode::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// GB/T 4754-2017 sections (门类) A-T with their division ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Section {
    A,
    B,
    C,
    D,
    E,
    F,
    G,
    H,
    I,
    J,
    K,
    L,
    M,
    N,
    O,
    P,
    Q,
    R,
    S,
    T,
}

/// (section, first division, last division, name).
const SECTIONS: [(Section, u16, u16, &str); 20] = [
    (Section::A, 1, 5, "农、林、牧、渔业"),
    (Section::B, 6, 12, "采矿业"),
    (Section::C, 13, 43, "制造业"),
    (Section::D, 44, 46, "电力、热力、燃气及水生产和供应业"),
    (Section::E, 47, 50, "建筑业"),
    (Section::F, 51, 52, "批发和零售业"),
    (Section::G, 53, 60, "交通运输、仓储和邮政业"),
    (Section::H, 61, 62, "住宿和餐饮业"),
    (Section::I, 63, 65, "信息传输、软件和信息技术服务业"),
    (Section::J, 66, 69, "金融业"),
    (Section::K, 70, 70, "房地产业"),
    (Section::L, 71, 72, "租赁和商务服务业"),
    (Section::M, 73, 75, "科学研究和技术服务业"),
    (Section::N, 76, 79, "水利、环境和公共设施管理业"),
    (Section::O, 80, 82, "居民服务、修理和其他服务业"),
    (Section::P, 83, 83, "教育"),
    (Section::Q, 84, 85, "卫生和社会工作"),
    (Section::R, 86, 90, "文化、体育和娱乐业"),
    (Section::S, 91, 96, "公共管理、社会保障和社会组织"),
    (Section::T, 97, 97, "国际组织"),
];

const _: () = {
    // The ranges tile 01-97 without gaps or overlaps.
    let mut i = 1;
    assert!(SECTIONS[0].1 == 1);
    assert!(SECTIONS[SECTIONS.len() - 1].2 == 97);
    while i < SECTIONS.len() {
        assert!(SECTIONS[i].1 == SECTIONS[i - 1].2 + 1);
        i += 1;
    }
};

impl Section {
    /// The section of a two-digit division, or `None` outside 01-97.
    pub fn of_division(division: u16) -> Option<Section> {
        SECTIONS
            .iter()
            .find(|(_, first, last, _)| (*first..=*last).contains(&division))
            .map(|(section, ..)| *section)
    }

    pub fn name_zh(self) -> &'static str {
        SECTIONS
            .iter()
            .find(|(section, ..)| *section == self)
            .map_or("", |(.., name)| name)
    }
}

#[cfg(test)]
mod sector_tests {
    use super::IndustryCode;

    #[test]
    fn sectors_follow_gb_t_4754() {
        let of = |code: &str| IndustryCode::parse(code).unwrap().sectors();
        assert_eq!(of("2614"), ["chemical"]);
        assert_eq!(of("1713"), ["textile", "dyeing"]);
        assert_eq!(of("1711"), ["textile"]);
        assert_eq!(of("2211"), ["paper", "pulp"]);
        assert_eq!(of("2221"), ["paper"]);
        assert!(of("3961").is_empty());
        assert!(
            of("2710").is_empty(),
            "pharmaceuticals are not chemical manufacturing"
        );
    }
}
