//! The HTTP API of the gateway port: probes ([`probes`]); the OpenAI-compatible API ([`openai`],
//! [`responses`]); `POST /tools/invoke` ([`tools`]); webhooks under `hooks.path` ([`hooks`]);
//! bearer auth and the error bodies they share. Which request reaches which handler is the
//! router's decision (`crate::router`).

pub mod hooks;
pub mod openai;
pub mod probes;
pub mod responses;
pub mod tools;

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::Error;
use crate::gateway::Gateway;
use crate::gateway::auth::{self, RateLimiter};
use crate::limits::{AUTH_FAILURE_DELAY, RESPONSES_REMEMBERED};
use crate::net::http::{Head, Request, Response};

/// The HTTP side of the gateway.
pub struct Api {
    pub gw: Arc<Gateway>,
    /// Failed hook-token attempts (their own limit: 20 per minute, then a minute's lockout).
    hooks_limiter: Mutex<RateLimiter>,
    /// `/v1/responses` ids and the sessions they continue (`previous_response_id`), newest last.
    /// A plain lock, not an owner task: it is touched once per `/v1/responses` request, for a
    /// push or a scan of at most `RESPONSES_REMEMBERED` pairs, never across an `.await`; a task
    /// would add a channel round trip (and a task's memory) to a microsecond's work.
    responses: Mutex<VecDeque<(String, String)>>,
}

/// The JSON error body: `{"error":{"message":…,"type":…}}` (the shape the official HTTP APIs use).
pub fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({"error": {"message": message, "type": status_kind(status)}}))
}

/// The `type` of the gateway's own error bodies, by status.
fn status_kind(status: u16) -> &'static str {
    match status {
        // 426 is only the WebSocket upgrade's version refusal, which the official gateway types
        // as a malformed request.
        400 | 426 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        429 => "rate_limited",
        431 => "request_header_fields_too_large",
        501 => "not_implemented",
        503 => "unavailable",
        _ => "error",
    }
}

/// An OpenAI-style error: `{"error":{"message","type"}}` with OpenAI's type names.
pub fn openai_error(status: u16, message: &str, kind: &str) -> Response {
    Response::json(status, &json!({"error": {"message": message, "type": kind}}))
}

/// Which HTTP surface reports an [`Error`]: each keeps the body shape its official clients read.
#[derive(Debug, Clone, Copy)]
pub enum Surface<'a> {
    /// The gateway's own routes: `{"error":{"message","type"}}`.
    Gateway,
    /// `/v1/*`: the same shape with OpenAI's type names, which the official SDKs map to
    /// exception classes.
    OpenAi,
    /// `POST /tools/invoke`: `{"ok":false,"error":{"type","message"}}`.
    Tools,
    /// Hooks: `{"ok":false,"error":"…"}`, with the run id when one was assigned.
    Hook { run_id: Option<&'a str> },
}

/// The one place a crate [`Error`] becomes an HTTP response: its status
/// ([`Error::http_status`]), `Retry-After` (whole seconds, at least one) when waiting helps, and
/// the surface's body.
pub fn error_response(e: &Error, surface: Surface<'_>) -> Response {
    let status = e.http_status();
    let message = e.to_string();
    let body = match surface {
        Surface::Gateway => json!({"error": {"message": message, "type": status_kind(status)}}),
        Surface::OpenAi => {
            let kind = match e {
                Error::Invalid { .. } | Error::UnknownMethod(_) => "invalid_request_error",
                Error::MissingScope(_) => "permission_error",
                Error::Busy { .. } => "rate_limit_error",
                Error::ShuttingDown | Error::Unavailable { .. } => "api_error",
            };
            json!({"error": {"message": message, "type": kind}})
        }
        Surface::Tools => json!({"ok": false, "error": {"type": status_kind(status), "message": message}}),
        Surface::Hook { run_id: None } => json!({"ok": false, "error": message}),
        Surface::Hook { run_id: Some(id) } => json!({"ok": false, "error": message, "runId": id}),
    };
    let resp = Response::json(status, &body);
    match e.retry_after_ms() {
        Some(ms) => resp.header("Retry-After", (ms / 1000).max(1).to_string()),
        None => resp,
    }
}

/// `404 Not Found` as plain text (what the official gateway answers for unknown paths and for
/// endpoints that are switched off).
pub fn not_found() -> Response {
    Response::text(404, "Not Found")
}

/// Parses a JSON object body; the error says what is wrong with it.
pub fn json_body(req: &Request) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("the request body must be a JSON object".into()),
        Err(e) if req.body.is_empty() => Err(format!("the request body is empty; send a JSON object ({e})")),
        Err(e) => Err(format!("invalid JSON body: {e}")),
    }
}

