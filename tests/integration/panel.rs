//! The control panel on the gateway port: the embedded files and their headers, device pairing
//! (silent on loopback, refused then approved elsewhere, device tokens, removal), and
//! `openclaw dashboard`'s one-time owner link (bootstrap tokens: once, ten minutes, restarts).

use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

fn get(port: u16, path: &str, headers: &[&str]) -> HttpResponse {
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    block_on(http_raw(port, format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n").as_bytes()))
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "a gzip member");
    miniz_oxide::inflate::decompress_to_vec(&gz[10..gz.len() - 8]).unwrap()
}

#[test]
fn the_page_is_served_with_a_strict_policy_and_validators() {
    let gw = Gw::start();
    let r = get(gw.port, "/", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.text().contains("<base href=\"/\">"));
    let etag = r.header("etag").unwrap().to_string();
    let again = get(gw.port, "/", &[&format!("If-None-Match: {etag}")]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    // Panel routes and unknown navigations get the page; other dotted names and API-looking
    // requests do not.
    assert_eq!(get(gw.port, "/chat", &["Accept: text/html"]).status, 200);
    assert_eq!(get(gw.port, "/devices/extra", &[]).status, 200);
    assert_eq!(get(gw.port, "/nothing.png", &[]).status, 404);
    assert_eq!(get(gw.port, "/x", &["Accept: application/json"]).status, 404);
    assert_eq!(get(gw.port, "/v1/unknown", &["Accept: text/html"]).status, 404);
    assert_eq!(get(gw.port, "/health", &[]).status, 200, "probes keep their routes");
    let post = block_on(http_post(gw.port, "/", &[], "x"));
    assert_eq!(post.status, 404, "the page is GET and HEAD only");
    let head = block_on(http_raw(gw.port, b"HEAD /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn assets_are_gzip_when_accepted_and_identity_otherwise() {
    let gw = Gw::start();
    let source = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/panel/app.js")).unwrap();
    let gz = get(gw.port, "/app.js", &["Accept-Encoding: gzip, deflate, br"]);
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert!(gz.body.len() < source.len() / 2, "compressed: {} of {}", gz.body.len(), source.len());
    assert_eq!(gunzip(&gz.body), source);
    let plain = get(gw.port, "/app.js", &[]);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.body, source);
    assert_ne!(plain.header("etag"), gz.header("etag"), "two encodings, two validators");
    let refused = get(gw.port, "/app.js", &["Accept-Encoding: gzip;q=0"]);
    assert_eq!(refused.header("content-encoding"), None);
    let etag = gz.header("etag").unwrap().to_string();
    assert_eq!(get(gw.port, "/app.js", &["Accept-Encoding: gzip", &format!("If-None-Match: {etag}")]).status, 304);
    assert_eq!(get(gw.port, "/app.css", &["Accept-Encoding: gzip"]).header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(get(gw.port, "/icon.svg", &[]).header("content-type"), Some("image/svg+xml; charset=utf-8"));
}

#[test]
fn a_base_path_moves_the_panel_and_disabling_it_removes_it() {
    let gw = Gw::builder()
        .config(json!({"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}, "controlUi": {"basePath": "/ui"}}}))
        .start();
    let r = get(gw.port, "/ui/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<base href=\"/ui/\">") && r.text().contains("content=\"/ui/\""), "{}", r.text());
    let redirect = get(gw.port, "/ui", &[]);
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/ui/"));
    assert_eq!(get(gw.port, "/ui/app.js", &[]).status, 200);
    assert_eq!(get(gw.port, "/", &[]).status, 404);
    assert_eq!(get(gw.port, "/app.js", &[]).status, 404);

    let off = Gw::builder()
        .config(json!({"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}, "controlUi": {"enabled": false}}}))
        .start();
    assert_eq!(get(off.port, "/", &[]).status, 404);
    assert_eq!(get(off.port, "/app.js", &[]).status, 404);
    // The WebSocket still answers on any path.
    block_on(async {
        let (_c, hello) = Client::connect(off.port, TOKEN, &["operator.read"]).await;
        assert_eq!(hello["type"], "hello-ok");
    });
}

#[test]
fn an_invalid_base_path_is_a_config_error() {
    let (code, err) = Gw::builder()
        .config(
            json!({"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}, "controlUi": {"basePath": "/a\"><script>"}}}),
        )
        .refuse(Duration::from_secs(10));
    assert_ne!(code, 0);
    assert!(err.contains("gateway.controlUi.basePath"), "{err}");
}

// ---- Device pairing ---------------------------------------------------------------------------

/// A device identity (Ed25519), signing connects as the official clients do.
struct Device {
    kp: ring::signature::Ed25519KeyPair,
    id: String,
    public: String,
}

impl Device {
    fn new() -> Device {
        use ring::signature::KeyPair;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let raw = kp.public_key().as_ref().to_vec();
        let id = openclaw::encoding::hex(ring::digest::digest(&ring::digest::SHA256, &raw).as_ref());
        Device { kp, id, public: openclaw::encoding::base64url(&raw) }
    }

    /// `connect` params for the control panel's identity, with the shared token or a device token.
    fn params(&self, auth: Value, nonce: &str, ts: u64) -> Value {
        let scopes = ["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.pairing"];
        let token = auth["token"].as_str().or(auth["deviceToken"].as_str()).or(auth["bootstrapToken"].as_str()).unwrap_or("");
        let payload = format!("v2|{}|openclaw-control-ui|webchat|operator|{}|{ts}|{token}|{nonce}", self.id, scopes.join(","));
        let sig = openclaw::encoding::base64url(self.kp.sign(payload.as_bytes()).as_ref());
        json!({
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "openclaw-control-ui", "version": "test", "platform": "Linux x86_64", "mode": "webchat", "displayName": "Test browser"},
            "caps": [], "role": "operator", "scopes": scopes, "auth": auth,
            "device": {"id": self.id, "publicKey": self.public, "signature": sig, "signedAt": ts, "nonce": nonce},
        })
    }

    /// Opens a socket (through the given headers) and sends the signed connect; returns the
    /// client and the connect response.
    async fn connect(&self, port: u16, headers: &[(&str, &str)], auth: Value) -> (Client, Value) {
        let origin = format!("http://127.0.0.1:{port}");
        let mut all = vec![("origin", origin.as_str())];
        all.extend_from_slice(headers);
        let mut c = Client::open_with(port, "/", &all).await;
        let ch = c.recv().await.unwrap();
        let (nonce, ts) = (ch["payload"]["nonce"].as_str().unwrap().to_string(), ch["payload"]["ts"].as_u64().unwrap());
        let res = c.request("connect", self.params(auth, &nonce, ts)).await;
        (c, res)
    }
}

/// A browser elsewhere, as a trusted local proxy reports it.
const REMOTE: &[(&str, &str)] = &[("x-forwarded-for", "203.0.113.7")];

fn lan_gateway() -> Gw {
    Gw::builder()
        .config(json!({"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}, "trustedProxies": ["127.0.0.1"],
                                   "controlUi": {"allowedOrigins": ["*"]}}}))
        .start()
}

#[test]
fn a_loopback_browser_is_paired_silently_and_comes_back_with_its_device_token() {
    let gw = Gw::start();
    let dev = Device::new();
    block_on(async {
        let (mut admin, _) = Client::connect(gw.port, TOKEN, &["operator.pairing"]).await;
        let (_c, res) = dev.connect(gw.port, &[], json!({"token": TOKEN})).await;
        assert_eq!(res["ok"], true, "{res}");
        let token = res["payload"]["auth"]["deviceToken"].as_str().unwrap().to_string();
        assert!(res["payload"]["auth"]["issuedAtMs"].as_u64().is_some());
        let resolved = admin.event("device.pair.resolved", WAIT).await.unwrap();
        assert_eq!(resolved["payload"]["decision"], "approved");
        assert_eq!(resolved["payload"]["deviceId"], dev.id.as_str());

        // The device token alone, in a new connection.
        let (_c2, res) = dev.connect(gw.port, &[], json!({"deviceToken": token})).await;
        assert_eq!(res["ok"], true, "{res}");
        assert_eq!(res["payload"]["auth"]["deviceToken"], token.as_str(), "the token is reused");

        let (mut bad, res) = dev.connect(gw.port, &[], json!({"deviceToken": "not-the-token"})).await;
        assert_eq!(res["error"]["details"]["code"], "AUTH_DEVICE_TOKEN_MISMATCH", "{res}");
        assert_eq!(res["error"]["message"], "unauthorized: device token mismatch (rotate/reissue device token)");
        assert_eq!(bad.closed().await.unwrap().code, 1008);

        let list = admin.call("device.pair.list", json!({})).await;
        let paired = list["paired"].as_array().unwrap();
        assert_eq!(paired.len(), 1);
        assert_eq!(paired[0]["approvedVia"], "silent");
        assert_eq!(paired[0]["connected"], true);
        assert!(paired[0]["tokens"][0].get("token").is_none(), "tokens are never listed: {list}");
    });
    let store = gw.state_dir().join("devices/paired.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&store).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_remote_browser_waits_for_approval_from_the_cli_then_removal_closes_it() {
    let gw = lan_gateway();
    let dev = Device::new();
    block_on(async {
        let (mut admin, _) = Client::connect(gw.port, TOKEN, &["operator.pairing"]).await;
        let (mut c, res) = dev.connect(gw.port, REMOTE, json!({"token": TOKEN})).await;
        assert_eq!(res["ok"], false);
        let e = &res["error"];
        assert_eq!(e["code"], "NOT_PAIRED");
        assert_eq!(e["message"], "pairing required: device is not approved yet");
        assert_eq!(e["details"]["code"], "PAIRING_REQUIRED");
        assert_eq!(e["details"]["reason"], "not-paired");
        assert_eq!(e["details"]["recommendedNextStep"], "wait_then_retry");
        assert_eq!(e["details"]["retryable"], true);
        assert_eq!(e["details"]["deviceId"], dev.id.as_str());
        let request_id = e["details"]["requestId"].as_str().unwrap().to_string();
        let closed = c.closed().await.unwrap();
        assert_eq!(closed.code, 1008);
        assert!(closed.reason.starts_with("pairing required: device is not approved yet (requestId: "), "{closed:?}");

        let requested = admin.event("device.pair.requested", WAIT).await.unwrap();
        assert_eq!(requested["payload"]["requestId"], request_id.as_str());
        assert_eq!(requested["payload"]["remoteIp"], "203.0.113.7");

        // Asking again refreshes the same request.
        let (_c, again) = dev.connect(gw.port, REMOTE, json!({"token": TOKEN})).await;
        assert_eq!(again["error"]["details"]["requestId"], request_id.as_str());

        let (code, out, err) = Cmd::new(gw.home.clone()).args(["devices", "list"]).output(WAIT);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&request_id) && out.contains("203.0.113.7"), "{out}");
        let (code, out, err) = Cmd::new(gw.home.clone()).args(["devices", "approve", &request_id]).output(WAIT);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), format!("Approved {} ({request_id})", dev.id));
        let resolved = admin.event("device.pair.resolved", WAIT).await.unwrap();
        assert_eq!(resolved["payload"]["decision"], "approved");

        let (mut browser, res) = dev.connect(gw.port, REMOTE, json!({"token": TOKEN})).await;
        assert_eq!(res["ok"], true, "{res}");
        let token = res["payload"]["auth"]["deviceToken"].as_str().unwrap().to_string();
        let (_c, res) = dev.connect(gw.port, REMOTE, json!({"deviceToken": token})).await;
        assert_eq!(res["ok"], true, "a paired remote browser needs no shared token: {res}");

        let (code, out, err) = Cmd::new(gw.home.clone()).args(["devices", "remove", &dev.id]).output(WAIT);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), format!("Removed {}", dev.id));
        let closed = browser.closed().await.unwrap();
        assert_eq!(closed, Closed { code: 4001, reason: "device removed".into() });

        let (_c, res) = dev.connect(gw.port, REMOTE, json!({"deviceToken": token})).await;
        assert_eq!(res["error"]["details"]["code"], "AUTH_DEVICE_TOKEN_MISMATCH", "{res}");
        let res = admin.request("device.pair.remove", json!({"deviceId": dev.id})).await;
        assert_eq!(res["error"]["message"], "unknown deviceId");
    });
}

