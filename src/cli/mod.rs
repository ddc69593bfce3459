//! The command line (argh). One file per command family; each parses its flags and calls into
//! the library. Exit codes are decided here and in the commands, never in `main`.

pub mod gateway;
pub mod setup;

use argh::FromArgs;

use crate::config::Paths;

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
    Setup(setup::SetupCmd),
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
        Command::Setup(cmd) => setup::run(paths, cmd),
    }
}
