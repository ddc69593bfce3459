//! The worker of a channel: takes recorded messages through the access policy, the chat commands
//! and the agent, and delivers the answer in chunks with retries, journaling every step.

use smol::Task;
use smol::channel::Receiver;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::journal::{Entry, Inbound};
use super::link::{Link, Tuning};
use super::registry::Shared;
use super::transport::Transport;
use super::{SendError, access, pairing, text};
use crate::agent::message::Message;
use crate::agent::{Origin, RunRequest, RunStatus, SessionKey};
use crate::clock::now_ms;
use crate::config::Config;
use crate::config::channel_kind::ChannelKind;
use crate::config::channels::DmScope;
use crate::limits;

/// Takes recorded messages through policy, the agent and delivery, each in its own task (the
/// agent keeps each session's turns in order; admission happens here, in arrival order).
pub(super) async fn worker(shared: Arc<Shared>, link: Link, transport: Transport, wake: Receiver<()>) {
    let mut started: HashSet<String> = HashSet::new();
    let mut tasks: Vec<Task<()>> = Vec::new();
    loop {
        tasks.retain(|t| !t.is_finished());
        let pending = link.journal.pending();
        started.retain(|id| pending.iter().any(|e| &e.msg.id == id));
        for entry in pending {
            if started.contains(&entry.msg.id) || tasks.len() >= limits::CHANNEL_CONCURRENT_MESSAGES {
                continue;
            }
            started.insert(entry.msg.id.clone());
            let run = admit(&shared, &link, &transport, &entry).await;
            if let Some(run) = run {
                tasks.push(crate::rt::spawn(finish(shared.clone(), link.clone(), transport.clone(), entry, run)));
            }
        }
        // Woken by a new message, or by a delivery that ended (which frees a place for an entry
        // skipped at the concurrency cap). An idle channel costs no wake-ups.
        if wake.recv().await.is_err() {
            return;
        }
    }
}

/// What to do after admission.
enum Next {
    /// Wait for this agent run, then deliver its answer.
    Run { run_id: String },
    /// Deliver this text (an answer known from the journal, or a command's reply).
    Reply(String),
}

fn session_key(cfg: &Config, kind: ChannelKind, msg: &Inbound) -> SessionKey {
    let agent = cfg.agents.default_id();
    let peer = msg.sender.to_lowercase();
    let channel = kind.id();
    if msg.group {
        return SessionKey::group(agent, channel, &msg.chat.to_lowercase());
    }
    match cfg.session.dm_scope {
        DmScope::Main => SessionKey::main(agent),
        DmScope::PerPeer => SessionKey::new(agent, &format!("direct:{peer}")),
        DmScope::PerChannelPeer => SessionKey::direct(agent, channel, &peer),
        DmScope::PerAccountChannelPeer => SessionKey::new(agent, &format!("{channel}:default:direct:{peer}")),
    }
}

/// Policy, commands and the agent submission for one entry. `None` when the entry is finished
/// here (ignored, or journaled as done).
async fn admit(shared: &Shared, link: &Link, transport: &Transport, entry: &Entry) -> Option<Next> {
    let msg = &entry.msg;
    if let Some(reply) = &entry.reply {
        return Some(Next::Reply(reply.clone()));
    }
    let cfg = shared.config();
    let ch = cfg.channels.get(link.kind)?;
    if let Some(early) = gate(shared, link, &ch.access, msg).await {
        return early;
    }
    // Commands owned above the channels (the gateway's `/approve XXXX-XXXX` for a waiting
    // control-panel device), for senders the policy already allowed.
    if let Some(reply) = match &shared.commands {
        Some(commands) => commands.reply(&msg.text).await,
        None => None,
    } {
        return Some(Next::Reply(reply));
    }
    let key = session_key(&cfg, link.kind, msg);
    if let Some(reply) = chat_command(shared, &cfg, &key, &msg.text).await {
        return Some(Next::Reply(reply));
    }
    let text = if msg.group && !msg.sender_label.is_empty() { format!("{}: {}", msg.sender_label, msg.text) } else { msg.text.clone() };
    let run_id = format!("{}:{}", link.kind, msg.id);
    let mut run = RunRequest::new(run_id.clone(), key, vec![Message::user(text)], Origin::Channel, cfg.clone());
    run.channel = Some(link.kind.id().to_string());
    let t = transport.clone();
    let chat = msg.chat.clone();
    crate::rt::spawn(async move { t.typing(&chat).await }).detach();
    match shared.agent.submit(run).await {
        Ok(_) => Some(Next::Run { run_id }),
        Err(e) => Some(Next::Reply(format!("⚠️ The agent is busy ({e}). Please try again in a moment."))),
    }
}

