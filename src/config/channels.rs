//! `channels.*`: which chat services the gateway connects to, their credentials and who may talk
//! to the agent through them. The official section is much larger (streaming, reactions, media,
//! multi-account); the keys this gateway acts on are type-checked and the rest are kept.
//!
//! A channel runs when its block exists and `enabled` is not `false` (environment tokens alone do
//! not start one, as in OpenClaw). Missing credentials are not a config error: the channel is
//! reported as not configured with a message saying what to set, and the rest of the gateway runs.

use serde_json::Value;

use super::channel_kind::ChannelKind;
use super::check::{Checker, Section};
use super::model::{Resolver, SecretProvider, resolve_secret};
use super::secret::Secret;

mod irc;
use irc::irc;
pub use irc::valid_nick;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmPolicy {
    /// Unknown senders get a pairing code; the owner approves it.
    Pairing,
    /// Only `allowFrom` (and approved pairings).
    Allowlist,
    /// Anyone (`allowFrom` must contain `"*"`).
    Open,
    Disabled,
}

impl DmPolicy {
    pub fn name(self) -> &'static str {
        match self {
            DmPolicy::Pairing => "pairing",
            DmPolicy::Allowlist => "allowlist",
            DmPolicy::Open => "open",
            DmPolicy::Disabled => "disabled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPolicy {
    /// Only groups listed under `groups` (or `"*"`), or senders in `groupAllowFrom`.
    Allowlist,
    Open,
    Disabled,
}

/// `groups.<id>`: per-group overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRule {
    pub id: String,
    pub enabled: bool,
    pub require_mention: Option<bool>,
}

/// The keys every channel shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub dm_policy: DmPolicy,
    pub allow_from: Vec<String>,
    pub group_policy: GroupPolicy,
    pub group_allow_from: Vec<String>,
    pub groups: Vec<GroupRule>,
    /// Group messages need a mention unless a group rule says otherwise (default true).
    pub require_mention: bool,
}

/// Where a credential came from (`tokenSource` in `channels.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Config,
    File,
    Env,
    None,
}

