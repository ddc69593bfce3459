//! The command line (argh). One file per command family; each parses its flags and calls into
//! the library. Exit codes are decided here and in the commands, never in `main`.

pub mod agent;
pub mod channels;
pub mod client;
pub mod config;
pub mod dashboard;
pub mod devices;
pub mod doctor;
pub mod gateway;
pub mod inventory;
pub mod logs;
pub mod message;
pub mod onboard;
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
    Devices(devices::DevicesCmd),
    Message(message::MessageCmd),
    Secrets(secrets::SecretsCmd),
    Doctor(doctor::DoctorCmd),
    Config(config::ConfigCmd),
    Sessions(inventory::SessionsCmd),
    Models(inventory::ModelsCmd),
    Agents(inventory::AgentsCmd),
    Onboard(onboard::OnboardCmd),
    Dashboard(dashboard::DashboardCmd),
}

/// Parses the process arguments and runs the command; returns the exit code.
pub fn main() -> u8 {
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let cli = match parse(&args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
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
            return crate::gateway::rules::EXIT_CONFIG;
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
        Command::Devices(cmd) => finish(devices::run(&paths, cmd)),
        Command::Message(cmd) => finish(message::run(&paths, cmd)),
        Command::Secrets(cmd) => finish(secrets::run(&paths, cmd)),
        Command::Doctor(cmd) => finish(doctor::run(&paths, cmd)),
        Command::Config(cmd) => finish(config::run(&paths, cmd)),
        Command::Sessions(cmd) => finish(inventory::sessions(&paths, cmd)),
        Command::Models(cmd) => finish(inventory::models(&paths, cmd)),
        Command::Agents(cmd) => finish(inventory::agents(&paths, cmd)),
        Command::Onboard(cmd) => finish(onboard::run(&paths, cmd)),
        Command::Dashboard(cmd) => finish(dashboard::run(&paths, cmd)),
    }
}

/// Parses `args` (the program name first) as argh does, and also: `-h` is `--help` wherever
/// `--help` works, and an unknown command or flag gets the closest known one suggested.
/// `Err` carries the exit code after the help or the error was printed.
pub fn parse(args: &[String]) -> Result<Cli, u8> {
    let program = args.first().map(String::as_str).unwrap_or("openclaw");
    let program = std::path::Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or("openclaw");
    let mut rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    loop {
        match Cli::from_args(&[program], &rest) {
            Ok(cli) => return Ok(cli),
            Err(exit) if exit.status.is_ok() => {
                println!("{}", exit.output);
                return Err(0);
            }
            Err(exit) => {
                let unknown = exit.output.strip_prefix("Unrecognized argument: ").map(|a| a.lines().next().unwrap_or(a).trim());
                // argh only knows `--help`; `-h` is what people type. Replaced only where argh
                // refused it, so a value such as `--token -h` is left alone.
                if unknown == Some("-h") {
                    if let Some(i) = rest.iter().position(|a| *a == "-h") {
                        if let Some(slot) = rest.get_mut(i) {
                            *slot = "--help";
                            continue;
                        }
                    }
                }
                eprintln!("{}", exit.output.trim_end());
                if let Some(hint) = unknown.and_then(|u| did_you_mean(program, &rest, u)) {
                    eprintln!("{hint}");
                }
                eprintln!("Run {program} --help for more information.");
                return Err(1);
            }
        }
    }
}

/// "Did you mean `status`?" for an unknown word, from the commands and flags of the command it
/// was given to (read from argh's own help text, so it never goes stale).
fn did_you_mean(program: &str, args: &[&str], unknown: &str) -> Option<String> {
    let names_at = |path: &[&str]| -> (Vec<String>, Vec<String>) {
        let mut probe: Vec<&str> = path.to_vec();
        probe.push("--help");
        let help = match Cli::from_args(&[program], &probe) {
            Err(exit) if exit.status.is_ok() => exit.output,
            _ => return (Vec::new(), Vec::new()),
        };
        let (mut commands, mut flags) = (Vec::new(), Vec::new());
        let mut section = "";
        for line in help.lines() {
            if !line.starts_with(' ') {
                section = line.trim_end_matches(':');
                continue;
            }
            // An entry starts two spaces in; continuation lines of a description are deeper.
            let Some(entry) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) else { continue };
            let head = entry.split("  ").next().unwrap_or("");
            match section {
                "Commands" => commands.extend(head.split_whitespace().next().map(String::from)),
                "Options" => flags.extend(head.split([',', ' ']).filter(|w| w.starts_with("--")).map(String::from)),
                _ => {}
            }
        }
        (commands, flags)
    };
    let position = args.iter().position(|a| *a == unknown).unwrap_or(args.len());
    let mut path: Vec<&str> = Vec::new();
    let mut level = names_at(&path);
    for word in args.iter().take(position) {
        if level.0.iter().any(|c| c == word) {
            path.push(word);
            level = names_at(&path);
        }
    }
    let (commands, flags) = level;
    let pool: Vec<&str> =
        if unknown.starts_with('-') { flags.iter().map(String::as_str).collect() } else { commands.iter().map(String::as_str).collect() };
    let best = crate::config::check::suggest(
        unknown.trim_start_matches('-'),
        &pool.iter().map(|p| p.trim_start_matches('-')).collect::<Vec<_>>(),
    )?;
    let shown = pool.iter().find(|p| p.trim_start_matches('-') == best)?;
    Some(format!("Did you mean `{shown}`?"))
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
