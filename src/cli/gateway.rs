//! `openclaw gateway` and `openclaw gateway run`: the resident process.

use argh::{FromArgValue, FromArgs};

use crate::config::{AuthMode, BindMode, Paths};
use crate::gateway::start::{self, RunOptions};

/// Run the gateway (WebSocket protocol, HTTP API and probes on one port).
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
}

/// Run the gateway in the foreground (same as `openclaw gateway`).
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

    fn options(self) -> RunOptions {
        match self.sub {
            Some(GatewaySub::Run(r)) => RunOptions {
                port: r.port.or(self.port),
                bind: r.bind.or(self.bind).map(|b| b.0),
                token: r.token.or(self.token),
                password: r.password.or(self.password),
                auth: r.auth.or(self.auth).map(|a| a.0),
                allow_unconfigured: r.allow_unconfigured || self.allow_unconfigured,
                force: r.force || self.force,
                verbose: r.verbose || self.verbose,
            },
            None => RunOptions {
                port: self.port,
                bind: self.bind.map(|b| b.0),
                token: self.token,
                password: self.password,
                auth: self.auth.map(|a| a.0),
                allow_unconfigured: self.allow_unconfigured,
                force: self.force,
                verbose: self.verbose,
            },
        }
    }
}

pub fn run(paths: Paths, cmd: GatewayCmd) -> u8 {
    start::run(paths, cmd.options())
}
