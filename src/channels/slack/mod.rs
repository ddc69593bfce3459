//! Slack: Socket Mode in (a WebSocket the app-level token opens with `apps.connections.open`),
//! the Web API out (`chat.postMessage` with the bot token). This file is the Web API client;
//! [`socket`] holds the receiver and [`wire`] the Socket Mode payloads it reads.
//!
//! Every Web API answer is HTTP 200 with `ok`, except rate limits (HTTP 429 with `Retry-After`).
//! Errors are classified once here: credentials Slack refuses (the receiver stops with a clear
//! status instead of looping), transient ones (rate limits, Slack's own failures: retried with
//! the wait Slack names, else with backoff) and the rest (a bad channel: retrying cannot help).

mod socket;
pub(crate) mod wire;

pub use socket::receive;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{SendError, call_json};
use crate::config::channels as cfg;
use crate::config::secret::Secret;
use crate::limits;

/// DM channels remembered per user (`conversations.open` answers the same one every time).
const DM_CHANNELS_MAX: usize = 1024;

/// Error codes that mean the token itself is refused (the Slack SDKs stop on these too).
const AUTH_ERRORS: &[&str] =
    &["invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "user_removed_from_team", "team_disabled"];

/// Error codes worth another try: Slack's own failures and its rate limits.
const TRANSIENT_ERRORS: &[&str] =
    &["ratelimited", "rate_limited", "fatal_error", "internal_error", "request_timeout", "service_unavailable"];

#[derive(Clone)]
pub struct Client {
    app_token: Secret,
    bot_token: Secret,
    /// Web API base without a trailing slash (`https://slack.com/api`).
    api_root: String,
    dm_channels: Arc<Mutex<HashMap<String, String>>>,
}

/// A Web API call that failed: HTTP status (0: no answer; 200 with `ok: false`), Slack's error
/// code, and the wait a 429 asked for.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub error: String,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// The token was refused: retrying with it cannot help.
    pub fn auth(&self) -> bool {
        self.status == 401 || AUTH_ERRORS.contains(&self.error.as_str())
    }

    pub fn transient(&self) -> bool {
        self.status == 0 || self.status == 429 || self.status >= 500 || TRANSIENT_ERRORS.contains(&self.error.as_str())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            200 => f.write_str(&self.error),
            0 => write!(f, "no answer: {}", self.error),
            s => write!(f, "{} (HTTP {s})", self.error),
        }
    }
}

