//! The outbound toolkit the channel clients share: one bounded JSON call to a chat service's HTTP
//! API ([`call_json`]) and how a failed send is classified ([`SendError`]).

use serde_json::Value;
use std::io;
use std::time::Duration;

use crate::limits;

/// Why a send failed.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Worth another try (network, 5xx, 429), after `retry_after` when the service said so.
    Transient { message: String, retry_after: Option<Duration> },
    /// Retrying cannot help (bad target, message refused, credentials).
    Permanent(String),
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            SendError::Transient { message, .. } | SendError::Permanent(message) => message,
        }
    }

    /// Classifies an HTTP status from a chat API.
    pub fn from_status(status: u16, message: String, retry_after: Option<Duration>) -> SendError {
        if status == 429 || status >= 500 || status == 408 {
            SendError::Transient { message, retry_after }
        } else {
            SendError::Permanent(message)
        }
    }
}

impl From<io::Error> for SendError {
    fn from(e: io::Error) -> Self {
        SendError::Transient { message: e.to_string(), retry_after: None }
    }
}

/// A chat API's answer: status, JSON body (`Null` when it was not JSON), `Retry-After`, headers.
pub struct ApiReply {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<Duration>,
    pub headers: Vec<(String, String)>,
}

impl ApiReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One JSON request to a chat service's HTTP API, bounded in time (`wait` for the response head,
/// which a long poll holds back) and size.
pub async fn call_json(
    method: &'static str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    wait: Duration,
) -> io::Result<ApiReply> {
    use crate::net::client;
    let url = client::Url::parse(url).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // Keep-alive: a reply's sends and the next poll reuse the connection and its TLS session (a
    // handshake is tens of milliseconds of CPU on a Pi Zero).
    let mut req = client::Request::new(method, url).keep_alive();
    for (n, v) in headers {
        req = req.header(n, *v);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let t = client::Timeouts { connect: limits::CHANNEL_CONNECT_TIMEOUT, head: wait, idle: limits::CHANNEL_REQUEST_TIMEOUT };
    let mut resp = client::send(&req, &t).await?;
    let text = resp.text(limits::CHANNEL_RESPONSE_MAX_BYTES, limits::CHANNEL_REQUEST_TIMEOUT).await?;
    let (status, retry_after, headers) = (resp.status, resp.retry_after(), std::mem::take(&mut resp.headers));
    resp.finish();
    Ok(ApiReply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), retry_after, headers })
}
