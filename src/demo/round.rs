//! The demo's reallocation round: applicants ask for the freed capacity in the reserve; the
//! optimizer ranks them under the Chongqing-like policy and the grants are posted to the ledger.

use anyhow::{Context, Result};
use api::services::reallocation::{RoundInput, RoundOutcome, run_round};
use ledger::Ledger;
use optimizer::{Application, CreditGrade, Location, Request, Status, ZoneType};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use super::dataset::Firm;

/// The policy the demo runs: versioned data with a citation on every rule.
pub const POLICY_TOML: &str = include_str!("../../data/policies/chongqing-2020-r1.toml");

pub async fn run(ledger: &Ledger, firms: &[Firm], rng: &mut ChaCha8Rng) -> Result<RoundOutcome> {
    let policy =
        toml::from_str(POLICY_TOML).context("parsing data/policies/chongqing-2020-r1.toml")?;
    let applicants: Vec<&Firm> = firms
        .iter()
        .filter(|_| rng.random_range(0..100) < 20)
        .collect();
    let applications = applicants
        .into_iter()
        .enumerate()
        .map(|(n, firm)| application(n, firm, rng))
        .collect();
    let input = RoundInput {
        id: "2025-R1".into(),
        policy,
        applications,
    };
    Ok(run_round(ledger, input, true).await?)
}

fn application(n: usize, firm: &Firm, rng: &mut ChaCha8Rng) -> Application {
    let water = rng.random_range(0..2) == 0;
    let (first, second) = if water {
        ("COD", "NH3-N")
    } else {
        ("SO2", "NOx")
    };
    let size = Decimal::from(rng.random_range(20..240));
    let mut tags: Vec<String> = Vec::new();
    let industry_tag = match firm.sector.industry {
        "2221" => Some("paper"),
        "1713" => Some("dyeing"),
        "2614" => Some("chemical"),
        _ => None,
    };
    tags.extend(industry_tag.map(String::from));
    if firm.sector.tags.contains(&"high_tech_manufacturing") && rng.random_range(0..4) == 0 {
        tags.push("major_project".into());
    }
    Application {
        id: format!("A-{:03}", n + 1),
        enterprise: firm.code.clone(),
        project: format!("{} expansion", firm.sector.name),
        requests: vec![
            Request {
                pollutant: first.into(),
                quantity: size,
                unit: None,
            },
            Request {
                pollutant: second.into(),
                quantity: size / Decimal::from(8),
                unit: None,
            },
        ],
        min_viable_share: if rng.random_range(0..5) == 0 {
            Decimal::ONE
        } else {
            Decimal::ZERO
        },
        location: Location {
            district: firm.district.code.into(),
            basin: firm.district.basin.into(),
            airshed: firm.district.airshed.into(),
            // The register's zoning, grade and distance replace these when the round is built.
            zone: ZoneType::General,
            river_distance_m: None,
        },
        tags,
        credit: CreditGrade::Good,
        value_added_cny_per_year: Decimal::from(rng.random_range(5..500))
            * Decimal::from(1_000_000),
        jobs: rng.random_range(20..2000),
        filed_at_unix_s: 1_735_689_600 + rng.random_range(0..86_400 * 90),
    }
}

pub fn print(outcome: &RoundOutcome) {
    let allocation = &outcome.allocation;
    let count = |status: Status| {
        allocation
            .applications
            .iter()
            .filter(|a| a.status == status)
            .count()
    };
    println!(
        "\nreallocation round {} under policy {} ({} applications): {} full, {} partial, {} none, {} excluded; MILP gap {:.2e}",
        allocation.round_id,
        allocation.policy_version,
        allocation.applications.len(),
        count(Status::Full),
        count(Status::Partial),
        count(Status::None),
        count(Status::Excluded),
        allocation.mip_gap
    );
    println!(
        "  {:<7} {:<4} {:<9} {:>6}  {:<60}",
        "app", "tier", "status", "fill", "granted / why"
    );
    for a in allocation.applications.iter().take(14) {
        let why = if a.status == Status::Excluded {
            a.exclusions
                .iter()
                .map(|r| format!("{} ({})", r.rule, r.citation))
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            let granted = a
                .grants
                .iter()
                .map(|g| format!("{} {}/{}", g.pollutant, g.granted, g.requested))
                .collect::<Vec<_>>()
                .join(", ");
            let limits: Vec<String> = a
                .binding
                .iter()
                .map(|b| format!("{:?}", b.constraint))
                .collect();
            if limits.is_empty() {
                granted
            } else {
                format!("{granted}; limited by {}", limits.join(", "))
            }
        };
        let tier = a.tier.map_or("-".into(), |t| t.to_string());
        println!(
            "  {:<7} {:<4} {:<9} {:>5.0}%  {}",
            a.id,
            tier,
            format!("{:?}", a.status).to_lowercase(),
            a.fill_rate * 100.0,
            truncate(&why, 100)
        );
    }
    if allocation.applications.len() > 14 {
        println!(
            "  … {} more (the full ranked list is in the commit's journal entry)",
            allocation.applications.len() - 14
        );
    }
    println!(
        "  pools: {:<26} {:>12} {:>12} {:>12} {:>14}",
        "", "available", "used", "left", "shadow price"
    );
    for p in &allocation.pools {
        let price = p.shadow_price.as_ref().map_or("-".to_owned(), |s| {
            format!("{:.0} (tier {})", s.value, s.tier)
        });
        println!(
            "         {:<26} {:>12} {:>12} {:>12} {:>14}",
            p.id, p.available, p.used, p.left, price
        );
    }
    if let Some(receipt) = &outcome.receipt {
        println!(
            "  committed as journal entry {} ({} postings, {} provenance flows)",
            receipt.seq,
            receipt.postings.len(),
            allocation.flows.len()
        );
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}
