//! The `connect` handshake: validate the params (closed schema, official messages), negotiate the
//! protocol, check the browser origin, authenticate, and build `hello-ok`.
//! The checks run in the official order, so a client sees the same refusal it would get from the
//! official gateway for the same mistake.

use serde_json::{Map, Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::methods;
use super::params::Validator;
use super::protocol::{ErrorCode, ErrorShape};
use crate::gateway::auth::{self, ClientKind, DeviceProof, Presented, Scopes, SignedFields};
use crate::gateway::devices::{self, Admitted, Claim};
use crate::gateway::{Gateway, Phase};
use crate::limits::{AUTH_FAILURE_DELAY, MIN_PROBE_PROTOCOL_VERSION, PROTOCOL_VERSION, WS_MAX_PAYLOAD};

/// Values of `client.id` the official schema allows.
pub const CLIENT_IDS: &[&str] = &[
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-browser-copilot",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-linux",
    "openclaw-ios",
    "openclaw-watchos",
    "openclaw-android",
    "node-host",
    "openclaw-worker",
    "test",
    "fingerprint",
    "openclaw-probe",
];
/// Values of `client.mode` the official schema allows.
pub const CLIENT_MODES: &[&str] = &["webchat", "cli", "ui", "backend", "node", "worker", "probe", "test"];

const CONNECT_KEYS: &[&str] = &[
    "minProtocol",
    "maxProtocol",
    "client",
    "caps",
    "commands",
    "computerUse",
    "workerRuns",
    "permissions",
    "pathEnv",
    "role",
    "scopes",
    "device",
    "auth",
    "locale",
    "userAgent",
    "modelCatalog",
];
const CLIENT_KEYS: &[&str] =
    &["id", "displayName", "version", "buildId", "platform", "deviceFamily", "modelIdentifier", "timeZone", "mode", "instanceId"];
const AUTH_KEYS: &[&str] = &["token", "bootstrapToken", "deviceToken", "password", "approvalRuntimeToken", "agentRuntimeIdentityToken"];
const DEVICE_KEYS: &[&str] = &["id", "publicKey", "signature", "signedAt", "nonce"];

/// What the upgrade request told us about the peer.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The client's address: the socket's, or the one a trusted proxy names.
    pub ip: IpAddr,
    /// On this machine (loopback, not through an untrusted proxy): devices pair silently.
    pub local: bool,
    pub origin: Option<String>,
    pub host: Option<String>,
}

/// A validated `connect`.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    pub min_protocol: i64,
    pub max_protocol: i64,
    pub client_id: String,
    pub client_version: String,
    pub platform: String,
    pub device_family: Option<String>,
    pub mode: String,
    pub display_name: Option<String>,
    pub instance_id: Option<String>,
    pub caps: Vec<String>,
    pub role: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub auth: Presented,
    pub device: Option<DeviceProof>,
}

/// An accepted connection.
#[derive(Debug, Clone)]
pub struct Session {
    pub conn_id: String,
    pub params: ConnectParams,
    pub role: String,
    pub scopes: Scopes,
    pub protocol: u64,
    pub connected_at_ms: u64,
    pub ip: IpAddr,
    /// The verified device id, when the client proved a device identity.
    pub device_id: Option<String>,
    /// The device token for `hello-ok.auth` and when it was issued.
    pub device_token: Option<(String, u64)>,
}

impl Session {
    pub fn has_cap(&self, cap: &str) -> bool {
        self.params.caps.iter().any(|c| c == cap)
    }
}

/// A refused connect: the error to answer (if any) and how to close.
#[derive(Debug)]
pub struct Refusal {
    pub error: ErrorShape,
    pub close_code: u16,
    pub close_reason: String,
}

impl Refusal {
    fn policy(error: ErrorShape) -> Refusal {
        let reason = error.message.clone();
        Refusal { error, close_code: 1008, close_reason: reason }
    }
}

