//! Chat channels: Telegram, Discord and WhatsApp (each a cargo feature) connected to the agent.
//!
//! Per configured channel the registry ([`Channels`]) runs a receiver (Telegram's long poll,
//! Discord's gateway socket; WhatsApp's webhook arrives through the gateway's HTTP server) and a
//! worker. The receiver records each message in the channel's [`journal`] before acknowledging it
//! upstream; the worker takes recorded messages through the access policy ([`access`],
//! [`pairing`]), the agent, and delivery of the answer in chunks ([`text`]) with retries. Every
//! step is journaled, so a restart resumes exactly where the last run stopped.
//!
//! Liveness is reported as it is: `connected` is true only while the service answers, each
//! receiver has a watchdog (a stalled poll, a heartbeat without ACK), and reconnects back off
//! exponentially with jitter. Bad credentials stop the channel with a clear `lastError` instead
//! of retrying forever.

// A build without any channel (`--no-default-features`) keeps the registry, whose transport type
// then has no values: everything after building one is unreachable, on purpose.
#![cfg_attr(not(any(feature = "telegram", feature = "discord", feature = "whatsapp")), allow(unreachable_code, unused_variables))]

pub mod access;
pub mod journal;
pub mod pairing;
pub mod text;

#[cfg(feature = "discord")]
pub mod discord;
#[cfg(feature = "telegram")]
pub mod telegram;
#[cfg(feature = "whatsapp")]
pub mod whatsapp;

use serde_json::{Value, json};
use smol::Task;
use smol::channel::{Receiver, Sender};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::agent::message::Message;
use crate::agent::{Agent, Origin, RunRequest, RunStatus, SessionKey};
use crate::clock::now_ms;
use crate::config::Config;
use crate::config::channels::{self as cfg, DmScope};
use crate::limits;
use journal::{Entry, Inbound, Journal};

/// Display names, as OpenClaw labels its channels.
pub fn label(id: &str) -> &'static str {
    match id {
        "telegram" => "Telegram",
        "discord" => "Discord",
        "whatsapp" => "WhatsApp",
        _ => "Channel",
    }
}

fn detail_label(id: &str) -> &'static str {
    match id {
        "telegram" => "Telegram Bot",
        "discord" => "Discord Bot",
        "whatsapp" => "WhatsApp Cloud API",
        _ => "Channel",
    }
}

/// Whether this build includes the channel.
pub fn compiled(id: &str) -> bool {
    (id == "telegram" && cfg!(feature = "telegram"))
        || (id == "discord" && cfg!(feature = "discord"))
        || (id == "whatsapp" && cfg!(feature = "whatsapp"))
}

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

/// What one channel reports in `channels.status` and `health`.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub configured: bool,
    pub running: bool,
    pub connected: bool,
    pub reconnect_attempts: u64,
    pub last_connected_at: Option<u64>,
    pub last_error: Option<String>,
    /// `healthy`, `connecting`, `reconnecting`, `stopped`, `auth-failed`, `not-configured`,
    /// `disabled`, `unavailable` (not in this build), `error` (journal unusable, or a service
    /// refusal retrying cannot fix).
    pub health_state: &'static str,
    pub last_start_at: Option<u64>,
    pub last_stop_at: Option<u64>,
    pub last_inbound_at: Option<u64>,
    pub last_outbound_at: Option<u64>,
    pub last_transport_activity_at: Option<u64>,
    /// The bot's own name once known (`@name` on Telegram, the user name on Discord).
    pub bot: Option<String>,
}

/// Locks a channel's status; a panic elsewhere while it was held leaves a status that is still
/// worth reporting, so poisoning is ignored.
fn lock(status: &Mutex<Status>) -> std::sync::MutexGuard<'_, Status> {
    status.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Worth another try (network, 5xx, 429), after `retry_after` when the service said so.
    Transient { message: String, retry_after: Option<Duration> },
    /// Retrying cannot help (bad target, message refused, credentials).
    Permanent(String),
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            SendError::Transient { message, .. } | SendError::Permanent(message) => message,
        }
    }

    /// Classifies an HTTP status from a chat API.
    pub fn from_status(status: u16, message: String, retry_after: Option<Duration>) -> SendError {
        if status == 429 || status >= 500 || status == 408 {
            SendError::Transient { message, retry_after }
        } else {
            SendError::Permanent(message)
        }
    }
}

