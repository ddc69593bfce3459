//! The service manager's view of the gateway: `READY=1` once it serves, a `STATUS=` line with the
//! channels' state, and `WATCHDOG=1` only while it really works. "Works" means the event loop
//! runs this task, the event hub and the run scheduler answer a round trip, and no running chat
//! channel has stayed disconnected past its recovery budget. When something is stuck the pings
//! stop, and systemd (`WatchdogSec=`) restarts the gateway; the channel journals and the agent's
//! inbox mean nothing acknowledged is lost.

use smol::future::FutureExt;
use std::sync::Arc;
use std::time::Duration;

use crate::gateway::Gateway;
use crate::limits::{CHANNEL_RECOVERY_BUDGET, NOTIFY_STATUS_INTERVAL, WATCHDOG_PROBE_TIMEOUT};
use crate::service::notify::{Notifier, status_line};
use crate::sys::env_ms;

/// Runs while the gateway runs (under a notify-aware service manager).
pub async fn run(gw: Arc<Gateway>, notifier: Arc<Notifier>) {
    let budget = env_ms("OPENCLAW_CHANNEL_RECOVERY_BUDGET_MS", CHANNEL_RECOVERY_BUDGET);
    let pace = notifier.watchdog_interval.unwrap_or(NOTIFY_STATUS_INTERVAL).min(NOTIFY_STATUS_INTERVAL);
    let (mut status, _) = assess(&gw, budget).await;
    send(&notifier, &format!("READY=1\n{}", status_line(&status)));
    let mut withheld = false;
    loop {
        smol::Timer::after(pace).await;
        let (now, stuck) = assess(&gw, budget).await;
        let mut lines = Vec::new();
        if now != status {
            lines.push(status_line(&now));
            status = now;
        }
        match stuck {
            None => {
                if withheld {
                    log::info!(target: "gateway", "watchdog: making progress again; pings resumed");
                    withheld = false;
                }
                if notifier.watchdog_interval.is_some() {
                    lines.push("WATCHDOG=1".to_string());
                }
            }
            Some(why) => {
                if !withheld && notifier.watchdog_interval.is_some() {
                    log::warn!(target: "gateway", "watchdog: {why}; withholding the service manager's pings so it restarts the gateway");
                }
                withheld = true;
            }
        }
        if !lines.is_empty() {
            send(&notifier, &lines.join("\n"));
        }
    }
}

fn send(notifier: &Notifier, state: &str) {
    if let Err(e) = notifier.send(state) {
        log::debug!(target: "gateway", "notify socket: {e}");
    }
}

/// The status line, and why the gateway is stuck (if it is).
async fn assess(gw: &Gateway, budget: Duration) -> (String, Option<String>) {
    let hub_answers = async { Some(gw.hub.clients().await.len()) }
        .or(async {
            smol::Timer::after(WATCHDOG_PROBE_TIMEOUT).await;
            None
        })
        .await;
    let scheduler_answers = gw.agent.responsive(WATCHDOG_PROBE_TIMEOUT).await;
    let now = crate::clock::now_ms();
    let mut parts = Vec::new();
    let mut stuck = None;
    match hub_answers {
        Some(n) => parts.push(format!("ready · {n} client{}", if n == 1 { "" } else { "s" })),
        None => {
            parts.push("ready".to_string());
            stuck = Some("the event hub did not answer".to_string());
        }
    }
    if !scheduler_answers {
        stuck = Some("the run scheduler did not answer".to_string());
    }
    for (id, s) in gw.channels.liveness() {
        let state = if s.connected { "connected".to_string() } else { s.health_state.name().to_string() };
        parts.push(format!("{id} {state}"));
        if s.running && !s.connected {
            let since = s.last_connected_at.max(s.last_start_at).unwrap_or(now);
            let down = Duration::from_millis(now.saturating_sub(since));
            if down > budget && stuck.is_none() {
                stuck = Some(format!("{id} has been disconnected for {} s (recovery budget {} s)", down.as_secs(), budget.as_secs()));
            }
        }
    }
    (parts.join(" · "), stuck)
}
