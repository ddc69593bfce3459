//! `openclaw secrets reload`: re-resolve SecretRefs in the running gateway.

use argh::FromArgs;

use super::client::{self, CliError, TargetFlags};
use super::print_json;
use crate::config::Paths;

/// Secrets held outside the config file.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "secrets")]
pub struct SecretsCmd {
    #[argh(subcommand)]
    sub: SecretsSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum SecretsSub {
    Reload(ReloadCmd),
}

/// Resolve every SecretRef again without restarting the gateway.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "reload")]
struct ReloadCmd {
    #[argh(switch, description = "print the result as JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

pub fn run(paths: &Paths, cmd: SecretsCmd) -> Result<(), CliError> {
    let SecretsSub::Reload(cmd) = cmd.sub;
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: cmd.timeout };
    let result = client::one_call(paths, &flags, &["operator.admin"], "secrets.reload", None)?;
    if cmd.json {
        print_json(&result);
    } else {
        println!("Secrets reloaded.");
    }
    Ok(())
}
