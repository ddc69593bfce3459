//! Start-up tuning of the running gateway, read from the environment once.

use std::time::Duration;

use crate::limits::*;
use crate::sys::env_ms;

/// Start-up tuning read from the environment once. Tests use it to shorten intervals; operators
/// may use it on very small boards.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// `OPENCLAW_HANDSHAKE_TIMEOUT_MS` (official name).
    pub handshake_timeout: Duration,
    /// `OPENCLAW_TICK_INTERVAL_MS`.
    pub tick_interval: Duration,
    /// `OPENCLAW_HEALTH_INTERVAL_MS`.
    pub health_interval: Duration,
    /// `OPENCLAW_WS_PING_INTERVAL_MS`.
    pub ping_interval: Duration,
    /// `OPENCLAW_WS_SEND_TIMEOUT_MS`: a write to a client that does not drain for this long
    /// ends the connection (the periodic ping makes this catch peers that never read).
    pub send_timeout: Duration,
    /// `OPENCLAW_MAX_BUFFERED_BYTES` (per client) and `OPENCLAW_MAX_BUFFERED_BYTES_TOTAL`.
    pub max_buffered_bytes: usize,
    pub max_buffered_bytes_total: usize,
    /// HTTP deadlines; `OPENCLAW_HTTP_HEAD_TIMEOUT_MS` and `OPENCLAW_HTTP_BODY_TIMEOUT_MS`.
    pub http: crate::net::http::Deadlines,
    /// `OPENCLAW_CONFIG_POLL_MS`.
    pub config_poll: Duration,
    /// `OPENCLAW_MAX_CONNECTIONS` and `OPENCLAW_MAX_PENDING_CONNECTIONS`.
    pub max_connections: usize,
    pub max_pending_connections: usize,
}

impl Tuning {
    pub fn from_env() -> Self {
        let ms = env_ms;
        let max_buffered_bytes = std::env::var("OPENCLAW_MAX_BUFFERED_BYTES")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&v| v >= 1024)
            .unwrap_or(WS_MAX_BUFFERED_BYTES);
        Tuning {
            handshake_timeout: ms("OPENCLAW_HANDSHAKE_TIMEOUT_MS", WS_HANDSHAKE_TIMEOUT),
            tick_interval: ms("OPENCLAW_TICK_INTERVAL_MS", WS_TICK_INTERVAL),
            health_interval: ms("OPENCLAW_HEALTH_INTERVAL_MS", WS_HEALTH_INTERVAL),
            ping_interval: ms("OPENCLAW_WS_PING_INTERVAL_MS", WS_PING_INTERVAL),
            send_timeout: ms("OPENCLAW_WS_SEND_TIMEOUT_MS", WS_SEND_TIMEOUT),
            max_buffered_bytes,
            max_buffered_bytes_total: env_count("OPENCLAW_MAX_BUFFERED_BYTES_TOTAL", WS_TOTAL_BUFFERED_BYTES).max(1024),
            http: crate::net::http::Deadlines {
                head: ms("OPENCLAW_HTTP_HEAD_TIMEOUT_MS", HTTP_HEAD_TIMEOUT),
                body: ms("OPENCLAW_HTTP_BODY_TIMEOUT_MS", HTTP_BODY_TIMEOUT),
                ..Default::default()
            },
            config_poll: ms("OPENCLAW_CONFIG_POLL_MS", CONFIG_POLL_INTERVAL),
            max_connections: env_count("OPENCLAW_MAX_CONNECTIONS", MAX_CONNECTIONS),
            max_pending_connections: env_count("OPENCLAW_MAX_PENDING_CONNECTIONS", MAX_PENDING_CONNECTIONS),
        }
    }
}

// ---- chat channels ---------------------------------------------------------------------------
