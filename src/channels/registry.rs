//! The channel registry of a running gateway: one owner task holds every channel's running parts
//! (receiver and worker tasks, journals) and is fed commands over a bounded queue; the rest of the
//! gateway talks to it through the [`Channels`] handle.
//!
//! Readers (`health`, `channels.status`, the webhook route, `send`) do not queue behind commands:
//! after each command the owner publishes an immutable view of the channels, and a read clones
//! the `Arc` of the last one. `health` is a plain function on a hot path, and a round trip
//! through the task would make every reader wait for a channel that is starting.

use serde_json::{Value, json};
use smol::Task;
use smol::channel::{Receiver, Sender};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::journal::Journal;
use super::link::{Link, Tuning, lock};
use super::status::{self, HealthState, Status};
use super::transport::Transport;
use super::worker::{deliver, nonce, worker};
use super::{pairing, text};
use crate::agent::Agent;
use crate::clock::now_ms;
use crate::config::Config;
use crate::config::channel_kind::ChannelKind;
use crate::config::channels as cfg;
use crate::limits;

/// What the owner task is asked to do; each carries where to answer.
enum Command {
    /// Apply the config now in [`Shared::config`].
    Reconcile(Sender<()>),
    /// `channels.start`: (re)start a configured channel.
    Start(ChannelKind, Sender<Result<(), String>>),
    /// `channels.stop`: stop a channel until a start, a config change or a restart.
    Stop(ChannelKind, Sender<Result<(), String>>),
    /// Shutdown: stop every channel.
    StopAll(Sender<()>),
}

/// One channel as readers see it.
#[derive(Clone)]
pub(super) struct View {
    config: cfg::Channel,
    status: Arc<Mutex<Status>>,
    /// Set while the channel runs.
    transport: Option<Transport>,
    link: Option<Link>,
}

/// What the handle, the owner task and the workers share.
/// Chat commands that a layer above the channels owns (the gateway approves waiting devices with
/// `/approve XXXX-XXXX`). The worker asks them with an allowed sender's text before its own
/// commands and the agent; `None` lets the message go on.
pub trait ChatCommands: Send + Sync {
    fn reply<'a>(&'a self, text: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>>;
}

pub(super) struct Shared {
    pub(super) agent: Agent,
    /// Chat commands handled above the channels, asked before the agent (see [`ChatCommands`]).
    pub(super) commands: Option<Arc<dyn ChatCommands>>,
    pub(super) pairing: pairing::Store,
    tuning: Tuning,
    /// The config the channels run with: written by `reconcile`, read by each admission (a
    /// read-mostly snapshot swap; the lock is held only to clone the `Arc`).
    config: RwLock<Arc<Config>>,
    /// The owner task's last published view.
    view: RwLock<Arc<Vec<View>>>,
    /// Recent `send` results by idempotency key: a small cache each `send` looks into and adds
    /// to, for which a short lock is simpler than a trip through the owner task.
    sends: Mutex<VecDeque<(String, Instant, Value)>>,
    /// Marks a change of some channel's health state (one mark covers any number of changes).
    changed: Sender<()>,
}

impl Shared {
    pub(super) fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn view(&self) -> Arc<Vec<View>> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The handle of the channel registry. Dropping it ends the owner task, which stops every
/// channel.
pub struct Channels {
    shared: Arc<Shared>,
    commands: Sender<Command>,
    changes: Receiver<()>,
}

impl Channels {
    pub fn new(agent: Agent, state_dir: PathBuf, commands: Option<Arc<dyn ChatCommands>>) -> Channels {
        let (changed, changes) = smol::channel::bounded(1);
        let shared = Arc::new(Shared {
            agent,
            commands,
            pairing: pairing::Store::new(&state_dir),
            tuning: Tuning::from_env(),
            config: RwLock::new(Arc::new(Config::empty())),
            view: RwLock::new(Arc::new(Vec::new())),
            sends: Mutex::new(VecDeque::new()),
            changed,
        });
        let (commands, inbox) = smol::channel::bounded(limits::CHANNEL_REGISTRY_QUEUE);
        let owner = Owner { shared: shared.clone(), state_dir, slots: Vec::new(), journals: HashMap::new() };
        crate::rt::spawn(owner.run(inbox)).detach();
        Channels { shared, commands, changes }
    }

    /// A receiver that yields once after a channel's health state moved (started, stopped,
    /// connected, lost, refused); one mark stands for every change made before it is taken. The
    /// gateway answers with a `health` event, so clients see a channel come up without waiting
    /// for the periodic one.
    pub fn changes(&self) -> Receiver<()> {
        self.changes.clone()
    }

    pub fn pairing(&self) -> &pairing::Store {
        &self.shared.pairing
    }

