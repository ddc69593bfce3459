//! `openclaw onboard`: the first setup in one go. On a terminal it asks four short questions (which
//! model and its key, one chat channel, the service, nothing else); with `--non-interactive` the
//! same answers come from flags. It writes through the same validated path as `config set`
//! ([`super::config::Writer`]), keeps whatever it is not asked to change, and can run again.

use argh::FromArgs;
use serde_json::{Map, Value, json};
use std::io::{BufRead, Write};

use super::channels::channel_id;
use super::client::{CliError, TargetFlags};
use super::config::{Change, Writer};
use crate::config::channel_kind::ChannelKind;
use crate::config::{Paths, bootstrap};

/// Set up this gateway: a model, a chat channel, the service, and where the dashboard is.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "onboard")]
pub struct OnboardCmd {
    #[argh(switch, description = "take every answer from the flags (for scripts)")]
    non_interactive: bool,
    #[argh(switch, description = "accepted for compatibility with the official CLI's automation flags")]
    #[allow(dead_code)]
    accept_risk: bool,
    #[argh(option, description = "the model, as provider/model (anthropic/claude-sonnet-4-5, ollama/llama3.2, …)")]
    model: Option<String>,
    #[argh(option, description = "the provider's API key (stored in the config, mode 600)")]
    api_key: Option<String>,
    #[argh(option, description = "name of the environment variable holding the API key (stored as ${{VAR}})")]
    api_key_env: Option<String>,
    #[argh(option, description = "base URL of an OpenAI-compatible server for the model's provider (http://host:port/v1)")]
    base_url: Option<String>,
    #[argh(switch, description = "no model for now: the built-in offline responder answers")]
    offline: bool,
    #[argh(option, description = "a chat channel to connect: telegram or discord")]
    channel: Option<String>,
    #[argh(option, description = "the chat channel's bot token")]
    channel_token: Option<String>,
    #[argh(switch, description = "install the gateway as a service that starts at boot")]
    install_service: bool,
}

/// The models offered on a terminal: label, reference, environment variable of its key.
const MODEL_CHOICES: &[(&str, &str, Option<&str>)] = &[
    ("Anthropic (Claude)", "anthropic/claude-sonnet-4-5", Some("ANTHROPIC_API_KEY")),
    ("OpenAI", "openai/gpt-4.1-mini", Some("OPENAI_API_KEY")),
    ("OpenRouter (many models, one key)", "openrouter/anthropic/claude-sonnet-4.5", Some("OPENROUTER_API_KEY")),
    ("Ollama on this machine (no key)", "ollama/llama3.2", None),
    ("Another OpenAI-compatible server (llama.cpp, vLLM, LM Studio on another computer)", "", None),
    ("None for now: the offline responder answers until a model is set", "", None),
];

/// The answers, however they were given.
#[derive(Debug, Default)]
struct Answers {
    /// `provider/model`; `None` leaves the model as it is (the offline responder when unset).
    model: Option<String>,
    api_key: Option<String>,
    base_url: Option<String>,
    channel: Option<(ChannelKind, String)>,
    install_service: bool,
}

