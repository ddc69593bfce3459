//! Signal through a `signal-cli daemon --http` the owner runs beside the gateway (signal-cli holds
//! the account's keys; this gateway never sees them).
//!
//! Out: JSON-RPC 2.0 `send` over `POST /api/v1/rpc`, to a `recipient` (a number or a
//! `uuid:`) or a `groupId`. In: the server-sent event stream `GET /api/v1/events`, one `receive`
//! event per envelope (`receive.rs`). `GET /api/v1/check` is the probe.
//!
//! The daemon has no credentials of its own, so "bad credentials" here means a daemon that does
//! not know the configured account: that stops the channel with a clear status instead of
//! looping. A daemon that is down or hung is retried with backoff, and the status says so.
//!
//! A send is classified by what signal-cli reports: a JSON-RPC error `-3` (IO) or `-32603`
//! (internal) and a per-recipient `NETWORK_FAILURE` or `RATE_LIMIT_FAILURE` are worth another try;
//! a user error (`-1`: unknown number or group), an untrusted key (`-4`) and an unregistered
//! recipient are not. A group send that reached anyone counts as sent, since a retry would reach
//! them twice.

mod receive;

pub use receive::receive;

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

use super::{SendError, call_json};
use crate::config::channels as cfg;
use crate::encoding::percent_encode as enc;
use crate::limits;

/// How long a typing indicator may take; it is best effort.
const TYPING_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Client {
    cfg: Arc<cfg::Signal>,
}

/// Where a message goes: a person (number, `uuid:`, `username:`) or a group.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Recipient(String),
    Username(String),
    Group(String),
}

/// `+15551234567`, `signal:+1555…`, `uuid:<aci>`, a bare ACI, `username:<name>`, `group:<id>` or a
/// bare base64 group id (what inbound group messages carry as their chat).
fn target(to: &str) -> Result<Target, String> {
    let t = to.trim();
    let t = t.strip_prefix("signal:").unwrap_or(t);
    let bad = |what: &str| Err(format!("not a Signal {what}: {to:?} (use +15551234567, uuid:<id> or group:<id>)"));
    if t.is_empty() || t.len() > 256 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("target");
    }
    if let Some(g) = t.strip_prefix("group:") {
        return if is_group_id(g) { Ok(Target::Group(g.to_string())) } else { bad("group id") };
    }
    if let Some(u) = t.strip_prefix("uuid:") {
        return if is_uuid(u) { Ok(Target::Recipient(u.to_lowercase())) } else { bad("uuid") };
    }
    if let Some(u) = t.strip_prefix("username:") {
        return if u.is_empty() { bad("username") } else { Ok(Target::Username(u.to_string())) };
    }
    if let Some(digits) = t.strip_prefix('+') {
        let ok = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        return if ok { Ok(Target::Recipient(t.to_string())) } else { bad("number") };
    }
    if is_uuid(t) {
        return Ok(Target::Recipient(t.to_lowercase()));
    }
    if is_group_id(t) {
        return Ok(Target::Group(t.to_string()));
    }
    bad("target")
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.bytes().enumerate().all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() })
}

