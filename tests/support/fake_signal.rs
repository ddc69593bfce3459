//! A fake `signal-cli daemon --http` on 127.0.0.1, after signal-cli's documented HTTP API
//! (`signal-cli-jsonrpc(5)` and its HTTP handler): `GET /api/v1/check` (200, empty),
//! `POST /api/v1/rpc` (JSON-RPC 2.0: `send`, `sendTyping`, `version`; 405 for another method,
//! 415 without a JSON content type, 201 with no body for a notification) and `GET
//! /api/v1/events` (server-sent events: `event:receive` with one line of JSON per envelope, a
//! `:` keepalive comment on an idle stream, chunked).
//!
//! It runs in multi-account mode with one account: RPCs need `params.account` (else -32602) and
//! `?account=` of another number is a 400, so a client that forgets either is caught.
//!
//! Events wait in a queue until a stream takes them, so a test can push while the gateway is
//! down. Faults: any HTTP status per endpoint, JSON-RPC errors and per-recipient failures for
//! `send`, a stream dropped after N events, a silent (hung) stream, a stalled request, and
//! replaying every event already delivered on each new stream (as a daemon replaying its buffer).

use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::fake_http::{self, Request};

/// One fault, used by the next request to its endpoint (`check`, `events`, or the RPC method).
#[derive(Debug, Clone)]
pub enum Fault {
    /// This HTTP status with an empty body.
    Status(u16),
    /// A JSON-RPC error with this code and message (HTTP 200, as signal-cli answers).
    RpcError(i64, &'static str),
    /// `send` succeeds as JSON-RPC but the one recipient's result is this failure type.
    Delivery(&'static str),
    /// The event stream sends this many events, then the connection closes mid-stream.
    DropAfter(usize),
    /// Read the request and never answer.
    Stall,
}

/// A message the gateway sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// `+1555…`, `uuid:…`, or `group:<id>`.
    pub to: String,
    pub text: String,
    pub quote_timestamp: Option<u64>,
}

struct State {
    queue: VecDeque<String>,
    delivered: Vec<String>,
    sent: Vec<Sent>,
    typing: Vec<String>,
    calls: HashMap<String, usize>,
    faults: HashMap<String, VecDeque<Fault>>,
    next_ts: u64,
    silent: bool,
    replay: bool,
    /// Bumped by [`FakeSignal::drop_streams`]; a stream opened before the bump closes.
    generation: u64,
    open_streams: usize,
}

struct Shared {
    account: String,
    state: Mutex<State>,
    changed: Condvar,
    shutdown: AtomicBool,
    keepalive: Duration,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

pub struct FakeSignal {
    shared: Arc<Shared>,
    port: u16,
}

impl FakeSignal {
    /// A daemon serving `account`, with a keepalive every 300 ms.
    pub fn start(account: &str) -> FakeSignal {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        let state = State {
            queue: VecDeque::new(),
            delivered: Vec::new(),
            sent: Vec::new(),
            typing: Vec::new(),
            calls: HashMap::new(),
            faults: HashMap::new(),
            next_ts: now,
            silent: false,
            replay: false,
            generation: 0,
            open_streams: 0,
        };
        let shared = Arc::new(Shared {
            account: account.to_string(),
            state: Mutex::new(state),
            changed: Condvar::new(),
            shutdown: AtomicBool::new(false),
            keepalive: Duration::from_millis(300),
        });
        fake_http::spawn_accept_loop(listener, shared.clone(), |s| s.shutdown.load(Ordering::SeqCst), serve);
        FakeSignal { shared, port }
    }

    /// `http://127.0.0.1:<port>` for `channels.signal.httpUrl`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn push(&self, envelope: Value) -> u64 {
        let mut st = self.shared.state();
        st.next_ts += 1;
        let ts = st.next_ts;
        let mut envelope = envelope;
        envelope["timestamp"] = json!(ts);
        envelope["serverReceivedTimestamp"] = json!(ts);
        if envelope["dataMessage"].is_object() {
            envelope["dataMessage"]["timestamp"] = json!(ts);
        }
        st.queue.push_back(json!({"envelope": envelope, "account": self.shared.account}).to_string());
        self.shared.changed.notify_all();
        ts
    }

