//! Capacity applications: an enterprise asks the bureau for freed discharge capacity for one
//! project. Applications are kept in the API's own table `api_applications` (in the ledger's
//! database, so every server process sees them) until a reallocation round decides them.
//!
//! An application is stored as the optimizer's [`optimizer::Application`]: the applicant gives the
//! project, the requested quantities (needed together, in fixed proportion), the minimum viable
//! share, where the project discharges (basin and airshed), project tags, value added and jobs;
//! the server sets the id and the filing time; credit grade, zoning, river distance, district and
//! the register's classification tags are taken from the enterprise register when a round is
//! built ([`crate::services::reallocation::build_round`]), never from the applicant.
//!
//! Lifecycle: `pending` → `withdrawn` (by the applicant or the bureau), or → `granted`, `partial`,
//! `none` or `excluded` when a round that included it is committed.

use std::collections::{BTreeMap, BTreeSet};

use ledger::Ledger;
use ledger::instrument::{InstrumentKind, Medium, RegionKind};
use optimizer::{Application, CreditGrade, Location, ZoneType};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::db::{Db, on_db};
use crate::error::{ApiError, FieldProblem};

/// The API's tables for applications and committed rounds (plain SQL valid on SQLite and
/// PostgreSQL, created with the other API tables).
pub const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS api_applications (
        id TEXT PRIMARY KEY,
        enterprise TEXT NOT NULL,
        status TEXT NOT NULL,
        round_id TEXT,
        application TEXT NOT NULL,
        result TEXT,
        filed_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS api_applications_by_enterprise ON api_applications (enterprise, id)",
    "CREATE TABLE IF NOT EXISTS api_rounds (
        id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        policy_version TEXT NOT NULL,
        request TEXT NOT NULL,
        result TEXT NOT NULL,
        journal_seq BIGINT,
        created_at TEXT NOT NULL,
        committed_at TEXT
    )",
];

/// Most pollutants one project may request together.
pub const REQUESTS_MAX: usize = 8;
/// Most project tags on one application.
pub const TAGS_MAX: usize = 16;
/// Longest project name.
pub const PROJECT_LEN_MAX: usize = 200;
/// Most applications one enterprise may have pending at once.
pub const PENDING_PER_ENTERPRISE_MAX: usize = 100;
/// Largest page of a listing.
pub const LIST_MAX: usize = 1_000;

/// What an applicant submits (decimals already parsed; checked by [`validate`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Filing {
    pub enterprise: String,
    pub project: String,
    pub requests: Vec<(String, Decimal)>,
    pub min_viable_share: Decimal,
    pub basin: String,
    pub airshed: String,
    pub tags: Vec<String>,
    pub value_added_cny_per_year: Decimal,
    pub jobs: u32,
}

/// The status of an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Withdrawn,
    Granted,
    Partial,
    None,
    Excluded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Withdrawn => "withdrawn",
            Status::Granted => "granted",
            Status::Partial => "partial",
            Status::None => "none",
            Status::Excluded => "excluded",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "pending" => Status::Pending,
            "withdrawn" => Status::Withdrawn,
            "granted" => Status::Granted,
            "partial" => Status::Partial,
            "none" => Status::None,
            "excluded" => Status::Excluded,
            _ => return None,
        })
    }

    /// The application's status once a committed round decided it.
    pub fn of(result: optimizer::Status) -> Status {
        match result {
            optimizer::Status::Full => Status::Granted,
            optimizer::Status::Partial => Status::Partial,
            optimizer::Status::None => Status::None,
            optimizer::Status::Excluded => Status::Excluded,
        }
    }
}

/// A stored application.
#[derive(Debug, Clone)]
pub struct Stored {
    pub application: Application,
    pub status: Status,
    pub round_id: Option<String>,
    /// The committed round's result for this application.
    pub result: Option<optimizer::ApplicationResult>,
    pub filed_at: String,
    pub updated_at: String,
}

/// What the register currently offers a round: per pollutant its medium and scale (from the
/// discharge rights valid today), and the basins and airsheds defined.
pub struct Register {
    pub pollutants: BTreeMap<String, (Medium, u32)>,
    pub basins: BTreeSet<String>,
    pub airsheds: BTreeSet<String>,
    pub enterprises: BTreeSet<String>,
}

/// Reads what [`validate`] checks against.
pub async fn register(ledger: &Ledger) -> Result<Register, ApiError> {
    let store = ledger.store();
    let today = ledger.now().date_naive();
    // Instruments first: a pollutant is defined before any instrument of it, so every
    // instrument read finds its pollutant in the later read.
    let instruments = store.instruments().await?;
    let media = store.pollutant_media().await?;
    let mut pollutants: BTreeMap<String, (Medium, u32)> = BTreeMap::new();
    for instrument in instruments {
        if let InstrumentKind::DischargeRight {
            pollutant,
            valid_from,
            valid_to,
            ..
        } = &instrument.kind
            && *valid_from <= today
            && today <= *valid_to
        {
            let Some(&medium) = media.get(pollutant) else {
                return Err(ApiError::Internal(format!(
                    "instrument {} names pollutant {pollutant}, which the register lacks",
                    instrument.code
                )));
            };
            let entry = pollutants
                .entry(pollutant.clone())
                .or_insert((medium, instrument.scale));
            entry.1 = entry.1.max(instrument.scale);
        }
    }
    let (mut basins, mut airsheds) = (BTreeSet::new(), BTreeSet::new());
    for region in store.regions().await? {
        match region.kind {
            RegionKind::Basin => basins.insert(region.code),
            RegionKind::Airshed => airsheds.insert(region.code),
        };
    }
    let enterprises = store
        .enterprises()
        .await?
        .into_iter()
        .map(|e| e.credit_code.to_string())
        .collect();
    Ok(Register {
        pollutants,
        basins,
        airsheds,
        enterprises,
    })
}

