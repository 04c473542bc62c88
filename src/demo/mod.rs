//! `ets demo`: a synthetic Chongqing-like year on the ledger, end to end, with a readable report.
//! Everything goes through the same ledger requests a bureau or an enterprise would send, and the
//! journal is verified at the end. The database is left in place for `ets ledger …` to explore.

mod dataset;
mod days;
pub(crate) mod round;
mod session;

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{Duration, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ledger::{Action, Ledger, Measure, Party, Purpose, Quantity, Request};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use dataset::{AIRSHEDS, BASINS, DISTRICTS, Firm, POLLUTANTS, right_code};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Number of synthetic enterprises.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    enterprises: u32,
    /// Seed of the synthetic dataset: the same seed gives the same dataset.
    #[arg(long, default_value_t = 2020)]
    seed: u64,
    /// Bilateral trades to settle.
    #[arg(long, default_value_t = 200)]
    trades: u32,
    /// Start from an empty database, deleting an existing SQLite file first.
    #[arg(long)]
    fresh: bool,
}

const CNY: &str = "CNY";
const CEA: &str = "CEA.2025";
/// Benchmark prices (CNY per tonne) around which synthetic trades are priced.
const PRICE_CNY_PER_T: [i64; 4] = [20_000, 24_000, 9_760, 12_000];

pub async fn run(args: DemoArgs, database_url: &str) -> Result<()> {
    let started = Instant::now();
    if args.fresh {
        remove_sqlite_file(database_url)?;
    }
    let (ledger, clock, days) = open_ledger(database_url).await?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let firms = dataset::firms(&mut rng, args.enterprises as usize);
    let mut report = Report::default();

    step("register basins, airsheds, instruments and enterprises");
    submit(&ledger, "setup", setup_actions()).await?;
    for (n, chunk) in progress(&firms, 100, "registering").enumerate() {
        let actions = chunk.iter().map(register).collect::<Result<Vec<_>>>()?;
        submit(&ledger, &format!("register-{n}"), actions).await?;
    }

    step(
        "initial allocation: regional totals issued to the reserve, rights allocated to each enterprise",
    );
    allocate_initial(&ledger, &firms, &mut report).await?;

    step("upgrades free capacity: certified reductions move into the bureau's reserve");
    certify_reductions(&ledger, &firms, &mut rng, &mut report).await?;

    step("reallocation round: freed capacity to applicants by priority tier (optimizer + HiGHS)");
    let round = round::run(&ledger, &firms, &mut rng).await?;

    step("bilateral trades settle delivery-versus-payment through holds");
    trade(&ledger, &firms, &mut rng, args.trades, &mut report).await?;

    step("a seasonal NOx permit, valid through the first trading day only");
    days::issue_seasonal(&ledger, &firms, days[0]).await?;

    step(&format!(
        "market: reserve auction of carbon allowances, then {} trading days with their closes (durable command log)",
        days.len()
    ));
    let market = session::session(&ledger, &clock, &days, &firms, &mut rng).await?;

    step("year-end compliance: carbon allowances surrendered against verified emissions");
    comply(&ledger, &firms, &mut rng, &mut report).await?;

    step("verify: replay the journal, recompute every balance and the hash chain");
    let verified = ledger::verify(ledger.store()).await?;
    print_report(
        &ledger,
        &firms,
        &report,
        &verified,
        database_url,
        started,
        &round,
        &market,
    )
    .await?;
    if !verified.is_ok() {
        bail!("verification found {} problem(s)", verified.problem_count);
    }
    Ok(())
}

/// The demo's ledger, empty, on the demo's clock set before its first trading day (it replays
/// the last few: see `days.rs`).
async fn open_ledger(
    database_url: &str,
) -> Result<(Ledger, days::DemoClock, Vec<chrono::NaiveDate>)> {
    let calendar = market::TradingCalendar::default();
    let days = days::demo_days(&calendar, Utc::now())?;
    let clock = days::DemoClock::starting(calendar.open_of(days[0])? - Duration::hours(1));
    let ledger = Ledger::open(database_url, clock.options())
        .await
        .with_context(|| format!("opening the ledger at {database_url}"))?;
    if ledger.store().head().await?.0 > 1 {
        bail!(
            "{database_url} already holds a ledger; run `ets demo --fresh` to start over, or pass another --database-url"
        );
    }
    Ok((ledger, clock, days))
}

#[derive(Default)]
struct Report {
    freed: BTreeMap<String, Decimal>,
    reductions: usize,
    trades: usize,
    traded_t: Decimal,
    traded_cny: Decimal,
    refused_trades: usize,
    surrendered: Decimal,
    compliant: usize,
    short: Vec<(String, Decimal)>,
}

fn step(text: &str) {
    eprintln!("\n▶ {text}");
}

