//! A fake Telegram Bot API server (<https://core.telegram.org/bots/api>) for the Telegram
//! channel's tests: `POST /bot<TOKEN>/<method>` with JSON, form or query parameters, answered with
//! the API's `{"ok":…}` envelope. It serves `getMe`, long-polled `getUpdates` with Telegram's
//! offset confirmation and its 409 for a second concurrent poll, `sendMessage` (with the
//! 4096-character limit) and `sendChatAction`. Tests push incoming messages, inject faults per
//! method (HTTP errors, 429 with `retry_after`, stalls, dropped connections), and read back what
//! the gateway sent and how it polled.
//!
//! HTTP itself (reading the request, writing the answer, accepting) is [`super::fake_http`]'s.

use super::fake_http::{self, reason};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The fake bot's user id (`getMe`, `from` of the messages it sends).
pub const BOT_ID: i64 = 7_000_001;
/// The first `update_id` handed out; each pushed message takes the next one.
pub const FIRST_UPDATE_ID: i64 = 100_000_001;
/// Telegram's limit on a message's text, in characters.
pub const MAX_TEXT: usize = 4096;
/// So that a broken client cannot make the fake (and the test) hang.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const CONFLICT: &str = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";

/// A fault for the next call of one method (see [`FakeTelegram::inject`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status: 5xx with an HTML body as a proxy in front of the API sends it, 4xx with
    /// the API's JSON error body.
    Status(u16),
    /// 429 with `parameters.retry_after` = N seconds (flood control).
    RetryAfter(u64),
    /// 409 "terminated by other getUpdates request".
    Conflict,
    /// 401 Unauthorized (for this one call; see [`FakeTelegram::set_token_valid`]).
    Unauthorized,
    /// Read the request, never answer; the socket stays open until the fake is dropped.
    Stall,
    /// Read the request and close the connection without answering.
    Drop,
}

/// A successful `sendMessage`.
#[derive(Debug, Clone)]
pub struct Sent {
    /// `chat_id` as a decimal string (or `@channel` as given).
    pub chat_id: String,
    pub text: String,
    /// `reply_to_message_id`, or `reply_parameters.message_id`.
    pub reply_to: Option<i64>,
    pub at: Instant,
}

/// One `getUpdates` call (faulted ones are not recorded here; see [`FakeTelegram::calls`]).
#[derive(Debug, Clone)]
pub struct PollCall {
    pub offset: Option<i64>,
    pub timeout: Option<u64>,
    pub limit: Option<u64>,
    pub allowed_updates: Option<Value>,
    pub at: Instant,
}

struct State {
    next_update_id: i64,
    /// One counter for all chats (ids are unique per chat, as Telegram requires, and globally).
    next_message_id: i64,
    /// Updates not yet confirmed by an `offset`, oldest first: `(update_id, update)`.
    pending: VecDeque<(i64, Value)>,
    sent: Vec<Sent>,
    actions: Vec<(String, String)>,
    polls: Vec<PollCall>,
    /// Requests per method (lower-cased: Bot API method names are case-insensitive).
    calls: HashMap<String, usize>,
    faults: HashMap<String, VecDeque<Fault>>,
    token_valid: bool,
    /// Bumped by every `getUpdates`; a waiting poll that sees a newer one answers 409.
    poll_generation: u64,
}

struct Shared {
    token: String,
    username: String,
    state: Mutex<State>,
    /// Signalled on every change a waiter may care about (new update, new poll, sent, shutdown).
    changed: Condvar,
    shutdown: AtomicBool,
    /// Connections held open by [`Fault::Stall`], closed when the fake is dropped.
    stalled: Mutex<Vec<TcpStream>>,
    /// Set by [`FakeTelegram::start_keep_alive`]: answers keep the connection for more requests,
    /// as api.telegram.org does (errors and faults still close it).
    keep_alive: bool,
    /// Connections accepted so far.
    connections: AtomicUsize,
}

impl Shared {
    /// The state; a panicking connection thread must not take every later assertion with it.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, st: MutexGuard<'a, State>, d: Duration) -> MutexGuard<'a, State> {
        self.changed.wait_timeout(st, d).unwrap_or_else(|e| e.into_inner()).0
    }
}

