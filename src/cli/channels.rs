//! `openclaw channels status|list|add|remove`: the state of the chat channels (from the running
//! gateway) and their configuration (through [`super::config::Writer`], so the running gateway
//! picks a change up by hot reload, or the file is written when none runs).

use argh::FromArgs;
use serde_json::{Map, Value, json};

use super::client::{self, CliError, TargetFlags};
use super::config::{Change, Writer};
use super::print_json;
use crate::config::Paths;
use crate::config::channel_kind::ChannelKind;
use crate::config::channels::{Service, TokenSource};

/// Chat channels.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "channels")]
pub struct ChannelsCmd {
    #[argh(subcommand)]
    sub: ChannelsSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum ChannelsSub {
    Status(StatusCmd),
    List(ListCmd),
    Add(AddCmd),
    Remove(RemoveCmd),
}

/// List the chat channels this gateway knows: configured, enabled, credentials, built in.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
struct ListCmd {
    #[argh(switch, description = "print the list as JSON")]
    json: bool,
}

/// Add (or update) a chat channel in the config; a running gateway connects it at once.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
struct AddCmd {
    #[argh(option, description = "telegram, discord or whatsapp")]
    channel: String,
    #[argh(option, description = "bot token (telegram: botToken, discord: token); ${{VAR}} keeps it in the environment")]
    token: Option<String>,
    #[argh(option, description = "telegram: read the bot token from this file (tokenFile)")]
    token_file: Option<String>,
    #[argh(option, description = "whatsapp: Cloud API access token")]
    access_token: Option<String>,
    #[argh(option, description = "whatsapp: the business phone number id")]
    phone_number_id: Option<String>,
    #[argh(option, description = "whatsapp: the app secret that signs webhook deliveries")]
    app_secret: Option<String>,
    #[argh(option, description = "whatsapp: the webhook verify token you chose")]
    verify_token: Option<String>,
    #[argh(option, description = "who may message the agent directly: pairing (default), allowlist, open or disabled")]
    dm_policy: Option<String>,
    #[argh(option, description = "sender ids allowed to message the agent (repeat the flag or separate with commas)")]
    allow_from: Vec<String>,
    #[argh(switch, description = "check the change without writing it")]
    dry_run: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway password (the gateway token flag is --gateway-token here)")]
    password: Option<String>,
    #[argh(option, description = "gateway token")]
    gateway_token: Option<String>,
}

/// Remove a chat channel: disable it (keeping its settings), or delete its block with --delete.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
struct RemoveCmd {
    #[argh(option, description = "telegram, discord or whatsapp")]
    channel: String,
    #[argh(switch, description = "delete the channel's settings instead of disabling it")]
    delete: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
}

/// Show each channel's state (`--probe` also checks the credentials with the service).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
struct StatusCmd {
    #[argh(switch, description = "ask each service whether the credentials work")]
    probe: bool,
    #[argh(switch, description = "print the result as JSON")]
    json: bool,
    #[argh(option, description = "only this channel")]
    channel: Option<String>,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000; 60000 with --probe)")]
    timeout: Option<u64>,
}

pub fn run(paths: &Paths, cmd: ChannelsCmd) -> Result<(), CliError> {
    match cmd.sub {
        ChannelsSub::Status(c) => status(paths, c),
        ChannelsSub::List(c) => list(paths, c),
        ChannelsSub::Add(c) => add(paths, c),
        ChannelsSub::Remove(c) => remove(paths, c),
    }
}

