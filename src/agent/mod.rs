//! The agent: a message comes in (from a WebSocket client, the HTTP API, a hook or a channel), a
//! model answers it — calling tools on the way — the answer streams out as [`RunEvent`]s, and the
//! conversation is kept in the session's transcript.
//!
//! Layout: [`runner`] schedules runs (one at a time per session, a bounded number overall, with
//! abort and idempotency), [`run`] executes one, [`providers`] talk to models, [`tools`] are what
//! the model may do, [`prompt`] builds the system prompt, [`store`] and [`transcript`] keep
//! sessions on disk, [`keys`] names sessions, [`message`] is the conversation's vocabulary.
//!
//! The agent knows nothing of the WebSocket protocol or HTTP: it reports through a bounded
//! channel of [`Notice`]s that the gateway turns into protocol events.

pub mod inbox;
pub mod keys;
pub mod message;
pub mod prompt;
pub mod providers;
pub mod run;
pub mod runner;
pub mod store;
pub mod tools;
pub mod transcript;

use serde_json::Value;
use smol::channel::{Receiver, Sender};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use keys::SessionKey;
use message::{Message, StopReason, ToolCall, Usage};
use providers::{ErrorKind, ToolSpec};
use store::{SessionEntry, Store};

use crate::config::{Config, Paths};
use crate::limits::{SYSTEM_EVENTS_PER_SESSION, SYSTEM_EVENTS_SESSIONS};

/// Why a run was stopped before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortReason {
    /// `chat.abort`, `/stop`, or a newer message interrupting it.
    Requested,
    /// The run took longer than its timeout.
    Timeout,
    /// The gateway is shutting down.
    Shutdown,
    /// The HTTP client that was streaming the answer went away.
    Disconnected,
}

/// The run side of an abort: await [`Abort::wait`] next to anything that may take long.
#[derive(Clone)]
pub struct Abort {
    rx: Receiver<()>,
    reason: Arc<Mutex<Option<AbortReason>>>,
}

/// The controlling side: [`AbortHandle::abort`] stops the run.
#[derive(Clone)]
pub struct AbortHandle {
    tx: Sender<()>,
    reason: Arc<Mutex<Option<AbortReason>>>,
}

impl Abort {
    pub fn new() -> (Abort, AbortHandle) {
        let (tx, rx) = smol::channel::bounded(1);
        let reason = Arc::new(Mutex::new(None));
        (Abort { rx, reason: reason.clone() }, AbortHandle { tx, reason })
    }

    pub fn reason(&self) -> Option<AbortReason> {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes once the run is aborted (never, if it is not).
    pub async fn wait(&self) -> AbortReason {
        // The channel also closes when every handle is dropped; only a recorded reason counts.
        let _ = self.rx.recv().await;
        match self.reason() {
            Some(r) => r,
            None => std::future::pending().await,
        }
    }
}

impl AbortHandle {
    /// Aborts the run; the first reason given wins.
    pub fn abort(&self, reason: AbortReason) {
        self.reason.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(reason);
        self.tx.close();
    }
}

/// Where a run's message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `chat.send` from an operator client.
    Chat,
    /// The `agent` RPC.
    Agent,
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// `POST /v1/responses`.
    Responses,
    /// `POST /hooks/agent`.
    Hook,
    /// `wake` / `POST /hooks/wake`.
    Wake,
    /// A chat channel (Telegram, Discord, …).
    Channel,
}

