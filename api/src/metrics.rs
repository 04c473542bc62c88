//! Request counters for `GET /metrics`, in the Prometheus text format. Plain atomics: counting
//! must cost nothing next to a request.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

#[derive(Default)]
pub struct Metrics {
    /// Answers by status class: 1xx..5xx at index 0..4.
    by_class: [AtomicU64; 5],
    duration_micros: AtomicU64,
    submitted: AtomicU64,
    replayed: AtomicU64,
}

impl Metrics {
    pub fn record(&self, status: u16, micros: u64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        self.duration_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn ledger_submit(&self, replayed: bool) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
        if replayed {
            self.replayed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus exposition text; `scenario_runs` is how many scenario runs hold a slot.
    pub fn render(&self, head_seq: Option<u64>, scenario_runs: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP ets_http_requests_total HTTP answers by status class."
        );
        let _ = writeln!(out, "# TYPE ets_http_requests_total counter");
        let mut total = 0;
        for (index, counter) in self.by_class.iter().enumerate() {
            let count = counter.load(Ordering::Relaxed);
            total += count;
            let _ = writeln!(
                out,
                "ets_http_requests_total{{class=\"{}xx\"}} {count}",
                index + 1
            );
        }
        let seconds = self.duration_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP ets_http_request_duration_seconds Time spent answering requests."
        );
        let _ = writeln!(out, "# TYPE ets_http_request_duration_seconds summary");
        let _ = writeln!(out, "ets_http_request_duration_seconds_sum {seconds}");
        let _ = writeln!(out, "ets_http_request_duration_seconds_count {total}");
        let _ = writeln!(
            out,
            "# HELP ets_ledger_requests_total Ledger requests accepted, including replays."
        );
        let _ = writeln!(out, "# TYPE ets_ledger_requests_total counter");
        let _ = writeln!(
            out,
            "ets_ledger_requests_total {}",
            self.submitted.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ets_ledger_replays_total Retries answered with the first receipt."
        );
        let _ = writeln!(out, "# TYPE ets_ledger_replays_total counter");
        let _ = writeln!(
            out,
            "ets_ledger_replays_total {}",
            self.replayed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ets_scenario_runs_active Scenario runs holding a run slot (engine still running)."
        );
        let _ = writeln!(out, "# TYPE ets_scenario_runs_active gauge");
        let _ = writeln!(out, "ets_scenario_runs_active {scenario_runs}");
        if let Some(seq) = head_seq {
            let _ = writeln!(
                out,
                "# HELP ets_journal_head_seq The last journal entry's sequence number."
            );
            let _ = writeln!(out, "# TYPE ets_journal_head_seq gauge");
            let _ = writeln!(out, "ets_journal_head_seq {seq}");
        }
        out
    }
}

/// Counts and logs every answer: one structured line per request.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let micros = started.elapsed().as_micros() as u64;
    let status = response.status().as_u16();
    state.metrics().record(status, micros);
    tracing::info!(target: "ets::http", %method, %path, status, micros, "request");
    response
}
