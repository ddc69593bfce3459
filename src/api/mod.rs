//! HTTP on the gateway port: routing, the error format, and the headers every response carries.
//! The WebSocket upgrade (any path) is handed to [`crate::gateway::connection`].

pub mod probes;

use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::gateway::Gateway;
use crate::net::http::{Head, Request, Response};
use crate::net::server::{Service, Upgraded};

/// The HTTP side of the gateway.
pub struct Api {
    pub gw: Arc<Gateway>,
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
}

impl Route {
    fn find(path: &str) -> Option<Route> {
        match path {
            "/health" | "/healthz" => Some(Route::Live),
            "/ready" | "/readyz" => Some(Route::Ready),
            "/startup" | "/startupz" => Some(Route::Startup),
            _ => None,
        }
    }

    /// Methods the route answers (for 405 and `Allow`).
    fn allow(self) -> &'static [&'static str] {
        match self {
            Route::Live | Route::Ready | Route::Startup => &["GET", "HEAD"],
        }
    }

    /// Largest body the route reads.
    fn body_limit(self) -> usize {
        match self {
            // Probes take no body; a small one is read and ignored so keep-alive still works.
            Route::Live | Route::Ready | Route::Startup => 1024,
        }
    }
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

impl Api {
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
}

impl Service for Api {
    fn admit(&self, head: &Head, _peer: SocketAddr) -> Result<usize, Response> {
        let Some(route) = Route::find(&head.path) else {
            return Err(self.finish(error(404, "Not Found")));
        };
        if !route.allow().contains(&head.method.as_str()) {
            let allow = route.allow().join(", ");
            return Err(self.finish(error(405, "Method Not Allowed").header("Allow", allow)));
        }
        Ok(route.body_limit())
    }

    async fn respond(self: &Arc<Self>, req: Request, peer: SocketAddr) -> Response {
        let resp = match Route::find(&req.head.path) {
            Some(Route::Live) => probes::live(),
            Some(Route::Ready) => probes::ready(&self.gw, peer),
            Some(Route::Startup) => probes::startup(&self.gw, peer),
            None => error(404, "Not Found"),
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