/// The `Authorization: Bearer …` value.
pub fn bearer(head: &Head) -> Option<&str> {
    let v = head.header("authorization")?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim()).filter(|t| !t.is_empty())
}

impl Api {
    pub fn new(gw: Arc<Gateway>) -> Api {
        Api { gw, hooks_limiter: Mutex::new(RateLimiter::default()), responses: Mutex::new(VecDeque::new()) }
    }

    /// Gateway HTTP auth: `Authorization: Bearer <gateway token or password>` (nothing needed
    /// with `auth.mode: none`), behind the same failed-attempt limiter as WebSocket connects.
    /// A valid bearer is a full operator.
    pub async fn authorize(&self, head: &Head, peer: SocketAddr) -> Result<(), Response> {
        let checked = self.check_bearer(head, peer);
        if matches!(&checked, Err(r) if r.status == 401) {
            smol::Timer::after(AUTH_FAILURE_DELAY).await;
        }
        checked
    }

    /// [`Api::authorize`] without the delay after a failure: used before a body is read, so a
    /// caller without the secret cannot make the gateway buffer megabytes.
    pub fn check_bearer(&self, head: &Head, peer: SocketAddr) -> Result<(), Response> {
        let settings = self.gw.settings();
        let key = auth::limiter_key(peer.ip(), None, &settings.auth.rate_limit);
        if let Some(k) = &key {
            if let Err(wait) = self.gw.limiter.lock().unwrap_or_else(|e| e.into_inner()).check(k, Instant::now()) {
                let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                return Err(error_response(&Error::busy("too many failed authentication attempts; retry later", ms), Surface::Gateway));
            }
        }
        if settings.auth.bearer_ok(bearer(head)) {
            if let Some(k) = &key {
                self.gw.limiter.lock().unwrap_or_else(|e| e.into_inner()).succeed(k);
            }
            return Ok(());
        }
        if let Some(k) = &key {
            self.gw.limiter.lock().unwrap_or_else(|e| e.into_inner()).fail(k, Instant::now(), &settings.auth.rate_limit);
        }
        Err(error(401, "Unauthorized"))
    }

    /// Remembers which session a `/v1/responses` id belongs to (bounded, oldest forgotten).
    pub fn remember_response(&self, id: &str, session_key: &str) {
        let mut r = self.responses.lock().unwrap_or_else(|e| e.into_inner());
        r.push_back((id.to_string(), session_key.to_string()));
        while r.len() > RESPONSES_REMEMBERED {
            r.pop_front();
        }
    }

    pub fn response_session(&self, id: &str) -> Option<String> {
        self.responses.lock().unwrap_or_else(|e| e.into_inner()).iter().rev().find(|(r, _)| r == id).map(|(_, k)| k.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::http::Body;

    fn body(resp: &Response) -> Value {
        match &resp.body {
            Body::Full(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
            Body::Empty | Body::Stream(_) => Value::Null,
        }
    }

    fn retry_after(resp: &Response) -> Option<&str> {
        resp.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("retry-after")).map(|(_, v)| v.as_ref())
    }

    #[test]
    fn every_error_has_one_status_on_every_surface() {
        for (e, _, status, text, retry_ms) in crate::error::tests::documented() {
            let surfaces = [Surface::Gateway, Surface::OpenAi, Surface::Tools, Surface::Hook { run_id: Some("r1") }];
            for surface in surfaces {
                let resp = error_response(&e, surface);
                assert_eq!(resp.status, status, "{e:?} on {surface:?}");
                let expected = retry_ms.map(|ms| (ms / 1000).max(1).to_string());
                assert_eq!(retry_after(&resp), expected.as_deref(), "{e:?} on {surface:?}");
                let b = body(&resp);
                let message = b["error"]["message"].as_str().or(b["error"].as_str());
                assert_eq!(message, Some(text), "{e:?} on {surface:?}");
            }
        }
    }

    #[test]
    fn shutting_down_is_503_and_busy_is_429_with_retry_after() {
        let stopping = error_response(&Error::ShuttingDown, Surface::OpenAi);
        assert_eq!((stopping.status, retry_after(&stopping)), (503, Some("1")));
        assert_eq!(body(&stopping)["error"]["type"], "api_error");
        let busy = error_response(&Error::busy("queue full", 2500), Surface::OpenAi);
        assert_eq!((busy.status, retry_after(&busy)), (429, Some("2")));
        assert_eq!(body(&busy)["error"]["type"], "rate_limit_error");
        let hook = error_response(&Error::invalid("text required"), Surface::Hook { run_id: None });
        assert_eq!(body(&hook), json!({"ok": false, "error": "text required"}));
    }
}
