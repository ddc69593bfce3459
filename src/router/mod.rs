//! The one port's router: every HTTP request and WebSocket upgrade that the server accepts comes
//! here. The route table decides from the head alone (path, method, what the config enables), so
//! a hot reload enables or disables an endpoint at once; the handlers are the HTTP API
//! (`crate::api`), the chat channels' webhooks, and the WebSocket RPC (`crate::rpc`), which takes
//! an upgrade on any path. Every response leaves through [`Router::finish`], which adds the headers
//! the official gateway sends. The control panel ([`panel`]) comes last: it has the paths under
//! its base path that no other route claims.

pub mod panel;

mod control_ui_root;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::api::{Api, error, hooks, not_found, openai, probes, responses, tools};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::limits::{HOOKS_MAX_BODY_BYTES, TOOLS_INVOKE_MAX_BODY_BYTES, V1_MAX_BODY_BYTES};
use crate::net::http::{Head, Request, Response};
use crate::net::server::{Service, Upgraded};

/// The service behind every listener of the gateway port.
pub struct Router {
    api: Arc<Api>,
}

impl Router {
    pub fn new(gw: Arc<Gateway>) -> Router {
        Router { api: Arc::new(Api::new(gw)) }
    }

    /// Headers every response carries (as the official gateway sends them).
    fn finish(&self, mut resp: Response) -> Response {
        resp = resp
            .header("X-Content-Type-Options", "nosniff")
            .header("Referrer-Policy", "no-referrer")
            .header("Permissions-Policy", "camera=(), microphone=(self), geolocation=()");
        if let Some(hsts) = &self.api.gw.settings().loaded.config.gateway.http.strict_transport_security {
            resp = resp.header("Strict-Transport-Security", hsts.clone());
        }
        resp
    }
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
    /// `GET|HEAD` under `gateway.controlUi.basePath` when `gateway.controlUi.root` is set.
    ControlUiRoot,
    /// `GET|HEAD <gateway.controlUi.basePath>…`: the control panel.
    Panel(panel::Target),
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
            // The API's own prefixes never fall back to the page, whatever the base path.
            // (`/hooks/` too, the hooks' default path, whether or not hooks are on.)
            p if ["/v1/", "/tools/", "/api/", "/hooks/"].iter().any(|x| p.starts_with(x))
                || (cfg.hooks.path.len() > 1 && p.starts_with(&cfg.hooks.path)) =>
            {
                return None;
            }
            p if control_ui_root::claims(p, cfg) => Route::ControlUiRoot,
            p if cfg.gateway.control_ui.enabled && !cfg!(panel_stub) => Route::Panel(panel::target(p, &cfg.gateway.control_ui.base_path)?),
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
            Route::Live | Route::Ready | Route::Startup | Route::Models | Route::Model | Route::ControlUiRoot | Route::Panel(_) => {
                &["GET", "HEAD"]
            }
            Route::ChatCompletions | Route::Responses | Route::ToolsInvoke | Route::Hook => &["POST"],
            Route::WhatsApp => &["GET", "POST"],
        }
    }

    /// Largest body the route reads.
    fn body_limit(self) -> usize {
        match self {
            // Probes take no body; a small one is read and ignored so keep-alive still works.
            Route::Live | Route::Ready | Route::Startup | Route::Models | Route::Model | Route::ControlUiRoot | Route::Panel(_) => 1024,
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
    match &cfg.channels.get(crate::config::channel_kind::ChannelKind::WhatsApp)?.service {
        crate::config::channels::Service::WhatsApp(w) => Some(w.webhook_path.as_str()),
        _ => None,
    }
}

/// Meta's subscription check (GET) and message deliveries (POST), signed with the app secret
/// (checked in the channel, which refuses everything when no secret is configured).
#[cfg(feature = "whatsapp")]
async fn whatsapp_webhook(gw: &Gateway, req: Request) -> Response {
    use crate::channels::whatsapp;
    let Some((link, channel)) = gw.channels.link(crate::channels::ChannelKind::WhatsApp) else {
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

impl Service for Router {
    fn admit(&self, head: &Head, peer: SocketAddr) -> Result<usize, Response> {
        let cfg = self.api.gw.settings().loaded.config.clone();
        let Some(route) = Route::find(&head.path, &cfg) else {
            return Err(self.finish(not_found()));
        };
        if let Route::Panel(target) = route {
            // Only browser navigations get the page for paths it does not know; other methods
            // on the panel's paths are unknown routes, as before the panel existed.
            let navigation = target != panel::Target::Page || head.path == cfg.gateway.control_ui.base_path || panel::wants_html(head);
            if !matches!(head.method.as_str(), "GET" | "HEAD") || !navigation {
                return Err(self.finish(not_found()));
            }
        }
        if !route.allow().contains(&head.method.as_str()) {
            let allow = route.allow().join(", ");
            return Err(self.finish(Response::text(405, "Method Not Allowed").header("Allow", allow)));
        }
        // Routes that take a large body are refused before it is read when the secret is wrong.
        match route {
            Route::ChatCompletions | Route::Responses | Route::ToolsInvoke => {
                self.api.check_bearer(head, peer).map_err(|r| self.finish(r))?
            }
            Route::Hook => hooks::check(&self.api, head, peer, &cfg).map_err(|r| self.finish(r))?,
            _ => {}
        }
        Ok(route.body_limit())
    }

    async fn respond(self: &Arc<Self>, req: Request, peer: SocketAddr) -> Response {
        let cfg = self.api.gw.settings().loaded.config.clone();
        let resp = match Route::find(&req.head.path, &cfg) {
            Some(Route::Live) => probes::live(),
            Some(Route::Ready) => probes::ready(&self.api.gw, peer),
            Some(Route::Startup) => probes::startup(&self.api.gw, peer),
            Some(Route::Hook) => hooks::handle(&self.api, req, peer, &cfg).await,
            Some(Route::WhatsApp) => whatsapp_webhook(&self.api.gw, req).await,
            Some(Route::ControlUiRoot) => control_ui_root::serve(&self.api, &req.head, peer, &cfg).await,
            Some(Route::Panel(target)) => panel::respond(&req.head, target, &cfg.gateway.control_ui.base_path),
            Some(route) => match self.api.authorize(&req.head, peer).await {
                Err(refused) => refused,
                Ok(()) => match route {
                    Route::Models => openai::models(&self.api.gw, &cfg),
                    Route::Model => openai::model(&self.api.gw, &cfg, &req.head.path),
                    Route::ChatCompletions => openai::chat_completions(&self.api.gw, req, cfg).await,
                    Route::Responses => responses::create(&self.api, req, cfg).await,
                    Route::ToolsInvoke => tools::invoke(&self.api.gw, req, cfg).await,
                    _ => not_found(),
                },
            },
            // Disabled between admit and respond by a reload.
            None => not_found(),
        };
        self.finish(resp)
    }

    async fn upgrade(self: &Arc<Self>, head: Head, io: Upgraded, peer: SocketAddr) {
        match crate::net::ws::check_upgrade(&head) {
            Ok(req) => crate::rpc::connection::serve(self.api.gw.clone(), head, req, io, peer).await,
            Err(refusal) => {
                // A refused upgrade is an HTTP error like any other: same body, same headers.
                let mut resp = error(refusal.status, refusal.message);
                if refusal.status == 426 {
                    resp = resp.header("Sec-WebSocket-Version", "13");
                }
                io.refuse(self.finish(resp)).await;
            }
        }
    }

    fn error_response(&self, status: u16, message: &str) -> Response {
        self.finish(error(status, message))
    }
}
