//! Deterministic synthetic scenarios for the benchmarks (splitmix64, no RNG crate).

use scenarios::spec::{
    AdjustSpec, AllocationSpec, AuctionSpec, BankingSpec, CapSpec, Distribution, FirmSpec, MacSpec,
    PriceControlsSpec, ScenarioFile, Series, SolverSpec, StepQuantity, UncertainParameter,
    UncertaintySpec, YearsSpec,
};

#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub firms: usize,
    pub years: usize,
    pub steps: bool,
    pub uncertainty: bool,
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next()
    }
}

/// Firms with linear (or 5-step) MACs, a cap 15 % under baselines falling 2 %/yr,
/// baselines growing 1 %/yr, banking at 5 %: the bank builds early and is drawn later.
pub fn scenario(shape: Shape) -> ScenarioFile {
    let mut rng = SplitMix(0x5EED);
    let mut total = 0.0;
    let firms: Vec<FirmSpec> = (0..shape.firms)
        .map(|index| {
            let baseline = rng.range(50.0, 150.0);
            total += baseline;
            let mac = if shape.steps {
                let mut cost = rng.range(0.0, 10.0);
                let steps = (0..5)
                    .map(|_| {
                        cost += rng.range(2.0, 20.0);
                        [0.15, (cost * 100.0).round() / 100.0]
                    })
                    .collect();
                MacSpec::Steps {
                    steps,
                    quantity: StepQuantity::Share,
                }
            } else {
                MacSpec::Linear {
                    intercept: rng.range(-5.0, 20.0),
                    slope: rng.range(0.2, 3.0),
                    max_abatement_t: None,
                }
            };
            FirmSpec {
                id: format!("f{index}"),
                sector: ["power", "steel", "cement", "chemicals"][index % 4].to_string(),
                region: ["north", "south", "west"][index % 3].to_string(),
                baseline_t: Series::Constant(baseline),
                output: None,
                free_t: None,
                mac,
                tags: Vec::new(),
                applicant: None,
            }
        })
        .collect();
    ScenarioFile {
        schema_version: scenarios::spec::SCHEMA_VERSION,
        name: format!("bench-{}x{}", shape.firms, shape.years),
        description: String::new(),
        currency: "CNY".into(),
        years: YearsSpec {
            start: 2026,
            end: 2026 + shape.years as i32 - 1,
        },
        cap: CapSpec {
            by_year: None,
            base_year: Some(2026),
            base_t: Some(0.85 * total),
            linear_reduction_factor: Some(0.02),
        },
        allocation: AllocationSpec {
            auction_share: 0.3,
            ..AllocationSpec::default()
        },
        auction: AuctionSpec::default(),
        price_controls: PriceControlsSpec::default(),
        ccr: Vec::new(),
        msr: None,
        banking: BankingSpec {
            enabled: true,
            discount_rate: 0.05,
            ..BankingSpec::default()
        },
        offsets: None,
        adjust: AdjustSpec {
            baseline_growth: 0.01,
            ..AdjustSpec::default()
        },
        solver: SolverSpec::default(),
        sectors: Vec::new(),
        firms,
        firm_files: Vec::new(),
        uncertainty: shape.uncertainty.then(|| UncertaintySpec {
            draws: 1000,
            seed: 42,
            parameters: vec![
                UncertainParameter {
                    path: "adjust.baseline_scale".into(),
                    distribution: Distribution::Normal,
                    mean: Some(1.0),
                    sd: Some(0.05),
                    min: Some(0.8),
                    max: Some(1.2),
                    mode: None,
                },
                UncertainParameter {
                    path: "adjust.mac_scale".into(),
                    distribution: Distribution::Lognormal,
                    mean: Some(1.0),
                    sd: Some(0.2),
                    min: None,
                    max: None,
                    mode: None,
                },
            ],
        }),
    }
}

/// The equilibrium scenario with closures and priority reallocation: every tenth firm
/// closes in a year spread over the horizon, firms are tagged by sector, and freed
/// capacity is reallocated by `rule` (`tiered`: sectors as tiers; `optimizer`: a policy
/// with the same tiers by tag, a 5 % reserve, a 1.5 ratio in one region and a credit
/// exclusion for every 25th firm).
pub fn reallocation_scenario(shape: Shape, rule: &str) -> anyhow::Result<ScenarioFile> {
    let mut file = scenario(shape);
    let years = shape.years as i32;
    for (index, firm) in file.firms.iter_mut().enumerate() {
        if index % 10 == 0 {
            let Series::Constant(baseline) = firm.baseline_t else {
                continue;
            };
            let closes = 2027 + (index / 10) as i32 % (years - 1).max(1);
            firm.baseline_t = Series::ByYear(
                [("2026".to_string(), baseline), (closes.to_string(), 0.0)]
                    .into_iter()
                    .collect(),
            );
        }
        if rule == "optimizer" && index % 25 == 3 {
            firm.applicant = Some(serde_json::from_value(
                serde_json::json!({ "credit": "poor" }),
            )?);
        }
    }
    let sectors = ["power", "steel", "cement", "chemicals"];
    let mut value = serde_json::to_value(&file)?;
    value["sectors"] = serde_json::Value::Array(
        sectors
            .iter()
            .map(|name| serde_json::json!({ "name": name, "tier": name, "tags": [name] }))
            .collect(),
    );
    value["allocation"]["reallocation"] = if rule == "optimizer" {
        let tiers: Vec<serde_json::Value> = sectors
            .iter()
            .enumerate()
            .map(|(rank, name)| {
                serde_json::json!({ "tier": rank + 1, "any_tags": [name], "citation": "bench" })
            })
            .collect();
        serde_json::json!({
            "rule": "optimizer",
            "recipient_cap_share": 0.5,
            "policy": {
                "version": "bench-1",
                "reserve_share": "0.05",
                "default_tier": 4,
                "tiers": tiers,
                "eligibility": { "credit_poor": { "citation": "bench" } },
                "replacement_ratios": [
                    { "ratio": "1.5", "scope": { "kind": "district", "id": "north" }, "citation": "bench" }
                ]
            }
        })
    } else {
        serde_json::json!({ "tiers": sectors, "recipient_cap_share": 0.5 })
    };
    Ok(serde_json::from_value(value)?)
}