impl Origin {
    /// The origins whose runs are acknowledged before they finish (and so must outlive a crash,
    /// see [`inbox`]), by the name the inbox records.
    fn acknowledged_name(self) -> Option<&'static str> {
        match self {
            Origin::Chat => Some("chat"),
            Origin::Agent => Some("agent"),
            Origin::Hook => Some("hook"),
            Origin::Wake => Some("wake"),
            // The HTTP client waits for the answer; channels have their own journal.
            Origin::OpenAi | Origin::Responses | Origin::Channel => None,
        }
    }

    fn from_acknowledged_name(name: &str) -> Option<Origin> {
        [Origin::Chat, Origin::Agent, Origin::Hook, Origin::Wake].into_iter().find(|o| o.acknowledged_name() == Some(name))
    }

    /// The channel name in the system prompt's runtime line.
    pub fn channel_name(self) -> &'static str {
        match self {
            Origin::Chat | Origin::Agent => "webchat",
            Origin::OpenAi => "openai",
            Origin::Responses => "openresponses",
            Origin::Hook => "hook",
            Origin::Wake => "system",
            Origin::Channel => "channel",
        }
    }
}

/// How `wake` delivers its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeMode {
    /// Start a turn now.
    Now,
    /// Ride along with the session's next turn.
    NextHeartbeat,
}

impl WakeMode {
    /// The official names, for params and answers.
    pub const CHOICES: &'static [(&'static str, WakeMode)] = &[("now", WakeMode::Now), ("next-heartbeat", WakeMode::NextHeartbeat)];

    pub fn name(self) -> &'static str {
        match self {
            WakeMode::Now => "now",
            WakeMode::NextHeartbeat => "next-heartbeat",
        }
    }
}

/// A run to start.
pub struct RunRequest {
    /// The caller's idempotency key: a second request with the same id joins the first.
    pub run_id: String,
    pub key: SessionKey,
    /// New turns (a user message, or tool results the caller computed) added to the session.
    pub input: Vec<Message>,
    pub origin: Origin,
    /// Chat service name for channel runs (`telegram`); defaults from the origin.
    pub channel: Option<String>,
    /// `provider/model` for this run only.
    pub model: Option<String>,
    pub extra_system: Option<String>,
    pub timeout: Option<Duration>,
    /// Tools the caller executes itself (OpenAI-compatible `tools`): when the model calls one,
    /// the run ends and hands the call back.
    pub client_tools: Vec<ToolSpec>,
    /// The conversation so far, when the caller keeps it (stateless OpenAI-compatible requests)
    /// instead of the session's transcript.
    pub history: Option<Vec<Message>>,
    /// Receives this run's events as they happen (streaming HTTP responses).
    pub observer: Option<Sender<Arc<RunEvent>>>,
    /// Abort the run when the observer goes away.
    pub abort_without_observer: bool,
    pub config: Arc<Config>,
}

