//! What a channel reports: its [`Status`] with a [`HealthState`], and the JSON views of it in
//! `health` (`summary_json`) and `channels.status` (`account_json`, [`status_result`]).

use serde_json::{Value, json};

use crate::clock::now_ms;
use crate::config::channel_kind::ChannelKind;
use crate::config::channels as cfg;

/// A channel's health, as `healthState` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthState {
    /// The service answers.
    Healthy,
    /// Started, not connected yet.
    Connecting,
    /// Lost the connection; reconnecting with backoff.
    Reconnecting,
    /// Not running (stopped by request, or never started).
    #[default]
    Stopped,
    /// The service rejected the credentials; stopped until the config changes.
    AuthFailed,
    /// Credentials or ids are missing or refused.
    NotConfigured,
    /// `enabled: false`.
    Disabled,
    /// Not in this build.
    Unavailable,
    /// The journal is unusable, or the service refused something retrying cannot fix.
    Error,
}

impl HealthState {
    pub fn name(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Connecting => "connecting",
            HealthState::Reconnecting => "reconnecting",
            HealthState::Stopped => "stopped",
            HealthState::AuthFailed => "auth-failed",
            HealthState::NotConfigured => "not-configured",
            HealthState::Disabled => "disabled",
            HealthState::Unavailable => "unavailable",
            HealthState::Error => "error",
        }
    }
}

/// What one channel reports in `channels.status` and `health`.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub configured: bool,
    pub running: bool,
    pub connected: bool,
    pub reconnect_attempts: u64,
    pub last_connected_at: Option<u64>,
    pub last_error: Option<String>,
    pub health_state: HealthState,
    pub last_start_at: Option<u64>,
    pub last_stop_at: Option<u64>,
    pub last_inbound_at: Option<u64>,
    pub last_outbound_at: Option<u64>,
    pub last_transport_activity_at: Option<u64>,
    /// The bot's own name once known (`@name` on Telegram, the user name on Discord).
    pub bot: Option<String>,
    /// Things the channel cannot handle and keeps running past (an encrypted Matrix room);
    /// `warnings` in the account, cleared when the channel restarts.
    pub warnings: Vec<String>,
}

/// One channel in `health.channels`.
pub(super) fn summary_json(config: &cfg::Channel, s: &Status) -> Value {
    json!({
        "configured": s.configured,
        "enabled": config.enabled,
        "running": s.running,
        "connected": s.connected,
        "healthState": s.health_state.name(),
        "lastError": s.last_error,
        "lastInboundAt": s.last_inbound_at,
        "lastOutboundAt": s.last_outbound_at,
        // Liveness ("last progress 12 s ago") rides on every `health` event, so the panel
        // needs no `channels.status` round trip to show it.
        "lastTransportActivityAt": s.last_transport_activity_at,
        "reconnectAttempts": s.reconnect_attempts,
    })
}

/// One channel's account in `channels.status`; `started` when it has a transport (which is
/// when it reports a `mode`).
pub(super) fn account_json(config: &cfg::Channel, s: &Status, started: bool) -> Value {
    let mut a = json!({
        "accountId": "default",
        "enabled": config.enabled,
        "configured": s.configured,
        "running": s.running,
        "connected": s.connected,
        "reconnectAttempts": s.reconnect_attempts,
        "lastConnectedAt": s.last_connected_at,
        "lastError": s.last_error,
        "healthState": s.health_state.name(),
        "lastStartAt": s.last_start_at,
        "lastStopAt": s.last_stop_at,
        "lastInboundAt": s.last_inbound_at,
        "lastOutboundAt": s.last_outbound_at,
        "lastTransportActivityAt": s.last_transport_activity_at,
        "dmPolicy": config.access.dm_policy.name(),
        "allowFrom": config.access.allow_from,
        "tokenSource": config.service.token_source().name(),
        "baseUrl": config.service.base_url(),
        "allowUnmentionedGroups": !config.access.require_mention,
    });
    if started {
        a["mode"] = json!(config.kind().mode());
    }
    if let Some(b) = &s.bot {
        a["name"] = json!(b);
    }
    if !s.warnings.is_empty() {
        a["warnings"] = json!(s.warnings);
    }
    if let cfg::Service::WhatsApp(w) = &config.service {
        a["webhookPath"] = json!(w.webhook_path);
    }
    a
}

/// The `channels.status` result.
pub fn status_result(accounts: Vec<(ChannelKind, Value)>) -> Value {
    let mut order = Vec::new();
    let (mut labels, mut details, mut channels, mut by_channel, mut defaults) =
        (serde_json::Map::new(), serde_json::Map::new(), serde_json::Map::new(), serde_json::Map::new(), serde_json::Map::new());
    let mut meta = Vec::new();
    for (kind, account) in accounts {
        let id = kind.id();
        order.push(id);
        labels.insert(id.into(), json!(kind.label()));
        details.insert(id.into(), json!(kind.detail_label()));
        meta.push(json!({"id": id, "label": kind.label(), "detailLabel": kind.detail_label()}));
        let mut summary = json!({});
        for k in ["configured", "running", "connected", "lastError", "healthState", "lastInboundAt", "lastOutboundAt", "mode", "probe"] {
            if let Some(v) = account.get(k) {
                summary[k] = v.clone();
            }
        }
        channels.insert(id.into(), summary);
        by_channel.insert(id.into(), json!([account]));
        defaults.insert(id.into(), json!("default"));
    }
    json!({
        "ts": now_ms(),
        "channelOrder": order,
        "channelLabels": labels,
        "channelDetailLabels": details,
        "channelSystemImages": {},
        "channelMeta": meta,
        "channels": channels,
        "channelAccounts": by_channel,
        "channelDefaultAccountId": defaults,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Every kind: its id names a config section, the section reads back as that kind, and the
    /// status reports it under the same id, label and mode.
    #[test]
    fn every_channel_kind_round_trips_through_config_and_status() {
        for kind in ChannelKind::ALL {
            let raw = json!({"channels": {kind.id(): {"enabled": true}}});
            let resolver = crate::config::model::Resolver { env: &|_| None, home: std::path::Path::new("/home/pi") };
            let (config, checker) = Config::from_value(&raw, &resolver);
            assert!(checker.issues.is_empty(), "{kind}: {:?}", checker.issues);
            assert_eq!(config.channels.list.len(), 1, "{kind}");
            let channel = config.channels.get(kind).expect("a section for every kind");
            assert_eq!(channel.kind(), kind);
            assert_eq!(ChannelKind::from_id(kind.id()), Some(kind));
            assert_eq!(channel.text_chunk_limit, kind.default_chunk_limit());
            let status = Status { configured: true, health_state: HealthState::Healthy, ..Status::default() };
            let account = account_json(channel, &status, true);
            assert_eq!(account["mode"], kind.mode());
            let result = status_result(vec![(kind, account)]);
            assert_eq!(result["channelOrder"], json!([kind.id()]));
            assert_eq!(result["channelLabels"][kind.id()], kind.label());
            assert_eq!(result["channelDetailLabels"][kind.id()], kind.detail_label());
            assert_eq!(result["channels"][kind.id()]["healthState"], "healthy");
            assert_eq!(result["channelAccounts"][kind.id()][0]["accountId"], "default");
            for other in ChannelKind::ALL.into_iter().filter(|k| *k != kind) {
                assert!(config.channels.get(other).is_none(), "{kind}'s section must not configure {other}");
            }
        }
    }
}
