//! The crate's error: what went wrong, in terms a caller can act on. It becomes the protocol's
//! `ErrorShape` in one place (`impl From<Error> for ErrorShape`, below, next to the wire
//! shape itself so that the shared state can refuse a connect without importing the RPC layer) and an HTTP
//! status and body in one place (`api::error_response`), so the same failure reads the same on
//! every surface: a gateway that is stopping is `UNAVAILABLE` over WebSocket and 503 over HTTP.

use serde::Serialize;
use serde_json::Value;
use std::fmt;

use crate::limits::SHUTDOWN_RETRY_AFTER_MS;

/// A failure, by what the caller can do about it.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The request is malformed, or names something this gateway does not have: fix the
    /// request. (`INVALID_REQUEST`, HTTP 400.)
    Invalid { message: String, details: Option<Value> },
    /// No such method. (`INVALID_REQUEST` `unknown method: …`.)
    UnknownMethod(String),
    /// The caller's connection lacks this scope. (`FORBIDDEN` `MISSING_SCOPE`, HTTP 403.)
    MissingScope(&'static str),
    /// A limit was reached (a full queue, too many writes); retry after the pause. (`UNAVAILABLE`
    /// with `retryAfterMs`, HTTP 429 with `Retry-After`.)
    Busy { message: String, retry_after_ms: u64, details: Option<Value> },
    /// The gateway is stopping or restarting; retry shortly. (`UNAVAILABLE`, HTTP 503.)
    ShuttingDown,
    /// Something the request depends on failed: the disk, a model provider, a chat service.
    /// (`UNAVAILABLE`, HTTP 503.)
    Unavailable { message: String, details: Option<Value> },
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::Invalid { message: message.into(), details: None }
    }

    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::Unavailable { message: message.into(), details: None }
    }

    pub fn busy(message: impl Into<String>, retry_after_ms: u64) -> Error {
        Error::Busy { message: message.into(), retry_after_ms, details: None }
    }

    /// The same error with machine-readable details (ignored by the variants that have none).
    pub fn details(mut self, value: Value) -> Error {
        match &mut self {
            Error::Invalid { details, .. } | Error::Busy { details, .. } | Error::Unavailable { details, .. } => *details = Some(value),
            Error::UnknownMethod(_) | Error::MissingScope(_) | Error::ShuttingDown => {}
        }
        self
    }

    /// The HTTP status of this error on the gateway's HTTP surface.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Invalid { .. } | Error::UnknownMethod(_) => 400,
            Error::MissingScope(_) => 403,
            Error::Busy { .. } => 429,
            Error::ShuttingDown | Error::Unavailable { .. } => 503,
        }
    }

    /// How long the caller should wait before retrying, when waiting helps: a full queue says
    /// how long, a stopping gateway is back (or gone) within a second. Both surfaces read it:
    /// `retryAfterMs` over WebSocket, `Retry-After` over HTTP.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Error::Busy { retry_after_ms, .. } => Some(*retry_after_ms),
            Error::ShuttingDown => Some(SHUTDOWN_RETRY_AFTER_MS),
            Error::Invalid { .. } | Error::UnknownMethod(_) | Error::MissingScope(_) | Error::Unavailable { .. } => None,
        }
    }

    pub fn details_value(&self) -> Option<&Value> {
        match self {
            Error::Invalid { details, .. } | Error::Busy { details, .. } | Error::Unavailable { details, .. } => details.as_ref(),
            Error::UnknownMethod(_) | Error::MissingScope(_) | Error::ShuttingDown => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid { message, .. } | Error::Busy { message, .. } | Error::Unavailable { message, .. } => f.write_str(message),
            Error::UnknownMethod(name) => write!(f, "unknown method: {name}"),
            Error::MissingScope(scope) => write!(f, "missing scope: {scope}"),
            Error::ShuttingDown => f.write_str("gateway stopping"),
        }
    }
}

impl std::error::Error for Error {}