impl TokenSource {
    pub fn name(self) -> &'static str {
        match self {
            TokenSource::Config => "config",
            TokenSource::File => "tokenFile",
            TokenSource::Env => "env",
            TokenSource::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telegram {
    pub token: Option<Secret>,
    pub token_source: TokenSource,
    /// Bot API server (`https://api.telegram.org`, or a self-hosted one).
    pub api_root: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discord {
    pub token: Option<Secret>,
    pub token_source: TokenSource,
    /// REST base, `https://discord.com/api/v10`.
    pub api_root: String,
    /// Gateway URL; asked of `GET /gateway/bot` when not set.
    pub gateway_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatsApp {
    pub access_token: Option<Secret>,
    pub token_source: TokenSource,
    pub phone_number_id: Option<String>,
    /// Verifies `X-Hub-Signature-256`; without it every webhook POST is refused.
    pub app_secret: Option<Secret>,
    /// Answers the subscription handshake (`hub.verify_token`).
    pub verify_token: Option<Secret>,
    pub webhook_path: String,
    pub graph_root: String,
    pub api_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Irc {
    /// The server's host name; the channel reports "not configured" without one.
    pub host: Option<String>,
    /// 6697 with TLS, 6667 without, unless set.
    pub port: u16,
    /// TLS (the default); `false` for a plain connection.
    pub tls: bool,
    pub nick: String,
    pub username: String,
    pub realname: String,
    /// The server password (`PASS`), when the server wants one.
    pub password: Option<Secret>,
    pub password_source: TokenSource,
    /// SASL PLAIN account and password (`sasl.username`, `sasl.password`).
    pub sasl: Option<(String, Secret)>,
    /// Channels joined after registering (`#chan` or `#chan key`).
    pub channels: Vec<String>,
    /// `IDENTIFY` to the network's NickServ after registering (`nickserv.password`).
    pub nickserv: Option<NickServ>,
}

/// The NickServ account of the bot's nick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NickServ {
    pub password: Secret,
    /// Who gets the `IDENTIFY` line: `NickServ` unless `nickserv.service` says otherwise.
    pub service: String,
}

impl Irc {
    /// `irc(s)://host:port`, for `baseUrl`.
    pub fn server_url(&self) -> String {
        format!("{}://{}:{}", if self.tls { "ircs" } else { "irc" }, self.host.as_deref().unwrap_or(""), self.port)
    }
}

/// Which invites the Matrix channel accepts (`autoJoin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoJoin {
    /// Invites from senders the access policy admits (the default).
    Allowed,
    Always,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// The client-server API base, `https://matrix.example.org`.
    pub homeserver: String,
    /// `@bot:example.org`; needed for a password login, checked against `whoami` otherwise.
    pub user_id: Option<String>,
    pub access_token: Option<Secret>,
    pub token_source: TokenSource,
    /// Logs in with `userId` and this when there is no access token.
    pub password: Option<Secret>,
    pub device_name: String,
    pub auto_join: AutoJoin,
}

/// A user-run `signal-cli daemon --http` and the account it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// The E.164 number (`+15551234567`); passed as `account` to the daemon (needed when it runs
    /// in multi-account mode) and used to spot mentions and our own messages.
    pub account: Option<String>,
    pub account_source: TokenSource,
    /// The daemon's HTTP base, `http://127.0.0.1:8080`.
    pub http_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slack {
    /// The app-level token (`xapp-…`, scope `connections:write`): opens Socket Mode connections.
    pub app_token: Option<Secret>,
    /// The bot token (`xoxb-…`): every Web API call.
    pub bot_token: Option<Secret>,
    /// Where the bot token came from (`tokenSource`).
    pub token_source: TokenSource,
    /// Web API base, `https://slack.com/api`.
    pub api_root: String,
}

/// What differs between services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    Telegram(Telegram),
    Discord(Discord),
    WhatsApp(WhatsApp),
    Irc(Irc),
    Matrix(Matrix),
    Signal(Signal),
    Slack(Slack),
}

impl Service {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Service::Telegram(_) => ChannelKind::Telegram,
            Service::Discord(_) => ChannelKind::Discord,
            Service::WhatsApp(_) => ChannelKind::WhatsApp,
            Service::Irc(_) => ChannelKind::Irc,
            Service::Matrix(_) => ChannelKind::Matrix,
            Service::Signal(_) => ChannelKind::Signal,
            Service::Slack(_) => ChannelKind::Slack,
        }
    }

    /// Where the credential came from (`tokenSource`).
    pub fn token_source(&self) -> TokenSource {
        match self {
            Service::Telegram(t) => t.token_source,
            Service::Discord(d) => d.token_source,
            Service::WhatsApp(w) => w.token_source,
            Service::Irc(i) => i.password_source,
            Service::Matrix(m) => m.token_source,
            Service::Signal(s) => s.account_source,
            Service::Slack(s) => s.token_source,
        }
    }

    /// The API base the channel talks to (`baseUrl`).
    pub fn base_url(&self) -> String {
        match self {
            Service::Telegram(t) => t.api_root.clone(),
            Service::Discord(d) => d.api_root.clone(),
            Service::WhatsApp(w) => w.graph_root.clone(),
            Service::Irc(i) => i.server_url(),
            Service::Matrix(m) => m.homeserver.clone(),
            Service::Signal(s) => s.http_url.clone(),
            Service::Slack(s) => s.api_root.clone(),
        }
    }
}

/// One `channels.<id>` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub enabled: bool,
    pub access: Access,
    /// Longest message sent in one piece; longer replies are split.
    pub text_chunk_limit: usize,
    pub service: Service,
}

impl Channel {
    pub fn kind(&self) -> ChannelKind {
        self.service.kind()
    }
}

/// Who gets which session for a direct message (`session.dmScope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DmScope {
    /// Every direct message shares the agent's main session (the official default).
    #[default]
    Main,
    PerPeer,
    PerChannelPeer,
    PerAccountChannelPeer,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Channels {
    /// Configured channels in [`ChannelKind::ALL`] order.
    pub list: Vec<Channel>,
}

impl Channels {
    pub fn get(&self, kind: ChannelKind) -> Option<&Channel> {
        self.list.iter().find(|c| c.kind() == kind)
    }
}

