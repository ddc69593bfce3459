//! A fake of the WhatsApp Business Cloud API (Meta Graph API) for the WhatsApp channel, plus
//! builders for the webhook requests Meta would send to the gateway.
//!
//! The fake serves the two Graph calls the channel makes — `GET /{version}/{phone-number-id}`
//! (the phone number node, used to check the credentials) and `POST
//! /{version}/{phone-number-id}/messages` (send a text) — with the real request checks, success
//! shapes and Graph error objects (`{"error":{"message","type","code","error_subcode",
//! "fbtrace_id"}}`), so the channel's client is tested against what Meta answers rather than
//! against what we think it answers. Faults (5xx, 429 code 130429, a dropped or stalled
//! connection, a revoked token) are queued by the test and consumed in order. Every request is
//! recorded so tests can prove what was sent and how often.
//!
//! Inbound is the other direction: Meta POSTs notifications to the gateway's webhook, signed with
//! `X-Hub-Signature-256`. The gateway serves that endpoint; this file only builds the bodies
//! ([`text_notification`], [`status_notification`]) and the header value ([`signature`]).
//!
//! HTTP itself (reading the request, writing the answer, accepting) is [`super::fake_http`]'s.

use super::fake_http::{self, MAX_BODY, Request};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The phone number node's `display_phone_number` (as Graph formats it).
pub const DISPLAY_PHONE_NUMBER: &str = "+1 555-0100";
/// The same number as webhooks carry it in `metadata.display_phone_number` (digits only).
pub const WEBHOOK_DISPLAY_NUMBER: &str = "15550100";
/// The phone number node's `verified_name`.
pub const VERIFIED_NAME: &str = "Test Business";
/// The WhatsApp Business Account id used as `entry[].id` in notifications.
pub const WABA_ID: &str = "100000000000001";
/// `contacts[].profile.name` of the sender in [`text_notification`].
pub const CONTACT_NAME: &str = "Test User";
/// `recipient_id` in [`status_notification`] (the builder takes no recipient).
pub const STATUS_RECIPIENT: &str = "15550001111";

/// Longest text body the Cloud API accepts for a `text` message, in characters.
const MAX_TEXT: usize = 4096;

/// A fault served instead of the normal answer; queued with [`FakeWhatsApp::inject`] and consumed
/// one per Graph request, in order, before the token is even checked (as an outage would be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status with a transient Graph error body: code 2 "Service temporarily
    /// unavailable" for 502/503, code 1 "An unknown error occurred" otherwise.
    Status(u16),
    /// 429 with Graph error code 130429 "(#130429) Rate limit hit" (Cloud API throughput).
    RateLimited,
    /// Read the request, then close the connection without answering.
    Drop,
    /// Read the request and never answer (the socket is held until the fake is dropped).
    Stall,
}

/// One text message the fake accepted on `POST /{v}/{id}/messages`.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The `to` field as the client sent it.
    pub to: String,
    /// `text.body`.
    pub body: String,
    /// The whole request body.
    pub raw: Value,
    /// When the fake received it (for pacing and retry-delay assertions).
    pub at: Instant,
}

struct Shared {
    token: String,
    phone_number_id: String,
    token_valid: AtomicBool,
    faults: Mutex<VecDeque<Fault>>,
    sent: Mutex<Vec<Sent>>,
    calls: Mutex<Vec<(String, String)>>,
    /// Source of fresh `wamid.` and `fbtrace_id` values.
    counter: AtomicU64,
    stop: AtomicBool,
}

/// A running fake Graph API on 127.0.0.1. Dropping it stops the accept loop and releases
/// stalled connections.
pub struct FakeWhatsApp {
    pub port: u16,
    shared: Arc<Shared>,
}