/// Validates `connect` params against the official `ConnectParams` schema.
pub fn parse_connect(params: Option<&Value>) -> Result<ConnectParams, String> {
    let mut v = Validator::default();
    let empty = Value::Object(Map::new());
    let Some(root) = v.object(params.unwrap_or(&empty), "") else { return Err(v.finish().err().unwrap_or_default()) };
    v.required(root, "", &["minProtocol", "maxProtocol", "client"]);
    v.no_extra(root, "", CONNECT_KEYS);
    let min_protocol = root.get("minProtocol").and_then(|x| v.integer(x, "/minProtocol", 1, i64::MAX));
    let max_protocol = root.get("maxProtocol").and_then(|x| v.integer(x, "/maxProtocol", 1, i64::MAX));

    let mut client = None;
    if let Some(c) = root.get("client").and_then(|c| v.object(c, "/client")) {
        v.required(c, "/client", &["id", "version", "platform", "mode"]);
        v.no_extra(c, "/client", CLIENT_KEYS);
        let id = c.get("id").and_then(|x| v.one_of(x, "/client/id", CLIENT_IDS)).map(str::to_string);
        let version = c.get("version").and_then(|x| v.string(x, "/client/version", 1, usize::MAX)).map(str::to_string);
        let platform = c.get("platform").and_then(|x| v.string(x, "/client/platform", 1, usize::MAX)).map(str::to_string);
        let mode = c.get("mode").and_then(|x| v.one_of(x, "/client/mode", CLIENT_MODES)).map(str::to_string);
        let mut opt = |key: &str, max: usize| c.get(key).and_then(|x| v.string(x, &format!("/client/{key}"), 1, max)).map(str::to_string);
        let display_name = opt("displayName", usize::MAX);
        opt("buildId", 96);
        let device_family = opt("deviceFamily", usize::MAX);
        opt("modelIdentifier", usize::MAX);
        opt("timeZone", 64);
        let instance_id = opt("instanceId", usize::MAX);
        client = Some((id, version, platform, mode, display_name, device_family, instance_id));
    }
    let caps = root.get("caps").and_then(|x| v.strings(x, "/caps")).unwrap_or_default();
    if let Some(x) = root.get("commands") {
        v.strings(x, "/commands");
    }
    if let Some(p) = root.get("permissions").and_then(|x| v.object(x, "/permissions")) {
        for (k, val) in p {
            v.boolean(val, &format!("/permissions/{k}"));
        }
    }
    if let Some(x) = root.get("workerRuns") {
        v.object(x, "/workerRuns");
    }
    for key in ["pathEnv", "locale", "userAgent"] {
        if let Some(x) = root.get(key) {
            v.string(x, &format!("/{key}"), 0, usize::MAX);
        }
    }
    let role = root.get("role").and_then(|x| v.string(x, "/role", 1, usize::MAX)).map(str::to_string);
    let scopes = root.get("scopes").and_then(|x| v.strings(x, "/scopes"));

    let mut presented = Presented::default();
    if let Some(a) = root.get("auth").and_then(|x| v.object(x, "/auth")) {
        v.no_extra(a, "/auth", AUTH_KEYS);
        let mut s = |key: &str| {
            a.get(key).and_then(|x| v.string(x, &format!("/auth/{key}"), 0, usize::MAX)).filter(|t| !t.is_empty()).map(str::to_string)
        };
        presented.token = s("token");
        presented.password = s("password");
        presented.device_token = s("deviceToken");
        presented.bootstrap_token = s("bootstrapToken");
        s("approvalRuntimeToken");
        s("agentRuntimeIdentityToken");
    }
    let mut device = None;
    if let Some(d) = root.get("device").and_then(|x| v.object(x, "/device")) {
        v.required(d, "/device", DEVICE_KEYS);
        v.no_extra(d, "/device", DEVICE_KEYS);
        let mut s = |key: &str| d.get(key).and_then(|x| v.string(x, &format!("/device/{key}"), 1, usize::MAX)).map(str::to_string);
        let (id, public_key, signature, nonce) = (s("id"), s("publicKey"), s("signature"), s("nonce"));
        let signed_at = d.get("signedAt").and_then(|x| v.integer(x, "/device/signedAt", 0, i64::MAX));
        if let (Some(id), Some(public_key), Some(signature), Some(nonce), Some(signed_at)) = (id, public_key, signature, nonce, signed_at) {
            device = Some(DeviceProof { id, public_key, signature, signed_at: signed_at as u64, nonce });
        }
    }
    v.finish()?;
    let (
        Some(min_protocol),
        Some(max_protocol),
        Some((Some(client_id), Some(client_version), Some(platform), Some(mode), display_name, device_family, instance_id)),
    ) = (min_protocol, max_protocol, client)
    else {
        return Err("must have required property 'client'".to_string());
    };
    Ok(ConnectParams {
        min_protocol,
        max_protocol,
        client_id,
        client_version,
        platform,
        device_family,
        mode,
        display_name,
        instance_id,
        caps,
        role,
        scopes,
        auth: presented,
        device,
    })
}