impl From<ApiError> for SendError {
    fn from(e: ApiError) -> SendError {
        if e.transient() {
            SendError::Transient { message: format!("Slack: {e}"), retry_after: e.retry_after }
        } else {
            SendError::Permanent(format!("Slack: {e}"))
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A conversation id: `C…` (channel), `G…` (private, legacy), `D…` (direct message).
    Conversation(String),
    /// A user id (`U…`/`W…`), whose DM `conversations.open` finds.
    User(String),
}

/// A Slack id: upper-case letters and digits, starting with a letter. Ids go into request
/// bodies, but nothing else is taken for one.
fn slack_id(id: &str) -> bool {
    (2..=24).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `C123`, `channel:C123`, `slack:C123`, `user:U123`, `<@U123>` or a bare `U123`.
pub(crate) fn target(to: &str) -> Result<Target, String> {
    let t = to.trim();
    let t = t.strip_prefix("slack:").unwrap_or(t);
    let (user, id) = if let Some(id) = t.strip_prefix("channel:") {
        (false, id)
    } else if let Some(id) = t.strip_prefix("user:") {
        (true, id)
    } else if let Some(id) = t.strip_prefix("<@").and_then(|r| r.strip_suffix('>')) {
        (true, id)
    } else {
        (t.starts_with('U') || t.starts_with('W'), t)
    };
    if !slack_id(id) {
        return Err(format!("{to:?} is not a Slack target (a channel id such as C0123ABCD, or user:U0123ABCD)"));
    }
    Ok(if user { Target::User(id.to_string()) } else { Target::Conversation(id.to_string()) })
}

/// Who the bot is (`auth.test`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BotIdentity {
    pub user_id: String,
    pub bot_id: String,
    pub name: String,
}

impl Client {
    pub fn new(c: &cfg::Slack) -> Result<Client, String> {
        let (Some(app_token), Some(bot_token)) = (&c.app_token, &c.bot_token) else {
            return Err(
                "missing tokens: set channels.slack.appToken (xapp-…, or SLACK_APP_TOKEN) and botToken (xoxb-…, or SLACK_BOT_TOKEN)".into(),
            );
        };
        Ok(Client {
            app_token: app_token.clone(),
            bot_token: bot_token.clone(),
            api_root: c.api_root.trim_end_matches('/').to_string(),
            dm_channels: Arc::default(),
        })
    }

    /// One Web API call with `token`: the answer when `ok`, else why not.
    async fn call(&self, method: &str, token: &Secret, body: &Value) -> Result<Value, ApiError> {
        let url = format!("{}/{method}", self.api_root);
        let auth = format!("Bearer {}", token.expose());
        let headers = [("Authorization", auth.as_str())];
        let reply = call_json("POST", &url, &headers, Some(body), limits::CHANNEL_REQUEST_TIMEOUT).await.map_err(|e| ApiError {
            status: 0,
            error: format!("{method}: {e}"),
            retry_after: None,
        })?;
        let error = reply.body["error"].as_str().map(str::to_string);
        match (reply.status, reply.body["ok"].as_bool()) {
            (200, Some(true)) => Ok(reply.body),
            (200, _) => Err(ApiError { status: 200, error: error.unwrap_or_else(|| "answer without ok".into()), retry_after: None }),
            (status, _) => Err(ApiError {
                status,
                error: error.unwrap_or_else(|| format!("{method} failed")),
                retry_after: reply.retry_after.map(|r| r.min(limits::CHANNEL_RETRY_AFTER_MAX)),
            }),
        }
    }

    /// `auth.test` with the bot token: who the bot is.
    pub(crate) async fn whoami(&self) -> Result<BotIdentity, ApiError> {
        let v = self.call("auth.test", &self.bot_token, &json!({})).await?;
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let me = BotIdentity { user_id: text("user_id"), bot_id: text("bot_id"), name: text("user") };
        if me.user_id.is_empty() {
            return Err(ApiError { status: 200, error: "auth.test answered without user_id".into(), retry_after: None });
        }
        Ok(me)
    }

    /// `apps.connections.open` with the app-level token: a single-use WebSocket URL.
    pub(crate) async fn socket_url(&self) -> Result<String, ApiError> {
        let v = self.call("apps.connections.open", &self.app_token, &json!({})).await?;
        match v["url"].as_str() {
            Some(u) if u.starts_with("wss://") || u.starts_with("ws://") => Ok(u.to_string()),
            _ => Err(ApiError { status: 200, error: "apps.connections.open answered without a ws URL".into(), retry_after: None }),
        }
    }

    /// The conversation to post in: the target itself, or the user's DM (opened once).
    async fn conversation(&self, to: &str) -> Result<String, SendError> {
        let user = match target(to).map_err(SendError::Permanent)? {
            Target::Conversation(id) => return Ok(id),
            Target::User(id) => id,
        };
        if let Some(c) = self.dm_channels.lock().unwrap_or_else(|p| p.into_inner()).get(&user) {
            return Ok(c.clone());
        }
        let v = self.call("conversations.open", &self.bot_token, &json!({"users": user})).await?;
        let Some(id) = v["channel"]["id"].as_str().filter(|id| slack_id(id)) else {
            return Err(SendError::Transient { message: "conversations.open answered without a channel id".into(), retry_after: None });
        };
        let mut dms = self.dm_channels.lock().unwrap_or_else(|p| p.into_inner());
        if dms.len() >= DM_CHANNELS_MAX {
            // Forgetting them costs one request each the next time.
            dms.clear();
        }
        dms.insert(user, id.to_string());
        Ok(id.to_string())
    }

    /// Posts one piece; `thread` is the thread's root `ts` when the answer belongs in a thread.
    pub async fn send(&self, to: &str, text: &str, thread: Option<&str>) -> Result<String, SendError> {
        let channel = self.conversation(to).await?;
        let mut body = json!({"channel": channel, "text": text, "unfurl_links": false, "unfurl_media": false});
        if let Some(ts) = thread.filter(|t| !t.is_empty()) {
            body["thread_ts"] = json!(ts);
        }
        let v = self.call("chat.postMessage", &self.bot_token, &body).await?;
        Ok(v["ts"].as_str().unwrap_or_default().to_string())
    }

    pub async fn probe(&self) -> Result<Value, String> {
        let v = self.call("auth.test", &self.bot_token, &json!({})).await.map_err(|e| format!("auth.test: {e}"))?;
        Ok(
            json!({"bot": {"id": v["user_id"], "botId": v["bot_id"], "username": v["user"]}, "team": {"id": v["team_id"], "name": v["team"]}}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(target("C0123ABCD"), Ok(Target::Conversation("C0123ABCD".into())));
        assert_eq!(target("slack:channel:D024BE91L"), Ok(Target::Conversation("D024BE91L".into())));
        assert_eq!(target("user:U0123"), Ok(Target::User("U0123".into())));
        assert_eq!(target("<@U0123>"), Ok(Target::User("U0123".into())));
        assert_eq!(target("U0123"), Ok(Target::User("U0123".into())));
        for bad in ["", "#general", "channel:", "c0123", "C01 23", "user:../x"] {
            assert!(target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_are_classified() {
        let e = |status: u16, error: &str| ApiError { status, error: error.into(), retry_after: None };
        assert!(e(200, "invalid_auth").auth() && !e(200, "invalid_auth").transient());
        assert!(e(200, "not_authed").auth());
        assert!(e(429, "ratelimited").transient() && e(200, "rate_limited").transient() && e(0, "reset").transient());
        assert!(e(503, "x").transient() && e(200, "internal_error").transient());
        assert!(matches!(SendError::from(e(200, "channel_not_found")), SendError::Permanent(m) if m.contains("channel_not_found")));
        let limited = ApiError { status: 429, error: "ratelimited".into(), retry_after: Some(Duration::from_secs(2)) };
        assert!(matches!(SendError::from(limited), SendError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(2)));
    }
}