/// The access policy with the pairing allow list. `None` lets the message through; `Some(next)`
/// ends admission here (`Some(None)`: ignored or finished, `Some(Some(reply))`: a pairing code
/// to send).
async fn gate(shared: &Shared, link: &Link, rules: &crate::config::channels::Access, msg: &Inbound) -> Option<Option<Next>> {
    let kind = link.kind;
    // The pairing files are shared with the CLI under a file lock: read them off the executor.
    let store = shared.pairing.clone();
    let paired = smol::unblock(move || store.allowed(kind.id())).await.unwrap_or_else(|e| {
        log::warn!(target: "channels", "{kind}: cannot read the pairing allow list: {e}");
        Vec::new()
    });
    match access::decide(rules, msg, &paired) {
        access::Decision::Allow => None,
        access::Decision::Ignore(why) => {
            log::debug!(target: "channels", "{kind}: message {} from {} ignored: {why}", msg.id, msg.sender);
            finish_entry(link, &msg.id, "ignored").await;
            Some(None)
        }
        access::Decision::Pair => Some(pair(shared, link, msg).await),
    }
}

/// An unknown sender under the pairing policy: a code the first time, silence while it waits.
async fn pair(shared: &Shared, link: &Link, msg: &Inbound) -> Option<Next> {
    let kind = link.kind;
    let (store, sender, sender_label, chat) = (shared.pairing.clone(), msg.sender.clone(), msg.sender_label.clone(), msg.chat.clone());
    let ask = smol::unblock(move || store.ask(kind.id(), &sender, &sender_label, &chat, now_ms())).await;
    match ask {
        Ok(pairing::Ask::New(code)) => {
            log::info!(target: "channels", "{kind}: pairing requested by {} ({}); approve with `openclaw pairing approve {kind} {code}`", msg.sender, msg.sender_label);
            Some(Next::Reply(format!(
                "OpenClaw: access not configured.\n\nYour {} user id: {}\n\nPairing code: {code}\n\nAsk the bot owner to approve with:\nopenclaw pairing approve {kind} {code}",
                kind.label(),
                msg.sender
            )))
        }
        Ok(_) => {
            finish_entry(link, &msg.id, "pairing-pending").await;
            None
        }
        Err(e) => {
            log::error!(target: "channels", "{kind}: cannot record a pairing request: {e}");
            finish_entry(link, &msg.id, "failed").await;
            None
        }
    }
}

/// The chat commands (`/new`, `/reset`, `/stop`): their reply, or `None` for a plain message.
async fn chat_command(shared: &Shared, cfg: &Config, key: &SessionKey, text: &str) -> Option<String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "/new" | "/reset" => {
            shared.agent.abort(key, None).await;
            let workspace = shared.agent.workspace_for(cfg, &key.agent_id);
            let store = shared.agent.store();
            Some(match store.reset(key, &workspace).await {
                Ok(_) => "✅ New session started.".to_string(),
                Err(e) => format!("⚠️ Could not reset the session: {e}"),
            })
        }
        "/stop" => {
            let stopped = shared.agent.abort(key, None).await;
            Some(if stopped.is_empty() { "Nothing to stop.".into() } else { "⏹️ Stopped.".into() })
        }
        _ => None,
    }
}

/// Waits for the answer and delivers it, chunk by chunk, journaling each step; then tells the
/// worker a place is free.
async fn finish(shared: Arc<Shared>, link: Link, transport: Transport, entry: Entry, next: Next) {
    deliver_answer(&shared, &link, &transport, &entry, next).await;
    let _ = link.wake.try_send(());
}

/// The text to send for `next`: a known reply, or the agent's answer once its run ends.
async fn answer_text(shared: &Shared, transport: &Transport, chat: &str, next: Next) -> String {
    let run_id = match next {
        Next::Reply(text) => return text,
        Next::Run { run_id } => run_id,
    };
    let outcome = loop {
        if let Some(o) = shared.agent.wait(&run_id, Duration::from_secs(4)).await {
            break o;
        }
        // Still running: keep "typing…" visible (Telegram's lasts about 5 s).
        transport.typing(chat).await;
    };
    match outcome.status {
        RunStatus::Ok => outcome.text.trim().to_string(),
        RunStatus::Aborted => String::new(),
        RunStatus::Error => {
            format!("⚠️ The agent could not answer: {}", outcome.error.as_ref().map(|e| e.message.as_str()).unwrap_or("unknown error"))
        }
    }
}

