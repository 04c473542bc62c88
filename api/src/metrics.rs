//! `GET /metrics` in the Prometheus text format, recorded through the `metrics` facade and
//! rendered by `metrics-exporter-prometheus`.
//!
//! Series: `ets_http_requests_total{method,route,status}` and the histogram
//! `ets_http_request_duration_seconds{method,route,class}` per route template (the matched path
//! written `/v1/market/auctions/:id`, never the raw URI, so ids do not multiply series; `:` rather
//! than axum's `{id}` because simple text-format parsers stop a label value at `}`), rate-limit
//! refusals, ledger submissions and replays, the ledger writer's group commits (batches, requests,
//! time per phase, from `Ledger::writer_stats`; histograms of commit latency and group size,
//! which the ledger records through the facade itself), market replay work and time, scenario runs in progress and the journal head.
//!
//! The recorder is process-global (the facade has one), installed by the first [`Metrics`]; every
//! state in one process therefore reports into the same series.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ledger::Ledger;
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Upper bounds of the request-latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds of the ledger's commit-latency buckets, in seconds.
const COMMIT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Upper bounds of the group-commit size buckets, in requests.
const GROUP_BUCKETS: [f64; 11] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The route label of a request no route matched (a 404 from the fallback).
const UNMATCHED: &str = "unmatched";

pub struct Metrics {
    /// `None` only if another recorder was installed in this process before ours.
    handle: Option<PrometheusHandle>,
    ledger: Ledger,
}

fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("ets_http_request_duration_seconds".to_owned()),
                    &LATENCY_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full(ledger::service::COMMIT_SECONDS.to_owned()),
                    &COMMIT_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full(ledger::service::GROUP_REQUESTS.to_owned()),
                    &GROUP_BUCKETS,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "no Prometheus recorder: /metrics will be empty");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    describe_counter!(
        "ets_http_requests_total",
        "HTTP answers by method, route template and status."
    );
    describe_histogram!(
        "ets_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer (until the response head), by method, route template and status class."
    );
    describe_counter!(
        "ets_rate_limited_total",
        "Requests refused with 429 because their API key was over its rate."
    );
    describe_counter!(
        "ets_ledger_requests_total",
        "Ledger requests accepted over HTTP, including replays."
    );
    describe_counter!(
        "ets_ledger_replays_total",
        "Retries answered with the first receipt."
    );
    describe_counter!(
        "ets_ledger_batches_total",
        "Group commits worked out by this process's ledger writer."
    );
    describe_counter!(
        "ets_ledger_batch_requests_total",
        "Requests in those group commits (divided by the batches: the mean group size)."
    );
    describe_counter!(
        "ets_ledger_batches_pipelined_total",
        "Group commits worked out while the one before was committing, and kept."
    );
    describe_counter!(
        "ets_ledger_writer_microseconds_total",
        "Time the ledger writer spent, by phase (read, apply, wait, write, commit)."
    );
    describe_ledger_and_market();
}

/// The ledger writer's and the market's series.
fn describe_ledger_and_market() {
    describe_histogram!(
        ledger::service::COMMIT_SECONDS,
        Unit::Seconds,
        "Time from writing a group commit's rows to its durable commit."
    );
    describe_histogram!(
        ledger::service::GROUP_REQUESTS,
        Unit::Count,
        "Requests per committed group."
    );
    describe_counter!(
        "ets_market_replay_microseconds_total",
        "Time the market spent reading and replaying the journal (catch-ups and rebuilds)."
    );
    describe_counter!(
        "ets_market_rebuilds_total",
        "Rebuilds of the market projection from the journal (another writer, a refused group)."
    );
    describe_counter!(
        "ets_market_entries_replayed_total",
        "Journal entries the market replayed to catch up or rebuild."
    );
    describe_counter!(
        "ets_market_checkpoints_total",
        "Checkpoints of the market projection taken."
    );
    describe_gauge!(
        "ets_scenario_runs_active",
        "Scenario runs holding a run slot (engine still running)."
    );
    describe_gauge!(
        "ets_journal_head_seq",
        "The last journal entry's sequence number."
    );
}