/// Runs every check on a validated `connect` and returns the session or the refusal.
pub async fn accept(gw: &Arc<Gateway>, p: ConnectParams, peer: &Peer, challenge_nonce: &str) -> Result<Session, Refusal> {
    let (message, reason, close) = match gw.phase() {
        Phase::Ready => ("", "", ""),
        Phase::Starting => ("gateway starting; retry shortly", "startup-sidecars", "gateway starting"),
        Phase::Restarting => ("gateway restarting; retry shortly", "restarting", "gateway restarting"),
        Phase::Draining => ("gateway stopping", "draining", "gateway stopping"),
    };
    if !message.is_empty() {
        let error = ErrorShape::unavailable(message).retry_after(500).details(json!({"reason": reason}));
        return Err(Refusal { error, close_code: 1013, close_reason: close.into() });
    }

    // Protocol: v4, or v3 for probes and nodes.
    let is_probe = p.mode == "probe";
    let role = p.role.clone().unwrap_or_else(|| "operator".to_string());
    let lowest_ok = if is_probe || role == "node" { MIN_PROBE_PROTOCOL_VERSION as i64 } else { PROTOCOL_VERSION as i64 };
    let speaks = (p.min_protocol..=p.max_protocol).contains(&(PROTOCOL_VERSION as i64));
    let speaks_v3 = lowest_ok < PROTOCOL_VERSION as i64 && (p.min_protocol..=p.max_protocol).contains(&lowest_ok);
    if !speaks && !speaks_v3 {
        let error = ErrorShape::invalid("protocol mismatch").details(json!({
            "code": "PROTOCOL_MISMATCH",
            "clientMinProtocol": p.min_protocol,
            "clientMaxProtocol": p.max_protocol,
            "expectedProtocol": PROTOCOL_VERSION,
            "minimumProbeProtocol": MIN_PROBE_PROTOCOL_VERSION,
        }));
        return Err(Refusal { error, close_code: 1002, close_reason: "protocol mismatch".into() });
    }
    let protocol = if speaks { PROTOCOL_VERSION } else { lowest_ok as u64 };

    match role.as_str() {
        "operator" => {}
        "node" | "worker" => {
            return Err(Refusal::policy(ErrorShape::invalid(format!(
                "invalid role: this gateway serves operator clients only ({role} is not supported)"
            ))));
        }
        _ => return Err(Refusal::policy(ErrorShape::invalid("invalid role"))),
    }

    let settings = gw.settings();
    let is_control_ui = p.client_id == "openclaw-control-ui" || p.mode == "ui";
    let is_webchat = p.client_id == "webchat" || p.client_id == "webchat-ui" || p.mode == "webchat";
    match peer.origin.as_deref() {
        Some(origin) if !auth::origin_allowed(origin, peer.host.as_deref(), &settings.auth) => {
            return Err(origin_refusal("origin not allowed"));
        }
        None if is_control_ui || is_webchat => return Err(origin_refusal("origin missing or invalid")),
        _ => {}
    }
    if is_control_ui && p.device.is_none() {
        return Err(Refusal::policy(
            ErrorShape::invalid("control ui requires device identity (use HTTPS or localhost secure context)")
                .details(json!({"code": "CONTROL_UI_DEVICE_IDENTITY_REQUIRED"})),
        ));
    }

    // Shared secret, behind the per-IP rate limiter.
    let limiter_key = auth::limiter_key(peer.ip, peer.origin.as_deref(), &settings.auth.rate_limit);
    if let Some(key) = &limiter_key {
        let locked = gw.limiter.lock().unwrap_or_else(|e| e.into_inner()).check(key, Instant::now());
        if let Err(wait) = locked {
            smol::Timer::after(AUTH_FAILURE_DELAY).await;
            return Err(Refusal::policy(auth::rate_limited_error(wait)));
        }
    }
    let kind = if is_control_ui || is_webchat { ClientKind::ControlUi } else { ClientKind::Other };
    // A device token stands in for the shared secret when no secret is presented.
    let by_device_token = p.auth.token.is_none() && p.auth.password.is_none() && p.auth.device_token.is_some() && p.device.is_some();
    let shared = if by_device_token { Ok(()) } else { auth::check_shared(&settings.auth, &p.auth, kind, p.device.is_some()) };
    if let Err(failure) = shared {
        if failure.counts_as_failure() {
            refused_secret(gw, &limiter_key, &settings.auth.rate_limit, &failure.error().message, &p.client_id, peer).await;
        }
        return Err(Refusal::policy(failure.error()));
    }

    let requested: Vec<String> = p.scopes.clone().unwrap_or_default();
    let mut device_id = None;
    let mut device_token = None;
    if let Some(proof) = &p.device {
        let token = p.auth.token.as_deref().or(p.auth.device_token.as_deref()).or(p.auth.bootstrap_token.as_deref()).unwrap_or("");
        let fields = SignedFields {
            client_id: &p.client_id,
            client_mode: &p.mode,
            role: &role,
            scopes: &requested,
            token,
            platform: &p.platform,
            device_family: p.device_family.as_deref().unwrap_or(""),
        };
        let now = crate::clock::now_ms();
        auth::verify_device(proof, challenge_nonce, now, &fields).map_err(Refusal::policy)?;
        let public_key = devices::normalize_public_key(&proof.public_key).ok_or_else(|| {
            Refusal::policy(
                ErrorShape::invalid("device public key invalid")
                    .details(json!({"code": "DEVICE_AUTH_PUBLIC_KEY_INVALID", "reason": "device-public-key"})),
            )
        })?;
        if by_device_token {
            let presented = p.auth.device_token.as_deref().unwrap_or("");
            if gw.devices.check_token(&proof.id, &public_key, &role, presented, now).is_err() {
                let e = auth::device_token_mismatch();
                refused_secret(gw, &limiter_key, &settings.auth.rate_limit, &e.message, &p.client_id, peer).await;
                return Err(Refusal::policy(e));
            }
        }
        if let Some(key) = &limiter_key {
            gw.limiter.lock().unwrap_or_else(|e| e.into_inner()).succeed(key);
        }
        // With no gateway secret there is nothing a device token could stand in for.
        if settings.auth.mode != crate::config::AuthMode::None {
            let claim = Claim {
                device_id: proof.id.clone(),
                public_key,
                display_name: p.display_name.clone(),
                platform: p.platform.clone(),
                client_id: p.client_id.clone(),
                client_mode: p.mode.clone(),
                role: role.clone(),
                scopes: requested.clone(),
                remote_ip: peer.ip.to_string(),
            };
            // Local clients pair silently (a browser only as the Control UI or webchat); a device
            // token never widens itself silently.
            let silent = peer.local && (peer.origin.is_none() || is_control_ui || is_webchat) && !by_device_token;
            match gw.devices.admit(&claim, silent, now) {
                Ok(Admitted::Paired { token, issued_at_ms, silently_approved }) => {
                    if let Some(request_id) = silently_approved {
                        log::info!(target: "gateway", "device {} paired silently (local {})", proof.id, p.client_id);
                        devices::announce_resolved(&gw.hub, &request_id, &proof.id, "approved").await;
                    }
                    device_token = Some((token, issued_at_ms));
                }
                Ok(Admitted::Waiting { reason, request, created, superseded, paired }) => {
                    for old in &superseded {
                        devices::announce_resolved(&gw.hub, &old.request_id, &old.device_id, "rejected").await;
                    }
                    if created {
                        log::warn!(
                            target: "gateway",
                            "device {} from {} waits for pairing: openclaw devices approve {} (or /approve {} from a chat)",
                            proof.id, peer.ip, request.request_id, devices::confirmation_code(&proof.id)
                        );
                        devices::announce_requested(&gw.hub, &request).await;
                    }
                    return Err(pairing_required(reason, &request, paired.as_deref()));
                }
                Err(devices::Refused(why)) => return Err(Refusal::policy(ErrorShape::unavailable(why))),
            }
        }
        device_id = Some(proof.id.clone());
    } else if let Some(key) = &limiter_key {
        gw.limiter.lock().unwrap_or_else(|e| e.into_inner()).succeed(key);
    }

    // Token-only clients get what they ask for, except browsers (an Origin header without a
    // device identity) and probes, which get no scopes, as the official gateway does.
    let granted = if (peer.origin.is_some() && p.device.is_none()) || is_probe { Vec::new() } else { requested };
    Ok(Session {
        conn_id: crate::ids::uuid(),
        scopes: Scopes::from_list(&granted),
        role,
        protocol,
        connected_at_ms: crate::clock::now_ms(),
        ip: peer.ip,
        device_id,
        device_token,
        params: p,
    })
}

