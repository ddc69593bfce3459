//! The WebSocket RPC client the CLI commands use to talk to a running gateway. It finds the
//! gateway from flags, environment and config the way the official CLI does, connects with the
//! least scopes the command needs, and fails fast with a clear message when the gateway is not
//! there — it never falls back to doing the gateway's work itself.

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::Role;
use serde_json::{Value, json};
use smol::future::FutureExt;
use smol::net::TcpStream;
use smol::stream::StreamExt;
use std::time::{Duration, Instant};

use crate::config::{self, Config, Paths, secret::Secret};
use crate::rpc::protocol::ErrorShape;
use crate::wire;

/// Flags every client command accepts.
#[derive(Debug, Clone, Default)]
pub struct TargetFlags {
    pub url: Option<String>,
    pub token: Option<String>,
    pub password: Option<String>,
    pub timeout_ms: Option<u64>,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub host: String,
    pub port: u16,
    pub path: String,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
    /// Where the URL came from (`flag`, `env`, `remote`, `local`).
    pub source: &'static str,
    pub timeout: Duration,
}

/// A client command's failure: the message to print and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> CliError {
        CliError { message: message.into(), code: 1 }
    }
}

/// The config as client commands see it: best effort (defaults when missing or invalid).
pub fn client_config(paths: &Paths) -> Config {
    match config::load(paths) {
        Ok(l) => (*l.config).clone(),
        Err(_) => Config::empty(),
    }
}

/// Resolves the gateway to talk to (official precedence, spec §7.1 and §2.7).
pub fn resolve_target(paths: &Paths, cfg: &Config, flags: &TargetFlags) -> Result<Target, CliError> {
    let timeout = Duration::from_millis(flags.timeout_ms.unwrap_or(10_000).max(1));
    let flag_token = flags.token.clone().map(Secret::new);
    let flag_password = flags.password.clone().map(Secret::new);
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty()).map(Secret::new);
    if let Some(url) = &flags.url {
        if flag_token.is_none() && flag_password.is_none() {
            return Err(CliError::new("gateway url override requires explicit credentials (pass --token or --password)"));
        }
        return parse_target(url, flag_token, flag_password, "flag", timeout);
    }
    if let Ok(url) = std::env::var("OPENCLAW_GATEWAY_URL") {
        if !url.is_empty() {
            let token = flag_token.or_else(|| env("OPENCLAW_GATEWAY_TOKEN"));
            let password = flag_password.or_else(|| env("OPENCLAW_GATEWAY_PASSWORD"));
            return parse_target(&url, token, password, "env", timeout);
        }
    }
    let g = &cfg.gateway;
    if g.mode.as_deref() == Some("remote") {
        if let Some(url) = &g.remote.url {
            let token =
                flag_token.or_else(|| g.remote.token.clone()).or_else(|| env("OPENCLAW_GATEWAY_TOKEN")).or_else(|| g.auth.token.clone());
            let password = flag_password
                .or_else(|| env("OPENCLAW_GATEWAY_PASSWORD"))
                .or_else(|| g.remote.password.clone())
                .or_else(|| g.auth.password.clone());
            return parse_target(url, token, password, "remote", timeout);
        }
    }
    let port = local_port(paths, cfg);
    let mut token =
        flag_token.or_else(|| g.auth.token.clone()).or_else(|| env("OPENCLAW_GATEWAY_TOKEN")).or_else(|| g.remote.token.clone());
    let password = flag_password
        .or_else(|| g.auth.password.clone())
        .or_else(|| env("OPENCLAW_GATEWAY_PASSWORD"))
        .or_else(|| g.remote.password.clone());
    if token.is_none() && password.is_none() {
        // This user's own gateway running with a runtime-only token shares it in the state dir.
        token = crate::daemon::runtime_token::read(&paths.state_dir);
    }
    let url = format!("ws://127.0.0.1:{port}");
    Ok(Target { url, host: "127.0.0.1".into(), port, path: "/".into(), token, password, source: "local", timeout })
}

