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
    InvalidField { field: String, reason: String },
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
    /// The request field at fault, as a JSON path (`actions[2].amount`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem found, when the input had several (each with its field and reason).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One thing wrong with an input: where (a JSON path or a named part of the input) and why.
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
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> ApiError {
        ApiError::InvalidField {
            field: field.into(),
            reason: reason.into(),
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
            ApiError::Conflict(_) => StatusCode::CONFLICT,
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
            ApiError::Busy(_) => "busy",
            ApiError::Ledger(error) => ledger_code(error),
            ApiError::Storage(_) | ApiError::Internal(_) => "internal",
        }
    }

    /// The request field at fault, when the error names one.
    fn field_name(&self) -> Option<String> {
        match self {
            ApiError::InvalidField { field, .. } => Some(field.clone()),
            ApiError::MissingIdempotencyKey | ApiError::IdempotencyMismatch { .. } => {
                Some("Idempotency-Key".into())
            }
            ApiError::Ledger(error) => ledger_field(error),
            ApiError::Invalid(problems) if problems.len() == 1 => {
                problems.first().map(|p| p.field.clone())
            }
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
        Problem {
            kind: format!("/problems/{}", code.replace('_', "-")),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            field: self.field_name(),
            errors: match self {
                ApiError::Invalid(problems) => problems.clone(),
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
    if !error.is_refusal() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    match error.root() {
        LedgerError::UnknownInstrument { .. }
        | LedgerError::UnknownPollutant { .. }
        | LedgerError::UnknownRegion { .. }
        | LedgerError::UnknownEnterprise { .. }
        | LedgerError::UnknownHold { .. } => StatusCode::NOT_FOUND,
        LedgerError::AlreadyExists { .. }
        | LedgerError::InsufficientBalance { .. }
        | LedgerError::AccountFrozen { .. }
        | LedgerError::HoldNotOpen { .. }
        | LedgerError::HoldExpired { .. }
        | LedgerError::HoldExceeded { .. }
        | LedgerError::InstrumentExpired { .. } => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn ledger_code(error: &LedgerError) -> &'static str {
    match error.root() {
        LedgerError::UnknownInstrument { .. } => "unknown_instrument",
        LedgerError::UnknownPollutant { .. } => "unknown_pollutant",
        LedgerError::UnknownRegion { .. } => "unknown_region",
        LedgerError::UnknownEnterprise { .. } => "unknown_enterprise",
        LedgerError::UnknownHold { .. } => "unknown_hold",
        LedgerError::NonPositiveAmount { .. } => "non_positive_amount",
        LedgerError::TooManyDecimalPlaces { .. } => "too_many_decimal_places",
        LedgerError::AmountOutOfRange { .. } => "amount_out_of_range",
        LedgerError::InsufficientBalance { .. } => "insufficient_balance",
        LedgerError::AccountFrozen { .. } => "account_frozen",
        LedgerError::InstrumentExpired { .. } => "instrument_expired",
        LedgerError::WrongInstrumentKind { .. } => "wrong_instrument_kind",
        LedgerError::InvalidInstrument { .. } => "invalid_instrument",
        LedgerError::InvalidField { .. } => "invalid_field",
        LedgerError::InvalidText { .. } => "invalid_text",
        LedgerError::ReservedHoldCode { .. } => "reserved_hold_code",
        LedgerError::AlreadyExists { .. } => "already_exists",
        LedgerError::InvalidEnterprise(_) => "invalid_enterprise",
        LedgerError::HoldNotOpen { .. } => "hold_not_open",
        LedgerError::HoldExpired { .. } => "hold_expired",
        LedgerError::HoldExceeded { .. } => "hold_exceeded",
        LedgerError::SameParty { .. } => "same_party",
        LedgerError::EmptyRequest => "empty_request",
        LedgerError::TooManyActions { .. } => "too_many_actions",
        LedgerError::IdempotencyConflict { .. } => "idempotency_key_reused",
        _ if !error.is_refusal() => "internal",
        _ => "refused",
    }
}

/// Names the action at fault (`actions[3]`), and its field where the rule is about one.
fn ledger_field(error: &LedgerError) -> Option<String> {
    let LedgerError::Action { index, source, .. } = error else {
        return match error {
            LedgerError::InvalidField { field, .. } => Some(field.clone()),
            LedgerError::InvalidText { field, .. } => Some(dotted(field)),
            LedgerError::EmptyRequest | LedgerError::TooManyActions { .. } => {
                Some("actions".into())
            }
            _ => None,
        };
    };
    let inner = match source.root() {
        LedgerError::NonPositiveAmount { .. }
        | LedgerError::TooManyDecimalPlaces { .. }
        | LedgerError::AmountOutOfRange { .. }
        | LedgerError::InsufficientBalance { .. }
        | LedgerError::HoldExceeded { .. } => ".amount",
        LedgerError::UnknownInstrument { .. }
        | LedgerError::InstrumentExpired { .. }
        | LedgerError::WrongInstrumentKind { .. } => ".instrument",
        LedgerError::UnknownHold { .. }
        | LedgerError::HoldNotOpen { .. }
        | LedgerError::HoldExpired { .. } => ".hold",
        LedgerError::InvalidField { field, .. } if field == "note" => ".note",
        LedgerError::ReservedHoldCode { .. } => ".hold",
        _ => "",
    };
    Some(format!("actions[{index}]{inner}"))
}

/// A ledger text path (`actions/3/enterprise/free_tags/1`) in this module's field notation
/// (`actions[3].enterprise.free_tags[1]`); [`LedgerError::pointer`] gives it as a JSON pointer.
fn dotted(path: &str) -> String {
    let mut out = String::new();
    for segment in path.split('/') {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}
