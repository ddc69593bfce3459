//! What a receiver holds: the [`Link`] to its channel (record messages, report liveness), the
//! [`Tuning`] of its timings and the [`Backoff`] between reconnects.

use smol::channel::Sender;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::access;
use super::journal::{Inbound, Journal};
use super::status::{HealthState, Status};
use crate::clock::now_ms;
use crate::config::channel_kind::ChannelKind;
use crate::config::channels as cfg;
use crate::limits;

/// Timings, from `limits` unless the environment says otherwise (tests shorten them).
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    pub poll_timeout: Duration,
    pub stall_grace: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub healthy_after: Duration,
    pub send_retry_base: Duration,
}

impl Tuning {
    pub fn from_env() -> Tuning {
        let ms = crate::sys::env_ms;
        Tuning {
            poll_timeout: ms("OPENCLAW_CHANNEL_POLL_TIMEOUT_MS", limits::TELEGRAM_POLL_TIMEOUT),
            stall_grace: ms("OPENCLAW_CHANNEL_STALL_GRACE_MS", limits::CHANNEL_STALL_GRACE),
            backoff_min: ms("OPENCLAW_CHANNEL_BACKOFF_MIN_MS", limits::CHANNEL_BACKOFF_MIN),
            backoff_max: ms("OPENCLAW_CHANNEL_BACKOFF_MAX_MS", limits::CHANNEL_BACKOFF_MAX),
            healthy_after: ms("OPENCLAW_CHANNEL_HEALTHY_AFTER_MS", limits::CHANNEL_HEALTHY_AFTER),
            send_retry_base: ms("OPENCLAW_CHANNEL_RETRY_BASE_MS", limits::CHANNEL_SEND_RETRY_BASE),
        }
    }
}

/// Exponential backoff with jitter: each delay is drawn from the upper half of a window that
/// doubles per failure up to the cap, so many gateways restarting together do not reconnect in
/// step.
#[derive(Debug, Clone)]
pub struct Backoff {
    failures: u32,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(t: &Tuning) -> Backoff {
        Backoff { failures: 0, min: t.backoff_min, max: t.backoff_max }
    }

    pub fn next_delay(&mut self) -> Duration {
        let window = self.min.saturating_mul(1u32 << self.failures.min(16)).min(self.max);
        self.failures += 1;
        window.mul_f64(0.5 + 0.5 * crate::ids::random_fraction())
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Locks a channel's status. The status is the one piece of a channel that its receiver, its
/// worker and the registry's readers all touch, each for a few field writes; a lock per channel
/// is cheaper than routing every liveness note through the registry task. A panic elsewhere
/// while it was held leaves a status that is still worth reporting, so poisoning is ignored.
/// Warnings kept in a channel's status.
const WARNINGS_MAX: usize = 20;

pub(super) fn lock(status: &Mutex<Status>) -> MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(|p| p.into_inner())
}

/// A receiver's connection to the registry: record messages, report liveness.
#[derive(Clone)]
pub struct Link {
    pub kind: ChannelKind,
    pub tuning: Tuning,
    /// The channel's access rules as configured when it started (a change restarts the channel).
    pub(super) access: Arc<cfg::Access>,
    pub(super) status: Arc<Mutex<Status>>,
    pub(super) journal: Arc<Journal>,
    /// Wakes the channel's worker (a new message, or a place freed at the concurrency cap).
    pub(super) wake: Sender<()>,
    /// Tells the gateway the channel's health state moved (see [`super::Channels::changes`]).
    pub(super) changed: Sender<()>,
}

impl Link {
    /// A link recording into `journal` under `access`, outside the registry: no worker reads it
    /// and its status is its own. The fuzz target hands it to the receivers' reading steps.
    pub(crate) fn detached(kind: ChannelKind, access: cfg::Access, journal: Arc<Journal>) -> Link {
        let (wake, _) = smol::channel::bounded(1);
        let (changed, _) = smol::channel::bounded(1);
        Link { kind, tuning: Tuning::from_env(), access: Arc::new(access), status: Arc::default(), journal, wake, changed }
    }

    pub(super) fn status(&self) -> MutexGuard<'_, Status> {
        lock(&self.status)
    }

    /// Marks a change of the channel's health state; a change already waiting to be reported
    /// covers this one.
    fn state_changed(&self) {
        let _ = self.changed.try_send(());
    }