/// A running fake Bot API on 127.0.0.1. Dropping it stops accepting and closes stalled sockets.
pub struct FakeTelegram {
    pub port: u16,
    shared: Arc<Shared>,
}

impl FakeTelegram {
    /// A fake accepting `token`, whose bot is `@test_bot`.
    pub fn start(token: &str) -> FakeTelegram {
        FakeTelegram::start_named(token, "test_bot")
    }

    /// The same with another bot username (without the `@`).
    pub fn start_named(token: &str, username: &str) -> FakeTelegram {
        FakeTelegram::serve_as(token, username, false)
    }

    /// A fake whose answers keep the connection open for the next request;
    /// [`FakeTelegram::connections`] says how many the client opened.
    pub fn start_keep_alive(token: &str) -> FakeTelegram {
        FakeTelegram::serve_as(token, "test_bot", true)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    fn serve_as(token: &str, username: &str, keep_alive: bool) -> FakeTelegram {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = State {
            next_update_id: FIRST_UPDATE_ID,
            next_message_id: 1,
            pending: VecDeque::new(),
            sent: Vec::new(),
            actions: Vec::new(),
            polls: Vec::new(),
            calls: HashMap::new(),
            faults: HashMap::new(),
            token_valid: true,
            poll_generation: 0,
        };
        let shared = Arc::new(Shared {
            token: token.to_string(),
            username: username.to_string(),
            state: Mutex::new(state),
            changed: Condvar::new(),
            shutdown: AtomicBool::new(false),
            stalled: Mutex::new(Vec::new()),
            keep_alive,
            connections: AtomicUsize::new(0),
        });
        fake_http::spawn_accept_loop(listener, shared.clone(), |s| s.shutdown.load(Ordering::SeqCst), |s, c| serve(&s, c));
        FakeTelegram { port, shared }
    }

    /// The API root to configure; the client appends `/bot<token>/<method>`.
    pub fn api_root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn bot_username(&self) -> &str {
        &self.shared.username
    }

    /// A private-chat message from `user_id` (the chat id is the user id); returns its update_id.
    pub fn push_private(&self, user_id: i64, text: &str) -> i64 {
        let chat = json!({"id": user_id, "type": "private", "first_name": format!("User{user_id}"), "username": format!("user{user_id}")});
        self.push(chat, user_id, text)
    }

    /// A supergroup message (chat ids of groups are negative by convention); returns its update_id.
    pub fn push_group(&self, chat_id: i64, user_id: i64, text: &str) -> i64 {
        self.push(json!({"id": chat_id, "type": "supergroup", "title": format!("Group {chat_id}")}), user_id, text)
    }

    /// A private-chat message without its `field` (`message_id`, `chat`, …): an update the real
    /// Bot API never sends, for the gateway's reader; returns its update_id.
    pub fn push_private_without(&self, user_id: i64, text: &str, field: &str) -> i64 {
        let chat = json!({"id": user_id, "type": "private", "first_name": format!("User{user_id}")});
        self.push_stripped(chat, user_id, text, Some(field))
    }

    fn push(&self, chat: Value, user_id: i64, text: &str) -> i64 {
        self.push_stripped(chat, user_id, text, None)
    }

    fn push_stripped(&self, chat: Value, user_id: i64, text: &str, without: Option<&str>) -> i64 {
        let mut st = self.shared.state();
        let update_id = st.next_update_id;
        st.next_update_id += 1;
        let message_id = st.next_message_id;
        st.next_message_id += 1;
        let from = json!({"id": user_id, "is_bot": false, "first_name": format!("User{user_id}"), "username": format!("user{user_id}")});
        let mut message = json!({"message_id": message_id, "from": from, "chat": chat, "date": unix_now(), "text": text});
        let entities = mentions(text, &self.shared.username);
        if !entities.is_empty() {
            message["entities"] = Value::Array(entities);
        }
        if let (Some(field), Some(m)) = (without, message.as_object_mut()) {
            m.remove(field);
        }
        st.pending.push_back((update_id, json!({"update_id": update_id, "message": message})));
        self.shared.changed.notify_all();
        update_id
    }

    /// Successful `sendMessage` calls, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.state().sent.clone()
    }

