//! One run, start to finish: open the session, record the new message, load a bounded window of
//! history, build the prompt, then call the model — retrying transient failures, falling back to
//! the next model when one fails before answering — and run the tools it asks for, until it
//! answers without tool calls. Every step is saved to the transcript as it completes; an abort
//! saves the partial answer marked `aborted`.
//!
//! Streamed text is passed on in small batches (at most one event per
//! [`DELTA_FLUSH_INTERVAL`]) so a fast model does not flood slow clients, while the first words
//! go out at once.

mod finish;
mod plan;
mod turn;

use smol::Timer;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::message::{self, Message, StopReason, ToolCall, Usage};
use super::providers::{self, ErrorKind, ProviderError, ToolSpec};
use super::runner::Live;
use super::store::{Append, SessionEntry};
use super::tools::{self, Tool, ToolEnv, ToolOutput};
use super::{
    Abort, AbortHandle, AbortReason, EventKind, Notice, Origin, Outcome, RunEvent, RunRequest, SessionKey, Shared, ToolPhase, prompt,
};
use crate::config::Config;
use crate::limits::{
    AGENT_MAX_TOOL_STEPS, HISTORY_MAX_BYTES, HISTORY_MAX_LINES, OBSERVER_GRACE, RUN_INPUT_MAX_CHARS, TOOL_RESULT_MAX_CHARS,
};
use plan::{cap_chars, fit_history, model_chain};

/// Executes `req`. `abort` ends it early; `handle` lets the run abort itself (timeout, a
/// streaming client that left).
pub async fn execute(shared: Arc<Shared>, req: RunRequest, abort: Abort, handle: AbortHandle, live: Arc<Live>) -> Arc<Outcome> {
    // The run's timeout fires the same abort as `chat.abort`; the timer is cancelled when the run
    // ends (dropping the task).
    let timeout = req.timeout.or(req.config.agents.defaults.timeout);
    let _timer = timeout.map(|t| {
        let handle = handle.clone();
        crate::rt::spawn(async move {
            Timer::after(t).await;
            handle.abort(AbortReason::Timeout);
        })
    });
    let mut run = Run {
        shared,
        req,
        abort,
        handle,
        live,
        timeout,
        seq: 0,
        session_id: String::new(),
        started_at: crate::clock::now_ms(),
        run_text: String::new(),
        pending: String::new(),
        last_flush: None,
        usage: Usage::default(),
        provider: None,
        model: None,
        tools_used: Vec::new(),
        observer_gone: false,
    };
    let result = run.body().await;
    run.finish(result).await
}

/// A model turn's result.
#[derive(Debug, Default)]
struct StepOut {
    text: String,
    calls: Vec<ToolCall>,
    stop: Option<StopReason>,
    usage: Usage,
}

/// How the run's main part ended when it did not end normally.
enum Failure {
    /// Aborted; the partial turn (if the abort came while the model was answering).
    Aborted(AbortReason, Option<StepOut>),
    Provider(ProviderError, Option<StepOut>),
    /// Local trouble (disk, workspace, tool-step limit).
    Internal(String),
}

/// How the run's main part ended normally.
struct Done {
    stop: StopReason,
    client_calls: Vec<ToolCall>,
}

/// Why a streamed turn stopped early.
enum StepErr {
    Aborted(AbortReason, StepOut),
    /// The provider failed; `streamed` says clients already saw part of this turn.
    Provider(ProviderError, bool, StepOut),
}

struct Run {
    shared: Arc<Shared>,
    req: RunRequest,
    abort: Abort,
    handle: AbortHandle,
    live: Arc<Live>,
    timeout: Option<Duration>,
    seq: u64,
    session_id: String,
    started_at: u64,
    /// Everything the assistant said in this run.
    run_text: String,
    /// Text not yet passed on.
    pending: String,
    last_flush: Option<Instant>,
    usage: Usage,
    provider: Option<String>,
    model: Option<String>,
    tools_used: Vec<String>,
    observer_gone: bool,
}

