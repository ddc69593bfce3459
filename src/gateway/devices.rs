//! Paired devices, as the official gateway keeps them: a client that proves a device identity
//! (an Ed25519 key, `connect.device`) is either paired, silently approved (a local client), or
//! refused with `pairing required` and a pending request that an operator approves
//! (`device.pair.approve`, `openclaw devices approve`, or `/approve CODE` from a chat channel).
//! A paired device gets a device token in `hello-ok.auth.deviceToken`, which later stands in for
//! the shared secret.
//!
//! The store is `<stateDir>/devices/paired.json` (the official JSON layout, mode 600, replaced
//! atomically, bounded to [`DEVICES_PAIRED_MAX`] records). Pending requests live in memory only:
//! they expire after five minutes, and a waiting client simply asks again.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::auth::Scope;
use super::hub::{Event, Hub};
use crate::limits::{DEVICES_FILE_MAX_BYTES, DEVICES_PAIRED_MAX, DEVICES_PENDING_MAX, DEVICES_PENDING_TTL_MS};

/// A device token, per role (the token itself never leaves the store except in `hello-ok`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceToken {
    pub token: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<u64>,
}

/// A paired device record (the official `paired.json` entry).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paired {
    pub device_id: String,
    pub public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    #[serde(default = "operator")]
    pub role: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_via: Option<String>,
    pub created_at_ms: u64,
    pub approved_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at_ms: Option<u64>,
    #[serde(default)]
    pub tokens: BTreeMap<String, DeviceToken>,
}

fn operator() -> String {
    "operator".to_string()
}

impl Paired {
    /// The record as `device.pair.list` shows it: token summaries instead of tokens.
    pub fn view(&self, connected: Option<bool>) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        let tokens: Vec<Value> = self
            .tokens
            .values()
            .map(|t| {
                let mut s = json!({"role": t.role, "scopes": t.scopes, "createdAtMs": t.created_at_ms});
                if let Some(r) = t.rotated_at_ms {
                    s["rotatedAtMs"] = json!(r);
                }
                if let Some(u) = t.last_used_at_ms {
                    s["lastUsedAtMs"] = json!(u);
                }
                s
            })
            .collect();
        v["tokens"] = json!(tokens);
        if let Some(c) = connected {
            v["connected"] = json!(c);
        }
        v
    }

    fn covers(&self, role: &str, scopes: &[String]) -> bool {
        self.roles.iter().any(|r| r == role) && scopes_cover(&self.scopes, scopes)
    }
}

/// Whether `approved` scopes cover `wanted` (`operator.admin` covers every `operator.*`).
pub fn scopes_cover(approved: &[String], wanted: &[String]) -> bool {
    let admin = approved.iter().any(|s| s == Scope::Admin.name());
    wanted.iter().all(|w| approved.contains(w) || (admin && w.starts_with("operator.")))
}

/// A waiting pairing request (the official `PendingRequest`, and the `device.pair.requested`
/// payload).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub request_id: String,
    pub device_id: String,
    pub public_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_mode: Option<String>,
    pub role: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub remote_ip: String,
    pub silent: bool,
    pub is_repair: bool,
    pub ts: u64,
}

/// What a connecting client claims about its device (after its proof was verified).
#[derive(Debug, Clone)]
pub struct Claim {
    pub device_id: String,
    /// base64url, no padding.
    pub public_key: String,
    pub display_name: Option<String>,
    pub platform: String,
    pub client_id: String,
    pub client_mode: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub remote_ip: String,
}

/// Why a paired device must be approved again, or that it never was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingReason {
    NotPaired,
    RoleUpgrade,
    ScopeUpgrade,
}

impl PairingReason {
    pub fn name(self) -> &'static str {
        match self {
            PairingReason::NotPaired => "not-paired",
            PairingReason::RoleUpgrade => "role-upgrade",
            PairingReason::ScopeUpgrade => "scope-upgrade",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            PairingReason::NotPaired => "pairing required: device is not approved yet",
            PairingReason::RoleUpgrade => "pairing required: device is asking for a higher role than currently approved",
            PairingReason::ScopeUpgrade => "pairing required: device is asking for more scopes than currently approved",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            PairingReason::NotPaired => "Approve this device from the pending pairing requests.",
            PairingReason::RoleUpgrade => "Review the requested role upgrade, then approve the pending request.",
            PairingReason::ScopeUpgrade => "Review the requested scopes, then approve the pending upgrade.",
        }
    }
}

