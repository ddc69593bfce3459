//! Test support: the real `openclaw` binary in a temporary home, a WebSocket client that checks
//! every frame it receives against the official protocol schema, and a raw HTTP client.

#![allow(dead_code)]

pub mod fake_discord;
pub mod fake_http;
pub mod fake_llm;
pub mod fake_signal;
#[cfg(feature = "slack")]
pub mod fake_slack;
pub mod fake_telegram;
pub mod fake_whatsapp;
pub mod pty;
pub mod schema;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use serde_json::{Value, json};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use smol::stream::StreamExt;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-token-0123456789abcdef";
/// `Authorization` value with [`TOKEN`].
pub const BEARER: &str = "Bearer test-token-0123456789abcdef";

/// How long a test waits for something that should be immediate.
pub const WAIT: Duration = Duration::from_secs(10);

/// The binary under test: `OPENCLAW_TEST_BIN` (for example a cross-compiled one) or the one
/// cargo built for these tests.
pub fn bin() -> String {
    std::env::var("OPENCLAW_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_openclaw").to_string())
}

/// A command running the binary under test, through `OPENCLAW_TEST_RUNNER` when set (for
/// example `qemu-aarch64-static`, which forwards signals and the exit code).
pub fn bin_command() -> Command {
    match std::env::var("OPENCLAW_TEST_RUNNER") {
        Ok(runner) if !runner.is_empty() => {
            let mut c = Command::new(runner);
            c.arg(bin());
            c
        }
        _ => Command::new(bin()),
    }
}