    /// Sends `command` built around a reply channel and waits for the answer; `None` when the
    /// owner task is gone (the gateway is being torn down).
    async fn ask<T>(&self, command: impl FnOnce(Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = smol::channel::bounded(1);
        self.commands.send(command(reply)).await.ok()?;
        answer.recv().await.ok()
    }

    /// Applies the channel config: channels whose block changed are restarted, removed ones are
    /// stopped, new ones started; the others keep running untouched. Returns once applied.
    pub async fn reconcile(&self, config: Arc<Config>) {
        *self.shared.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        self.ask(Command::Reconcile).await;
    }

    /// Stops every channel (shutdown): receivers and in-flight deliveries end here and resume
    /// from the journal on the next start.
    pub async fn stop_all(&self) {
        self.ask(Command::StopAll).await;
    }

    /// `channels.start`: (re)starts a configured channel.
    pub async fn start(&self, kind: ChannelKind) -> Result<(), String> {
        self.ask(|r| Command::Start(kind, r)).await.unwrap_or_else(|| Err("the gateway is shutting down".into()))
    }

    /// `channels.stop`: stops a channel until `channels.start`, a config change or a restart.
    pub async fn stop(&self, kind: ChannelKind) -> Result<(), String> {
        self.ask(|r| Command::Stop(kind, r)).await.unwrap_or_else(|| Err("the gateway is shutting down".into()))
    }

    /// The live link of a running channel (the WhatsApp webhook records through it). None once
    /// the channel stopped, also after a fatal error: a webhook then refuses deliveries, so the
    /// service keeps them and delivers them again later instead of us accepting what we cannot
    /// answer.
    pub fn link(&self, kind: ChannelKind) -> Option<(Link, cfg::Channel)> {
        let view = self.shared.view();
        let v = view.iter().find(|v| v.config.kind() == kind)?;
        let link = v.link.clone()?;
        if !link.status().running {
            return None;
        }
        Some((link, v.config.clone()))
    }

    fn transport(&self, kind: ChannelKind) -> Result<(Transport, Arc<Mutex<Status>>, usize), String> {
        let view = self.shared.view();
        let Some(v) = view.iter().find(|v| v.config.kind() == kind) else {
            return Err(format!("channel {kind} is not configured"));
        };
        match &v.transport {
            Some(t) => Ok((t.clone(), v.status.clone(), v.config.text_chunk_limit)),
            None => {
                Err(format!("channel {kind} is not running: {}", lock(&v.status).last_error.clone().unwrap_or_else(|| "stopped".into())))
            }
        }
    }

    /// The configured channels, in order.
    pub fn configured(&self) -> Vec<ChannelKind> {
        self.shared.view().iter().map(|v| v.config.kind()).collect()
    }

    /// Sends `text` to `to` on `channel` now (the `send` RPC): chunked, retried on transient
    /// errors. The same `idempotency_key` within 5 minutes returns the first result.
    pub async fn send(&self, channel: Option<ChannelKind>, to: &str, text: &str, idempotency_key: &str) -> Result<Value, String> {
        if let Some(v) = self.remembered_send(idempotency_key) {
            return Ok(v);
        }
        let kind = match channel {
            Some(c) => c,
            None => match self.configured().as_slice() {
                [one] => *one,
                [] => return Err("no chat channel is configured".into()),
                _ => return Err("more than one channel is configured; say which with \"channel\"".into()),
            },
        };
        let (transport, status, limit) = self.transport(kind)?;
        let mut ids = Vec::new();
        for (i, piece) in text::chunks(text, limit).iter().enumerate() {
            let nonce = nonce(&format!("send:{idempotency_key}:{i}"));
            let id = deliver(&transport, &self.shared.tuning, kind, to, piece, None, &nonce).await.map_err(|e| e.message().to_string())?;
            lock(&status).last_outbound_at = Some(now_ms());
            ids.push(id);
        }
        if ids.is_empty() {
            return Err("the message is empty".into());
        }
        let result = json!({"runId": idempotency_key, "messageId": ids.last(), "messageIds": ids, "channel": kind.id(), "to": to});
        let mut sends = self.shared.sends.lock().unwrap_or_else(|p| p.into_inner());
        sends.push_back((idempotency_key.to_string(), Instant::now(), result.clone()));
        while sends.len() > limits::SEND_DEDUPE_ENTRIES {
            sends.pop_front();
        }
        Ok(result)
    }

    fn remembered_send(&self, key: &str) -> Option<Value> {
        let mut sends = self.shared.sends.lock().unwrap_or_else(|p| p.into_inner());
        sends.retain(|(_, at, _)| at.elapsed() < limits::SEND_DEDUPE_TTL);
        sends.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v.clone())
    }