    pub fn sent_to(&self, chat_id: i64) -> Vec<Sent> {
        let id = chat_id.to_string();
        self.sent().into_iter().filter(|s| s.chat_id == id).collect()
    }

    /// Waits until at least `n` messages were sent or `limit` passed; returns all sent so far.
    pub fn wait_sent(&self, n: usize, limit: Duration) -> Vec<Sent> {
        let deadline = Instant::now() + limit;
        let mut st = self.shared.state();
        while st.sent.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self.shared.wait(st, deadline - now);
        }
        st.sent.clone()
    }

    /// Successful `sendChatAction` calls: `(chat_id, action)`.
    pub fn chat_actions(&self) -> Vec<(String, String)> {
        self.shared.state().actions.clone()
    }

    /// `getUpdates` calls that reached the handler (not faulted), in order.
    pub fn polls(&self) -> Vec<PollCall> {
        self.shared.state().polls.clone()
    }

    /// Updates not yet confirmed by an `offset` (returned ones included until confirmed).
    pub fn pending_updates(&self) -> usize {
        self.shared.state().pending.len()
    }

    /// How many requests for `method` arrived (case-insensitive), faulted and 401 ones included.
    pub fn calls(&self, method: &str) -> usize {
        self.shared.state().calls.get(&method.to_ascii_lowercase()).copied().unwrap_or(0)
    }

    /// Queues a fault for the next call of `method`; faults of one method apply in order.
    pub fn inject(&self, method: &str, fault: Fault) {
        self.shared.state().faults.entry(method.to_ascii_lowercase()).or_default().push_back(fault);
    }

    /// While false, every request is answered 401 (a revoked or wrong bot token).
    pub fn set_token_valid(&self, valid: bool) {
        self.shared.state().token_valid = valid;
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        fake_http::wake(self.port);
        for s in self.shared.stalled.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `mention` entities for each `@username` in `text` (offsets and lengths in UTF-16 units, as the
/// API counts them); `@test_bot2` does not mention `@test_bot`.
fn mentions(text: &str, username: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('@') {
        let rest = &text[i + 1..];
        let Some(name) = rest.get(..username.len()) else { continue };
        let next = rest[username.len()..].chars().next();
        if name.eq_ignore_ascii_case(username) && !next.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            let offset = text[..i].encode_utf16().count();
            out.push(json!({"type": "mention", "offset": offset, "length": username.encode_utf16().count() + 1}));
        }
    }
    out
}

/// Query-string parameters, overridden by those of a JSON or form body (the Bot API takes all
/// three).
fn params(req: &fake_http::Request) -> Map<String, Value> {
    let mut p = Map::new();
    form_into(req.query(), &mut p);
    if req.header("content-type").is_some_and(|t| t.to_ascii_lowercase().contains("x-www-form-urlencoded")) {
        form_into(&String::from_utf8_lossy(&req.body), &mut p);
    } else if let Ok(Value::Object(o)) = serde_json::from_slice(&req.body) {
        p.extend(o);
    }
    p
}

fn form_into(s: &str, p: &mut Map<String, Value>) {
    for pair in s.split('&').filter(|x| !x.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        p.insert(decode(k), Value::String(decode(v)));
    }
}

/// Percent-decoding with `+` as space (query strings and form bodies).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(x)) => {
                out.push(x);
                i += 2;
            }
            (b'+', _) => out.push(b' '),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A parameter as a string: numbers (a numeric `chat_id`) become their decimal form.
fn p_str(p: &Map<String, Value>, k: &str) -> Option<String> {
    match p.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn p_i64(p: &Map<String, Value>, k: &str) -> Option<i64> {
    p_str(p, k)?.trim().parse().ok()
}

fn p_u64(p: &Map<String, Value>, k: &str) -> Option<u64> {
    p_str(p, k)?.trim().parse().ok()
}

/// A structured parameter, which form and query encodings carry as a JSON string.
fn p_json(p: &Map<String, Value>, k: &str) -> Option<Value> {
    match p.get(k)? {
        Value::Null => None,
        Value::String(s) => Some(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))),
        v => Some(v.clone()),
    }
}

