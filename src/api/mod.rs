//! HTTP on the gateway port: routing, auth, the error formats, and the headers every response
//! carries. The WebSocket upgrade (any path) is handed to [`crate::gateway::connection`].
//!
//! Routes: probes ([`probes`]); the OpenAI-compatible API ([`openai`], [`responses`]), off until
//! `gateway.http.endpoints.*.enabled`; `POST /tools/invoke` ([`tools`]); webhooks under
//! `hooks.path` ([`hooks`]) when `hooks.enabled`. Endpoints are looked up per request, so a hot
//! config reload enables or disables them at once.

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

use crate::config::Config;
use crate::gateway::Gateway;
use crate::gateway::auth::{self, RateLimiter};
use crate::limits::{AUTH_FAILURE_DELAY, HOOKS_MAX_BODY_BYTES, RESPONSES_REMEMBERED, TOOLS_INVOKE_MAX_BODY_BYTES, V1_MAX_BODY_BYTES};
use crate::net::http::{Head, Request, Response};
use crate::net::server::{Service, Upgraded};

/// The HTTP side of the gateway.
pub struct Api {
    pub gw: Arc<Gateway>,
    /// Failed hook-token attempts (their own limit: 20 per minute, then a minute's lockout).
    hooks_limiter: Mutex<RateLimiter>,
    /// `/v1/responses` ids and the sessions they continue (`previous_response_id`), newest last.
    responses: Mutex<VecDeque<(String, String)>>,
}