/// The local gateway's port: the running gateway of this state directory first (it records the
/// port it really bound), then what the gateway would pick.
pub fn local_port(paths: &Paths, cfg: &Config) -> u16 {
    if let Some(owner) = crate::daemon::lock::live_owner(&paths.state_dir) {
        if let Some(p) = owner.port {
            return p;
        }
    }
    if let Some(p) = std::env::var("OPENCLAW_GATEWAY_PORT").ok().and_then(|v| v.trim().parse::<u16>().ok()) {
        return p;
    }
    if paths.dev {
        return crate::limits::DEV_PORT;
    }
    cfg.gateway.port.unwrap_or(crate::limits::DEFAULT_PORT)
}

fn parse_target(
    url: &str,
    token: Option<Secret>,
    password: Option<Secret>,
    source: &'static str,
    timeout: Duration,
) -> Result<Target, CliError> {
    let bad = || CliError::new(format!("invalid gateway URL {url:?}: expected ws://host:port"));
    let rest = if let Some(r) = url.strip_prefix("ws://") {
        r
    } else if url.starts_with("wss://") {
        return Err(CliError::new(format!("{url}: wss:// URLs are not supported by this CLI yet; use a ws:// URL on a trusted network")));
    } else {
        return Err(bad());
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, p) = v6.split_once(']').ok_or_else(bad)?;
        (h.to_string(), p.strip_prefix(':').map(|p| p.parse::<u16>()).transpose().map_err(|_| bad())?.unwrap_or(80))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse::<u16>().map_err(|_| bad())?),
            None => (hostport.to_string(), 80),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Target { url: url.to_string(), host, port, path: path.to_string(), token, password, source, timeout })
}

type Ws = WebSocketStream<TcpStream>;

/// A connected client.
pub struct GatewayClient {
    ws: Ws,
    next_id: u64,
    pub hello: Value,
    timeout: Duration,
    /// Events received while waiting for responses, in order.
    pub events: Vec<Value>,
}

/// Why a connection or call failed.
#[derive(Debug)]
pub enum CallError {
    /// Could not reach the gateway at all.
    Unreachable(String),
    /// The gateway answered with an error.
    Gateway(ErrorShape),
    /// The connection broke or timed out.
    Transport(String),
}

impl CallError {
    /// The message for a person, with what to do next.
    pub fn explain(&self, target: &Target) -> String {
        match self {
            CallError::Unreachable(why) => format!(
                "Gateway not reachable at {} ({why}). Start it with `openclaw gateway`, or check `openclaw gateway status`.",
                target.url
            ),
            CallError::Gateway(e) => {
                let mut s =
                    format!("Gateway error {}: {}", serde_json::to_value(e.code).unwrap_or_default().as_str().unwrap_or(""), e.message);
                let detail = e.details.as_ref().and_then(|d| d["code"].as_str()).unwrap_or("");
                if let Some(hint) = auth_hint(detail, target) {
                    s.push('\n');
                    s.push_str(&hint);
                }
                s
            }
            CallError::Transport(why) => format!("Lost the connection to the gateway at {}: {why}", target.url),
        }
    }
}

/// What to do when the gateway refused this command's credentials.
fn auth_hint(detail_code: &str, target: &Target) -> Option<String> {
    let sent = match (&target.token, &target.password) {
        (Some(_), _) => "token",
        (None, Some(_)) => "password",
        (None, None) => "",
    };
    match detail_code {
        "DEVICE_IDENTITY_REQUIRED" => Some(
            "This command found no gateway token or password to send. Pass --token <token>, set OPENCLAW_GATEWAY_TOKEN, \
             or put it in gateway.auth.token (`openclaw config set gateway.auth.token <token>`). A gateway started without \
             one shares its runtime token only with commands of the same user and profile on this machine."
                .to_string(),
        ),
        "AUTH_TOKEN_MISMATCH" | "AUTH_PASSWORD_MISMATCH" | "AUTH_TOKEN_MISSING" | "AUTH_PASSWORD_MISSING" => Some(format!(
            "The {what} this command sent (from {from}) is not the gateway's. Use the gateway's own: --token / --password, \
             OPENCLAW_GATEWAY_TOKEN / OPENCLAW_GATEWAY_PASSWORD, or gateway.auth.token in this profile's config (the \
             config wins over the environment; `openclaw config get gateway.auth` shows which is set).",
            what = if sent.is_empty() { "secret" } else { sent },
            from = match target.source {
                "flag" => "the command line",
                "env" => "the environment",
                "remote" => "gateway.remote",
                _ => "this profile's config or environment",
            }
        )),
        c if c.starts_with("AUTH_") => Some("Check the gateway token or password this command sends (--token / --password).".to_string()),
        _ => None,
    }
}

