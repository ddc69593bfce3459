//! Footprint and throughput of the real binary, checked against the budgets of DESIGN.md §4.
//!
//!   cargo bench --bench footprint                 short mode (CI): gates enforced, ~30 s
//!   cargo bench --bench footprint -- --full       full mode (closing notes): longer runs, idle CPU
//!   … -- --bin PATH                               measure another build (e.g. the x86_64 musl one)
//!   … -- --size TARGET=PATH                       report (and gate) a cross-built binary's size
//!   … -- --load [SECS]                            load mode only (report): 2,000 idle clients, 200
//!                                                 clients doing RPCs and 50 HTTP keep-alive
//!                                                 connections for SECS (60) seconds
//!   … -- --first-token [N]                        first-token mode only (report): the median of N
//!                                                 (200) requests, direct and through the gateway
//!
//! Prints a table and one JSON line; exits 1 when a gate is passed. Every load stays on
//! 127.0.0.1 with bounded counts. Agent figures (report only): the time to the first streamed
//! token that the gateway adds over a local fake model, and the memory an idle session costs.

use async_tungstenite::tungstenite::Message;
use serde_json::{Value, json};
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use smol::stream::StreamExt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MIB: f64 = 1024.0 * 1024.0;

/// One budget line of DESIGN.md §4.
struct Gate {
    name: &'static str,
    unit: &'static str,
    value: Option<f64>,
    gate: Option<f64>,
    goal: &'static str,
}

impl Gate {
    fn passed(&self) -> bool {
        match (self.value, self.gate) {
            (Some(v), Some(g)) => v <= g,
            _ => true,
        }
    }
}

struct Options {
    full: bool,
    bin: PathBuf,
    sizes: Vec<(String, PathBuf)>,
    /// `--load [SECS]`: only the load run, for this long.
    load: Option<f64>,
    /// `--first-token [N]`: only the first-token measurement, over this many requests.
    first_token: Option<usize>,
}

fn options() -> Options {
    let mut o =
        Options { full: false, bin: PathBuf::from(env!("CARGO_BIN_EXE_openclaw")), sizes: Vec::new(), load: None, first_token: None };
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--load" => {
                let secs = args.peek().and_then(|s| s.parse::<f64>().ok());
                if secs.is_some() {
                    args.next();
                }
                o.load = Some(secs.unwrap_or(60.0));
            }
            "--first-token" => {
                let n = args.peek().and_then(|s| s.parse::<usize>().ok());
                if n.is_some() {
                    args.next();
                }
                o.first_token = Some(n.unwrap_or(200));
            }
            "--full" => o.full = true,
            "--short" => o.full = false,
            "--bin" => o.bin = PathBuf::from(args.next().expect("--bin needs a path")),
            "--size" => {
                let spec = args.next().expect("--size needs TARGET=PATH");
                let (t, p) = spec.split_once('=').expect("--size needs TARGET=PATH");
                o.sizes.push((t.to_string(), PathBuf::from(p)));
            }
            _ => {} // `cargo bench` passes --bench and filters; ignore them.
        }
    }
    o
}

/// A gateway process in a throwaway home.
struct Gateway {
    child: Child,
    port: u16,
    token: String,
    home: PathBuf,
}

impl Gateway {
    /// `--dev gateway --allow-unconfigured --port 0` in a fresh home (the embedded default).
    fn start(bin: &Path, env: &[(&str, &str)]) -> Gateway {
        Gateway::start_with(bin, env, None)
    }

