//! Fake model providers that follow the public APIs: OpenAI chat completions
//! (`POST /v1/chat/completions`, SSE `data:` chunks ending in `data: [DONE]`) and Anthropic
//! messages (`POST /v1/messages`, named SSE events). Each serves scripted replies in order (then
//! a default text reply), can inject faults — an HTTP error with `Retry-After`, a stall, a
//! connection cut mid-stream, malformed chunks, an in-stream error — and records every request so
//! tests can prove what was sent and how often.
//!
//! HTTP itself (reading the request, writing the answer, accepting) is [`super::fake_http`]'s.

use super::fake_http;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which API the fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Anthropic,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Streamed text in these pieces, `pause` between them.
    Text { pieces: Vec<String>, pause: Duration },
    /// A turn that calls tools: `(id, name, arguments)`.
    Tools(Vec<(String, String, Value)>),
    /// An HTTP error with the provider's error body and optional `Retry-After`.
    Status { status: u16, message: String, retry_after: Option<String> },
    /// Accept the request and never answer.
    Stall,
    /// Stream these pieces, then cut the connection without finishing.
    CutAfter(Vec<String>),
    /// A stream chunk that is not JSON.
    Malformed,
    /// Stream one piece, then an error inside the stream.
    StreamError(String),
}

impl Reply {
    pub fn text(pieces: &[&str]) -> Reply {
        Reply::Text { pieces: pieces.iter().map(|s| s.to_string()).collect(), pause: Duration::ZERO }
    }

    pub fn slow(pieces: &[&str], pause: Duration) -> Reply {
        Reply::Text { pieces: pieces.iter().map(|s| s.to_string()).collect(), pause }
    }

    pub fn tool(id: &str, name: &str, args: Value) -> Reply {
        Reply::Tools(vec![(id.to_string(), name.to_string(), args)])
    }

    pub fn status(status: u16, message: &str) -> Reply {
        Reply::Status { status, message: message.to_string(), retry_after: None }
    }

    pub fn rate_limited(retry_after: &str) -> Reply {
        Reply::Status { status: 429, message: "Rate limit reached".into(), retry_after: Some(retry_after.to_string()) }
    }
}

/// Largest request body the fake reads: a whole conversation goes with every turn, so providers
/// take many megabytes (Anthropic documents 32 MB for Messages) where a channel API takes a few
/// kilobytes.
const MAX_BODY: usize = 32 << 20;

/// The default reply (the observed mock's words).
pub const DEFAULT_PIECES: &[&str] = &["Hello", " from", " the", " mock", " model", "."];

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The text of the last user message (OpenAI or Anthropic shape).
    pub fn last_user_text(&self) -> String {
        let msgs = self.body["messages"].as_array().cloned().unwrap_or_default();
        for m in msgs.iter().rev() {
            if m["role"] != "user" {
                continue;
            }
            match &m["content"] {
                Value::String(s) => return s.clone(),
                Value::Array(parts) => {
                    let t: Vec<&str> = parts.iter().filter(|p| p["type"] == "text").filter_map(|p| p["text"].as_str()).collect();
                    if !t.is_empty() {
                        return t.join("");
                    }
                }
                _ => {}
            }
        }
        String::new()
    }
}

struct Shared {
    flavor: Flavor,
    script: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    /// The API key a request must carry (`Authorization: Bearer` / `x-api-key`).
    key: Option<String>,
    /// Set for [`FakeLlm::start_tls`].
    tls: Option<Arc<futures_rustls::rustls::ServerConfig>>,
    /// Set for [`FakeLlm::start_keep_alive`]: streamed answers keep the connection for the next
    /// request, as the real APIs do (error answers still close it).
    keep_alive: bool,
    /// Connections accepted so far.
    connections: AtomicUsize,
}

/// A running fake provider on 127.0.0.1.
pub struct FakeLlm {
    pub port: u16,
    shared: Arc<Shared>,
}

impl FakeLlm {
    pub fn start(flavor: Flavor, key: Option<&str>) -> FakeLlm {
        FakeLlm::serve(flavor, key, false, false)
    }

    /// The same over TLS with the test certificate (`tests/fixtures/tls`).
    pub fn start_tls(flavor: Flavor, key: Option<&str>) -> FakeLlm {
        FakeLlm::serve(flavor, key, true, false)
    }

    /// A fake whose streamed answers keep the connection open for more requests (over TLS when
    /// `tls`); [`FakeLlm::connections`] says how many the client opened.
    pub fn start_keep_alive(flavor: Flavor, key: Option<&str>, tls: bool) -> FakeLlm {
        FakeLlm::serve(flavor, key, tls, true)
    }