impl From<io::Error> for SendError {
    fn from(e: io::Error) -> Self {
        SendError::Transient { message: e.to_string(), retry_after: None }
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

/// A receiver's connection to the registry: record messages, report liveness.
#[derive(Clone)]
pub struct Link {
    pub id: &'static str,
    pub tuning: Tuning,
    /// The channel's access rules as configured when it started (a change restarts the channel).
    access: Arc<cfg::Access>,
    status: Arc<Mutex<Status>>,
    journal: Arc<Journal>,
    wake: Sender<()>,
}

impl Link {
    /// A link recording into `journal` under `access`, outside the registry: no worker reads it
    /// and its status is its own. The fuzz target hands it to the receivers' reading steps.
    pub(crate) fn detached(id: &'static str, access: cfg::Access, journal: Arc<Journal>) -> Link {
        let (wake, _) = smol::channel::bounded(1);
        Link { id, tuning: Tuning::from_env(), access: Arc::new(access), status: Arc::default(), journal, wake }
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        lock(&self.status)
    }

    /// Runs one journal write off the executor threads (it ends in an fsync).
    async fn journaled<T: Send + 'static>(&self, write: impl FnOnce(&Journal) -> io::Result<T> + Send + 'static) -> io::Result<T> {
        let journal = self.journal.clone();
        smol::unblock(move || write(&journal)).await
    }

    /// Records `msg` durably. `Ok(true)` for a new message; `Ok(false)` for a redelivery, or for
    /// a message the access policy drops whoever sent it (nothing is written for those). Only
    /// after `Ok` may the service be told the message arrived.
    pub async fn accept(&self, mut msg: Inbound) -> io::Result<bool> {
        if let Some(why) = access::drop_early(&self.access, &msg) {
            log::debug!(target: "channels", "{}: message {} from {} ignored: {why}", self.id, msg.id, msg.sender);
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
        if !s.connected {
            s.last_connected_at = Some(now_ms());
            log::info!(target: "channels", "{}: connected{}", self.id, bot.as_deref().map(|b| format!(" as {b}")).unwrap_or_default());
        }
        s.connected = true;
        s.health_state = "healthy";
        s.last_error = None;
        s.last_transport_activity_at = Some(now_ms());
        if bot.is_some() {
            s.bot = bot;
        }
    }

    /// Traffic seen on a live connection (a poll answered, a heartbeat acknowledged).
    pub fn activity(&self) {
        self.status().last_transport_activity_at = Some(now_ms());
    }

    /// The connection is gone; a reconnect follows.
    pub fn disconnected(&self, why: &str) {
        let mut s = self.status();
        if s.connected || s.last_error.as_deref() != Some(why) {
            log::warn!(target: "channels", "{}: {why}; reconnecting", self.id);
        }
        s.connected = false;
        s.health_state = "reconnecting";
        s.last_error = Some(why.to_string());
    }

    /// A failure retrying cannot fix (rejected credentials): the channel stops with `why`.
    pub fn fatal(&self, why: &str, state: &'static str) {
        log::error!(target: "channels", "{}: {why}", self.id);
        let mut s = self.status();
        s.connected = false;
        s.running = false;
        s.health_state = state;
        s.last_error = Some(why.to_string());
        s.last_stop_at = Some(now_ms());
    }

    /// Waits before the next reconnect; counts the attempt.
    pub async fn pause(&self, backoff: &mut Backoff, at_least: Option<Duration>) {
        let delay = backoff.next_delay().max(at_least.unwrap_or_default());
        self.status().reconnect_attempts += 1;
        log::debug!(target: "channels", "{}: reconnecting in {} ms", self.id, delay.as_millis());
        smol::Timer::after(delay).await;
    }
}

/// The outbound side of a channel: a client for the service's HTTP API.
#[derive(Clone)]
pub enum Transport {
    #[cfg(feature = "telegram")]
    Telegram(telegram::Client),
    #[cfg(feature = "discord")]
    Discord(discord::Client),
    #[cfg(feature = "whatsapp")]
    WhatsApp(whatsapp::Client),
}

impl Transport {
    fn build(ch: &cfg::Channel) -> Result<Transport, String> {
        match &ch.service {
            #[cfg(feature = "telegram")]
            cfg::Service::Telegram(t) => telegram::Client::new(t).map(Transport::Telegram),
            #[cfg(feature = "discord")]
            cfg::Service::Discord(d) => discord::Client::new(d).map(Transport::Discord),
            #[cfg(feature = "whatsapp")]
            cfg::Service::WhatsApp(w) => whatsapp::Client::new(w).map(Transport::WhatsApp),
            #[allow(unreachable_patterns)]
            _ => Err(format!("this openclaw build has no {} support; rebuild with `--features {}`", label(ch.id), ch.id)),
        }
    }

    /// Sends one message (at most the service's limit); returns the service's message id.
    /// `nonce` identifies this piece across retries and restarts.
    pub async fn send(&self, to: &str, text: &str, reply_to: Option<&str>, nonce: &str) -> Result<String, SendError> {
        // Only Discord dedupes by the nonce.
        let _ = nonce;
        match *self {
            #[cfg(feature = "telegram")]
            Transport::Telegram(ref c) => c.send(to, text, reply_to).await,
            #[cfg(feature = "discord")]
            Transport::Discord(ref c) => c.send(to, text, reply_to, nonce).await,
            #[cfg(feature = "whatsapp")]
            Transport::WhatsApp(ref c) => c.send(to, text, reply_to).await,
        }
    }

    /// Shows "typing…" where the service has it (best effort).
    pub async fn typing(&self, to: &str) {
        // WhatsApp has no typing indicator for businesses.
        let _ = to;
        match *self {
            #[cfg(feature = "telegram")]
            Transport::Telegram(ref c) => c.typing(to).await,
            #[cfg(feature = "discord")]
            Transport::Discord(ref c) => c.typing(to).await,
            #[cfg(feature = "whatsapp")]
            Transport::WhatsApp(_) => {}
        }
    }

    /// Checks the credentials against the service (`getMe`, `/users/@me`, the phone number).
    pub async fn probe(&self) -> Result<Value, String> {
        match *self {
            #[cfg(feature = "telegram")]
            Transport::Telegram(ref c) => c.probe().await,
            #[cfg(feature = "discord")]
            Transport::Discord(ref c) => c.probe().await,
            #[cfg(feature = "whatsapp")]
            Transport::WhatsApp(ref c) => c.probe().await,
        }
    }

    /// Starts the receiver, when the service is polled or connected to (not for webhooks).
    fn receive(&self, link: Link) -> Option<Task<()>> {
        match *self {
            #[cfg(feature = "telegram")]
            Transport::Telegram(ref c) => Some(crate::rt::spawn(telegram::receive(c.clone(), link))),
            #[cfg(feature = "discord")]
            Transport::Discord(ref c) => Some(crate::rt::spawn(discord::receive(c.clone(), link))),
            #[cfg(feature = "whatsapp")]
            Transport::WhatsApp(ref c) => Some(crate::rt::spawn(whatsapp::watch(c.clone(), link))),
        }
    }

    fn mode(&self) -> &'static str {
        match *self {
            #[cfg(feature = "telegram")]
            Transport::Telegram(_) => "polling",
            #[cfg(feature = "discord")]
            Transport::Discord(_) => "gateway",
            #[cfg(feature = "whatsapp")]
            Transport::WhatsApp(_) => "webhook",
        }
    }
}

/// One configured channel.
struct Slot {
    config: cfg::Channel,
    status: Arc<Mutex<Status>>,
    transport: Option<Transport>,
    /// Receiver and worker; dropping them stops the channel.
    tasks: Vec<Task<()>>,
    link: Option<Link>,
}

/// The channel registry of a running gateway.
pub struct Channels {
    agent: Agent,
    pairing: pairing::Store,
    state_dir: PathBuf,
    tuning: Tuning,
    config: RwLock<Arc<Config>>,
    slots: Mutex<Vec<Slot>>,
    /// Opened once per process and kept across channel restarts.
    journals: Mutex<HashMap<&'static str, Arc<Journal>>>,
    /// Recent `send` results by idempotency key.
    sends: Mutex<VecDeque<(String, Instant, Value)>>,
}

impl Channels {
    pub fn new(agent: Agent, state_dir: PathBuf) -> Channels {
        Channels {
            agent,
            pairing: pairing::Store::new(&state_dir),
            state_dir,
            tuning: Tuning::from_env(),
            config: RwLock::new(Arc::new(Config::empty())),
            slots: Mutex::new(Vec::new()),
            journals: Mutex::new(HashMap::new()),
            sends: Mutex::new(VecDeque::new()),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn pairing(&self) -> &pairing::Store {
        &self.pairing
    }

    /// Applies the channel config: channels whose block changed are restarted, removed ones are
    /// stopped, new ones started; the others keep running untouched.
    pub fn reconcile(self: &Arc<Self>, config: Arc<Config>) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config.clone();
        let mut slots = self.slots();
        slots.retain(|s| {
            let keep = config.channels.get(s.config.id).is_some();
            if !keep {
                log::info!(target: "channels", "{}: removed from the config; stopped", s.config.id);
            }
            keep
        });
        for ch in &config.channels.list {
            match slots.iter().position(|s| s.config.id == ch.id) {
                Some(i) if slots[i].config == *ch => continue,
                Some(i) => {
                    log::info!(target: "channels", "{}: config changed; restarting the channel", ch.id);
                    let status = slots[i].status.clone();
                    slots[i] = self.start_slot(ch.clone(), status);
                }
                None => {
                    let slot = self.start_slot(ch.clone(), Arc::new(Mutex::new(Status::default())));
                    slots.push(slot);
                }
            }
        }
    }

    /// Stops every channel (shutdown): receivers and in-flight deliveries end here and resume
    /// from the journal on the next start.
    pub fn stop_all(&self) {
        let mut slots = self.slots();
        for s in slots.iter_mut() {
            stop_slot(s);
        }
    }

    fn journal(&self, id: &'static str) -> io::Result<Arc<Journal>> {
        let mut journals = self.journals.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(j) = journals.get(id) {
            return Ok(j.clone());
        }
        let j = Arc::new(Journal::open(&self.state_dir.join("channels").join(id))?);
        journals.insert(id, j.clone());
        Ok(j)
    }

    fn start_slot(self: &Arc<Self>, config: cfg::Channel, status: Arc<Mutex<Status>>) -> Slot {
        let id = config.id;
        let mut slot = Slot { config, status, transport: None, tasks: Vec::new(), link: None };
        {
            let mut s = lock(&slot.status);
            *s = Status {
                reconnect_attempts: s.reconnect_attempts,
                last_inbound_at: s.last_inbound_at,
                last_outbound_at: s.last_outbound_at,
                ..Status::default()
            };
            s.health_state = "stopped";
        }
        if !slot.config.enabled {
            lock(&slot.status).health_state = "disabled";
            return slot;
        }
        let transport = match Transport::build(&slot.config) {
            Ok(t) => t,
            Err(why) => {
                {
                    let mut s = lock(&slot.status);
                    s.health_state = if compiled(id) { "not-configured" } else { "unavailable" };
                    s.last_error = Some(why.clone());
                }
                log::warn!(target: "channels", "{id}: not started: {why}");
                return slot;
            }
        };
        let journal = match self.journal(id) {
            Ok(j) => j,
            Err(e) => {
                let why = format!("cannot open the channel journal in {}: {e}", self.state_dir.join("channels").join(id).display());
                log::error!(target: "channels", "{id}: {why}");
                {
                    let mut s = lock(&slot.status);
                    s.health_state = "error";
                    s.last_error = Some(why);
                }
                return slot;
            }
        };
        let (wake, woken) = smol::channel::bounded(1);
        let access = Arc::new(slot.config.access.clone());
        let link = Link { id, tuning: self.tuning, access, status: slot.status.clone(), journal, wake };
        {
            let mut s = link.status();
            s.configured = true;
            s.running = true;
            s.health_state = "connecting";
            s.last_start_at = Some(now_ms());
        }
        log::info!(target: "channels", "{id}: starting ({})", transport.mode());
        if let Some(t) = transport.receive(link.clone()) {
            slot.tasks.push(t);
        }
        slot.tasks.push(crate::rt::spawn(worker(self.clone(), link.clone(), transport.clone(), woken)));
        slot.transport = Some(transport);
        slot.link = Some(link);
        slot
    }

    /// `channels.start`: (re)starts a configured channel.
    pub fn start(self: &Arc<Self>, id: &str) -> Result<(), String> {
        let mut slots = self.slots();
        let Some(i) = slots.iter().position(|s| s.config.id == id) else {
            return Err(format!("channel {id} is not configured (add channels.{id} to the config)"));
        };
        stop_slot(&mut slots[i]);
        let (config, status) = (slots[i].config.clone(), slots[i].status.clone());
        slots[i] = self.start_slot(config, status);
        Ok(())
    }

    /// `channels.stop`: stops a channel until `channels.start`, a config change or a restart.
    pub fn stop(&self, id: &str) -> Result<(), String> {
        let mut slots = self.slots();
        let Some(slot) = slots.iter_mut().find(|s| s.config.id == id) else {
            return Err(format!("channel {id} is not configured"));
        };
        stop_slot(slot);
        log::info!(target: "channels", "{id}: stopped by request");
        Ok(())
    }

    /// The live link of a running channel (the WhatsApp webhook records through it). None once
    /// the channel stopped, also after a fatal error: a webhook then refuses deliveries, so the
    /// service keeps them and delivers them again later instead of us accepting what we cannot
    /// answer.
    pub fn link(&self, id: &str) -> Option<(Link, cfg::Channel)> {
        let slots = self.slots();
        let s = slots.iter().find(|s| s.config.id == id)?;
        let link = s.link.clone()?;
        if !link.status().running {
            return None;
        }
        Some((link, s.config.clone()))
    }

    fn transport(&self, id: &str) -> Result<(Transport, Arc<Mutex<Status>>, usize), String> {
        let slots = self.slots();
        let Some(s) = slots.iter().find(|s| s.config.id == id) else {
            return Err(format!("channel {id} is not configured"));
        };
        match &s.transport {
            Some(t) => Ok((t.clone(), s.status.clone(), s.config.text_chunk_limit)),
            None => Err(format!("channel {id} is not running: {}", lock(&s.status).last_error.clone().unwrap_or_else(|| "stopped".into()))),
        }
    }

    /// Ids of the configured channels, in order.
    pub fn configured(&self) -> Vec<&'static str> {
        self.slots().iter().map(|s| s.config.id).collect()
    }