    fn person(from: &str) -> Value {
        json!({"source": from, "sourceNumber": from, "sourceUuid": uuid_of(from), "sourceName": format!("User {from}"), "sourceDevice": 1})
    }

    /// A direct message from `from`; returns its timestamp.
    pub fn push_dm(&self, from: &str, text: &str) -> u64 {
        let mut e = FakeSignal::person(from);
        e["dataMessage"] = json!({"message": text, "expiresInSeconds": 0, "viewOnce": false});
        self.push(e)
    }

    /// A message in group `group`; `mention` puts a mention of the account first (U+FFFC, as
    /// signal-cli writes it, resolved through `mentions`).
    pub fn push_group(&self, group: &str, from: &str, text: &str, mention: bool) -> u64 {
        let mut e = FakeSignal::person(from);
        let (text, mentions) = if mention {
            let m = json!([{"name": self.shared.account, "number": self.shared.account, "uuid": uuid_of(&self.shared.account), "start": 0, "length": 1}]);
            (format!("\u{fffc} {text}"), m)
        } else {
            (text.to_string(), json!([]))
        };
        e["dataMessage"] = json!({"message": text, "expiresInSeconds": 0, "viewOnce": false, "mentions": mentions,
                                  "groupInfo": {"groupId": group, "groupName": "Test group", "revision": 1, "type": "DELIVER"}});
        self.push(e)
    }

    /// What the gateway must ignore: a delivery receipt, a typing notice, and a sync message of a
    /// text the account itself sent from another device.
    pub fn push_noise(&self, from: &str) {
        let mut receipt = FakeSignal::person(from);
        receipt["receiptMessage"] = json!({"when": 1, "isDelivery": true, "isRead": false, "isViewed": false, "timestamps": [1]});
        self.push(receipt);
        let mut typing = FakeSignal::person(from);
        typing["typingMessage"] = json!({"action": "STARTED", "timestamp": 1});
        self.push(typing);
        let mut sync = FakeSignal::person(&self.shared.account.clone());
        sync["syncMessage"] =
            json!({"sentMessage": {"destination": from, "destinationNumber": from, "timestamp": 1, "message": "from my phone"}});
        self.push(sync);
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.shared.state().sent.clone()
    }

    pub fn typing(&self) -> Vec<String> {
        self.shared.state().typing.clone()
    }

    /// Waits until `n` messages were sent (or the time is up); returns what was sent.
    pub fn wait_sent(&self, n: usize, limit: Duration) -> Vec<Sent> {
        let deadline = Instant::now() + limit;
        let mut st = self.shared.state();
        while st.sent.len() < n && Instant::now() < deadline {
            st = self.shared.changed.wait_timeout(st, deadline - Instant::now()).unwrap().0;
        }
        st.sent.clone()
    }

    /// Requests to an endpoint (`check`, `events`) or RPC method (`send`, …) so far.
    pub fn calls(&self, what: &str) -> usize {
        self.shared.state().calls.get(what).copied().unwrap_or(0)
    }

    /// Events pushed and not yet taken by a stream.
    pub fn pending(&self) -> usize {
        self.shared.state().queue.len()
    }

    pub fn open_streams(&self) -> usize {
        self.shared.state().open_streams
    }

    pub fn inject(&self, what: &str, fault: Fault) {
        self.shared.state().faults.entry(what.to_string()).or_default().push_back(fault);
    }

    /// A hung daemon: open streams stop sending anything (events and keepalives) while set.
    pub fn set_silent(&self, silent: bool) {
        self.shared.state().silent = silent;
        self.shared.changed.notify_all();
    }

    /// Each new stream first replays every event delivered before (what a daemon replaying its
    /// buffer does).
    pub fn set_replay(&self, replay: bool) {
        self.shared.state().replay = replay;
    }

    /// Closes every open stream mid-stream.
    pub fn drop_streams(&self) {
        self.shared.state().generation += 1;
        self.shared.changed.notify_all();
    }
}

impl Drop for FakeSignal {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        fake_http::wake(self.port);
    }
}