fn progress<'a, T>(items: &'a [T], chunk: usize, label: &str) -> impl Iterator<Item = &'a [T]> {
    let bar = ProgressBar::new(items.len() as u64).with_message(label.to_owned());
    bar.set_style(
        ProgressStyle::with_template("  {msg:12} [{bar:40}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    items.chunks(chunk).inspect(move |c| {
        bar.inc(c.len() as u64);
        if bar.position() == bar.length().unwrap_or(0) {
            bar.finish();
        }
    })
}

async fn submit(ledger: &Ledger, key: &str, actions: Vec<Action>) -> Result<ledger::Receipt> {
    ledger
        .submit(Request {
            idempotency_key: format!("demo-{key}"),
            actor: "bureau".into(),
            memo: None,
            actions,
        })
        .await
        .with_context(|| format!("request {key}"))
}

fn q(units: i64, scale: u32) -> Quantity {
    Quantity(Decimal::new(units, scale))
}

fn setup_actions() -> Vec<Action> {
    let mut actions = Vec::new();
    for (code, name) in BASINS {
        actions.push(action(serde_json::json!({"type": "define_region", "region": {"code": code, "name": name, "kind": "basin"}})));
    }
    for (code, name) in AIRSHEDS {
        actions.push(action(serde_json::json!({"type": "define_region", "region": {"code": code, "name": name, "kind": "airshed"}})));
    }
    for pollutant in POLLUTANTS {
        let regions: &[(&str, &str)] = if matches!(pollutant, "COD" | "NH3-N") {
            BASINS
        } else {
            AIRSHEDS
        };
        for (region, _) in regions {
            actions.push(action(serde_json::json!({"type": "define_instrument", "instrument": {
                "code": format!("{pollutant}.{region}.2024-2028"), "kind": "discharge_right", "pollutant": pollutant,
                "region": region, "valid_from": "2024-01-01", "valid_to": "2028-12-31", "scale": 3, "unit": "t/a"}})));
        }
    }
    actions.push(action(serde_json::json!({"type": "define_instrument", "instrument": {"code": CEA, "kind": "carbon_allowance", "vintage": 2025, "scale": 0, "unit": "tCO2e"}})));
    actions.push(action(serde_json::json!({"type": "define_instrument", "instrument": {"code": CNY, "kind": "cash", "currency": "CNY", "scale": 2, "unit": "CNY"}})));
    actions
}

/// Actions written as JSON read like the API's requests; they are fixed here, so parsing succeeds.
fn action(value: serde_json::Value) -> Action {
    serde_json::from_value(value).unwrap_or(Action::ExpireHolds {})
}

fn register(firm: &Firm) -> Result<Action> {
    Ok(serde_json::from_value(
        serde_json::json!({"type": "register_enterprise", "enterprise": {
        "credit_code": firm.code, "name": firm.name, "district": firm.district.code,
        "industry_codes": [firm.sector.industry], "declared_tags": firm.sector.tags,
        "credit_grade": firm.credit_grade, "zoning": firm.zoning, "distance_to_river_m": firm.distance_m,
        "permit_number": format!("{}001P", firm.code)}}),
    )?)
}

async fn allocate_initial(ledger: &Ledger, firms: &[Firm], report: &mut Report) -> Result<()> {
    let _ = report;
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for firm in firms {
        for (p, pollutant) in POLLUTANTS.iter().enumerate() {
            *totals
                .entry(right_code(pollutant, firm.district))
                .or_default() += firm.rights_kg[p] as i64;
        }
        *totals.entry(CEA.into()).or_default() += firm.carbon_t as i64;
    }
    // The regional total (总量) is what is allocated plus a 5% government reserve.
    let issue = totals
        .iter()
        .map(|(instrument, units)| {
            let scale = if instrument == CEA { 0 } else { 3 };
            Action::Issue {
                instrument: instrument.clone(),
                to: Party::Reserve,
                amount: q(units + units / 20, scale),
            }
        })
        .collect();
    submit(ledger, "issue-totals", issue).await?;
    for (n, chunk) in progress(firms, 50, "allocating").enumerate() {
        let mut actions = Vec::new();
        for firm in chunk {
            for (p, pollutant) in POLLUTANTS.iter().enumerate() {
                actions.push(Action::Allocate {
                    instrument: right_code(pollutant, firm.district),
                    to: firm.code.clone(),
                    amount: q(firm.rights_kg[p] as i64, 3),
                });
            }
            if firm.carbon_t > 0 {
                actions.push(Action::Allocate {
                    instrument: CEA.into(),
                    to: firm.code.clone(),
                    amount: q(firm.carbon_t as i64, 0),
                });
            }
            actions.push(Action::Deposit {
                instrument: CNY.into(),
                enterprise: firm.code.clone(),
                amount: q(500_000_000, 2),
            });
        }
        submit(ledger, &format!("allocate-{n}"), actions).await?;
    }
    Ok(())
}

