//! One error type for every handler, answered as RFC 9457 `application/problem+json`. Refusals
//! (4xx) say which field and why; faults (5xx) are logged in full and answered without details, so
//! storage messages never reach a client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger::LedgerError;
use serde::Serialize;
use utoipa::ToSchema;

/// The problem+json media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing API key: send `Authorization: Bearer ets_…`")]
    MissingKey,
    #[error("unknown or revoked API key")]
    UnknownKey,
    #[error("{0}")]
    Forbidden(String),
    #[error("rate limit of {per_second} requests/s exceeded; retry after {retry_after_s} s")]
    RateLimited { per_second: u32, retry_after_s: u64 },
    #[error("{field}: {reason}")]
    InvalidField {
        field: String,
        reason: String,
        location: Location,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than the {limit}-byte limit")]
    BodyTooLarge { limit: usize },
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("the Idempotency-Key header is required on every POST")]
    MissingIdempotencyKey,
    #[error(
        "Idempotency-Key {key:?} was already used for a different request{first_use}; use a new key"
    )]
    IdempotencyMismatch {
        key: String,
        /// Where and when the key was first used (` (first used on POST /v1/transfers at …)`),
        /// or empty when unknown.
        first_use: String,
    },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// Several things wrong with one input, all listed (`errors` in the problem body).
    #[error("{} problem(s): {}", .0.len(), .0.iter().map(|p| format!("{}: {}", p.field, p.reason)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldProblem>),
    /// The request contradicts the current state (e.g. a round id already committed).
    #[error("{0}")]
    Conflict(String),
    /// An order outside the trading sessions of a calendar that takes orders in sessions only.
    #[error("the market takes orders during its sessions only; the next opens at {next_open}")]
    MarketClosed { next_open: String },
    /// The server is at its limit for this kind of work; retry shortly.
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

/// The body of every error answer (RFC 9457), with `code` and `field` as extensions.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A relative URI naming the kind of problem, e.g. `/problems/insufficient-balance`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The same kind as a short snake_case code, for programs.
    pub code: String,
    /// The input at fault, when there is one: in the body, a JSON pointer (RFC 6901:
    /// `/actions/2/amount`; `""` is the whole body); in a query or path parameter or a header,
    /// its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Where `field` is: `body`, `query`, `path` or `header`.
    #[serde(rename = "in", default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Every problem found, when the input had several (each with its field and reason).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// Which part of a request a problem's `field` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Body,
    Query,
    Path,
    Header,
}