/// A group id is base64 (32 bytes for v2 groups: 44 characters); a number or name never is.
fn is_group_id(s: &str) -> bool {
    (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

/// A JSON-RPC error from signal-cli, classified.
fn rpc_error(e: &Value) -> SendError {
    let code = e["code"].as_i64().unwrap_or(0);
    let message = format!("signal-cli error {code}: {}", e["message"].as_str().unwrap_or("(no message)"));
    let lower = message.to_lowercase();
    // -3 is signal-cli's IO error (the Signal server or the network); -32603 is an internal
    // failure, which is also where a rate limit currently lands.
    if code == -3 || code == -32603 || lower.contains("rate limit") {
        SendError::Transient { message, retry_after: None }
    } else {
        SendError::Permanent(message)
    }
}

/// The per-recipient outcome of a successful `send`: fine when anyone got it; otherwise the
/// failure, transient for network and rate-limit failures.
fn delivery(result: &Value) -> Result<(), SendError> {
    let Some(results) = result["results"].as_array().filter(|r| !r.is_empty()) else { return Ok(()) };
    if results.iter().any(|r| r["type"] == "SUCCESS") {
        return Ok(());
    }
    let first = &results[0];
    let kind = first["type"].as_str().unwrap_or("UNKNOWN");
    let who = first["recipientAddress"]["number"].as_str().or(first["recipientAddress"]["uuid"].as_str()).unwrap_or("the recipient");
    let message = format!("signal-cli could not deliver to {who}: {kind}");
    match kind {
        "NETWORK_FAILURE" | "RATE_LIMIT_FAILURE" => {
            let retry_after = first["retryAfterSeconds"].as_u64().map(|s| Duration::from_secs(s).min(limits::CHANNEL_RETRY_AFTER_MAX));
            Err(SendError::Transient { message, retry_after })
        }
        _ => Err(SendError::Permanent(message)),
    }
}

impl Client {
    pub fn new(c: &cfg::Signal) -> Result<Client, String> {
        if c.account.is_none() {
            return Err("no account: set channels.signal.account to the number signal-cli serves (or SIGNAL_ACCOUNT)".into());
        }
        Ok(Client { cfg: Arc::new(c.clone()) })
    }

    fn account(&self) -> &str {
        self.cfg.account.as_deref().unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.http_url)
    }

    /// The event stream's URL; `account` picks ours on a multi-account daemon (a single-account
    /// daemon ignores it).
    fn events_url(&self) -> String {
        self.url(&format!("/api/v1/events?account={}", enc(self.account())))
    }

    /// One JSON-RPC call; the `result`, or the error classified.
    async fn rpc(&self, method: &str, mut params: Value, id: &str, wait: Duration) -> Result<Value, SendError> {
        params["account"] = json!(self.account());
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let reply = call_json("POST", &self.url("/api/v1/rpc"), &[], Some(&body), wait).await.map_err(|e| SendError::Transient {
            message: format!("signal-cli daemon at {} unreachable: {e}", self.cfg.http_url),
            retry_after: None,
        })?;
        if reply.status != 200 {
            return Err(SendError::from_status(reply.status, format!("signal-cli answered HTTP {}", reply.status), reply.retry_after));
        }
        if reply.body["error"].is_object() {
            return Err(rpc_error(&reply.body["error"]));
        }
        if reply.body.get("result").is_none() {
            return Err(SendError::Transient { message: "signal-cli answered without a result".into(), retry_after: None });
        }
        let mut body = reply.body;
        Ok(body["result"].take())
    }

    fn addressed(to: &str) -> Result<Value, SendError> {
        Ok(match target(to).map_err(SendError::Permanent)? {
            Target::Recipient(r) => json!({"recipient": [r]}),
            Target::Username(u) => json!({"username": [u]}),
            Target::Group(g) => json!({"groupId": g}),
        })
    }

    /// Sends one message; returns its timestamp, which is Signal's message id. `reply_to` is
    /// `<timestamp>:<author>` of the message to quote.
    pub async fn send(&self, to: &str, text: &str, reply_to: Option<&str>, nonce: &str) -> Result<String, SendError> {
        let mut params = Client::addressed(to)?;
        params["message"] = json!(text);
        if let Some((ts, author)) = reply_to.and_then(|r| r.split_once(':')) {
            if let Ok(ts) = ts.parse::<u64>() {
                params["quoteTimestamp"] = json!(ts);
                params["quoteAuthor"] = json!(author);
            }
        }
        let result = self.rpc("send", params, nonce, limits::CHANNEL_REQUEST_TIMEOUT).await?;
        delivery(&result)?;
        Ok(result["timestamp"].as_u64().map(|t| t.to_string()).unwrap_or_default())
    }

    /// "Typing…" for about 15 s (best effort).
    pub async fn typing(&self, to: &str) {
        let Ok(params) = Client::addressed(to) else { return };
        let _ = self.rpc("sendTyping", params, "typing", TYPING_TIMEOUT).await;
    }

    /// `GET /api/v1/check`, then the daemon's version (best effort).
    pub async fn probe(&self) -> Result<Value, String> {
        self.check().await?;
        let version = self.rpc("version", json!({}), "probe", limits::CHANNEL_REQUEST_TIMEOUT).await.ok();
        Ok(json!({"daemon": self.cfg.http_url, "account": self.account(),
                  "version": version.as_ref().and_then(|v| v["version"].as_str())}))
    }

    /// Whether the daemon answers its health check.
    async fn check(&self) -> Result<(), String> {
        let reply = call_json("GET", &self.url("/api/v1/check"), &[], None, limits::CHANNEL_CONNECT_TIMEOUT)
            .await
            .map_err(|e| format!("signal-cli daemon at {} unreachable ({e}); is `signal-cli daemon --http` running?", self.cfg.http_url))?;
        match reply.status {
            200 | 204 => Ok(()),
            s => Err(format!("signal-cli daemon at {} failed its health check (HTTP {s})", self.cfg.http_url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(target("+15551234567").unwrap(), Target::Recipient("+15551234567".into()));
        assert_eq!(target("signal:+15551234567").unwrap(), Target::Recipient("+15551234567".into()));
        let aci = "7ccae375-cd51-4c82-8b1e-7be3280aa485";
        assert_eq!(target(&format!("uuid:{aci}")).unwrap(), Target::Recipient(aci.into()));
        assert_eq!(target(aci).unwrap(), Target::Recipient(aci.into()));
        let gid = "Pmpi+EfPWmsxW2eWr9Gm3nL1gQ1TbUcA2HMmRtDYeRM=";
        assert_eq!(target(&format!("group:{gid}")).unwrap(), Target::Group(gid.into()));
        assert_eq!(target(gid).unwrap(), Target::Group(gid.into()));
        assert_eq!(target("username:ann.42").unwrap(), Target::Username("ann.42".into()));
        for bad in ["", "+1", "+1555abc4567", "group:", "uuid:nope", "hello world", "bob"] {
            assert!(target(bad).is_err(), "{bad:?}");
        }
        assert_eq!(enc("+1555"), "%2B1555");
    }

    #[test]
    fn send_failures_are_classified() {
        assert!(matches!(rpc_error(&json!({"code": -3, "message": "timeout"})), SendError::Transient { .. }));
        assert!(matches!(rpc_error(&json!({"code": -32603, "message": "x"})), SendError::Transient { .. }));
        assert!(matches!(rpc_error(&json!({"code": -1, "message": "The user +1 is not registered."})), SendError::Permanent(_)));
        assert!(matches!(rpc_error(&json!({"code": -4, "message": "untrusted"})), SendError::Permanent(_)));
        assert!(matches!(rpc_error(&json!({"code": -5, "message": "Rate limit exceeded"})), SendError::Transient { .. }));
        assert!(delivery(&json!({"timestamp": 1})).is_ok());
        let one =
            |t: &str| json!({"timestamp": 1, "results": [{"type": t, "recipientAddress": {"number": "+1555"}, "retryAfterSeconds": 3}]});
        assert!(delivery(&one("SUCCESS")).is_ok());
        assert_eq!(
            delivery(&one("RATE_LIMIT_FAILURE")).unwrap_err(),
            SendError::Transient {
                message: "signal-cli could not deliver to +1555: RATE_LIMIT_FAILURE".into(),
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert!(matches!(delivery(&one("UNREGISTERED_FAILURE")), Err(SendError::Permanent(_))));
        let partial = json!({"results": [{"type": "NETWORK_FAILURE"}, {"type": "SUCCESS"}]});
        assert!(delivery(&partial).is_ok(), "a group send that reached someone is not repeated");
    }
}
