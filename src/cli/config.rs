//! `openclaw config get|set|unset|file|validate`, and [`Writer`], which every command that changes
//! the config uses (`config set|unset`, `channels add|remove`, `onboard`).
//!
//! A change goes through the running gateway when there is one (`config.patch` with the hash it
//! just read, so a concurrent edit is never overwritten, and the reload says what it did), and
//! into the file otherwise. Either way only a config the gateway would start with is written
//! ([`crate::gateway::admission`]); the file is replaced atomically (mode 600, previous copy in
//! `.bak`). Written files are JSON: comments of a hand-written JSON5 file are not kept.

use argh::FromArgs;
use serde_json::{Value, json};

use super::client::{self, CallError, CliError, GatewayClient, Target, TargetFlags};
use super::print_json;
use crate::config::edit::{self, Step};
use crate::config::{self, LoadError, Paths};
use crate::gateway::admission;
use crate::gateway::rules::RunOptions;

/// Read and change the config file (`~/.openclaw/openclaw.json`).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "config")]
pub struct ConfigCmd {
    #[argh(subcommand)]
    sub: ConfigSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum ConfigSub {
    Get(GetCmd),
    Set(SetCmd),
    Unset(UnsetCmd),
    File(FileCmd),
    Validate(ValidateCmd),
}

/// Print the value at a key path (secrets redacted).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "get")]
struct GetCmd {
    #[argh(positional, description = "key path, for example gateway.port or agents.list[0].id")]
    path: String,
    #[argh(switch, description = "print the value as JSON")]
    json: bool,
    #[argh(switch, description = "show secret values instead of redacting them")]
    show_secrets: bool,
}

/// Set the value at a key path (JSON5, or a plain string when it does not parse).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
struct SetCmd {
    #[argh(positional, description = "key path, for example gateway.port")]
    path: String,
    #[argh(positional, description = "the value: JSON5 (18789, true, \"text\", [1, 2], {{a: 1}}) or a plain string")]
    value: String,
    #[argh(switch, description = "refuse a value that is not valid JSON5 instead of storing it as a string")]
    strict_json: bool,
    #[argh(switch, description = "for a map of entries (models.providers, agents.entries, …): add to it")]
    merge: bool,
    #[argh(switch, description = "for a map of entries: replace it with exactly this value")]
    replace: bool,
    #[argh(switch, description = "check the change without writing it")]
    dry_run: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

/// Remove the value at a key path.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "unset")]
struct UnsetCmd {
    #[argh(positional, description = "key path, for example gateway.bind")]
    path: String,
    #[argh(switch, description = "check the change without writing it")]
    dry_run: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

/// Print the path of the config file this profile uses.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "file")]
struct FileCmd {}

/// Check the config file as the gateway would at start-up.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "validate")]
struct ValidateCmd {
    #[argh(switch, description = "print the result as JSON")]
    json: bool,
}

/// Maps whose entries are each a whole thing (a provider, an agent): setting one of them as an
/// object must say whether it adds to the map or replaces it, as the official CLI asks.
const ENTRY_MAPS: &[&str] = &["agents.defaults.models", "agents.entries", "models.providers", "plugins.entries", "auth.profiles"];

pub fn run(paths: &Paths, cmd: ConfigCmd) -> Result<(), CliError> {
    match cmd.sub {
        ConfigSub::Get(c) => get(paths, c),
        ConfigSub::Set(c) => set(paths, c),
        ConfigSub::Unset(c) => unset(paths, c),
        ConfigSub::File(_) => {
            println!("{}", paths.display(&paths.config_path));
            Ok(())
        }
        ConfigSub::Validate(c) => validate(paths, c),
    }
}

fn parse_path(text: &str) -> Result<Vec<Step>, CliError> {
    edit::parse_path(text).map_err(CliError::new)
}

fn not_found(path: &str, json: bool) -> CliError {
    let message = format!("Config path not found: {path}");
    if json {
        print_json(&json!({"error": message}));
        return CliError { message: String::new(), code: 1 };
    }
    CliError::new(message)
}

/// The file as written (before `$include` and `${VAR}`), or an empty document when missing.
fn read_file(paths: &Paths) -> Result<Option<config::Source>, CliError> {
    match config::load::read(&paths.config_path) {
        Ok(s) => Ok(Some(s)),
        Err(LoadError::Missing(_)) => Ok(None),
        Err(LoadError::Invalid(why)) => Err(CliError::new(format!("cannot read the config: {why}"))),
    }
}

fn get(paths: &Paths, cmd: GetCmd) -> Result<(), CliError> {
    let path = parse_path(&cmd.path)?;
    let parsed = read_file(paths)?.map(|s| s.parsed).unwrap_or_else(|| json!({}));
    let shown = if cmd.show_secrets { parsed } else { config::redact(&parsed) };
    let Some(value) = edit::get(&shown, &path) else { return Err(not_found(&cmd.path, cmd.json)) };
    match value {
        Value::String(s) if !cmd.json => println!("{s}"),
        other => print_json(other),
    }
    Ok(())
}

/// A command-line value: JSON5 when it parses, else the text itself (unless `strict`).
fn parse_value(text: &str, strict: bool) -> Result<Value, CliError> {
    match config::json5::parse(text) {
        Ok(v) => Ok(v),
        Err(e) if strict => Err(CliError::new(format!("the value is not valid JSON5: {e}"))),
        Err(_) => Ok(Value::String(text.to_string())),
    }
}

fn set(paths: &Paths, cmd: SetCmd) -> Result<(), CliError> {
    let path = parse_path(&cmd.path)?;
    let shown = edit::display(&path);
    let value = parse_value(&cmd.value, cmd.strict_json)?;
    if cmd.merge && cmd.replace {
        return Err(CliError::new("--merge and --replace exclude each other"));
    }
    if value.is_object() && ENTRY_MAPS.contains(&shown.as_str()) && !cmd.merge && !cmd.replace {
        return Err(CliError::new(format!(
            "{shown} is a map of entries; pass --merge to add these entries to it or --replace to make it exactly this value"
        )));
    }
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: cmd.timeout };
    let writer = Writer::open(paths, &flags)?;
    let mut patch_value = value.clone();
    if cmd.replace {
        // Keys the new map does not have are removed from the old one.
        if let (Some(Value::Object(old)), Value::Object(new)) = (edit::get(writer.current(), &path), &mut patch_value) {
            for k in old.keys() {
                new.entry(k.clone()).or_insert(Value::Null);
            }
        }
    }
    let patch = edit::patch_for(&path, Some(patch_value)).map_err(CliError::new)?;
    // Setting a list replaces it as a whole, shorter or not: that is what the user asked for.
    let replace_paths = if value.is_array() { vec![shown.clone()] } else { Vec::new() };
    let change = Change { patch, replace_paths, note: format!("openclaw config set {shown}") };
    let outcome = writer.apply(&change, cmd.dry_run)?;
    outcome.report(&format!("Updated {shown}."), paths);
    Ok(())
}

fn unset(paths: &Paths, cmd: UnsetCmd) -> Result<(), CliError> {
    let path = parse_path(&cmd.path)?;
    let shown = edit::display(&path);
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: cmd.timeout };
    let writer = Writer::open(paths, &flags)?;
    let Some(old) = edit::get(writer.current(), &path) else { return Err(not_found(&cmd.path, false)) };
    let replace_paths = if old.is_array() { vec![shown.clone()] } else { Vec::new() };
    let patch = edit::patch_for(&path, None).map_err(CliError::new)?;
    let change = Change { patch, replace_paths, note: format!("openclaw config unset {shown}") };
    let outcome = writer.apply(&change, cmd.dry_run)?;
    outcome.report(&format!("Removed {shown}."), paths);
    Ok(())
}

fn validate(paths: &Paths, cmd: ValidateCmd) -> Result<(), CliError> {
    let shown = paths.display(&paths.config_path);
    let issues = match std::fs::read_to_string(&paths.config_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            vec![config::Issue { path: String::new(), message: format!("{shown} does not exist; run `openclaw setup`") }]
        }
        Err(e) => vec![config::Issue { path: String::new(), message: format!("cannot read {shown}: {e}") }],
        Ok(raw) => admission::check_text(paths, &RunOptions::default(), raw).err().unwrap_or_default(),
    };
    if cmd.json {
        print_json(&json!({"valid": issues.is_empty(), "path": shown, "issues": issues}));
    } else if issues.is_empty() {
        println!("Config valid: {shown}");
    } else {
        println!("Config invalid: {shown}");
        for i in &issues {
            println!("- {i}");
        }
    }
    if issues.is_empty() { Ok(()) } else { Err(CliError { message: String::new(), code: 1 }) }
}