impl FakeWhatsApp {
    /// Starts a fake that accepts `Authorization: Bearer <access_token>` and knows one phone
    /// number, `phone_number_id`.
    pub fn start(access_token: &str, phone_number_id: &str) -> FakeWhatsApp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            token: access_token.to_string(),
            phone_number_id: phone_number_id.to_string(),
            token_valid: AtomicBool::new(true),
            faults: Mutex::new(VecDeque::new()),
            sent: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            counter: AtomicU64::new(1),
            stop: AtomicBool::new(false),
        });
        fake_http::spawn_accept_loop(listener, shared.clone(), |s| s.stop.load(Ordering::SeqCst), |s, c| handle(&s, c));
        FakeWhatsApp { port, shared }
    }

    /// The Graph origin to configure, `http://127.0.0.1:<port>`; the client adds
    /// `/v21.0/<id>/messages` (any `v<major>.<minor>` is accepted).
    pub fn graph_root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far, in arrival order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.sent.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages were accepted or `limit` passed, and returns what was
    /// accepted by then (possibly fewer than `n`: the caller asserts the count).
    pub fn wait_sent(&self, n: usize, limit: Duration) -> Vec<Sent> {
        super::wait_for(limit, || self.sent().len() >= n);
        self.sent()
    }

    /// `(method, request target)` of every request read, faulted and refused ones included. The
    /// target is as sent, query string included.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// Queues a fault for the next Graph request not already served a fault.
    pub fn inject(&self, fault: Fault) {
        self.shared.faults.lock().unwrap().push_back(fault);
    }

    /// `false` makes every request fail with 401, Graph code 190 (expired token, subcode 463),
    /// as when the token is revoked while the gateway runs; `true` restores normal service.
    pub fn set_token_valid(&self, valid: bool) {
        self.shared.token_valid.store(valid, Ordering::SeqCst);
    }
}

impl Drop for FakeWhatsApp {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        fake_http::wake(self.port);
    }
}

/// A Graph error body; `fbtrace_id` is fresh per answer like Meta's.
fn graph_error(s: &Shared, message: &str, kind: &str, code: u64, subcode: Option<u64>, details: Option<&str>) -> Value {
    let mut e = json!({
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": format!("AFake{:08x}", s.counter.fetch_add(1, Ordering::SeqCst)),
    });
    if let Some(sub) = subcode {
        e["error_subcode"] = json!(sub);
    }
    if let Some(d) = details {
        e["error_data"] = json!({"messaging_product": "whatsapp", "details": d});
    }
    if code == 1 || code == 2 {
        e["is_transient"] = json!(true);
    }
    json!({ "error": e })
}

/// 400 with Graph code 100 (invalid parameter), saying what is wrong.
fn invalid(s: &Shared, details: &str) -> (u16, Value) {
    (400, graph_error(s, "(#100) Invalid parameter", "OAuthException", 100, None, Some(details)))
}

/// What Graph answers for an id it does not know (or may not touch).
fn unsupported(s: &Shared, method: &str, id: &str) -> (u16, Value) {
    let msg = format!(
        "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing \
         permissions, or does not support this operation. Please read the Graph API documentation at \
         https://developers.facebook.com/docs/graph-api"
    );
    (400, graph_error(s, &msg, "GraphMethodException", 100, Some(33), None))
}

