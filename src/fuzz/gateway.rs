//! The `gateway_rpc` and `gateway_http` targets: a real gateway in this process (started on the
//! first input, state and home in the scratch directory, port 0 on loopback, a known token, every
//! HTTP route enabled) and connections to it. For `gateway_rpc` each input becomes WebSocket
//! frames; afterwards the gateway must still answer `health` on the admin connection (on a new
//! one when it closed the old one by protocol: a restart, a close for a bad frame). For
//! `gateway_http` each input becomes an HTTP request; afterwards `GET /health` must answer. A
//! panic on any gateway thread, a gateway that stops, or one that no longer answers is a crash
//! of this process.
//!
//! Inputs that would make a config write point the gateway at files outside its scratch
//! directory (a log file, a workspace), substitute environment variables into it, or lift the
//! loopback exemption of the auth rate limit are skipped: the first two would let the fuzzer
//! write anywhere on the machine running it, the last would lock this harness out. Nothing
//! stops the process: no method does.

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::Role;
use serde_json::{Value, json};
use smol::future::FutureExt;
use smol::stream::StreamExt;
use smol::{Async, Timer};
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Input, scratch_root, text};
use crate::config::{AuthMode, BindMode, Paths};
use crate::daemon::start::{self, Background, RunOptions};
use crate::rpc::protocol::{Inbound, parse_inbound};

/// The token of the fuzz gateway (given as a flag, so no config write can change it).
const TOKEN: &str = "fuzz-gateway-token-5f2c8e1a";
/// `hooks.token` of the fuzz gateway's config.
const HOOKS_TOKEN: &str = "fuzz-hooks-token-7d41";
/// `channels.whatsapp.appSecret`: webhook deliveries signed with it get past the signature check.
const WHATSAPP_APP_SECRET: &str = "fuzz-whatsapp-app-secret";
/// The paths `gateway_http` builds requests for.
const HTTP_PATHS: &[&str] = &[
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/models",
    "/v1/models/offline/echo",
    "/tools/invoke",
    "/hooks/wake",
    "/hooks/agent",
    "/hooks/other",
    "/whatsapp/webhook",
    "/health",
    "/ready",
    "/startup",
    "/",
];
/// Longest wait for one answer before the connection counts as busy.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// Longest wait for the gateway to accept a connection again (an in-process restart).
const RECONNECT_WAIT: Duration = Duration::from_secs(20);
/// Longest wait for a frame on a throwaway connection.
const GLANCE: Duration = Duration::from_millis(100);

type Ws = WebSocketStream<Async<TcpStream>>;

static LIVE: Mutex<Option<Live>> = Mutex::new(None);
/// Set by the panic hook when any thread panics (a gateway task, most likely).
static PANICKED: AtomicBool = AtomicBool::new(false);

struct Live {
    root: PathBuf,
    state_dir: PathBuf,
    gateway: Background,
    /// Connected with `operator.admin`.
    admin: Option<Ws>,
    /// Connected without scopes.
    bare: Option<Ws>,
    next_id: u64,
}

/// The WebSocket protocol of a real gateway: request envelopes and the params of every
/// implemented method through the real dispatch, the `connect` handshake before
/// authentication, and raw WebSocket frames.
///
/// Input: a mode byte, then —
/// - modes 0–2: a frame sent as is on the admin connection (2: as a binary frame);
/// - modes 3–4: a method chosen by the next byte, an id up to the first `0xff`, and params
///   (JSON, else the text as a string) built into a request on the admin connection;
/// - mode 5: the same on a connection without scopes;
/// - mode 6: the first frame of a new connection (bit 3 of the mode byte set: the gateway's
///   token is put into the params, so the handshake gets past authentication);
/// - mode 7: raw bytes on a new connection after the upgrade (WebSocket frames by hand).
pub fn gateway_rpc(data: &[u8]) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    let live = live.get_or_insert_with(Live::start);
    smol::block_on(live.run(data));
    if PANICKED.load(Ordering::SeqCst) {
        panic!("a gateway thread panicked (message above)");
    }
    if live.gateway.thread.is_finished() {
        panic!("the gateway stopped");
    }
}