/// One change to the config: an RFC 7386 merge patch, and the lists it may shorten.
pub struct Change {
    pub patch: Value,
    pub replace_paths: Vec<String>,
    /// What made the change (in the gateway's log).
    pub note: String,
}

/// Where changes go: the running gateway, or the file.
pub struct Writer {
    paths: Paths,
    current: Value,
    sink: Sink,
}

enum Sink {
    Gateway { client: Box<GatewayClient>, target: Target, hash: Option<String> },
    File { existed: bool },
}

/// What a change did.
pub enum Outcome {
    /// The gateway wrote and applied it; `restart` says why it restarts, when it does.
    Gateway { restart: Option<String>, changed: Vec<String> },
    /// Written to the file with no gateway running.
    File { created: bool },
    /// Checked only.
    DryRun,
}

impl Outcome {
    /// Prints what happened after `done` ("Updated gateway.port.").
    pub fn report(&self, done: &str, paths: &Paths) {
        let file = paths.display(&paths.config_path);
        match self {
            Outcome::Gateway { restart: Some(why), .. } => println!("{done} The gateway wrote {file} and restarts to apply it ({why})."),
            Outcome::Gateway { changed, .. } if changed.is_empty() => println!("{done} No effective change."),
            Outcome::Gateway { .. } => println!("{done} The gateway wrote {file} and applied it without a restart."),
            Outcome::File { created } => println!(
                "{done} {} {file}; no gateway is running, so it applies at the next start.",
                if *created { "Created" } else { "Wrote" }
            ),
            Outcome::DryRun => {
                println!("{} The change is valid; nothing was written (--dry-run).", done.replace("Updated", "Would update"))
            }
        }
    }
}

