//! Small builders for hand-checkable rounds: one province, districts D1..D3, basins B1/B2,
//! airsheds A1/A2; COD and NH3N are water, SO2 air, CO2 global; quantities at 3 decimals.

use optimizer::{
    Application, CreditGrade, Eligibility, FreezeRule, Location, Medium, NegativeList, NewParkRule,
    Objective, Policy, PollutantSpec, Pool, Request, RiverDistanceRule, Round, Rule, Source,
    TierRule, ZoneType,
};
use rust_decimal::Decimal;

pub fn d(s: &str) -> Decimal {
    s.parse().expect("test decimal")
}

pub fn policy() -> Policy {
    let rule = |c: &str| Some(Rule { citation: c.into() });
    Policy {
        version: "test-2026.1".into(),
        objective: Objective::ValueAddedPerTonne,
        reserve_share: Decimal::ZERO,
        reserve_citation: String::new(),
        tiers: vec![
            TierRule {
                tier: 5,
                any_tags: vec!["two_high".into()],
                citation: "环环评〔2021〕45号".into(),
            },
            TierRule {
                tier: 1,
                any_tags: vec!["major_strategic".into()],
                citation: "渝环办〔2020〕81号".into(),
            },
            TierRule {
                tier: 2,
                any_tags: vec!["high_tech".into(), "strategic_emerging".into()],
                citation: "渝环办〔2020〕81号".into(),
            },
            TierRule {
                tier: 3,
                any_tags: vec!["encouraged".into()],
                citation: "产业结构调整指导目录".into(),
            },
        ],
        default_tier: 4,
        eligibility: Eligibility {
            priority_protection: rule("渝府发〔2020〕11号"),
            river_distance: Some(RiverDistanceRule {
                distance_m_min: 1_000,
                industries: ["chemical", "pulp", "dyeing", "textile", "paper"]
                    .map(String::from)
                    .to_vec(),
                citation: "长江保护法 第二十六条".into(),
            }),
            new_park_distance: Some(NewParkRule {
                distance_m_min: 5_000,
                tag: "new_industrial_park".into(),
                citation: "重庆 1公里/5公里".into(),
            }),
            negative_lists: vec![NegativeList {
                id: "yangtze-2019".into(),
                tags: vec!["banned_smelting".into()],
                citation: "长江经济带发展负面清单指南(试行)".into(),
            }],
            credit_poor: rule("渝环规〔2021〕7号 不良"),
            credit_warning_demotion: rule("渝环规〔2021〕7号 警示"),
            approval_freeze: Some(FreezeRule {
                districts: vec!["D3".into()],
                citation: "重庆市水污染防治条例 约谈限批".into(),
            }),
        },
        replacement_ratios: Vec::new(),
        caps: Vec::new(),
        enterprise_share_max: None,
    }
}

pub fn round(applications: Vec<Application>, pools: Vec<Pool>) -> Round {
    let spec = |id: &str, medium| PollutantSpec {
        id: id.into(),
        medium,
        scale: 3,
        unit: "t/a".into(),
    };
    Round {
        id: "round-1".into(),
        pollutants: vec![
            spec("COD", Medium::Water),
            spec("NH3N", Medium::Water),
            spec("SO2", Medium::Air),
            spec("CO2", Medium::Global),
        ],
        districts: ["D1", "D2", "D3"].map(String::from).to_vec(),
        basins: ["B1", "B2"].map(String::from).to_vec(),
        airsheds: ["A1", "A2"].map(String::from).to_vec(),
        pools,
        applications,
        policy: policy(),
    }
}

pub fn pool(id: &str, pollutant: &str, area: Option<&str>, sources: &[(&str, &str)]) -> Pool {
    Pool {
        id: id.into(),
        pollutant: pollutant.into(),
        area: area.map(String::from),
        sources: sources
            .iter()
            .map(|(r, q)| Source {
                reduction_id: (*r).into(),
                quantity: d(q),
                unit: None,
            })
            .collect(),
    }
}

pub fn app(id: &str, tags: &[&str], requests: &[(&str, &str)]) -> Application {
    Application {
        id: id.into(),
        enterprise: format!("E-{id}"),
        project: format!("P-{id}"),
        requests: requests
            .iter()
            .map(|(p, q)| Request {
                pollutant: (*p).into(),
                quantity: d(q),
                unit: None,
            })
            .collect(),
        min_viable_share: Decimal::ZERO,
        location: Location {
            district: "D1".into(),
            basin: "B1".into(),
            airshed: "A1".into(),
            zone: ZoneType::General,
            river_distance_m: None,
        },
        tags: tags.iter().map(|t| (*t).to_string()).collect(),
        credit: CreditGrade::Good,
        value_added_cny_per_year: d("1000"),
        jobs: 10,
        filed_at_unix_s: 1_700_000_000,
    }
}

pub fn with_value(mut a: Application, value: &str) -> Application {
    a.value_added_cny_per_year = d(value);
    a
}
