//! The market feed (everyone): trades and book changes of one instrument as server-sent
//! events, resumable after `Last-Event-ID`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use serde::Deserialize;
use utoipa::IntoParams;

use super::data::{book_body, trade_body};
use super::lookup::book_of;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, resume_after};
use crate::routes::{Feed, event_stream};
use crate::services::market::instrument_of;
use crate::state::AppState;

const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    pub instrument: String,
    /// Resume after this trade sequence number (or send `Last-Event-ID`).
    #[serde(default)]
    pub after: u64,
}

/// Trades and book changes of one instrument as server-sent events (everyone): `trade` events
/// (`id:` = the trade's sequence number, data a TradeBody) and `book` events (data a BookBody,
/// `id:` = the last trade's sequence number). Resumes after `Last-Event-ID`.
#[utoipa::path(
    get, path = "/v1/stream/market", tag = "market data",
    params(StreamQuery, ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this trade seq")),
    responses(
        (status = 200, description = "text/event-stream of `trade` and `book` events", content_type = "text/event-stream"),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn stream_market(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = resume_after(&headers, query.after, "trade sequence number")?;
    {
        let service = state.market();
        let guard = service.lock(false).await?;
        let market = &*guard;
        instrument_of(market, &query.instrument)?;
    }
    let feed = MarketFeed {
        state,
        instrument: query.instrument,
        after,
        last_book: None,
        ready: VecDeque::new(),
    };
    Ok(event_stream(feed))
}

struct MarketFeed {
    state: AppState,
    instrument: String,
    after: u64,
    last_book: Option<String>,
    ready: VecDeque<Event>,
}

impl Feed for MarketFeed {
    async fn next(&mut self) -> Event {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return event;
            }
            if let Err(error) = self.poll().await {
                tokio::time::sleep(POLL).await;
                return Event::default().event("error").data(error.to_string());
            }
            if self.ready.is_empty() {
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

impl MarketFeed {
    async fn poll(&mut self) -> Result<(), ApiError> {
        let service = self.state.market();
        let guard = service.lock(false).await?;
        let market = &*guard;
        let (id, book) = book_of(market, &self.instrument)?;
        for trade in book.trades_after(self.after).iter().take(500) {
            let body = trade_body(book.spec(), &self.instrument, trade);
            let data = serde_json::to_string(&body).unwrap_or_default();
            self.ready.push_back(
                Event::default()
                    .event("trade")
                    .id(trade.seq.to_string())
                    .data(data),
            );
            self.after = trade.seq;
        }
        if let Some(body) = book_body(market, id, 10) {
            let key = serde_json::to_string(&(&body.bids, &body.asks)).unwrap_or_default();
            if self.last_book.as_deref() != Some(key.as_str()) {
                let data = serde_json::to_string(&body).unwrap_or_default();
                self.ready.push_back(
                    Event::default()
                        .event("book")
                        .id(self.after.to_string())
                        .data(data),
                );
                self.last_book = Some(key);
            }
        }
        Ok(())
    }
}