/// Whether changes should go through a gateway: an explicit URL, a remote config, or a live
/// gateway on this profile's state directory.
fn gateway_in_charge(paths: &Paths, flags: &TargetFlags, cfg: &config::Config) -> bool {
    flags.url.is_some()
        || std::env::var("OPENCLAW_GATEWAY_URL").is_ok_and(|u| !u.is_empty())
        || cfg.gateway.mode.as_deref() == Some("remote")
        || crate::daemon::lock::live_owner(&paths.state_dir).is_some()
}

impl Writer {
    /// Connects to the gateway in charge (reading the config and its hash), or reads the file.
    pub fn open(paths: &Paths, flags: &TargetFlags) -> Result<Writer, CliError> {
        let cfg = client::client_config(paths);
        if !gateway_in_charge(paths, flags, &cfg) {
            let source = read_file(paths)?;
            let existed = source.is_some();
            // A new file is for a local gateway: without the mode, `openclaw gateway` would refuse it.
            let current = source.map(|s| s.parsed).unwrap_or_else(|| json!({"gateway": {"mode": "local"}}));
            return Ok(Writer { paths: paths.clone(), current, sink: Sink::File { existed } });
        }
        let target = client::resolve_target(paths, &cfg, flags)?;
        smol::block_on(async {
            let mut c = GatewayClient::connect(&target, &["operator.admin"], "cli").await.map_err(|e| CliError::new(e.explain(&target)))?;
            let snapshot = c.call("config.get", None).await.map_err(|e| CliError::new(e.explain(&target)))?;
            let hash = snapshot["hash"].as_str().map(String::from);
            let current = snapshot["parsed"].clone();
            let current = if current.is_object() { current } else { json!({}) };
            Ok(Writer { paths: paths.clone(), current, sink: Sink::Gateway { client: Box::new(c), target, hash } })
        })
    }

