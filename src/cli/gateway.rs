//! `openclaw gateway …`: run the resident process (`gateway`, `gateway run`), inspect it
//! (`status`, `call`) and manage it as a service (`install`, `uninstall`, `start`, `stop`,
//! `restart`, in [`super::service`]).

use argh::{FromArgValue, FromArgs};
use serde_json::{Value, json};

use super::client::{self, CallError, CliError, GatewayClient, TargetFlags};
use super::{print_json, service};
use crate::config::{self, AuthMode, BindMode, Paths};
use crate::daemon::start::{self, RunOptions};

/// Run the gateway (WebSocket protocol, HTTP API and probes on one port), or manage it.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "gateway")]
pub struct GatewayCmd {
    #[argh(option, description = "port to listen on (default: OPENCLAW_GATEWAY_PORT, gateway.port, 18789; 0 picks a free port)")]
    port: Option<u16>,
    #[argh(option, description = "where to listen: loopback (default), lan, custom, tailnet or auto")]
    bind: Option<Bind>,
    #[argh(option, description = "shared gateway token (default: gateway.auth.token, OPENCLAW_GATEWAY_TOKEN)")]
    token: Option<String>,
    #[argh(option, description = "shared gateway password (default: gateway.auth.password, OPENCLAW_GATEWAY_PASSWORD)")]
    password: Option<String>,
    #[argh(option, description = "auth mode: token, password or none (none only on loopback)")]
    auth: Option<Auth>,
    #[argh(switch, description = "start even when the config is missing or gateway.mode is not local")]
    allow_unconfigured: bool,
    #[argh(switch, description = "stop the OpenClaw gateway that holds the port, then start")]
    force: bool,
    #[argh(switch, description = "debug logging on the console, including WebSocket traffic")]
    verbose: bool,
    #[argh(switch, description = "use the dev profile (same as the global --dev)")]
    dev: bool,
    #[argh(subcommand)]
    sub: Option<GatewaySub>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum GatewaySub {
    Run(RunCmd),
    Status(StatusCmd),
    Call(CallCmd),
    Install(service::InstallCmd),
    Uninstall(service::UninstallCmd),
    Start(service::StartCmd),
    Stop(service::StopCmd),
    Restart(service::RestartCmd),
}

/// Run the gateway in the foreground (same as `openclaw gateway`).
// The same flags as `GatewayCmd`, declared again because argh cannot share a group of flags
// between commands; `GatewayCmd::options` merges the two.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run")]
struct RunCmd {
    #[argh(option, description = "port to listen on (default: OPENCLAW_GATEWAY_PORT, gateway.port, 18789; 0 picks a free port)")]
    port: Option<u16>,
    #[argh(option, description = "where to listen: loopback (default), lan, custom, tailnet or auto")]
    bind: Option<Bind>,
    #[argh(option, description = "shared gateway token (default: gateway.auth.token, OPENCLAW_GATEWAY_TOKEN)")]
    token: Option<String>,
    #[argh(option, description = "shared gateway password (default: gateway.auth.password, OPENCLAW_GATEWAY_PASSWORD)")]
    password: Option<String>,
    #[argh(option, description = "auth mode: token, password or none (none only on loopback)")]
    auth: Option<Auth>,
    #[argh(switch, description = "start even when the config is missing or gateway.mode is not local")]
    allow_unconfigured: bool,
    #[argh(switch, description = "stop the OpenClaw gateway that holds the port, then start")]
    force: bool,
    #[argh(switch, description = "debug logging on the console, including WebSocket traffic")]
    verbose: bool,
    #[argh(switch, description = "use the dev profile (same as the global --dev)")]
    dev: bool,
}

/// Show the gateway's service, runtime, configuration and a live RPC probe.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct StatusCmd {
    #[argh(switch, description = "also ask the running gateway for uptime, clients and listeners")]
    deep: bool,
    #[argh(switch, description = "print one JSON document")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "probe timeout in milliseconds (default 3000)")]
    timeout: Option<u64>,
}

/// Call one RPC method on the running gateway and print its result.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "call")]
pub struct CallCmd {
    #[argh(positional, description = "method name, for example health")]
    method: String,
    #[argh(option, description = "params as JSON (default: none)")]
    params: Option<String>,
    #[argh(switch, description = "print the result as compact JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "request timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Bind(BindMode);

impl FromArgValue for Bind {
    fn from_arg_value(value: &str) -> Result<Self, String> {
        BindMode::CHOICES
            .iter()
            .find(|(n, _)| *n == value)
            .map(|(_, m)| Bind(*m))
            .ok_or_else(|| format!("expected loopback, lan, custom, tailnet or auto, got {value:?}"))
    }
}

#[derive(Debug, Clone, Copy)]
struct Auth(AuthMode);

impl FromArgValue for Auth {
    fn from_arg_value(value: &str) -> Result<Self, String> {
        match value {
            "token" => Ok(Auth(AuthMode::Token)),
            "password" => Ok(Auth(AuthMode::Password)),
            "none" => Ok(Auth(AuthMode::None)),
            _ => Err(format!("expected token, password or none, got {value:?}")),
        }
    }
}

impl GatewayCmd {
    /// Whether `--dev` was given on the gateway command (or its `run` subcommand).
    pub fn dev(&self) -> bool {
        self.dev || matches!(&self.sub, Some(GatewaySub::Run(r)) if r.dev)
    }

