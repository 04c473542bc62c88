//! One router per area (`market` is a directory of its own). Each returns a `utoipa_axum`
//! router, so its paths and schemas join the OpenAPI document as they join the server. The two
//! server-sent-events feeds (journal, market) answer through [`event_stream`].

pub mod applications;
pub mod audit;
pub mod market;
pub mod reads;
pub mod rounds;
pub mod scenarios;
pub mod statistics;
pub mod submit;
pub mod system;
pub mod writes;

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;

/// A server-sent-events feed: `next` waits for the next event. Feeds never end; a read
/// failure is an `error` event, after which the feed tries again.
pub(crate) trait Feed: Send + 'static {
    fn next(&mut self) -> impl Future<Output = Event> + Send;
}

/// The answer of a feed route: the feed's events as they come, with keep-alives.
pub(crate) fn event_stream(feed: impl Feed) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await;
        Some((Ok(event), feed))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