fn error(code: u16, description: &str) -> (u16, Value) {
    (code, json!({"ok": false, "error_code": code, "description": description}))
}

fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &str) {
    fake_http::respond(stream, status, content_type, &[], body.as_bytes());
}

fn respond_json(stream: &mut TcpStream, (status, body): (u16, Value)) {
    respond(stream, status, "application/json", &body.to_string());
}

/// Handles one connection: one request and one answer (or a fault), then close; in keep-alive
/// mode, requests until the client closes or an error or fault closes it.
fn serve(s: &Shared, mut stream: TcpStream) {
    s.connections.fetch_add(1, Ordering::SeqCst);
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    while serve_one(s, &mut stream) && !s.shutdown.load(Ordering::SeqCst) {}
}

/// One request on `stream`; true when the connection stays open for another.
fn serve_one(s: &Shared, stream: &mut TcpStream) -> bool {
    let req = match fake_http::read_request(stream, fake_http::MAX_BODY) {
        Ok(r) => r,
        Err(Some(status)) => {
            respond_json(stream, error(status, reason(status)));
            return false;
        }
        Err(None) => return false,
    };
    serve_request(s, stream, &req)
}

fn serve_request(s: &Shared, stream: &mut TcpStream, req: &fake_http::Request) -> bool {
    let path = decode(req.path());
    let Some((token, method)) = path.strip_prefix("/bot").and_then(|r| r.split_once('/')) else {
        respond_json(stream, error(404, "Not Found"));
        return false;
    };
    let method = method.to_ascii_lowercase();
    let (authorized, fault) = {
        let mut st = s.state();
        *st.calls.entry(method.clone()).or_default() += 1;
        let authorized = token == s.token && st.token_valid;
        let fault = if authorized { st.faults.get_mut(&method).and_then(VecDeque::pop_front) } else { None };
        (authorized, fault)
    };
    if !authorized {
        respond_json(stream, error(401, "Unauthorized"));
        return false;
    }
    let faulted = fault.is_some();
    match fault {
        None => {}
        Some(Fault::Stall) => {
            if let Ok(held) = stream.try_clone() {
                s.stalled.lock().unwrap_or_else(|e| e.into_inner()).push(held);
            }
            return false;
        }
        Some(Fault::Drop) => {
            let _ = stream.shutdown(Shutdown::Both);
            return false;
        }
        Some(Fault::Status(code)) if code >= 500 => {
            let title = format!("{code} {}", reason(code));
            let html = format!(
                "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
            );
            respond(stream, code, "text/html", &html);
            return false;
        }
        Some(Fault::Status(code)) => respond_json(stream, error(code, reason(code))),
        Some(Fault::RetryAfter(n)) => {
            let body = json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {n}"),
                              "parameters": {"retry_after": n}});
            respond_json(stream, (429, body));
        }
        Some(Fault::Conflict) => respond_json(stream, error(409, CONFLICT)),
        Some(Fault::Unauthorized) => respond_json(stream, error(401, "Unauthorized")),
    }
    if faulted {
        return false;
    }
    let p = params(req);
    let answer = match method.as_str() {
        "getme" => (200, json!({"ok": true, "result": bot_user(s)})),
        "getupdates" => get_updates(s, &p),
        "sendmessage" => send_message(s, &p),
        "sendchataction" => send_chat_action(s, &p),
        _ => error(404, "Not Found"),
    };
    let (status, body) = answer;
    fake_http::respond_of(stream, status, "application/json", &[], body.to_string().as_bytes(), !s.keep_alive);
    s.keep_alive
}

fn bot_user(s: &Shared) -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Test Bot", "username": s.username})
}