/// The outcome of a device at `connect`.
#[derive(Debug)]
pub enum Admitted {
    /// Paired (perhaps just now, silently): the device token to hand over.
    Paired { token: String, issued_at_ms: u64, silently_approved: Option<String> },
    /// Waiting for approval: the request (new or refreshed) and requests it replaced.
    Waiting { reason: PairingReason, request: Box<Pending>, created: bool, superseded: Vec<Pending>, paired: Option<Box<Paired>> },
}

/// A device token that does not match (or a device that has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenMismatch;

/// A device operation refused: the official message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

#[derive(Debug, Default)]
struct Inner {
    paired: BTreeMap<String, Paired>,
    pending: Vec<Pending>,
}

/// The paired-device store and the pending requests of a running gateway.
#[derive(Debug)]
pub struct Devices {
    path: PathBuf,
    inner: Mutex<Inner>,
}

impl Devices {
    /// Opens `<state_dir>/devices/paired.json` (missing: no devices; unreadable or damaged: logged,
    /// no devices, and the file is left alone until the next approval replaces it).
    pub fn open(state_dir: &Path) -> Devices {
        let path = state_dir.join("devices").join("paired.json");
        let paired = match read_store(&path) {
            Ok(p) => p,
            Err(why) => {
                log::error!(target: "gateway", "paired devices: {}: {why}; starting with none", path.display());
                BTreeMap::new()
            }
        };
        Devices { path, inner: Mutex::new(Inner { paired, pending: Vec::new() }) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, inner: &Inner) -> Result<(), Refused> {
        let text = serde_json::to_vec_pretty(&inner.paired).map_err(|e| Refused(format!("cannot encode paired devices: {e}")))?;
        crate::fsutil::write_private_atomic(&self.path, &text).map_err(|e| {
            log::error!(target: "gateway", "cannot write {}: {e}", self.path.display());
            Refused(format!("cannot save paired devices: {e}"))
        })
    }

    /// Checks a device token presented in `connect.auth.deviceToken` (constant time). `Ok` with the
    /// token's scopes.
    pub fn check_token(
        &self,
        device_id: &str,
        public_key: &str,
        role: &str,
        token: &str,
        now_ms: u64,
    ) -> Result<Vec<String>, TokenMismatch> {
        let mut inner = self.lock();
        let Some(rec) = inner.paired.get_mut(device_id).filter(|r| r.public_key == public_key) else { return Err(TokenMismatch) };
        let Some(t) = rec.tokens.get_mut(role) else { return Err(TokenMismatch) };
        if !crate::config::secret::Secret::new(&t.token).matches(token) {
            return Err(TokenMismatch);
        }
        // Kept in memory only: a write per connect would wear a Pi's SD card for a timestamp.
        t.last_used_at_ms = Some(now_ms);
        rec.last_seen_at_ms = Some(now_ms);
        Ok(t.scopes.clone())
    }

    /// Decides a verified device at `connect`: paired (a token issued or reused), silently
    /// approved when `silent` allows it, or waiting for approval.
    pub fn admit(&self, claim: &Claim, silent: bool, now_ms: u64) -> Result<Admitted, Refused> {
        let mut inner = self.lock();
        expire(&mut inner, now_ms);
        let existing = inner.paired.get(&claim.device_id).filter(|r| r.public_key == claim.public_key).cloned();
        let reason = match &existing {
            Some(rec) if rec.covers(&claim.role, &claim.scopes) => None,
            Some(rec) if !rec.roles.iter().any(|r| r == &claim.role) => Some(PairingReason::RoleUpgrade),
            Some(_) => Some(PairingReason::ScopeUpgrade),
            None => Some(PairingReason::NotPaired),
        };
        let silently_approved = match reason {
            None => None,
            Some(_) if silent => {
                let request_id = crate::ids::uuid();
                let pending = new_pending(claim, &request_id, existing.as_ref(), now_ms);
                inner.pending.retain(|p| p.device_id != claim.device_id);
                approve_into(&mut inner, &pending, "silent", now_ms)?;
                self.save(&inner)?;
                Some(request_id)
            }
            Some(reason) => {
                // One pending request per device, refreshed while it covers what is asked now.
                if let Some(p) = inner.pending.iter_mut().find(|p| {
                    p.device_id == claim.device_id
                        && p.public_key == claim.public_key
                        && p.role == claim.role
                        && claim.scopes.iter().all(|s| p.scopes.contains(s))
                }) {
                    p.ts = now_ms;
                    p.remote_ip = claim.remote_ip.clone();
                    let request = Box::new(p.clone());
                    return Ok(Admitted::Waiting {
                        reason,
                        request,
                        created: false,
                        superseded: Vec::new(),
                        paired: existing.map(Box::new),
                    });
                }
                let mut merged = claim.clone();
                let superseded: Vec<Pending> = inner.pending.iter().filter(|p| p.device_id == claim.device_id).cloned().collect();
                for old in &superseded {
                    for s in &old.scopes {
                        if !merged.scopes.contains(s) {
                            merged.scopes.push(s.clone());
                        }
                    }
                }
                inner.pending.retain(|p| p.device_id != claim.device_id);
                if inner.pending.len() >= DEVICES_PENDING_MAX {
                    // The oldest request gives way; its device asks again if it still waits.
                    if let Some(oldest) = inner.pending.iter().enumerate().min_by_key(|(_, p)| p.ts).map(|(i, _)| i) {
                        inner.pending.remove(oldest);
                    }
                }
                let request = new_pending(&merged, &crate::ids::uuid(), existing.as_ref(), now_ms);
                inner.pending.push(request.clone());
                return Ok(Admitted::Waiting {
                    reason,
                    request: Box::new(request),
                    created: true,
                    superseded,
                    paired: existing.map(Box::new),
                });
            }
        };
        let rec = inner.paired.get_mut(&claim.device_id).ok_or_else(|| Refused("unknown deviceId".into()))?;
        rec.last_seen_at_ms = Some(now_ms);
        if rec.display_name.is_none() {
            rec.display_name = claim.display_name.clone();
        }
        let reusable =
            rec.tokens.get(&claim.role).filter(|t| scopes_cover(&t.scopes, &claim.scopes) && scopes_cover(&rec.scopes, &t.scopes)).cloned();
        let (token, issued_at_ms) = match reusable {
            Some(t) => (t.token.clone(), t.rotated_at_ms.unwrap_or(t.created_at_ms)),
            None => {
                let rotated = rec.tokens.contains_key(&claim.role).then_some(now_ms);
                let mut scopes = claim.scopes.clone();
                scopes.sort();
                let t = DeviceToken {
                    token: new_token(),
                    role: claim.role.clone(),
                    scopes,
                    created_at_ms: now_ms,
                    rotated_at_ms: rotated,
                    last_used_at_ms: None,
                };
                let out = (t.token.clone(), now_ms);
                rec.tokens.insert(claim.role.clone(), t);
                self.save(&inner)?;
                out
            }
        };
        Ok(Admitted::Paired { token, issued_at_ms, silently_approved })
    }

    /// `{pending, paired}` for `device.pair.list`; `connected` tells which devices are online.
    pub fn list(&self, connected: &dyn Fn(&str) -> bool, now_ms: u64) -> Value {
        let mut inner = self.lock();
        expire(&mut inner, now_ms);
        let mut pending = inner.pending.clone();
        pending.sort_by_key(|p| std::cmp::Reverse(p.ts));
        let paired: Vec<Value> = inner.paired.values().map(|r| r.view(Some(connected(&r.device_id)))).collect();
        json!({"pending": pending, "paired": paired})
    }

    /// Approves a pending request (`device.pair.approve`).
    pub fn approve(&self, request_id: &str, now_ms: u64) -> Result<(Pending, Paired), Refused> {
        let mut inner = self.lock();
        expire(&mut inner, now_ms);
        let Some(i) = inner.pending.iter().position(|p| p.request_id == request_id) else {
            return Err(Refused("unknown requestId".into()));
        };
        let pending = inner.pending.remove(i);
        approve_into(&mut inner, &pending, "owner", now_ms)?;
        self.save(&inner)?;
        let rec = inner.paired.get(&pending.device_id).cloned().ok_or_else(|| Refused("unknown deviceId".into()))?;
        Ok((pending, rec))
    }

    /// The pending request a confirmation code names: the first 8 hex digits of the device id,
    /// with or without the dash the panel shows (`7KQ2ABCD`, `7kq2-abcd`).
    pub fn pending_by_code(&self, code: &str, now_ms: u64) -> Option<Pending> {
        let wanted: String = code.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
        if wanted.len() != 8 || !wanted.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let mut inner = self.lock();
        expire(&mut inner, now_ms);
        inner.pending.iter().filter(|p| p.device_id.to_ascii_lowercase().starts_with(&wanted)).max_by_key(|p| p.ts).cloned()
    }

    /// Rejects a pending request (`device.pair.reject`).
    pub fn reject(&self, request_id: &str, now_ms: u64) -> Result<Pending, Refused> {
        let mut inner = self.lock();
        expire(&mut inner, now_ms);
        let Some(i) = inner.pending.iter().position(|p| p.request_id == request_id) else {
            return Err(Refused("unknown requestId".into()));
        };
        Ok(inner.pending.remove(i))
    }

    /// Removes a paired device and its pending requests (`device.pair.remove`).
    pub fn remove(&self, device_id: &str) -> Result<(), Refused> {
        let mut inner = self.lock();
        if inner.paired.remove(device_id).is_none() {
            return Err(Refused("unknown deviceId".into()));
        }
        inner.pending.retain(|p| p.device_id != device_id);
        self.save(&inner)
    }
}

fn new_pending(claim: &Claim, request_id: &str, existing: Option<&Paired>, now_ms: u64) -> Pending {
    Pending {
        request_id: request_id.to_string(),
        device_id: claim.device_id.clone(),
        public_key: claim.public_key.clone(),
        display_name: claim.display_name.clone(),
        platform: Some(claim.platform.clone()),
        client_id: Some(claim.client_id.clone()),
        client_mode: Some(claim.client_mode.clone()),
        role: claim.role.clone(),
        roles: vec![claim.role.clone()],
        scopes: claim.scopes.clone(),
        remote_ip: claim.remote_ip.clone(),
        silent: false,
        is_repair: existing.is_some(),
        ts: now_ms,
    }
}

/// Turns a request into a paired record (kept tokens and first-seen time of a repaired device).
fn approve_into(inner: &mut Inner, p: &Pending, via: &str, now_ms: u64) -> Result<(), Refused> {
    let old = inner.paired.remove(&p.device_id).filter(|r| r.public_key == p.public_key);
    if old.is_none() && inner.paired.len() >= DEVICES_PAIRED_MAX {
        return Err(Refused(format!("too many paired devices ({DEVICES_PAIRED_MAX}); remove one first (openclaw devices remove)")));
    }
    let mut roles = old.as_ref().map(|r| r.roles.clone()).unwrap_or_default();
    for r in &p.roles {
        if !roles.contains(r) {
            roles.push(r.clone());
        }
    }
    let mut scopes = old.as_ref().map(|r| r.scopes.clone()).unwrap_or_default();
    for s in &p.scopes {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    let rec = Paired {
        device_id: p.device_id.clone(),
        public_key: p.public_key.clone(),
        display_name: p.display_name.clone(),
        platform: p.platform.clone(),
        client_id: p.client_id.clone(),
        client_mode: p.client_mode.clone(),
        remote_ip: Some(p.remote_ip.clone()),
        role: p.role.clone(),
        roles,
        scopes,
        approved_via: Some(via.to_string()),
        created_at_ms: old.as_ref().map(|r| r.created_at_ms).unwrap_or(now_ms),
        approved_at_ms: now_ms,
        last_seen_at_ms: old.as_ref().and_then(|r| r.last_seen_at_ms),
        tokens: old.map(|r| r.tokens).unwrap_or_default(),
    };
    inner.paired.insert(p.device_id.clone(), rec);
    Ok(())
}

fn expire(inner: &mut Inner, now_ms: u64) {
    inner.pending.retain(|p| now_ms.saturating_sub(p.ts) < DEVICES_PENDING_TTL_MS);
}

fn new_token() -> String {
    let mut b = [0u8; 32];
    crate::ids::random_bytes(&mut b);
    crate::encoding::base64url(&b)
}

fn read_store(path: &Path) -> Result<BTreeMap<String, Paired>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.to_string()),
    };
    if !meta.is_file() || meta.len() > DEVICES_FILE_MAX_BYTES {
        return Err(format!("not a regular file of at most {DEVICES_FILE_MAX_BYTES} bytes"));
    }
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut map: BTreeMap<String, Paired> = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    map.retain(|k, v| k == &v.device_id);
    Ok(map)
}

