//! One run, start to finish: open the session, record the new message, load a bounded window of
//! history, build the prompt, then call the model — retrying transient failures, falling back to
//! the next model when one fails before answering — and run the tools it asks for, until it
//! answers without tool calls. Every step is saved to the transcript as it completes; an abort
//! saves the partial answer marked `aborted`.
//!
//! Streamed text is passed on in small batches (at most one event per
//! [`DELTA_FLUSH_INTERVAL`]) so a fast model does not flood slow clients, while the first words
//! go out at once.

mod plan;

use smol::Timer;
use smol::future::FutureExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::message::{self, Message, StopReason, ToolCall, Usage};
use super::providers::{self, ErrorKind, ModelRequest, ModelStream, ProviderError, ResolvedModel, StreamEvent, ToolSpec};
use super::runner::Live;
use super::store::{Append, SessionEntry};
use super::tools::{self, Tool, ToolEnv, ToolOutput};
use super::{
    Abort, AbortHandle, AbortReason, EventKind, Notice, Origin, Outcome, RunError, RunEvent, RunRequest, RunStatus, SessionKey, Shared,
    ToolPhase, prompt,
};
use crate::config::Config;
use crate::limits::SESSION_INDEX_FLUSH_DELAY;
use crate::limits::{
    AGENT_MAX_TOOL_STEPS, DELTA_FLUSH_INTERVAL, HISTORY_MAX_BYTES, HISTORY_MAX_LINES, OBSERVER_GRACE, RUN_INPUT_MAX_CHARS,
    RUN_TEXT_MAX_BYTES, TOOL_RESULT_MAX_CHARS,
};
use plan::{cap_chars, fit_history, model_chain, retry_delay};

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

    async fn body(&mut self) -> Result<Done, Failure> {
        let cfg = self.req.config.clone();
        let key = self.key();
        let store = self.shared.store.clone();
        let chat = self.req.origin == Origin::Chat;
        let workspace = self.shared.workspace_for(&cfg, &key.agent_id);
        if chat {
            self.emit(EventKind::Status("preparing_workspace")).await;
        }
        let ws = workspace.clone();
        smol::unblock(move || std::fs::create_dir_all(&ws))
            .await
            .map_err(|e| Failure::Internal(format!("cannot create the workspace {}: {e}", workspace.display())))?;
        let input_chars: usize = self.req.input.iter().map(Message::text_chars).sum();
        if input_chars > RUN_INPUT_MAX_CHARS {
            let message = format!(
                "the message is {input_chars} characters; the limit is {RUN_INPUT_MAX_CHARS}. Send it in parts or as a file in the workspace"
            );
            return Err(Failure::Provider(ProviderError::new(ErrorKind::BadRequest, message), None));
        }
        let (entry, created) = store
            .ensure(&key, &workspace, &cfg.session.maintenance)
            .await
            .map_err(|e| Failure::Internal(format!("cannot open session {key}: {e}")))?;
        self.session_id = entry.session_id.clone();
        if created {
            self.notify_session("created", Some(entry.clone())).await;
        }
        let run_id = self.req.run_id.clone();
        let now = crate::clock::now_ms();
        let preview = self.req.input.iter().rev().find_map(|m| match m {
            Message::User { text } => Some(text.clone()),
            _ => None,
        });
        // Written in the background at once (the crash marker), but not waited for: the model
        // call should not queue behind an index write. The transcript gets the input below.
        let entry = store
            .update_soon(&key, std::time::Duration::ZERO, |e| {
                e.status = Some("running".into());
                e.last_run_id = Some(run_id.clone());
                e.last_run_error = None;
                e.updated_at = now;
                e.last_interaction_at = Some(now);
                if let Some(p) = &preview {
                    e.set_preview(p);
                }
            })
            .await
            .map_err(|e| Failure::Internal(format!("cannot update session {key}: {e}")))?
            .unwrap_or(entry);
        self.notify_session("activity", Some(entry.clone())).await;
        if chat {
            self.emit(EventKind::Status("preparing_context")).await;
        }

        let mut input = std::mem::take(&mut self.req.input);
        // System events queued for this session ride along with its next user message.
        if let Some(Message::User { text }) = input.iter_mut().find(|m| matches!(m, Message::User { .. })) {
            let events = self.shared.take_system_events(&key);
            if !events.is_empty() {
                let lines: Vec<String> = events.iter().map(|e| format!("System event: {e}")).collect();
                *text = format!("{}\n\n{text}", lines.join("\n"));
            }
        }
        let mut first_input_seq = u64::MAX;
        if !input.is_empty() {
            let ts = crate::clock::now_ms();
            let items = input.iter().map(|m| Append { message: message::to_transcript(m, ts), run_id: Some(run_id.clone()) }).collect();
            let placed = store
                .append_unsynced(&key, items)
                .await
                .map_err(|e| Failure::Internal(format!("cannot write the transcript of {key}: {e}")))?;
            first_input_seq = placed.first().map_or(u64::MAX, |p| p.seq);
        }

        let client_names: Vec<String> = self.req.client_tools.iter().map(|t| t.name.clone()).collect();
        let internal: Vec<Tool> = tools::offered(&cfg.tools).into_iter().filter(|t| !client_names.iter().any(|n| n == t.name())).collect();
        let mut specs: Vec<ToolSpec> = internal.iter().map(|t| t.spec()).collect();
        specs.extend(self.req.client_tools.iter().cloned());
        let tool_env = ToolEnv {
            workspace: workspace.clone(),
            exec_security: cfg.tools.exec_security,
            safe_bins: cfg.tools.exec_safe_bins.clone(),
            exec_timeout: cfg.tools.exec_timeout,
            timezone: cfg.agents.defaults.user_timezone.clone(),
        };

        let chain = model_chain(&cfg, &self.req, &entry);
        let agent_name = cfg.agents.entry(&key.agent_id).and_then(|e| e.identity.name.clone().or(e.name.clone()));
        let system = prompt::build(&prompt::PromptInputs {
            agent_id: &key.agent_id,
            agent_name: agent_name.as_deref(),
            workspace: &workspace,
            model: cfg.agents.expand_alias(&chain[0]),
            tools: &specs,
            per_file_max: cfg.agents.defaults.bootstrap_max_chars,
            total_max: cfg.agents.defaults.bootstrap_total_max_chars,
            timezone: cfg.agents.defaults.user_timezone.as_deref(),
            channel: self.req.channel.as_deref().unwrap_or(self.req.origin.channel_name()),
            extra: self.req.extra_system.as_deref(),
        });
        let context_window =
            providers::resolve(&cfg, &chain[0]).map(|m| m.context_window).unwrap_or(crate::limits::MODEL_DEFAULT_CONTEXT_WINDOW);
        let mut history = match self.req.history.take() {
            Some(mut h) => {
                h.extend(input);
                fit_history(h, context_window, system.len())
            }
            None => {
                let mut h = self.load_history(&key, first_input_seq).await?;
                h.extend(input);
                fit_history(h, context_window, system.len())
            }
        };

        self.started_at = crate::clock::now_ms();
        *self.live.started_at.lock().unwrap_or_else(|e| e.into_inner()) = self.started_at;
        self.emit(EventKind::Start { started_at: self.started_at }).await;
        if chat {
            self.emit(EventKind::Status("starting_model")).await;
        }

        let mut model_idx = 0;
        let mut steps = 0;
        loop {
            steps += 1;
            if steps > 1 {
                // Tool results add up over the rounds: keep within the context.
                history = fit_history(history, context_window, system.len());
            }
            let out = self.call_model(&cfg, &chain, &mut model_idx, &system, &history, &specs).await?;
            let stop = out.stop.unwrap_or(StopReason::Stop);
            self.save_assistant(&out.text, &out.calls, &out.usage, stop, None).await?;
            history.push(Message::Assistant { text: out.text.clone(), tool_calls: out.calls.clone() });
            if out.calls.is_empty() {
                return Ok(Done { stop, client_calls: Vec::new() });
            }
            let mut client_calls = Vec::new();
            for call in out.calls {
                if client_names.contains(&call.name) {
                    client_calls.push(call);
                    continue;
                }
                let result = self.run_tool(&call, &internal, &tool_env).await;
                let aborted = self.abort.reason();
                let text = cap_chars(&result.text, TOOL_RESULT_MAX_CHARS);
                let ts = crate::clock::now_ms();
                store
                    .append_unsynced(
                        &key,
                        vec![Append {
                            message: message::tool_result_json(&call.id, &call.name, &text, result.is_error, ts),
                            run_id: Some(run_id.clone()),
                        }],
                    )
                    .await
                    .map_err(|e| Failure::Internal(format!("cannot write the transcript of {key}: {e}")))?;
                history.push(Message::ToolResult { call_id: call.id.clone(), name: call.name.clone(), text, is_error: result.is_error });
                if let Some(reason) = aborted {
                    return Err(Failure::Aborted(reason, None));
                }
            }
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

    /// One model turn on the chain's current model, with retries, falling back along the
    /// chain when a model fails before it said anything.
    async fn call_model(
        &mut self,
        cfg: &Config,
        chain: &[String],
        idx: &mut usize,
        system: &str,
        history: &[Message],
        specs: &[ToolSpec],
    ) -> Result<StepOut, Failure> {
        let req = ModelRequest { system, messages: history, tools: specs };
        loop {
            let reference = chain[*idx].clone();
            let model = match providers::resolve(cfg, &reference) {
                Ok(m) => m,
                Err(e) => {
                    if self.next_model(chain, idx, &reference, &e).await {
                        continue;
                    }
                    return Err(Failure::Provider(e, None));
                }
            };
            if self.model.as_deref() != Some(model.model.as_str()) || self.provider.as_deref() != Some(model.provider.as_str()) {
                self.provider = Some(model.provider.clone());
                self.model = Some(model.model.clone());
                self.emit(EventKind::Model { provider: model.provider.clone(), model: model.model.clone() }).await;
            }
            let mut attempt = 0;
            let error = loop {
                attempt += 1;
                let result = self.attempt(&model, &req).await;
                let (e, partial) = match result {
                    Ok(out) => return Ok(out),
                    Err(StepErr::Aborted(reason, partial)) => return Err(Failure::Aborted(reason, Some(partial))),
                    Err(StepErr::Provider(e, true, partial)) => return Err(Failure::Provider(e, Some(partial))),
                    Err(StepErr::Provider(e, false, partial)) => (e, partial),
                };
                drop(partial);
                let Some(delay) = retry_delay(&e, attempt) else { break e };
                log::warn!(target: "agent", "run {}: {} failed ({}); retry {attempt} in {} ms", self.req.run_id, model.reference(), e.message, delay.as_millis());
                let abort = self.abort.clone();
                let interrupted = async { Some(abort.wait().await) }.or(async {
                    Timer::after(delay).await;
                    None
                });
                if let Some(reason) = interrupted.await {
                    return Err(Failure::Aborted(reason, None));
                }
            };
            log::warn!(target: "agent", "run {}: {} failed: {}", self.req.run_id, model.reference(), error.message);
            if !self.next_model(chain, idx, &reference, &error).await {
                return Err(Failure::Provider(error, None));
            }
        }
    }

    /// Moves to the next model in the chain, if there is one, and says so.
    async fn next_model(&mut self, chain: &[String], idx: &mut usize, from: &str, err: &ProviderError) -> bool {
        if *idx + 1 >= chain.len() {
            return false;
        }
        *idx += 1;
        self.emit(EventKind::Fallback {
            from: from.to_string(),
            to: chain[*idx].clone(),
            reason: err.kind.failover_reason(),
            detail: err.message.clone(),
        })
        .await;
        true
    }

    /// One call: open the stream and pass its text on as it comes.
    async fn attempt(&mut self, model: &ResolvedModel, req: &ModelRequest<'_>) -> Result<StepOut, StepErr> {
        // `or` polls its left side first: a stream that is always ready would never see the abort.
        if let Some(reason) = self.abort.reason() {
            return Err(StepErr::Aborted(reason, StepOut::default()));
        }
        let abort = self.abort.clone();
        let opened = async { Ok(ModelStream::open(model, req).await) }.or(async { Err(abort.wait().await) }).await;
        let mut stream = match opened {
            Err(reason) => return Err(StepErr::Aborted(reason, StepOut::default())),
            Ok(Err(e)) => return Err(StepErr::Provider(e, false, StepOut::default())),
            Ok(Ok(s)) => s,
        };
        let mut out = StepOut::default();
        let mut streamed = false;
        loop {
            enum Next {
                Item(Result<Option<StreamEvent>, ProviderError>),
                Abort(AbortReason),
                Flush,
            }
            let flush_at =
                (!self.pending.is_empty()).then(|| self.last_flush.map(|t| t + DELTA_FLUSH_INTERVAL).unwrap_or_else(Instant::now));
            let abort = self.abort.clone();
            // The abort first: a stream that is always ready must not hide it.
            let next = async { Next::Abort(abort.wait().await) }
                .or(async { Next::Item(stream.next().await) })
                .or(async {
                    match flush_at {
                        Some(t) => {
                            Timer::at(t).await;
                            Next::Flush
                        }
                        None => std::future::pending().await,
                    }
                })
                .await;
            match next {
                Next::Flush => self.flush().await,
                Next::Abort(reason) => {
                    self.flush().await;
                    return Err(StepErr::Aborted(reason, out));
                }
                Next::Item(Ok(Some(StreamEvent::Text(t)))) => {
                    if out.text.is_empty() && !self.run_text.is_empty() {
                        // A new turn after tool calls: keep its text apart from the last one.
                        self.run_text.push_str("\n\n");
                        self.pending.push_str("\n\n");
                    }
                    if self.run_text.len() + t.len() > RUN_TEXT_MAX_BYTES {
                        self.flush().await;
                        self.usage.add(&out.usage);
                        let e = ProviderError::new(ErrorKind::Protocol, format!("the answer passed {RUN_TEXT_MAX_BYTES} bytes; stopped"));
                        return Err(StepErr::Provider(e, true, out));
                    }
                    out.text.push_str(&t);
                    self.run_text.push_str(&t);
                    self.pending.push_str(&t);
                    streamed = true;
                    if self.last_flush.is_none_or(|last| last.elapsed() >= DELTA_FLUSH_INTERVAL) {
                        self.flush().await;
                    }
                }
                Next::Item(Ok(Some(StreamEvent::ToolCall(c)))) => {
                    self.flush().await;
                    if let Err(e) = providers::check_call_count(model, out.calls.len()) {
                        self.usage.add(&out.usage);
                        return Err(StepErr::Provider(e, true, out));
                    }
                    out.calls.push(c);
                    streamed = true;
                }
                Next::Item(Ok(Some(StreamEvent::Usage(u)))) => out.usage.add(&u),
                Next::Item(Ok(Some(StreamEvent::Stop(reason)))) => out.stop = Some(reason),
                Next::Item(Ok(None)) => {
                    self.flush().await;
                    self.usage.add(&out.usage);
                    return Ok(out);
                }
                Next::Item(Err(e)) => {
                    self.flush().await;
                    self.usage.add(&out.usage);
                    return Err(StepErr::Provider(e, streamed, out));
                }
            }
        }
    }

    /// Passes the pending text on.
    async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let delta = std::mem::take(&mut self.pending);
        self.last_flush = Some(Instant::now());
        self.live.text.lock().unwrap_or_else(|e| e.into_inner()).clone_from(&self.run_text);
        self.emit(EventKind::Assistant { text: self.run_text.clone(), delta }).await;
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

    /// Records how the run ended (transcript, session index, events) and builds the outcome.
    async fn finish(&mut self, result: Result<Done, Failure>) -> Arc<Outcome> {
        let (status, stop, client_calls, error) = match result {
            Ok(done) => (RunStatus::Ok, done.stop, done.client_calls, None),
            Err(Failure::Aborted(AbortReason::Timeout, partial)) => {
                let message = format!("the run timed out after {} s", self.timeout.map(|t| t.as_secs()).unwrap_or(0));
                self.save_partial(partial, StopReason::Error, Some(&message)).await;
                (RunStatus::Error, StopReason::Error, Vec::new(), Some(RunError { kind: ErrorKind::Timeout, message, status: None }))
            }
            Err(Failure::Aborted(_, partial)) => {
                self.save_partial(partial, StopReason::Aborted, None).await;
                (RunStatus::Aborted, StopReason::Aborted, Vec::new(), None)
            }
            Err(Failure::Provider(e, partial)) => {
                self.save_partial(partial, StopReason::Error, Some(&e.message)).await;
                (RunStatus::Error, StopReason::Error, Vec::new(), Some(RunError { kind: e.kind, message: e.message, status: e.status }))
            }
            Err(Failure::Internal(message)) => {
                log::error!(target: "agent", "run {} failed: {message}", self.req.run_id);
                (RunStatus::Error, StopReason::Error, Vec::new(), Some(RunError { kind: ErrorKind::Config, message, status: None }))
            }
        };
        self.flush().await;
        let ended_at = crate::clock::now_ms();
        if self.usage.total() > 0 {
            self.emit(EventKind::Usage(self.usage)).await;
        }
        let outcome = Arc::new(Outcome {
            run_id: self.req.run_id.clone(),
            key: self.key(),
            session_id: self.session_id.clone(),
            status,
            text: self.run_text.clone(),
            client_tool_calls: client_calls,
            stop_reason: stop,
            error: error.clone(),
            usage: self.usage,
            provider: self.provider.clone(),
            model: self.model.clone(),
            started_at: self.started_at,
            ended_at,
            tools_used: std::mem::take(&mut self.tools_used),
        });
        if !self.session_id.is_empty() {
            let (usage, provider, model, text) = (self.usage, self.provider.clone(), self.model.clone(), self.run_text.clone());
            // The transcript already holds the answer; the index's bookkeeping may follow a
            // moment later, batched with other runs' (see `update_soon`).
            let updated = self
                .shared
                .store
                .update_soon(&self.key(), SESSION_INDEX_FLUSH_DELAY, |e| {
                    e.status = Some(
                        match status {
                            RunStatus::Ok => "done",
                            RunStatus::Aborted => "aborted",
                            RunStatus::Error => "failed",
                        }
                        .into(),
                    );
                    e.last_run_error = error.as_ref().map(|err| err.message.clone());
                    let input = usage.input.saturating_add(usage.cache_read).saturating_add(usage.cache_write);
                    e.input_tokens = e.input_tokens.saturating_add(input);
                    e.output_tokens = e.output_tokens.saturating_add(usage.output);
                    e.total_tokens = e.total_tokens.saturating_add(usage.total());
                    e.updated_at = ended_at;
                    if provider.is_some() {
                        e.model_provider = provider;
                        e.model = model;
                    }
                    if !text.is_empty() {
                        e.set_preview(&text);
                    }
                })
                .await;
            match updated {
                Ok(entry) => self.notify_session("activity", entry).await,
                Err(e) => log::error!(target: "agent", "run {}: cannot update the session index: {e}", self.req.run_id),
            }
        }
        self.emit(EventKind::End(outcome.clone())).await;
        log::info!(
            target: "agent",
            "run {} {} in {} ms ({} in, {} out tokens){}",
            outcome.run_id,
            match status {
                RunStatus::Ok => "done",
                RunStatus::Aborted => "aborted",
                RunStatus::Error => "failed",
            },
            ended_at.saturating_sub(self.started_at),
            self.usage.input,
            self.usage.output,
            error.map(|e| format!(": {}", e.message)).unwrap_or_default()
        );
        outcome
    }

    /// Saves what an interrupted turn had produced.
    async fn save_partial(&self, partial: Option<StepOut>, stop: StopReason, error: Option<&str>) {
        let out = partial.unwrap_or_default();
        if self.session_id.is_empty() || (out.text.is_empty() && out.calls.is_empty() && error.is_none()) {
            return;
        }
        // Tool calls of an unfinished turn never ran; keep only the text.
        if let Err(Failure::Internal(e)) = self.save_assistant(&out.text, &[], &out.usage, stop, error).await {
            log::error!(target: "agent", "run {}: {e}", self.req.run_id);
        }
    }
}

fn api_name(provider: &str) -> &'static str {
    if provider == providers::OFFLINE_PROVIDER { "offline" } else { "model" }
}