#[test]
fn a_device_removing_itself_gets_its_answer_before_the_close() {
    let gw = Gw::start();
    let dev = Device::new();
    block_on(async {
        let (mut c, res) = dev.connect(gw.port, &[], json!({"token": TOKEN})).await;
        assert_eq!(res["ok"], true, "{res}");
        let res = c.request("device.pair.remove", json!({"deviceId": dev.id})).await;
        assert_eq!(res["payload"], json!({"deviceId": dev.id}));
        assert_eq!(c.closed().await.unwrap().code, 4001);
    });
}

#[test]
fn pairing_methods_check_params_and_unknown_ids() {
    let gw = lan_gateway();
    let dev = Device::new();
    block_on(async {
        let (mut admin, hello) = Client::connect(gw.port, TOKEN, &["operator.pairing"]).await;
        let methods = hello["features"]["methods"].as_array().unwrap();
        for m in ["device.pair.list", "device.pair.approve", "device.pair.reject", "device.pair.remove"] {
            assert!(methods.iter().any(|x| x == m), "{m} advertised");
        }
        let res = admin.request("device.pair.approve", json!({})).await;
        assert_eq!(res["error"]["message"], "invalid device.pair.approve params: must have required property 'requestId'");
        let res = admin.request("device.pair.approve", json!({"requestId": "nope"})).await;
        assert_eq!(res["error"]["message"], "unknown requestId");
        let res = admin.request("device.pair.list", json!({"x": 1})).await;
        assert_eq!(res["ok"], false);

        let (_c, res) = dev.connect(gw.port, REMOTE, json!({"token": TOKEN})).await;
        let request_id = res["error"]["details"]["requestId"].as_str().unwrap().to_string();
        let r = admin.call("device.pair.reject", json!({"requestId": request_id})).await;
        assert_eq!(r, json!({"requestId": request_id, "deviceId": dev.id}));
        let resolved = admin.event("device.pair.resolved", WAIT).await.unwrap();
        assert_eq!(resolved["payload"]["decision"], "rejected");

        let (mut reader, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let res = reader.request("device.pair.list", json!({})).await;
        assert_eq!(res["error"]["message"], "missing scope: operator.pairing");
    });
}

#[test]
fn untrusted_proxy_headers_do_not_make_a_browser_local() {
    let gw = Gw::start();
    let dev = Device::new();
    block_on(async {
        let (_c, res) = dev.connect(gw.port, REMOTE, json!({"token": TOKEN})).await;
        assert_eq!(res["error"]["code"], "NOT_PAIRED", "{res}");
    });
}

/// Beyond the official gateway: an allowed Telegram sender approves a waiting browser with the
/// confirmation code the browser shows.
#[cfg(feature = "telegram")]
#[test]
fn an_allowed_chat_sender_approves_a_waiting_device_by_its_code() {
    use crate::support::fake_telegram::FakeTelegram;
    let tg = FakeTelegram::start("123456:TEST-token");
    let gw = Gw::builder()
        .config(json!({"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}, "trustedProxies": ["127.0.0.1"],
                                   "controlUi": {"allowedOrigins": ["*"]}},
                       "channels": {"telegram": {"botToken": "123456:TEST-token", "apiRoot": tg.api_root(),
                                                  "dmPolicy": "allowlist", "allowFrom": ["42"]}}}))
        .env("OPENCLAW_CHANNEL_POLL_TIMEOUT_MS", "1000")
        .start();
    let dev = Device::new();
    block_on(async {
        let (_c, res) = dev.connect(gw.port, REMOTE, json!({"token": TOKEN})).await;
        assert_eq!(res["error"]["code"], "NOT_PAIRED", "{res}");
    });
    let code = format!("{}-{}", dev.id[..4].to_uppercase(), dev.id[4..8].to_uppercase());
    tg.push_private(42, "/approve 0000-0000");
    let sent = tg.wait_sent(1, WAIT);
    assert!(sent[0].text.contains("No device is waiting"), "{}", sent[0].text);
    tg.push_private(42, &format!("/approve {code}"));
    let sent = tg.wait_sent(2, WAIT);
    assert!(sent[1].text.starts_with("Approved Test browser"), "{}", sent[1].text);
    block_on(async {
        let (_c, res) = dev.connect(gw.port, REMOTE, json!({"token": TOKEN})).await;
        assert_eq!(res["ok"], true, "{res}");
    });
}