/// Counts a refused secret against the client's rate limit and waits the failure delay.
async fn refused_secret(
    gw: &Gateway,
    limiter_key: &Option<String>,
    cfg: &crate::config::model::RateLimit,
    message: &str,
    client: &str,
    peer: &Peer,
) {
    if let Some(key) = limiter_key {
        let locked_now = gw.limiter.lock().unwrap_or_else(|e| e.into_inner()).fail(key, Instant::now(), cfg);
        if locked_now {
            log::warn!(target: "gateway", "too many failed authentication attempts from {key}; locked out");
        }
    }
    log::warn!(target: "gateway", "connect refused: {message} (client {client} from {})", peer.ip);
    // A fixed delay on every refused secret makes guessing slow, even from loopback.
    smol::Timer::after(AUTH_FAILURE_DELAY).await;
}

/// The official `pairing required` refusal (a `res` and close 1008 with the request id).
fn pairing_required(reason: devices::PairingReason, request: &devices::Pending, paired: Option<&devices::Paired>) -> Refusal {
    let mut details = Map::new();
    details.insert("code".into(), json!("PAIRING_REQUIRED"));
    details.insert("reason".into(), json!(reason.name()));
    details.insert("requestId".into(), json!(request.request_id));
    details.insert("remediationHint".into(), json!(reason.hint()));
    if request.role == "operator" {
        details.insert("recommendedNextStep".into(), json!("wait_then_retry"));
        details.insert("retryable".into(), json!(true));
        details.insert("pauseReconnect".into(), json!(false));
    }
    details.insert("deviceId".into(), json!(request.device_id));
    details.insert("requestedRole".into(), json!(request.role));
    details.insert("requestedScopes".into(), json!(request.scopes));
    if let Some(rec) = paired {
        details.insert("approvedRoles".into(), json!(rec.roles));
        details.insert("approvedScopes".into(), json!(rec.scopes));
    }
    let error = ErrorShape::new(ErrorCode::NotPaired, reason.message()).details(Value::Object(details));
    let close_reason = format!("{} (requestId: {})", reason.message(), request.request_id);
    Refusal { error, close_code: 1008, close_reason }
}