/// The public key as the store keeps it: base64url without padding (standard base64 accepted).
pub fn normalize_public_key(key: &str) -> Option<String> {
    let raw = crate::encoding::base64_decode(key.trim())?;
    (raw.len() == 32).then(|| crate::encoding::base64url(&raw))
}

/// The code a waiting browser shows (and `/approve` takes): `XXXX-XXXX` from the device id.
pub fn confirmation_code(device_id: &str) -> String {
    let head: String = device_id.chars().take(8).collect::<String>().to_ascii_uppercase();
    let (a, b): (String, String) = (head.chars().take(4).collect(), head.chars().skip(4).collect());
    format!("{a}-{b}")
}

/// `device.pair.requested` (to operators with `operator.pairing`).
pub async fn announce_requested(hub: &Hub, p: &Pending) {
    let payload = serde_json::to_value(p).unwrap_or_else(|_| json!({}));
    hub.broadcast(Event::new("device.pair.requested", &payload).scoped(Scope::Pairing)).await;
}

/// `device.pair.resolved` with `approved` or `rejected`.
pub async fn announce_resolved(hub: &Hub, request_id: &str, device_id: &str, decision: &str) {
    let payload = json!({"requestId": request_id, "deviceId": device_id, "decision": decision, "ts": crate::clock::now_ms()});
    hub.broadcast(Event::new("device.pair.resolved", &payload).scoped(Scope::Pairing)).await;
}