/// `openclaw dashboard --no-open --json` against `gw`: the parsed object.
fn dashboard_json(gw: &Gw) -> Value {
    let (code, out, err) = Cmd::new(gw.home.clone()).args(["dashboard", "--no-open", "--json"]).output(WAIT);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).unwrap()
}

/// The bootstrap token in a `browserUrl`.
fn bootstrap_token(browser_url: &str) -> String {
    let fragment = browser_url.split_once('#').unwrap().1;
    fragment.split('&').find_map(|kv| kv.strip_prefix("bootstrapToken=")).unwrap().to_string()
}

const BOOTSTRAP_INVALID: &str =
    "unauthorized: setup code invalid, expired, revoked, or already used (create a new code; review `openclaw devices list`)";

#[test]
fn dashboard_json_has_the_official_shape_and_a_one_time_link() {
    let gw = Gw::start();
    let before = now_ms();
    let v = dashboard_json(&gw);
    let port = gw.port;
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, ["browserBootstrapExpiresAtMs", "browserUrl", "httpUrl", "ok", "port", "tokenIncluded", "url", "wsUrl"], "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["url"], format!("http://127.0.0.1:{port}/#token={TOKEN}"));
    assert_eq!(v["httpUrl"], format!("http://127.0.0.1:{port}/"));
    assert_eq!(v["wsUrl"], format!("ws://127.0.0.1:{port}"));
    assert_eq!(v["port"], port);
    assert_eq!(v["tokenIncluded"], true);
    let browser_url = v["browserUrl"].as_str().unwrap();
    let token = bootstrap_token(browser_url);
    assert_eq!(
        browser_url,
        format!("http://127.0.0.1:{port}/#bootstrapToken={token}&bootstrapProfile=owner&gatewayUrl=ws%3A%2F%2F127.0.0.1%3A{port}")
    );
    assert!(!browser_url.contains(TOKEN), "the shared secret is not in the one-time link");
    assert!((1..=256).contains(&token.len()) && token.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{token}");
    let expires = v["browserBootstrapExpiresAtMs"].as_u64().unwrap();
    assert!(expires >= before + 600_000 && expires <= now_ms() + 600_000, "ten minutes: {expires} from {before}");
    // The state dir holds the token's hash, never the token.
    let dir = gw.state_dir().join("devices/bootstrap");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    assert!(!std::fs::read_to_string(files[0].path()).unwrap().contains(&token));
    let mode = std::os::unix::fs::PermissionsExt::mode(&files[0].metadata().unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // The text output: the address without the secret, then the one-time link.
    let (code, out, err) = Cmd::new(gw.home.clone()).args(["dashboard", "--no-open"]).output(WAIT);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("Dashboard URL: http://127.0.0.1:{port}/\n")), "{out}");
    assert!(out.contains(&format!("http://127.0.0.1:{port}/#bootstrapToken=")), "{out}");
    assert!(out.contains("Browser launch disabled (--no-open)"), "{out}");
    assert!(!out.contains(TOKEN), "{out}");
}