impl RunRequest {
    pub fn new(run_id: String, key: SessionKey, input: Vec<Message>, origin: Origin, config: Arc<Config>) -> RunRequest {
        RunRequest {
            run_id,
            key,
            input,
            origin,
            channel: None,
            model: None,
            extra_system: None,
            timeout: None,
            client_tools: Vec::new(),
            history: None,
            observer: None,
            abort_without_observer: false,
            config,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Ok,
    Aborted,
    Error,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub run_id: String,
    pub key: SessionKey,
    pub session_id: String,
    pub status: RunStatus,
    /// Everything the assistant said in this run (a partial answer when aborted or failed).
    pub text: String,
    /// Calls of caller-side tools the run stopped for.
    pub client_tool_calls: Vec<ToolCall>,
    pub stop_reason: StopReason,
    pub error: Option<RunError>,
    pub usage: Usage,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub started_at: u64,
    pub ended_at: u64,
    /// Names of the tools that ran successfully.
    pub tools_used: Vec<String>,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    pub kind: ErrorKind,
    pub message: String,
    /// HTTP status the provider answered with, when there was one.
    pub status: Option<u16>,
}

/// Phases of a tool call in `tool` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolPhase {
    Start,
    Result,
}

/// What a run reports as it goes.
#[derive(Debug, Clone)]
pub enum EventKind {
    /// A preparation step (the `chat` status phases).
    Status(&'static str),
    Start {
        started_at: u64,
    },
    /// The model being called.
    Model {
        provider: String,
        model: String,
    },
    /// The model failed and the next one in the fallback list is tried.
    Fallback {
        from: String,
        to: String,
        reason: &'static str,
        detail: String,
    },
    /// Streamed answer text: everything so far, and what is new.
    Assistant {
        text: String,
        delta: String,
    },
    Tool {
        phase: ToolPhase,
        call_id: String,
        name: String,
        args: Option<Value>,
        result: Option<String>,
        is_error: bool,
    },
    Usage(Usage),
    End(Arc<Outcome>),
}

/// One event of one run. `seq` counts the run's events from 1.
#[derive(Debug, Clone)]
pub struct RunEvent {
    pub run_id: String,
    pub key: SessionKey,
    pub session_id: String,
    pub seq: u64,
    pub ts: u64,
    pub kind: EventKind,
}

/// What the agent tells the gateway.
#[derive(Debug, Clone)]
pub enum Notice {
    Run(Arc<RunEvent>),
    /// A session was created, changed or removed (`entry` is `None` when removed).
    Session {
        key: SessionKey,
        reason: &'static str,
        entry: Option<Box<SessionEntry>>,
    },
}

/// Shared by every run.
pub struct Shared {
    pub store: Arc<Store>,
    /// Acknowledged runs that have not ended (see [`inbox`]).
    pub inbox: Arc<inbox::Inbox>,
    pub paths: Paths,
    pub notices: Sender<Notice>,
    /// System events waiting for their session's next turn (`wake` with `next-heartbeat`).
    system_events: Mutex<std::collections::HashMap<String, Vec<String>>>,
}

impl Shared {
    /// The system events queued for `key`, removed.
    pub fn take_system_events(&self, key: &SessionKey) -> Vec<String> {
        self.system_events.lock().unwrap_or_else(|e| e.into_inner()).remove(&key.to_string()).unwrap_or_default()
    }

    /// The workspace of `agent_id`: its own setting, the defaults' (for the default agent), or
    /// `<state>/workspace` (default agent) / `<state>/workspace-<id>` (others).
    pub fn workspace_for(&self, cfg: &Config, agent_id: &str) -> PathBuf {
        if let Some(w) = cfg.agents.entry(agent_id).and_then(|e| e.workspace.clone()) {
            return w;
        }
        if agent_id == cfg.agents.default_id() {
            return cfg.agents.defaults.workspace.clone().unwrap_or_else(|| self.paths.default_workspace());
        }
        self.paths.state_dir.join(format!("workspace-{agent_id}"))
    }