/// The tools a run offers: the gateway's own (minus those a client overrides by name) and the
/// client's, and what the gateway's own run with.
struct Toolbox {
    client_names: Vec<String>,
    internal: Vec<Tool>,
    specs: Vec<ToolSpec>,
    env: ToolEnv,
}

impl Toolbox {
    fn new(cfg: &Config, client_tools: &[ToolSpec], workspace: PathBuf) -> Toolbox {
        let client_names: Vec<String> = client_tools.iter().map(|t| t.name.clone()).collect();
        let internal: Vec<Tool> = tools::offered(&cfg.tools).into_iter().filter(|t| !client_names.iter().any(|n| n == t.name())).collect();
        let mut specs: Vec<ToolSpec> = internal.iter().map(|t| t.spec()).collect();
        specs.extend(client_tools.iter().cloned());
        let env = ToolEnv {
            workspace,
            exec_security: cfg.tools.exec_security,
            safe_bins: cfg.tools.exec_safe_bins.clone(),
            exec_timeout: cfg.tools.exec_timeout,
            timezone: cfg.agents.defaults.user_timezone.clone(),
        };
        Toolbox { client_names, internal, specs, env }
    }
}

/// What every model turn of a run is sent with.
struct Prompt {
    /// The model references to try, in order.
    chain: Vec<String>,
    system: String,
    /// The first model's context window, which the history is fitted to.
    context_window: u32,
}

impl Run {
    async fn emit(&mut self, kind: EventKind) {
        self.seq += 1;
        let event = Arc::new(RunEvent {
            run_id: self.req.run_id.clone(),
            key: self.req.key.clone(),
            session_id: self.session_id.clone(),
            seq: self.seq,
            ts: crate::clock::now_ms(),
            kind,
        });
        self.shared.notify(Notice::Run(event.clone())).await;
        if let Some(observer) = &self.req.observer {
            // A slow reader slows the run down (the queue is bounded), but cannot hold it past an
            // abort or timeout: from then on it gets a short grace, then is dropped.
            let abort = &self.abort;
            let ending = async {
                if abort.reason().is_none() {
                    abort.wait().await;
                }
                Timer::after(OBSERVER_GRACE).await;
                false
            };
            let delivered = smol::future::or(async { observer.send(event).await.is_ok() }, ending);
            if !self.observer_gone && !delivered.await {
                self.observer_gone = true;
                if self.req.abort_without_observer {
                    self.handle.abort(AbortReason::Disconnected);
                }
            }
        }
    }

    async fn notify_session(&self, reason: &'static str, entry: Option<SessionEntry>) {
        self.shared.notify(Notice::Session { key: self.req.key.clone(), reason, entry: entry.map(Box::new) }).await;
    }

    fn key(&self) -> SessionKey {
        self.req.key.clone()
    }

