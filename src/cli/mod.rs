//! The command line (argh). One file per command family; each parses its flags and calls into
//! the library. Exit codes are decided here and in the commands, never in `main`.

pub mod agent;
pub mod channels;
pub mod client;
pub mod doctor;
pub mod gateway;
pub mod logs;
pub mod message;
pub mod pairing;
pub mod secrets;
pub mod service;
pub mod setup;
pub mod status;

use argh::FromArgs;

use crate::config::Paths;
use client::CliError;

/// OpenClaw Gateway for small machines: chat channels to an AI agent, the official protocol on
/// one port.
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// use the dev profile: state in ~/.openclaw-dev, port 19001
    #[argh(switch)]
    pub dev: bool,
    /// use a named profile: state in ~/.openclaw-<name>
    #[argh(option)]
    pub profile: Option<String>,
    /// print the version and exit
    #[argh(switch, short = 'V')]
    pub version: bool,
    #[argh(subcommand)]
    pub command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Gateway(gateway::GatewayCmd),
    Agent(agent::AgentCmd),
    Setup(setup::SetupCmd),
    Status(status::StatusCmd),
    Health(status::HealthCmd),
    Logs(logs::LogsCmd),
    Channels(channels::ChannelsCmd),
    Pairing(pairing::PairingCmd),
    Message(message::MessageCmd),
    Secrets(secrets::SecretsCmd),
    Doctor(doctor::DoctorCmd),
}

/// Parses the process arguments and runs the command; returns the exit code.
pub fn main() -> u8 {
    let cli: Cli = argh::from_env();
    if cli.version {
        println!("openclaw {}", crate::VERSION);
        return 0;
    }
    let Some(command) = cli.command else {
        eprintln!("openclaw: no command given. Run `openclaw --help` to see the commands.");
        return 1;
    };
    let dev = cli.dev || matches!(&command, Command::Gateway(cmd) if cmd.dev());
    let paths = match Paths::resolve(dev, cli.profile.as_deref()) {
        Ok(paths) => paths,
        Err(e) => {
            eprintln!("openclaw: {e}");
            return crate::gateway::start::EXIT_CONFIG;
        }
    };
    match command {
        Command::Gateway(cmd) => gateway::run(paths, cmd),
        Command::Agent(cmd) => finish(agent::run(&paths, cmd)),
        Command::Setup(cmd) => setup::run(paths, cmd),
        Command::Status(cmd) => finish(status::status(&paths, cmd)),
        Command::Health(cmd) => finish(status::health(&paths, cmd)),
        Command::Logs(cmd) => finish(logs::run(&paths, cmd)),
        Command::Channels(cmd) => finish(channels::run(&paths, cmd)),
        Command::Pairing(cmd) => finish(pairing::run(&paths, cmd)),
        Command::Message(cmd) => finish(message::run(&paths, cmd)),
        Command::Secrets(cmd) => finish(secrets::run(&paths, cmd)),
        Command::Doctor(cmd) => finish(doctor::run(&paths, cmd)),
    }
}

/// Prints a command's failure (if it has a message) and returns its exit code.
pub fn finish(result: Result<(), CliError>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("{}", e.message);
            }
            e.code
        }
    }
}

/// Pretty JSON on stdout.
pub fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()));
}
