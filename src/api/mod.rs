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
    responses: Mutex<VecDeque<(String, String)>>,
}

/// The JSON error body: `{"error":{"message":…,"type":…}}` (the shape the official HTTP APIs use).
pub fn error(status: u16, message: &str) -> Response {
    let kind = match status {
        400 => "invalid_request",
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
    };
    Response::json(status, &json!({"error": {"message": message, "type": kind}}))
}

/// An OpenAI-style error: `{"error":{"message","type"}}` with OpenAI's type names.
pub fn openai_error(status: u16, message: &str, kind: &str) -> Response {
    Response::json(status, &json!({"error": {"message": message, "type": kind}}))
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
                return Err(error(429, "too many failed authentication attempts; retry later")
                    .header("Retry-After", wait.as_secs().max(1).to_string()));
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