    /// The run's main part: open the session, record the input, build the prompt, then take
    /// model turns until the model answers without tool calls (or hands calls to the client).
    async fn body(&mut self) -> Result<Done, Failure> {
        let cfg = self.req.config.clone();
        let key = self.key();
        let chat = self.req.origin == Origin::Chat;
        let workspace = self.shared.workspace_for(&cfg, &key.agent_id);
        if chat {
            self.emit(EventKind::Status("preparing_workspace")).await;
        }
        // A stat of a directory that exists (every run after the first) is cheaper than the trip
        // to a blocking thread that creating it takes.
        if !workspace.is_dir() {
            let ws = workspace.clone();
            smol::unblock(move || std::fs::create_dir_all(&ws))
                .await
                .map_err(|e| Failure::Internal(format!("cannot create the workspace {}: {e}", workspace.display())))?;
        }
        self.check_input_size().map_err(|e| Failure::Provider(e, None))?;
        let entry = self.open_session(&cfg, &key, &workspace).await?;
        if chat {
            self.emit(EventKind::Status("preparing_context")).await;
        }
        let (input, lines) = self.take_input(&key);
        // The input goes to the transcript on a blocking thread while this one builds the
        // prompt (which reads the workspace's prompt files); the model call waits for both.
        let store = self.shared.store.clone();
        let record = async {
            if lines.is_empty() {
                return Ok(Vec::new());
            }
            store.append_unsynced(&key, lines).await
        };
        let build = async {
            let toolbox = Toolbox::new(&cfg, &self.req.client_tools, workspace.clone());
            let prompt = self.prompt(&cfg, &key, &entry, &workspace, &toolbox.specs);
            (toolbox, prompt)
        };
        let (placed, (toolbox, prompt)) = smol::future::zip(record, build).await;
        let placed = placed.map_err(|e| Failure::Internal(format!("cannot write the transcript of {key}: {e}")))?;
        let first_input_seq = placed.first().map_or(u64::MAX, |p| p.seq);
        let mut history = match self.req.history.take() {
            Some(h) => h,
            None => self.load_history(&key, first_input_seq).await?,
        };
        history.extend(input);
        let history = fit_history(history, prompt.context_window, prompt.system.len());

        self.started_at = crate::clock::now_ms();
        *self.live.started_at.lock().unwrap_or_else(|e| e.into_inner()) = self.started_at;
        self.emit(EventKind::Start { started_at: self.started_at }).await;
        if chat {
            self.emit(EventKind::Status("starting_model")).await;
        }
        self.turns(&cfg, &key, &prompt, history, &toolbox).await
    }

    /// Refuses input too long to send to any model, before anything is written.
    fn check_input_size(&self) -> Result<(), ProviderError> {
        let input_chars: usize = self.req.input.iter().map(Message::text_chars).sum();
        if input_chars > RUN_INPUT_MAX_CHARS {
            let message = format!(
                "the message is {input_chars} characters; the limit is {RUN_INPUT_MAX_CHARS}. Send it in parts or as a file in the workspace"
            );
            return Err(ProviderError::new(ErrorKind::BadRequest, message));
        }
        Ok(())
    }

    /// Opens the session (creating it if needed) and marks it running. The index write (the
    /// crash marker, and a new session's entry) starts at once in the background: the model call
    /// does not queue behind its fsyncs. The transcript gets the input later.
    async fn open_session(&mut self, cfg: &Config, key: &SessionKey, workspace: &Path) -> Result<SessionEntry, Failure> {
        let run_id = self.req.run_id.clone();
        let now = crate::clock::now_ms();
        let preview = self.req.input.iter().rev().find_map(|m| match m {
            Message::User { text } => Some(text.clone()),
            _ => None,
        });
        let (entry, created) = self
            .shared
            .store
            .ensure_soon(key, workspace, &cfg.session.maintenance, |e| {
                e.status = Some("running".into());
                e.last_run_id = Some(run_id);
                e.last_run_error = None;
                e.updated_at = now;
                e.last_interaction_at = Some(now);
                if let Some(p) = &preview {
                    e.set_preview(p);
                }
            })
            .await
            .map_err(|e| Failure::Internal(format!("cannot open session {key}: {e}")))?;
        self.session_id = entry.session_id.clone();
        if created {
            self.notify_session("created", Some(entry.clone())).await;
        }
        self.notify_session("activity", Some(entry.clone())).await;
        Ok(entry)
    }

    /// Takes the run's input (with the session's queued system events) and its transcript lines.
    fn take_input(&mut self, key: &SessionKey) -> (Vec<Message>, Vec<Append>) {
        let mut input = std::mem::take(&mut self.req.input);
        // System events queued for this session ride along with its next user message.
        if let Some(Message::User { text }) = input.iter_mut().find(|m| matches!(m, Message::User { .. })) {
            let events = self.shared.take_system_events(key);
            if !events.is_empty() {
                let lines: Vec<String> = events.iter().map(|e| format!("System event: {e}")).collect();
                *text = format!("{}\n\n{text}", lines.join("\n"));
            }
        }
        let ts = crate::clock::now_ms();
        let run_id = &self.req.run_id;
        let lines = input.iter().map(|m| Append { message: message::to_transcript(m, ts), run_id: Some(run_id.clone()) }).collect();
        (input, lines)
    }