pub fn run(paths: &Paths, cmd: OnboardCmd) -> Result<(), CliError> {
    if !cmd.non_interactive && !crate::sys::interactive() {
        return Err(CliError::new(
            "Onboarding needs an interactive TTY. Use `openclaw onboard --non-interactive --model <provider/model> [--api-key-env VAR] \
             [--channel telegram --channel-token <token>] [--install-service]` for automation.",
        ));
    }
    let created = bootstrap::ensure_profile(paths, bootstrap::AuthSeed::from_environment())
        .map_err(|e| CliError::new(format!("cannot create the profile's files: {e}")))?;
    if created.config.is_some() {
        println!("Wrote {} (with the gateway's token)", paths.display(&paths.config_path));
    }
    let answers = if cmd.non_interactive { from_flags(cmd)? } else { ask(paths)? };
    if let Some(patch) = patch_for(&answers)? {
        let writer = Writer::open(paths, &TargetFlags::default())?;
        let change = Change { patch, replace_paths: Vec::new(), note: "openclaw onboard".into() };
        writer.apply(&change, false)?.report("Config updated.", paths);
    } else {
        println!("Config kept as it is.");
    }
    if let Some((kind, _)) = &answers.channel {
        println!(
            "{} connects when the gateway runs; unknown senders get a pairing code: `openclaw pairing approve {kind} <code>`.",
            kind.label()
        );
    }
    if answers.install_service {
        super::service::install(paths, super::service::InstallCmd { force: false, system: false, port: None }, None)?;
    }
    let cfg = super::client::client_config(paths);
    let port = super::client::local_port(paths, &cfg);
    println!();
    println!("Dashboard: http://127.0.0.1:{port}{}  (openclaw dashboard opens it signed in)", cfg.gateway.control_ui.base_path);
    if !answers.install_service {
        println!("Start the gateway: {} gateway   (or as a service: {} gateway install)", paths.command_prefix(), paths.command_prefix());
    }
    Ok(())
}

fn from_flags(cmd: OnboardCmd) -> Result<Answers, CliError> {
    if cmd.offline && cmd.model.is_some() {
        return Err(CliError::new("--offline and --model exclude each other"));
    }
    if (cmd.api_key.is_some() || cmd.api_key_env.is_some() || cmd.base_url.is_some()) && cmd.model.is_none() {
        return Err(CliError::new("--api-key, --api-key-env and --base-url need --model <provider/model>"));
    }
    if cmd.api_key.is_some() && cmd.api_key_env.is_some() {
        return Err(CliError::new("--api-key and --api-key-env exclude each other"));
    }
    let channel = match (&cmd.channel, cmd.channel_token) {
        (Some(name), Some(token)) => {
            let kind = channel_id(name)?;
            if kind.token_key().is_none() {
                return Err(CliError::new(format!(
                    "{kind} takes several credentials; add it with `openclaw channels add --channel {kind} …`"
                )));
            }
            Some((kind, token))
        }
        (Some(_), None) => return Err(CliError::new("--channel needs --channel-token")),
        (None, Some(_)) => return Err(CliError::new("--channel-token needs --channel")),
        (None, None) => None,
    };
    Ok(Answers {
        model: cmd.model,
        api_key: cmd.api_key.or(cmd.api_key_env.map(|v| format!("${{{v}}}"))),
        base_url: cmd.base_url,
        channel,
        install_service: cmd.install_service,
    })
}

/// The config patch for the answers (`None` when nothing changes).
fn patch_for(a: &Answers) -> Result<Option<Value>, CliError> {
    let mut patch = Map::new();
    if let Some(model) = &a.model {
        let Some((provider, id)) = model.split_once('/').filter(|(p, m)| !p.is_empty() && !m.is_empty()) else {
            return Err(CliError::new(format!("--model {model:?} is not provider/model (for example anthropic/claude-sonnet-4-5)")));
        };
        patch.insert("agents".into(), json!({"defaults": {"model": {"primary": model}}}));
        let mut entry = Map::new();
        if let Some(url) = &a.base_url {
            entry.insert("baseUrl".into(), json!(url));
            entry.insert("api".into(), json!("openai-completions"));
            entry.insert("models".into(), json!([{"id": id}]));
        }
        if let Some(key) = &a.api_key {
            entry.insert("apiKey".into(), json!(key));
        }
        if !entry.is_empty() {
            patch.insert("models".into(), json!({"providers": {provider: Value::Object(entry)}}));
        }
    }
    if let Some((kind, token)) = &a.channel {
        let Some(key) = kind.token_key() else {
            return Err(CliError::new(format!("{kind} takes several credentials; add it with `openclaw channels add --channel {kind} …`")));
        };
        patch.insert("channels".into(), json!({kind.id(): {"enabled": true, key: token}}));
    }
    Ok((!patch.is_empty()).then_some(Value::Object(patch)))
}

