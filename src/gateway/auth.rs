//! Who may connect and what they may do: shared-secret checks (constant time), operator scopes,
//! the failed-auth rate limiter, browser `Origin` checks and device-identity proofs.

use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::model::RateLimit;
use crate::config::{AuthMode, secret::Secret};
use crate::error::{ErrorCode, ErrorShape};
use crate::limits::{AUTH_RATE_MAX_TRACKED, DEVICE_SIGNATURE_SKEW_MS};

/// Operator scopes. `operator.admin` satisfies every scope; `write` satisfies `read` and `talk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Admin,
    Read,
    Write,
    Approvals,
    Pairing,
    Talk,
    TalkSecrets,
    Questions,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Admin => "operator.admin",
            Scope::Read => "operator.read",
            Scope::Write => "operator.write",
            Scope::Approvals => "operator.approvals",
            Scope::Pairing => "operator.pairing",
            Scope::Talk => "operator.talk",
            Scope::TalkSecrets => "operator.talk.secrets",
            Scope::Questions => "operator.questions",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        [Scope::Admin, Scope::Read, Scope::Write, Scope::Approvals, Scope::Pairing, Scope::Talk, Scope::TalkSecrets, Scope::Questions]
            .into_iter()
            .find(|sc| sc.name() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The scopes a connection holds, as granted (echoed in `hello-ok.auth.scopes`) and as bits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    pub list: Vec<String>,
    bits: u8,
}

impl Scopes {
    pub fn from_list(list: &[String]) -> Scopes {
        let mut out = Scopes::default();
        for s in list {
            if !out.list.contains(s) {
                out.list.push(s.clone());
            }
            if let Some(sc) = Scope::parse(s) {
                out.bits |= sc.bit();
            }
        }
        out
    }

    /// The full operator set (HTTP bearer with the gateway secret gets this).
    pub fn full() -> Scopes {
        let all = ["operator.admin", "operator.approvals", "operator.pairing", "operator.read", "operator.talk.secrets", "operator.write"];
        Scopes::from_list(&all.map(String::from))
    }

    pub fn allows(&self, needed: Scope) -> bool {
        let has = |s: Scope| self.bits & s.bit() != 0;
        has(Scope::Admin)
            || has(needed)
            || match needed {
                Scope::Read => has(Scope::Write),
                Scope::Talk => has(Scope::Write),
                _ => false,
            }
    }

    pub fn is_admin(&self) -> bool {
        self.allows(Scope::Admin)
    }
}

/// The resolved shared-secret settings of a running gateway.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub mode: AuthMode,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
    /// True when the token was generated for this run because none was configured.
    pub ephemeral_token: bool,
    pub rate_limit: RateLimit,
    pub allowed_origins: Vec<String>,
    pub allow_host_header_origin_fallback: bool,
}

impl AuthSettings {
    /// Checks a bearer secret (HTTP `Authorization: Bearer …`): token or password per mode.
    pub fn bearer_ok(&self, presented: Option<&str>) -> bool {
        match self.mode {
            AuthMode::None => true,
            AuthMode::Token => matches!((&self.token, presented), (Some(t), Some(p)) if t.matches(p)),
            AuthMode::Password => matches!((&self.password, presented), (Some(t), Some(p)) if t.matches(p)),
            AuthMode::TrustedProxy => false,
        }
    }
}

/// Kinds of client, for the hint in an auth error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    ControlUi,
    Other,
}

/// The credentials a `connect` carried.
#[derive(Debug, Default, Clone)]
pub struct Presented {
    pub token: Option<String>,
    pub password: Option<String>,
    pub device_token: Option<String>,
    pub bootstrap_token: Option<String>,
}

