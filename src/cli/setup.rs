//! `openclaw setup`: the first-run files of a profile, written non-interactively. Existing files
//! are kept as they are.

use argh::FromArgs;

use crate::config::{Paths, bootstrap};

/// Create the config (with a generated gateway token, unless OPENCLAW_GATEWAY_TOKEN or
/// OPENCLAW_GATEWAY_PASSWORD is set), the agent workspace and the session directory of this
/// profile; existing files are kept.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "setup")]
// The two switches exist so scripts written for the official CLI keep working; they change nothing.
#[allow(dead_code)]
pub struct SetupCmd {
    #[argh(switch, description = "accepted for compatibility: setup never asks questions")]
    non_interactive: bool,
    #[argh(switch, description = "accepted for compatibility (the baseline files are what setup writes)")]
    baseline: bool,
}

pub fn run(paths: Paths, _cmd: SetupCmd) -> u8 {
    let existed = paths.config_path.exists();
    let seed = bootstrap::AuthSeed::from_environment();
    let created = match bootstrap::ensure_profile(&paths, seed) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Setup failed: {e}");
            return 1;
        }
    };
    let show = |p: &std::path::Path| paths.display(p);
    if created.config.is_some() {
        println!("Wrote {}", show(&paths.config_path));
    } else if existed {
        println!("Config OK: {} (kept as it is)", show(&paths.config_path));
    }
    let workspace = paths.default_workspace();
    if created.files.is_empty() {
        println!("Workspace OK: {}", show(&workspace));
    } else {
        let names: Vec<String> = created.files.iter().filter_map(|f| f.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
        println!("Workspace OK: {} (wrote {})", show(&workspace), names.join(", "));
    }
    println!("Sessions OK: {}", show(&paths.state_dir.join("agents").join("main").join("sessions")));
    println!();
    println!("Setup complete: config, workspace, and session directories are ready.");
    if created.config.is_some() {
        match seed {
            bootstrap::AuthSeed::Generate => {
                println!("A gateway token was generated and stored in gateway.auth.token ({}).", show(&paths.config_path))
            }
            bootstrap::AuthSeed::UserToken => println!("Gateway auth: token; OPENCLAW_GATEWAY_TOKEN is the token (none was generated)."),
            bootstrap::AuthSeed::UserPassword => {
                println!("Gateway auth: password; OPENCLAW_GATEWAY_PASSWORD is the password (no token was generated).")
            }
        }
    }
    let p = paths.command_prefix();
    println!("Run the gateway: {p} gateway");
    println!("Run it as a service: {p} gateway install");
    0
}
