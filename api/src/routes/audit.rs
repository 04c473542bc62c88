//! The audit trail: the journal, paged by sequence number, its verification, and a
//! server-sent-events feed of new entries that resumes from `Last-Event-ID`. Journal entries name
//! enterprises and amounts, so only the bureau reads them.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, resume_after};
use crate::keys::Role;
use crate::model::{JournalEntryBody, JournalPage, JournalQuery, VerifyBody};
use crate::routes::{Feed, event_stream};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_journal))
        .routes(routes!(get_verify))
        .routes(routes!(stream_journal))
}

const PAGE_DEFAULT: u32 = 100;

/// A page of journal entries after `after`, oldest first (bureau).
#[utoipa::path(
    get, path = "/v1/journal", tag = "audit",
    params(JournalQuery),
    responses(
        (status = 200, body = JournalPage),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_journal(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<JournalQuery>,
) -> Result<Json<JournalPage>, ApiError> {
    caller.require(
        &[Role::Bureau],
        "reading the journal (economists: use /v1/aggregates)",
    )?;
    let max = state.config().limits.page_max;
    let limit = query.limit.unwrap_or(PAGE_DEFAULT.min(max));
    if limit == 0 || limit > max {
        return Err(ApiError::param(
            crate::error::Location::Query,
            "limit",
            format!("must be between 1 and {max}"),
        ));
    }
    // One more than asked tells whether another page follows without a count query.
    let mut stored = state
        .ledger()
        .store()
        .journal(query.after, limit + 1)
        .await?;
    let has_more = stored.len() > limit as usize;
    stored.truncate(limit as usize);
    let entries = crate::convert::journal_entries(&state, stored).await?;
    let next_after = if has_more {
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(JournalPage {
        entries,
        has_more,
        next_after,
    }))
}

/// Replays the whole journal and checks balances and the hash chain (bureau).
#[utoipa::path(
    get, path = "/v1/verify", tag = "audit",
    responses(
        (status = 200, body = VerifyBody),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn get_verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<VerifyBody>, ApiError> {
    caller.require(&[Role::Bureau], "verifying the journal")?;
    let report = ledger::verify(state.ledger().store()).await?;
    Ok(Json(report.into()))
}

/// How often the feed looks for new entries when it has caught up. The journal is the source of
/// truth, shared by every server process, so polling it sees writes made by any of them.
const POLL: Duration = Duration::from_millis(250);
const FEED_PAGE: u32 = 200;

/// New journal entries as server-sent events, `id:` = seq; resumes after `Last-Event-ID` (or
/// `?after=`) (bureau).
#[utoipa::path(
    get, path = "/v1/stream/journal", tag = "audit",
    params(JournalQuery, ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq")),
    responses(
        (status = 200, description = "text/event-stream of `entry` events whose data is a JournalEntryBody", content_type = "text/event-stream"),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn stream_journal(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<JournalQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require(&[Role::Bureau], "following the journal")?;
    let after = resume_after(&headers, query.after, "journal sequence number")?;
    let feed = JournalFeed {
        state,
        after,
        ready: VecDeque::new(),
    };
    Ok(event_stream(feed))
}

struct JournalFeed {
    state: AppState,
    after: u64,
    ready: VecDeque<JournalEntryBody>,
}

impl Feed for JournalFeed {
    /// The next entry, waiting for one if the feed has caught up; a read failure becomes an
    /// `error` event and the feed retries after a pause rather than ending the stream.
    async fn next(&mut self) -> Event {
        loop {
            if let Some(entry) = self.ready.pop_front() {
                self.after = entry.seq;
                let data = serde_json::to_string(&entry).unwrap_or_default();
                return Event::default()
                    .id(entry.seq.to_string())
                    .event("entry")
                    .data(data);
            }
            match self.fetch().await {
                Ok(0) => tokio::time::sleep(POLL).await,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, after = self.after, "journal feed read failed");
                    tokio::time::sleep(POLL).await;
                    return Event::default()
                        .event("error")
                        .data("the journal could not be read; retrying");
                }
            }
        }
    }
}

impl JournalFeed {
    async fn fetch(&mut self) -> Result<usize, ApiError> {
        let stored = self
            .state
            .ledger()
            .store()
            .journal(self.after, FEED_PAGE)
            .await?;
        let entries = crate::convert::journal_entries(&self.state, stored).await?;
        let count = entries.len();
        self.ready.extend(entries);
        Ok(count)
    }
}