/// Checks a filing against the register and lists every problem, each with the body field at
/// fault; on success, the optimizer's application (register-derived fields are placeholders that
/// the round replaces).
pub fn validate(
    filing: &Filing,
    register: &Register,
    id: &str,
    filed_at_unix_s: i64,
) -> Result<Application, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut bad = |field: &str, reason: String| problems.push(FieldProblem::new(field, reason));
    if !register.enterprises.contains(&filing.enterprise) {
        bad(
            "enterprise",
            format!(
                "enterprise {} is not registered; the bureau registers it first",
                filing.enterprise
            ),
        );
    }
    let project = filing.project.trim();
    if project.is_empty() || project.chars().count() > PROJECT_LEN_MAX {
        bad(
            "project",
            format!("must be 1 to {PROJECT_LEN_MAX} characters"),
        );
    }
    if filing.requests.is_empty() || filing.requests.len() > REQUESTS_MAX {
        bad(
            "requests",
            format!(
                "must list 1 to {REQUESTS_MAX} pollutants, got {}",
                filing.requests.len()
            ),
        );
    }
    let mut seen = BTreeSet::new();
    let (mut water, mut air) = (false, false);
    for (index, (pollutant, quantity)) in filing.requests.iter().enumerate() {
        if !seen.insert(pollutant.as_str()) {
            bad(
                &format!("requests[{index}].pollutant"),
                format!("{pollutant} is requested twice; list each pollutant once"),
            );
        }
        match register.pollutants.get(pollutant) {
            None => {
                let known: Vec<&str> = register.pollutants.keys().map(String::as_str).collect();
                bad(
                    &format!("requests[{index}].pollutant"),
                    format!(
                        "unknown pollutant {pollutant:?}: no discharge right for it is valid today (known: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
            Some((medium, scale)) => {
                match medium {
                    Medium::Water => water = true,
                    Medium::Air => air = true,
                }
                if quantity.normalize().scale() > *scale {
                    bad(
                        &format!("requests[{index}].quantity"),
                        format!(
                            "{quantity} has more than the {scale} decimal places of {pollutant}; amounts are never rounded"
                        ),
                    );
                }
            }
        }
        if *quantity <= Decimal::ZERO {
            bad(
                &format!("requests[{index}].quantity"),
                format!("must be positive, got {quantity}"),
            );
        }
    }
    if filing.min_viable_share < Decimal::ZERO || filing.min_viable_share > Decimal::ONE {
        bad(
            "min_viable_share",
            format!(
                "must be within [0, 1] (0 = any part helps, 1 = all or nothing), got {}",
                filing.min_viable_share
            ),
        );
    }
    if filing.value_added_cny_per_year < Decimal::ZERO {
        bad(
            "value_added_cny_per_year",
            format!(
                "must not be negative, got {}",
                filing.value_added_cny_per_year
            ),
        );
    }
    for (field, code, known, needed) in [
        ("basin", &filing.basin, &register.basins, water),
        ("airshed", &filing.airshed, &register.airsheds, air),
    ] {
        if !known.contains(code) {
            let why = if needed {
                "the project discharges a pollutant counted there"
            } else {
                "every site has one"
            };
            bad(
                field,
                format!(
                    "unknown {field} {code:?} ({why}); known: {}",
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
    if filing.tags.len() > TAGS_MAX {
        bad("tags", format!("at most {TAGS_MAX} tags"));
    }
    for (index, tag) in filing.tags.iter().enumerate() {
        let ok = !tag.is_empty()
            && tag.len() <= 64
            && tag
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            bad(
                &format!("tags[{index}]"),
                format!("{tag:?}: a tag is 1 to 64 of a-z, 0-9, '_' and '-'"),
            );
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Application {
        id: id.to_owned(),
        enterprise: filing.enterprise.clone(),
        project: project.to_owned(),
        requests: filing
            .requests
            .iter()
            .map(|(pollutant, quantity)| optimizer::Request {
                pollutant: pollutant.clone(),
                quantity: quantity.normalize(),
                unit: None,
            })
            .collect(),
        min_viable_share: filing.min_viable_share,
        location: Location {
            // Replaced from the register when a round is built.
            district: String::new(),
            basin: filing.basin.clone(),
            airshed: filing.airshed.clone(),
            zone: ZoneType::General,
            river_distance_m: None,
        },
        tags: filing.tags.clone(),
        credit: CreditGrade::Good,
        value_added_cny_per_year: filing.value_added_cny_per_year,
        jobs: filing.jobs,
        filed_at_unix_s,
    })
}

/// A new application id: `app-` and 16 random hex digits.
pub fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0_u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("app-{}", hex::encode(bytes))
}

/// Counts an enterprise's pending applications.
pub async fn pending_count(db: &Db, enterprise: &str) -> Result<usize, ApiError> {
    let sql =
        "SELECT COUNT(*) AS n FROM api_applications WHERE enterprise = $1 AND status = 'pending'";
    let n: i64 = on_db!(db, |pool| sqlx::query(sql)
        .bind(enterprise)
        .fetch_one(pool)
        .await?
        .try_get("n")?);
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Stores a new pending application and, in the same transaction, the answer to replay for
/// `(principal, idempotency key)`. If another request stored that key first, nothing is written
/// and `false` is returned (the caller replays the stored answer).
pub async fn insert(
    db: &Db,
    now: chrono::DateTime<chrono::Utc>,
    application: &Application,
    replay: &crate::idempotency::Keyed<'_>,
) -> Result<bool, ApiError> {
    let json = serde_json::to_string(application)
        .map_err(|error| ApiError::Internal(format!("encoding an application: {error}")))?;
    let now = ledger::journal::format_time(now);
    let insert = "INSERT INTO api_applications (id, enterprise, status, round_id, application, result, filed_at, updated_at)
                  VALUES ($1, $2, 'pending', NULL, $3, NULL, $4, $4)";
    let done = on_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        if !crate::idempotency::store_keyed!(tx, replay, now) {
            false
        } else {
            sqlx::query(insert)
                .bind(&application.id)
                .bind(&application.enterprise)
                .bind(&json)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            true
        }
    });
    Ok(done)
}

/// Withdraws a pending application (and keeps the answer to replay); `Ok(false)` if it is not
/// pending (any more).
pub async fn withdraw(
    db: &Db,
    id: &str,
    now: &str,
    replay: &crate::idempotency::Keyed<'_>,
) -> Result<bool, ApiError> {
    let sql = "UPDATE api_applications SET status = 'withdrawn', updated_at = $1 WHERE id = $2 AND status = 'pending'";
    let done = on_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let changed = sqlx::query(sql)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 1 && crate::idempotency::store_keyed!(tx, replay, now) {
            tx.commit().await?;
            true
        } else {
            false
        }
    });
    Ok(done)
}

const COLUMNS: &str = "id, status, round_id, application, result, filed_at, updated_at";

/// One application by id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Stored>, ApiError> {
    let sql = format!("SELECT {COLUMNS} FROM api_applications WHERE id = $1");
    let rows = on_db!(db, |pool| {
        let rows = sqlx::query(&sql).bind(id).fetch_all(pool).await?;
        rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?
    });
    Ok(rows.into_iter().next())
}

/// Applications in id order after `after`: one enterprise's, or everyone's; optionally of one
/// status.
pub async fn list(
    db: &Db,
    enterprise: Option<&str>,
    status: Option<Status>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Stored>, ApiError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_applications
         WHERE (CAST($1 AS TEXT) IS NULL OR enterprise = CAST($1 AS TEXT))
           AND (CAST($2 AS TEXT) IS NULL OR status = CAST($2 AS TEXT))
           AND (CAST($3 AS TEXT) IS NULL OR id > CAST($3 AS TEXT))
         ORDER BY id LIMIT $4"
    );
    let limit = i64::try_from(limit.min(LIST_MAX)).unwrap_or(1);
    let rows = on_db!(db, |pool| {
        let rows = sqlx::query(&sql)
            .bind(enterprise)
            .bind(status.map(Status::as_str))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
        rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?
    });
    Ok(rows)
}

/// Every pending application, in id order.
pub async fn pending(db: &Db) -> Result<Vec<Stored>, ApiError> {
    let sql =
        format!("SELECT {COLUMNS} FROM api_applications WHERE status = 'pending' ORDER BY id");
    let rows = on_db!(db, |pool| {
        let rows = sqlx::query(&sql).fetch_all(pool).await?;
        rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?
    });
    Ok(rows)
}

fn stored<R: Row>(row: &R) -> Result<Stored, ApiError>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    let corrupt = |what: &str, error: String| {
        ApiError::Internal(format!("api_applications: bad {what}: {error}"))
    };
    let status: String = row.try_get("status")?;
    let application: String = row.try_get("application")?;
    let result: Option<String> = row.try_get("result")?;
    Ok(Stored {
        application: serde_json::from_str(&application)
            .map_err(|e| corrupt("application", e.to_string()))?,
        status: Status::parse(&status).ok_or_else(|| corrupt("status", status.clone()))?,
        round_id: row.try_get("round_id")?,
        result: match result {
            Some(text) => {
                Some(serde_json::from_str(&text).map_err(|e| corrupt("result", e.to_string()))?)
            }
            None => None,
        },
        filed_at: row.try_get("filed_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