/// Telegram's semantics: `offset = N` forgets every update below N (a negative offset keeps only
/// the last -N); answer at most `limit` pending updates, or wait up to `timeout` seconds for one.
/// A newer `getUpdates` arriving meanwhile makes this one answer 409.
fn get_updates(s: &Shared, p: &Map<String, Value>) -> (u16, Value) {
    let offset = p_i64(p, "offset");
    let timeout = p_u64(p, "timeout");
    let limit = p_u64(p, "limit");
    let mut st = s.state();
    st.polls.push(PollCall { offset, timeout, limit, allowed_updates: p_json(p, "allowed_updates"), at: Instant::now() });
    st.poll_generation += 1;
    let me = st.poll_generation;
    s.changed.notify_all();
    match offset {
        Some(o) if o < 0 => {
            let excess = st.pending.len().saturating_sub(o.unsigned_abs() as usize);
            st.pending.drain(..excess);
        }
        Some(o) => st.pending.retain(|(id, _)| *id >= o),
        None => {}
    }
    let max = limit.unwrap_or(100).clamp(1, 100) as usize;
    let deadline = Instant::now() + Duration::from_secs(timeout.unwrap_or(0));
    loop {
        if st.poll_generation != me {
            return error(409, CONFLICT);
        }
        if !st.pending.is_empty() {
            let result: Vec<Value> = st.pending.iter().take(max).map(|(_, u)| u.clone()).collect();
            return (200, json!({"ok": true, "result": result}));
        }
        let now = Instant::now();
        if now >= deadline || s.shutdown.load(Ordering::SeqCst) {
            return (200, json!({"ok": true, "result": []}));
        }
        st = s.wait(st, deadline - now);
    }
}

/// The Chat object for a `chat_id` the bot sends to: positive ids are private chats, negative
/// ones supergroups, `@name` a channel.
fn chat_object(chat_id: &str) -> Value {
    match chat_id.parse::<i64>() {
        Ok(id) if id > 0 => json!({"id": id, "type": "private", "first_name": format!("User{id}"), "username": format!("user{id}")}),
        Ok(id) => json!({"id": id, "type": "supergroup", "title": format!("Group {id}")}),
        Err(_) => json!({"id": -1_001_000_000_001i64, "type": "channel", "title": chat_id, "username": chat_id.trim_start_matches('@')}),
    }
}

/// Records the message unless Telegram would refuse it. `parse_mode` is accepted, not checked.
fn send_message(s: &Shared, p: &Map<String, Value>) -> (u16, Value) {
    let Some(chat_id) = p_str(p, "chat_id").filter(|c| !c.is_empty()) else { return error(400, "Bad Request: chat_id is empty") };
    let text = p_str(p, "text").unwrap_or_default();
    if text.trim().is_empty() {
        return error(400, "Bad Request: message text is empty");
    }
    if text.chars().count() > MAX_TEXT {
        return error(400, "Bad Request: message is too long");
    }
    let reply_to = p_i64(p, "reply_to_message_id").or_else(|| {
        let r = p_json(p, "reply_parameters")?;
        r.get("message_id")?.as_i64().or_else(|| r["message_id"].as_str()?.parse().ok())
    });
    let message_id = {
        let mut st = s.state();
        let id = st.next_message_id;
        st.next_message_id += 1;
        st.sent.push(Sent { chat_id: chat_id.clone(), text: text.clone(), reply_to, at: Instant::now() });
        s.changed.notify_all();
        id
    };
    let message = json!({"message_id": message_id, "from": bot_user(s), "chat": chat_object(&chat_id), "date": unix_now(), "text": text});
    (200, json!({"ok": true, "result": message}))
}