/// Writes one JSON answer (`Connection: close`, so one request per connection), then half-closes
/// and drains briefly: this fake refuses some requests before reading their body (431, 413, 411),
/// and unread request bytes would turn the close into a reset that could destroy the answer
/// before the client reads it.
fn respond(stream: &mut TcpStream, status: u16, body: &Value) {
    // As from Graph, a 401 carries an OAuth challenge.
    let challenge = [("WWW-Authenticate", "OAuth \"Facebook Platform\" \"invalid_token\" \"Invalid OAuth access token\"")];
    let headers: &[(&str, &str)] = if status == 401 { &challenge } else { &[] };
    fake_http::respond(stream, status, "application/json; charset=UTF-8", headers, body.to_string().as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 8192];
    let mut drained = 0;
    while drained < 2 * MAX_BODY {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
}

fn handle(s: &Shared, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let req = match fake_http::read_request(&mut stream, MAX_BODY) {
        Ok(req) => req,
        Err(Some(status)) => {
            let why = match status {
                411 => "the fake needs a Content-Length body",
                413 => "request body too large",
                431 => "request head too large",
                _ => "malformed HTTP request",
            };
            respond(&mut stream, status, &graph_error(s, why, "OAuthException", 100, None, None));
            return;
        }
        Err(None) => return,
    };
    s.calls.lock().unwrap().push((req.method.clone(), req.target.clone()));
    let fault = s.faults.lock().unwrap().pop_front();
    match fault {
        Some(Fault::Drop) => return,
        Some(Fault::Stall) => {
            while !s.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        Some(Fault::RateLimited) => {
            let details =
                "Message failed to send because there were too many messages sent from this phone number in a short period of time";
            let body = graph_error(s, "(#130429) Rate limit hit", "OAuthException", 130429, None, Some(details));
            return respond(&mut stream, 429, &body);
        }
        Some(Fault::Status(status)) => {
            let (code, msg) =
                if matches!(status, 502 | 503) { (2, "Service temporarily unavailable") } else { (1, "An unknown error occurred") };
            return respond(&mut stream, status, &graph_error(s, msg, "OAuthException", code, None, None));
        }
        None => {}
    }
    let (status, body) = answer(s, &req);
    respond(&mut stream, status, &body);
}

/// The normal answer: token check, then routing on `/{v}/{id}` and `/{v}/{id}/messages`.
fn answer(s: &Shared, req: &Request) -> (u16, Value) {
    let presented = req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::trim);
    if presented != Some(s.token.as_str()) {
        let body = graph_error(s, "Invalid OAuth access token - Cannot parse access token", "OAuthException", 190, None, None);
        return (401, body);
    }
    if !s.token_valid.load(Ordering::SeqCst) {
        let msg = "Error validating access token: Session has expired on Monday, 01-Jan-24 00:00:00 PST.";
        return (401, graph_error(s, msg, "OAuthException", 190, Some(463), None));
    }
    let path = req.path();
    let segments: Vec<&str> = path.trim_start_matches('/').trim_end_matches('/').split('/').collect();
    let version_ok = segments[0]
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()));
    let unknown_path = || (400, graph_error(s, &format!("Unknown path components: {path}"), "OAuthException", 2500, None, None));
    if !version_ok {
        return unknown_path();
    }
    match (req.method.as_str(), &segments[1..]) {
        ("GET", [id]) if *id == s.phone_number_id => (
            200,
            json!({
                "verified_name": VERIFIED_NAME,
                "code_verification_status": "VERIFIED",
                "display_phone_number": DISPLAY_PHONE_NUMBER,
                "quality_rating": "GREEN",
                "platform_type": "CLOUD_API",
                "throughput": {"level": "STANDARD"},
                "id": id,
            }),
        ),
        ("GET", [id]) => unsupported(s, "get", id),
        ("POST", [id, "messages"]) if *id == s.phone_number_id => send(s, &req.body),
        ("POST", [id, "messages"]) => unsupported(s, "post", id),
        _ => unknown_path(),
    }
}

/// Validates a text send like the Cloud API, records it and answers with a fresh `wamid.`.
fn send(s: &Shared, body: &[u8]) -> (u16, Value) {
    let Ok(raw) = serde_json::from_slice::<Value>(body) else { return invalid(s, "the request body is not JSON") };
    if raw["messaging_product"] != "whatsapp" {
        return invalid(s, "messaging_product must be \"whatsapp\"");
    }
    if !raw["recipient_type"].is_null() && raw["recipient_type"] != "individual" {
        return invalid(s, "recipient_type must be \"individual\"");
    }
    let to = raw["to"].as_str().unwrap_or("").to_string();
    if to.is_empty() {
        return invalid(s, "the parameter to is required");
    }
    if raw["type"] != "text" {
        return invalid(s, "the fake supports type \"text\" only");
    }
    let Some(text) = raw["text"]["body"].as_str() else { return invalid(s, "the parameter text['body'] is required") };
    if text.is_empty() {
        return invalid(s, "text['body'] must not be empty");
    }
    if text.chars().count() > MAX_TEXT {
        return invalid(s, &format!("text['body'] is longer than {MAX_TEXT} characters"));
    }
    let wamid = format!("wamid.FAKE{:016X}", s.counter.fetch_add(1, Ordering::SeqCst));
    let wa_id: String = to.chars().filter(char::is_ascii_digit).collect();
    s.sent.lock().unwrap().push(Sent { to: to.clone(), body: text.to_string(), raw, at: Instant::now() });
    (200, json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": wa_id}], "messages": [{"id": wamid}]}))
}

fn now_secs() -> String {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string()
}

/// One `messages` change for `phone_number_id` wrapped in a full notification.
fn notification(phone_number_id: &str, extra: Value) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": WEBHOOK_DISPLAY_NUMBER, "phone_number_id": phone_number_id},
    });
    if let (Value::Object(v), Value::Object(x)) = (&mut value, extra) {
        v.extend(x);
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}]})
}

