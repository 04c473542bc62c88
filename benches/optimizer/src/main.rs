//! Benchmark: the optimizer end to end (validation, tiers, exact rounding, explanations) on
//! synthetic rounds of 1k..1M applications (4 pollutants, 40 districts, 8 basins, 6 airsheds),
//! side by side with the same model built naively through good_lp and solved by HiGHS defaults.
//!
//! Usage: `bench-optimizer [--sizes 1000,10000,100000,1000000] [--naive-max 100000]
//! [--min-share-share 0.0]`. The naive run is skipped above `--naive-max` (it takes minutes).

use std::time::Instant;

use optimizer::{
    Application, Area, CreditGrade, Eligibility, Location, Medium, Method, NegativeList, Objective,
    Options, Phases, Policy, PollutantSpec, Pool, RegionalCap, ReplacementRule, Request,
    RiverDistanceRule, Round, Rule, ShareLimit, Source, TierRule, ZoneType, allocate_timed,
    allocate_with,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

const DISTRICTS: usize = 40;
const POLLUTANTS: [(&str, Medium); 4] = [
    ("COD", Medium::Water),
    ("NH3N", Medium::Water),
    ("SO2", Medium::Air),
    ("NOX", Medium::Air),
];

fn basin(d: usize) -> String {
    format!("B{}", d / 5)
}

fn airshed(d: usize) -> String {
    format!("A{}", d % 6)
}

fn policy() -> Policy {
    let cite = |c: &str| c.to_owned();
    Policy {
        version: "bench-2026.11".into(),
        objective: Objective::ValueAddedPerTonne,
        reserve_share: Decimal::new(5, 2),
        reserve_citation: cite("reserve"),
        tiers: vec![
            TierRule {
                tier: 5,
                any_tags: vec!["two_high".into()],
                citation: cite("两高"),
            },
            TierRule {
                tier: 1,
                any_tags: vec!["major_strategic".into()],
                citation: cite("81号"),
            },
            TierRule {
                tier: 2,
                any_tags: vec!["high_tech".into()],
                citation: cite("81号"),
            },
            TierRule {
                tier: 3,
                any_tags: vec!["encouraged".into()],
                citation: cite("目录"),
            },
        ],
        default_tier: 4,
        eligibility: Eligibility {
            priority_protection: Some(Rule {
                citation: cite("三线一单"),
            }),
            river_distance: Some(RiverDistanceRule {
                distance_m_min: 1_000,
                industries: vec!["chemical".into(), "paper".into()],
                citation: cite("长江保护法 26"),
            }),
            new_park_distance: None,
            negative_lists: vec![NegativeList {
                id: "neg".into(),
                tags: vec!["banned".into()],
                citation: cite("负面清单"),
            }],
            credit_poor: Some(Rule {
                citation: cite("不良"),
            }),
            credit_warning_demotion: Some(Rule {
                citation: cite("警示"),
            }),
            approval_freeze: None,
        },
        replacement_ratios: vec![ReplacementRule {
            pollutant: Some("COD".into()),
            scope: Some(Area::Basin("B0".into())),
            ratio: Decimal::new(15, 1),
            citation: cite("倍量替代"),
        }],
        caps: Vec::new(),
        enterprise_share_max: Some(ShareLimit {
            share_max: Decimal::new(2, 2),
            citation: cite("share"),
        }),
    }
}

fn synthetic(n: usize, min_share_share: f64, seed: u64) -> Round {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut applications = Vec::with_capacity(n);
    // Demand per (pollutant, district) in milli-tonnes, to size pools and caps.
    let mut demand = vec![[0i64; DISTRICTS]; POLLUTANTS.len()];
    for i in 0..n {
        let district = rng.random_range(0..DISTRICTS);
        let mut requests = Vec::new();
        for (p, (id, _)) in POLLUTANTS.iter().enumerate() {
            if requests.is_empty() && p == POLLUTANTS.len() - 1 || rng.random_bool(0.6) {
                let milli = rng.random_range(100..50_000i64);
                demand[p][district] += milli;
                requests.push(Request {
                    pollutant: (*id).into(),
                    quantity: Decimal::new(milli, 3),
                    unit: None,
                });
            }
        }
        let tag = match rng.random_range(0..100) {
            0..5 => "major_strategic",
            5..20 => "high_tech",
            20..40 => "encouraged",
            40..90 => "",
            90..98 => "two_high",
            _ => "chemical",
        };
        applications.push(Application {
            id: format!("APP-{i:08}"),
            enterprise: format!("ENT-{}", i / 3),
            project: String::new(),
            requests,
            min_viable_share: if rng.random_bool(min_share_share) {
                Decimal::ONE
            } else {
                Decimal::ZERO
            },
            location: Location {
                district: format!("D{district:02}"),
                basin: basin(district),
                airshed: airshed(district),
                zone: if rng.random_bool(0.01) {
                    ZoneType::PriorityProtection
                } else {
                    ZoneType::General
                },
                river_distance_m: Some(rng.random_range(0..10_000)),
            },
            tags: vec![tag.into()],
            credit: match rng.random_range(0..100) {
                0..20 => CreditGrade::Exemplary,
                20..90 => CreditGrade::Good,
                90..98 => CreditGrade::Warning,
                _ => CreditGrade::Poor,
            },
            value_added_cny_per_year: Decimal::new(rng.random_range(1_000_000..500_000_000), 2),
            jobs: rng.random_range(1..500),
            filed_at_unix_s: 1_760_000_000 + rng.random_range(0..10_000_000),
        });
    }
    let mut pools = Vec::new();
    for (p, (id, medium)) in POLLUTANTS.iter().enumerate() {
        let areas: Vec<String> = match medium {
            Medium::Water => (0..DISTRICTS / 5).map(|b| format!("B{b}")).collect(),
            _ => (0..6).map(|a| format!("A{a}")).collect(),
        };
        for area in areas {
            let area_demand: i64 = (0..DISTRICTS)
                .filter(|&d| {
                    if *medium == Medium::Water {
                        basin(d) == area
                    } else {
                        airshed(d) == area
                    }
                })
                .map(|d| demand[p][d])
                .sum();
            // Freed capacity covers about 35% of the demand: the tiers compete.
            let total = area_demand * 35 / 100;
            pools.push(Pool {
                id: format!("POOL-{id}-{area}"),
                pollutant: (*id).into(),
                area: Some(area.clone()),
                sources: (0..4)
                    .map(|s| Source {
                        reduction_id: format!("RED-{id}-{area}-{s}"),
                        quantity: Decimal::new(total / 4 + if s == 0 { total % 4 } else { 0 }, 3),
                        unit: None,
                    })
                    .collect(),
            });
        }
    }
    let mut policy = policy();
    for ((id, _), district_demand) in POLLUTANTS.iter().zip(&demand) {
        for (d, &milli) in district_demand.iter().enumerate() {
            // District totals at 30% of their demand: they bind in some districts in tier 3.
            policy.caps.push(RegionalCap {
                id: format!("CAP-{id}-D{d:02}"),
                pollutant: (*id).into(),
                scope: Area::District(format!("D{d:02}")),
                cap: Decimal::new(milli * 30 / 100, 3),
                transfer_coefficients: Default::default(),
                citation: "区县总量".into(),
            });
        }
    }
    Round {
        id: format!("bench-{n}"),
        pollutants: POLLUTANTS
            .iter()
            .map(|(id, medium)| PollutantSpec {
                id: (*id).into(),
                medium: *medium,
                scale: 3,
                unit: "t/a".into(),
            })
            .collect(),
        districts: (0..DISTRICTS).map(|d| format!("D{d:02}")).collect(),
        basins: (0..DISTRICTS / 5).map(|b| format!("B{b}")).collect(),
        airsheds: (0..6).map(|a| format!("A{a}")).collect(),
        pools,
        applications,
        policy,
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let sizes: Vec<usize> = arg("--sizes")
        .unwrap_or_else(|| "1000,10000,100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let naive_max: usize = arg("--naive-max")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let min_share: f64 = arg("--min-share-share")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    // Warm-up: the first HiGHS call in a process pays one-off initialisation; neither side should.
    let warm = synthetic(500, min_share, 7);
    for method in [Method::Structured, Method::NaiveGoodLp] {
        let _ = allocate_with(
            &warm,
            &Options {
                method,
                ..Options::default()
            },
        );
    }
    println!(
        "| applications | all-or-nothing | ours wall s (cpu s) | naive good_lp+HiGHS wall s (cpu s) | speed-up wall (cpu) | max tier objective diff | MILP gap | ours: methods per tier |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut phase_rows = Vec::new();
    for &n in &sizes {
        let round = synthetic(n, min_share, 42);
        let started = Instant::now();
        let cpu = bench_support::cpu_seconds(None);
        let (ours, ours_phases) = allocate_timed(&round, &Options::default());
        let ours = match ours {
            Ok(a) => a,
            Err(e) => {
                eprintln!("ours failed at {n}: {e}");
                continue;
            }
        };
        let ours_s = started.elapsed().as_secs_f64();
        let ours_cpu = bench_support::cpu_seconds(None) - cpu;
        phase_rows.push(phase_row(n, "ours", &ours_phases));
        let methods: Vec<String> = ours
            .tiers
            .iter()
            .map(|t| format!("T{}: {}", t.tier, t.method))
            .collect();
        let (naive_s, diff) = if n <= naive_max {
            let started = Instant::now();
            let cpu = bench_support::cpu_seconds(None);
            let (naive, naive_phases) = allocate_timed(
                &round,
                &Options {
                    method: Method::NaiveGoodLp,
                    ..Options::default()
                },
            );
            phase_rows.push(phase_row(n, "naive", &naive_phases));
            let seconds = started.elapsed().as_secs_f64();
            let naive_cpu = bench_support::cpu_seconds(None) - cpu;
            match naive {
                Ok(naive) => {
                    if std::env::args().any(|a| a == "--verbose") {
                        let realized = |a: &optimizer::Allocation, tier: u8| -> f64 {
                            a.applications
                                .iter()
                                .filter(|x| x.tier == Some(tier))
                                .map(|x| {
                                    let input = round.applications.iter().find(|y| y.id == x.id);
                                    let va = input.map_or(0.0, |y| {
                                        y.value_added_cny_per_year.try_into().unwrap_or(0.0)
                                    });
                                    va * x.fill_rate
                                })
                                .sum()
                        };
                        for t in 1..=5 {
                            eprintln!(
                                "n={n} tier {t} realized: ours {:.0} naive {:.0}",
                                realized(&ours, t),
                                realized(&naive, t)
                            );
                        }
                        for (a, b) in ours.tiers.iter().zip(&naive.tiers) {
                            eprintln!(
                                "n={n} tier {}: ours {:.6} bound {:.6} ({}) naive {:.6} ({})",
                                a.tier, a.objective, a.bound, a.method, b.objective, b.method
                            );
                        }
                    }
                    let diff = ours
                        .tiers
                        .iter()
                        .zip(&naive.tiers)
                        .map(|(a, b)| {
                            (a.objective - b.objective).abs() / a.objective.abs().max(1.0)
                        })
                        .fold(0.0, f64::max);
                    (
                        format!("{seconds:.3} ({naive_cpu:.2})"),
                        format!("{diff:.1e}"),
                    )
                }
                Err(e) => (format!("failed: {e}"), "-".into()),
            }
        } else {
            ("skipped (> --naive-max)".into(), "-".into())
        };
        let naive_wall = naive_s
            .split(' ')
            .next()
            .and_then(|s| s.parse::<f64>().ok());
        let naive_cpu = naive_s
            .split(['(', ')'])
            .nth(1)
            .and_then(|s| s.parse::<f64>().ok());
        let speedup = match (naive_wall, naive_cpu) {
            (Some(wall), Some(cpu)) => {
                format!("{:.1}x ({:.1}x)", wall / ours_s, cpu / ours_cpu.max(0.01))
            }
            _ => "-".into(),
        };
        println!(
            "| {n} | {min_share:.2} | {ours_s:.3} ({ours_cpu:.2}) | {naive_s} | {speedup} | {diff} | {:.1e} | {} |",
            ours.mip_gap,
            methods.join("; ")
        );
    }
    println!();
    println!(
        "Wall seconds per phase (prepare = validation, eligibility, rows; build = tier problems;"
    );
    println!(
        "solve = HiGHS/sifting/MILP with prices and ranges; rounding = exact rounding and bookkeeping;"
    );
    println!("explain = the published Allocation):");
    println!();
    println!("| applications | solver | prepare | build | solve | rounding | explain |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for row in phase_rows {
        println!("{row}");
    }
}

fn phase_row(n: usize, who: &str, p: &Phases) -> String {
    format!(
        "| {n} | {who} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
        p.prepare, p.build, p.solve, p.rounding, p.explain
    )
}
