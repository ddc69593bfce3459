//! Discord through the gateway (WebSocket, API v10, JSON encoding, no compression) and the REST
//! API (`POST /channels/{id}/messages`, DMs through `POST /users/@me/channels`). This file is the
//! REST client; [`gateway`] holds the receiver and [`wire`] the gateway payloads it reads.
//!
//! Outbound messages carry a nonce with `enforce_nonce`, so a resend after a crash or a lost
//! response is deduplicated by Discord. Rate limits are honoured: a 429 is a transient error with
//! Discord's `retry_after`, and an exhausted bucket (`X-RateLimit-Remaining: 0`) holds the next
//! request back until `X-RateLimit-Reset-After`. "typing…" is a courtesy: it is skipped while
//! requests are held back, and its own small bucket never holds an answer back.

mod gateway;
pub(crate) mod wire;

pub use gateway::receive;
pub(crate) use gateway::{State, closed, dispatch, hello_interval};

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{ApiReply, SendError, call_json};
use crate::config::channels as cfg;
use crate::config::secret::Secret;
use crate::limits;

/// Discord asks bots for a `DiscordBot (url, version)` user agent.
const USER_AGENT: &str = concat!("DiscordBot (https://github.com/openclaw/openclaw, ", env!("CARGO_PKG_VERSION"), ")");

#[derive(Clone)]
pub struct Client {
    token: Secret,
    /// REST base without a trailing slash (`https://discord.com/api/v10`).
    api_root: String,
    gateway_url: Option<String>,
    rest: Arc<Mutex<RestState>>,
}

/// What the REST calls of one client share.
#[derive(Default)]
struct RestState {
    /// DM channel per user id (`POST /users/@me/channels` answers the same channel every time),
    /// at most [`limits::DISCORD_DM_CHANNELS_CACHED`].
    dm_channels: HashMap<String, String>,
    /// No REST request before this instant: the last answer said its bucket is empty.
    not_before: Option<Instant>,
}

/// A REST call that failed.
#[derive(Debug)]
struct RestError {
    /// HTTP status of the answer; 0 when none came.
    status: u16,
    message: String,
    retry_after: Option<Duration>,
}