/// Error codes of `ErrorShape.code` (a closed set in the official protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The request is malformed, refused, or names something unknown.
    InvalidRequest,
    /// The connection lacks a scope the method needs.
    Forbidden,
    /// The client must pair a device identity first.
    NotPaired,
    /// The gateway cannot serve the request right now (starting, overloaded, upstream failure).
    Unavailable,
}

/// `ErrorShape`: the `error` object of a failed response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorShape {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(rename = "retryAfterMs", skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorShape { code, message: message.into(), details: None, retryable: None, retry_after_ms: None }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn retry_after(mut self, ms: u64) -> Self {
        self.retryable = Some(true);
        self.retry_after_ms = Some(ms);
        self
    }

    /// `unknown method: <name>`.
    pub fn unknown_method(method: &str) -> Self {
        Self::invalid(format!("unknown method: {method}"))
    }

    /// `missing scope: <scope>` with `MISSING_SCOPE` details.
    pub fn missing_scope(scope: &str) -> Self {
        Self::new(ErrorCode::Forbidden, format!("missing scope: {scope}")).details(serde_json::json!({
            "code": "MISSING_SCOPE",
            "missingScope": scope,
            "requiredScopes": [scope],
        }))
    }
}

impl From<Error> for ErrorShape {
    /// The one place a crate error becomes the protocol's error object.
    fn from(e: Error) -> ErrorShape {
        match e {
            Error::Invalid { message, details } => ErrorShape { details, ..ErrorShape::invalid(message) },
            Error::UnknownMethod(name) => ErrorShape::unknown_method(&name),
            Error::MissingScope(scope) => ErrorShape::missing_scope(scope),
            Error::Busy { message, retry_after_ms, details } => {
                ErrorShape { details, ..ErrorShape::unavailable(message).retry_after(retry_after_ms) }
            }
            Error::ShuttingDown => ErrorShape::unavailable("gateway stopping").retry_after(SHUTDOWN_RETRY_AFTER_MS),
            Error::Unavailable { message, details } => ErrorShape { details, ..ErrorShape::unavailable(message) },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every variant, with its documented WebSocket code, HTTP status, text and retry pause.
    pub(crate) fn documented() -> Vec<(Error, ErrorCode, u16, &'static str, Option<u64>)> {
        vec![
            (Error::invalid("bad"), ErrorCode::InvalidRequest, 400, "bad", None),
            (Error::UnknownMethod("x.y".into()), ErrorCode::InvalidRequest, 400, "unknown method: x.y", None),
            (Error::MissingScope("operator.admin"), ErrorCode::Forbidden, 403, "missing scope: operator.admin", None),
            (Error::busy("slow down", 2000), ErrorCode::Unavailable, 429, "slow down", Some(2000)),
            (Error::ShuttingDown, ErrorCode::Unavailable, 503, "gateway stopping", Some(1000)),
            (Error::unavailable("disk full"), ErrorCode::Unavailable, 503, "disk full", None),
        ]
    }

    #[test]
    fn every_variant_has_its_code_status_and_message() {
        for (e, code, status, text, retry) in documented() {
            // The match makes a new variant fail to compile here until it is documented above.
            match &e {
                Error::Invalid { .. }
                | Error::UnknownMethod(_)
                | Error::MissingScope(_)
                | Error::Busy { .. }
                | Error::ShuttingDown
                | Error::Unavailable { .. } => {}
            }
            assert_eq!(e.http_status(), status, "{e:?}");
            assert_eq!(e.to_string(), text);
            assert_eq!(e.retry_after_ms(), retry, "{e:?}");
            let shape = ErrorShape::from(e.clone());
            assert_eq!(shape.code, code, "{e:?}");
            assert_eq!(shape.message, text);
            assert_eq!(shape.retry_after_ms, retry, "{e:?}");
            assert_eq!(shape.retryable, retry.map(|_| true), "{e:?}");
        }
        let d = Error::invalid("x").details(serde_json::json!({"code": "C"}));
        assert_eq!(d.details_value().and_then(|v| v["code"].as_str()), Some("C"));
    }
}
