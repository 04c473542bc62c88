//! A synthetic, Chongqing-like register: real district codes grouped into river basins and
//! airsheds, a few hundred enterprises across sectors with credit grades, zoning and distances to
//! the Yangtze, and baseline discharges. Deterministic for a seed.

use ledger::enterprise::CreditCode;
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// A county-level division (GB/T 2260) with the basin and airshed it drains to and breathes in.
pub struct District {
    pub code: &'static str,
    pub name: &'static str,
    pub basin: &'static str,
    pub airshed: &'static str,
}

pub const DISTRICTS: &[District] = &[
    District {
        code: "500101",
        name: "万州区",
        basin: "yangtze-cq",
        airshed: "cq-northeast",
    },
    District {
        code: "500102",
        name: "涪陵区",
        basin: "wujiang",
        airshed: "cq-southeast",
    },
    District {
        code: "500104",
        name: "大渡口区",
        basin: "yangtze-cq",
        airshed: "cq-main",
    },
    District {
        code: "500105",
        name: "江北区",
        basin: "jialing",
        airshed: "cq-main",
    },
    District {
        code: "500106",
        name: "沙坪坝区",
        basin: "jialing",
        airshed: "cq-main",
    },
    District {
        code: "500107",
        name: "九龙坡区",
        basin: "yangtze-cq",
        airshed: "cq-main",
    },
    District {
        code: "500109",
        name: "北碚区",
        basin: "jialing",
        airshed: "cq-main",
    },
    District {
        code: "500112",
        name: "渝北区",
        basin: "jialing",
        airshed: "cq-main",
    },
    District {
        code: "500113",
        name: "巴南区",
        basin: "yangtze-cq",
        airshed: "cq-main",
    },
    District {
        code: "500115",
        name: "长寿区",
        basin: "yangtze-cq",
        airshed: "cq-northeast",
    },
    District {
        code: "500116",
        name: "江津区",
        basin: "yangtze-cq",
        airshed: "cq-main",
    },
    District {
        code: "500117",
        name: "合川区",
        basin: "jialing",
        airshed: "cq-main",
    },
    District {
        code: "500118",
        name: "永川区",
        basin: "yangtze-cq",
        airshed: "cq-main",
    },
    District {
        code: "500120",
        name: "璧山区",
        basin: "jialing",
        airshed: "cq-main",
    },
    District {
        code: "500154",
        name: "开州区",
        basin: "yangtze-cq",
        airshed: "cq-northeast",
    },
    District {
        code: "500156",
        name: "武隆区",
        basin: "wujiang",
        airshed: "cq-southeast",
    },
];

pub const BASINS: &[(&str, &str)] = &[
    ("yangtze-cq", "Yangtze main stream, Chongqing reach"),
    ("jialing", "Jialing River"),
    ("wujiang", "Wu River"),
];

pub const AIRSHEDS: &[(&str, &str)] = &[
    ("cq-main", "Chongqing main-city airshed"),
    ("cq-northeast", "Northeast Chongqing airshed"),
    ("cq-southeast", "Southeast Chongqing airshed"),
];

/// A sector: its GB/T 4754-2017 class, declared tags, and baseline discharges (t/a) per plant.
pub struct Sector {
    pub name: &'static str,
    pub industry: &'static str,
    pub tags: &'static [&'static str],
    pub share: u32,
    /// COD, NH3-N, SO2, NOx tonnes per year for a typical plant.
    pub baseline_t: [u32; 4],
    /// Covered by the carbon market (tCO2e per year, 0 if not).
    pub carbon_t: u32,
    pub heavy: bool,
}