impl From<RestError> for SendError {
    fn from(e: RestError) -> SendError {
        match e.status {
            0 => SendError::Transient { message: e.message, retry_after: None },
            status => SendError::from_status(status, e.message, e.retry_after),
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Channel(String),
    User(String),
}

/// A Discord id (a u64 in decimal). Ids go into REST paths, so nothing else is taken for one.
fn snowflake(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `channel:<id>`, `user:<id>`, `<@id>` or a bare channel id (also with a `discord:` prefix).
pub(crate) fn target(to: &str) -> Result<Target, String> {
    let t = to.trim();
    let t = t.strip_prefix("discord:").unwrap_or(t);
    let (user, id) = if let Some(id) = t.strip_prefix("channel:") {
        (false, id)
    } else if let Some(id) = t.strip_prefix("user:") {
        (true, id)
    } else if let Some(id) = t.strip_prefix("<@").and_then(|r| r.strip_suffix('>')) {
        (true, id.strip_prefix('!').unwrap_or(id))
    } else {
        (false, t)
    };
    if !snowflake(id) {
        return Err(format!("{to:?} is not a Discord target (a channel id, channel:<id> or user:<id>)"));
    }
    Ok(if user { Target::User(id.to_string()) } else { Target::Channel(id.to_string()) })
}

impl Client {
    pub fn new(c: &cfg::Discord) -> Result<Client, String> {
        let Some(token) = &c.token else {
            return Err("no bot token: set channels.discord.token (or DISCORD_BOT_TOKEN)".into());
        };
        Ok(Client {
            token: token.clone(),
            api_root: c.api_root.trim_end_matches('/').to_string(),
            gateway_url: c.gateway_url.clone().filter(|u| !u.trim().is_empty()),
            rest: Arc::default(),
        })
    }

    fn rest_state(&self) -> MutexGuard<'_, RestState> {
        self.rest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How much longer the last answer asked us to hold requests back.
    fn held_for(&self) -> Option<Duration> {
        let left = self.rest_state().not_before?.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// One REST call, whatever its status; an error only when no answer came.
    async fn call(&self, method: &'static str, path: &str, body: Option<&Value>) -> Result<ApiReply, RestError> {
        let url = format!("{}{path}", self.api_root);
        let auth = format!("Bot {}", self.token.expose());
        let headers = [("Authorization", auth.as_str()), ("User-Agent", USER_AGENT)];
        call_json(method, &url, &headers, body, limits::CHANNEL_REQUEST_TIMEOUT).await.map_err(|e| RestError {
            status: 0,
            message: format!("Discord {method} {path}: {e}"),
            retry_after: None,
        })
    }

    /// One REST call, after the rate-limit pause the previous answer asked for. Non-2xx answers
    /// become errors carrying Discord's message and `retry_after`.
    async fn rest(&self, method: &'static str, path: &str, body: Option<&Value>) -> Result<ApiReply, RestError> {
        if let Some(wait) = self.held_for() {
            smol::Timer::after(wait).await;
        }
        let reply = self.call(method, path, body).await?;
        if reply.header("x-ratelimit-remaining").map(str::trim) == Some("0") {
            let reset = reply.header("x-ratelimit-reset-after").and_then(seconds).unwrap_or(limits::DISCORD_BUCKET_RESET_DEFAULT);
            self.rest_state().not_before = Some(Instant::now() + reset);
        }
        if (200..300).contains(&reply.status) {
            return Ok(reply);
        }
        Err(RestError {
            status: reply.status,
            message: format!("Discord {method} {path}: {} ({})", error_text(&reply.body), reply.status),
            retry_after: reply.body["retry_after"].as_f64().and_then(secs).or(reply.retry_after),
        })
    }

    /// The channel to post in: the target itself, or the user's DM channel (opened once).
    async fn channel(&self, to: &str) -> Result<String, SendError> {
        let user = match target(to).map_err(SendError::Permanent)? {
            Target::Channel(id) => return Ok(id),
            Target::User(id) => id,
        };
        if let Some(c) = self.rest_state().dm_channels.get(&user) {
            return Ok(c.clone());
        }
        let reply = self.rest("POST", "/users/@me/channels", Some(&json!({"recipient_id": user}))).await?;
        let Some(id) = reply.body["id"].as_str().filter(|id| snowflake(id)) else {
            return Err(SendError::Transient { message: "Discord opened a DM channel without a valid id".into(), retry_after: None });
        };
        let mut rest = self.rest_state();
        if rest.dm_channels.len() >= limits::DISCORD_DM_CHANNELS_CACHED && !rest.dm_channels.contains_key(&user) {
            // Any one may go: forgetting it costs one request the next time.
            if let Some(old) = rest.dm_channels.keys().next().cloned() {
                rest.dm_channels.remove(&old);
            }
        }
        rest.dm_channels.insert(user, id.to_string());
        Ok(id.to_string())
    }

    pub async fn send(&self, to: &str, text: &str, reply_to: Option<&str>, nonce: &str) -> Result<String, SendError> {
        let channel = self.channel(to).await?;
        let mut body = json!({"content": text, "nonce": nonce, "enforce_nonce": true, "allowed_mentions": {"parse": []}});
        if let Some(r) = reply_to {
            body["message_reference"] = json!({"message_id": r, "fail_if_not_exists": false});
        }
        let reply = self.rest("POST", &format!("/channels/{channel}/messages"), Some(&body)).await?;
        match reply.body["id"].as_str() {
            Some(id) => Ok(id.to_string()),
            None => {
                Err(SendError::Transient { message: "Discord accepted the message without returning its id".into(), retry_after: None })
            }
        }
    }

    /// "typing…" for about 10 s. Only a courtesy: skipped while requests are held back, and its
    /// answer's bucket is not noted (typing has a small one, which must not hold answers back).
    pub async fn typing(&self, to: &str) {
        if self.held_for().is_some() {
            return;
        }
        if let Ok(channel) = self.channel(to).await {
            let _ = self.call("POST", &format!("/channels/{channel}/typing"), None).await;
        }
    }

    pub async fn probe(&self) -> Result<Value, String> {
        let me = self.rest("GET", "/users/@me", None).await.map_err(|e| e.message)?.body;
        Ok(json!({"bot": {"id": me["id"], "username": me["username"]}}))
    }

    /// The gateway to Identify on: the configured URL, or the one `GET /gateway/bot` names.
    async fn gateway(&self) -> Result<String, RestError> {
        if let Some(u) = &self.gateway_url {
            return Ok(u.clone());
        }
        let reply = self.rest("GET", "/gateway/bot", None).await?;
        match reply.body["url"].as_str() {
            Some(u) if !u.is_empty() => Ok(u.to_string()),
            _ => Err(RestError { status: reply.status, message: "GET /gateway/bot answered without a url".into(), retry_after: None }),
        }
    }
}

/// Seconds (`"1.25"`) as a duration; see [`secs`].
pub(crate) fn seconds(text: &str) -> Option<Duration> {
    text.trim().parse::<f64>().ok().and_then(secs)
}

/// Seconds as a duration, cut at [`limits::CHANNEL_RETRY_AFTER_MAX`] (no longer pause is
/// honoured anyway); `None` for anything negative or not a number.
fn secs(s: f64) -> Option<Duration> {
    (s >= 0.0).then(|| Duration::from_secs_f64(s.min(limits::CHANNEL_RETRY_AFTER_MAX.as_secs_f64())))
}

/// Discord's error text: `message`, with the first field error of an "Invalid Form Body".
pub(crate) fn error_text(body: &Value) -> String {
    fn first_error(v: &Value, path: &mut Vec<String>) -> Option<String> {
        let map = v.as_object()?;
        if let Some(m) = map.get("_errors").and_then(|e| e[0]["message"].as_str()) {
            return Some(format!("{}: {m}", path.join(".")));
        }
        for (k, child) in map {
            path.push(k.clone());
            if let Some(found) = first_error(child, path) {
                return Some(found);
            }
            path.pop();
        }
        None
    }
    let message = body["message"].as_str().unwrap_or("request failed").to_string();
    match first_error(&body["errors"], &mut Vec::new()) {
        Some(detail) => format!("{message}: {detail}"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(target("123"), Ok(Target::Channel("123".into())));
        assert_eq!(target("channel:123"), Ok(Target::Channel("123".into())));
        assert_eq!(target("discord:channel:123"), Ok(Target::Channel("123".into())));
        assert_eq!(target("user:42"), Ok(Target::User("42".into())));
        assert_eq!(target("<@!42>"), Ok(Target::User("42".into())));
        for bad in ["", "user:", "channel:../../users/@me", "12a", "general", "user:123456789012345678901"] {
            assert!(target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn form_errors_name_the_field_and_pauses_are_bounded() {
        let body = json!({"message": "Invalid Form Body", "code": 50035,
                          "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}});
        assert_eq!(error_text(&body), "Invalid Form Body: content: Must be 2000 or fewer in length.");
        assert_eq!(error_text(&json!({"message": "Missing Access"})), "Missing Access");
        assert_eq!(seconds("0.250"), Some(Duration::from_millis(250)));
        for bad in ["-1", "NaN", "soon", ""] {
            assert_eq!(seconds(bad), None, "{bad:?}");
        }
        for huge in ["1e300", "inf"] {
            assert_eq!(seconds(huge), Some(limits::CHANNEL_RETRY_AFTER_MAX), "{huge:?}");
        }
    }

    #[test]
    fn rest_failures_are_transient_without_an_answer_and_by_status_otherwise() {
        let e = SendError::from(RestError { status: 0, message: "reset".into(), retry_after: Some(Duration::from_secs(3)) });
        assert_eq!(e, SendError::Transient { message: "reset".into(), retry_after: None });
        let e = SendError::from(RestError { status: 429, message: "slow".into(), retry_after: Some(Duration::from_secs(3)) });
        assert_eq!(e, SendError::Transient { message: "slow".into(), retry_after: Some(Duration::from_secs(3)) });
        assert!(matches!(SendError::from(RestError { status: 403, message: "no".into(), retry_after: None }), SendError::Permanent(_)));
    }
}