fn status(paths: &Paths, cmd: StatusCmd) -> Result<(), CliError> {
    let timeout = cmd.timeout.unwrap_or(if cmd.probe { 60_000 } else { 10_000 });
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: Some(timeout) };
    let mut params = json!({"probe": cmd.probe, "timeoutMs": timeout});
    if let Some(c) = &cmd.channel {
        params["channel"] = json!(c);
    }
    if cmd.probe && !cmd.json {
        println!("Checking channel status (probe)…");
    }
    let status = client::one_call(paths, &flags, &["operator.read"], "channels.status", Some(params))?;
    if cmd.json {
        print_json(&status);
        return Ok(());
    }
    println!("Gateway reachable.");
    let order: Vec<String> = status["channelOrder"].as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect();
    if order.is_empty() {
        println!("- no configured chat channels (run `openclaw channels list` to see the ones this gateway can connect)");
        return Ok(());
    }
    for id in order {
        let label = status["channelLabels"][&id].as_str().unwrap_or(&id).to_string();
        for acct in status["channelAccounts"][&id].as_array().into_iter().flatten() {
            println!("- {label} ({}): {}", acct["accountId"].as_str().unwrap_or("default"), describe(acct));
        }
    }
    Ok(())
}

/// `connected · running · last inbound 2m ago` style summary of one account.
fn describe(acct: &Value) -> String {
    let mut parts = Vec::new();
    if acct["enabled"] == false {
        parts.push("disabled".to_string());
    } else if acct["configured"] == false {
        parts.push("not configured".to_string());
    } else {
        parts.push(if acct["connected"] == true { "connected".into() } else { "not connected".into() });
        parts.push(if acct["running"] == true { "running".into() } else { "stopped".into() });
    }
    if let Some(probe) = acct.get("probe").filter(|p| !p.is_null()) {
        parts.push(if probe["ok"] == true {
            "probe: works".to_string()
        } else {
            format!("probe failed: {}", probe["error"].as_str().unwrap_or("unknown"))
        });
    }
    if let Some(err) = acct["lastError"].as_str() {
        parts.push(format!("last error: {err}"));
    }
    parts.join(" · ")
}

/// The channel a command line names (any case).
pub(super) fn channel_id(name: &str) -> Result<ChannelKind, CliError> {
    let lower = name.trim().to_ascii_lowercase();
    ChannelKind::from_id(&lower).ok_or_else(|| CliError::new(format!("unknown channel {name:?}; use one of: {}", ChannelKind::id_list())))
}

fn list(paths: &Paths, cmd: ListCmd) -> Result<(), CliError> {
    let cfg = client::client_config(paths);
    let mut out = Vec::new();
    for kind in ChannelKind::ALL {
        let built_in = kind.compiled();
        let configured = cfg.channels.get(kind);
        let (source, missing) = match configured.map(|c| &c.service) {
            Some(Service::Telegram(t)) => (t.token_source, t.token.is_none()),
            Some(Service::Discord(d)) => (d.token_source, d.token.is_none()),
            Some(Service::WhatsApp(w)) => (
                w.token_source,
                w.access_token.is_none() || w.phone_number_id.is_none() || w.app_secret.is_none() || w.verify_token.is_none(),
            ),
            Some(Service::Irc(i)) => (if i.host.is_some() { TokenSource::Config } else { TokenSource::None }, i.host.is_none()),
            Some(Service::Matrix(m)) => (m.token_source, m.access_token.is_none() && (m.password.is_none() || m.user_id.is_none())),
            Some(Service::Signal(sg)) => (sg.account_source, sg.account.is_none()),
            Some(Service::Slack(s)) => (s.token_source, s.app_token.is_none() || s.bot_token.is_none()),
            None => (TokenSource::None, true),
        };
        out.push(json!({
            "id": kind.id(), "label": kind.label(), "builtIn": built_in, "configured": configured.is_some(),
            "enabled": configured.is_some_and(|c| c.enabled), "credentials": if missing { "missing" } else { source.name() },
        }));
    }
    if cmd.json {
        print_json(&json!({"channels": out}));
        return Ok(());
    }
    println!("Chat channels:");
    for (kind, c) in ChannelKind::ALL.into_iter().zip(&out) {
        let id = kind.id();
        let state = if c["builtIn"] == false {
            format!("not in this build (rebuild with --features {id})")
        } else if c["configured"] == false {
            format!("not configured ({})", kind.add_hint())
        } else {
            let enabled = if c["enabled"] == true { "enabled" } else { "disabled" };
            match c["credentials"].as_str() {
                Some("missing") => format!("configured, {enabled} · credentials missing ({})", kind.add_hint()),
                Some(src) => format!("configured, {enabled} · credentials from {src}"),
                None => format!("configured, {enabled}"),
            }
        };
        println!("- {}: {state}", kind.label());
    }
    Ok(())
}

