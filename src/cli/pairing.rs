//! `openclaw pairing list|approve`: who asked to talk to the agent through a chat channel. These
//! work on the pairing files in the state directory, so they work whether or not the gateway runs
//! (the gateway reads the approved list on each message).

use argh::FromArgs;
use serde_json::json;

use super::client::CliError;
use super::print_json;
use crate::channels::pairing::Store;
use crate::config::Paths;
use crate::config::channel_kind::ChannelKind;

/// DM pairing requests from chat channels.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "pairing")]
pub struct PairingCmd {
    #[argh(subcommand)]
    sub: PairingSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum PairingSub {
    List(ListCmd),
    Approve(ApproveCmd),
}

/// List pending pairing requests.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
struct ListCmd {
    #[argh(positional, description = "only this channel (telegram, discord, whatsapp)")]
    channel: Option<String>,
    #[argh(switch, description = "print the result as JSON")]
    json: bool,
}

/// Approve a pairing code: the sender may message the agent from now on.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "approve")]
struct ApproveCmd {
    #[argh(positional, description = "the channel the code came from")]
    channel: String,
    #[argh(positional, description = "the 8-character code the sender received")]
    code: String,
    #[argh(switch, description = "tell the sender through the running gateway")]
    notify: bool,
}

fn channel(name: &str) -> Result<String, CliError> {
    let c = name.trim().to_ascii_lowercase();
    match ChannelKind::from_id(&c) {
        Some(kind) => Ok(kind.id().to_string()),
        None => Err(CliError::new(format!("unknown channel {name:?}; use one of: {}", ChannelKind::id_list()))),
    }
}

pub fn run(paths: &Paths, cmd: PairingCmd) -> Result<(), CliError> {
    let store = Store::new(&paths.state_dir);
    let now = crate::clock::now_ms();
    match cmd.sub {
        PairingSub::List(cmd) => {
            let channels: Vec<String> = match &cmd.channel {
                Some(c) => vec![channel(c)?],
                None => ChannelKind::ALL.iter().map(|k| k.id().to_string()).collect(),
            };
            let mut all = Vec::new();
            for c in &channels {
                let pending = store.pending(c, now).map_err(|e| CliError::new(format!("cannot read the {c} pairing requests: {e}")))?;
                all.extend(pending.into_iter().map(|r| (c.clone(), r)));
            }
            if cmd.json {
                let list: Vec<_> = all
                    .iter()
                    .map(|(c, r)| {
                        json!({"channel": c, "code": r.code, "senderId": r.sender_id, "senderLabel": r.sender_label,
                                         "createdAt": r.created_at, "expiresAt": r.expires_at()})
                    })
                    .collect();
                print_json(&json!({"requests": list}));
                return Ok(());
            }
            if all.is_empty() {
                println!("No pending pairing requests.");
            }
            for (c, r) in all {
                let mins = r.expires_at().saturating_sub(now) / 60_000;
                let who = if r.sender_label.is_empty() { r.sender_id.clone() } else { format!("{} ({})", r.sender_id, r.sender_label) };
                println!("{c}  {}  {who}  expires in {mins} min", r.code);
            }
            Ok(())
        }
        PairingSub::Approve(cmd) => {
            let c = channel(&cmd.channel)?;
            let approved = store.approve(&c, &cmd.code, now).map_err(|e| CliError::new(format!("cannot update the pairing store: {e}")))?;
            let Some(r) = approved else {
                return Err(CliError::new(format!(
                    "No pending {c} pairing request with code {}. Codes expire after 1 hour; run `{} pairing list` to see the pending ones.",
                    cmd.code.trim().to_ascii_uppercase(),
                    paths.command_prefix()
                )));
            };
            let who = if r.sender_label.is_empty() { String::new() } else { format!(" ({})", r.sender_label) };
            println!("Approved {c} sender {}{who}.", r.sender_id);
            if cmd.notify {
                let flags = super::client::TargetFlags { url: None, token: None, password: None, timeout_ms: Some(30_000) };
                let params = json!({"channel": c, "to": r.chat, "message": "✅ OpenClaw access approved. Send a message to start chatting.",
                                    "idempotencyKey": format!("pairing-{}", r.code)});
                match super::client::one_call(paths, &flags, &["operator.write"], "send", Some(params)) {
                    Ok(_) => println!("Told the sender."),
                    Err(e) => eprintln!("Could not tell the sender: {}", e.message),
                }
            }
            Ok(())
        }
    }
}