fn origin_refusal(reason: &str) -> Refusal {
    Refusal::policy(
        ErrorShape::invalid(
            "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)",
        )
        .details(json!({"code": "CONTROL_UI_ORIGIN_NOT_ALLOWED", "reason": reason})),
    )
}

/// The `hello-ok` payload for an accepted session.
pub fn hello_ok(gw: &Arc<Gateway>, session: &Session) -> Value {
    let settings = gw.settings();
    let mut snapshot = json!({
        "presence": [methods::system::self_presence(gw)],
        "health": methods::system::health_snapshot(gw, false),
        "stateVersion": gw.state_version(),
        "uptimeMs": gw.uptime_ms(),
        "appliedConfigHash": settings.hash,
        "sessionDefaults": {
            "defaultAgentId": "main",
            "mainKey": "main",
            "mainSessionKey": "agent:main:main",
            "scope": "per-sender",
            "modelConfigured": false,
            "ownership": "sole",
            "selectionRequired": false,
        },
        "suspension": {"phase": "accepting"},
    });
    if session.scopes.is_admin() {
        snapshot["configPath"] = json!(gw.paths.display(&gw.paths.config_path));
        snapshot["stateDir"] = json!(gw.paths.display(&gw.paths.state_dir));
        snapshot["authMode"] = json!(settings.auth.mode.name());
    }
    let mut auth = json!({"role": session.role, "scopes": session.scopes.list});
    if let Some((token, issued_at_ms)) = &session.device_token {
        auth["deviceToken"] = json!(token);
        auth["issuedAtMs"] = json!(issued_at_ms);
    }
    json!({
        "type": "hello-ok",
        "protocol": session.protocol,
        "server": {"version": crate::VERSION, "connId": session.conn_id, "bootId": gw.boot_id},
        "features": {"methods": methods::names(), "events": methods::EVENTS},
        "snapshot": snapshot,
        "auth": auth,
        "policy": {
            "maxPayload": WS_MAX_PAYLOAD,
            "maxBufferedBytes": gw.tuning.max_buffered_bytes,
            "tickIntervalMs": gw.tuning.tick_interval.as_millis() as u64,
        },
    })
}