    /// The same with `config` merged into the dev profile's config file before start.
    fn start_with(bin: &Path, env: &[(&str, &str)], config: Option<Value>) -> Gateway {
        let home = std::env::temp_dir().join(format!("openclaw-bench-{}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(home.join("tmp")).unwrap();
        if let Some(cfg) = config {
            std::fs::create_dir_all(home.join(".openclaw-dev")).unwrap();
            std::fs::write(home.join(".openclaw-dev/openclaw.json"), cfg.to_string()).unwrap();
        }
        let mut cmd = Command::new(bin);
        cmd.args(["--dev", "gateway", "--allow-unconfigured", "--port", "0"]);
        for (k, _) in std::env::vars() {
            if k.starts_with("OPENCLAW_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", &home).env("TMPDIR", home.join("tmp"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("cannot start the gateway");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            let found = lines.lock().unwrap().iter().find_map(|l| {
                let rest = l.split("listening on ws://127.0.0.1:").nth(1)?;
                rest.split([',', ' ']).next()?.parse::<u16>().ok()
            });
            if let (Some(p), true) = (found, lines.lock().unwrap().iter().any(|l| l.ends_with("[gateway] ready"))) {
                break p;
            }
            assert!(Instant::now() < deadline, "gateway did not start: {:?}", lines.lock().unwrap());
            std::thread::sleep(Duration::from_millis(5));
        };
        let cfg: Value = serde_json::from_str(&std::fs::read_to_string(home.join(".openclaw-dev/openclaw.json")).unwrap()).unwrap();
        let token = cfg["gateway"]["auth"]["token"].as_str().unwrap().to_string();
        Gateway { child, port, token, home }
    }

    fn rss_kib(&self) -> f64 {
        status_kib(self.child.id(), "VmRSS:")
    }

    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn status_kib(pid: u32, key: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// exec → first `/health` 200, in milliseconds.
fn exec_to_health(bin: &Path) -> f64 {
    let home = std::env::temp_dir().join(format!("openclaw-bench-start-{}-{}", std::process::id(), nanos()));
    std::fs::create_dir_all(home.join(".openclaw")).unwrap();
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    std::fs::write(home.join(".openclaw/openclaw.json"), r#"{"gateway":{"mode":"local","auth":{"token":"bench-token"}}}"#).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["gateway", "--port", &port.to_string()])
        .env("HOME", &home)
        .env("TMPDIR", home.join("tmp"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let took = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.read_exact(&mut buf).is_ok() && &buf == b"HTTP/1.1 200" {
                break started.elapsed();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the gateway did not answer /health");
    };
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&home);
    took.as_secs_f64() * 1000.0
}

type Ws = async_tungstenite::WebSocketStream<TcpStream>;

async fn ws_connect(port: u16, token: &str) -> Ws {
    ws_connect_as(port, token, "operator.read").await
}

async fn ws_connect_as(port: u16, token: &str, scope: &str) -> Ws {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut ws, _) = async_tungstenite::client_async(format!("ws://127.0.0.1:{port}/"), stream).await.unwrap();
    let _challenge = ws.next().await.unwrap().unwrap();
    let connect = json!({"type": "req", "id": "c", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "test", "version": "bench", "platform": "linux", "mode": "test"},
        "auth": {"token": token}, "role": "operator", "scopes": [scope]}});
    ws.send(Message::text(connect.to_string())).await.unwrap();
    loop {
        if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == "c" {
                assert_eq!(v["ok"], true, "connect failed: {v}");
                return ws;
            }
        }
    }
}

/// Sequential `health` calls on one connection until `until`; returns how many completed.
async fn ws_health_loop(mut ws: Ws, until: Instant) -> u64 {
    let mut n = 0u64;
    while Instant::now() < until {
        let id = format!("h{n}");
        ws.send(Message::text(json!({"type": "req", "id": id, "method": "health"}).to_string())).await.unwrap();
        loop {
            if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
                // Only the response matters; events (ticks) may interleave.
                if t.contains(&format!("\"id\":\"{id}\"")) {
                    break;
                }
            }
        }
        n += 1;
    }
    n
}

/// WebSocket `health` round trips per second over `conns` connections driven by 2 threads.
fn ws_rps(port: u16, token: &str, conns: usize, secs: f64) -> f64 {
    let total = Arc::new(AtomicU64::new(0));
    let threads = if conns == 1 { 1 } else { 2 };
    let start = Instant::now() + Duration::from_millis(300);
    let until = start + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let total = total.clone();
            let token = token.to_string();
            let mine = conns / threads + usize::from(t < conns % threads);
            std::thread::spawn(move || {
                smol::block_on(async {
                    let mut sockets = Vec::new();
                    for _ in 0..mine {
                        sockets.push(ws_connect(port, &token).await);
                    }
                    smol::Timer::at(start).await;
                    let tasks: Vec<_> = sockets.into_iter().map(|ws| smol::spawn(ws_health_loop(ws, until))).collect();
                    for task in tasks {
                        total.fetch_add(task.await, Ordering::Relaxed);
                    }
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    total.load(Ordering::Relaxed) as f64 / secs
}

/// `/health` over 50 keep-alive connections from 2 threads: requests per second and the
/// latency of each request (p50, p99 in ms).
struct HttpLoad {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn http_load(port: u16, secs: f64) -> HttpLoad {
    let total = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    let start = Instant::now() + Duration::from_millis(200);
    let until = start + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let total = total.clone();
            let latencies = latencies.clone();
            std::thread::spawn(move || {
                smol::block_on(async {
                    smol::Timer::at(start).await;
                    let tasks: Vec<_> = (0..25)
                        .map(|_| {
                            smol::spawn(async move {
                                let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                                let mut buf = vec![0u8; 4096];
                                let mut micros = Vec::with_capacity(65_536);
                                while Instant::now() < until {
                                    let sent = Instant::now();
                                    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
                                    let mut got = 0;
                                    // One response: head + 27-byte body; read until the body ends.
                                    loop {
                                        got += s.read(&mut buf[got..]).await.unwrap();
                                        if got >= 4 && buf[..got].ends_with(b"\"live\"}") {
                                            break;
                                        }
                                    }
                                    micros.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                                }
                                micros
                            })
                        })
                        .collect();
                    for t in tasks {
                        let micros = t.await;
                        total.fetch_add(micros.len() as u64, Ordering::Relaxed);
                        latencies.lock().unwrap().extend(micros);
                    }
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut all = std::mem::take(&mut *latencies.lock().unwrap());
    all.sort_unstable();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).map_or(0.0, |us| *us as f64 / 1000.0);
    HttpLoad { rps: total.load(Ordering::Relaxed) as f64 / secs, p50_ms: pct(0.50), p99_ms: pct(0.99) }
}

/// File write → `config.changed` on a connected client, in ms (median of `n` hot changes).
fn reload_latency(gw: &Gateway, n: usize) -> f64 {
    let path = gw.home.join(".openclaw-dev/openclaw.json");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut samples = smol::block_on(async {
        let mut ws = ws_connect(gw.port, &gw.token).await;
        let mut out = Vec::new();
        for i in 0..n {
            cfg["logging"] = json!({"level": if i % 2 == 0 { "debug" } else { "info" }});
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, cfg.to_string()).unwrap();
            let written = Instant::now();
            std::fs::rename(&tmp, &path).unwrap();
            let deadline = written + Duration::from_secs(10);
            loop {
                let next = ws.next().or(async {
                    smol::Timer::at(deadline).await;
                    None
                });
                match next.await {
                    Some(Ok(Message::Text(t))) if t.contains("\"config.changed\"") => break,
                    Some(Ok(_)) => {}
                    _ => panic!("no config.changed within 10 s of the write"),
                }
            }
            out.push(written.elapsed().as_secs_f64() * 1000.0);
            // Let the poller see the next write as a separate change.
            smol::Timer::after(Duration::from_millis(300)).await;
        }
        out
    });
    median(&mut samples)
}

/// A local OpenAI-compatible model that streams its first token at once (then three more and the
/// end), so what a client waits on top of it is the gateway's own latency. Like the real APIs it
/// keeps a connection for the next request unless the request says `Connection: close`.
fn fake_model() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                let _ = s.set_nodelay(true);
                while fake_model_answer(&mut s) {}
            });
        }
    });
    port
}

/// Serves one request on `s`; true when the connection stays open for another.
fn fake_model_answer(s: &mut std::net::TcpStream) -> bool {
    use std::io::{Read, Write};
    let mut req = Vec::new();
    let mut buf = [0u8; 16384];
    // Head, then the Content-Length body.
    let body_start = loop {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            return false;
        }
        req.extend_from_slice(&buf[..n]);
        if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&req[..body_start]).to_ascii_lowercase();
    let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while req.len() < body_start + len {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            return false;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let chunk = |text: &str| {
        let d = format!(
            "data: {}\n\n",
            json!({"id": "b", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        );
        format!("{:x}\r\n{d}\r\n", d.len())
    };
    let mut out = String::from("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
    out.push_str(&chunk("first"));
    let _ = s.write_all(out.as_bytes());
    let mut rest = String::new();
    for t in [" second", " third", " fourth"] {
        rest.push_str(&chunk(t));
    }
    let done = "data: {\"id\":\"b\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    rest.push_str(&format!("{:x}\r\n{done}\r\n0\r\n\r\n", done.len()));
    s.write_all(rest.as_bytes()).is_ok() && !head.contains("connection: close")
}

/// Milliseconds from sending a streaming chat completion to the first content chunk, over a raw
/// connection (`auth` adds a bearer header).
fn first_token_ms(port: u16, path: &str, auth: Option<&str>) -> f64 {
    use std::io::{Read, Write};
    let body = json!({"model": "openclaw", "stream": true, "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    if let Some(t) = auth {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    req.push_str(&body);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_nodelay(true).unwrap();
    let started = Instant::now();
    s.write_all(req.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended without content: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        if got.windows(10).any(|w| w == b"\"content\":") {
            return started.elapsed().as_secs_f64() * 1000.0;
        }
    }
}

/// Time to first token: direct to the fake model, and through the gateway's OpenAI-compatible
/// endpoint (median of `n` each), in ms.
fn ttft(bin: &Path, n: usize) -> (f64, f64) {
    let model = fake_model();
    let cfg = json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": "bench-token"},
                    "http": {"endpoints": {"chatCompletions": {"enabled": true}}}},
        "models": {"providers": {"fake": {"baseUrl": format!("http://127.0.0.1:{model}/v1"), "apiKey": "k"}}},
        "agents": {"defaults": {"model": "fake/m"}}
    });
    let gw = Gateway::start_with(bin, &[], Some(cfg));
    // Warm both paths once (first connection, first session).
    first_token_ms(model, "/v1/chat/completions", None);
    first_token_ms(gw.port, "/v1/chat/completions", Some("bench-token"));
    let mut direct: Vec<f64> = (0..n).map(|_| first_token_ms(model, "/v1/chat/completions", None)).collect();
    let mut via: Vec<f64> = (0..n).map(|_| first_token_ms(gw.port, "/v1/chat/completions", Some("bench-token"))).collect();
    (median(&mut direct), median(&mut via))
}

/// RSS growth per session after `n` sessions each had one exchange (offline responder), in KiB.
fn per_session(bin: &Path, n: usize) -> f64 {
    let gw = Gateway::start(bin, &[]);
    let before = smol::block_on(async {
        let mut ws = ws_connect_as(gw.port, &gw.token, "operator.write").await;
        // One exchange first, so what is measured is sessions, not the first run's setup.
        chat_once(&mut ws, "warm-up").await;
        smol::Timer::after(Duration::from_millis(1500)).await;
        let before = gw.rss_kib();
        for i in 0..n {
            chat_once(&mut ws, &format!("bench-session-{i}")).await;
        }
        before
    });
    // Past the batched index write.
    std::thread::sleep(Duration::from_millis(1500));
    (gw.rss_kib() - before) / n as f64
}

async fn chat_once(ws: &mut Ws, session: &str) {
    let run = format!("run-{session}");
    let req = json!({"type": "req", "id": run, "method": "chat.send",
                     "params": {"sessionKey": session, "message": "hello", "idempotencyKey": run}});
    ws.send(Message::text(req.to_string())).await.unwrap();
    loop {
        if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
            if t.contains("\"state\":\"final\"") && t.contains(&run) {
                return;
            }
        }
    }
}

/// RSS after `n` idle clients past hello-ok; returns (rss before, rss after) in KiB.
fn many_clients(gw: &Gateway, n: usize) -> (f64, f64) {
    raise_fd_limit();
    let before = gw.rss_kib();
    let clients = smol::block_on(async {
        let mut all = Vec::with_capacity(n);
        // Batches keep the connect storm inside the listen backlog.
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let batch: Vec<_> = chunk
                .iter()
                .map(|_| {
                    let (port, token) = (gw.port, gw.token.clone());
                    smol::spawn(async move { ws_connect(port, &token).await })
                })
                .collect();
            for t in batch {
                all.push(t.await);
            }
        }
        all
    });
    std::thread::sleep(Duration::from_millis(1500));
    let after = gw.rss_kib();
    drop(clients);
    (before, after)
}

/// The load mode: 2,000 idle clients, 200 clients calling RPCs in a loop and 50 HTTP keep-alive
/// connections polling `/health`, all at once for `secs`. Reports peak RSS, errors (anything
/// but a successful answer, which must be none), throughput and RSS after the load is gone.
fn load(bin: &Path, secs: f64) -> Value {
    raise_fd_limit();
    let gw = Gateway::start(bin, &[]);
    let (port, token, pid) = (gw.port, gw.token.clone(), gw.child.id());
    let before = gw.rss_kib();
    let errors = Arc::new(AtomicU64::new(0));
    let rpcs = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(status_kib(pid, "VmRSS:") as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    // 2,000 idle clients, connected in batches, held until the load ends.
    let idle = {
        let (token, errors, done) = (token.clone(), errors.clone(), done.clone());
        std::thread::spawn(move || {
            smol::block_on(async {
                let mut held = Vec::new();
                for _ in 0..40 {
                    let batch: Vec<_> = (0..50).map(|_| smol::spawn(try_ws_connect(port, token.clone(), "operator.read"))).collect();
                    for t in batch {
                        match t.await {
                            Some(ws) => held.push(ws),
                            None => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                while !done.load(Ordering::Relaxed) {
                    smol::Timer::after(Duration::from_millis(100)).await;
                }
                held.len()
            })
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let rpc_threads: Vec<_> = (0..2)
        .map(|_| {
            let (token, errors, rpcs) = (token.clone(), errors.clone(), rpcs.clone());
            std::thread::spawn(move || {
                smol::block_on(async {
                    let tasks: Vec<_> = (0..100)
                        .map(|i| {
                            let (token, errors, rpcs) = (token.clone(), errors.clone(), rpcs.clone());
                            smol::spawn(async move {
                                let Some(mut ws) = try_ws_connect(port, token, "operator.read").await else {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                    return;
                                };
                                let methods = ["health", "status", "sessions.list", "models.list", "channels.status"];
                                let mut n = 0usize;
                                while Instant::now() < until {
                                    let method = methods[(i + n) % methods.len()];
                                    match rpc(&mut ws, method, n).await {
                                        true => rpcs.fetch_add(1, Ordering::Relaxed),
                                        false => errors.fetch_add(1, Ordering::Relaxed),
                                    };
                                    n += 1;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await;
                    }
                })
            })
        })
        .collect();
    let http = http_load(port, secs).rps;
    for t in rpc_threads {
        let _ = t.join();
    }
    done.store(true, Ordering::Relaxed);
    let held = idle.join().unwrap_or(0);
    let _ = sampler.join();
    std::thread::sleep(Duration::from_secs(3));
    let after = gw.rss_kib();
    json!({
        "seconds": secs, "idle_clients": held, "rpc_clients": 200, "http_connections": 50,
        "rss_before_kib": before, "peak_rss_kib": peak.load(Ordering::Relaxed), "rss_after_kib": after,
        "errors": errors.load(Ordering::Relaxed), "rpc_per_s": (rpcs.load(Ordering::Relaxed) as f64 / secs).round(),
        "http_health_per_s": http.round(),
    })
}

/// `ws_connect_as` that reports failure instead of panicking.
async fn try_ws_connect(port: u16, token: String, scope: &str) -> Option<Ws> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let (mut ws, _) = async_tungstenite::client_async(format!("ws://127.0.0.1:{port}/"), stream).await.ok()?;
    ws.next().await?.ok()?;
    let connect = json!({"type": "req", "id": "c", "method": "connect", "params": {
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "test", "version": "bench", "platform": "linux", "mode": "test"},
        "auth": {"token": token}, "role": "operator", "scopes": [scope]}});
    ws.send(Message::text(connect.to_string())).await.ok()?;
    loop {
        if let Message::Text(t) = ws.next().await?.ok()? {
            let v: Value = serde_json::from_str(&t).ok()?;
            if v["id"] == "c" {
                return (v["ok"] == true).then_some(ws);
            }
        }
    }
}

/// One request; whether a successful response came back within 10 s.
async fn rpc(ws: &mut Ws, method: &str, n: usize) -> bool {
    let id = format!("l{n}");
    let call = async {
        ws.send(Message::text(json!({"type": "req", "id": id, "method": method}).to_string())).await.ok()?;
        loop {
            if let Message::Text(t) = ws.next().await?.ok()? {
                if t.contains(&format!("\"id\":\"{id}\"")) {
                    return Some(t.contains("\"ok\":true"));
                }
            }
        }
    };
    call.or(async {
        smol::Timer::after(Duration::from_secs(10)).await;
        None
    })
    .await
    .unwrap_or(false)
}

fn raise_fd_limit() {
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur = rl.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
    }
}

fn main() {
    let o = options();
    if let Some(secs) = o.load {
        println!("footprint harness, load mode ({secs} s), binary {}", o.bin.display());
        let r = load(&o.bin, secs);
        let mib = |k: &str| r[k].as_f64().unwrap_or(0.0) / 1024.0;
        println!("{:<52} {:>12}", "idle clients held", r["idle_clients"]);
        println!("{:<52} {:>12}", "RSS before the load", format!("{:.2} MiB", mib("rss_before_kib")));
        println!("{:<52} {:>12}", "peak RSS during the load", format!("{:.2} MiB", mib("peak_rss_kib")));
        println!("{:<52} {:>12}", "RSS after the load ended", format!("{:.2} MiB", mib("rss_after_kib")));
        println!("{:<52} {:>12}", "RPCs/s (200 clients)", r["rpc_per_s"]);
        println!("{:<52} {:>12}", "/health requests/s (50 keep-alive connections)", r["http_health_per_s"]);
        println!("{:<52} {:>12}", "errors (must be 0)", r["errors"]);
        println!("\n{r}");
        if r["errors"] != 0 {
            std::process::exit(1);
        }
        return;
    }
    if let Some(n) = o.first_token {
        println!("footprint harness, first-token mode ({n} requests each way), binary {}", o.bin.display());
        let (direct, via) = ttft(&o.bin, n);
        println!("{:<52} {:>12}", "first token: fake model direct (median)", format!("{direct:.3} ms"));
        println!("{:<52} {:>12}", "first token: through the gateway (median)", format!("{via:.3} ms"));
        println!("{:<52} {:>12}", "first token: added by the gateway", format!("{:.3} ms", via - direct));
        return;
    }
    let mode = if o.full { "full" } else { "short" };
    println!("footprint harness ({mode} mode), binary {}", o.bin.display());
    let mut gates = Vec::new();
    let mut report = serde_json::Map::new();

    // Binary sizes.
    let mut sizes = serde_json::Map::new();
    sizes.insert("measured".into(), json!(std::fs::metadata(&o.bin).unwrap().len()));
    let mut size_list = o.sizes.clone();
    for t in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "armv7-unknown-linux-gnueabihf",
        "armv7-unknown-linux-musleabihf",
        "arm-unknown-linux-musleabihf",
    ] {
        // dist/ holds what ships; scripts/build-release.sh leaves the nightly builds in target/
        // with their symbols (it strips the copies in dist/).
        let shipped = PathBuf::from(format!("dist/openclaw-{t}"));
        let built = PathBuf::from(format!("target/{t}/release/openclaw"));
        let p = if shipped.exists() { shipped } else { built };
        if p.exists() && !size_list.iter().any(|(n, _)| n == t) {
            size_list.push((t.to_string(), p));
        }
    }
    let mut aarch64 = None;
    for (t, p) in &size_list {
        let len = std::fs::metadata(p).unwrap_or_else(|e| panic!("--size {t}={}: {e}", p.display())).len();
        sizes.insert(t.clone(), json!(len));
        if t == "aarch64-unknown-linux-musl" {
            aarch64 = Some(len as f64 / MIB);
        }
    }
    // Gates sit 5 % above what was measured when they were last moved (2026-12: aarch64 1.88 MiB
    // with all seven channels, the nightly size-profile artifact, P-256 off ring, payloads read
    // without serde derives; idle RSS 1.33 MiB on the x86_64 artifact built the same way, with
    // the code an idle gateway runs linked together by scripts/hot-text.ld and the queues between
    // tasks sized in dozens of slots, not thousands), so gains stay: a stale hot-text list shows
    // first in the idle RSS, a queue of 1,024 slots again as about 0.1 MiB. ring's P-256 table
    // coming back (148 KiB) would pass the size gate. The per-client gate is the goal itself
    // (8.8-9.0 KiB measured): a task or a buffer that crosses one of malloc's power-of-two block
    // sizes again would pass it.
    gates.push(Gate { name: "binary size, aarch64 musl", unit: "MiB", value: aarch64, gate: Some(1.97), goal: "<= 2.0" });
    report.insert("sizes".into(), Value::Object(sizes));

    // Start-up.
    let mut starts: Vec<f64> = (0..20).map(|_| exec_to_health(&o.bin)).collect();
    let (min, max) = (starts.iter().cloned().fold(f64::MAX, f64::min), starts.iter().cloned().fold(0.0, f64::max));
    let med = median(&mut starts);
    report.insert("exec_to_health_ms".into(), json!({"median": med, "min": min, "max": max, "runs": 20}));
    gates.push(Gate { name: "exec -> first /health 200 (median of 20)", unit: "ms", value: Some(med), gate: Some(30.0), goal: "<= 5" });

    // Idle memory, then 1,000 idle clients on the same gateway.
    let gw = Gateway::start(&o.bin, &[]);
    std::thread::sleep(Duration::from_secs(5));
    let idle = gw.rss_kib();
    report.insert("idle_rss_kib".into(), json!(idle));
    gates.push(Gate { name: "idle RSS, 5 s after ready", unit: "MiB", value: Some(idle / 1024.0), gate: Some(1.40), goal: "<= 2" });
    let n = 1000;
    let (before, after) = many_clients(&gw, n);
    let per = (after - before) / n as f64;
    report.insert("rss_1000_clients_kib".into(), json!(after));
    report.insert("per_client_kib".into(), json!(per));
    gates.push(Gate {
        name: "memory per idle WS client (1,000 after hello-ok)",
        unit: "KiB",
        value: Some(per),
        gate: Some(10.0),
        goal: "<= 10",
    });
    drop(gw);

    // Config reload: file write -> config.changed (default 250 ms polling).
    let gw = Gateway::start(&o.bin, &[]);
    let reload_ms = reload_latency(&gw, if o.full { 11 } else { 5 });
    report.insert("config_write_to_changed_ms".into(), json!(reload_ms));
    gates.push(Gate {
        name: "config change -> applied (file write -> config.changed)",
        unit: "ms",
        value: Some(reload_ms),
        gate: Some(1000.0),
        goal: "<= 300",
    });
    drop(gw);

    // Throughput (report only).
    let secs = if o.full { 10.0 } else { 2.0 };
    let gw = Gateway::start(&o.bin, &[]);
    let http = http_load(gw.port, secs);
    let ws1 = ws_rps(gw.port, &gw.token, 1, secs);
    let ws64 = ws_rps(gw.port, &gw.token, 64, secs);
    report.insert("http_health_rps_50conn".into(), json!(http.rps.round()));
    report.insert("http_health_latency_ms".into(), json!({"p50": http.p50_ms, "p99": http.p99_ms}));
    report.insert("ws_health_rps_1conn".into(), json!(ws1.round()));
    report.insert("ws_health_rps_64conn".into(), json!(ws64.round()));
    drop(gw);

    // The agent (report only): latency the gateway adds to the first token, memory per session.
    let (direct, via) = ttft(&o.bin, if o.full { 50 } else { 10 });
    report.insert("first_token_ms".into(), json!({"direct": direct, "via_gateway": via, "added": via - direct}));
    let sessions = if o.full { 1000 } else { 100 };
    let session_kib = per_session(&o.bin, sessions);
    report.insert("per_session_kib".into(), json!(session_kib));
    report.insert("sessions_measured".into(), json!(sessions));

    // Idle CPU over a minute (full mode only).
    if o.full {
        let gw = Gateway::start(&o.bin, &[]);
        std::thread::sleep(Duration::from_secs(2));
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let t0 = gw.cpu_ticks();
        let wall = Instant::now();
        std::thread::sleep(Duration::from_secs(60));
        let pct = (gw.cpu_ticks() - t0) as f64 / hz / wall.elapsed().as_secs_f64() * 100.0;
        report.insert("idle_cpu_pct".into(), json!(pct));
        gates.push(Gate { name: "idle CPU over 60 s", unit: "% of a core", value: Some(pct), gate: Some(1.0), goal: "<= 0.1" });
    }

    println!("\n{:<52} {:>12} {:>10} {:>8}  result", "figure", "value", "gate", "goal");
    for g in &gates {
        let v = g.value.map(|v| format!("{v:.2} {}", g.unit)).unwrap_or_else(|| "not measured".into());
        let gate = g.gate.map(|x| format!("{x}")).unwrap_or_default();
        println!("{:<52} {:>12} {:>10} {:>8}  {}", g.name, v, gate, g.goal, if g.passed() { "ok" } else { "GATE PASSED" });
    }
    println!("{:<52} {:>12}", "/health requests/s (keep-alive, 50 conns, 2 threads)", format!("{:.0}", http.rps));
    println!("{:<52} {:>12}", "/health latency p50 / p99 under that load", format!("{:.2} / {:.2} ms", http.p50_ms, http.p99_ms));
    println!("{:<52} {:>12}", "WS health round trips/s, 1 connection", format!("{ws1:.0}"));
    println!("{:<52} {:>12}", "WS health round trips/s, 64 connections", format!("{ws64:.0}"));
    println!("{:<52} {:>12}", "first token: fake model direct (median)", format!("{direct:.2} ms"));
    println!("{:<52} {:>12}", "first token: through the gateway (median)", format!("{via:.2} ms"));
    println!("{:<52} {:>12}", "first token: added by the gateway", format!("{:.2} ms", via - direct));
    println!("{:<52} {:>12}", format!("memory per session ({sessions} sessions, one exchange each)"), format!("{session_kib:.2} KiB"));
    if let Some(sizes) = report.get("sizes").and_then(Value::as_object) {
        for (t, len) in sizes {
            println!("{:<52} {:>12}", format!("binary size, {t}"), format!("{} B", len));
        }
    }
    report.insert("mode".into(), json!(mode));
    report.insert("binary".into(), json!(o.bin.display().to_string()));
    report.insert(
        "gates".into(),
        json!(
            gates
                .iter()
                .map(|g| json!({"name": g.name, "value": g.value, "unit": g.unit, "gate": g.gate, "pass": g.passed()}))
                .collect::<Vec<_>>()
        ),
    );
    println!("\n{}", Value::Object(report));
    if gates.iter().any(|g| !g.passed()) {
        eprintln!("footprint: a budget gate was passed");
        std::process::exit(1);
    }
}