    /// Sends `text` to `to` on `channel` now (the `send` RPC): chunked, retried on transient
    /// errors. The same `idempotency_key` within 5 minutes returns the first result.
    pub async fn send(&self, channel: Option<&str>, to: &str, text: &str, idempotency_key: &str) -> Result<Value, String> {
        if let Some(v) = self.remembered_send(idempotency_key) {
            return Ok(v);
        }
        let channel = match channel {
            Some(c) => c.to_string(),
            None => match self.configured().as_slice() {
                [one] => one.to_string(),
                [] => return Err("no chat channel is configured".into()),
                _ => return Err("more than one channel is configured; say which with \"channel\"".into()),
            },
        };
        let (transport, status, limit) = self.transport(&channel)?;
        let mut ids = Vec::new();
        for (i, piece) in text::chunks(text, limit).iter().enumerate() {
            let nonce = nonce(&format!("send:{idempotency_key}:{i}"));
            let id = deliver(&transport, &self.tuning, &channel, to, piece, None, &nonce).await.map_err(|e| e.message().to_string())?;
            lock(&status).last_outbound_at = Some(now_ms());
            ids.push(id);
        }
        if ids.is_empty() {
            return Err("the message is empty".into());
        }
        let result = json!({"runId": idempotency_key, "messageId": ids.last(), "messageIds": ids, "channel": channel, "to": to});
        let mut sends = self.sends.lock().unwrap_or_else(|p| p.into_inner());
        sends.push_back((idempotency_key.to_string(), Instant::now(), result.clone()));
        while sends.len() > limits::SEND_DEDUPE_ENTRIES {
            sends.pop_front();
        }
        Ok(result)
    }