    /// Sends a short notice outside a conversation (pairing approval), best effort.
    pub async fn notify(&self, kind: ChannelKind, to: &str, text: &str) -> bool {
        match self.transport(kind) {
            Ok((t, _, _)) => {
                deliver(&t, &self.shared.tuning, kind, to, text, None, &nonce(&format!("notify:{to}:{}", now_ms()))).await.is_ok()
            }
            Err(_) => false,
        }
    }

    /// `channels.status` accounts (with `probe`, each running channel's credentials are checked
    /// against the service).
    pub async fn accounts(&self, only: Option<&str>, probe: bool, timeout: Duration) -> Vec<(ChannelKind, Value)> {
        let view = self.shared.view();
        let mut out = Vec::new();
        for v in view.iter().filter(|v| only.is_none_or(|o| o == v.config.kind().id())) {
            let status = lock(&v.status).clone();
            let mut account = status::account_json(&v.config, &status, v.transport.is_some());
            if probe {
                account["probe"] = probe_json(v.transport.as_ref(), &status, timeout).await;
                account["lastProbeAt"] = json!(now_ms());
            }
            out.push((v.config.kind(), account));
        }
        out
    }

    /// Each configured channel's status, for the watchdog.
    pub fn liveness(&self) -> Vec<(ChannelKind, Status)> {
        self.shared.view().iter().map(|v| (v.config.kind(), lock(&v.status).clone())).collect()
    }

    /// Per-channel summaries for `health` (`channels`, `channelOrder`, `channelLabels`).
    pub fn health(&self) -> (Value, Vec<&'static str>, Value) {
        let view = self.shared.view();
        let mut channels = serde_json::Map::new();
        let mut labels = serde_json::Map::new();
        let mut order = Vec::new();
        for v in view.iter() {
            let kind = v.config.kind();
            let st = lock(&v.status).clone();
            channels.insert(kind.id().to_string(), status::summary_json(&v.config, &st));
            labels.insert(kind.id().to_string(), json!(kind.label()));
            order.push(kind.id());
        }
        (Value::Object(channels), order, Value::Object(labels))
    }
}

/// One channel's credentials checked against its service, within `timeout`.
async fn probe_json(transport: Option<&Transport>, status: &Status, timeout: Duration) -> Value {
    let Some(t) = transport else {
        return json!({"ok": false, "error": status.last_error.clone().unwrap_or_else(|| "channel is not running".into())});
    };
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
        None => json!({"ok": false, "elapsedMs": ms, "error": format!("probe timed out after {} ms", timeout.as_millis())}),
    }
}

/// One configured channel, as the owner task holds it.
struct Slot {
    view: View,
    /// Receiver and worker; dropping them stops the channel.
    tasks: Vec<Task<()>>,
}

/// The owner task's state.
struct Owner {
    shared: Arc<Shared>,
    state_dir: PathBuf,
    slots: Vec<Slot>,
    /// Opened once per process and kept across channel restarts.
    journals: HashMap<ChannelKind, Arc<Journal>>,
}

impl Owner {
    async fn run(mut self, inbox: Receiver<Command>) {
        while let Ok(command) = inbox.recv().await {
            let before = self.states();
            match command {
                Command::Reconcile(reply) => {
                    self.reconcile();
                    self.publish(before);
                    let _ = reply.try_send(());
                }
                Command::Start(kind, reply) => {
                    let r = self.start(kind);
                    self.publish(before);
                    let _ = reply.try_send(r);
                }
                Command::Stop(kind, reply) => {
                    let r = self.stop(kind);
                    self.publish(before);
                    let _ = reply.try_send(r);
                }
                Command::StopAll(reply) => {
                    self.slots.iter_mut().for_each(stop_slot);
                    self.publish(before);
                    let _ = reply.try_send(());
                }
            }
        }
    }

    /// Each channel's state as `health` shows it, to tell whether a command moved any.
    fn states(&self) -> Vec<(ChannelKind, bool, HealthState)> {
        self.slots
            .iter()
            .map(|slot| {
                let s = lock(&slot.view.status);
                (slot.view.config.kind(), s.running, s.health_state)
            })
            .collect()
    }

    /// Publishes the slots as the view readers see, and marks a change when the channels'
    /// states differ from `before` (a config applied that left the channels alone is none).
    fn publish(&self, before: Vec<(ChannelKind, bool, HealthState)>) {
        let view: Vec<View> = self.slots.iter().map(|s| s.view.clone()).collect();
        *self.shared.view.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(view);
        if self.states() != before {
            let _ = self.shared.changed.try_send(());
        }
    }