async fn certify_reductions(
    ledger: &Ledger,
    firms: &[Firm],
    rng: &mut ChaCha8Rng,
    report: &mut Report,
) -> Result<()> {
    let measures = [
        Measure::Upgrade,
        Measure::Treatment,
        Measure::EnergySaving,
        Measure::CleanerProduction,
        Measure::Closure,
    ];
    let mut actions = Vec::new();
    for firm in firms.iter().filter(|f| f.sector.heavy) {
        if rng.random_range(0..100) >= 35 {
            continue;
        }
        let measure = measures[rng.random_range(0..measures.len())];
        let share = if measure == Measure::Closure {
            100
        } else {
            rng.random_range(15..45)
        };
        for (p, pollutant) in POLLUTANTS.iter().enumerate() {
            let units = firm.rights_kg[p] as i64 * share / 100;
            if units == 0 {
                continue;
            }
            let instrument = right_code(pollutant, firm.district);
            report.reductions += 1;
            *report.freed.entry(pollutant.to_string()).or_default() += Decimal::new(units, 3);
            actions.push(Action::CertifyReduction {
                reduction: format!("R-2025-{:04}", report.reductions),
                enterprise: firm.code.clone(),
                instrument,
                amount: q(units, 3),
                measure,
                evidence: format!(
                    "{measure:?} verified by the district ecology bureau, acceptance report {}-{}",
                    firm.district.code, report.reductions
                ),
            });
        }
    }
    submit(ledger, "certify-reductions", actions).await?;
    Ok(())
}

/// Each trade: the seller's rights and the buyer's cash are held, then both holds are posted in
/// one request (delivery versus payment), as the market settles.
async fn trade(
    ledger: &Ledger,
    firms: &[Firm],
    rng: &mut ChaCha8Rng,
    trades: u32,
    report: &mut Report,
) -> Result<()> {
    let expires = Utc::now() + Duration::hours(8);
    let bar = ProgressBar::new(u64::from(trades));
    for t in 0..trades {
        bar.inc(1);
        let seller = &firms[rng.random_range(0..firms.len())];
        let p = rng.random_range(0..POLLUTANTS.len());
        let instrument = right_code(POLLUTANTS[p], seller.district);
        let same_region: Vec<&Firm> = firms
            .iter()
            .filter(|f| {
                f.code != seller.code && right_code(POLLUTANTS[p], f.district) == instrument
            })
            .collect();
        if same_region.is_empty() {
            continue;
        }
        let buyer = same_region[rng.random_range(0..same_region.len())];
        let quantity_kg = (seller.rights_kg[p] as i64 / 10).max(1);
        let price_fen = PRICE_CNY_PER_T[p] * rng.random_range(90..110);
        let cash_fen = quantity_kg * price_fen / 1000;
        let (rights_hold, cash_hold) = (format!("trade-{t}-rights"), format!("trade-{t}-cash"));
        let hold = vec![
            Action::PlaceHold {
                hold: rights_hold.clone(),
                instrument: instrument.clone(),
                from: Party::Enterprise(seller.code.clone()),
                amount: q(quantity_kg, 3),
                expires_at: expires,
            },
            Action::PlaceHold {
                hold: cash_hold.clone(),
                instrument: CNY.into(),
                from: Party::Enterprise(buyer.code.clone()),
                amount: q(cash_fen, 2),
                expires_at: expires,
            },
        ];
        if submit(ledger, &format!("trade-{t}-hold"), hold)
            .await
            .is_err()
        {
            // The seller had already sold or surrendered those rights: nothing was held.
            report.refused_trades += 1;
            continue;
        }
        let settle = vec![
            Action::PostHold {
                hold: rights_hold,
                to: Party::Enterprise(buyer.code.clone()),
                amount: q(quantity_kg, 3),
                purpose: Purpose::Trade,
            },
            Action::PostHold {
                hold: cash_hold,
                to: Party::Enterprise(seller.code.clone()),
                amount: q(cash_fen, 2),
                purpose: Purpose::Trade,
            },
        ];
        submit(ledger, &format!("trade-{t}-settle"), settle).await?;
        report.trades += 1;
        report.traded_t += Decimal::new(quantity_kg, 3);
        report.traded_cny += Decimal::new(cash_fen, 2);
    }
    bar.finish_and_clear();
    Ok(())
}

