//! Reallocation rounds over HTTP: the pending applications (and any the bureau enters inline)
//! meet the reserve's freed capacity under a policy; a dry run returns the published explanation
//! and writes nothing; a commit posts the grants as one idempotent ledger request
//! (`reallocation-round/<id>`, see [`crate::services::reallocation`]) and keeps the published
//! result in `api_rounds`, so that a second commit of the same round answers the same result and
//! writes nothing new.
//!
//! A commit is crash-safe: the planned result and ledger request are stored first (state
//! `committing`), then submitted, then marked `committed` together with the applications'
//! statuses. A retry of an interrupted commit re-submits the *stored* request (the ledger replays
//! it if it was already posted), never a re-planned one.

use std::collections::{BTreeMap, BTreeSet};

use ledger::{Ledger, LedgerError, Request};
use optimizer::{Allocation, Application, Policy};
use sqlx::Row;

use crate::db::{Db, on_db};
use crate::error::{ApiError, FieldProblem};
use crate::services::applications::{self, Status};
use crate::services::reallocation::{ReallocationError, RoundInput, build_round, commit_request};

/// Reallocation policies shipped with the server (`data/policies/`), by id; the id is the
/// policy's `version`, so a changed policy gets a new id and old rounds stay reproducible.
pub const POLICIES: [(&str, &str); 1] = [(
    "chongqing-2020-r1",
    include_str!("../../../data/policies/chongqing-2020-r1.toml"),
)];

/// Longest round id (the ledger key `reallocation-round/<id>` must fit in 128 characters).
pub const ROUND_ID_LEN_MAX: usize = 64;

/// The policy named `id`, parsed.
pub fn policy_by_id(id: &str) -> Result<Policy, FieldProblem> {
    let Some((_, text)) = POLICIES.iter().find(|(name, _)| *name == id) else {
        let known: Vec<&str> = POLICIES.iter().map(|(name, _)| *name).collect();
        return Err(FieldProblem::new(
            "policy_id",
            format!(
                "unknown policy {id:?}; stored policies: {}",
                known.join(", ")
            ),
        ));
    };
    parse_policy_toml(text).map_err(|reason| FieldProblem::new("policy_id", reason))
}

/// A policy given as TOML text.
pub fn parse_policy_toml(text: &str) -> Result<Policy, String> {
    toml::from_str(text).map_err(|error| format!("invalid policy TOML: {error}"))
}

/// Round ids: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn check_round_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= ROUND_ID_LEN_MAX
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::param(
            crate::error::Location::Path,
            "id",
            format!("a round id is 1 to {ROUND_ID_LEN_MAX} of A-Z, a-z, 0-9, '.', '_' and '-'"),
        ))
    }
}

/// What a round is made of, once the body is decoded.
pub struct RoundSpec {
    pub id: String,
    pub policy: Policy,
    /// Stored applications to include (default: every pending one).
    pub application_ids: Option<Vec<String>>,
    /// Applications the bureau enters directly (e.g. filed on paper), in the optimizer's form.
    pub inline: Vec<Application>,
}

/// A planned round: the optimizer's explanation and the ledger request that would post it.
pub struct Plan {
    pub allocation: Allocation,
    pub request: Request,
    /// The stored applications the round decides.
    pub stored_ids: Vec<String>,
}