/// A stable made-up ACI for a number.
pub fn uuid_of(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("00000000-0000-4000-8000-{:0>12}", digits.chars().rev().take(12).collect::<String>())
}

fn serve(shared: Arc<Shared>, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let req = match fake_http::read_request(&mut stream, fake_http::MAX_BODY) {
        Ok(r) => r,
        Err(Some(status)) => return fake_http::respond(&mut stream, status, "text/plain", &[], b""),
        Err(None) => return,
    };
    let endpoint = match req.path() {
        "/api/v1/check" => "check",
        "/api/v1/events" => "events",
        "/api/v1/rpc" => "rpc",
        _ => return fake_http::respond(&mut stream, 404, "text/plain", &[], b""),
    };
    let wanted = if endpoint == "rpc" { "POST" } else { "GET" };
    if req.method != wanted {
        return fake_http::respond(&mut stream, 405, "text/plain", &[], b"");
    }
    match endpoint {
        "check" => {
            let fault = take_fault(&shared, "check");
            match fault {
                Some(Fault::Status(s)) => fake_http::respond(&mut stream, s, "text/plain", &[], b""),
                Some(Fault::Stall) => stall(&shared),
                _ => fake_http::respond(&mut stream, 200, "text/plain", &[], b""),
            }
        }
        "events" => events(&shared, &req, stream),
        _ => rpc(&shared, &req, &mut stream),
    }
}

/// Counts the call and takes the next fault for it.
fn take_fault(shared: &Shared, what: &str) -> Option<Fault> {
    let mut st = shared.state();
    *st.calls.entry(what.to_string()).or_default() += 1;
    st.faults.get_mut(what).and_then(VecDeque::pop_front)
}

fn stall(shared: &Shared) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn query_account(req: &Request) -> Option<String> {
    let raw = req.query().split('&').find_map(|kv| kv.strip_prefix("account="))?;
    Some(raw.replace("%2B", "+").replace("%2b", "+"))
}

/// Whether the client closed its end (it sends nothing after the request, so any readable
/// state is the end of the stream). Without this a stream whose client died would take the next
/// event into a dead socket.
fn peer_gone(stream: &TcpStream) -> bool {
    let _ = stream.set_nonblocking(true);
    let gone = match stream.peek(&mut [0u8; 1]) {
        Ok(n) => n == 0,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    gone
}

fn chunk(stream: &mut TcpStream, data: &str) -> bool {
    let framed = format!("{:x}\r\n{data}\r\n", data.len());
    stream.write_all(framed.as_bytes()).and_then(|_| stream.flush()).is_ok()
}

/// The event stream: events as they come, a keepalive when idle, until a fault, a drop or the
/// client going away.
fn events(shared: &Shared, req: &Request, mut stream: TcpStream) {
    let mut drop_after = None;
    match take_fault(shared, "events") {
        Some(Fault::Status(s)) => return fake_http::respond(&mut stream, s, "text/plain", &[], b""),
        Some(Fault::Stall) => return stall(shared),
        Some(Fault::DropAfter(n)) => drop_after = Some(n),
        _ => {}
    }
    if query_account(req).is_some_and(|a| a != shared.account) {
        return fake_http::respond(&mut stream, 400, "text/plain", &[], b"Specified account does not exist");
    }
    let head = fake_http::head(200, "text/event-stream", &[("Transfer-Encoding", "chunked"), ("Cache-Control", "no-cache")]);
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut st = shared.state();
    st.open_streams += 1;
    let generation = st.generation;
    let mut backlog: VecDeque<String> = if st.replay { st.delivered.iter().cloned().collect() } else { VecDeque::new() };
    let mut last_write = Instant::now();
    let mut sent_events = 0;
    loop {
        if shared.shutdown.load(Ordering::SeqCst)
            || st.generation != generation
            || drop_after.is_some_and(|n| sent_events >= n)
            || peer_gone(&stream)
        {
            break;
        }
        if !st.silent {
            let next = backlog.pop_front().or_else(|| st.queue.pop_front().inspect(|e| st.delivered.push(e.clone())));
            if let Some(event) = next {
                drop(st);
                let ok = chunk(&mut stream, &format!("id:{sent_events}\nevent:receive\ndata:{event}\n\n"));
                sent_events += 1;
                last_write = Instant::now();
                st = shared.state();
                if !ok {
                    break;
                }
                continue;
            }
            if last_write.elapsed() >= shared.keepalive {
                drop(st);
                let ok = chunk(&mut stream, ":\n");
                last_write = Instant::now();
                st = shared.state();
                if !ok {
                    break;
                }
            }
        }
        st = shared.changed.wait_timeout(st, Duration::from_millis(50)).unwrap().0;
    }
    st.open_streams -= 1;
    // Dropped without the terminating chunk: the client sees the body end early.
}

fn rpc_answer(id: &Value, result: Result<Value, (i64, String)>) -> Value {
    match result {
        Ok(r) => json!({"jsonrpc": "2.0", "result": r, "id": id}),
        Err((code, message)) => json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id}),
    }
}