fn send_chat_action(s: &Shared, p: &Map<String, Value>) -> (u16, Value) {
    let Some(chat_id) = p_str(p, "chat_id").filter(|c| !c.is_empty()) else { return error(400, "Bad Request: chat_id is empty") };
    let Some(action) = p_str(p, "action").filter(|a| !a.is_empty()) else { return error(400, "Bad Request: action is empty") };
    s.state().actions.push((chat_id, action));
    (200, json!({"ok": true, "result": true}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    const T: &str = "123456:ABC-fake";

    /// A raw HTTP exchange: returns (status, JSON body).
    fn raw(port: u16, request: &str) -> (u16, Value) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Connection: close") && head.contains(&format!("Content-Length: {}", body.len())), "{head}");
        (head.split_whitespace().nth(1).unwrap().parse().unwrap(), serde_json::from_str(body).unwrap())
    }

    fn call(port: u16, token: &str, method: &str, body: Value) -> (u16, Value) {
        let body = body.to_string();
        let req = format!(
            "POST /bot{token}/{method} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        raw(port, &req)
    }

    #[test]
    fn fake_telegram_offsets_confirm_updates_and_send_limits() {
        let tg = FakeTelegram::start(T);
        assert_eq!(call(tg.port, "wrong", "getMe", json!({})).0, 401);
        assert_eq!(call(tg.port, T, "getMe", json!({})).1["result"]["username"], "test_bot");
        let a = tg.push_private(42, "hello");
        let b = tg.push_group(-100, 42, "hé @test_bot hi");
        let (_, r) = call(tg.port, T, "getUpdates", json!({}));
        assert_eq!(r["result"].as_array().unwrap().len(), 2);
        assert_eq!(r["result"][1]["message"]["entities"], json!([{"type": "mention", "offset": 3, "length": 9}]));
        let (_, r) = call(tg.port, T, "getUpdates", json!({"offset": b, "timeout": 0}));
        assert_eq!((r["result"][0]["update_id"].as_i64(), tg.pending_updates()), (Some(b), 1));
        assert!(a < b);
        let (_, r) = call(tg.port, T, "getUpdates", json!({"offset": b + 1}));
        assert_eq!((r["result"].clone(), tg.pending_updates()), (json!([]), 0));
        assert_eq!(tg.polls().len(), 3);

        let long = "x".repeat(MAX_TEXT + 1);
        let (status, r) = call(tg.port, T, "sendMessage", json!({"chat_id": 42, "text": long}));
        assert_eq!((status, r["description"].as_str()), (400, Some("Bad Request: message is too long")));
        let form = "chat_id=42&text=hi+there%21&reply_to_message_id=7";
        let req = format!(
            "POST /bot{T}/sendMessage HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        );
        assert_eq!(raw(tg.port, &req).1["result"]["chat"]["type"], "private");
        let sent = tg.sent_to(42);
        assert_eq!((sent.len(), sent[0].text.as_str(), sent[0].reply_to), (1, "hi there!", Some(7)));
    }

    #[test]
    fn fake_telegram_long_poll_returns_on_push_and_faults_apply_in_order() {
        let tg = FakeTelegram::start(T);
        let port = tg.port;
        let started = Instant::now();
        let poll = std::thread::spawn(move || call(port, T, "getUpdates", json!({"timeout": 20})));
        while tg.polls().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(100));
        tg.push_private(5, "wake");
        let (status, r) = poll.join().unwrap();
        assert_eq!((status, r["result"][0]["message"]["text"].as_str()), (200, Some("wake")));
        assert!(started.elapsed() < Duration::from_secs(10));

        tg.inject("sendMessage", Fault::RetryAfter(3));
        tg.inject("sendMessage", Fault::Status(502));
        let (status, r) = call(port, T, "sendMessage", json!({"chat_id": "5", "text": "a"}));
        assert_eq!((status, r["parameters"]["retry_after"].as_u64()), (429, Some(3)));
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"POST /bot123456:ABC-fake/sendMessage HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 502 ") && out.contains("text/html"), "{out}");
        assert_eq!(call(port, T, "sendMessage", json!({"chat_id": 5, "text": "b"})).0, 200);
        assert_eq!((tg.calls("sendMessage"), tg.wait_sent(1, Duration::from_secs(1)).len()), (3, 1));
    }

    #[test]
    fn fake_telegram_second_poll_terminates_the_first_with_409() {
        let tg = FakeTelegram::start(T);
        let port = tg.port;
        let first = std::thread::spawn(move || call(port, T, "getUpdates", json!({"timeout": 20})));
        while tg.polls().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (status, r) = call(port, T, "getUpdates", json!({"timeout": 0}));
        assert_eq!((status, r["result"].clone()), (200, json!([])));
        let (status, r) = first.join().unwrap();
        assert_eq!((status, r["description"].as_str()), (409, Some(CONFLICT)));
        tg.set_token_valid(false);
        assert_eq!(call(port, T, "getMe", json!({})).0, 401);
    }
}