const COMMON: &[&str] =
    &["enabled", "dmPolicy", "allowFrom", "groupPolicy", "groupAllowFrom", "groups", "requireMention", "textChunkLimit"];

pub(super) fn channels(c: &mut Checker, root: &Section, resolver: &Resolver, secrets: &[SecretProvider]) -> Channels {
    let ids = ChannelKind::ALL.map(ChannelKind::id);
    let all = c.partial_section(root, "channels", &ids);
    let mut list = Vec::new();
    for kind in ChannelKind::ALL {
        if !all.has(kind.id()) {
            continue;
        }
        let used: Vec<&str> = COMMON.iter().chain(kind.config_keys()).copied().collect();
        let s = c.partial_section(&all, kind.id(), &used);
        let access = access(c, &s);
        let limit = kind.text_limit() as u64;
        let text_chunk_limit = c.int(&s, "textChunkLimit", 1, limit).map(|n| n as usize).unwrap_or(kind.default_chunk_limit());
        let service = match kind {
            ChannelKind::Telegram => Service::Telegram(telegram(c, &s, resolver, secrets)),
            ChannelKind::Discord => Service::Discord(discord(c, &s, resolver, secrets)),
            ChannelKind::WhatsApp => Service::WhatsApp(whatsapp(c, &s, resolver, secrets)),
            ChannelKind::Irc => Service::Irc(irc(c, &s, resolver, secrets)),
            ChannelKind::Matrix => Service::Matrix(matrix(c, &s, resolver, secrets)),
            ChannelKind::Signal => Service::Signal(signal(c, &s, resolver)),
            ChannelKind::Slack => Service::Slack(slack(c, &s, resolver, secrets)),
        };
        list.push(Channel { enabled: c.bool(&s, "enabled").unwrap_or(true), access, text_chunk_limit, service });
    }
    Channels { list }
}

pub(super) fn dm_scope(c: &mut Checker, session: &Section) -> DmScope {
    c.one_of(
        session,
        "dmScope",
        &[
            ("main", DmScope::Main),
            ("per-peer", DmScope::PerPeer),
            ("per-channel-peer", DmScope::PerChannelPeer),
            ("per-account-channel-peer", DmScope::PerAccountChannelPeer),
        ],
    )
    .unwrap_or_default()
}

fn access(c: &mut Checker, s: &Section) -> Access {
    let dm_policy = c
        .one_of(
            s,
            "dmPolicy",
            &[
                ("pairing", DmPolicy::Pairing),
                ("allowlist", DmPolicy::Allowlist),
                ("open", DmPolicy::Open),
                ("disabled", DmPolicy::Disabled),
            ],
        )
        .unwrap_or(DmPolicy::Pairing);
    let allow_from = ids(c, s, "allowFrom");
    if dm_policy == DmPolicy::Open && !allow_from.iter().any(|a| a == "*") {
        c.issue(&s.child_path("allowFrom"), "dmPolicy \"open\" needs allowFrom to contain \"*\" (anyone may message the agent)");
    }
    if dm_policy == DmPolicy::Allowlist && allow_from.is_empty() {
        c.issue(
            &s.child_path("allowFrom"),
            "dmPolicy \"allowlist\" with an empty allowFrom lets nobody in; list sender ids or use \"pairing\"",
        );
    }
    let group_policy = c
        .one_of(
            s,
            "groupPolicy",
            &[("allowlist", GroupPolicy::Allowlist), ("open", GroupPolicy::Open), ("disabled", GroupPolicy::Disabled)],
        )
        .unwrap_or(GroupPolicy::Allowlist);
    let mut groups = Vec::new();
    let g = c.map(s, "groups");
    if let Some(map) = g.map {
        for (id, v) in map {
            let r = c.partial_object_at(g.child_path(id), Some(v), &["enabled", "requireMention"]);
            groups.push(GroupRule {
                id: id.clone(),
                enabled: c.bool(&r, "enabled").unwrap_or(true),
                require_mention: c.bool(&r, "requireMention"),
            });
        }
    }
    Access {
        dm_policy,
        allow_from,
        group_policy,
        // groupAllowFrom falls back to allowFrom (never to the pairing store).
        group_allow_from: if s.has("groupAllowFrom") { ids(c, s, "groupAllowFrom") } else { ids(c, s, "allowFrom") },
        groups,
        require_mention: c.bool(s, "requireMention").unwrap_or(true),
    }
}