pub const SECTORS: &[Sector] = &[
    Sector {
        name: "integrated circuits",
        industry: "3973",
        tags: &["high_tech_manufacturing", "strategic_emerging"],
        share: 12,
        baseline_t: [12, 2, 1, 3],
        carbon_t: 0,
        heavy: false,
    },
    Sector {
        name: "electronic components",
        industry: "3982",
        tags: &["high_tech_manufacturing"],
        share: 14,
        baseline_t: [8, 1, 1, 2],
        carbon_t: 0,
        heavy: false,
    },
    Sector {
        name: "pharmaceuticals",
        industry: "2710",
        tags: &["high_tech_manufacturing"],
        share: 10,
        baseline_t: [40, 5, 2, 4],
        carbon_t: 0,
        heavy: false,
    },
    Sector {
        name: "new-energy vehicles",
        industry: "3612",
        tags: &["strategic_emerging"],
        share: 10,
        baseline_t: [15, 2, 4, 10],
        carbon_t: 20_000,
        heavy: false,
    },
    Sector {
        name: "basic chemicals",
        industry: "2614",
        tags: &["high_energy_high_emission"],
        share: 10,
        baseline_t: [120, 15, 60, 80],
        carbon_t: 150_000,
        heavy: true,
    },
    Sector {
        name: "steel",
        industry: "3120",
        tags: &["high_energy_high_emission"],
        share: 6,
        baseline_t: [60, 6, 400, 500],
        carbon_t: 900_000,
        heavy: true,
    },
    Sector {
        name: "cement",
        industry: "3011",
        tags: &["high_energy_high_emission"],
        share: 8,
        baseline_t: [5, 1, 150, 600],
        carbon_t: 500_000,
        heavy: true,
    },
    Sector {
        name: "paper",
        industry: "2221",
        tags: &[],
        share: 6,
        baseline_t: [300, 20, 30, 40],
        carbon_t: 60_000,
        heavy: true,
    },
    Sector {
        name: "textile dyeing",
        industry: "1713",
        tags: &[],
        share: 6,
        baseline_t: [200, 18, 10, 15],
        carbon_t: 0,
        heavy: true,
    },
    Sector {
        name: "coal power",
        industry: "4411",
        tags: &["high_energy_high_emission"],
        share: 4,
        baseline_t: [10, 1, 800, 900],
        carbon_t: 2_000_000,
        heavy: true,
    },
    Sector {
        name: "food processing",
        industry: "1391",
        tags: &[],
        share: 14,
        baseline_t: [50, 8, 5, 8],
        carbon_t: 0,
        heavy: false,
    },
];

pub struct Firm {
    pub code: String,
    pub name: String,
    pub district: &'static District,
    pub sector: &'static Sector,
    pub credit_grade: &'static str,
    pub zoning: &'static str,
    pub distance_m: u32,
    /// COD, NH3-N, SO2, NOx baseline rights (t/a, three decimals as minor units ×1000).
    pub rights_kg: [u64; 4],
    pub carbon_t: u64,
}

/// A valid unified social credit code for the i-th synthetic enterprise of a district.
fn credit_code(district: &str, i: usize) -> String {
    let body = format!("MA{:06}", i + 1);
    let org = CreditCode::organisation_check_char(&body)
        .map(|c| format!("{body}{c}"))
        .unwrap_or_default();
    CreditCode::with_check_char(&format!("91{district}{org}"))
        .map(|c| c.to_string())
        .unwrap_or_default()
}

pub fn firms(rng: &mut ChaCha8Rng, count: usize) -> Vec<Firm> {
    let weighted: Vec<&Sector> = SECTORS
        .iter()
        .flat_map(|s| std::iter::repeat_n(s, s.share as usize))
        .collect();
    (0..count)
        .map(|i| {
            let sector = *weighted.choose(rng).unwrap_or(&&SECTORS[0]);
            let district = &DISTRICTS[rng.random_range(0..DISTRICTS.len())];
            let grade = match rng.random_range(0..100) {
                0..20 => "exemplary",
                20..80 => "good",
                80..93 => "warning",
                _ => "poor",
            };
            let zoning = match rng.random_range(0..100) {
                0..8 => "priority_protection",
                8..60 => "key_control",
                _ => "general",
            };
            let size = rng.random_range(50..200) as u64;
            let rights_kg = sector.baseline_t.map(|t| u64::from(t) * size * 10);
            Firm {
                code: credit_code(district.code, i),
                name: format!("{} {} Co., Ltd. #{}", district.name, sector.name, i + 1),
                district,
                sector,
                credit_grade: grade,
                zoning,
                distance_m: rng.random_range(300..20_000),
                rights_kg,
                carbon_t: u64::from(sector.carbon_t) * size / 100,
            }
        })
        .collect()
}

pub const POLLUTANTS: [&str; 4] = ["COD", "NH3-N", "SO2", "NOx"];

/// The instrument code of a pollutant's rights in the firm's basin or airshed.
pub fn right_code(pollutant: &str, district: &District) -> String {
    let region = if matches!(pollutant, "COD" | "NH3-N") {
        district.basin
    } else {
        district.airshed
    };
    format!("{pollutant}.{region}.2024-2028")
}