#[test]
fn dashboard_without_a_running_gateway_says_so() {
    let home = std::sync::Arc::new(TempDir::new("dash-down"));
    let (code, out, _) = Cmd::new(home.clone()).args(["dashboard", "--json"]).output(WAIT);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, json!({"ok": false, "reason": "Gateway is not running."}));
    let (code, _, err) = Cmd::new(home).args(["dashboard", "--no-open"]).output(WAIT);
    assert_eq!(code, 1);
    assert!(err.starts_with("Gateway is not running."), "{err}");
}

#[test]
fn a_dashboard_link_pairs_one_browser_as_owner_once() {
    // Remote browsers (through a trusted proxy) would wait for approval: the link is the approval.
    let gw = lan_gateway();
    let dev = Device::new();
    let token = bootstrap_token(dashboard_json(&gw)["browserUrl"].as_str().unwrap());
    block_on(async {
        let (mut admin, _) = Client::connect(gw.port, TOKEN, &["operator.pairing"]).await;
        let (_c, res) = dev.connect(gw.port, REMOTE, json!({"bootstrapToken": token})).await;
        assert_eq!(res["ok"], true, "{res}");
        let auth = &res["payload"]["auth"];
        let device_token = auth["deviceToken"].as_str().unwrap().to_string();
        assert!(auth["scopes"].as_array().unwrap().iter().any(|s| s == "operator.admin"), "{auth}");
        let resolved = admin.event("device.pair.resolved", WAIT).await.unwrap();
        assert_eq!(resolved["payload"]["deviceId"], dev.id.as_str());
        let list = admin.call("device.pair.list", json!({})).await;
        let rec = list["paired"].as_array().unwrap().iter().find(|d| d["deviceId"] == dev.id.as_str()).unwrap().clone();
        for scope in ["operator.admin", "operator.pairing", "operator.read", "operator.write", "operator.approvals"] {
            assert!(rec["scopes"].as_array().unwrap().iter().any(|s| s == scope), "{scope} in {rec}");
        }

        // Used: refused for another browser and for the same one, with the official code.
        for who in [&Device::new(), &dev] {
            let (mut c, res) = who.connect(gw.port, REMOTE, json!({"bootstrapToken": token})).await;
            assert_eq!(res["ok"], false, "{res}");
            assert_eq!(res["error"]["code"], "INVALID_REQUEST");
            assert_eq!(res["error"]["message"], BOOTSTRAP_INVALID);
            assert_eq!(res["error"]["details"]["code"], "AUTH_BOOTSTRAP_TOKEN_INVALID");
            assert_eq!(res["error"]["details"]["recommendedNextStep"], "review_auth_configuration");
            assert_eq!(c.closed().await.unwrap().code, 1008);
        }
        // A made-up or oversized one gets the same answer.
        let (_c, res) = Device::new().connect(gw.port, REMOTE, json!({"bootstrapToken": "x".repeat(300)})).await;
        assert_eq!(res["error"]["details"]["code"], "AUTH_BOOTSTRAP_TOKEN_INVALID", "{res}");

        // From now on the browser's own device token is its sign-in.
        let (_c, res) = dev.connect(gw.port, REMOTE, json!({"deviceToken": device_token})).await;
        assert_eq!(res["ok"], true, "{res}");
        assert!(res["payload"]["auth"]["scopes"].as_array().unwrap().iter().any(|s| s == "operator.admin"));
    });
}