async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = Result<T, CallError>>) -> Result<T, CallError> {
    let what = what.to_string();
    fut.or(async move {
        smol::Timer::after(limit).await;
        Err(CallError::Transport(format!("timed out after {} ms waiting for {what}", limit.as_millis())))
    })
    .await
}

impl GatewayClient {
    /// Connects and completes the handshake with `scopes` (and `mode`, normally `cli`).
    pub async fn connect(target: &Target, scopes: &[&str], mode: &str) -> Result<GatewayClient, CallError> {
        let addr = format!("{}:{}", target.host, target.port);
        let started = Instant::now();
        let mut stream = within(target.timeout, "the connection", async {
            TcpStream::connect(addr.as_str()).await.map_err(|e| CallError::Unreachable(short_io(&e)))
        })
        .await?;
        let left = target.timeout.saturating_sub(started.elapsed());
        let host_header = if target.host.contains(':') { format!("[{}]:{}", target.host, target.port) } else { addr.clone() };
        let leftover = within(left, "the WebSocket upgrade", async {
            crate::net::ws::client_handshake(&mut stream, &host_header, &target.path, &[])
                .await
                .map_err(|e| CallError::Unreachable(e.to_string()))
        })
        .await?;
        let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Client, None).await;
        let mut client = GatewayClient { ws, next_id: 1, hello: Value::Null, timeout: target.timeout, events: Vec::new() };
        let challenge = within(left, "the connect challenge", client.next_frame()).await?;
        if challenge["event"] != "connect.challenge" {
            return Err(CallError::Transport("the server did not send connect.challenge".into()));
        }
        let mut auth = serde_json::Map::new();
        if let Some(t) = &target.token {
            auth.insert("token".into(), json!(t.expose()));
        }
        if let Some(p) = &target.password {
            auth.insert("password".into(), json!(p.expose()));
        }
        let params = json!({
            "minProtocol": if mode == "probe" { 3 } else { 4 }, "maxProtocol": 4,
            "client": {"id": "cli", "version": crate::VERSION, "platform": std::env::consts::OS, "deviceFamily": "Linux",
                       "mode": mode, "instanceId": crate::ids::uuid()},
            "caps": [], "auth": auth, "role": "operator", "scopes": scopes,
        });
        client.hello = within(left, "hello-ok", client.request_once("connect", Some(params))).await?;
        Ok(client)
    }

    async fn next_frame(&mut self) -> Result<Value, CallError> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(&t).map_err(|e| CallError::Transport(format!("the gateway sent invalid JSON: {e}")));
                }
                Some(Ok(Message::Close(frame))) => {
                    let why = frame.map(|f| format!("closed {} {}", u16::from(f.code), f.reason)).unwrap_or_else(|| "closed".into());
                    return Err(CallError::Transport(why));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(CallError::Transport(e.to_string())),
                None => return Err(CallError::Transport("connection closed".into())),
            }
        }
    }

    async fn request_once(&mut self, method: &str, params: Option<Value>) -> Result<Value, CallError> {
        let id = format!("{}:{}", self.next_id, crate::ids::uuid());
        self.next_id += 1;
        let mut frame = json!({"type": "req", "id": id, "method": method});
        if let Some(p) = params {
            frame["params"] = p;
        }
        self.ws.send(Message::text(frame.to_string())).await.map_err(|e| CallError::Transport(e.to_string()))?;
        loop {
            let f = self.next_frame().await?;
            if f["type"] == "res" && f["id"] == id.as_str() {
                if f["ok"] == true {
                    return Ok(f.get("payload").cloned().unwrap_or(Value::Null));
                }
                let e: ErrorShape = error_shape(&f["error"]);
                return Err(CallError::Gateway(e));
            }
            if f["type"] == "event" {
                self.events.push(f);
            }
        }
    }

    /// Calls a method answered twice (`agent`: `accepted` first, the result at the end) and
    /// returns the final payload, waiting up to `limit`. Events meanwhile are dropped; the
    /// final response may be an error carrying a payload (`{status: "error", summary}`), which
    /// is returned as `Err` with that payload.
    pub async fn call_final(&mut self, method: &str, params: Value, limit: Duration) -> Result<Value, (CallError, Option<Value>)> {
        let id = format!("{}:{}", self.next_id, crate::ids::uuid());
        self.next_id += 1;
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.ws.send(Message::text(frame.to_string())).await.map_err(|e| (CallError::Transport(e.to_string()), None))?;
        let wait = async {
            loop {
                let f = self.next_frame().await.map_err(|e| (e, None))?;
                if f["type"] != "res" || f["id"] != id.as_str() {
                    continue;
                }
                if f["ok"] == true && f["payload"]["status"] == "accepted" {
                    continue;
                }
                if f["ok"] == true {
                    return Ok(f.get("payload").cloned().unwrap_or(Value::Null));
                }
                let e: ErrorShape = error_shape(&f["error"]);
                return Err((CallError::Gateway(e), f.get("payload").cloned()));
            }
        };
        wait.or(async {
            smol::Timer::after(limit).await;
            Err((CallError::Transport(format!("timed out after {} s waiting for the {method} result", limit.as_secs())), None))
        })
        .await
    }

    /// Calls a method and returns its payload (within the client's timeout).
    pub async fn call(&mut self, method: &str, params: Option<Value>) -> Result<Value, CallError> {
        let limit = self.timeout;
        within(limit, method, self.request_once(method, params)).await
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A response's `error` as it arrives (codes as strings); one that cannot be read is reported as
/// a malformed error rather than lost.
fn error_shape(error: &Value) -> ErrorShape {
    use crate::rpc::protocol::ErrorCode;
    let read = |o: wire::Obj<'_>| -> Result<ErrorShape, wire::WireError> {
        let code = match o.str("code")? {
            "FORBIDDEN" => ErrorCode::Forbidden,
            "NOT_PAIRED" => ErrorCode::NotPaired,
            "UNAVAILABLE" => ErrorCode::Unavailable,
            _ => ErrorCode::InvalidRequest,
        };
        Ok(ErrorShape {
            code,
            message: o.str("message")?.to_string(),
            details: o.get("details").cloned(),
            retryable: o.opt_bool("retryable")?,
            retry_after_ms: o.opt_u64("retryAfterMs")?,
        })
    };
    wire::object(error).and_then(read).unwrap_or_else(|_| ErrorShape::invalid("malformed error"))
}

