//! The control panel on the gateway port: the embedded files and their headers, and device
//! pairing (silent on loopback, refused then approved elsewhere, device tokens, removal).

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
        let token = auth["token"].as_str().or(auth["deviceToken"].as_str()).unwrap_or("");
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

#[test]
fn dashboard_prints_the_url_with_a_token_fragment() {
    let gw = Gw::start();
    let (code, out, err) = Cmd::new(gw.home.clone()).args(["dashboard", "--no-open"]).output(WAIT);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("Dashboard URL: http://127.0.0.1:{}/#token={TOKEN}", gw.port)), "{out}");
    let (code, out, _) = Cmd::new(gw.home.clone()).args(["dashboard", "--json"]).output(WAIT);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["httpUrl"], format!("http://127.0.0.1:{}/", gw.port));
    assert_eq!(v["tokenIncluded"], true);
}