/// The error a request gets when it names `connect` after the handshake.
pub fn connect_again() -> ErrorShape {
    ErrorShape::new(ErrorCode::InvalidRequest, "connect is only valid as the first request")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(v: Value) -> Result<ConnectParams, String> {
        parse_connect(Some(&v))
    }

    fn base() -> Value {
        json!({"minProtocol": 4, "maxProtocol": 4,
               "client": {"id": "cli", "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux", "mode": "cli", "instanceId": "x"},
               "caps": [], "auth": {"token": "t"}, "role": "operator", "scopes": ["operator.read"]})
    }

    #[test]
    fn the_official_cli_connect_is_accepted() {
        let p = connect(base()).unwrap();
        assert_eq!(p.client_id, "cli");
        assert_eq!(p.auth.token.as_deref(), Some("t"));
        assert_eq!(p.scopes, Some(vec!["operator.read".to_string()]));
    }

    #[test]
    fn invalid_params_get_the_official_messages() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("client");
        assert_eq!(connect(v).unwrap_err(), "must have required property 'client'");
        let mut v = base();
        v["client"]["id"] = json!("my-client");
        assert_eq!(connect(v).unwrap_err(), "at /client/id: must be equal to one of the allowed values");
        let mut v = base();
        v["foo"] = json!(1);
        assert_eq!(connect(v).unwrap_err(), "at root: unexpected property 'foo'");
        let mut v = base();
        v["minProtocol"] = json!("4");
        assert_eq!(connect(v).unwrap_err(), "at /minProtocol: must be integer");
        let mut v = base();
        v["auth"]["nonce"] = json!("x");
        assert_eq!(connect(v).unwrap_err(), "at /auth: unexpected property 'nonce'");
        assert_eq!(parse_connect(None).unwrap_err(), "must have required property 'minProtocol'");
    }
}