#[test]
fn a_dashboard_link_survives_a_restart_and_expires_after_ten_minutes() {
    let home = std::sync::Arc::new(TempDir::new("dash-restart"));
    let mut first = Gw::builder().home(home.clone()).start();
    let kept = bootstrap_token(dashboard_json(&first)["browserUrl"].as_str().unwrap());
    let expired = bootstrap_token(dashboard_json(&first)["browserUrl"].as_str().unwrap());
    first.signal(15);
    assert!(first.wait_exit(WAIT).is_some());
    let gw = Gw::builder().home(home).start();
    // Age the second token's record past its ten minutes (the file is named by the token's hash).
    let hash = openclaw::encoding::hex(ring::digest::digest(&ring::digest::SHA256, expired.as_bytes()).as_ref());
    let file = gw.state_dir().join(format!("devices/bootstrap/{hash}.json"));
    let mut rec: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let past = now_ms() - 700_000;
    rec["issuedAtMs"] = json!(past);
    rec["expiresAtMs"] = json!(past + 600_000);
    std::fs::write(&file, rec.to_string()).unwrap();
    block_on(async {
        let (_c, res) = Device::new().connect(gw.port, &[], json!({"bootstrapToken": kept})).await;
        assert_eq!(res["ok"], true, "a restart within the window keeps the link: {res}");
        let (mut c, res) = Device::new().connect(gw.port, &[], json!({"bootstrapToken": expired})).await;
        assert_eq!(res["error"]["message"], BOOTSTRAP_INVALID, "{res}");
        assert_eq!(res["error"]["details"]["code"], "AUTH_BOOTSTRAP_TOKEN_INVALID");
        assert_eq!(c.closed().await.unwrap().code, 1008);
    });
    assert!(!file.exists(), "an expired record is removed when presented");
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Overview's channel liveness comes with every `health` event: each summary carries
/// `lastTransportActivityAt` (null before the first contact), as `channels.status` reports it.
#[cfg(feature = "telegram")]
#[test]
fn health_summaries_carry_the_last_transport_activity() {
    use crate::support::fake_telegram::FakeTelegram;
    let tg = FakeTelegram::start("123456:TEST-token");
    let gw = Gw::builder()
        .config(json!({"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
                       "channels": {"telegram": {"botToken": "123456:TEST-token", "apiRoot": tg.api_root()}}}))
        .env("OPENCLAW_CHANNEL_POLL_TIMEOUT_MS", "500")
        .env("OPENCLAW_HEALTH_INTERVAL_MS", "500")
        .start();
    block_on(async {
        let (mut c, hello) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let summary = &hello["snapshot"]["health"]["channels"]["telegram"];
        assert!(summary.get("lastTransportActivityAt").is_some(), "in hello-ok too: {summary}");
        let deadline = std::time::Instant::now() + WAIT;
        let at = loop {
            let ev = c.event("health", WAIT).await.expect("a health event");
            if let Some(at) = ev["payload"]["channels"]["telegram"]["lastTransportActivityAt"].as_u64() {
                break at;
            }
            assert!(std::time::Instant::now() < deadline, "no transport activity in health: {ev}");
        };
        assert!(at <= now_ms() && at + 60_000 > now_ms(), "{at}");
        let status = c.call("channels.status", json!({})).await;
        let account_at = status["channelAccounts"]["telegram"][0]["lastTransportActivityAt"].as_u64().unwrap();
        assert!(account_at >= at, "the same clock: {account_at} and {at}");
    });
}