    /// The model chain, the system prompt and the context window of the chain's first model.
    fn prompt(&self, cfg: &Config, key: &SessionKey, entry: &SessionEntry, workspace: &Path, specs: &[ToolSpec]) -> Prompt {
        let chain = model_chain(cfg, &self.req, entry);
        let agent_name = cfg.agents.entry(&key.agent_id).and_then(|e| e.identity.name.clone().or(e.name.clone()));
        let system = prompt::build(&prompt::PromptInputs {
            agent_id: &key.agent_id,
            agent_name: agent_name.as_deref(),
            workspace,
            model: cfg.agents.expand_alias(&chain[0]),
            tools: specs,
            per_file_max: cfg.agents.defaults.bootstrap_max_chars,
            total_max: cfg.agents.defaults.bootstrap_total_max_chars,
            timezone: cfg.agents.defaults.user_timezone.as_deref(),
            channel: self.req.channel.as_deref().unwrap_or(self.req.origin.channel_name()),
            extra: self.req.extra_system.as_deref(),
        });
        let context_window =
            providers::resolve(cfg, &chain[0]).map(|m| m.context_window).unwrap_or(crate::limits::MODEL_DEFAULT_CONTEXT_WINDOW);
        Prompt { chain, system, context_window }
    }

    /// Model turns, each followed by the tool calls it asked for, until a turn asks for none,
    /// asks for a client's tool, or the per-run limit of rounds is reached.
    async fn turns(
        &mut self,
        cfg: &Config,
        key: &SessionKey,
        prompt: &Prompt,
        mut history: Vec<Message>,
        toolbox: &Toolbox,
    ) -> Result<Done, Failure> {
        let mut model_idx = 0;
        let mut steps = 0;
        loop {
            steps += 1;
            if steps > 1 {
                // Tool results add up over the rounds: keep within the context.
                history = fit_history(history, prompt.context_window, prompt.system.len());
            }
            let out = self.call_model(cfg, &prompt.chain, &mut model_idx, &prompt.system, &history, &toolbox.specs).await?;
            let stop = out.stop.unwrap_or(StopReason::Stop);
            self.save_assistant(&out.text, &out.calls, &out.usage, stop, None).await?;
            history.push(Message::Assistant { text: out.text.clone(), tool_calls: out.calls.clone() });
            if out.calls.is_empty() {
                return Ok(Done { stop, client_calls: Vec::new() });
            }
            let client_calls = self.run_tool_calls(key, out.calls, toolbox, &mut history).await?;
            if !client_calls.is_empty() {
                return Ok(Done { stop: StopReason::ToolUse, client_calls });
            }
            if steps >= AGENT_MAX_TOOL_STEPS {
                return Err(Failure::Internal(format!(
                    "stopped after {steps} rounds of tool calls (the per-run limit); ask again to continue"
                )));
            }
        }
    }

