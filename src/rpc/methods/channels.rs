//! Chat channel methods: `channels.status`, `channels.start|stop`, `channels.pairing.*` and the
//! direct outbound `send`.

use serde_json::{Value, json};
use std::time::Duration;

use super::Call;
use crate::channels::{self, ChannelKind};
use crate::error::Error;
use crate::limits::CHANNEL_PROBE_TIMEOUT_DEFAULT;
use crate::limits::PAIRING_CODE_TTL;
use crate::rpc::params;

/// `channels.status {probe?, timeoutMs?, channel?}`.
pub async fn status(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("channels.status", p, &["probe", "timeoutMs", "channel"])?;
    let probe = p.opt_bool("probe").unwrap_or(false);
    let timeout =
        p.opt_int("timeoutMs", 0, 120_000).map(|ms| Duration::from_millis(ms.max(100) as u64)).unwrap_or(CHANNEL_PROBE_TIMEOUT_DEFAULT);
    let only = p.opt_str("channel", 1, 64);
    p.done()?;
    let accounts = call.gw.channels.accounts(only.as_deref(), probe, timeout).await;
    Ok(channels::status_result(accounts))
}

fn channel_param(p: &mut params::Params<'_>) -> Option<String> {
    p.opt_str("channel", 1, 64).map(|c| c.to_ascii_lowercase())
}

fn known(channel: &str) -> Result<ChannelKind, Error> {
    ChannelKind::from_id(channel)
        .ok_or_else(|| Error::invalid(format!("unknown channel {channel:?} (this gateway has: {})", ChannelKind::id_list())))
}

/// `channels.start {channel, accountId?}`.
pub async fn start(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let (channel, _) = start_stop_params("channels.start", p)?;
    call.gw.channels.start(channel).await.map_err(Error::invalid)?;
    Ok(json!({"ok": true, "channel": channel.id(), "accountId": "default"}))
}

/// `channels.stop {channel, accountId?}`.
pub async fn stop(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let (channel, _) = start_stop_params("channels.stop", p)?;
    call.gw.channels.stop(channel).await.map_err(Error::invalid)?;
    Ok(json!({"ok": true, "channel": channel.id(), "accountId": "default"}))
}

fn start_stop_params(method: &str, p: &Option<Value>) -> Result<(ChannelKind, Option<String>), Error> {
    let mut p = params::closed(method, p, &["channel", "accountId"])?;
    p.require(&["channel"]);
    let channel = channel_param(&mut p);
    let account = p.opt_str("accountId", 0, 64);
    p.done()?;
    let channel = known(&channel.unwrap_or_default())?;
    account_is_default(account.as_deref())?;
    Ok((channel, account))
}

/// One account per channel here: `default`.
fn account_is_default(account: Option<&str>) -> Result<(), Error> {
    match account {
        None | Some("") | Some("default") => Ok(()),
        Some(other) => Err(Error::invalid(format!("unknown account {other:?}: this gateway runs one account per channel (\"default\")"))),
    }
}

fn iso(ms: u64) -> String {
    crate::clock::utc(ms).rfc3339(true)
}

/// `channels.pairing.list {channel?, accountId?}`.
pub async fn pairing_list(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("channels.pairing.list", p, &["channel", "accountId"])?;
    let only = channel_param(&mut p);
    let account = p.opt_str("accountId", 1, 64);
    p.done()?;
    account_is_default(account.as_deref())?;
    let now = crate::clock::now_ms();
    let store = call.gw.channels.pairing().clone();
    let configured: Vec<ChannelKind> =
        call.gw.channels.configured().into_iter().filter(|c| only.as_deref().is_none_or(|o| o == c.id())).collect();
    let kinds = configured.clone();
    let pending = smol::unblock(move || kinds.iter().map(|c| (*c, store.pending(c.id(), now))).collect::<Vec<_>>()).await;
    let mut requests = Vec::new();
    for (channel, list) in pending {
        let list = list.map_err(|e| Error::unavailable(format!("cannot read the {channel} pairing requests: {e}")))?;
        for r in list {
            let mut item = json!({
                "requestId": r.code,
                "channel": channel.id(),
                "channelLabel": channel.label(),
                "accountId": "default",
                "senderId": r.sender_id,
                "senderLabel": if r.sender_label.is_empty() { r.sender_id.clone() } else { r.sender_label.clone() },
                "createdAt": iso(r.created_at),
                "lastSeenAt": iso(r.last_seen_at),
                "expiresAt": iso(r.expires_at()),
                "notifySupported": true,
            });
            item["metadata"] = json!({"code": r.code});
            requests.push(item);
        }
    }
    let accounts: Vec<Value> = configured
        .iter()
        .map(|c| json!({"channel": c.id(), "channelLabel": c.label(), "accountId": "default", "notifySupported": true}))
        .collect();
    Ok(json!({
        "accounts": accounts,
        "requests": requests,
        "commandOwnerConfigured": false,
        "limits": {"pendingPerAccount": crate::limits::PAIRING_PENDING_MAX, "ttlMs": PAIRING_CODE_TTL.as_millis() as u64},
    }))
}