    fn remembered_send(&self, key: &str) -> Option<Value> {
        let mut sends = self.sends.lock().unwrap_or_else(|p| p.into_inner());
        sends.retain(|(_, at, _)| at.elapsed() < limits::SEND_DEDUPE_TTL);
        sends.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v.clone())
    }

    /// Sends a short notice outside a conversation (pairing approval), best effort.
    pub async fn notify(&self, channel: &str, to: &str, text: &str) -> bool {
        match self.transport(channel) {
            Ok((t, _, _)) => deliver(&t, &self.tuning, channel, to, text, None, &nonce(&format!("notify:{to}:{}", now_ms()))).await.is_ok(),
            Err(_) => false,
        }
    }

    /// `channels.status` accounts (with `probe`, each running channel's credentials are checked
    /// against the service).
    pub async fn accounts(&self, only: Option<&str>, probe: bool, timeout: Duration) -> Vec<(&'static str, Value)> {
        let snapshot: Vec<(cfg::Channel, Status, Option<Transport>)> = self
            .slots()
            .iter()
            .filter(|s| only.is_none_or(|o| o == s.config.id))
            .map(|s| (s.config.clone(), lock(&s.status).clone(), s.transport.clone()))
            .collect();
        let mut out = Vec::new();
        for (config, status, transport) in snapshot {
            let mut account = account_json(&config, &status, transport.as_ref());
            if probe {
                let result = match &transport {
                    Some(t) => {
                        let started = Instant::now();
                        let r = smol::future::or(async { Some(t.probe().await) }, async {
                            smol::Timer::after(timeout).await;
                            None
                        })
                        .await;
                        let ms = started.elapsed().as_millis() as u64;
                        match r {
                            Some(Ok(v)) => json!({"ok": true, "elapsedMs": ms, "result": v}),
                            Some(Err(e)) => json!({"ok": false, "elapsedMs": ms, "error": e}),
                            None => {
                                json!({"ok": false, "elapsedMs": ms, "error": format!("probe timed out after {} ms", timeout.as_millis())})
                            }
                        }
                    }
                    None => json!({"ok": false, "error": status.last_error.clone().unwrap_or_else(|| "channel is not running".into())}),
                };
                account["probe"] = result;
                account["lastProbeAt"] = json!(now_ms());
            }
            out.push((config.id, account));
        }
        out
    }