/// One thing wrong with an input: where (a JSON pointer into the body) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldProblem {
        FieldProblem {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl ApiError {
    /// A body field at fault: `field` is a JSON pointer, or a dotted path (`actions[2].amount`,
    /// `tick`) turned into one ([`pointer`]).
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> ApiError {
        ApiError::InvalidField {
            field: pointer(&field.into()),
            reason: reason.into(),
            location: Location::Body,
        }
    }

    /// A query or path parameter, or a header, at fault, by name.
    pub fn param(
        location: Location,
        name: impl Into<String>,
        reason: impl Into<String>,
    ) -> ApiError {
        ApiError::InvalidField {
            field: name.into(),
            reason: reason.into(),
            location,
        }
    }

    pub fn forbidden(reason: impl Into<String>) -> ApiError {
        ApiError::Forbidden(reason.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingKey | ApiError::UnknownKey => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InvalidField { .. }
            | ApiError::IdempotencyMismatch { .. }
            | ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) | ApiError::MarketClosed { .. } => StatusCode::CONFLICT,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadRequest(_) | ApiError::MissingIdempotencyKey => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Ledger(error) => ledger_status(error),
            ApiError::Storage(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The snake_case code (and, prefixed with `/problems/` and dashed, the `type`).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingKey => "missing_api_key",
            ApiError::UnknownKey => "unknown_api_key",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::MissingIdempotencyKey => "missing_idempotency_key",
            ApiError::IdempotencyMismatch { .. } => "idempotency_key_reused",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Invalid(_) => "invalid_input",
            ApiError::Conflict(_) => "conflict",
            ApiError::MarketClosed { .. } => "market_closed",
            ApiError::Busy(_) => "busy",
            ApiError::Ledger(error) => ledger_code(error),
            ApiError::Storage(_) | ApiError::Internal(_) => "internal",
        }
    }

    /// The input at fault and where it is, when the error names one.
    fn field_name(&self) -> Option<(String, Location)> {
        match self {
            ApiError::InvalidField {
                field, location, ..
            } => Some((field.clone(), *location)),
            ApiError::MissingIdempotencyKey | ApiError::IdempotencyMismatch { .. } => {
                Some(("Idempotency-Key".into(), Location::Header))
            }
            ApiError::Ledger(error) => ledger_field(error).map(|f| (f, Location::Body)),
            ApiError::Invalid(problems) if problems.len() == 1 => problems
                .first()
                .map(|p| (pointer(&p.field), Location::Body)),
            _ => None,
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        // A busy server says so (our own words, no internals: retry after `Retry-After`).
        let detail = if status.is_server_error() && !matches!(self, ApiError::Busy(_)) {
            // Faults are logged where they are answered; the client gets no storage internals.
            "the server failed to answer; nothing was written if the request was refused".to_owned()
        } else {
            self.to_string()
        };
        let code = self.code();
        let (field, location) = self.field_name().unzip();
        Problem {
            kind: format!("/problems/{}", code.replace('_', "-")),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            field,
            location,
            errors: match self {
                ApiError::Invalid(problems) => problems
                    .iter()
                    .map(|p| FieldProblem::new(pointer(&p.field), p.reason.clone()))
                    .collect(),
                _ => Vec::new(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status = self.status();
        if let ApiError::Busy(_) = self {
            tracing::warn!(error = %self, "request refused: busy");
        } else if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = problem_response(status, &problem);
        if let ApiError::RateLimited { retry_after_s, .. } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_s.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if let ApiError::Busy(_) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A problem body with its status and media type; also used to replay stored refusals.
pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
        body,
    )
        .into_response()
}

fn ledger_status(error: &LedgerError) -> StatusCode {
    ledger_refusal(error).0
}

fn ledger_code(error: &LedgerError) -> &'static str {
    ledger_refusal(error).1
}

/// Every ledger error's HTTP status and problem code, one arm per variant (no catch-all: a new
/// variant does not compile until it is given its answer here).
fn ledger_refusal(error: &LedgerError) -> (StatusCode, &'static str) {
    use LedgerError as L;
    const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
    const CONFLICT: StatusCode = StatusCode::CONFLICT;
    const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
    const FAULT: StatusCode = StatusCode::INTERNAL_SERVER_ERROR;
    match error.root() {
        L::UnknownInstrument { .. } => (NOT_FOUND, "unknown_instrument"),
        L::UnknownPollutant { .. } => (NOT_FOUND, "unknown_pollutant"),
        L::UnknownRegion { .. } => (NOT_FOUND, "unknown_region"),
        L::UnknownEnterprise { .. } => (NOT_FOUND, "unknown_enterprise"),
        L::UnknownHold { .. } => (NOT_FOUND, "unknown_hold"),
        L::NonPositiveAmount { .. } => (INVALID, "non_positive_amount"),
        L::TooManyDecimalPlaces { .. } => (INVALID, "too_many_decimal_places"),
        L::AmountOutOfRange { .. } => (INVALID, "amount_out_of_range"),
        L::InsufficientBalance { .. } => (CONFLICT, "insufficient_balance"),
        L::AccountFrozen { .. } => (CONFLICT, "account_frozen"),
        L::InstrumentExpired { .. } => (CONFLICT, "instrument_expired"),
        L::WrongInstrumentKind { .. } => (INVALID, "wrong_instrument_kind"),
        L::InvalidInstrument { .. } => (INVALID, "invalid_instrument"),
        L::InvalidField { .. } => (INVALID, "invalid_field"),
        L::InvalidText { .. } => (INVALID, "invalid_text"),
        L::ReservedHoldCode { .. } => (INVALID, "reserved_hold_code"),
        L::AlreadyExists { .. } => (CONFLICT, "already_exists"),
        L::InvalidEnterprise(_) => (INVALID, "invalid_enterprise"),
        L::HoldNotOpen { .. } => (CONFLICT, "hold_not_open"),
        L::HoldExpired { .. } => (CONFLICT, "hold_expired"),
        L::HoldExceeded { .. } => (CONFLICT, "hold_exceeded"),
        L::SameParty { .. } => (INVALID, "same_party"),
        L::EmptyRequest => (INVALID, "empty_request"),
        L::TooManyActions { .. } => (INVALID, "too_many_actions"),
        L::IdempotencyConflict { .. } => (INVALID, "idempotency_key_reused"),
        // `root` looks through the action wrapper, so this arm only answers a wrapper around
        // nothing, which `root` never returns.
        L::Action { .. } => (INVALID, "refused"),
        L::Storage(_)
        | L::Migration(_)
        | L::UnsupportedDatabase(_)
        | L::Corrupt(_)
        | L::BatchFailed(_)
        | L::WriterStopped => (FAULT, "internal"),
    }
}

/// Names the action at fault (`/actions/3`), and its field where the rule is about one, as a
/// JSON pointer.
fn ledger_field(error: &LedgerError) -> Option<String> {
    let LedgerError::Action { index, source, .. } = error else {
        return match error {
            LedgerError::InvalidField { field, .. } => Some(pointer(field)),
            LedgerError::InvalidText { .. } => error.pointer(),
            LedgerError::EmptyRequest | LedgerError::TooManyActions { .. } => {
                Some("/actions".into())
            }
            _ => None,
        };
    };
    let inner = match source.root() {
        LedgerError::NonPositiveAmount { .. }
        | LedgerError::TooManyDecimalPlaces { .. }
        | LedgerError::AmountOutOfRange { .. }
        | LedgerError::InsufficientBalance { .. }
        | LedgerError::HoldExceeded { .. } => "/amount",
        LedgerError::UnknownInstrument { .. }
        | LedgerError::InstrumentExpired { .. }
        | LedgerError::WrongInstrumentKind { .. } => "/instrument",
        LedgerError::UnknownHold { .. }
        | LedgerError::HoldNotOpen { .. }
        | LedgerError::HoldExpired { .. } => "/hold",
        LedgerError::InvalidField { field, .. } if field == "note" => "/note",
        LedgerError::ReservedHoldCode { .. } => "/hold",
        _ => "",
    };
    Some(format!("/actions/{index}{inner}"))
}

/// A field path as a JSON pointer (RFC 6901): a pointer stays as it is, `body` is the whole body
/// (`""`), and a dotted path (`actions[3].enterprise.free_tags[1]`, `tick`) becomes
/// `/actions/3/enterprise/free_tags/1`, `/tick` (with `~` and `/` in names escaped).
pub fn pointer(path: &str) -> String {
    if path.is_empty() || path.starts_with('/') {
        return path.to_owned();
    }
    if path == "body" {
        return String::new();
    }
    let mut out = String::new();
    for part in path.split('.') {
        let (name, indices) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            out.push('/');
            out.push_str(&name.replace('~', "~0").replace('/', "~1"));
        }
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            out.push('/');
            out.push_str(index.trim_end_matches(']'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::pointer;

    #[test]
    fn dotted_paths_become_json_pointers() {
        for (path, expected) in [
            ("amount", "/amount"),
            ("actions[3].amount", "/actions/3/amount"),
            (
                "actions[0].enterprise.free_tags[1]",
                "/actions/0/enterprise/free_tags/1",
            ),
            ("grid[1][2]", "/grid/1/2"),
            ("a/b~c", "/a~1b~0c"),
            ("body", ""),
            ("", ""),
            ("/already/0", "/already/0"),
        ] {
            assert_eq!(pointer(path), expected, "{path}");
        }
    }
}