/// Builds and solves the round; every problem with its input is listed in one
/// [`ApiError::Invalid`]. Writes nothing.
pub async fn plan(ledger: &Ledger, db: &Db, spec: RoundSpec) -> Result<Plan, ApiError> {
    let mut problems = Vec::new();
    let pending = applications::pending(db).await?;
    let mut stored: Vec<Application> = match &spec.application_ids {
        None => pending.into_iter().map(|s| s.application).collect(),
        Some(ids) => {
            let by_id: BTreeMap<&str, &applications::Stored> = pending
                .iter()
                .map(|s| (s.application.id.as_str(), s))
                .collect();
            let mut chosen = Vec::new();
            for (index, id) in ids.iter().enumerate() {
                match by_id.get(id.as_str()) {
                    Some(s) => chosen.push(s.application.clone()),
                    None => problems.push(FieldProblem::new(
                        format!("application_ids[{index}]"),
                        format!("{id:?} is not a pending application"),
                    )),
                }
            }
            chosen
        }
    };
    let stored_ids: BTreeSet<String> = stored.iter().map(|a| a.id.clone()).collect();
    let register: BTreeSet<String> = ledger
        .store()
        .enterprises()
        .await?
        .into_iter()
        .map(|e| e.credit_code.to_string())
        .collect();
    for (index, application) in spec.inline.iter().enumerate() {
        if stored_ids.contains(&application.id) {
            problems.push(FieldProblem::new(
                format!("applications[{index}].id"),
                format!(
                    "{:?} is already the id of a stored application",
                    application.id
                ),
            ));
        }
        if !register.contains(&application.enterprise) {
            problems.push(FieldProblem::new(
                format!("applications[{index}].enterprise"),
                format!(
                    "application {:?}: enterprise {} is not registered",
                    application.id, application.enterprise
                ),
            ));
        }
    }
    // A stored application's enterprise was registered when it applied; the register only grows.
    stored.retain(|a| register.contains(&a.enterprise));
    let inline: Vec<Application> = spec
        .inline
        .into_iter()
        .filter(|a| register.contains(&a.enterprise))
        .collect();
    let mut all = stored;
    all.extend(inline);
    let input = RoundInput {
        id: spec.id,
        policy: spec.policy,
        applications: all,
    };
    let mut round = match build_round(ledger, input).await {
        Ok(round) => round,
        Err(ReallocationError::Ledger(error)) => return Err(error.into()),
        Err(other) => return Err(ApiError::Internal(other.to_string())),
    };
    // Every defined basin and airshed is known to the round, so an applicant in an area with no
    // freed capacity is answered "no pool there" rather than refused.
    for region in ledger.store().regions().await? {
        let list = match region.kind {
            ledger::instrument::RegionKind::Basin => &mut round.basins,
            ledger::instrument::RegionKind::Airshed => &mut round.airsheds,
        };
        if !list.contains(&region.code) {
            list.push(region.code);
        }
    }
    let solved = tokio::task::spawn_blocking(move || {
        let allocation = optimizer::allocate(&round);
        (round, allocation)
    })
    .await
    .map_err(|error| ApiError::Internal(format!("the optimizer task failed: {error}")))?;
    let (round, allocation) = solved;
    let allocation = match allocation {
        Ok(allocation) => allocation,
        Err(optimizer::Error::InvalidRound(found)) => {
            problems.extend(found.iter().map(optimizer_problem));
            return Err(ApiError::Invalid(problems));
        }
        Err(error @ optimizer::Error::Solver { .. }) => {
            return Err(ApiError::Internal(error.to_string()));
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let instruments: BTreeMap<String, String> = round
        .pools
        .iter()
        .map(|p| (p.id.clone(), p.id.clone()))
        .collect();
    let request = commit_request(&allocation, &instruments);
    Ok(Plan {
        allocation,
        request,
        stored_ids: stored_ids.into_iter().collect(),
    })
}

/// Where an optimizer problem is, as a field of the round body.
fn optimizer_problem(problem: &optimizer::Problem) -> FieldProblem {
    use optimizer::Problem as P;
    let field = match problem {
        P::UnknownPollutant { context, .. }
        | P::UnknownRegion { context, .. }
        | P::NegativeQuantity { context, .. }
        | P::BeyondScale { context, .. }
        | P::InconsistentUnit { context, .. }
        | P::TooLarge { context, .. }
        | P::OutOfRange { context, .. } => context.clone(),
        P::BadRequest { application, .. } => format!("application `{application}`"),
        P::DuplicateId { kind, .. } | P::TooMany { kind, .. } => format!("{kind}s"),
        P::PoolArea { pool, .. } | P::DuplicatePool { first: pool, .. } => {
            format!("pool `{pool}`")
        }
        P::ScaleTooFine { pollutant, .. } => format!("pollutant `{pollutant}`"),
    };
    FieldProblem::new(field, problem.to_string())
}

/// A round as stored.
pub struct StoredRound {
    pub id: String,
    pub fingerprint: String,
    pub committed: bool,
    pub policy_version: String,
    pub request: Request,
    pub allocation: Allocation,
    pub journal_seq: Option<u64>,
    pub created_at: String,
    pub committed_at: Option<String>,
}

const ROUND_COLUMNS: &str = "id, fingerprint, state, policy_version, request, result, journal_seq, created_at, committed_at";

pub async fn get(db: &Db, id: &str) -> Result<Option<StoredRound>, ApiError> {
    let sql = format!("SELECT {ROUND_COLUMNS} FROM api_rounds WHERE id = $1");
    let rows = on_db!(db, |pool| {
        let rows = sqlx::query(&sql).bind(id).fetch_all(pool).await?;
        rows.iter()
            .map(stored_round)
            .collect::<Result<Vec<_>, _>>()?
    });
    Ok(rows.into_iter().next())
}

/// Committed rounds, newest id last, after `after`.
pub async fn list(
    db: &Db,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StoredRound>, ApiError> {
    let sql = format!(
        "SELECT {ROUND_COLUMNS} FROM api_rounds WHERE state = 'committed'
         AND (CAST($1 AS TEXT) IS NULL OR id > CAST($1 AS TEXT)) ORDER BY id LIMIT $2"
    );
    let limit = i64::try_from(limit).unwrap_or(1);
    let rows = on_db!(db, |pool| {
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
        rows.iter()
            .map(stored_round)
            .collect::<Result<Vec<_>, _>>()?
    });
    Ok(rows)
}

fn stored_round<R: Row>(row: &R) -> Result<StoredRound, ApiError>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<i64>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    let corrupt =
        |what: &str, error: String| ApiError::Internal(format!("api_rounds: bad {what}: {error}"));
    let state: String = row.try_get("state")?;
    let request: String = row.try_get("request")?;
    let result: String = row.try_get("result")?;
    let seq: Option<i64> = row.try_get("journal_seq")?;
    Ok(StoredRound {
        id: row.try_get("id")?,
        fingerprint: row.try_get("fingerprint")?,
        committed: state == "committed",
        policy_version: row.try_get("policy_version")?,
        request: serde_json::from_str(&request).map_err(|e| corrupt("request", e.to_string()))?,
        allocation: serde_json::from_str(&result).map_err(|e| corrupt("result", e.to_string()))?,
        journal_seq: seq.and_then(|s| u64::try_from(s).ok()),
        created_at: row.try_get("created_at")?,
        committed_at: row.try_get("committed_at")?,
    })
}

/// Serialises commits within this process; across processes the `api_rounds` primary key and
/// the ledger's idempotency key keep one commit per round id.
static COMMITS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The result of a commit.
pub struct Committed {
    pub round: StoredRound,
    /// True when this round id had already been committed with the same input: nothing new
    /// was written.
    pub replayed: bool,
}

/// Commits round `spec.id` whose body has `fingerprint`: the first commit plans, stores and
/// posts; a later commit of the same body returns the stored result; another body under the same
/// id is refused (409).
pub async fn commit(
    ledger: &Ledger,
    db: &Db,
    spec: RoundSpec,
    fingerprint: &str,
) -> Result<Committed, ApiError> {
    let _turn = COMMITS.lock().await;
    let id = spec.id.clone();
    if let Some(existing) = get(db, &id).await? {
        return resume(ledger, db, existing, fingerprint).await;
    }
    // A round committed to the ledger without this table (the demo, `run_round`) keeps its id.
    let key = crate::services::reallocation::commit_key(&id);
    let taken = ledger.store().entry_by_key(&key).await?.is_some();
    if taken {
        return Err(ApiError::Conflict(format!(
            "round {id} is already in the ledger (journal key {key}), committed outside this API; use a new round id"
        )));
    }
    let plan = plan(ledger, db, spec).await?;
    let now = ledger::journal::format_time(ledger.now());
    let request_json = serde_json::to_string(&plan.request)
        .map_err(|e| ApiError::Internal(format!("encoding a round request: {e}")))?;
    let result_json = serde_json::to_string(&plan.allocation)
        .map_err(|e| ApiError::Internal(format!("encoding a round result: {e}")))?;
    let insert = "INSERT INTO api_rounds (id, fingerprint, state, policy_version, request, result, journal_seq, created_at, committed_at)
                  VALUES ($1, $2, 'committing', $3, $4, $5, NULL, $6, NULL) ON CONFLICT DO NOTHING";
    let inserted = on_db!(db, |pool| sqlx::query(insert)
        .bind(&id)
        .bind(fingerprint)
        .bind(&plan.allocation.policy_version)
        .bind(&request_json)
        .bind(&result_json)
        .bind(&now)
        .execute(pool)
        .await?
        .rows_affected());
    if inserted == 0 {
        // Another process stored this round first.
        let existing = get(db, &id)
            .await?
            .ok_or_else(|| ApiError::Internal(format!("round {id} vanished")))?;
        return resume(ledger, db, existing, fingerprint).await;
    }
    let round = get(db, &id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("round {id} vanished")))?;
    let stored_ids = plan.stored_ids;
    post(ledger, db, round, &stored_ids, false).await
}

/// A round id seen before: the same input replays (finishing an interrupted commit), another is
/// refused.
async fn resume(
    ledger: &Ledger,
    db: &Db,
    existing: StoredRound,
    fingerprint: &str,
) -> Result<Committed, ApiError> {
    if existing.fingerprint != fingerprint {
        return Err(ApiError::Conflict(format!(
            "round {} was already committed with a different input (policy {}); a committed round is never changed: use a new round id",
            existing.id, existing.policy_version
        )));
    }
    if existing.committed {
        return Ok(Committed {
            round: existing,
            replayed: true,
        });
    }
    let stored_ids = stored_ids_of(db, &existing.allocation).await?;
    post(ledger, db, existing, &stored_ids, true).await
}

/// The stored applications an allocation decides (those still pending or already marked for it).
async fn stored_ids_of(db: &Db, allocation: &Allocation) -> Result<Vec<String>, ApiError> {
    let mut ids = Vec::new();
    for result in &allocation.applications {
        if applications::get(db, &result.id).await?.is_some() {
            ids.push(result.id.clone());
        }
    }
    Ok(ids)
}

/// Submits a stored round's request, then marks the round and its applications in one
/// transaction. A ledger refusal forgets the `committing` row, so the bureau can plan again.
async fn post(
    ledger: &Ledger,
    db: &Db,
    mut round: StoredRound,
    stored_ids: &[String],
    replayed: bool,
) -> Result<Committed, ApiError> {
    let seq = if round.request.actions.is_empty() {
        None
    } else {
        match ledger.submit(round.request.clone()).await {
            Ok(receipt) => Some(receipt.seq),
            Err(error) if error.is_refusal() => {
                let sql = "DELETE FROM api_rounds WHERE id = $1 AND state = 'committing'";
                on_db!(db, |pool| sqlx::query(sql)
                    .bind(&round.id)
                    .execute(pool)
                    .await?
                    .rows_affected());
                return Err(match error.root() {
                    LedgerError::IdempotencyConflict { .. } => ApiError::Conflict(format!(
                        "round {} was already committed to the ledger with a different result (e.g. from the CLI); use a new round id",
                        round.id
                    )),
                    _ => ApiError::Conflict(format!(
                        "the ledger refused round {}'s grants ({error}); nothing was written: the reserve changed since the round was planned, plan it again",
                        round.id
                    )),
                });
            }
            Err(error) => return Err(error.into()),
        }
    };
    let now = ledger::journal::format_time(ledger.now());
    let seq_i64 = seq.and_then(|s| i64::try_from(s).ok());
    let decided: BTreeMap<&str, &optimizer::ApplicationResult> = round
        .allocation
        .applications
        .iter()
        .map(|a| (a.id.as_str(), a))
        .collect();
    let mut marks = Vec::new();
    for id in stored_ids {
        if let Some(result) = decided.get(id.as_str()) {
            let json = serde_json::to_string(result)
                .map_err(|e| ApiError::Internal(format!("encoding a result: {e}")))?;
            marks.push((id.clone(), Status::of(result.status).as_str(), json));
        }
    }
    let mark_round = "UPDATE api_rounds SET state = 'committed', journal_seq = $1, committed_at = $2 WHERE id = $3";
    let mark_application = "UPDATE api_applications SET status = $1, round_id = $2, result = $3, updated_at = $4 WHERE id = $5";
    on_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(mark_round)
            .bind(seq_i64)
            .bind(&now)
            .bind(&round.id)
            .execute(&mut *tx)
            .await?;
        for (id, status, json) in &marks {
            sqlx::query(mark_application)
                .bind(*status)
                .bind(&round.id)
                .bind(json)
                .bind(&now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    round.committed = true;
    round.journal_seq = seq;
    round.committed_at = Some(now);
    Ok(Committed { round, replayed })
}