/// Sender ids as strings (configs often hold numeric ids as numbers); prefixes such as
/// `telegram:` or `tg:` are dropped.
fn ids(c: &mut Checker, s: &Section, key: &str) -> Vec<String> {
    let Some(v) = s.get(key) else { return Vec::new() };
    let Value::Array(items) = v else {
        c.issue(&s.child_path(key), "expected an array of sender ids");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(t) => out.push(normalize_sender(t)),
            Value::Number(n) => out.push(n.to_string()),
            _ => c.issue(&format!("{}[{i}]", s.child_path(key)), "expected a sender id (string or number)"),
        }
    }
    out
}

/// `telegram:123` / `tg:123` / `discord:456` / `user:456` / `+1555…` → the bare id.
pub fn normalize_sender(raw: &str) -> String {
    let lower = raw.trim().to_lowercase();
    let t = lower.as_str();
    let t = ["telegram:", "tg:", "discord:", "user:", "whatsapp:", "wa:", "irc:", "matrix:", "signal:", "slack:"]
        .iter()
        .find_map(|p| t.strip_prefix(p))
        .unwrap_or(t);
    t.trim_start_matches('+').to_string()
}

/// A credential from config (string or SecretRef), a file, or the environment, in the official
/// precedence (file, then config, then env).
fn credential(
    c: &mut Checker,
    s: &Section,
    key: &str,
    file_key: Option<&str>,
    env: &str,
    resolver: &Resolver,
    secrets: &[SecretProvider],
) -> (Option<Secret>, TokenSource) {
    if let Some(fk) = file_key.filter(|k| s.has(k)) {
        if let Some(path) = c.text(s, fk) {
            let path = super::paths::expand_tilde(&path, resolver.home);
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() && m.len() <= 64 * 1024 => match std::fs::read_to_string(&path) {
                    Ok(t) if !t.trim().is_empty() => return (Some(Secret::new(t.trim().to_string())), TokenSource::File),
                    Ok(_) => c.issue(&s.child_path(fk), format!("{} is empty", path.display())),
                    Err(e) => c.issue(&s.child_path(fk), format!("cannot read {}: {e}", path.display())),
                },
                Ok(_) => c.issue(&s.child_path(fk), format!("{} must be a regular file of at most 64 KiB", path.display())),
                Err(e) => c.issue(&s.child_path(fk), format!("cannot read {}: {e}", path.display())),
            }
        }
    }
    let input = c.secret(s, key);
    if let Some(v) = resolve_secret(c, &s.child_path(key), input, resolver, secrets) {
        return (Some(v), TokenSource::Config);
    }
    match (resolver.env)(env).filter(|v| !v.trim().is_empty()) {
        Some(v) => (Some(Secret::new(v.trim().to_string())), TokenSource::Env),
        None => (None, TokenSource::None),
    }
}

fn url(c: &mut Checker, s: &Section, key: &str, default: &str) -> String {
    match c.text(s, key) {
        Some(u) => match crate::url::Url::parse(&u) {
            Ok(_) => u.trim_end_matches('/').to_string(),
            Err(e) => {
                c.issue(&s.child_path(key), format!("not a usable http(s) URL: {e}"));
                default.to_string()
            }
        },
        None => default.to_string(),
    }
}

fn telegram(c: &mut Checker, s: &Section, resolver: &Resolver, secrets: &[SecretProvider]) -> Telegram {
    let (token, token_source) = credential(c, s, "botToken", Some("tokenFile"), ChannelKind::Telegram.token_env(), resolver, secrets);
    Telegram { token, token_source, api_root: url(c, s, "apiRoot", "https://api.telegram.org") }
}