    /// Runs a turn's calls of the gateway's own tools, recording each result in the transcript
    /// and the history; returns the calls meant for the client's tools.
    async fn run_tool_calls(
        &mut self,
        key: &SessionKey,
        calls: Vec<ToolCall>,
        toolbox: &Toolbox,
        history: &mut Vec<Message>,
    ) -> Result<Vec<ToolCall>, Failure> {
        let mut client_calls = Vec::new();
        for call in calls {
            if toolbox.client_names.contains(&call.name) {
                client_calls.push(call);
                continue;
            }
            let result = self.run_tool(&call, &toolbox.internal, &toolbox.env).await;
            let aborted = self.abort.reason();
            let text = cap_chars(&result.text, TOOL_RESULT_MAX_CHARS);
            let ts = crate::clock::now_ms();
            self.shared
                .store
                .append_unsynced(
                    key,
                    vec![Append {
                        message: message::tool_result_json(&call.id, &call.name, &text, result.is_error, ts),
                        run_id: Some(self.req.run_id.clone()),
                    }],
                )
                .await
                .map_err(|e| Failure::Internal(format!("cannot write the transcript of {key}: {e}")))?;
            history.push(Message::ToolResult { call_id: call.id.clone(), name: call.name.clone(), text, is_error: result.is_error });
            if let Some(reason) = aborted {
                return Err(Failure::Aborted(reason, None));
            }
        }
        Ok(client_calls)
    }

    async fn run_tool(&mut self, call: &ToolCall, internal: &[Tool], env: &ToolEnv) -> ToolOutput {
        self.emit(EventKind::Tool {
            phase: ToolPhase::Start,
            call_id: call.id.clone(),
            name: call.name.clone(),
            args: Some(call.arguments.clone()),
            result: None,
            is_error: false,
        })
        .await;
        let output = match Tool::find(&call.name).filter(|t| internal.contains(t)) {
            Some(tool) => tools::run(tool, &call.arguments, env, &self.abort).await,
            None => ToolOutput {
                text: format!(
                    "unknown tool {:?}; available: {}",
                    call.name,
                    internal.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
                ),
                is_error: true,
            },
        };
        if !output.is_error {
            self.tools_used.push(call.name.clone());
        }
        self.emit(EventKind::Tool {
            phase: ToolPhase::Result,
            call_id: call.id.clone(),
            name: call.name.clone(),
            args: None,
            result: Some(cap_chars(&output.text, TOOL_RESULT_MAX_CHARS)),
            is_error: output.is_error,
        })
        .await;
        output
    }

    async fn save_assistant(
        &self,
        text: &str,
        calls: &[ToolCall],
        usage: &Usage,
        stop: StopReason,
        error: Option<&str>,
    ) -> Result<(), Failure> {
        let origin = message::Origin {
            api: self.provider.as_deref().map(api_name).unwrap_or("none"),
            provider: self.provider.as_deref().unwrap_or("none"),
            model: self.model.as_deref().unwrap_or("none"),
        };
        let payload = message::assistant_json(text, calls, &origin, usage, stop, error, crate::clock::now_ms());
        let key = self.key();
        self.shared
            .store
            .append(&key, vec![Append { message: payload, run_id: Some(self.req.run_id.clone()) }])
            .await
            .map(|_| ())
            .map_err(|e| Failure::Internal(format!("cannot write the transcript of {key}: {e}")))
    }

    /// The conversation before this run's input (lines numbered from `input_seq` on), read from
    /// the transcript's end. The input itself comes from memory, so it is never crowded out of
    /// the bounded read.
    async fn load_history(&self, key: &SessionKey, input_seq: u64) -> Result<Vec<Message>, Failure> {
        let tail = self
            .shared
            .store
            .read_tail(key, HISTORY_MAX_LINES, HISTORY_MAX_BYTES)
            .await
            .map_err(|e| Failure::Internal(format!("cannot read the transcript of {key}: {e}")))?;
        // Lines without `seq` (transcripts written by other OpenClaw builds) count as earlier.
        let earlier = |e: &&serde_json::Value| e["type"] == "message" && e["seq"].as_u64().is_none_or(|s| s < input_seq);
        Ok(tail
            .map(|(_, t)| t.entries.iter().filter(earlier).filter_map(|e| message::from_json(&e["message"])).collect())
            .unwrap_or_default())
    }
}

fn api_name(provider: &str) -> &'static str {
    if provider == providers::OFFLINE_PROVIDER { "offline" } else { "model" }
}