async fn comply(
    ledger: &Ledger,
    firms: &[Firm],
    rng: &mut ChaCha8Rng,
    report: &mut Report,
) -> Result<()> {
    // What each enterprise holds now (after the auction and the trading, net of open orders'
    // holds): a surrender can only use that.
    let holdings: BTreeMap<String, i64> = ledger
        .store()
        .balances(None)
        .await?
        .into_iter()
        .filter(|b| b.instrument == CEA && b.kind == ledger::AccountKind::Holding)
        .map(|b| (b.owner, i64::try_from(b.balance.floor()).unwrap_or(0)))
        .collect();
    let mut actions = Vec::new();
    for firm in firms.iter().filter(|f| f.carbon_t > 0) {
        let verified = firm.carbon_t as i64 * rng.random_range(85..115) / 100;
        let held = holdings.get(&firm.code).copied().unwrap_or(0);
        let surrender = verified.min(held);
        if surrender > 0 {
            actions.push(Action::Surrender {
                instrument: CEA.into(),
                enterprise: firm.code.clone(),
                amount: q(surrender, 0),
                compliance_year: 2025,
            });
            report.surrendered += Decimal::from(surrender);
        }
        if verified > held {
            report
                .short
                .push((firm.name.clone(), Decimal::from(verified - held)));
        } else {
            report.compliant += 1;
        }
    }
    submit(ledger, "surrender-2025", actions).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn print_report(
    ledger: &Ledger,
    firms: &[Firm],
    report: &Report,
    verified: &ledger::VerifyReport,
    database_url: &str,
    started: Instant,
    round: &api::services::reallocation::RoundOutcome,
    market: &session::MarketReport,
) -> Result<()> {
    let balances = ledger.store().balances(None).await?;
    let mut by_instrument: BTreeMap<&str, BTreeMap<&str, Decimal>> = BTreeMap::new();
    for b in &balances {
        let class = match (b.owner.as_str(), b.kind) {
            ("bureau", kind) => kind.as_str(),
            _ => "enterprises",
        };
        *by_instrument
            .entry(b.instrument.as_str())
            .or_default()
            .entry(class)
            .or_default() += b.balance;
    }
    println!("\n═══ ETS demo: a synthetic Chongqing year ═══");
    println!(
        "{} enterprises in {} districts, {} basins and {} airsheds",
        firms.len(),
        DISTRICTS.len(),
        BASINS.len(),
        AIRSHEDS.len()
    );
    let mut sectors: BTreeMap<&str, usize> = BTreeMap::new();
    for firm in firms {
        *sectors.entry(firm.sector.name).or_default() += 1;
    }
    println!(
        "sectors: {}",
        sectors
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "\nfreed capacity certified into the reserve ({} reductions):",
        report.reductions
    );
    for (pollutant, tonnes) in &report.freed {
        println!("  {pollutant:<6} {tonnes:>14} t/a");
    }
    round::print(round);
    println!(
        "\ntrades settled delivery-versus-payment: {} ({} t, CNY {}); {} refused for want of rights",
        report.trades, report.traded_t, report.traded_cny, report.refused_trades
    );
    session::print(market);
    println!(
        "\ncompliance 2025: {} covered enterprises surrendered {} tCO2e; {} compliant, {} short",
        report.compliant + report.short.len(),
        report.surrendered,
        report.compliant,
        report.short.len()
    );
    for (name, shortfall) in report.short.iter().take(5) {
        println!("  short: {name} by {shortfall} tCO2e");
    }
    println!(
        "\nbalances by instrument (issuance is minus what was issued; every row sums to zero):"
    );
    println!(
        "  {:<26} {:>16} {:>16} {:>16} {:>14} {:>12} {:>10}",
        "instrument", "issuance", "reserve", "enterprises", "surrendered", "cancelled", "escrow"
    );
    for (instrument, classes) in &by_instrument {
        let get = |k: &str| classes.get(k).copied().unwrap_or_default();
        let settlement = get("settlement_bank");
        let issued = if settlement.is_zero() {
            get("issuance")
        } else {
            settlement
        };
        println!(
            "  {:<26} {:>16} {:>16} {:>16} {:>14} {:>12} {:>10}",
            instrument,
            issued,
            get("reserve"),
            get("enterprises"),
            get("surrender"),
            get("cancellation"),
            get("escrow")
        );
    }
    println!();
    crate::cli_ledger::print_verify(verified);
    println!(
        "\ndone in {:.1} s. The ledger is in {database_url}; explore it with:",
        started.elapsed().as_secs_f64()
    );
    println!("  ets ledger balances --owner {}", firms[0].code);
    println!("  ets ledger journal --limit 10");
    println!("  ets ledger verify");
    Ok(())
}

fn remove_sqlite_file(database_url: &str) -> Result<()> {
    let Some(path) = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
    else {
        bail!(
            "--fresh only deletes SQLite files; for PostgreSQL, point --database-url at an empty database"
        );
    };
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        if std::path::Path::new(&file).exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {file}"))?;
        }
    }
    Ok(())
}