    /// The config as it is now (secrets redacted when it came from a gateway).
    pub fn current(&self) -> &Value {
        &self.current
    }

    pub fn apply(self, change: &Change, dry_run: bool) -> Result<Outcome, CliError> {
        match self.sink {
            Sink::File { existed } => apply_to_file(&self.paths, self.current, change, dry_run, existed),
            Sink::Gateway { client, target, hash } => {
                if dry_run {
                    // The gateway has no dry run; checking here needs the unredacted file.
                    return Err(CliError::new("--dry-run works on the config file only; stop the gateway or drop --dry-run"));
                }
                apply_through_gateway(*client, &target, hash, change)
            }
        }
    }
}

fn apply_to_file(paths: &Paths, mut doc: Value, change: &Change, dry_run: bool, existed: bool) -> Result<Outcome, CliError> {
    edit::merge_patch(&mut doc, change.patch.clone());
    let mut text = serde_json::to_string_pretty(&doc).map_err(|e| CliError::new(e.to_string()))?;
    text.push('\n');
    admission::check_text(paths, &RunOptions::default(), text.clone()).map_err(|issues| refused(&issues))?;
    if dry_run {
        return Ok(Outcome::DryRun);
    }
    crate::fsutil::create_private_dir(&paths.state_dir).map_err(|e| CliError::new(e.to_string()))?;
    crate::fsutil::write_with_backup(&paths.config_path, text.as_bytes())
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", paths.display(&paths.config_path))))?;
    Ok(Outcome::File { created: !existed })
}

fn refused(issues: &[config::Issue]) -> CliError {
    let lines: Vec<String> = issues.iter().map(|i| format!("- {i}")).collect();
    CliError::new(format!("Config change refused: the gateway would not start with it.\n{}", lines.join("\n")))
}

fn apply_through_gateway(mut c: GatewayClient, target: &Target, mut hash: Option<String>, change: &Change) -> Result<Outcome, CliError> {
    smol::block_on(async {
        // One retry when someone else wrote the file between our read and our write.
        for attempt in 0..2 {
            let mut params = json!({"raw": change.patch.to_string(), "note": change.note});
            if let Some(h) = &hash {
                params["baseHash"] = json!(h);
            }
            if !change.replace_paths.is_empty() {
                params["replacePaths"] = json!(change.replace_paths);
            }
            match c.call("config.patch", Some(params)).await {
                Ok(result) => {
                    c.close().await;
                    let changed =
                        result["changedPaths"].as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect();
                    return Ok(Outcome::Gateway { restart: result["restart"]["reason"].as_str().map(String::from), changed });
                }
                Err(CallError::Gateway(e))
                    if attempt == 0 && e.details.as_ref().and_then(|d| d["code"].as_str()) == Some("CONFIG_BASE_HASH_MISMATCH") =>
                {
                    hash = e.details.as_ref().and_then(|d| d["currentHash"].as_str()).map(String::from);
                }
                Err(CallError::Gateway(e)) if e.details.as_ref().and_then(|d| d["code"].as_str()) == Some("INVALID_CONFIG") => {
                    let issues: Vec<config::Issue> = e
                        .details
                        .as_ref()
                        .and_then(|d| d["issues"].as_array())
                        .into_iter()
                        .flatten()
                        .map(|i| config::Issue {
                            path: i["path"].as_str().unwrap_or_default().to_string(),
                            message: i["message"].as_str().unwrap_or_default().to_string(),
                        })
                        .collect();
                    return Err(refused(&issues));
                }
                Err(e) => return Err(CliError::new(e.explain(target))),
            }
        }
        Err(CliError::new("the config kept changing while this command tried to write it; try again"))
    })
}