fn add(paths: &Paths, cmd: AddCmd) -> Result<(), CliError> {
    let kind = channel_id(&cmd.channel)?;
    let id = kind.id();
    if !kind.compiled() {
        return Err(CliError::new(format!("this build has no {id} support; rebuild with --features {id}")));
    }
    let mut block = Map::new();
    block.insert("enabled".into(), json!(true));
    let mut set = |key: &str, flag: &str, value: Option<String>, allowed: bool| -> Result<(), CliError> {
        match value {
            Some(_) if !allowed => Err(CliError::new(format!("--{flag} does not apply to {id}"))),
            Some(v) => {
                block.insert(key.to_string(), json!(v));
                Ok(())
            }
            None => Ok(()),
        }
    };
    let (tg, wa) = (kind == ChannelKind::Telegram, kind == ChannelKind::WhatsApp);
    match kind.token_key() {
        Some(key) => set(key, "token", cmd.token, true)?,
        None => set("", "token", cmd.token, false)?,
    }
    set("tokenFile", "token-file", cmd.token_file, tg)?;
    set("accessToken", "access-token", cmd.access_token, wa)?;
    set("phoneNumberId", "phone-number-id", cmd.phone_number_id, wa)?;
    set("appSecret", "app-secret", cmd.app_secret, wa)?;
    set("verifyToken", "verify-token", cmd.verify_token, wa)?;
    set("dmPolicy", "dm-policy", cmd.dm_policy, true)?;
    let allow: Vec<String> =
        cmd.allow_from.iter().flat_map(|a| a.split(',')).map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect();
    if !allow.is_empty() {
        block.insert("allowFrom".into(), json!(allow));
    }
    let flags = TargetFlags { url: cmd.url, token: cmd.gateway_token, password: cmd.password, timeout_ms: None };
    let writer = Writer::open(paths, &flags)?;
    let existed = writer.current().get("channels").and_then(|c| c.get(id)).is_some();
    let replace_paths = if allow.is_empty() { Vec::new() } else { vec![format!("channels.{id}.allowFrom")] };
    let change = Change {
        patch: json!({"channels": {id: Value::Object(block)}}),
        replace_paths,
        note: format!("openclaw channels add --channel {id}"),
    };
    let outcome = writer.apply(&change, cmd.dry_run)?;
    outcome.report(&format!("{} {}.", if existed { "Updated" } else { "Added" }, kind.label()), paths);
    if !cmd.dry_run {
        println!(
            "Check it with `openclaw channels status --probe`. Unknown senders get a pairing code; approve one with `openclaw pairing approve {id} <code>`."
        );
    }
    Ok(())
}

fn remove(paths: &Paths, cmd: RemoveCmd) -> Result<(), CliError> {
    let kind = channel_id(&cmd.channel)?;
    let (id, label) = (kind.id(), kind.label());
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: None };
    let writer = Writer::open(paths, &flags)?;
    if writer.current().get("channels").and_then(|c| c.get(id)).is_none() {
        return Err(CliError::new(format!("{label} is not configured")));
    }
    let (patch, done) = if cmd.delete {
        (json!({"channels": {id: null}}), format!("Deleted the {label} settings."))
    } else {
        (json!({"channels": {id: {"enabled": false}}}), format!("Disabled {label} (its settings are kept; --delete removes them)."))
    };
    let outcome =
        writer.apply(&Change { patch, replace_paths: Vec::new(), note: format!("openclaw channels remove --channel {id}") }, false)?;
    outcome.report(&done, paths);
    Ok(())
}