    /// Per-channel summaries for `health` (`channels`, `channelOrder`, `channelLabels`).
    /// Each configured channel's status, for the watchdog.
    pub fn liveness(&self) -> Vec<(&'static str, Status)> {
        self.slots().iter().map(|s| (s.config.id, lock(&s.status).clone())).collect()
    }

    pub fn health(&self) -> (Value, Vec<&'static str>, Value) {
        let slots = self.slots();
        let mut channels = serde_json::Map::new();
        let mut labels = serde_json::Map::new();
        let mut order = Vec::new();
        for s in slots.iter() {
            let st = lock(&s.status).clone();
            channels.insert(s.config.id.to_string(), summary_json(&s.config, &st));
            labels.insert(s.config.id.to_string(), json!(label(s.config.id)));
            order.push(s.config.id);
        }
        (Value::Object(channels), order, Value::Object(labels))
    }
}

fn stop_slot(slot: &mut Slot) {
    slot.tasks.clear();
    slot.transport = None;
    slot.link = None;
    let mut s = lock(&slot.status);
    if s.running {
        s.last_stop_at = Some(now_ms());
    }
    s.running = false;
    s.connected = false;
    if s.health_state != "auth-failed" {
        s.health_state = "stopped";
    }
}

fn summary_json(config: &cfg::Channel, s: &Status) -> Value {
    json!({
        "configured": s.configured,
        "enabled": config.enabled,
        "running": s.running,
        "connected": s.connected,
        "healthState": s.health_state,
        "lastError": s.last_error,
        "lastInboundAt": s.last_inbound_at,
        "lastOutboundAt": s.last_outbound_at,
        "reconnectAttempts": s.reconnect_attempts,
    })
}