fn short_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
}

/// Runs one call end to end: resolve, connect with `scopes`, call, close.
pub fn one_call(paths: &Paths, flags: &TargetFlags, scopes: &[&str], method: &str, params: Option<Value>) -> Result<Value, CliError> {
    let cfg = client_config(paths);
    let target = resolve_target(paths, &cfg, flags)?;
    smol::block_on(async {
        let mut c = GatewayClient::connect(&target, scopes, "cli").await.map_err(|e| CliError::new(e.explain(&target)))?;
        let out = c.call(method, params).await.map_err(|e| CliError::new(e.explain(&target)));
        c.close().await;
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_and_without_ports() {
        let t = parse_target("ws://10.0.0.2:19001/ws", None, None, "flag", Duration::from_secs(1)).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("10.0.0.2", 19001, "/ws"));
        let t = parse_target("ws://[::1]:18789", None, None, "flag", Duration::from_secs(1)).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("::1", 18789, "/"));
        assert!(parse_target("http://x:1", None, None, "flag", Duration::from_secs(1)).is_err());
        assert!(parse_target("wss://x:1", None, None, "flag", Duration::from_secs(1)).is_err());
        assert!(parse_target("ws://:1", None, None, "flag", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn an_explicit_url_needs_explicit_credentials() {
        let paths = Paths::resolve_with(false, None, &|k| (k == "HOME").then(|| "/nonexistent".to_string())).unwrap();
        let flags = TargetFlags { url: Some("ws://127.0.0.1:1".into()), ..Default::default() };
        let e = resolve_target(&paths, &Config::empty(), &flags).unwrap_err();
        assert!(e.message.contains("requires explicit credentials"));
    }
}
