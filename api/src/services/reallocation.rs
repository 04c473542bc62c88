//! Reallocation rounds: the bureau's reserve of freed capacity, read from the ledger, is handed to
//! applicants by the optimizer, and the grants are posted back as one atomic, idempotent ledger
//! request that records the round, the policy version and the provenance.
//!
//! - Pools come from the ledger: per discharge-right instrument (one pollutant in one basin or
//!   airshed), the certified reductions in the reserve not yet drawn by earlier rounds, capped at
//!   what the reserve actually holds (older reductions counted as drawn first).
//! - Applications name a registered enterprise; its credit grade, zoning, river distance, district,
//!   classification tags and sector tags (from its GB/T 4754 classes) are taken from the register,
//!   not from the application: the applicant's own such tags are dropped.
//! - Commit: per grant, `allocate` the granted amount from the reserve to the enterprise and
//!   `cancel` the replacement-ratio surplus (drawn − granted). The request's memo is a
//!   [`RoundMemo`]: round id, policy version and every flow (which reduction funded which grant).

use std::collections::BTreeMap;

use ledger::instrument::InstrumentKind;
use ledger::{Action, Instrument, Ledger, LedgerError, Party, Quantity, Receipt, Request};
use optimizer::{
    Allocation, Application, CreditGrade, Medium, Policy, PollutantSpec, Pool, Round, Source,
    ZoneType,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What every round commit's idempotency key starts with.
const ROUND_KEY_PREFIX: &str = "reallocation-round/";

/// The idempotency key of a round's commit: one commit per round id, ever.
pub fn commit_key(round_id: &str) -> String {
    format!("{ROUND_KEY_PREFIX}{round_id}")
}

/// The optimizer's medium of a ledger pollutant: water pollutants are pooled by basin, the
/// rest by airshed.
fn optimizer_medium(medium: ledger::Medium) -> Medium {
    match medium {
        ledger::Medium::Water => Medium::Water,
        ledger::Medium::Air => Medium::Air,
    }
}

/// What the bureau submits: the round's id, its policy and the applications.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundInput {
    pub id: String,
    pub policy: Policy,
    pub applications: Vec<Application>,
}

/// Recorded as the commit's memo: enough to publish and to audit whose capacity went to whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundMemo {
    pub round: String,
    pub policy_version: String,
    pub flows: Vec<MemoFlow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoFlow {
    pub reduction: String,
    pub instrument: String,
    pub application: String,
    pub enterprise: String,
    #[serde(with = "ledger::amount::plain")]
    pub drawn: Decimal,
}