fn account_json(config: &cfg::Channel, s: &Status, transport: Option<&Transport>) -> Value {
    let (token_source, base) = match &config.service {
        cfg::Service::Telegram(t) => (t.token_source, t.api_root.clone()),
        cfg::Service::Discord(d) => (d.token_source, d.api_root.clone()),
        cfg::Service::WhatsApp(w) => (w.token_source, w.graph_root.clone()),
    };
    let mut a = json!({
        "accountId": "default",
        "enabled": config.enabled,
        "configured": s.configured,
        "running": s.running,
        "connected": s.connected,
        "reconnectAttempts": s.reconnect_attempts,
        "lastConnectedAt": s.last_connected_at,
        "lastError": s.last_error,
        "healthState": s.health_state,
        "lastStartAt": s.last_start_at,
        "lastStopAt": s.last_stop_at,
        "lastInboundAt": s.last_inbound_at,
        "lastOutboundAt": s.last_outbound_at,
        "lastTransportActivityAt": s.last_transport_activity_at,
        "dmPolicy": config.access.dm_policy.name(),
        "allowFrom": config.access.allow_from,
        "tokenSource": token_source.name(),
        "baseUrl": base,
        "allowUnmentionedGroups": !config.access.require_mention,
    });
    if let Some(t) = transport {
        a["mode"] = json!(t.mode());
    }
    if let Some(b) = &s.bot {
        a["name"] = json!(b);
    }
    if let cfg::Service::WhatsApp(w) = &config.service {
        a["webhookPath"] = json!(w.webhook_path);
    }
    a
}