    pub async fn notify(&self, notice: Notice) {
        let _ = self.notices.send(notice).await;
    }
}

/// Handle to the agent: the run scheduler and the session store.
#[derive(Clone)]
pub struct Agent {
    pub shared: Arc<Shared>,
    runner: runner::Handle,
}

/// What happened to a submitted run.
#[derive(Debug, Clone)]
pub enum Admission {
    /// It started right away.
    Started,
    /// It waits behind the session's active run (or for a free slot).
    Queued,
    /// A run with this id is already queued or running.
    InFlight,
    /// A run with this id already finished.
    Done(Arc<Outcome>),
}

/// A run in progress, as `chat.history` reports it.
#[derive(Debug, Clone)]
pub struct ActiveRun {
    pub run_id: String,
    pub text: String,
    pub started_at: u64,
}

impl Agent {
    /// Starts the scheduler. Notices go to `notices`.
    pub fn start(paths: Paths, notices: Sender<Notice>) -> Agent {
        let shared = Arc::new(Shared {
            store: Arc::new(Store::new(&paths.state_dir)),
            inbox: inbox::Inbox::new(&paths.state_dir),
            paths,
            notices,
            system_events: Mutex::new(Default::default()),
        });
        let runner = runner::Handle::start(shared.clone());
        Agent { shared, runner }
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Queues or starts a run. Fails when the session's queue is full.
    /// Submits a run. Runs the caller acknowledges before they end are first recorded in the
    /// inbox (synced), so a crash cannot lose them.
    pub async fn submit(&self, req: RunRequest) -> Result<Admission, crate::error::Error> {
        let run_id = req.run_id.clone();
        let recorded = match (req.origin.acknowledged_name(), req.history.is_none()) {
            (Some(origin), true) => {
                let ts = crate::clock::now_ms();
                let accepted = inbox::Accepted {
                    run_id: run_id.clone(),
                    key: req.key.to_string(),
                    input: req.input.iter().map(|m| message::to_transcript(m, ts)).collect(),
                    origin: origin.to_string(),
                    model: req.model.clone(),
                    channel: req.channel.clone(),
                    extra_system: req.extra_system.clone(),
                    timeout_ms: req.timeout.map(|t| t.as_millis() as u64),
                };
                self.shared
                    .inbox
                    .accept(accepted)
                    .await
                    .map_err(|e| crate::error::Error::unavailable(format!("cannot record the message before accepting it: {e}")))?;
                true
            }
            _ => false,
        };
        let admission = self.runner.submit(req).await;
        if recorded && matches!(&admission, Err(_) | Ok(Admission::Done(_))) {
            // Refused, or the same id already finished: nothing is owed for this submission.
            self.shared.inbox.finish(&run_id);
        }
        admission
    }

    /// Resubmits the runs acknowledged before the last stop that never started (see [`inbox`]);
    /// returns how many. Runs that had started keep their input in the transcript and are
    /// marked interrupted by the session index.
    pub async fn resume_acknowledged(&self, config: Arc<Config>) -> usize {
        let pending = match self.shared.inbox.unfinished().await {
            Ok(p) => p,
            Err(e) => {
                log::error!(target: "agent", "cannot read the inbox of acknowledged messages: {e}");
                return 0;
            }
        };
        let mut resumed = 0;
        for run in pending {
            let key = match SessionKey::parse(&run.key, config.agents.default_id(), None) {
                Ok(k) if config.agents.exists(&k.agent_id) => k,
                _ => {
                    log::warn!(target: "agent", "dropping acknowledged run {}: its session {} no longer exists", run.run_id, run.key);
                    self.shared.inbox.finish(&run.run_id);
                    continue;
                }
            };
            if self.started_before(&key, &run.run_id).await {
                self.shared.inbox.finish(&run.run_id);
                continue;
            }
            let Some(origin) = Origin::from_acknowledged_name(&run.origin) else {
                self.shared.inbox.finish(&run.run_id);
                continue;
            };
            let input: Vec<Message> = run.input.iter().filter_map(message::from_json).collect();
            let mut req = RunRequest::new(run.run_id.clone(), key, input, origin, config.clone());
            req.model = run.model;
            req.channel = run.channel;
            req.extra_system = run.extra_system;
            req.timeout = run.timeout_ms.map(Duration::from_millis);
            match self.submit(req).await {
                Ok(_) => resumed += 1,
                Err(e) => log::warn!(target: "agent", "cannot resume acknowledged run {}: {e}", run.run_id),
            }
        }
        if resumed > 0 {
            log::info!(target: "agent", "resumed {resumed} message(s) acknowledged before the last stop");
        }
        resumed
    }

    /// Whether the session's transcript already holds this run's input (it had started).
    async fn started_before(&self, key: &SessionKey, run_id: &str) -> bool {
        match self.shared.store.read_tail(key, crate::limits::HISTORY_MAX_LINES, crate::limits::HISTORY_MAX_BYTES).await {
            Ok(Some((_, tail))) => tail.entries.iter().any(|e| e["runId"] == run_id),
            _ => false,
        }
    }

    /// Aborts the session's queued runs and its active run (or only `run_id`); returns the ids
    /// that were aborted.
    pub async fn abort(&self, key: &SessionKey, run_id: Option<&str>) -> Vec<String> {
        self.runner.abort(key, run_id).await
    }

    /// Waits up to `timeout` for `run_id` to finish.
    pub async fn wait(&self, run_id: &str, timeout: Duration) -> Option<Arc<Outcome>> {
        self.runner.wait(run_id, timeout).await
    }

    /// Runs in progress in a session.
    pub async fn active(&self, key: &SessionKey) -> Vec<ActiveRun> {
        self.runner.active(key).await
    }

    /// Whether the run scheduler answers within `limit` (the watchdog's test that the agent side
    /// of the event loop makes progress).
    pub async fn responsive(&self, limit: Duration) -> bool {
        self.runner.ping(limit).await
    }

    /// Aborts everything and waits (up to `budget`) for runs to save what they have.
    pub async fn shutdown(&self, budget: Duration) {
        self.runner.shutdown(budget).await
    }

    pub fn workspace_for(&self, cfg: &Config, agent_id: &str) -> PathBuf {
        self.shared.workspace_for(cfg, agent_id)
    }

    /// Queues `text` for the session's next turn. Bounded: a session holds at most
    /// [`SYSTEM_EVENTS_PER_SESSION`] events and only so many sessions may hold any.
    /// `wake`: with [`WakeMode::Now`] a turn starts on the session with the text as a system
    /// event (its run id is returned); with [`WakeMode::NextHeartbeat`] the text waits for the
    /// session's next turn.
    pub async fn wake(
        &self,
        key: SessionKey,
        mode: WakeMode,
        text: &str,
        config: Arc<Config>,
    ) -> Result<Option<String>, crate::error::Error> {
        match mode {
            WakeMode::Now => {
                let run_id = crate::ids::uuid();
                let req = RunRequest::new(run_id.clone(), key, vec![Message::user(format!("System event: {text}"))], Origin::Wake, config);
                self.submit(req).await?;
                Ok(Some(run_id))
            }
            WakeMode::NextHeartbeat => {
                self.queue_system_event(&key, text).map_err(|e| crate::error::Error::busy(e, crate::limits::AGENT_LANE_FULL_RETRY_MS))?;
                Ok(None)
            }
        }
    }

    pub fn queue_system_event(&self, key: &SessionKey, text: &str) -> Result<(), String> {
        let mut map = self.shared.system_events.lock().unwrap_or_else(|e| e.into_inner());
        let k = key.to_string();
        if !map.contains_key(&k) && map.len() >= SYSTEM_EVENTS_SESSIONS {
            return Err("too many sessions have system events waiting; try again later".into());
        }
        let list = map.entry(k).or_default();
        if list.len() >= SYSTEM_EVENTS_PER_SESSION {
            return Err(format!("session {key} already has {SYSTEM_EVENTS_PER_SESSION} system events waiting"));
        }
        list.push(text.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streaming_reader_that_never_reads_cannot_hold_a_run_past_its_abort() {
        let dir = std::env::temp_dir().join(format!("oc-agent-{}", crate::ids::uuid()));
        let paths = Paths {
            home: dir.clone(),
            profile: None,
            state_dir: dir.join("state"),
            config_path: dir.join("state/openclaw.json"),
            dev: false,
        };
        let (notices, drain) = smol::channel::bounded(16);
        crate::rt::block_on(async {
            crate::rt::spawn(async move { while drain.recv().await.is_ok() {} }).detach();
            let agent = Agent::start(paths, notices);
            let key = SessionKey::main("main");
            let mut req = RunRequest::new("r1".into(), key.clone(), vec![Message::user("hi")], Origin::Chat, Arc::new(Config::empty()));
            // Room for one event, and nobody reading: the run is held on its second event.
            let (observer, _unread) = smol::channel::bounded(1);
            req.observer = Some(observer);
            agent.submit(req).await.unwrap();
            smol::Timer::after(Duration::from_millis(300)).await;
            assert!(agent.wait("r1", Duration::ZERO).await.is_none(), "held by the reader");
            assert_eq!(agent.abort(&key, None).await, vec!["r1".to_string()]);
            let outcome = agent.wait("r1", crate::limits::OBSERVER_GRACE * 3).await.expect("the abort ends the run anyway");
            assert_eq!(outcome.status, RunStatus::Aborted);
        });
    }
}