/// Checks shared-secret auth. `Err` is the error to send (before the failure delay).
pub fn check_shared(settings: &AuthSettings, presented: &Presented, kind: ClientKind, has_device: bool) -> Result<(), AuthFailure> {
    let hint_token = match kind {
        ClientKind::ControlUi => "open the dashboard URL and paste the token in Control UI settings",
        ClientKind::Other => "use this gateway's gateway.auth.token or pair the device",
    };
    let hint_password = match kind {
        ClientKind::ControlUi => "open the dashboard URL and paste the password in Control UI settings",
        ClientKind::Other => "use this gateway's gateway.auth.password or pair the device",
    };
    let nothing = presented.token.is_none() && presented.password.is_none();
    match settings.mode {
        AuthMode::None => Ok(()),
        AuthMode::TrustedProxy => Err(AuthFailure::plain("unauthorized", "AUTH_UNAUTHORIZED", "unauthorized")),
        AuthMode::Token => match (&settings.token, presented.token.as_deref()) {
            (_, None) if nothing && !has_device => Err(AuthFailure::DeviceIdentityRequired),
            (_, None) if nothing => Err(AuthFailure::PairingUnsupported),
            (None, _) => Err(AuthFailure::mismatch(
                "unauthorized: gateway token not configured on gateway (set gateway.auth.token)",
                "AUTH_TOKEN_NOT_CONFIGURED",
                "token_missing_config",
                "update_auth_configuration",
            )),
            (Some(_), None) => Err(AuthFailure::mismatch(
                &format!("unauthorized: gateway token missing ({hint_token})"),
                "AUTH_TOKEN_MISSING",
                "token_missing",
                "update_auth_credentials",
            )),
            (Some(expected), Some(got)) if expected.matches(got) => Ok(()),
            (Some(_), Some(_)) => Err(AuthFailure::mismatch(
                &format!("unauthorized: gateway token mismatch ({hint_token})"),
                "AUTH_TOKEN_MISMATCH",
                "token_mismatch",
                "update_auth_credentials",
            )),
        },
        AuthMode::Password => match (&settings.password, presented.password.as_deref()) {
            (_, None) if nothing && !has_device => Err(AuthFailure::DeviceIdentityRequired),
            (_, None) if nothing => Err(AuthFailure::PairingUnsupported),
            (None, _) => Err(AuthFailure::mismatch(
                "unauthorized: gateway password not configured on gateway (set gateway.auth.password)",
                "AUTH_PASSWORD_NOT_CONFIGURED",
                "password_missing_config",
                "update_auth_configuration",
            )),
            (Some(_), None) => Err(AuthFailure::mismatch(
                &format!("unauthorized: gateway password missing ({hint_password})"),
                "AUTH_PASSWORD_MISSING",
                "password_missing",
                "update_auth_credentials",
            )),
            (Some(expected), Some(got)) if expected.matches(got) => Ok(()),
            (Some(_), Some(_)) => Err(AuthFailure::mismatch(
                &format!("unauthorized: gateway password mismatch ({hint_password})"),
                "AUTH_PASSWORD_MISMATCH",
                "password_mismatch",
                "update_auth_credentials",
            )),
        },
    }
}

/// A refused connect, with what it should count for in the rate limiter.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthFailure {
    /// No credentials and no device: the official `NOT_PAIRED device identity required`.
    DeviceIdentityRequired,
    /// A device identity without a shared secret or a device token: sign in first to pair it.
    PairingUnsupported,
    /// A wrong or missing secret (counts as a failed attempt when a secret was presented).
    Rejected { error: ErrorShape, counts: bool },
}

impl AuthFailure {
    fn mismatch(message: &str, code: &str, reason: &str, next: &str) -> AuthFailure {
        let counts = reason.ends_with("mismatch");
        AuthFailure::Rejected {
            error: ErrorShape::invalid(message).details(json!({
                "code": code,
                "authReason": reason,
                "canRetryWithDeviceToken": false,
                "recommendedNextStep": next,
            })),
            counts,
        }
    }

    fn plain(message: &str, code: &str, reason: &str) -> AuthFailure {
        AuthFailure::Rejected { error: ErrorShape::invalid(message).details(json!({"code": code, "authReason": reason})), counts: false }
    }

    pub fn error(&self) -> ErrorShape {
        match self {
            AuthFailure::DeviceIdentityRequired => {
                ErrorShape::new(ErrorCode::NotPaired, "device identity required").details(json!({"code": "DEVICE_IDENTITY_REQUIRED"}))
            }
            AuthFailure::PairingUnsupported => ErrorShape::new(
                ErrorCode::NotPaired,
                "pairing required: sign in with the gateway token or password once to pair this device",
            )
            .details(json!({"code": "PAIRING_REQUIRED", "reason": "not-paired", "recommendedNextStep": "update_auth_credentials"})),
            AuthFailure::Rejected { error, .. } => error.clone(),
        }
    }