impl Metrics {
    pub fn new(ledger: Ledger) -> Metrics {
        Metrics {
            handle: handle(),
            ledger,
        }
    }

    /// Counts one answer: `route` is the matched path template.
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let class = match status / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        counter!(
            "ets_http_requests_total",
            "method" => method.to_owned(),
            "route" => route.to_owned(),
            "status" => status.to_string(),
        )
        .increment(1);
        metrics::histogram!(
            "ets_http_request_duration_seconds",
            "method" => method.to_owned(),
            "route" => route.to_owned(),
            "class" => class,
        )
        .record(seconds);
    }

    /// A request refused for its key's rate.
    pub fn rate_limited(&self) {
        counter!("ets_rate_limited_total").increment(1);
    }

    pub fn ledger_submit(&self, replayed: bool) {
        counter!("ets_ledger_requests_total").increment(1);
        if replayed {
            counter!("ets_ledger_replays_total").increment(1);
        }
    }

    /// Drains recorded histogram samples into their buckets; the server calls it every few
    /// seconds so an unscraped server's memory stays flat.
    pub fn upkeep(&self) {
        if let Some(handle) = &self.handle {
            handle.run_upkeep();
        }
    }

    /// The Prometheus exposition text; `scenario_runs` is how many scenario runs hold a slot;
    /// `market`: the open market's rebuilds and replay work, when it could be read.
    pub fn render(
        &self,
        head_seq: Option<u64>,
        scenario_runs: usize,
        market: Option<(u64, exchange::durable::ReplayStats)>,
    ) -> String {
        let Some(handle) = &self.handle else {
            return String::new();
        };
        gauge!("ets_scenario_runs_active").set(scenario_runs as f64);
        if let Some(seq) = head_seq {
            gauge!("ets_journal_head_seq").set(seq as f64);
        }
        let stats = self.ledger.writer_stats();
        counter!("ets_ledger_batches_total").absolute(stats.batches);
        counter!("ets_ledger_batch_requests_total").absolute(stats.requests);
        counter!("ets_ledger_batches_pipelined_total").absolute(stats.pipelined);
        for (phase, time) in [
            ("read", stats.read),
            ("apply", stats.apply),
            ("wait", stats.wait),
            ("write", stats.write),
            ("commit", stats.commit),
        ] {
            // Microseconds: a counter holds integers.
            counter!("ets_ledger_writer_microseconds_total", "phase" => phase)
                .absolute(u64::try_from(time.as_micros()).unwrap_or(u64::MAX));
        }
        if let Some((rebuilds, replay)) = market {
            counter!("ets_market_rebuilds_total").absolute(rebuilds);
            counter!("ets_market_entries_replayed_total").absolute(replay.entries_replayed);
            counter!("ets_market_checkpoints_total").absolute(replay.checkpoints_taken);
            counter!("ets_market_replay_microseconds_total")
                .absolute(u64::try_from(replay.replay_time.as_micros()).unwrap_or(u64::MAX));
        }
        handle.run_upkeep();
        handle.render()
    }
}

/// `/v1/auctions/{id}/bids/{bid}` as `/v1/auctions/:id/bids/:bid`.
fn route_label(template: &str) -> String {
    template.replace('{', ":").replace('}', "")
}

/// Counts every answer by its route template and status, and times it.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| route_label(path.as_str()));
    let response = next.run(request).await;
    state.metrics().record(
        method.as_str(),
        route.as_deref().unwrap_or(UNMATCHED),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_labels_name_parameters_without_braces() {
        assert_eq!(
            super::route_label("/v1/market/auctions/{id}/bids/{bid}/withdraw"),
            "/v1/market/auctions/:id/bids/:bid/withdraw"
        );
        assert_eq!(super::route_label("/v1/whoami"), "/v1/whoami");
    }
}