    fn options(&self) -> RunOptions {
        let base = RunOptions {
            port: self.port,
            bind: self.bind.map(|b| b.0),
            token: self.token.clone(),
            password: self.password.clone(),
            auth: self.auth.map(|a| a.0),
            allow_unconfigured: self.allow_unconfigured,
            force: self.force,
            verbose: self.verbose,
        };
        match &self.sub {
            Some(GatewaySub::Run(r)) => RunOptions {
                port: r.port.or(base.port),
                bind: r.bind.map(|b| b.0).or(base.bind),
                token: r.token.clone().or(base.token),
                password: r.password.clone().or(base.password),
                auth: r.auth.map(|a| a.0).or(base.auth),
                allow_unconfigured: r.allow_unconfigured || base.allow_unconfigured,
                force: r.force || base.force,
                verbose: r.verbose || base.verbose,
            },
            _ => base,
        }
    }
}

pub fn run(paths: Paths, cmd: GatewayCmd) -> u8 {
    let opts = cmd.options();
    let result = match cmd.sub {
        None | Some(GatewaySub::Run(_)) => return start::run(paths, opts),
        Some(GatewaySub::Status(s)) => status(&paths, s),
        Some(GatewaySub::Call(c)) => call(&paths, c),
        Some(GatewaySub::Install(c)) => service::install(&paths, c, opts.port),
        Some(GatewaySub::Uninstall(c)) => service::uninstall(&paths, c),
        Some(GatewaySub::Start(c)) => service::start(&paths, c),
        Some(GatewaySub::Stop(c)) => service::stop(&paths, c),
        Some(GatewaySub::Restart(c)) => service::restart(&paths, c),
    };
    super::finish(result)
}

/// `gateway call <method> [--params <json>]`: connects with the scope the method needs.
fn call(paths: &Paths, cmd: CallCmd) -> Result<(), CliError> {
    let params = match &cmd.params {
        Some(text) => Some(serde_json::from_str::<Value>(text).map_err(|e| CliError::new(format!("--params is not valid JSON: {e}")))?),
        None => None,
    };
    let scope = crate::rpc::methods::scope_of(&cmd.method).map(|s| s.name()).unwrap_or("operator.read");
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: cmd.timeout };
    let payload = client::one_call(paths, &flags, &[scope], &cmd.method, params)?;
    if cmd.json {
        println!("{payload}");
    } else {
        print_json(&payload);
    }
    Ok(())
}