    /// Runs one journal write off the executor threads (it ends in an fsync).
    pub(super) async fn journaled<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Journal) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let journal = self.journal.clone();
        smol::unblock(move || write(&journal)).await
    }

    /// Records `msg` durably. `Ok(true)` for a new message; `Ok(false)` for a redelivery, or for
    /// a message the access policy drops whoever sent it (nothing is written for those). Only
    /// after `Ok` may the service be told the message arrived.
    pub async fn accept(&self, mut msg: Inbound) -> io::Result<bool> {
        if let Some(why) = access::drop_early(&self.access, &msg) {
            log::debug!(target: "channels", "{}: message {} from {} ignored: {why}", self.kind, msg.id, msg.sender);
            self.activity();
            return Ok(false);
        }
        if msg.text.chars().count() > limits::CHANNEL_TEXT_MAX_CHARS {
            msg.text = msg.text.chars().take(limits::CHANNEL_TEXT_MAX_CHARS).collect::<String>() + "\n[message truncated]";
        }
        msg.received_at = now_ms();
        let fresh = self.journaled(move |j| j.record(&msg)).await?;
        let mut s = self.status();
        s.last_inbound_at = Some(now_ms());
        s.last_transport_activity_at = s.last_inbound_at;
        drop(s);
        if fresh {
            let _ = self.wake.try_send(());
        }
        Ok(fresh)
    }

    /// Saves the service position (when it moved without a message).
    pub async fn set_cursor(&self, cursor: String) -> io::Result<()> {
        self.journaled(move |j| j.set_cursor(&cursor)).await
    }

    pub fn cursor(&self) -> Option<String> {
        self.journal.cursor()
    }

    /// The service answers: connected, error cleared.
    pub fn connected(&self, bot: Option<String>) {
        let mut s = self.status();
        if !s.connected || s.health_state != HealthState::Healthy {
            self.state_changed();
        }
        if !s.connected {
            s.last_connected_at = Some(now_ms());
            log::info!(target: "channels", "{}: connected{}", self.kind, bot.as_deref().map(|b| format!(" as {b}")).unwrap_or_default());
        }
        s.connected = true;
        s.health_state = HealthState::Healthy;
        s.last_error = None;
        s.last_transport_activity_at = Some(now_ms());
        if bot.is_some() {
            s.bot = bot;
        }
    }

    /// Adds `what` to the status's warnings; `false` when it is there already (or the list is
    /// full), so a caller says a thing once.
    pub fn warn_once(&self, what: &str) -> bool {
        let mut s = self.status();
        if s.warnings.len() >= WARNINGS_MAX || s.warnings.iter().any(|w| w == what) {
            return false;
        }
        log::warn!(target: "channels", "{}: {what}", self.kind);
        s.warnings.push(what.to_string());
        true
    }

    /// Traffic seen on a live connection (a poll answered, a heartbeat acknowledged).
    pub fn activity(&self) {
        self.status().last_transport_activity_at = Some(now_ms());
    }

    /// The connection is gone; a reconnect follows.
    pub fn disconnected(&self, why: &str) {
        let mut s = self.status();
        if s.connected || s.last_error.as_deref() != Some(why) {
            log::warn!(target: "channels", "{}: {why}; reconnecting", self.kind);
        }
        if s.connected || s.health_state != HealthState::Reconnecting {
            self.state_changed();
        }
        s.connected = false;
        s.health_state = HealthState::Reconnecting;
        s.last_error = Some(why.to_string());
    }

    /// A failure retrying cannot fix (rejected credentials): the channel stops with `why`.
    pub fn fatal(&self, why: &str, state: HealthState) {
        log::error!(target: "channels", "{}: {why}", self.kind);
        let mut s = self.status();
        s.connected = false;
        s.running = false;
        s.health_state = state;
        s.last_error = Some(why.to_string());
        s.last_stop_at = Some(now_ms());
        drop(s);
        self.state_changed();
    }

    /// Waits before the next reconnect; counts the attempt.
    pub async fn pause(&self, backoff: &mut Backoff, at_least: Option<Duration>) {
        let delay = backoff.next_delay().max(at_least.unwrap_or_default());
        self.status().reconnect_attempts += 1;
        log::debug!(target: "channels", "{}: reconnecting in {} ms", self.kind, delay.as_millis());
        smol::Timer::after(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let t = Tuning {
            poll_timeout: Duration::from_secs(1),
            stall_grace: Duration::from_secs(1),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            healthy_after: Duration::from_secs(1),
            send_retry_base: Duration::from_millis(10),
        };
        let mut b = Backoff::new(&t);
        let d: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] <= Duration::from_millis(100), "{d:?}");
        assert!(d[3] >= Duration::from_millis(400) && d[3] <= Duration::from_millis(800), "{d:?}");
        assert!(d.iter().all(|x| *x <= Duration::from_millis(1000)));
        assert!(d[7] >= Duration::from_millis(500));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