    pub fn counts_as_failure(&self) -> bool {
        matches!(self, AuthFailure::Rejected { counts: true, .. })
    }
}

/// A device token that is not (or no longer) valid for the device.
pub fn device_token_mismatch() -> ErrorShape {
    ErrorShape::invalid("unauthorized: device token mismatch (rotate/reissue device token)").details(json!({
        "code": "AUTH_DEVICE_TOKEN_MISMATCH",
        "authReason": "device_token_mismatch",
        "canRetryWithDeviceToken": false,
        "recommendedNextStep": "update_auth_credentials",
    }))
}

/// Headers that say a request came through a proxy.
const PROXY_HEADERS: &[&str] = &["forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip"];

/// Where a client really is: its address (through a trusted proxy, the one the proxy names)
/// and whether it is on this machine. A loopback peer with proxy headers that is not in
/// `gateway.trustedProxies` is remote: the headers cannot be trusted, and neither can its being
/// local.
pub fn locality(peer: IpAddr, header: &dyn Fn(&str) -> Option<String>, trusted: &[IpAddr]) -> (IpAddr, bool) {
    let proxied = PROXY_HEADERS.iter().any(|h| header(h).is_some());
    if !proxied {
        return (peer, peer.is_loopback());
    }
    if !trusted.contains(&peer) {
        return (peer, false);
    }
    // The right-most address that is not one of our proxies is the client.
    let forwarded = header("x-forwarded-for")
        .and_then(|v| v.split(',').rev().filter_map(|a| a.trim().parse::<IpAddr>().ok()).find(|ip| !trusted.contains(ip)))
        .or_else(|| header("x-real-ip").and_then(|v| v.trim().parse().ok()));
    match forwarded {
        Some(ip) => (ip, ip.is_loopback()),
        None => (peer, false),
    }
}

/// The error sent while an IP is locked out.
pub fn rate_limited_error(retry_after: Duration) -> ErrorShape {
    ErrorShape::invalid("unauthorized: too many failed authentication attempts (retry later)")
        .retry_after(retry_after.as_millis() as u64)
        .details(json!({"code": "AUTH_RATE_LIMITED", "authReason": "rate_limited", "recommendedNextStep": "wait_then_retry"}))
}

#[derive(Debug)]
struct Attempts {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
    last_seen: Instant,
}

/// Failed-auth counter per client key (an IP, or `browser-origin:<origin>` from loopback).
/// Bounded: beyond [`AUTH_RATE_MAX_TRACKED`] keys the least recently seen one is forgotten.
#[derive(Debug, Default)]
pub struct RateLimiter {
    entries: HashMap<String, Attempts>,
}

impl RateLimiter {
    /// `Err(retry_after)` while `key` is locked out.
    pub fn check(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        if let Some(a) = self.entries.get_mut(key) {
            if let Some(until) = a.locked_until {
                if until > now {
                    return Err(until - now);
                }
                a.locked_until = None;
                a.failures = 0;
                a.window_start = now;
            }
        }
        Ok(())
    }

    /// Records a failure; returns true when this failure started a lockout.
    pub fn fail(&mut self, key: &str, now: Instant, cfg: &RateLimit) -> bool {
        if !self.entries.contains_key(key) && self.entries.len() >= AUTH_RATE_MAX_TRACKED {
            if let Some(oldest) = self.entries.iter().min_by_key(|(_, a)| a.last_seen).map(|(k, _)| k.clone()) {
                self.entries.remove(&oldest);
            }
        }
        let a =
            self.entries.entry(key.to_string()).or_insert(Attempts { window_start: now, failures: 0, locked_until: None, last_seen: now });
        a.last_seen = now;
        if now.duration_since(a.window_start) > cfg.window {
            a.window_start = now;
            a.failures = 0;
        }
        a.failures += 1;
        if a.failures >= cfg.max_attempts && !cfg.lockout.is_zero() {
            a.locked_until = Some(now + cfg.lockout);
            return true;
        }
        false
    }