/// `gateway status`: service, runtime, config and an RPC probe. Exit 0 only when the probe works.
fn status(paths: &Paths, cmd: StatusCmd) -> Result<(), CliError> {
    let loaded = config::load(paths);
    let (config_state, cfg) = match &loaded {
        Ok(l) if l.is_valid() => ("valid".to_string(), (*l.config).clone()),
        Ok(l) => (format!("invalid ({} problem(s); run `{} doctor`)", l.issues.len(), paths.command_prefix()), (*l.config).clone()),
        Err(config::LoadError::Missing(_)) => ("missing".to_string(), config::Config::empty()),
        Err(config::LoadError::Invalid(why)) => (format!("invalid ({why})"), config::Config::empty()),
    };
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: Some(cmd.timeout.unwrap_or(3000)) };
    let target = client::resolve_target(paths, &cfg, &flags)?;
    let manager = crate::service::Manager::detect(false);
    let svc = crate::service::state(paths, manager);
    let unit_name = crate::service::service_name(paths, manager);
    let owner = crate::daemon::lock::live_owner(&paths.state_dir);
    let listen = crate::gateway::rules::resolve_listen(paths, &cfg, &RunOptions::default()).ok();
    let log_file = cfg.logging.file.clone().unwrap_or_else(|| crate::logging::dated_path(&paths.log_stem()));

    let started = std::time::Instant::now();
    let probe = smol::block_on(async {
        let mut c = GatewayClient::connect(&target, &["operator.read"], "cli").await?;
        let health = c.call("health", None).await?;
        let deep = if cmd.deep { Some(c.call("status", None).await?) } else { None };
        let version = c.hello["server"]["version"].clone();
        c.close().await;
        Ok::<_, CallError>((health, deep, version))
    });
    let probe_ms = started.elapsed().as_millis() as u64;

    let service_line = match manager {
        crate::service::Manager::None => "no supported service manager detected".to_string(),
        _ if !svc.installed => {
            format!("{} · {unit_name} not installed (install with `{} gateway install`)", manager.describe(), paths.command_prefix())
        }
        _ => format!("{} · {unit_name} · {}", manager.describe(), svc.detail),
    };
    let runtime_line = match &owner {
        Some(o) => format!("running (pid {})", o.pid),
        None => "stopped".to_string(),
    };
    let (port, port_source, bind) = match &listen {
        Some(l) => (owner.as_ref().and_then(|o| o.port).unwrap_or(l.port), l.port_source.name(), l.bind.name()),
        None => (target.port, "unknown", "loopback"),
    };

    if cmd.json {
        let mut out = json!({
            "cli": {"version": crate::VERSION, "entrypoint": std::env::current_exe().ok().map(|p| p.display().to_string())},
            "logFile": log_file.display().to_string(),
            "service": {"manager": manager.describe(), "label": unit_name, "installed": svc.installed, "enabled": svc.enabled, "active": svc.active, "detail": svc.detail},
            "runtime": {"status": if owner.is_some() { "running" } else { "stopped" }, "pid": owner.as_ref().map(|o| o.pid)},
            "config": {"cli": {"path": paths.display(&paths.config_path), "exists": paths.config_path.exists(), "valid": config_state == "valid"}},
            "gateway": {"bindMode": bind, "port": port, "portSource": port_source, "probeUrl": target.url},
        });
        match &probe {
            Ok((_, deep, version)) => {
                out["rpc"] = json!({"ok": true, "url": target.url, "durationMs": probe_ms, "version": version});
                if let Some(d) = deep {
                    out["gateway"]["status"] = d.clone();
                }
            }
            Err(e) => out["rpc"] = json!({"ok": false, "url": target.url, "error": e.explain(&target)}),
        }
        print_json(&out);
    } else {
        println!("Service: {service_line}");
        println!("Runtime: {runtime_line}");
        match &probe {
            Ok(_) => println!("RPC probe: ok ({probe_ms} ms)"),
            Err(e) => println!("RPC probe: failed — {}", e.explain(&target)),
        }
        println!("File logs: {}", log_file.display());
        println!();
        println!("Config (cli): {} ({config_state})", paths.display(&paths.config_path));
        if let Some(cfg_path) = service_config_path(paths, manager) {
            println!("Config (service): {}", cfg_path);
        }
        match (&owner, &listen) {
            (Some(o), Some(l)) if o.port.is_some_and(|p| p != l.port) => {
                println!("Gateway: bind={bind}, port={port} (the running gateway's; the config resolves {} ({port_source}))", l.port)
            }
            _ => println!("Gateway: bind={bind}, port={port} ({port_source})"),
        }
        println!("Probe target: {}", target.url);
        if cfg.gateway.control_ui.enabled {
            println!("Dashboard: http://{}:{}{}", target.host, target.port, cfg.gateway.control_ui.base_path);
        }
        println!();
        println!("CLI version: {} ({})", crate::VERSION, std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default());
        if let Ok((_, deep, version)) = &probe {
            println!("Gateway version: {}", version.as_str().unwrap_or("unknown"));
            if let Some(d) = deep {
                println!("Uptime: {}", human_ms(d["uptimeMs"].as_u64().unwrap_or(0)));
                println!("Clients: {}", d["gateway"]["clients"]);
                let listeners: Vec<String> = d["gateway"]["listeners"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                println!("Listening: {}", listeners.join(", "));
                for line in service::drift(paths, manager) {
                    println!("Service drift: {line}");
                }
            }
        }
    }
    match probe {
        Ok(_) => Ok(()),
        Err(_) => Err(CliError { message: String::new(), code: 1 }),
    }
}

/// The config the installed service uses (from its environment), if a service is installed.
fn service_config_path(paths: &Paths, manager: crate::service::Manager) -> Option<String> {
    let name = crate::service::service_name(paths, manager);
    let unit = crate::service::unit_path(paths, manager, &name)?;
    let text = std::fs::read_to_string(unit).ok()?;
    let (_, env) = crate::service::systemd::parse(&text);
    let path = env.iter().find(|(k, _)| k == "OPENCLAW_CONFIG_PATH").map(|(_, v)| v.clone());
    Some(path.unwrap_or_else(|| paths.display(&paths.config_path)))
}

/// `3h 2m 5s`.
pub fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec}s"),
        (h, m, sec) => format!("{h}h {m}m {sec}s"),
    }
}