fn rpc(shared: &Shared, req: &Request, stream: &mut TcpStream) {
    if !req.header("content-type").is_some_and(|c| c.starts_with("application/json")) {
        return fake_http::respond(stream, 415, "text/plain", &[], b"");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        let e = rpc_answer(&Value::Null, Err((-32700, "Parse error".into())));
        return fake_http::respond(stream, 200, "application/json", &[], e.to_string().as_bytes());
    };
    let method = body["method"].as_str().unwrap_or_default().to_string();
    let fault = take_fault(shared, &method);
    let answer = match fault {
        Some(Fault::Status(s)) => return fake_http::respond(stream, s, "text/plain", &[], b""),
        Some(Fault::Stall) => return stall(shared),
        Some(Fault::RpcError(code, message)) => Err((code, message.to_string())),
        other => call(shared, &method, &body["params"], other),
    };
    if body.get("id").is_none() {
        return fake_http::respond(stream, 201, "text/plain", &[], b"");
    }
    let out = rpc_answer(&body["id"], answer);
    fake_http::respond(stream, 200, "application/json", &[], out.to_string().as_bytes());
}

/// The recipients of a `send` or `sendTyping`: `recipient` (one or an array), `username`, or a group.
fn destination(params: &Value) -> Option<String> {
    if let Some(g) = params["groupId"].as_str() {
        return Some(format!("group:{g}"));
    }
    let r = &params["recipient"];
    let one = r.as_str().or_else(|| r.as_array().and_then(|a| a.first()).and_then(Value::as_str));
    one.map(str::to_string).or_else(|| params["username"][0].as_str().map(|u| format!("username:{u}")))
}

fn call(shared: &Shared, method: &str, params: &Value, fault: Option<Fault>) -> Result<Value, (i64, String)> {
    if method == "version" {
        return Ok(json!({"version": "0.13.22"}));
    }
    if !matches!(method, "send" | "sendTyping") {
        return Err((-32601, "Method not implemented".into()));
    }
    if params["account"].as_str() != Some(shared.account.as_str()) {
        return Err((-32602, "Method requires valid account parameter".into()));
    }
    let Some(to) = destination(params) else { return Err((-1, "No recipients given".into())) };
    let address = json!({"uuid": uuid_of(&to), "number": to, "username": null});
    let mut st = shared.state();
    st.next_ts += 1;
    let ts = st.next_ts;
    if method == "sendTyping" {
        st.typing.push(to);
        return Ok(json!({"timestamp": ts, "results": [{"recipientAddress": address, "type": "SUCCESS"}]}));
    }
    if let Some(Fault::Delivery(kind)) = fault {
        return Ok(json!({"timestamp": ts, "results": [{"recipientAddress": address, "type": kind}]}));
    }
    let text = params["message"].as_str().unwrap_or_default().to_string();
    if text.is_empty() {
        return Err((-1, "Message text is empty".into()));
    }
    st.sent.push(Sent { to, text, quote_timestamp: params["quoteTimestamp"].as_u64() });
    shared.changed.notify_all();
    Ok(json!({"timestamp": ts, "results": [{"recipientAddress": address, "type": "SUCCESS"}]}))
}