    fn reconcile(&mut self) {
        let config = self.shared.config();
        self.slots.retain(|s| {
            let kind = s.view.config.kind();
            let keep = config.channels.get(kind).is_some();
            if !keep {
                log::info!(target: "channels", "{kind}: removed from the config; stopped");
            }
            keep
        });
        for ch in &config.channels.list {
            match self.slots.iter().position(|s| s.view.config.kind() == ch.kind()) {
                Some(i) if self.slots[i].view.config == *ch => continue,
                Some(i) => {
                    log::info!(target: "channels", "{}: config changed; restarting the channel", ch.kind());
                    let status = self.slots[i].view.status.clone();
                    self.slots[i] = self.start_slot(ch.clone(), status);
                }
                None => {
                    let slot = self.start_slot(ch.clone(), Arc::new(Mutex::new(Status::default())));
                    self.slots.push(slot);
                }
            }
        }
    }

    fn start(&mut self, kind: ChannelKind) -> Result<(), String> {
        let Some(i) = self.slots.iter().position(|s| s.view.config.kind() == kind) else {
            return Err(format!("channel {kind} is not configured (add channels.{kind} to the config)"));
        };
        stop_slot(&mut self.slots[i]);
        let (config, status) = (self.slots[i].view.config.clone(), self.slots[i].view.status.clone());
        self.slots[i] = self.start_slot(config, status);
        Ok(())
    }

    fn stop(&mut self, kind: ChannelKind) -> Result<(), String> {
        let Some(slot) = self.slots.iter_mut().find(|s| s.view.config.kind() == kind) else {
            return Err(format!("channel {kind} is not configured"));
        };
        stop_slot(slot);
        log::info!(target: "channels", "{kind}: stopped by request");
        Ok(())
    }

    fn journal(&mut self, kind: ChannelKind) -> io::Result<Arc<Journal>> {
        if let Some(j) = self.journals.get(&kind) {
            return Ok(j.clone());
        }
        let j = Arc::new(Journal::open(&self.state_dir.join("channels").join(kind.id()))?);
        self.journals.insert(kind, j.clone());
        Ok(j)
    }

    /// Starts a channel from its config, keeping the counters of its previous run; a channel
    /// that cannot start is kept with the reason in its status.
    fn start_slot(&mut self, config: cfg::Channel, status: Arc<Mutex<Status>>) -> Slot {
        let kind = config.kind();
        let mut slot = Slot { view: View { config, status, transport: None, link: None }, tasks: Vec::new() };
        let set = |state: HealthState, why: Option<String>| {
            let mut s = lock(&slot.view.status);
            s.health_state = state;
            if why.is_some() {
                s.last_error = why;
            }
        };
        {
            let mut s = lock(&slot.view.status);
            *s = Status {
                reconnect_attempts: s.reconnect_attempts,
                last_inbound_at: s.last_inbound_at,
                last_outbound_at: s.last_outbound_at,
                ..Status::default()
            };
        }
        if !slot.view.config.enabled {
            set(HealthState::Disabled, None);
            return slot;
        }
        let transport = match Transport::build(&slot.view.config) {
            Ok(t) => t,
            Err(why) => {
                log::warn!(target: "channels", "{kind}: not started: {why}");
                set(if kind.compiled() { HealthState::NotConfigured } else { HealthState::Unavailable }, Some(why));
                return slot;
            }
        };
        let journal = match self.journal(kind) {
            Ok(j) => j,
            Err(e) => {
                let why = format!("cannot open the channel journal in {}: {e}", self.state_dir.join("channels").join(kind.id()).display());
                log::error!(target: "channels", "{kind}: {why}");
                set(HealthState::Error, Some(why));
                return slot;
            }
        };
        let (wake, woken) = smol::channel::bounded(1);
        let access = Arc::new(slot.view.config.access.clone());
        let changed = self.shared.changed.clone();
        let link = Link { kind, tuning: self.shared.tuning, access, status: slot.view.status.clone(), journal, wake, changed };
        {
            let mut s = link.status();
            s.configured = true;
            s.running = true;
            s.health_state = HealthState::Connecting;
            s.last_start_at = Some(now_ms());
        }
        log::info!(target: "channels", "{kind}: starting ({})", kind.mode());
        slot.tasks.push(transport.receive(link.clone()));
        slot.tasks.push(crate::rt::spawn(worker(self.shared.clone(), link.clone(), transport.clone(), woken)));
        slot.view.transport = Some(transport);
        slot.view.link = Some(link);
        slot
    }
}

fn stop_slot(slot: &mut Slot) {
    slot.tasks.clear();
    slot.view.transport = None;
    slot.view.link = None;
    let mut s = lock(&slot.view.status);
    if s.running {
        s.last_stop_at = Some(now_ms());
    }
    s.running = false;
    s.connected = false;
    if s.health_state != HealthState::AuthFailed {
        s.health_state = HealthState::Stopped;
    }
}