/// Reads one answer line; `None` at the end of input.
fn prompt(question: &str, hidden: bool) -> Result<Option<String>, CliError> {
    print!("{question}");
    std::io::stdout().flush().map_err(|e| CliError::new(e.to_string()))?;
    let _echo = hidden.then(crate::sys::EchoOff::new);
    let mut line = String::new();
    let n = std::io::stdin().lock().read_line(&mut line).map_err(|e| CliError::new(e.to_string()))?;
    if hidden {
        println!();
    }
    Ok((n > 0).then(|| line.trim().to_string()))
}

/// A numbered choice; `default` (1-based) on an empty answer.
fn choose(question: &str, options: &[&str], default: usize) -> Result<usize, CliError> {
    println!("{question}");
    for (i, o) in options.iter().enumerate() {
        println!("  {}) {o}", i + 1);
    }
    loop {
        let Some(answer) = prompt(&format!("Choose 1-{} [{default}]: ", options.len()), false)? else {
            return Err(CliError::new("onboarding cancelled (end of input)"));
        };
        if answer.is_empty() {
            return Ok(default);
        }
        match answer.parse::<usize>() {
            Ok(n) if (1..=options.len()).contains(&n) => return Ok(n),
            _ => println!("Please answer with a number from 1 to {}.", options.len()),
        }
    }
}

fn required(question: &str, hidden: bool) -> Result<String, CliError> {
    loop {
        match prompt(question, hidden)? {
            None => return Err(CliError::new("onboarding cancelled (end of input)")),
            Some(a) if !a.is_empty() => return Ok(a),
            Some(_) => println!("An answer is needed here."),
        }
    }
}

fn ask(paths: &Paths) -> Result<Answers, CliError> {
    println!("OpenClaw onboarding — config {}", paths.display(&paths.config_path));
    println!();
    let mut a = Answers::default();
    let labels: Vec<&str> = MODEL_CHOICES.iter().map(|(l, ..)| *l).collect();
    let pick = choose("1. Which model should answer?", &labels, 1)?;
    let (_, reference, key_var) = MODEL_CHOICES.get(pick - 1).copied().unwrap_or(("", "", None));
    match pick {
        5 => {
            let url = required("   Server URL (for example http://192.168.1.20:8080/v1): ", false)?;
            let model = required("   Model id on that server: ", false)?;
            a.model = Some(format!("local/{model}"));
            a.base_url = Some(url);
            let key = prompt("   API key, if the server needs one (hidden; empty for none): ", true)?.unwrap_or_default();
            a.api_key = (!key.is_empty()).then_some(key);
        }
        6 => {}
        _ => {
            a.model = Some(reference.to_string());
            if let Some(var) = key_var {
                let from_env = std::env::var(var).is_ok_and(|v| !v.is_empty());
                let hint = if from_env { format!("empty keeps using {var} from the environment") } else { format!("or set {var} later") };
                let key = prompt(&format!("   API key (hidden; {hint}): "), true)?.unwrap_or_default();
                a.api_key = (!key.is_empty()).then_some(key);
            }
        }
    }
    println!();
    let channel = choose("2. Connect a chat app?", &["Telegram", "Discord", "Not now (WhatsApp: openclaw channels add)"], 3)?;
    let kind = match channel {
        1 => Some(ChannelKind::Telegram),
        2 => Some(ChannelKind::Discord),
        _ => None,
    };
    if let Some(kind) = kind {
        let token = required(&format!("   {} bot token ({}; hidden): ", kind.label(), kind.token_origin()), true)?;
        a.channel = Some((kind, token));
    }
    println!();
    let service = choose("3. Start the gateway at boot as a service?", &["Yes", "No"], 1)?;
    a.install_service = service == 1 && crate::service::Manager::detect(false) != crate::service::Manager::None;
    if service == 1 && !a.install_service {
        println!("   No service manager (systemd or launchd) found here; skipping.");
    }
    println!();
    Ok(a)
}