/// The `channels.status` result.
pub fn status_result(accounts: Vec<(&'static str, Value)>) -> Value {
    let mut order = Vec::new();
    let (mut labels, mut details, mut channels, mut by_channel, mut defaults) =
        (serde_json::Map::new(), serde_json::Map::new(), serde_json::Map::new(), serde_json::Map::new(), serde_json::Map::new());
    let mut meta = Vec::new();
    for (id, account) in accounts {
        order.push(id);
        labels.insert(id.into(), json!(label(id)));
        details.insert(id.into(), json!(detail_label(id)));
        meta.push(json!({"id": id, "label": label(id), "detailLabel": detail_label(id)}));
        let mut summary = json!({});
        for k in ["configured", "running", "connected", "lastError", "healthState", "lastInboundAt", "lastOutboundAt", "mode", "probe"] {
            if let Some(v) = account.get(k) {
                summary[k] = v.clone();
            }
        }
        channels.insert(id.into(), summary);
        by_channel.insert(id.into(), json!([account]));
        defaults.insert(id.into(), json!("default"));
    }
    json!({
        "ts": now_ms(),
        "channelOrder": order,
        "channelLabels": labels,
        "channelDetailLabels": details,
        "channelSystemImages": {},
        "channelMeta": meta,
        "channels": channels,
        "channelAccounts": by_channel,
        "channelDefaultAccountId": defaults,
    })
}

/// A stable id for one outbound piece (Discord dedupes resends by it; 25 characters at most).
fn nonce(seed: &str) -> String {
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
async fn deliver(
    t: &Transport,
    tuning: &Tuning,
    channel: &str,
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
                log::warn!(target: "channels", "{channel}: send to {to} failed ({message}); retry {attempt} in {} ms", wait.as_millis());
                smol::Timer::after(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A chat API's answer: status, JSON body (`Null` when it was not JSON), `Retry-After`, headers.
pub struct ApiReply {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<Duration>,
    pub headers: Vec<(String, String)>,
}

impl ApiReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One JSON request to a chat service's HTTP API, bounded in time (`wait` for the response head,
/// which a long poll holds back) and size.
pub async fn call_json(
    method: &'static str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    wait: Duration,
) -> io::Result<ApiReply> {
    use crate::net::client;
    let url = client::Url::parse(url).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut req = client::Request::new(method, url);
    for (n, v) in headers {
        req = req.header(n, *v);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let t = client::Timeouts { connect: limits::CHANNEL_CONNECT_TIMEOUT, head: wait, idle: limits::CHANNEL_REQUEST_TIMEOUT };
    let mut resp = client::send(&req, &t).await?;
    let text = resp.text(limits::CHANNEL_RESPONSE_MAX_BYTES, limits::CHANNEL_REQUEST_TIMEOUT).await?;
    Ok(ApiReply {
        status: resp.status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        retry_after: resp.retry_after(),
        headers: resp.headers.clone(),
    })
}

// ---- the worker: policy, agent, delivery -----------------------------------------------------

/// Takes recorded messages through policy, the agent and delivery, each in its own task (the
/// agent keeps each session's turns in order; admission happens here, in arrival order).
async fn worker(channels: Arc<Channels>, link: Link, transport: Transport, wake: Receiver<()>) {
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
            let run = admit(&channels, &link, &transport, &entry).await;
            if let Some(run) = run {
                tasks.push(crate::rt::spawn(finish(channels.clone(), link.clone(), transport.clone(), entry, run)));
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

fn session_key(cfg: &Config, channel: &str, msg: &Inbound) -> SessionKey {
    let agent = cfg.agents.default_id();
    let peer = msg.sender.to_lowercase();
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
async fn admit(channels: &Arc<Channels>, link: &Link, transport: &Transport, entry: &Entry) -> Option<Next> {
    let id = link.id;
    let msg = &entry.msg;
    if let Some(reply) = &entry.reply {
        return Some(Next::Reply(reply.clone()));
    }
    let cfg = channels.config();
    let ch = cfg.channels.get(id)?;
    // The pairing files are shared with the CLI under a file lock: read them off the executor.
    let store = channels.pairing.clone();
    let paired = smol::unblock(move || store.allowed(id)).await.unwrap_or_else(|e| {
        log::warn!(target: "channels", "{id}: cannot read the pairing allow list: {e}");
        Vec::new()
    });
    match access::decide(&ch.access, msg, &paired) {
        access::Decision::Allow => {}
        access::Decision::Ignore(why) => {
            log::debug!(target: "channels", "{id}: message {} from {} ignored: {why}", msg.id, msg.sender);
            finish_entry(link, &msg.id, "ignored").await;
            return None;
        }
        access::Decision::Pair => {
            let (store, sender, label_, chat) = (channels.pairing.clone(), msg.sender.clone(), msg.sender_label.clone(), msg.chat.clone());
            let ask = smol::unblock(move || store.ask(id, &sender, &label_, &chat, now_ms())).await;
            return match ask {
                Ok(pairing::Ask::New(code)) => {
                    log::info!(target: "channels", "{id}: pairing requested by {} ({}); approve with `openclaw pairing approve {id} {code}`", msg.sender, msg.sender_label);
                    Some(Next::Reply(format!(
                        "OpenClaw: access not configured.\n\nYour {} user id: {}\n\nPairing code: {code}\n\nAsk the bot owner to approve with:\nopenclaw pairing approve {id} {code}",
                        label(id),
                        msg.sender
                    )))
                }
                Ok(_) => {
                    finish_entry(link, &msg.id, "pairing-pending").await;
                    None
                }
                Err(e) => {
                    log::error!(target: "channels", "{id}: cannot record a pairing request: {e}");
                    finish_entry(link, &msg.id, "failed").await;
                    None
                }
            };
        }
    }
    if let Some(reply) = crate::gateway::devices::chat_command(&msg.text).await {
        return Some(Next::Reply(reply));
    }
    let key = session_key(&cfg, id, msg);
    let command = msg.text.trim().to_ascii_lowercase();
    match command.as_str() {
        "/new" | "/reset" => {
            channels.agent.abort(&key, None).await;
            let workspace = channels.agent.workspace_for(&cfg, &key.agent_id);
            let store = channels.agent.store();
            let text = match store.reset(&key, &workspace).await {
                Ok(_) => "✅ New session started.".to_string(),
                Err(e) => format!("⚠️ Could not reset the session: {e}"),
            };
            return Some(Next::Reply(text));
        }
        "/stop" => {
            let stopped = channels.agent.abort(&key, None).await;
            return Some(Next::Reply(if stopped.is_empty() { "Nothing to stop.".into() } else { "⏹️ Stopped.".into() }));
        }
        _ => {}
    }
    let text = if msg.group && !msg.sender_label.is_empty() { format!("{}: {}", msg.sender_label, msg.text) } else { msg.text.clone() };
    let run_id = format!("{id}:{}", msg.id);
    let mut run = RunRequest::new(run_id.clone(), key, vec![Message::user(text)], Origin::Channel, cfg.clone());
    run.channel = Some(id.to_string());
    let t = transport.clone();
    let chat = msg.chat.clone();
    crate::rt::spawn(async move { t.typing(&chat).await }).detach();
    match channels.agent.submit(run).await {
        Ok(_) => Some(Next::Run { run_id }),
        Err(e) => Some(Next::Reply(format!("⚠️ The agent is busy ({e}). Please try again in a moment."))),
    }
}

/// Waits for the answer and delivers it, chunk by chunk, journaling each step; then tells the
/// worker a place is free.
async fn finish(channels: Arc<Channels>, link: Link, transport: Transport, entry: Entry, next: Next) {
    deliver_answer(&channels, &link, &transport, &entry, next).await;
    let _ = link.wake.try_send(());
}

async fn deliver_answer(channels: &Channels, link: &Link, transport: &Transport, entry: &Entry, next: Next) {
    let id = link.id;
    let msg = &entry.msg;
    let reply = match next {
        Next::Reply(text) => text,
        Next::Run { run_id } => {
            let outcome = loop {
                if let Some(o) = channels.agent.wait(&run_id, Duration::from_secs(4)).await {
                    break o;
                }
                // Still running: keep "typing…" visible (Telegram's lasts about 5 s).
                transport.typing(&msg.chat).await;
            };
            match outcome.status {
                RunStatus::Ok => outcome.text.trim().to_string(),
                RunStatus::Aborted => String::new(),
                RunStatus::Error => {
                    format!(
                        "⚠️ The agent could not answer: {}",
                        outcome.error.as_ref().map(|e| e.message.as_str()).unwrap_or("unknown error")
                    )
                }
            }
        }
    };
    // The official silent token: the agent chose not to answer.
    if reply.is_empty() || reply == "NO_REPLY" {
        finish_entry(link, &msg.id, "no-reply").await;
        return;
    }
    if entry.reply.is_none() {
        let (mid, r) = (msg.id.clone(), reply.clone());
        if let Err(e) = link.journaled(move |j| j.replied(&mid, &r)).await {
            log::error!(target: "channels", "{id}: cannot journal the answer to {}: {e}", msg.id);
        }
    }
    let limit = channels.config().channels.get(id).map(|c| c.text_chunk_limit).unwrap_or(cfg::service_limit(id));
    let pieces = text::chunks(&reply, limit);
    for (i, piece) in pieces.iter().enumerate().skip(entry.sent) {
        let reply_to = if i == 0 { msg.reply_to.as_deref() } else { None };
        match deliver(transport, &link.tuning, id, &msg.chat, piece, reply_to, &nonce(&format!("{id}:{}:{i}", msg.id))).await {
            Ok(_) => {
                link.status().last_outbound_at = Some(now_ms());
                let mid = msg.id.clone();
                if let Err(e) = link.journaled(move |j| j.sent(&mid, i)).await {
                    log::error!(target: "channels", "{id}: cannot journal a delivered chunk of {}: {e}", msg.id);
                }
            }
            Err(e) => {
                log::error!(target: "channels", "{id}: giving up on the answer to message {} in {}: {}", msg.id, msg.chat, e.message());
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
        log::error!(target: "channels", "{}: cannot journal the end of message {msg_id}: {e}", link.id);
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
        assert_eq!(session_key(&cfg, "telegram", &msg).to_string(), "agent:main:main");
        cfg.session.dm_scope = DmScope::PerChannelPeer;
        assert_eq!(session_key(&cfg, "telegram", &msg).to_string(), "agent:main:telegram:direct:abc");
        cfg.session.dm_scope = DmScope::PerAccountChannelPeer;
        assert_eq!(session_key(&cfg, "discord", &msg).to_string(), "agent:main:discord:default:direct:abc");
        let g = Inbound { group: true, ..msg };
        assert_eq!(session_key(&cfg, "telegram", &g).to_string(), "agent:main:telegram:group:-100");
    }
}