fn resolve_params(method: &str, p: &Option<Value>, extra: &[&str]) -> Result<(ChannelKind, String, Option<bool>), Error> {
    let mut keys = vec!["channel", "accountId", "requestId"];
    keys.extend_from_slice(extra);
    let mut p = params::closed(method, p, &keys)?;
    p.require(&["channel", "accountId", "requestId"]);
    let channel = channel_param(&mut p).unwrap_or_default();
    let account = p.opt_str("accountId", 1, 64);
    let code = p.opt_str("requestId", 1, 64).unwrap_or_default();
    let notify = if extra.contains(&"notify") { p.opt_bool("notify") } else { None };
    if extra.contains(&"bootstrapCommandOwner") {
        p.opt_bool("bootstrapCommandOwner");
    }
    p.done()?;
    let channel = known(&channel)?;
    account_is_default(account.as_deref())?;
    Ok((channel, code, notify))
}

/// `channels.pairing.approve {channel, accountId, requestId, notify?}`: `requestId` is the code.
pub async fn pairing_approve(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let (channel, code, notify) = resolve_params("channels.pairing.approve", p, &["notify", "bootstrapCommandOwner"])?;
    let store = call.gw.channels.pairing().clone();
    let c = code.clone();
    let approved = smol::unblock(move || store.approve(channel.id(), &c, crate::clock::now_ms()))
        .await
        .map_err(|e| Error::unavailable(format!("cannot update the pairing store: {e}")))?;
    let Some(req) = approved else {
        return Err(Error::invalid(format!("no pending {channel} pairing request with code {code} (codes expire after 1 hour)")));
    };
    log::info!(target: "channels", "{channel}: pairing approved for {} ({})", req.sender_id, req.sender_label);
    let notification = if notify == Some(true) {
        if call.gw.channels.notify(channel, &req.chat, "✅ OpenClaw access approved. Send a message to start chatting.").await {
            "sent"
        } else {
            "failed"
        }
    } else {
        "not-requested"
    };
    Ok(json!({"requestId": code, "senderId": req.sender_id, "notification": notification, "commandOwnerBootstrap": "not-requested"}))
}

/// `channels.pairing.dismiss {channel, accountId, requestId}`.
pub async fn pairing_dismiss(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let (channel, code, _) = resolve_params("channels.pairing.dismiss", p, &[])?;
    let store = call.gw.channels.pairing().clone();
    let c = code.clone();
    let dismissed = smol::unblock(move || store.dismiss(channel.id(), &c, crate::clock::now_ms()))
        .await
        .map_err(|e| Error::unavailable(format!("cannot update the pairing store: {e}")))?;
    match dismissed {
        Some(req) => Ok(json!({"requestId": code, "senderId": req.sender_id})),
        None => Err(Error::invalid(format!("no pending {channel} pairing request with code {code}"))),
    }
}

const SEND_KEYS: &[&str] = &[
    "to",
    "message",
    "mediaUrl",
    "mediaUrls",
    "buffer",
    "filename",
    "contentType",
    "asVoice",
    "gifPlayback",
    "channel",
    "accountId",
    "agentId",
    "replyToId",
    "threadId",
    "forceDocument",
    "silent",
    "parseMode",
    "sessionKey",
    "idempotencyKey",
];

/// `send {to, message, channel?, accountId?, idempotencyKey}`: text straight to a chat, no agent
/// run. Media is not supported by this gateway and is refused rather than dropped silently.
pub async fn send(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("send", p, SEND_KEYS)?;
    p.require(&["to", "idempotencyKey"]);
    let to = p.opt_str("to", 1, 256).unwrap_or_default();
    let message = p.opt_str("message", 0, 1_000_000);
    let channel = channel_param(&mut p);
    let account = p.opt_str("accountId", 0, 64);
    let key = p.opt_str("idempotencyKey", 1, 256).unwrap_or_default();
    let media = ["mediaUrl", "mediaUrls", "buffer"].iter().any(|k| p.raw(k).is_some());
    p.done()?;
    if media {
        return Err(Error::invalid("media is not supported by this gateway; send text in \"message\""));
    }
    let Some(message) = message.filter(|m| !m.trim().is_empty()) else {
        return Err(Error::invalid("send needs a non-empty \"message\""));
    };
    let channel = channel.as_deref().map(known).transpose()?;
    account_is_default(account.as_deref())?;
    call.gw.channels.send(channel, &to, &message, &key).await.map_err(Error::unavailable)
}