/// The routes this gateway serves, decided from the head alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `/health`, `/healthz`.
    Live,
    /// `/ready`, `/readyz`.
    Ready,
    /// `/startup`, `/startupz`.
    Startup,
    /// `GET /v1/models`.
    Models,
    /// `GET /v1/models/{id}`.
    Model,
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/responses`.
    Responses,
    /// `POST /tools/invoke`.
    ToolsInvoke,
    /// `POST <hooks.path>/<name>`.
    Hook,
    /// `GET|POST <channels.whatsapp.webhookPath>`: the WhatsApp Cloud API webhook.
    WhatsApp,
}

impl Route {
    /// The route for `path`, given which optional endpoints the config enables.
    fn find(path: &str, cfg: &Config) -> Option<Route> {
        let http = &cfg.gateway.http;
        let route = match path {
            "/health" | "/healthz" => Route::Live,
            "/ready" | "/readyz" => Route::Ready,
            "/startup" | "/startupz" => Route::Startup,
            "/v1/models" => Route::Models,
            "/v1/chat/completions" => Route::ChatCompletions,
            "/v1/responses" => Route::Responses,
            "/tools/invoke" => Route::ToolsInvoke,
            p if p.starts_with("/v1/models/") && p.len() > "/v1/models/".len() => Route::Model,
            p if cfg.hooks.enabled && hooks::hook_name(p, &cfg.hooks.path).is_some() => Route::Hook,
            p if whatsapp_path(cfg) == Some(p) => Route::WhatsApp,
            _ => return None,
        };
        let enabled = match route {
            Route::Models | Route::Model => http.chat_completions || http.responses,
            Route::ChatCompletions => http.chat_completions,
            Route::Responses => http.responses,
            _ => true,
        };
        enabled.then_some(route)
    }

    /// Methods the route answers (for 405 and `Allow`).
    fn allow(self) -> &'static [&'static str] {
        match self {
            Route::Live | Route::Ready | Route::Startup | Route::Models | Route::Model => &["GET", "HEAD"],
            Route::ChatCompletions | Route::Responses | Route::ToolsInvoke | Route::Hook => &["POST"],
            Route::WhatsApp => &["GET", "POST"],
        }
    }

    /// Largest body the route reads.
    fn body_limit(self) -> usize {
        match self {
            // Probes take no body; a small one is read and ignored so keep-alive still works.
            Route::Live | Route::Ready | Route::Startup | Route::Models | Route::Model => 1024,
            Route::ChatCompletions | Route::Responses => V1_MAX_BODY_BYTES,
            Route::ToolsInvoke => TOOLS_INVOKE_MAX_BODY_BYTES,
            Route::Hook => HOOKS_MAX_BODY_BYTES,
            Route::WhatsApp => crate::limits::WHATSAPP_WEBHOOK_MAX_BODY_BYTES,
        }
    }
}

/// The WhatsApp webhook path when that channel is configured and built in.
fn whatsapp_path(cfg: &Config) -> Option<&str> {
    if !cfg!(feature = "whatsapp") {
        return None;
    }
    match &cfg.channels.get("whatsapp")?.service {
        crate::config::channels::Service::WhatsApp(w) => Some(w.webhook_path.as_str()),
        _ => None,
    }
}

/// Meta's subscription check (GET) and message deliveries (POST), signed with the app secret
/// (checked in the channel, which refuses everything when no secret is configured).
#[cfg(feature = "whatsapp")]
async fn whatsapp_webhook(gw: &Gateway, req: Request) -> Response {
    use crate::channels::whatsapp;
    let Some((link, channel)) = gw.channels.link("whatsapp") else {
        return error(503, "the WhatsApp channel is not running (see `openclaw channels status`)");
    };
    let crate::config::channels::Service::WhatsApp(w) = &channel.service else { return not_found() };
    if req.head.method == "GET" {
        let q = |k: &str| req.head.query_param(k).and_then(openai::percent_decode);
        return match whatsapp::verify(w, q("hub.mode").as_deref(), q("hub.verify_token").as_deref(), q("hub.challenge").as_deref()) {
            Ok(challenge) => Response::text(200, &challenge),
            Err((status, why)) => error(status, why),
        };
    }
    let (status, body) = whatsapp::deliver(&link, w, req.head.header("x-hub-signature-256"), &req.body).await;
    Response::json(status, &body)
}

#[cfg(not(feature = "whatsapp"))]
async fn whatsapp_webhook(_gw: &Gateway, _req: Request) -> Response {
    not_found()
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

    /// Headers every response carries (as the official gateway sends them).
    fn finish(&self, mut resp: Response) -> Response {
        resp = resp
            .header("X-Content-Type-Options", "nosniff")
            .header("Referrer-Policy", "no-referrer")
            .header("Permissions-Policy", "camera=(), microphone=(self), geolocation=()");
        if let Some(hsts) = &self.gw.settings().loaded.config.gateway.http.strict_transport_security {
            resp = resp.header("Strict-Transport-Security", hsts.clone());
        }
        resp
    }

    /// Gateway HTTP auth: `Authorization: Bearer <gateway token or password>` (nothing needed
    /// with `auth.mode: none`), behind the same failed-attempt limiter as WebSocket connects.
    /// A valid bearer is a full operator.
    async fn authorize(&self, head: &Head, peer: SocketAddr) -> Result<(), Response> {
        let checked = self.check_bearer(head, peer);
        if matches!(&checked, Err(r) if r.status == 401) {
            smol::Timer::after(AUTH_FAILURE_DELAY).await;
        }
        checked
    }

    /// [`Api::authorize`] without the delay after a failure: used before a body is read, so a
    /// caller without the secret cannot make the gateway buffer megabytes.
    fn check_bearer(&self, head: &Head, peer: SocketAddr) -> Result<(), Response> {
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

impl Service for Api {
    fn admit(&self, head: &Head, peer: SocketAddr) -> Result<usize, Response> {
        let cfg = self.gw.settings().loaded.config.clone();
        let Some(route) = Route::find(&head.path, &cfg) else {
            return Err(self.finish(not_found()));
        };
        if !route.allow().contains(&head.method.as_str()) {
            let allow = route.allow().join(", ");
            return Err(self.finish(Response::text(405, "Method Not Allowed").header("Allow", allow)));
        }
        // Routes that take a large body are refused before it is read when the secret is wrong.
        match route {
            Route::ChatCompletions | Route::Responses | Route::ToolsInvoke => self.check_bearer(head, peer).map_err(|r| self.finish(r))?,
            Route::Hook => hooks::check(self, head, peer, &cfg).map_err(|r| self.finish(r))?,
            _ => {}
        }
        Ok(route.body_limit())
    }

    async fn respond(self: &Arc<Self>, req: Request, peer: SocketAddr) -> Response {
        let cfg = self.gw.settings().loaded.config.clone();
        let resp = match Route::find(&req.head.path, &cfg) {
            Some(Route::Live) => probes::live(),
            Some(Route::Ready) => probes::ready(&self.gw, peer),
            Some(Route::Startup) => probes::startup(&self.gw, peer),
            Some(Route::Hook) => hooks::handle(self, req, peer, &cfg).await,
            Some(Route::WhatsApp) => whatsapp_webhook(&self.gw, req).await,
            Some(route) => match self.authorize(&req.head, peer).await {
                Err(refused) => refused,
                Ok(()) => match route {
                    Route::Models => openai::models(&self.gw, &cfg),
                    Route::Model => openai::model(&self.gw, &cfg, &req.head.path),
                    Route::ChatCompletions => openai::chat_completions(&self.gw, req, cfg).await,
                    Route::Responses => responses::create(self, req, cfg).await,
                    Route::ToolsInvoke => tools::invoke(&self.gw, req, cfg).await,
                    _ => not_found(),
                },
            },
            // Disabled between admit and respond by a reload.
            None => not_found(),
        };
        self.finish(resp)
    }

    async fn upgrade(self: &Arc<Self>, head: Head, io: Upgraded, peer: SocketAddr) {
        crate::gateway::connection::serve(self.gw.clone(), head, io, peer).await;
    }

    fn error_response(&self, status: u16, message: &str) -> Response {
        self.finish(error(status, message))
    }
}