async fn deliver_answer(shared: &Shared, link: &Link, transport: &Transport, entry: &Entry, next: Next) {
    let kind = link.kind;
    let msg = &entry.msg;
    let reply = answer_text(shared, transport, &msg.chat, next).await;
    // The official silent token: the agent chose not to answer.
    if reply.is_empty() || reply == "NO_REPLY" {
        finish_entry(link, &msg.id, "no-reply").await;
        return;
    }
    if entry.reply.is_none() {
        let (mid, r) = (msg.id.clone(), reply.clone());
        if let Err(e) = link.journaled(move |j| j.replied(&mid, &r)).await {
            log::error!(target: "channels", "{kind}: cannot journal the answer to {}: {e}", msg.id);
        }
    }
    let limit = shared.config().channels.get(kind).map(|c| c.text_chunk_limit).unwrap_or(kind.text_limit());
    let pieces = text::chunks(&reply, limit);
    for (i, piece) in pieces.iter().enumerate().skip(entry.sent) {
        let reply_to = if i == 0 || kind.replies_in_thread() { msg.reply_to.as_deref() } else { None };
        match deliver(transport, &link.tuning, kind, &msg.chat, piece, reply_to, &nonce(&format!("{kind}:{}:{i}", msg.id))).await {
            Ok(_) => {
                link.status().last_outbound_at = Some(now_ms());
                let mid = msg.id.clone();
                if let Err(e) = link.journaled(move |j| j.sent(&mid, i)).await {
                    log::error!(target: "channels", "{kind}: cannot journal a delivered chunk of {}: {e}", msg.id);
                }
            }
            Err(e) => {
                log::error!(target: "channels", "{kind}: giving up on the answer to message {} in {}: {}", msg.id, msg.chat, e.message());
                link.status().last_error = Some(format!("send failed: {}", e.message()));
                finish_entry(link, &msg.id, "failed").await;
                return;
            }
        }
    }
    finish_entry(link, &msg.id, "delivered").await;
}

async fn finish_entry(link: &Link, msg_id: &str, result: &'static str) {
    let mid = msg_id.to_string();
    if let Err(e) = link.journaled(move |j| j.done(&mid, result)).await {
        log::error!(target: "channels", "{}: cannot journal the end of message {msg_id}: {e}", link.kind);
    }
}

/// A stable id for one outbound piece (Discord dedupes resends by it; 25 characters at most).
pub(super) fn nonce(seed: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
    let mut n = 0u64;
    for b in d.as_ref().iter().take(8) {
        n = (n << 8) | *b as u64;
    }
    // Discord wants a number-like nonce up to 25 characters; 19 digits fit.
    (n % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000).to_string()
}

/// Sends one piece with retries: transient failures back off (honouring `retry_after`), permanent
/// ones end at once.
pub(super) async fn deliver(
    t: &Transport,
    tuning: &Tuning,
    kind: ChannelKind,
    to: &str,
    text: &str,
    reply_to: Option<&str>,
    nonce: &str,
) -> Result<String, SendError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match t.send(to, text, reply_to, nonce).await {
            Ok(id) => return Ok(id),
            Err(SendError::Transient { message, retry_after }) if attempt < limits::CHANNEL_SEND_ATTEMPTS => {
                let backoff = tuning.send_retry_base.saturating_mul(1 << (attempt - 1));
                let wait = retry_after
                    .map(|r| r.min(limits::CHANNEL_RETRY_AFTER_MAX))
                    .unwrap_or(backoff)
                    .max(backoff.min(Duration::from_millis(50)));
                log::warn!(target: "channels", "{kind}: send to {to} failed ({message}); retry {attempt} in {} ms", wait.as_millis());
                smol::Timer::after(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_stable_and_fit_discord() {
        let a = nonce("telegram:1:0");
        assert_eq!(a, nonce("telegram:1:0"));
        assert_ne!(a, nonce("telegram:1:1"));
        assert!(a.len() <= 25 && a.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn session_keys_follow_dm_scope() {
        let mut cfg = Config::empty();
        let msg = Inbound {
            id: "1".into(),
            chat: "-100".into(),
            sender: "ABC".into(),
            sender_label: String::new(),
            group: false,
            mentioned: false,
            text: String::new(),
            reply_to: None,
            cursor: None,
            received_at: 0,
        };
        assert_eq!(session_key(&cfg, ChannelKind::Telegram, &msg).to_string(), "agent:main:main");
        cfg.session.dm_scope = DmScope::PerChannelPeer;
        assert_eq!(session_key(&cfg, ChannelKind::Telegram, &msg).to_string(), "agent:main:telegram:direct:abc");
        cfg.session.dm_scope = DmScope::PerAccountChannelPeer;
        assert_eq!(session_key(&cfg, ChannelKind::Discord, &msg).to_string(), "agent:main:discord:default:direct:abc");
        let g = Inbound { group: true, ..msg };
        assert_eq!(session_key(&cfg, ChannelKind::Telegram, &g).to_string(), "agent:main:telegram:group:-100");
    }
}