/// The HTTP API of a real gateway (the same in-process gateway as [`gateway_rpc`]): request
/// heads and bodies through the real routes — the OpenAI-compatible `/v1` endpoints,
/// `/tools/invoke`, the hooks, the WhatsApp webhook, the probes. Afterwards the gateway must
/// still answer `GET /health`.
///
/// Input: a mode byte (bits 0–1 zero: the rest is sent as is; else a request is built: bit 2 a
/// query string up to the first `0xff`, bit 3 no credentials), a byte choosing the path (high
/// bit: GET instead of POST), then the body. Built requests carry the token the route wants and,
/// for the WhatsApp webhook, a valid signature. Answers that come late on purpose (a refused
/// token) are not waited for.
pub fn gateway_http(data: &[u8]) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    let live = live.get_or_insert_with(Live::start);
    smol::block_on(live.http(data));
    if PANICKED.load(Ordering::SeqCst) {
        panic!("a gateway thread panicked (message above)");
    }
    if live.gateway.thread.is_finished() {
        panic!("the gateway stopped");
    }
}

impl Live {
    fn start() -> Live {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The gateway's threads (its executor, the blocking pool); a test running beside
            // the corpus replay may panic on purpose.
            let name = std::thread::current().name().unwrap_or_default().to_string();
            if name.starts_with("openclaw") || name.starts_with("blocking") {
                PANICKED.store(true, Ordering::SeqCst);
            }
            previous(info);
        }));
        let root = scratch_root().join("gateway_rpc");
        let _ = std::fs::remove_dir_all(&root);
        let state_dir = root.join("state");
        let home = root.join("home");
        for dir in [&state_dir, &home] {
            if let Err(e) = std::fs::create_dir_all(dir) {
                panic!("cannot create {}: {e}", dir.display());
            }
        }
        let config_path = state_dir.join("openclaw.json");
        // Every HTTP route enabled; WhatsApp's Graph API on a closed port, so nothing leaves the
        // machine; no file writes through /tools/invoke.
        let config = json!({
            "gateway": {"mode": "local", "http": {"endpoints": {"chatCompletions": {"enabled": true}, "responses": {"enabled": true}}},
                        "tools": {"deny": ["write"]}},
            "hooks": {"enabled": true, "token": HOOKS_TOKEN},
            "channels": {"whatsapp": {"accessToken": "fuzz-access-token", "phoneNumberId": "123", "appSecret": WHATSAPP_APP_SECRET,
                                      "verifyToken": "fuzz-verify-token", "graphRoot": "http://127.0.0.1:9", "dmPolicy": "open",
                                      "allowFrom": ["*"]}},
            "logging": {"level": "debug", "consoleLevel": "silent", "file": root.join("gateway.log"), "maxFileBytes": 1 << 20},
        });
        if let Err(e) = std::fs::write(&config_path, config.to_string()) {
            panic!("cannot write {}: {e}", config_path.display());
        }
        let paths = Paths { home, profile: None, state_dir: state_dir.clone(), config_path, dev: false };
        // Flags win over the config: config writes cannot move the port or change the secret.
        let opts = RunOptions {
            port: Some(0),
            bind: Some(BindMode::Loopback),
            token: Some(TOKEN.into()),
            auth: Some(AuthMode::Token),
            allow_unconfigured: true,
            ..Default::default()
        };
        let gateway = match start::spawn(paths, opts) {
            Ok(g) => g,
            Err(e) => panic!("the fuzz gateway cannot start: {}", e.lines.join(" ")),
        };
        Live { root, state_dir, gateway, admin: None, bare: None, next_id: 0 }
    }

    fn port(&self) -> u16 {
        crate::daemon::lock::read_owner(&self.state_dir)
            .and_then(|o| o.port)
            .or_else(|| self.gateway.bound.first().map(|a| a.port()))
            .unwrap_or(0)
    }

    fn id(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("fuzz-{what}-{}", self.next_id)
    }

    async fn run(&mut self, data: &[u8]) {
        let mut input = Input::new(data);
        let mode = input.byte();
        match mode % 8 {
            m @ 0..=2 => {
                let frame = input.rest();
                if let Inbound::Request(r) = parse_inbound(&text(frame)) {
                    if !self.safe(&r.method, r.params.as_ref()) {
                        return;
                    }
                }
                let msg = if m == 2 { Message::binary(frame.to_vec()) } else { Message::text(text(frame)) };
                let ws = self.admin().await;
                let _ = ws.send(msg).await;
            }
            m @ 3..=5 => {
                let names = crate::rpc::methods::names();
                let pick = input.byte() as usize;
                let method = match pick % (names.len() + 2) {
                    i if i < names.len() => names[i].to_string(),
                    i if i == names.len() => "connect".to_string(),
                    _ => text(input.field()),
                };
                let id = text(input.field());
                let rest = input.rest();
                let params = (!rest.is_empty()).then(|| serde_json::from_slice(rest).unwrap_or_else(|_| Value::String(text(rest))));
                if !self.safe(&method, params.as_ref()) {
                    return;
                }
                let mut frame = json!({"type": "req", "id": id, "method": method});
                if let Some(p) = params {
                    frame["params"] = p;
                }
                let ws = if m == 5 { self.bare().await } else { self.admin().await };
                let _ = ws.send(Message::text(frame.to_string())).await;
                if m == 5 {
                    self.check_bare().await;
                }
            }
            6 => {
                let mut frame = text(input.rest());
                // Most first frames carry the right token: a wrong one is answered after a
                // deliberate delay, which would slow the fuzzer down to a crawl.
                if mode & 8 == 0 {
                    if let Ok(mut v) = serde_json::from_str::<Value>(&frame) {
                        if v["params"].is_object() {
                            v["params"]["auth"] = json!({"token": TOKEN});
                            frame = v.to_string();
                        }
                    }
                }
                if let Ok(mut ws) = open(self.port()).await {
                    let _ = glance(&mut ws).await;
                    if ws.send(Message::text(frame)).await.is_ok() {
                        // Up to the answer or the close.
                        while let Ok(Some(v)) = glance(&mut ws).await {
                            if v["type"] == "res" {
                                break;
                            }
                        }
                    }
                }
            }
            _ => {
                if let Ok((mut stream, _)) = upgrade(self.port()).await {
                    use smol::io::AsyncWriteExt;
                    let _ = stream.write_all(input.rest()).await;
                    // End of input: the gateway reads to it and closes instead of waiting for more.
                    let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
                    let mut ws = WebSocketStream::from_raw_socket(stream, Role::Client, None).await;
                    while let Ok(Some(_)) = glance(&mut ws).await {}
                }
            }
        }
        self.check_admin().await;
    }

    async fn http(&mut self, data: &[u8]) {
        use smol::io::{AsyncReadExt, AsyncWriteExt};
        let mut input = Input::new(data);
        let mode = input.byte();
        if let Ok(mut stream) = tcp(self.port()).await {
            if mode & 3 == 0 {
                let _ = stream.write_all(input.rest()).await;
                let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
                let mut sink = vec![0u8; 64 * 1024];
                let drain = async { while let Ok(1..) = stream.read(&mut sink).await {} };
                // A refused token is answered after a deliberate delay; the gateway finishes the
                // request on its own while the next input runs.
                drain
                    .or(async {
                        Timer::after(GLANCE).await;
                    })
                    .await;
            } else {
                let pick = input.byte();
                let path = HTTP_PATHS[pick as usize % HTTP_PATHS.len()];
                let method = if pick & 0x80 != 0 { "GET" } else { "POST" };
                let query = if mode & 4 != 0 { format!("?{}", text(input.field())) } else { String::new() };
                let body = input.rest();
                let mut head = format!(
                    "{method} {path}{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                let credentials = mode & 8 == 0;
                if credentials {
                    let token = if path.starts_with("/hooks/") { HOOKS_TOKEN } else { TOKEN };
                    head.push_str(&format!("Authorization: Bearer {token}\r\n"));
                }
                if path == "/whatsapp/webhook" {
                    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WHATSAPP_APP_SECRET.as_bytes());
                    let tag = crate::encoding::hex(ring::hmac::sign(&key, body).as_ref());
                    head.push_str(&format!("X-Hub-Signature-256: sha256={tag}\r\n"));
                }
                head.push_str("\r\n");
                let mut request = head.into_bytes();
                request.extend_from_slice(body);
                // Without credentials the answer is a 401 after a deliberate delay, not worth
                // waiting for.
                if stream.write_all(&request).await.is_ok() && credentials {
                    let t = crate::net::client::Timeouts { connect: ANSWER_WAIT, head: ANSWER_WAIT, idle: ANSWER_WAIT };
                    if let Ok(mut resp) = crate::net::client::read_response(stream, method, &t).await {
                        let _ = resp.text(4 << 20, ANSWER_WAIT).await;
                    }
                }
            }
        }
        self.check_http().await;
    }

    /// A new connection gets `200` from `GET /health`.
    async fn check_http(&self) {
        use smol::io::AsyncWriteExt;
        let deadline = Instant::now() + RECONNECT_WAIT;
        loop {
            let attempt = async {
                let mut stream = tcp(self.port()).await?;
                stream.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await?;
                let t = crate::net::client::Timeouts { connect: ANSWER_WAIT, head: ANSWER_WAIT, idle: ANSWER_WAIT };
                let resp = crate::net::client::read_response(stream, "GET", &t).await?;
                if resp.status == 200 { Ok(()) } else { Err(io::Error::other(format!("/health answered {}", resp.status))) }
            }
            .await;
            match attempt {
                Ok(()) => return,
                Err(e) if Instant::now() >= deadline => panic!("the gateway no longer answers GET /health: {e}"),
                Err(_) => {
                    Timer::after(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Whether a request may be sent (see the module documentation for what is skipped).
    fn safe(&self, method: &str, params: Option<&Value>) -> bool {
        if !method.starts_with("config.") {
            return true;
        }
        params.is_none_or(|p| !escapes(p, &self.root, None))
    }

    async fn admin(&mut self) -> &mut Ws {
        let ws = match self.admin.take() {
            Some(ws) => ws,
            None => self.connect(&["operator.admin"]).await,
        };
        self.admin.insert(ws)
    }

    async fn bare(&mut self) -> &mut Ws {
        let ws = match self.bare.take() {
            Some(ws) => ws,
            None => self.connect(&[]).await,
        };
        self.bare.insert(ws)
    }

    /// A new authenticated connection, retried while the gateway restarts.
    async fn connect(&self, scopes: &[&str]) -> Ws {
        let deadline = Instant::now() + RECONNECT_WAIT;
        loop {
            let attempt = async { handshake(self.port(), scopes).await }
                .or(async {
                    Timer::after(ANSWER_WAIT).await;
                    Err(io::Error::new(io::ErrorKind::TimedOut, "no hello-ok"))
                })
                .await;
            match attempt {
                Ok(ws) => return ws,
                Err(e) if Instant::now() >= deadline => panic!("the gateway no longer accepts connections: {e}"),
                Err(_) => Timer::after(Duration::from_millis(50)).await,
            };
        }
    }

    /// The admin connection answers `health`; when the gateway closed it, a new one does.
    async fn check_admin(&mut self) {
        for attempt in 0..3 {
            let id = self.id("health");
            let ws = self.admin().await;
            match health(ws, &id).await {
                Ok(()) => return,
                // Closed by the gateway (a restart, a protocol close): a new connection must work.
                Err(Silence::Closed) => self.admin = None,
                // Busy with a long request (a channel probe): a new connection must answer.
                Err(Silence::Timeout) if attempt == 0 => self.admin = None,
                Err(Silence::Timeout) => panic!("the gateway does not answer health on a new connection"),
            }
        }
        panic!("the gateway keeps closing new connections");
    }

    async fn check_bare(&mut self) {
        let id = self.id("bare");
        let ws = self.bare().await;
        if health(ws, &id).await.is_err() {
            self.bare = None;
        }
    }
}

/// Whether a config write's params could make the gateway write outside `root`, read the
/// process environment into the config, or lock this harness out. Strings that parse as JSON5
/// (the `raw` file text) are looked into.
fn escapes(v: &Value, root: &Path, key: Option<&str>) -> bool {
    match v {
        Value::String(s) => {
            if s.contains("${") || s.contains("exemptLoopback") {
                return true;
            }
            if key.is_some_and(|k| k == "file" || k.to_ascii_lowercase().contains("workspace")) && !inside(s, root) {
                return true;
            }
            match crate::config::json5::parse(s) {
                Ok(inner @ (Value::Object(_) | Value::Array(_))) => escapes(&inner, root, None),
                _ => false,
            }
        }
        Value::Object(map) => map.iter().any(|(k, v)| k.contains("exemptLoopback") || escapes(v, root, Some(k))),
        Value::Array(items) => items.iter().any(|v| escapes(v, root, key)),
        _ => false,
    }
}

/// Whether `path` (as the config would expand it, `~` being the scratch home) stays in `root`.
fn inside(path: &str, root: &Path) -> bool {
    let path = path.trim();
    let no_parent = !path.split('/').any(|c| c == "..");
    let under_home = path == "~" || path.starts_with("~/");
    no_parent && (under_home || Path::new(path).starts_with(root))
}

/// Why no answer came.
enum Silence {
    Closed,
    Timeout,
}

/// Sends `health` and waits for its answer (other frames pass by).
async fn health(ws: &mut Ws, id: &str) -> Result<(), Silence> {
    let frame = json!({"type": "req", "id": id, "method": "health"}).to_string();
    if ws.send(Message::text(frame)).await.is_err() {
        return Err(Silence::Closed);
    }
    let deadline = Instant::now() + ANSWER_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next_json(ws, left).await {
            Ok(Some(v)) if v["type"] == "res" && v["id"] == id => return Ok(()),
            Ok(Some(_)) => continue,
            Ok(None) => return Err(Silence::Closed),
            Err(_) => return Err(Silence::Timeout),
        }
    }
}

/// The next JSON frame: `Ok(None)` once the connection closed, `Err` after `limit` of silence.
async fn next_json(ws: &mut Ws, limit: Duration) -> Result<Option<Value>, ()> {
    loop {
        let next = async { Ok(ws.next().await) }
            .or(async {
                Timer::after(limit).await;
                Err(())
            })
            .await?;
        match next {
            Some(Ok(Message::Text(t))) => return Ok(Some(serde_json::from_str(&t).unwrap_or(Value::Null))),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ok(None),
            Some(Ok(_)) => continue,
        }
    }
}

/// A frame from a throwaway connection, if one comes soon.
async fn glance(ws: &mut Ws) -> Result<Option<Value>, ()> {
    next_json(ws, GLANCE).await
}

/// A TCP connection to the gateway.
async fn tcp(port: u16) -> io::Result<Async<TcpStream>> {
    let stream = Async::<TcpStream>::connect(([127, 0, 0, 1], port)).await?;
    // A frame without an answer and the health request right after it would otherwise wait
    // for a delayed ACK (40 ms) each.
    stream.get_ref().set_nodelay(true)?;
    Ok(stream)
}

/// A TCP connection upgraded to a WebSocket; returns the socket and the bytes read past the
/// response head.
async fn upgrade(port: u16) -> io::Result<(Async<TcpStream>, Vec<u8>)> {
    let mut stream = tcp(port).await?;
    let leftover = crate::net::ws::client_handshake(&mut stream, &format!("127.0.0.1:{port}"), "/", &[]).await?;
    Ok((stream, leftover))
}

async fn open(port: u16) -> io::Result<Ws> {
    let (stream, leftover) = upgrade(port).await?;
    Ok(WebSocketStream::from_partially_read(stream, leftover, Role::Client, None).await)
}

/// A connection through the challenge and `connect`, with `scopes`.
async fn handshake(port: u16, scopes: &[&str]) -> io::Result<Ws> {
    let mut ws = open(port).await?;
    let refused = |why: String| io::Error::new(io::ErrorKind::ConnectionRefused, why);
    match next_json(&mut ws, ANSWER_WAIT).await {
        Ok(Some(v)) if v["event"] == "connect.challenge" => {}
        other => return Err(refused(format!("no challenge: {:?}", other.ok().flatten()))),
    }
    let params = json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "fuzz", "platform": "linux", "mode": "cli", "instanceId": "fuzz"},
        "caps": [], "auth": {"token": TOKEN}, "role": "operator", "scopes": scopes,
    });
    let frame = json!({"type": "req", "id": "connect", "method": "connect", "params": params});
    ws.send(Message::text(frame.to_string())).await.map_err(io::Error::other)?;
    loop {
        match next_json(&mut ws, ANSWER_WAIT).await {
            Ok(Some(v)) if v["id"] == "connect" && v["ok"] == true => return Ok(ws),
            Ok(Some(v)) if v["id"] == "connect" => return Err(refused(v["error"].to_string())),
            Ok(Some(_)) => continue,
            Ok(None) => return Err(refused("closed during the handshake".into())),
            Err(()) => return Err(refused("no answer to connect".into())),
        }
    }
}