/// A webhook body for one inbound text message from `from` (a wa id, digits), sent now.
pub fn text_notification(phone_number_id: &str, from: &str, wamid: &str, text: &str) -> String {
    notification(
        phone_number_id,
        json!({
            "contacts": [{"profile": {"name": CONTACT_NAME}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": now_secs(), "type": "text", "text": {"body": text}}],
        }),
    )
    .to_string()
}

/// A webhook body with one `statuses[]` entry (`sent`, `delivered`, `read` or `failed`) for an
/// outbound message and no `messages`; the gateway must accept and ignore it, not treat it as
/// inbound. `sent`/`delivered` carry conversation and pricing, `failed` a 131047 error, as Meta's do.
pub fn status_notification(phone_number_id: &str, wamid: &str, status: &str) -> String {
    let mut st = json!({"id": wamid, "status": status, "timestamp": now_secs(), "recipient_id": STATUS_RECIPIENT});
    if status == "sent" || status == "delivered" {
        st["conversation"] = json!({"id": "fakeconversation0001", "origin": {"type": "service"}});
        st["pricing"] = json!({"billable": true, "pricing_model": "CBP", "category": "service"});
    }
    if status == "failed" {
        st["errors"] = json!([{
            "code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
        }]);
    }
    notification(phone_number_id, json!({"statuses": [st]})).to_string()
}

/// The `X-Hub-Signature-256` value for `body`: `sha256=` and the lowercase hex HMAC-SHA256 of
/// the raw bytes keyed with the app secret.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, app_secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// One request over a plain socket; returns the status and the JSON body.
    fn call(port: u16, method: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: graph.facebook.com\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        c.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Connection: close"), "{head}");
        (head.split(' ').nth(1).unwrap().parse().unwrap(), serde_json::from_str(body).unwrap())
    }

    #[test]
    fn send_is_recorded_and_answered_with_a_wamid() {
        let fake = FakeWhatsApp::start("tok", "123456");
        let msg = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "15551234567",
                         "type": "text", "text": {"preview_url": false, "body": "hi there"}});
        let (status, res) = call(fake.port, "POST", "/v21.0/123456/messages", "tok", &msg.to_string());
        assert_eq!(status, 200, "{res}");
        assert!(res["messages"][0]["id"].as_str().unwrap().starts_with("wamid."), "{res}");
        assert_eq!(res["contacts"][0]["wa_id"], "15551234567");
        let sent = fake.wait_sent(1, Duration::from_secs(1));
        assert_eq!((sent.len(), sent[0].to.as_str(), sent[0].body.as_str()), (1, "15551234567", "hi there"));
        let (status, res) = call(fake.port, "POST", "/v21.0/123456/messages", "wrong", &msg.to_string());
        assert_eq!((status, res["error"]["code"].as_u64()), (401, Some(190)), "{res}");
        assert_eq!(fake.sent().len(), 1);
        assert_eq!(fake.calls().len(), 2);
    }

    #[test]
    fn signature_matches_a_known_hmac_sha256() {
        // python3: hmac.new(b"secret", b"body", hashlib.sha256).hexdigest()
        assert_eq!(signature("secret", b"body"), "sha256=dc46983557fea127b43af721467eb9b3fde2338fe3e14f51952aa8478c13d355");
    }
}