fn discord(c: &mut Checker, s: &Section, resolver: &Resolver, secrets: &[SecretProvider]) -> Discord {
    let (token, token_source) = credential(c, s, "token", None, ChannelKind::Discord.token_env(), resolver, secrets);
    let gateway_url = c.text(s, "gatewayUrl").map(|u| u.trim_end_matches('/').to_string());
    if let Some(u) = &gateway_url {
        if !(u.starts_with("wss://") || u.starts_with("ws://")) {
            c.issue(&s.child_path("gatewayUrl"), format!("must be a ws:// or wss:// URL, got {u:?}"));
        }
    }
    Discord { token, token_source, api_root: url(c, s, "apiRoot", "https://discord.com/api/v10"), gateway_url }
}

fn whatsapp(c: &mut Checker, s: &Section, resolver: &Resolver, secrets: &[SecretProvider]) -> WhatsApp {
    let (access_token, token_source) = credential(c, s, "accessToken", None, ChannelKind::WhatsApp.token_env(), resolver, secrets);
    let (app_secret, _) = credential(c, s, "appSecret", None, "WHATSAPP_APP_SECRET", resolver, secrets);
    let (verify_token, _) = credential(c, s, "verifyToken", None, "WHATSAPP_VERIFY_TOKEN", resolver, secrets);
    let phone_number_id = match s.get("phoneNumberId") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => c.text(s, "phoneNumberId"),
    }
    .or_else(|| (resolver.env)("WHATSAPP_PHONE_NUMBER_ID"))
    .filter(|p| !p.trim().is_empty());
    if let Some(p) = &phone_number_id {
        if !p.chars().all(|ch| ch.is_ascii_digit()) {
            c.issue(&s.child_path("phoneNumberId"), format!("expected the numeric phone number id from the WhatsApp Manager, got {p:?}"));
        }
    }
    let webhook_path = c.text(s, "webhookPath").unwrap_or_else(|| "/whatsapp/webhook".to_string());
    if !webhook_path.starts_with('/') || webhook_path.len() < 2 {
        c.issue(&s.child_path("webhookPath"), format!("must start with '/' and must not be \"/\", got {webhook_path:?}"));
    }
    let api_version = c.text(s, "apiVersion").unwrap_or_else(|| "v21.0".to_string());
    WhatsApp {
        access_token,
        token_source,
        phone_number_id,
        app_secret,
        verify_token,
        webhook_path: webhook_path.trim_end_matches('/').to_string(),
        graph_root: url(c, s, "graphRoot", "https://graph.facebook.com"),
        api_version,
    }
}

fn matrix(c: &mut Checker, s: &Section, resolver: &Resolver, secrets: &[SecretProvider]) -> Matrix {
    let (access_token, token_source) = credential(c, s, "accessToken", None, ChannelKind::Matrix.token_env(), resolver, secrets);
    let (password, _) = credential(c, s, "password", None, "MATRIX_PASSWORD", resolver, secrets);
    let user_id = c.text(s, "userId").or_else(|| (resolver.env)("MATRIX_USER_ID")).map(|u| u.trim().to_string());
    if let Some(u) = &user_id {
        if !u.starts_with('@') || !u.contains(':') {
            c.issue(&s.child_path("userId"), format!("expected a full Matrix id such as @bot:example.org, got {u:?}"));
        }
    }
    let homeserver = match (s.has("homeserver"), (resolver.env)("MATRIX_HOMESERVER")) {
        (false, Some(h)) if crate::url::Url::parse(&h).is_ok() => h.trim_end_matches('/').to_string(),
        _ => url(c, s, "homeserver", "https://matrix.org"),
    };
    let auto_join = c
        .one_of(s, "autoJoin", &[("allowlist", AutoJoin::Allowed), ("always", AutoJoin::Always), ("off", AutoJoin::Off)])
        .unwrap_or(AutoJoin::Allowed);
    Matrix {
        homeserver,
        user_id,
        access_token,
        token_source,
        password,
        device_name: c.text(s, "deviceName").unwrap_or_else(|| "OpenClaw Gateway".to_string()),
        auto_join,
    }
}