/// The chat command `/approve XXXX-XXXX` for the channels: from a sender the channel already
/// allows, approves the device waiting with that confirmation code (the code the waiting browser
/// shows). Any other text is not this command, and the message goes to the agent as usual.
pub struct ChatApprovals {
    pub devices: std::sync::Arc<Devices>,
    pub hub: Hub,
}

impl crate::channels::ChatCommands for ChatApprovals {
    fn reply<'a>(&'a self, text: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            let mut words = text.split_whitespace();
            if !words.next()?.eq_ignore_ascii_case("/approve") {
                return None;
            }
            Some(match words.next() {
                Some(code) => approve_by_code(&self.devices, &self.hub, code).await,
                None => "Usage: /approve XXXX-XXXX (the confirmation code the waiting browser shows)".to_string(),
            })
        })
    }
}

/// Approves the device waiting with confirmation `code`. Returns the reply for the chat.
async fn approve_by_code(devices: &Devices, hub: &Hub, code: &str) -> String {
    let now = crate::clock::now_ms();
    let Some(p) = devices.pending_by_code(code, now) else {
        return format!("No device is waiting for approval with code {}.", code.trim());
    };
    match devices.approve(&p.request_id, now) {
        Ok((p, rec)) => {
            announce_resolved(hub, &p.request_id, &p.device_id, "approved").await;
            let who = rec.display_name.unwrap_or_else(|| confirmation_code(&rec.device_id));
            log::info!(target: "gateway", "device {} approved from a chat channel ({})", rec.device_id, p.request_id);
            format!("Approved {who} ({}). The waiting browser connects by itself.", confirmation_code(&p.device_id))
        }
        Err(Refused(why)) => format!("Could not approve: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(id: &str, scopes: &[&str]) -> Claim {
        Claim {
            device_id: id.to_string(),
            public_key: format!("key-{id}"),
            display_name: Some("Browser".into()),
            platform: "Linux".into(),
            client_id: "openclaw-control-ui".into(),
            client_mode: "webchat".into(),
            role: "operator".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            remote_ip: "203.0.113.7".into(),
        }
    }

    fn store() -> (Devices, PathBuf) {
        let dir = std::env::temp_dir().join(format!("oc-devices-{}", crate::ids::uuid()));
        (Devices::open(&dir), dir)
    }

    #[test]
    fn a_remote_device_waits_then_gets_a_token_once_approved() {
        let (d, dir) = store();
        let c = claim("abcdef0123", &["operator.read"]);
        let Admitted::Waiting { request, created: true, .. } = d.admit(&c, false, 1000).unwrap() else { panic!() };
        let Admitted::Waiting { request: again, created: false, .. } = d.admit(&c, false, 2000).unwrap() else { panic!() };
        assert_eq!(request.request_id, again.request_id, "refreshed, not a new request");
        assert_eq!(d.pending_by_code("ABCD-EF01", 2000).unwrap().request_id, request.request_id);
        assert!(d.pending_by_code("ABCD-EF0", 2000).is_none());
        d.approve(&request.request_id, 3000).unwrap();
        let Admitted::Paired { token, .. } = d.admit(&c, false, 4000).unwrap() else { panic!() };
        assert!(d.check_token("abcdef0123", "key-abcdef0123", "operator", &token, 5000).is_ok());
        assert!(d.check_token("abcdef0123", "key-abcdef0123", "operator", "wrong", 5000).is_err());
        let Admitted::Paired { token: same, .. } = d.admit(&c, false, 6000).unwrap() else { panic!() };
        assert_eq!(token, same, "a covering token is reused");
        let more = claim("abcdef0123", &["operator.admin"]);
        assert!(matches!(d.admit(&more, false, 7000).unwrap(), Admitted::Waiting { reason: PairingReason::ScopeUpgrade, .. }));
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(d.path()).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        let reopened = Devices::open(&dir);
        assert!(reopened.check_token("abcdef0123", "key-abcdef0123", "operator", &token, 8000).is_ok());
        reopened.remove("abcdef0123").unwrap();
        assert_eq!(reopened.remove("abcdef0123").unwrap_err(), Refused("unknown deviceId".into()));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn local_devices_are_approved_silently_and_requests_expire() {
        let (d, dir) = store();
        let Admitted::Paired { silently_approved: Some(_), .. } = d.admit(&claim("11", &["operator.admin"]), true, 1).unwrap() else {
            panic!()
        };
        let Admitted::Waiting { request, .. } = d.admit(&claim("22", &[]), false, 1).unwrap() else { panic!() };
        assert_eq!(d.approve(&request.request_id, 1 + DEVICES_PENDING_TTL_MS).unwrap_err(), Refused("unknown requestId".into()));
        assert!(scopes_cover(&["operator.admin".into()], &["operator.pairing".into()]));
        assert!(!scopes_cover(&["operator.read".into()], &["operator.write".into()]));
        assert_eq!(confirmation_code("abcdef0123"), "ABCD-EF01");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_approve_chat_command_approves_by_code_and_lets_other_text_through() {
        use crate::channels::ChatCommands;
        let (d, dir) = store();
        let now = crate::clock::now_ms();
        let Admitted::Waiting { request, .. } = d.admit(&claim("abcdef0123", &["operator.read"]), false, now).unwrap() else { panic!() };
        let approvals = ChatApprovals { devices: std::sync::Arc::new(d), hub: Hub::start(1 << 20) };
        smol::block_on(async {
            assert_eq!(approvals.reply("hello /approve").await, None, "not the command: the agent gets it");
            assert!(approvals.reply("/approve").await.unwrap().starts_with("Usage: /approve XXXX-XXXX"));
            assert_eq!(approvals.reply("/approve 0000-0000").await.unwrap(), "No device is waiting for approval with code 0000-0000.");
            let reply = approvals.reply("/APPROVE abcd-ef01").await.unwrap();
            assert!(reply.starts_with("Approved Browser (ABCD-EF01)"), "{reply}");
        });
        assert!(approvals.devices.pending_by_code("ABCD-EF01", now).is_none(), "{request:?} is no longer waiting");
        assert_eq!(approvals.devices.list(&|_| false, now)["paired"].as_array().map(Vec::len), Some(1));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_damaged_store_is_ignored_not_fatal() {
        let dir = std::env::temp_dir().join(format!("oc-devices-{}", crate::ids::uuid()));
        std::fs::create_dir_all(dir.join("devices")).unwrap();
        std::fs::write(dir.join("devices/paired.json"), b"{not json").unwrap();
        let d = Devices::open(&dir);
        assert!(d.list(&|_| false, 0)["paired"].as_array().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
