//! Device pairing: `device.pair.list`, `device.pair.approve`, `device.pair.reject`,
//! `device.pair.remove` (official names, params, results and errors; `operator.pairing`). The
//! store and the decisions at `connect` are `crate::gateway::devices`.

use serde_json::{Value, json};

use super::Call;
use crate::error::Error;
use crate::gateway::devices::{self, Refused};
use crate::gateway::hub::Outbound;
use crate::rpc::params;
use crate::rpc::protocol;

/// Close code and reason for the live connections of a removed device (official).
const REMOVED_CLOSE: (u16, &str) = (4001, "device removed");

/// `device.pair.list {}` → `{pending, paired}`.
pub async fn list(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("device.pair.list", p, &[])?.done()?;
    let online: Vec<String> = call.gw.hub.clients().await.into_iter().filter_map(|c| c.device_id).collect();
    Ok(call.gw.devices.list(&|id| online.iter().any(|o| o == id), crate::clock::now_ms()))
}

fn request_id(method: &str, p: &Option<Value>) -> Result<String, Error> {
    let mut params = params::closed(method, p, &["requestId"])?;
    params.require(&["requestId"]);
    let id = params.req_str("requestId", 1, usize::MAX);
    params.done()?;
    Ok(id)
}

/// `device.pair.approve {requestId}` → `{requestId, device}`.
pub async fn approve(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let id = request_id("device.pair.approve", p)?;
    let (pending, rec) = call.gw.devices.approve(&id, crate::clock::now_ms()).map_err(refused)?;
    log::info!(target: "gateway", "device {} approved ({})", pending.device_id, pending.request_id);
    devices::announce_resolved(&call.gw.hub, &pending.request_id, &pending.device_id, "approved").await;
    Ok(json!({"requestId": pending.request_id, "device": rec.view(None)}))
}

/// `device.pair.reject {requestId}` → `{requestId, deviceId}`.
pub async fn reject(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let id = request_id("device.pair.reject", p)?;
    let pending = call.gw.devices.reject(&id, crate::clock::now_ms()).map_err(refused)?;
    log::info!(target: "gateway", "device {} rejected ({})", pending.device_id, pending.request_id);
    devices::announce_resolved(&call.gw.hub, &pending.request_id, &pending.device_id, "rejected").await;
    Ok(json!({"requestId": pending.request_id, "deviceId": pending.device_id}))
}

/// `device.pair.remove {deviceId}` → `{deviceId}`; then the device's live connections are closed
/// with 4001, after the answer (the caller may be the device it removed).
pub async fn remove(call: &Call<'_>, p: &Option<Value>) -> Result<Option<Value>, Error> {
    let mut params = params::closed("device.pair.remove", p, &["deviceId"])?;
    params.require(&["deviceId"]);
    let device_id = params.req_str("deviceId", 1, usize::MAX);
    params.done()?;
    call.gw.devices.remove(&device_id).map_err(refused)?;
    log::info!(target: "gateway", "device {device_id} removed");
    // The answer is queued first, so the caller reads it before any close frame.
    call.out.push(Outbound::Frame(protocol::response_ok(call.id, &json!({"deviceId": device_id}))));
    call.gw.hub.close_device(&device_id, REMOVED_CLOSE.0, REMOVED_CLOSE.1).await;
    Ok(None)
}

fn refused(Refused(why): Refused) -> Error {
    Error::invalid(why)
}