/// `channels.signal`: OpenClaw's `account`, and the daemon as `httpUrl` or `httpHost`/`httpPort`.
fn signal(c: &mut Checker, s: &Section, resolver: &Resolver) -> Signal {
    let (account, account_source) = match c.text(s, "account") {
        Some(a) => (Some(a.trim().to_string()), TokenSource::Config),
        None => match (resolver.env)(ChannelKind::Signal.token_env()).filter(|v| !v.trim().is_empty()) {
            Some(a) => (Some(a.trim().to_string()), TokenSource::Env),
            None => (None, TokenSource::None),
        },
    };
    if let Some(a) = &account {
        let digits = a.strip_prefix('+').unwrap_or("");
        if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            c.issue(&s.child_path("account"), format!("expected an E.164 number such as +15551234567, got {a:?}"));
        }
    }
    let http_url = if s.has("httpUrl") {
        url(c, s, "httpUrl", "http://127.0.0.1:8080")
    } else {
        let host = c.text(s, "httpHost").unwrap_or_else(|| "127.0.0.1".to_string());
        let port = c.int(s, "httpPort", 1, 65535).unwrap_or(8080);
        format!("http://{host}:{port}")
    };
    Signal { account, account_source, http_url }
}

fn slack(c: &mut Checker, s: &Section, resolver: &Resolver, secrets: &[SecretProvider]) -> Slack {
    let (app_token, _) = credential(c, s, "appToken", None, "SLACK_APP_TOKEN", resolver, secrets);
    let (bot_token, token_source) = credential(c, s, "botToken", None, ChannelKind::Slack.token_env(), resolver, secrets);
    // OpenClaw also has an HTTP (Events API) mode; this gateway speaks Socket Mode only.
    if c.one_of(s, "mode", &[("socket", true), ("http", false)]) == Some(false) {
        c.issue(&s.child_path("mode"), "only \"socket\" (Socket Mode) is supported by this gateway".to_string());
    }
    let prefixed = |t: &Option<Secret>, prefix: &str| t.as_ref().is_none_or(|t| t.expose().starts_with(prefix));
    if !prefixed(&app_token, "xapp-") {
        c.issue(&s.child_path("appToken"), "expected an app-level token (xapp-…) with the connections:write scope".to_string());
    }
    if !prefixed(&bot_token, "xoxb-") {
        c.issue(&s.child_path("botToken"), "expected a bot token (xoxb-…)".to_string());
    }
    Slack { app_token, bot_token, token_source, api_root: url(c, s, "apiRoot", "https://slack.com/api") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value, env: &dyn Fn(&str) -> Option<String>) -> (Channels, Checker) {
        let resolver = Resolver { env, home: std::path::Path::new("/home/pi") };
        let mut c = Checker::default();
        let ch = channels(&mut c, &Section::root(&v), &resolver, &[]);
        (ch, c)
    }

    #[test]
    fn defaults_follow_openclaw() {
        let (ch, c) = parse(json!({"channels": {"telegram": {"botToken": "1:abc"}}}), &|_| None);
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        let t = ch.get(ChannelKind::Telegram).unwrap();
        assert!(t.enabled);
        assert_eq!(t.access.dm_policy, DmPolicy::Pairing);
        assert_eq!(t.access.group_policy, GroupPolicy::Allowlist);
        assert!(t.access.require_mention);
        assert_eq!(t.text_chunk_limit, 4000);
        let Service::Telegram(tg) = &t.service else { panic!() };
        assert_eq!(tg.api_root, "https://api.telegram.org");
        assert_eq!(tg.token_source, TokenSource::Config);
    }

    #[test]
    fn env_tokens_need_the_block_and_config_wins() {
        let env = |k: &str| (k == "DISCORD_BOT_TOKEN" || k == "TELEGRAM_BOT_TOKEN").then(|| "from-env".to_string());
        let (ch, _) = parse(json!({"channels": {"discord": {}}}), &env);
        assert!(ch.get(ChannelKind::Telegram).is_none(), "an env token alone does not start a channel");
        let Service::Discord(d) = &ch.get(ChannelKind::Discord).unwrap().service else { panic!() };
        assert_eq!((d.token.as_ref().unwrap().expose(), d.token_source), ("from-env", TokenSource::Env));
        let (ch, _) = parse(json!({"channels": {"discord": {"token": "from-config", "textChunkLimit": 1500}}}), &env);
        let d = ch.get(ChannelKind::Discord).unwrap();
        assert_eq!(d.text_chunk_limit, 1500);
        let Service::Discord(d) = &d.service else { panic!() };
        assert_eq!(d.token.as_ref().unwrap().expose(), "from-config");
    }

    #[test]
    fn policy_mistakes_are_reported_with_their_path() {
        let (_, c) = parse(json!({"channels": {"telegram": {"dmPolicy": "open", "allowFrom": ["123"]}}}), &|_| None);
        assert!(c.issues.iter().any(|i| i.path == "channels.telegram.allowFrom"), "{:?}", c.issues);
        let (_, c) = parse(json!({"channels": {"telegram": {"dmPolicy": "allowlist"}}}), &|_| None);
        assert!(c.issues.iter().any(|i| i.path == "channels.telegram.allowFrom"));
        let (_, c) = parse(json!({"channels": {"discord": {"textChunkLimit": 5000}}}), &|_| None);
        assert!(c.issues.iter().any(|i| i.path == "channels.discord.textChunkLimit"));
        let (_, c) = parse(json!({"channels": {"whatsapp": {"phoneNumberId": "+1 555"}}}), &|_| None);
        assert!(c.issues.iter().any(|i| i.path == "channels.whatsapp.phoneNumberId"));
    }

    #[test]
    fn sender_ids_are_normalised() {
        let (ch, _) =
            parse(json!({"channels": {"telegram": {"dmPolicy": "allowlist", "allowFrom": [123, "tg:456", "+15550100"]}}}), &|_| None);
        assert_eq!(ch.get(ChannelKind::Telegram).unwrap().access.allow_from, ["123", "456", "15550100"]);
        assert_eq!(normalize_sender("Discord:ABC"), "abc");
        assert_eq!(normalize_sender("slack:U0ABC"), "u0abc");
    }

    #[test]
    fn slack_takes_two_tokens_from_config_or_env() {
        let env = |k: &str| match k {
            "SLACK_APP_TOKEN" => Some("xapp-1-env".to_string()),
            "SLACK_BOT_TOKEN" => Some("xoxb-env".to_string()),
            _ => None,
        };
        let (ch, c) = parse(json!({"channels": {"slack": {}}}), &env);
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        let Service::Slack(sl) = &ch.get(ChannelKind::Slack).unwrap().service else { panic!() };
        assert_eq!((sl.app_token.as_ref().unwrap().expose(), sl.bot_token.as_ref().unwrap().expose()), ("xapp-1-env", "xoxb-env"));
        assert_eq!((sl.token_source, sl.api_root.as_str()), (TokenSource::Env, "https://slack.com/api"));
        let (_, c) = parse(json!({"channels": {"slack": {"appToken": "xoxb-swapped", "botToken": "xapp-swapped", "mode": "http"}}}), &env);
        let paths: Vec<&str> = c.issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["channels.slack.mode", "channels.slack.appToken", "channels.slack.botToken"], "{:?}", c.issues);
    }

    #[test]
    fn signal_takes_the_account_and_the_daemon_url() {
        let (ch, c) = parse(json!({"channels": {"signal": {"account": "+15551234567"}}}), &|_| None);
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        let sig = ch.get(ChannelKind::Signal).unwrap();
        assert_eq!(sig.text_chunk_limit, 4000);
        let Service::Signal(s) = &sig.service else { panic!() };
        assert_eq!((s.account.as_deref(), s.http_url.as_str()), (Some("+15551234567"), "http://127.0.0.1:8080"));
        let (ch, _) = parse(json!({"channels": {"signal": {"httpHost": "10.0.0.2", "httpPort": 9090}}}), &|k| {
            (k == "SIGNAL_ACCOUNT").then(|| "+15550001111".to_string())
        });
        let Service::Signal(s) = &ch.get(ChannelKind::Signal).unwrap().service else { panic!() };
        assert_eq!((s.http_url.as_str(), s.account_source), ("http://10.0.0.2:9090", TokenSource::Env));
        let (_, c) = parse(json!({"channels": {"signal": {"account": "5551234"}}}), &|_| None);
        assert!(c.issues.iter().any(|i| i.path == "channels.signal.account"), "{:?}", c.issues);
        assert_eq!(normalize_sender("signal:+15551234567"), "15551234567");
    }
}
