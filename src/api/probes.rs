//! Health probes, unauthenticated: `/health` (the process answers), `/startup` (start-up done, not
//! draining) and `/ready` (ready for traffic). Callers on this machine also get the details
//! (uptime, version); remote callers get only the verdict, as the official gateway does.

use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::gateway::{Gateway, Phase};
use crate::net::http::Response;

fn probe(status: u16, body: serde_json::Value) -> Response {
    Response::json(status, &body).header("Cache-Control", "no-store")
}

/// The liveness answer never changes, and load balancers ask often: its bytes are written once,
/// here (what `json!({"ok": true, "status": "live"})` serializes to).
const LIVE_BODY: &[u8] = br#"{"ok":true,"status":"live"}"#;

pub fn live() -> Response {
    Response::json_bytes(200, LIVE_BODY.to_vec()).header("Cache-Control", "no-store")
}

pub fn ready(gw: &Arc<Gateway>, peer: SocketAddr) -> Response {
    let (status, mut body) = match gw.phase() {
        Phase::Ready => (200, json!({"ready": true, "failing": []})),
        Phase::Starting => (503, json!({"ready": false, "failing": ["startup"]})),
        Phase::Draining => (503, json!({"ready": false, "failing": ["draining"]})),
        Phase::Restarting => (503, json!({"ready": false, "failing": ["restarting"]})),
    };
    if peer.ip().is_loopback() {
        body["uptimeMs"] = json!(gw.uptime_ms());
        body["version"] = json!(crate::VERSION);
    }
    probe(status, body)
}

pub fn startup(gw: &Arc<Gateway>, peer: SocketAddr) -> Response {
    let (status, mut body) = match gw.phase() {
        Phase::Ready => (200, json!({"ok": true, "status": "started"})),
        Phase::Starting => (503, json!({"ok": false, "status": "starting"})),
        Phase::Draining | Phase::Restarting => (503, json!({"ok": false, "status": "draining"})),
    };
    if peer.ip().is_loopback() {
        body["uptimeMs"] = json!(gw.uptime_ms());
        body["version"] = json!(crate::VERSION);
    }
    probe(status, body)
}