    pub fn succeed(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

/// The rate-limit key of a connection, or `None` when it is exempt (loopback without a browser
/// origin, with `exemptLoopback`). Browser-origin failures are never exempt.
pub fn limiter_key(ip: IpAddr, origin: Option<&str>, cfg: &RateLimit) -> Option<String> {
    if ip.is_loopback() {
        return match origin {
            Some(o) => Some(format!("browser-origin:{}", o.to_ascii_lowercase())),
            None if cfg.exempt_loopback => None,
            None => Some(ip.to_string()),
        };
    }
    Some(ip.to_string())
}

/// Whether a browser `Origin` may open a connection: listed in `allowedOrigins` (or `*`), or the
/// same origin as the `Host` the browser connected to when that host is this machine.
pub fn origin_allowed(origin: &str, host_header: Option<&str>, settings: &AuthSettings) -> bool {
    let origin = origin.trim().trim_end_matches('/');
    if settings.allowed_origins.iter().any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some(host) = host_header else { return false };
    let origin_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).unwrap_or("");
    if !origin_host.eq_ignore_ascii_case(host.trim()) {
        return false;
    }
    if settings.allow_host_header_origin_fallback {
        return true;
    }
    let name = host_name(origin_host);
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_name(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    host_port.rsplit_once(':').map(|(h, _)| h).unwrap_or(host_port)
}

/// The signed part of a `connect` from a client with a device identity.
#[derive(Debug, Clone)]
pub struct DeviceProof {
    pub id: String,
    pub public_key: String,
    pub signature: String,
    pub signed_at: u64,
    pub nonce: String,
}

/// What the device signed over besides the proof itself.
pub struct SignedFields<'a> {
    pub client_id: &'a str,
    pub client_mode: &'a str,
    pub role: &'a str,
    pub scopes: &'a [String],
    pub token: &'a str,
    pub platform: &'a str,
    pub device_family: &'a str,
}

/// Verifies a device proof (official order: id, freshness, nonce, signature v3 then v2).
pub fn verify_device(proof: &DeviceProof, challenge_nonce: &str, now_ms: u64, f: &SignedFields) -> Result<(), ErrorShape> {
    let fail = |code: &str, message: &str| {
        let reason = match code {
            "DEVICE_AUTH_DEVICE_ID_MISMATCH" => "device-id-mismatch",
            "DEVICE_AUTH_SIGNATURE_EXPIRED" => "device-signature-stale",
            "DEVICE_AUTH_NONCE_REQUIRED" => "device-nonce-missing",
            "DEVICE_AUTH_NONCE_MISMATCH" => "device-nonce-mismatch",
            "DEVICE_AUTH_PUBLIC_KEY_INVALID" => "device-public-key",
            _ => "device-signature",
        };
        ErrorShape::invalid(message).details(json!({"code": code, "reason": reason}))
    };
    // Official order: the id derived from the key first (a key that does not decode derives no
    // id, so it is a mismatch too), then freshness, nonce, signature, and the key's shape last.
    let key = crate::encoding::base64_decode(proof.public_key.trim()).unwrap_or_default();
    let derived = crate::encoding::hex(ring::digest::digest(&ring::digest::SHA256, &key).as_ref());
    if key.is_empty() || derived != proof.id {
        return Err(fail("DEVICE_AUTH_DEVICE_ID_MISMATCH", "device identity mismatch"));
    }
    if now_ms.abs_diff(proof.signed_at) > DEVICE_SIGNATURE_SKEW_MS {
        return Err(fail("DEVICE_AUTH_SIGNATURE_EXPIRED", "device signature expired"));
    }
    if proof.nonce.is_empty() {
        return Err(fail("DEVICE_AUTH_NONCE_REQUIRED", "device nonce required"));
    }
    if proof.nonce != challenge_nonce {
        return Err(fail("DEVICE_AUTH_NONCE_MISMATCH", "device nonce mismatch"));
    }
    let Some(signature) = crate::encoding::base64_decode(&proof.signature) else {
        return Err(fail("DEVICE_AUTH_SIGNATURE_INVALID", "device signature invalid"));
    };
    let scopes = f.scopes.join(",");
    let v3 = format!(
        "v3|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        proof.id,
        f.client_id,
        f.client_mode,
        f.role,
        scopes,
        proof.signed_at,
        f.token,
        proof.nonce,
        f.platform.trim().to_ascii_lowercase(),
        f.device_family.trim().to_ascii_lowercase()
    );
    let v2 =
        format!("v2|{}|{}|{}|{}|{}|{}|{}|{}", proof.id, f.client_id, f.client_mode, f.role, scopes, proof.signed_at, f.token, proof.nonce);
    let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &key);
    if public.verify(v3.as_bytes(), &signature).is_err() && public.verify(v2.as_bytes(), &signature).is_err() {
        return Err(fail("DEVICE_AUTH_SIGNATURE_INVALID", "device signature invalid"));
    }
    if key.len() != 32 {
        return Err(fail("DEVICE_AUTH_PUBLIC_KEY_INVALID", "device public key invalid"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair;

    fn settings(mode: AuthMode) -> AuthSettings {
        AuthSettings {
            mode,
            token: Some(Secret::new("tok")),
            password: Some(Secret::new("pw")),
            ephemeral_token: false,
            rate_limit: RateLimit::default(),
            allowed_origins: vec!["https://ui.example".into()],
            allow_host_header_origin_fallback: false,
        }
    }

    fn presented(token: Option<&str>, password: Option<&str>) -> Presented {
        Presented { token: token.map(String::from), password: password.map(String::from), ..Default::default() }
    }

    #[test]
    fn scopes_follow_the_official_hierarchy() {
        let w = Scopes::from_list(&["operator.write".into()]);
        assert!(w.allows(Scope::Read) && w.allows(Scope::Write) && w.allows(Scope::Talk));
        assert!(!w.allows(Scope::Admin) && !w.allows(Scope::Pairing));
        let a = Scopes::from_list(&["operator.admin".into()]);
        assert!(a.allows(Scope::Pairing) && a.allows(Scope::Read));
        let r = Scopes::from_list(&["operator.read".into(), "operator.read".into(), "custom.x".into()]);
        assert!(r.allows(Scope::Read) && !r.allows(Scope::Write));
        assert_eq!(r.list, vec!["operator.read".to_string(), "custom.x".to_string()]);
        assert!(!Scopes::default().allows(Scope::Read));
    }

    #[test]
    fn token_mode_messages_match_the_official_ones() {
        let s = settings(AuthMode::Token);
        assert!(check_shared(&s, &presented(Some("tok"), None), ClientKind::Other, false).is_ok());
        let e = check_shared(&s, &presented(Some("bad"), None), ClientKind::Other, false).unwrap_err();
        assert!(e.counts_as_failure());
        let err = e.error();
        assert_eq!(err.message, "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)");
        assert_eq!(err.details.as_ref().unwrap()["code"], "AUTH_TOKEN_MISMATCH");
        let e = check_shared(&s, &presented(None, None), ClientKind::Other, false).unwrap_err();
        assert_eq!(e.error().code, ErrorCode::NotPaired);
        assert_eq!(e.error().message, "device identity required");
        assert!(!e.counts_as_failure());
        let e = check_shared(&s, &presented(None, Some("pw")), ClientKind::Other, false).unwrap_err();
        assert_eq!(e.error().details.unwrap()["code"], "AUTH_TOKEN_MISSING");
    }

    #[test]
    fn password_and_none_modes() {
        let s = settings(AuthMode::Password);
        assert!(check_shared(&s, &presented(None, Some("pw")), ClientKind::Other, false).is_ok());
        let e = check_shared(&s, &presented(None, Some("nope")), ClientKind::ControlUi, false).unwrap_err();
        assert!(e.error().message.starts_with("unauthorized: gateway password mismatch (open the dashboard URL"));
        assert!(check_shared(&settings(AuthMode::None), &presented(None, None), ClientKind::Other, false).is_ok());
        assert!(settings(AuthMode::Token).bearer_ok(Some("tok")));
        assert!(!settings(AuthMode::Token).bearer_ok(Some("pw")));
        assert!(!settings(AuthMode::Token).bearer_ok(None));
    }

    #[test]
    fn rate_limiter_locks_out_after_max_attempts_and_unlocks_later() {
        let cfg = RateLimit { max_attempts: 3, window: Duration::from_secs(60), lockout: Duration::from_secs(300), exempt_loopback: true };
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        assert!(!rl.fail("1.2.3.4", t0, &cfg));
        assert!(!rl.fail("1.2.3.4", t0, &cfg));
        assert!(rl.check("1.2.3.4", t0).is_ok());
        assert!(rl.fail("1.2.3.4", t0, &cfg));
        let wait = rl.check("1.2.3.4", t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(290));
        assert!(rl.check("5.6.7.8", t0).is_ok(), "other IPs are unaffected");
        assert!(rl.check("1.2.3.4", t0 + Duration::from_secs(301)).is_ok());
    }

    #[test]
    fn loopback_is_exempt_unless_a_browser_origin_is_involved() {
        let cfg = RateLimit::default();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(limiter_key(lo, None, &cfg), None);
        assert_eq!(limiter_key(lo, Some("http://Evil"), &cfg).as_deref(), Some("browser-origin:http://evil"));
        let strict = RateLimit { exempt_loopback: false, ..cfg.clone() };
        assert_eq!(limiter_key(lo, None, &strict).as_deref(), Some("127.0.0.1"));
        assert_eq!(limiter_key("10.0.0.2".parse().unwrap(), None, &cfg).as_deref(), Some("10.0.0.2"));
    }

    #[test]
    fn origins_are_checked_against_the_list_and_same_origin_localhost() {
        let s = settings(AuthMode::Token);
        assert!(origin_allowed("https://ui.example/", None, &s));
        assert!(origin_allowed("http://127.0.0.1:19001", Some("127.0.0.1:19001"), &s));
        assert!(origin_allowed("http://localhost:19001", Some("localhost:19001"), &s));
        assert!(!origin_allowed("http://evil.example", Some("127.0.0.1:19001"), &s));
        assert!(!origin_allowed("http://localhost:1", Some("localhost:19001"), &s));
        assert!(!origin_allowed("http://192.168.1.5:19001", Some("192.168.1.5:19001"), &s));
    }

    #[test]
    fn proxied_clients_are_local_only_through_a_trusted_proxy() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let none = |_: &str| None;
        assert_eq!(locality(lo, &none, &[]), (lo, true));
        let xff = |h: &str| (h == "x-forwarded-for").then(|| "198.51.100.1, 203.0.113.7".to_string());
        assert_eq!(locality(lo, &xff, &[]), (lo, false), "untrusted proxy headers make a client remote");
        assert_eq!(locality(lo, &xff, &[lo]), ("203.0.113.7".parse().unwrap(), false));
        let local = |h: &str| (h == "x-forwarded-for").then(|| "::1".to_string());
        assert_eq!(locality(lo, &local, &[lo]), ("::1".parse().unwrap(), true));
    }

    #[test]
    fn device_proofs_verify_v3_signatures() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = kp.public_key().as_ref().to_vec();
        let id = crate::encoding::hex(ring::digest::digest(&ring::digest::SHA256, &public).as_ref());
        let scopes = vec!["operator.read".to_string()];
        let f = SignedFields {
            client_id: "cli",
            client_mode: "cli",
            role: "operator",
            scopes: &scopes,
            token: "tok",
            platform: "Linux",
            device_family: "Linux",
        };
        let payload = format!("v3|{id}|cli|cli|operator|operator.read|1000|tok|n1|linux|linux");
        let sig = crate::encoding::base64url(kp.sign(payload.as_bytes()).as_ref());
        let proof = DeviceProof {
            id: id.clone(),
            public_key: crate::encoding::base64url(&public),
            signature: sig,
            signed_at: 1000,
            nonce: "n1".into(),
        };
        assert!(verify_device(&proof, "n1", 2000, &f).is_ok());
        let e = verify_device(&proof, "n2", 2000, &f).unwrap_err();
        assert_eq!(e.message, "device nonce mismatch");
        let e = verify_device(&proof, "n1", 1000 + 121_000, &f).unwrap_err();
        assert_eq!(e.message, "device signature expired");
        let garbled = DeviceProof { public_key: "%%%".into(), ..proof.clone() };
        assert_eq!(verify_device(&garbled, "n1", 2000, &f).unwrap_err().message, "device identity mismatch");
        let bad = DeviceProof { id: "00".into(), ..proof.clone() };
        assert_eq!(verify_device(&bad, "n1", 2000, &f).unwrap_err().message, "device identity mismatch");
        let other = SignedFields { role: "node", ..f };
        assert_eq!(verify_device(&proof, "n1", 2000, &other).unwrap_err().message, "device signature invalid");
    }
}
