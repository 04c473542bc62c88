//! Our own extractors, so that every malformed input gets the same problem+json answer as the
//! handlers' refusals, with the field at fault: axum's own would answer in plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body, decoded with the path of the field at fault in every error.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let JsonWithBytes(value, _) = JsonWithBytes::from_request(request, state).await?;
        Ok(ApiJson(value))
    }
}

/// A JSON body together with its bytes (for the idempotency fingerprint of a POST that writes
/// only the API's tables), with the same problem+json refusals as [`ApiJson`].
pub struct JsonWithBytes<T>(pub T, pub Bytes);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonWithBytes<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if media_type(request.headers().get(CONTENT_TYPE)) != "application/json" {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = body_bytes(request, state).await?;
        Ok(JsonWithBytes(decode(&bytes)?, bytes))
    }
}

/// The media type of a `Content-Type` header, lower-cased, without parameters.
pub fn media_type(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Reads the body under the server's limit, answering 413 as problem+json.
pub async fn body_bytes(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BodyTooLarge {
                    limit: state.config().limits.body_bytes,
                }
            } else {
                ApiError::BadRequest(format!("could not read the body: {rejection}"))
            }
        })
}

/// Decodes `bytes` as JSON, naming the field (`actions[2].amount`) that a type error is about.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer
        .end()
        .map_err(|error| ApiError::BadRequest(format!("malformed JSON: {error}")))?;
    Ok(value)
}

/// Decodes one JSON value (an action of a batch) the same way, under `prefix`.
pub fn decode_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        ApiError::field(field, error.into_inner().to_string())
    })
}

fn path_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    match inner.classify() {
        // Syntax errors have no field: the body is not JSON at all.
        serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof
        | serde_json::error::Category::Io => {
            ApiError::BadRequest(format!("malformed JSON: {inner}"))
        }
        serde_json::error::Category::Data => {
            let field = if path == "." { "body".to_owned() } else { path };
            ApiError::field(field, strip_position(&inner.to_string()))
        }
    }
}

/// serde_json appends "at line 1 column 42" to data errors; the field path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Query parameters, with problem+json errors.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::field("query", rejection.body_text()))
    }
}

/// The `Idempotency-Key` header, required on every POST, with the endpoint it came on (`POST
/// /v1/transfers`): a key's first use claims it for that endpoint and request
/// ([`crate::idempotency::claim`]).
pub struct IdempotencyKey {
    pub key: String,
    pub endpoint: String,
}

/// Keys are scoped by the caller's key id inside the ledger, which allows 128 characters in all.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 100;

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get("idempotency-key")
            .ok_or(ApiError::MissingIdempotencyKey)?;
        let text = value
            .to_str()
            .map_err(|_| ApiError::field("Idempotency-Key", "must be printable ASCII"))?
            .trim();
        if text.is_empty() || text.len() > IDEMPOTENCY_KEY_LEN_MAX {
            return Err(ApiError::field(
                "Idempotency-Key",
                format!("must be 1 to {IDEMPOTENCY_KEY_LEN_MAX} characters"),
            ));
        }
        Ok(IdempotencyKey {
            key: text.to_owned(),
            endpoint: format!("{} {}", parts.method, parts.uri.path()),
        })
    }
}

/// Where a server-sent-events feed resumes: after the `Last-Event-ID` a reconnecting client
/// sends, else after `fallback` (the `?after=` query). `what` names the sequence in the error.
pub fn resume_after(
    headers: &axum::http::HeaderMap,
    fallback: u64,
    what: &str,
) -> Result<u64, ApiError> {
    match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::field("Last-Event-ID", format!("must be a {what}"))),
        None => Ok(fallback),
    }
}