#[derive(Debug, thiserror::Error)]
pub enum ReallocationError {
    #[error("the round is invalid: {0}")]
    Optimizer(#[from] optimizer::Error),
    #[error("application {application}: enterprise {enterprise} is not registered")]
    UnknownEnterprise {
        application: String,
        enterprise: String,
    },
    #[error("instrument {instrument} names pollutant {pollutant}, which the register lacks")]
    UnknownPollutant {
        instrument: String,
        pollutant: String,
    },
    #[error("round {0:?} was already committed with a different result")]
    AlreadyCommitted(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A round's result, and the ledger receipt if it was committed.
#[derive(Debug, Clone, Serialize)]
pub struct RoundOutcome {
    pub allocation: Allocation,
    /// The request that posts the grants (what a commit submits; a dry run only shows it).
    pub request: Request,
    pub receipt: Option<Receipt>,
}

/// Builds the round from the ledger, allocates, and (if `commit`) posts the grants.
pub async fn run_round(
    ledger: &Ledger,
    input: RoundInput,
    commit: bool,
) -> Result<RoundOutcome, ReallocationError> {
    let round = build_round(ledger, input).await?;
    let allocation = optimizer::allocate(&round)?;
    let instruments = pool_instruments(&round);
    let request = commit_request(&allocation, &instruments);
    let receipt = if commit && !request.actions.is_empty() {
        match ledger.submit(request.clone()).await {
            Ok(receipt) => Some(receipt),
            Err(LedgerError::IdempotencyConflict { .. }) => {
                return Err(ReallocationError::AlreadyCommitted(allocation.round_id));
            }
            Err(error) => return Err(error.into()),
        }
    } else {
        None
    };
    Ok(RoundOutcome {
        allocation,
        request,
        receipt,
    })
}

/// The optimizer's round: pools from the ledger's reserve, applications completed from the register.
pub async fn build_round(ledger: &Ledger, input: RoundInput) -> Result<Round, ReallocationError> {
    let store = ledger.store();
    let instruments = store.instruments().await?;
    let today = ledger.now().date_naive();
    let reserve: BTreeMap<String, Decimal> = store
        .balances(Some(ledger::account::BUREAU))
        .await?
        .into_iter()
        .filter(|b| b.kind == ledger::AccountKind::Reserve)
        .map(|b| (b.instrument, b.balance))
        .collect();
    let drawn = previous_draws(ledger).await?;
    let media = store.pollutant_media().await?;
    let reductions = store.reductions().await?;

    let mut pollutants: BTreeMap<String, PollutantSpec> = BTreeMap::new();
    let (mut basins, mut airsheds) = (Vec::new(), Vec::new());
    let mut pools = Vec::new();
    // One pool per pollutant and area: the currently valid instrument with the latest end.
    let mut chosen: BTreeMap<(String, String), &Instrument> = BTreeMap::new();
    for instrument in &instruments {
        if let InstrumentKind::DischargeRight {
            pollutant,
            region,
            valid_from,
            valid_to,
        } = &instrument.kind
            && *valid_from <= today
            && today <= *valid_to
        {
            let key = (pollutant.clone(), region.clone());
            if chosen
                .get(&key)
                .is_none_or(|c| c.valid_to() < Some(*valid_to))
            {
                chosen.insert(key, instrument);
            }
        }
    }
    for ((pollutant, region), instrument) in chosen {
        let Some(&medium) = media.get(&pollutant) else {
            return Err(ReallocationError::UnknownPollutant {
                instrument: instrument.code.clone(),
                pollutant,
            });
        };
        let areas = match medium {
            ledger::Medium::Water => &mut basins,
            ledger::Medium::Air => &mut airsheds,
        };
        let medium = optimizer_medium(medium);
        if !areas.contains(&region) {
            areas.push(region.clone());
        }
        pollutants
            .entry(pollutant.clone())
            .or_insert(PollutantSpec {
                id: pollutant.clone(),
                medium,
                scale: instrument.scale,
                unit: instrument.unit.clone(),
            });
        let held = reserve.get(&instrument.code).copied().unwrap_or_default();
        let sources = sources(
            &instrument.code,
            &reductions,
            &drawn,
            held,
            instrument.scale,
        );
        if !sources.is_empty() {
            pools.push(Pool {
                id: instrument.code.clone(),
                pollutant,
                area: Some(region),
                sources,
            });
        }
    }
    let register: BTreeMap<String, ledger::enterprise::Enterprise> = store
        .enterprises()
        .await?
        .into_iter()
        .map(|e| (e.credit_code.to_string(), e))
        .collect();
    // Every registered district, and every current district of the embedded GB/T 2260 list, is
    // known to the round, so a policy may name one with no applicant.
    let listed: Vec<String> = ledger::enterprise::ClassificationLists::embedded()
        .map(|lists| {
            lists
                .districts()
                .iter()
                .map(|d| format!("{:06}", d.code.value()))
                .collect()
        })
        .unwrap_or_default();
    let mut districts: Vec<String> = register
        .values()
        .map(|e| format!("{:06}", e.district.value()))
        .chain(listed)
        .collect();
    districts.sort();
    districts.dedup();
    let mut applications = Vec::with_capacity(input.applications.len());
    for mut application in input.applications {
        let Some(enterprise) = register.get(&application.enterprise) else {
            return Err(ReallocationError::UnknownEnterprise {
                application: application.id,
                enterprise: application.enterprise,
            });
        };
        complete_from_register(&mut application, enterprise);
        applications.push(application);
    }
    Ok(Round {
        id: input.id,
        pollutants: pollutants.into_values().collect(),
        districts,
        basins,
        airsheds,
        pools,
        applications,
        policy: input.policy,
    })
}

/// The reserve's certified reductions of one instrument not yet drawn, oldest drawn first, with
/// the total capped at what the reserve holds.
fn sources(
    instrument: &str,
    reductions: &[ledger::book::Reduction],
    drawn: &BTreeMap<String, Decimal>,
    held: Decimal,
    scale: u32,
) -> Vec<Source> {
    let mut remaining: Vec<(String, Decimal)> = reductions
        .iter()
        .filter(|r| r.instrument == instrument)
        .map(|r| {
            (
                r.id.clone(),
                Decimal::new(r.units, scale) - drawn.get(&r.id).copied().unwrap_or_default(),
            )
        })
        .filter(|(_, left)| *left > Decimal::ZERO)
        .collect();
    let mut excess = remaining.iter().map(|(_, q)| *q).sum::<Decimal>() - held.max(Decimal::ZERO);
    for (_, left) in remaining.iter_mut() {
        if excess <= Decimal::ZERO {
            break;
        }
        let cut = (*left).min(excess);
        *left -= cut;
        excess -= cut;
    }
    remaining
        .into_iter()
        .filter(|(_, q)| *q > Decimal::ZERO)
        .map(|(reduction_id, quantity)| Source {
            reduction_id,
            quantity,
            unit: None,
        })
        .collect()
}

/// What earlier committed rounds drew from each reduction, read from their memos.
async fn previous_draws(ledger: &Ledger) -> Result<BTreeMap<String, Decimal>, LedgerError> {
    let mut drawn = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = ledger
            .store()
            .journal_keyed(ROUND_KEY_PREFIX, after, 1_000)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for stored in &page {
            let entry: ledger::journal::Entry = serde_json::from_str(&stored.body)?;
            if let Some(memo) = entry
                .request
                .memo
                .and_then(|m| serde_json::from_str::<RoundMemo>(&m).ok())
            {
                for flow in memo.flows {
                    *drawn.entry(flow.reduction).or_default() += flow.drawn;
                }
            }
        }
    }
    Ok(drawn)
}

/// The register is the truth for who an applicant is: grade, zoning, distance, district, tags.
fn complete_from_register(
    application: &mut Application,
    enterprise: &ledger::enterprise::Enterprise,
) {
    use ledger::enterprise::{CreditGrade as Grade, ZoningType};
    application.credit = match enterprise.credit_grade {
        Some(Grade::Exemplary) => CreditGrade::Exemplary,
        Some(Grade::Warning) => CreditGrade::Warning,
        Some(Grade::Poor) => CreditGrade::Poor,
        Some(Grade::Good) | None => CreditGrade::Good,
    };
    application.location.zone = match enterprise.zoning {
        ZoningType::PriorityProtection => ZoneType::PriorityProtection,
        ZoningType::KeyControl => ZoneType::KeyControl,
        ZoningType::General => ZoneType::General,
    };
    application.location.river_distance_m = Some(enterprise.distance_to_river_m);
    application.location.district = format!("{:06}", enterprise.district.value());
    // Classification (高技术, 战新, 两高) and sector (chemical, paper, …) tags are the register's
    // alone: an applicant's own are dropped, so leaving out `chemical` cannot pass the Yangtze
    // gate and claiming `high_tech_manufacturing` cannot buy a tier. Project tags stay its own.
    application.tags.retain(|tag| !register_owned(tag));
    let tags = enterprise
        .tags
        .declared
        .iter()
        .map(|t| t.name().to_owned())
        .chain(
            enterprise
                .tags
                .derived
                .iter()
                .filter(|d| !d.partial)
                .map(|d| d.tag.name().to_owned()),
        )
        .chain(
            enterprise
                .industry_codes
                .iter()
                .flat_map(|code| code.sectors())
                .map(str::to_owned),
        );
    for tag in tags {
        if !application.tags.contains(&tag) {
            application.tags.push(tag);
        }
    }
}

/// Tags only the register may give an applicant.
fn register_owned(tag: &str) -> bool {
    ledger::enterprise::SECTOR_TAGS.contains(&tag)
        || ledger::enterprise::ClassificationTag::parse(tag).is_ok()
}

fn pool_instruments(round: &Round) -> BTreeMap<String, String> {
    round
        .pools
        .iter()
        .map(|p| (p.id.clone(), p.id.clone()))
        .collect()
}

/// The ledger request that posts an allocation: grants, retired surplus, and the provenance memo.
pub fn commit_request(
    allocation: &Allocation,
    pool_instrument: &BTreeMap<String, String>,
) -> Request {
    let mut actions = Vec::new();
    for application in &allocation.applications {
        for grant in &application.grants {
            let Some(instrument) = grant.pool.as_ref().and_then(|p| pool_instrument.get(p)) else {
                continue;
            };
            if grant.granted > Decimal::ZERO {
                actions.push(Action::Allocate {
                    instrument: instrument.clone(),
                    to: application.enterprise.clone(),
                    amount: Quantity(grant.granted),
                });
            }
            let surplus = grant.drawn - grant.granted;
            if surplus > Decimal::ZERO {
                actions.push(Action::Cancel {
                    instrument: instrument.clone(),
                    from: Party::Reserve,
                    amount: Quantity(surplus),
                    reason: format!(
                        "replacement-ratio surplus, round {} application {}",
                        allocation.round_id, application.id
                    ),
                });
            }
        }
    }
    let enterprise_of: BTreeMap<&str, &str> = allocation
        .applications
        .iter()
        .map(|a| (a.id.as_str(), a.enterprise.as_str()))
        .collect();
    let memo = RoundMemo {
        round: allocation.round_id.clone(),
        policy_version: allocation.policy_version.clone(),
        flows: allocation
            .flows
            .iter()
            .map(|f| MemoFlow {
                reduction: f.reduction_id.clone(),
                instrument: pool_instrument
                    .get(&f.pool)
                    .cloned()
                    .unwrap_or_else(|| f.pool.clone()),
                application: f.application.clone(),
                enterprise: enterprise_of
                    .get(f.application.as_str())
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
                drawn: f.quantity,
            })
            .collect(),
    };
    Request {
        idempotency_key: commit_key(&allocation.round_id),
        actor: "bureau".into(),
        memo: serde_json::to_string(&memo).ok(),
        actions,
    }
}