/// A process's resident memory in KiB (`VmRSS`), while it runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// One `... kB` field of `/proc/PID/status` (`VmRSS`, `RssAnon`, `RssFile`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A masked client frame (RFC 6455 §5.2) with `opcode` and `payload`, FIN set; `mask: false`
/// leaves it unmasked, which a client must never send.
pub fn client_frame(opcode: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let mask_bit = if mask { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// A loopback port that nothing listened on a moment ago (bound to port 0, then released), for
/// tests that need a port number without depending on a default port being free.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("openclaw-it-{tag}-{}-{n}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// A command line for the binary with an isolated environment: its own HOME and TMPDIR, and
/// none of the caller's OPENCLAW_* variables.
pub struct Cmd {
    pub home: Arc<TempDir>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Cmd {
    pub fn new(home: Arc<TempDir>) -> Cmd {
        Cmd { home, args: Vec::new(), env: Vec::new() }
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Cmd {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Cmd {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn command(&self) -> Command {
        let mut c = bin_command();
        c.args(&self.args);
        for (k, _) in std::env::vars() {
            if k.starts_with("OPENCLAW_") {
                c.env_remove(&k);
            }
        }
        let tmp = self.home.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        c.env("HOME", self.home.path()).env("TMPDIR", &tmp);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs to completion with a time limit; returns (exit code, stdout, stderr).
    pub fn output(&self, limit: Duration) -> (i32, String, String) {
        let mut child = self.command().stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut out = String::new();
                let mut err = String::new();
                use std::io::Read;
                child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
                child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                return (status.code().unwrap_or(-1), out, err);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{:?} did not finish within {limit:?}", self.args);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A running gateway process. Killed (SIGKILL) on drop if still running.
pub struct Gw {
    pub child: Child,
    pub port: u16,
    pub home: Arc<TempDir>,
    pub token: String,
    lines: Arc<Mutex<Vec<String>>>,
}

/// Builder for [`Gw`].
pub struct GwBuilder {
    home: Arc<TempDir>,
    config: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    token: String,
    global: Vec<String>,
    /// Add `--port 0` unless the test gives a port itself.
    auto_port: bool,
    /// Run on one CPU only, as on a one-core board (the runtime sizes itself by the CPUs it may use).
    one_cpu: bool,
}

impl Gw {
    /// A gateway on a free loopback port, with a config holding [`TOKEN`].
    pub fn builder() -> GwBuilder {
        GwBuilder {
            home: Arc::new(TempDir::new("gw")),
            config: Some(json!({"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}}}).to_string()),
            args: Vec::new(),
            env: Vec::new(),
            token: TOKEN.to_string(),
            global: Vec::new(),
            auto_port: true,
            one_cpu: false,
        }
    }

    pub fn start() -> Gw {
        Gw::builder().start()
    }

    /// stderr lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_line(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(l) = self.lines().into_iter().find(|l| l.contains(needle)) {
                return Some(l);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the process to exit; returns its code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home.path().join(".openclaw")
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The log file the gateway writes (under the test's TMPDIR).
    pub fn log_file(&self) -> PathBuf {
        let line = self.wait_line("log file: ", WAIT).expect("no log file line");
        PathBuf::from(line.split("log file: ").nth(1).unwrap().trim())
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GwBuilder {
    pub fn config(mut self, json: Value) -> Self {
        self.config = Some(json.to_string());
        self
    }

    pub fn config_text(mut self, text: &str) -> Self {
        self.config = Some(text.to_string());
        self
    }

    pub fn no_config(mut self) -> Self {
        self.config = None;
        self
    }

    pub fn home(mut self, home: Arc<TempDir>) -> Self {
        self.home = home;
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// A flag placed before `gateway` (`--dev`, `--profile x`).
    pub fn global(mut self, a: &str) -> Self {
        self.global.push(a.to_string());
        self
    }

    pub fn token(mut self, t: &str) -> Self {
        self.token = t.to_string();
        self
    }

    fn cmd(&self) -> Cmd {
        if let Some(cfg) = &self.config {
            let dir = self.home.path().join(".openclaw");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("openclaw.json"), cfg).unwrap();
        }
        let mut args = self.global.clone();
        args.push("gateway".to_string());
        if self.auto_port && !self.args.iter().any(|a| a == "--port") {
            args.extend(["--port".to_string(), "0".to_string()]);
        }
        args.extend(self.args.iter().cloned());
        let mut c = Cmd::new(self.home.clone()).args(args);
        for (k, v) in &self.env {
            c = c.env(k, v);
        }
        c
    }

    /// Runs the gateway expecting it to refuse to start; returns (exit code, stderr).
    pub fn refuse(self, limit: Duration) -> (i32, String) {
        let (code, _, err) = self.cmd().output(limit);
        (code, err)
    }

    /// Starts after `prepare` has written extra files into the home directory.
    pub fn start_with(self, prepare: impl FnOnce(&Path)) -> Gw {
        let dir = self.home.path().join(".openclaw");
        std::fs::create_dir_all(&dir).unwrap();
        prepare(self.home.path());
        self.start()
    }

    /// Starts without adding `--port 0`, so the port comes from the environment or config.
    pub fn start_without_port_flag(self) -> Gw {
        self.no_port_flag().start()
    }

    /// Do not add `--port 0`: the port comes from the environment, the profile or the config.
    pub fn no_port_flag(mut self) -> Self {
        self.auto_port = false;
        self
    }

    /// Runs the gateway on one CPU only: the first of those the test itself may use (a container
    /// may not be allowed CPU 0).
    pub fn one_cpu(mut self) -> Self {
        self.one_cpu = true;
        self
    }

    /// Starts the gateway and waits until it is ready.
    pub fn start(self) -> Gw {
        let cmd = self.cmd();
        let mut command = cmd.command();
        if self.one_cpu {
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec only sched_getaffinity and sched_setaffinity run, on
            // sets on the stack; both are async-signal-safe system calls.
            unsafe {
                command.pre_exec(|| {
                    let size = std::mem::size_of::<libc::cpu_set_t>();
                    let mut allowed: libc::cpu_set_t = std::mem::zeroed();
                    if libc::sched_getaffinity(0, size, &mut allowed) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let cpus = 8 * size;
                    // No allocation here (another thread may have held the allocator's lock at
                    // fork): an error from a raw code, not from a message.
                    let Some(first) = (0..cpus).find(|&cpu| libc::CPU_ISSET(cpu, &allowed)) else {
                        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
                    };
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(first, &mut set);
                    if libc::sched_setaffinity(0, size, &set) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var("OPENCLAW_TEST_ECHO").is_ok() {
                    eprintln!("[gw] {line}");
                }
                sink.lock().unwrap().push(line);
            }
        });
        let mut gw = Gw { child, port: 0, home: self.home, token: self.token, lines };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = gw.lines().iter().find(|l| l.contains("listening on ws://")) {
                let rest = line.split("listening on ws://").nth(1).unwrap();
                let addr = rest.split([',', ' ']).next().unwrap();
                gw.port = addr.rsplit(':').next().unwrap().parse().unwrap();
            }
            if gw.port != 0 && gw.lines().iter().any(|l| l.ends_with("[gateway] ready")) {
                return gw;
            }
            if let Some(code) = gw.child.try_wait().unwrap() {
                panic!("gateway exited with {code:?} during start-up:\n{}", gw.lines().join("\n"));
            }
            if Instant::now() > deadline {
                panic!("gateway did not become ready:\n{}", gw.lines().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

// ---- HTTP ------------------------------------------------------------------------------------

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body with chunked transfer encoding removed (checking its framing).
    pub fn content(&self) -> Vec<u8> {
        if !self.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            return self.body.clone();
        }
        let mut out = Vec::new();
        let mut rest: &[u8] = &self.body;
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16).expect("hex chunk size");
            rest = &rest[line_end + 2..];
            if size == 0 {
                assert_eq!(rest, b"\r\n", "the chunked body ends with an empty chunk");
                return out;
            }
            out.extend_from_slice(&rest[..size]);
            assert_eq!(&rest[size..size + 2], b"\r\n", "chunk data is followed by CRLF");
            rest = &rest[size + 2..];
        }
    }

    pub fn json(&self) -> Value {
        let body = self.content();
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", String::from_utf8_lossy(&body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.content()).into_owned()
    }

    /// Server-sent events of the body: `(event name, data)`, checking the framing (each event
    /// ends with a blank line, only `event:` and `data:` fields).
    pub fn sse(&self) -> Vec<(Option<String>, String)> {
        let text = self.text();
        assert!(text.ends_with("\n\n"), "the stream ends with a complete event: {text:?}");
        text.trim_end()
            .split("\n\n")
            .map(|block| {
                let mut event = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event: ") {
                        event = Some(e.to_string());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        assert!(data.is_none(), "one data line per event: {block:?}");
                        data = Some(d.to_string());
                    } else {
                        panic!("unexpected SSE line {line:?}");
                    }
                }
                (event, data.unwrap_or_else(|| panic!("an event without data: {block:?}")))
            })
            .collect()
    }
}

/// `POST path` with a JSON body and extra headers; reads the whole response.
pub async fn http_post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    http_raw(port, req.as_bytes()).await
}

/// Sends raw bytes and reads one response (Content-Length or until close).
pub async fn http_raw(port: u16, request: &[u8]) -> HttpResponse {
    let mut c = HttpConn::open(port).await;
    c.send(request).await;
    c.response(request.starts_with(b"HEAD ")).await.expect("no HTTP response")
}

/// One client connection that keeps the bytes it read past a response (pipelining).
pub struct HttpConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpConn {
    pub async fn open(port: u16) -> HttpConn {
        HttpConn { stream: TcpStream::connect(("127.0.0.1", port)).await.unwrap(), buf: Vec::new() }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    async fn fill(&mut self) -> Option<usize> {
        let mut chunk = [0u8; 8192];
        let n = timeout(WAIT, self.stream.read(&mut chunk)).await.ok()?.ok()?;
        self.buf.extend_from_slice(&chunk[..n]);
        Some(n)
    }

    /// Reads the next response; `None` when the server closed first.
    pub async fn response(&mut self, head_only: bool) -> Option<HttpResponse> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill().await? == 0 {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        self.buf.drain(..head_end);
        let len = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse::<usize>().ok());
        if head_only || status == 101 || status == 100 {
            return Some(HttpResponse { status, headers, body: Vec::new() });
        }
        let body = match len {
            Some(len) => {
                while self.buf.len() < len {
                    if self.fill().await? == 0 {
                        break;
                    }
                }
                let take = len.min(self.buf.len());
                self.buf.drain(..take).collect()
            }
            None => {
                while let Some(n) = self.fill().await {
                    if n == 0 {
                        break;
                    }
                }
                std::mem::take(&mut self.buf)
            }
        };
        Some(HttpResponse { status, headers, body })
    }
}

/// Reads one response from a raw stream (no pipelining).
pub async fn read_response(s: &mut TcpStream, head_only: bool) -> Option<HttpResponse> {
    let mut c = HttpConn { stream: s.clone(), buf: Vec::new() };
    c.response(head_only).await
}

pub async fn http_get(port: u16, path: &str) -> HttpResponse {
    http_raw(port, format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).await
}

/// Runs `fut` with a time limit.
pub async fn timeout<T>(limit: Duration, fut: impl Future<Output = T>) -> Result<T, ()> {
    async { Ok(fut.await) }
        .or(async {
            smol::Timer::after(limit).await;
            Err(())
        })
        .await
}

// ---- WebSocket ---------------------------------------------------------------------------------

/// A WebSocket client that validates every frame it receives against the official schema.
pub struct Client {
    ws: WebSocketStream<TcpStream>,
    /// Frames received but not yet consumed.
    pending: VecDeque<Value>,
    next_id: u64,
}

/// How the server ended a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
}

impl Client {
    /// Opens a WebSocket (no protocol handshake yet) with extra request headers.
    pub async fn open_with(port: u16, path: &str, headers: &[(&str, &str)]) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut req = format!("ws://127.0.0.1:{port}{path}").into_client_request().unwrap();
        for (k, v) in headers {
            req.headers_mut()
                .insert(async_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        let config = WebSocketConfig::default().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20));
        let (ws, _) = async_tungstenite::client_async_with_config(req, stream, Some(config)).await.unwrap();
        Client { ws, pending: VecDeque::new(), next_id: 1 }
    }

    pub async fn open(port: u16) -> Client {
        Client::open_with(port, "/", &[]).await
    }

    /// Opens and completes the handshake as `cli` with `token` and `scopes`; returns the client and
    /// the hello-ok payload.
    pub async fn connect(port: u16, token: &str, scopes: &[&str]) -> (Client, Value) {
        Client::connect_with_caps(port, token, scopes, &[]).await
    }

    /// Like [`Client::connect`], declaring client capabilities (`caps`).
    pub async fn connect_with_caps(port: u16, token: &str, scopes: &[&str], caps: &[&str]) -> (Client, Value) {
        let mut c = Client::open(port).await;
        let challenge = c.recv().await.expect("no challenge");
        assert_eq!(challenge["event"], "connect.challenge");
        let mut params = connect_params(token, scopes);
        params["caps"] = json!(caps);
        let res = c.request("connect", params).await;
        assert_eq!(res["ok"], true, "connect failed: {res}");
        let hello = res["payload"].clone();
        schema::assert_valid("HelloOk", &hello);
        (c, hello)
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).await.unwrap();
    }

    /// Writes raw bytes on the socket under the WebSocket (hand-made frames).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.ws.get_mut().write_all(bytes).await.unwrap();
    }

    /// Writes raw bytes, reporting instead of panicking when the server has closed the socket.
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> bool {
        let stream = self.ws.get_mut();
        stream.write_all(bytes).await.is_ok() && stream.flush().await.is_ok()
    }

    /// Sends, reporting instead of panicking when the server has already gone.
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        self.ws.send(Message::text(text.to_string())).await.is_ok()
    }

    pub async fn send_json(&mut self, v: &Value) {
        self.send_text(&v.to_string()).await;
    }

    /// The next frame (validated against the schema), or `None` when the socket closed.
    pub async fn recv(&mut self) -> Option<Value> {
        if let Some(v) = self.pending.pop_front() {
            return Some(v);
        }
        self.recv_wire(WAIT).await
    }

    async fn recv_wire(&mut self, limit: Duration) -> Option<Value> {
        loop {
            let msg = timeout(limit, self.ws.next()).await.ok()??;
            match msg {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("server sent non-JSON ({e}): {t}"));
                    schema::assert_frame(&v);
                    return Some(v);
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Waits for the close frame; returns its code and reason.
    pub async fn closed(&mut self) -> Option<Closed> {
        loop {
            let msg = timeout(WAIT, self.ws.next()).await.ok()?;
            match msg {
                None => return None,
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Some(Closed { code: u16::from(frame.code), reason: frame.reason.to_string() });
                }
                Some(Ok(Message::Close(None))) => return Some(Closed { code: 1005, reason: String::new() }),
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    schema::assert_frame(&v);
                    self.pending.push_back(v);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) => return None,
            }
        }
    }

    /// Sends a request and returns its response frame (events received meanwhile are kept). A
    /// successful result is checked against the method's `*Result` definition when the schema
    /// has one.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params.clone()).await;
        let res = self.response(&id).await;
        if res["ok"] == true {
            schema::assert_result(method, &params, &res["payload"]);
        }
        res
    }

    /// Sends a request without waiting; returns its id.
    pub async fn send_request(&mut self, method: &str, params: Value) -> String {
        let id = format!("r{}", self.next_id);
        self.next_id += 1;
        let mut frame = json!({"type": "req", "id": id, "method": method});
        if !params.is_null() {
            frame["params"] = params;
        }
        self.send_json(&frame).await;
        id
    }

    /// Frames until `done` says the last one ends the wait (all of them, including that one).
    pub async fn collect_until(&mut self, limit: Duration, mut done: impl FnMut(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        while let Some(f) = self.pending.pop_front() {
            let stop = done(&f);
            out.push(f);
            if stop {
                return out;
            }
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let f = self.recv_wire(left).await.unwrap_or_else(|| panic!("no end within {limit:?}; got {out:#?}"));
            let stop = done(&f);
            out.push(f);
            if stop {
                return out;
            }
        }
    }

    /// Waits for the response with `id`.
    pub async fn response(&mut self, id: &str) -> Value {
        if let Some(i) = self.pending.iter().position(|f| f["type"] == "res" && f["id"] == id) {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let f = self.recv_wire(WAIT).await.unwrap_or_else(|| panic!("connection closed while waiting for response {id}"));
            if f["type"] == "res" && f["id"] == id {
                return f;
            }
            self.pending.push_back(f);
        }
    }

    /// Calls a method and returns its payload, asserting success.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let res = self.request(method, params).await;
        assert_eq!(res["ok"], true, "{method} failed: {res}");
        res["payload"].clone()
    }

    /// Waits up to `limit` for an event named `name`.
    pub async fn event(&mut self, name: &str, limit: Duration) -> Option<Value> {
        if let Some(i) = self.pending.iter().position(|f| f["type"] == "event" && f["event"] == name) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let f = self.recv_wire(deadline - Instant::now()).await?;
            if f["type"] == "event" && f["event"] == name {
                return Some(f);
            }
            self.pending.push_back(f);
        }
        None
    }

    /// Every frame received and not consumed yet.
    pub fn pending(&self) -> &VecDeque<Value> {
        &self.pending
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// `connect` params as the official CLI sends them.
pub fn connect_params(token: &str, scopes: &[&str]) -> Value {
    json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux", "mode": "cli", "instanceId": "it"},
        "caps": [], "auth": {"token": token}, "role": "operator", "scopes": scopes,
    })
}

/// JSON merge: objects merge key by key, anything else replaces.
/// Polls `done` until it holds or `limit` passes; returns its last answer.
pub fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

pub fn block_on<T>(fut: impl Future<Output = T>) -> T {
    smol::block_on(fut)
}