    fn serve(flavor: Flavor, key: Option<&str>, tls: bool, keep_alive: bool) -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            flavor,
            script: Mutex::new(VecDeque::new()),
            received: Mutex::new(Vec::new()),
            key: key.map(str::to_string),
            tls: tls.then(tls_server_config),
            keep_alive,
            connections: AtomicUsize::new(0),
        });
        // Never stopped: the fake lives as long as the test process, like its listener.
        fake_http::spawn_accept_loop(listener, shared.clone(), |_| false, connection);
        FakeLlm { port, shared }
    }

    /// The `baseUrl` to configure (`…/v1` for OpenAI, the origin for Anthropic).
    pub fn base_url(&self) -> String {
        self.base_url_with("http")
    }

    pub fn base_url_with(&self, scheme: &str) -> String {
        match self.shared.flavor {
            Flavor::OpenAi => format!("{scheme}://127.0.0.1:{}/v1", self.port),
            Flavor::Anthropic => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// Queues replies, served in order before the default reply.
    pub fn push(&self, reply: Reply) {
        self.shared.script.lock().unwrap().push_back(reply);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    pub fn count(&self) -> usize {
        self.shared.received.lock().unwrap().len()
    }

    /// Waits until at least `n` requests arrived.
    pub fn wait_for(&self, n: usize, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if self.count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

fn tls_server_config() -> Arc<futures_rustls::rustls::ServerConfig> {
    use futures_rustls::rustls::pki_types::pem::PemObject;
    use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem")).unwrap().map(|c| c.unwrap()).collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let provider = Arc::new(futures_rustls::rustls::crypto::ring::default_provider());
    Arc::new(
        futures_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

/// One connection, over TLS when the fake serves it.
fn connection(s: Arc<Shared>, stream: TcpStream) {
    s.connections.fetch_add(1, Ordering::SeqCst);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    match s.tls.clone() {
        Some(cfg) => {
            let Ok(conn) = futures_rustls::rustls::ServerConnection::new(cfg) else { return };
            let mut tls = futures_rustls::rustls::StreamOwned::new(conn, stream);
            while handle(&s, &mut tls) {}
        }
        None => {
            let mut plain = stream;
            while handle(&s, &mut plain) {}
        }
    }
}

/// Serves one request; true when the connection stays open for another.
fn handle<S: Read + Write>(s: &Shared, stream: &mut S) -> bool {
    // A request the fake cannot frame is closed unanswered: the client under test never sends
    // one, so no provider-shaped refusal is worth faking.
    let Ok(req) = fake_http::read_request(stream, MAX_BODY) else { return false };
    let req = Received { path: req.target, headers: req.headers, body: serde_json::from_slice(&req.body).unwrap_or(Value::Null) };
    let expected = match s.flavor {
        Flavor::OpenAi => "/v1/chat/completions",
        Flavor::Anthropic => "/v1/messages",
    };
    let presented = match s.flavor {
        Flavor::OpenAi => req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::to_string),
        Flavor::Anthropic => req.header("x-api-key").map(str::to_string),
    };
    let model = req.body["model"].as_str().unwrap_or("fake").to_string();
    s.received.lock().unwrap().push(req.clone());
    if req.path != expected {
        error(stream, s.flavor, 404, "not found", None);
        return false;
    }
    if s.flavor == Flavor::Anthropic && req.header("anthropic-version").is_none() {
        error(stream, s.flavor, 400, "anthropic-version header is required", None);
        return false;
    }
    if let Some(key) = &s.key {
        if presented.as_deref() != Some(key.as_str()) {
            error(stream, s.flavor, 401, "Incorrect API key provided", None);
            return false;
        }
    }
    let reply = s.script.lock().unwrap().pop_front().unwrap_or_else(|| Reply::text(DEFAULT_PIECES));
    let include_usage = req.body["stream_options"]["include_usage"] == true;
    let mut w = Sse { stream, flavor: s.flavor, model, include_usage, keep_alive: s.keep_alive };
    match reply {
        Reply::Status { status, message, retry_after } => error(w.stream, s.flavor, status, &message, retry_after.as_deref()),
        Reply::Stall => std::thread::sleep(Duration::from_secs(60)),
        Reply::Text { pieces, pause } => {
            w.head();
            w.start();
            for p in &pieces {
                w.text(p);
                std::thread::sleep(pause);
            }
            w.finish("stop", 6);
            return s.keep_alive;
        }
        Reply::Tools(calls) => {
            w.head();
            w.start();
            w.tools(&calls);
            w.finish("tool_calls", 12);
            return s.keep_alive;
        }
        Reply::CutAfter(pieces) => {
            w.head();
            w.start();
            for p in &pieces {
                w.text(p);
            }
            // Dropping the stream here closes the connection mid-stream.
        }
        Reply::Malformed => {
            w.head();
            w.start();
            w.raw("data: {\"choices\": [oops\n\n");
        }
        Reply::StreamError(message) => {
            w.head();
            w.start();
            w.text("partial");
            match s.flavor {
                Flavor::OpenAi => w.raw(&format!("data: {}\n\n", json!({"error": {"message": message, "type": "server_error"}}))),
                Flavor::Anthropic => w.event("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": message}})),
            }
            w.end_body();
        }
    }
    false
}

fn error<S: Write>(stream: &mut S, flavor: Flavor, status: u16, message: &str, retry_after: Option<&str>) {
    let body = match flavor {
        Flavor::OpenAi => json!({"error": {"message": message, "type": "requests", "code": null}}),
        Flavor::Anthropic => {
            json!({"type": "error", "error": {"type": if status == 429 { "rate_limit_error" } else { "api_error" }, "message": message}})
        }
    }
    .to_string();
    let retry = retry_after.map(|r| ("Retry-After", r));
    fake_http::respond(stream, status, "application/json", retry.as_slice(), body.as_bytes());
}

/// Writes one provider's event stream as HTTP/1.1 chunked frames.
struct Sse<'a, S: Write> {
    stream: &'a mut S,
    flavor: Flavor,
    model: String,
    include_usage: bool,
    keep_alive: bool,
}

impl<S: Write> Sse<'_, S> {
    fn head(&mut self) {
        let head = fake_http::head_of(200, "text/event-stream", &[("Transfer-Encoding", "chunked")], !self.keep_alive);
        let _ = self.stream.write_all(head.as_bytes());
        let _ = self.stream.flush();
    }

    fn raw(&mut self, text: &str) {
        let _ = self.stream.write_all(format!("{:x}\r\n{text}\r\n", text.len()).as_bytes());
        let _ = self.stream.flush();
    }

    fn data(&mut self, v: Value) {
        self.raw(&format!("data: {v}\n\n"));
    }

    fn event(&mut self, name: &str, v: Value) {
        self.raw(&format!("event: {name}\ndata: {v}\n\n"));
    }

    fn end_body(&mut self) {
        let _ = self.stream.write_all(b"0\r\n\r\n");
        let _ = self.stream.flush();
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": self.model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    fn start(&mut self) {
        match self.flavor {
            Flavor::OpenAi => {
                let c = self.chunk(json!({"role": "assistant", "content": ""}), None);
                self.data(c)
            }
            Flavor::Anthropic => {
                self.event(
                    "message_start",
                    json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant", "content": [],
                           "model": self.model, "stop_reason": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
                );
                self.event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                );
                self.event("ping", json!({"type": "ping"}));
            }
        }
    }

    fn text(&mut self, piece: &str) {
        match self.flavor {
            Flavor::OpenAi => {
                let c = self.chunk(json!({"content": piece}), None);
                self.data(c)
            }
            Flavor::Anthropic => self.event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
            ),
        }
    }

    fn tools(&mut self, calls: &[(String, String, Value)]) {
        for (i, (id, name, args)) in calls.iter().enumerate() {
            let text = args.to_string();
            let (a, b) = text.split_at(text.len() / 2);
            match self.flavor {
                Flavor::OpenAi => {
                    let first = self.chunk(
                        json!({"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                        None,
                    );
                    self.data(first);
                    for part in [a, b] {
                        let c = self.chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}), None);
                        self.data(c);
                    }
                }
                Flavor::Anthropic => {
                    let index = i + 1;
                    self.event(
                        "content_block_start",
                        json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                    );
                    for part in [a, b] {
                        self.event(
                            "content_block_delta",
                            json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": part}}),
                        );
                    }
                    self.event("content_block_stop", json!({"type": "content_block_stop", "index": index}));
                }
            }
        }
    }

    fn finish(&mut self, reason: &str, output_tokens: u64) {
        match self.flavor {
            Flavor::OpenAi => {
                let c = self.chunk(json!({}), Some(reason));
                self.data(c);
                if self.include_usage {
                    self.data(json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": self.model,
                                     "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": output_tokens, "total_tokens": 10 + output_tokens}}));
                }
                self.raw("data: [DONE]\n\n");
            }
            Flavor::Anthropic => {
                self.event("content_block_stop", json!({"type": "content_block_stop", "index": 0}));
                let stop = if reason == "tool_calls" { "tool_use" } else { "end_turn" };
                self.event(
                    "message_delta",
                    json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": output_tokens}}),
                );
                self.event("message_stop", json!({"type": "message_stop"}));
            }
        }
        self.end_body();
    }
}
