//! The end of a run: what the failure (if any) means for the client, the transcript and the
//! session index, and the final events.

use std::sync::Arc;

use super::{Done, Failure, Run, StepOut};
use crate::agent::message::{StopReason, ToolCall};
use crate::agent::providers::ErrorKind;
use crate::agent::{AbortReason, EventKind, Outcome, RunError, RunStatus};
use crate::limits::SESSION_INDEX_FLUSH_DELAY;

/// How a run ended, as its outcome reports it.
struct Ending {
    status: RunStatus,
    stop: StopReason,
    client_calls: Vec<ToolCall>,
    error: Option<RunError>,
}

impl Run {
    /// Records how the run ended (transcript, session index, events) and builds the outcome.
    pub(super) async fn finish(&mut self, result: Result<Done, Failure>) -> Arc<Outcome> {
        let Ending { status, stop, client_calls, error } = self.ending(result).await;
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
            self.update_index(status, error.as_ref(), ended_at).await;
        }
        self.emit(EventKind::End(outcome.clone())).await;
        log::info!(
            target: "agent",
            "run {} {} in {} ms ({} in, {} out tokens){}",
            outcome.run_id,
            status_word(status),
            ended_at.saturating_sub(self.started_at),
            self.usage.input,
            self.usage.output,
            error.map(|e| format!(": {}", e.message)).unwrap_or_default()
        );
        outcome
    }

    /// What `result` means for the outcome; saves the partial answer of an interrupted turn.
    async fn ending(&mut self, result: Result<Done, Failure>) -> Ending {
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
        Ending { status, stop, client_calls, error }
    }

    /// Books the run into the session's index entry (status, tokens, model, preview).
    async fn update_index(&self, status: RunStatus, error: Option<&RunError>, ended_at: u64) {
        let (usage, provider, model, text) = (self.usage, self.provider.clone(), self.model.clone(), self.run_text.clone());
        // The transcript already holds the answer; the index's bookkeeping may follow a
        // moment later, batched with other runs' (see `update_soon`).
        let updated = self
            .shared
            .store
            .update_soon(&self.key(), SESSION_INDEX_FLUSH_DELAY, |e| {
                e.status = Some(status_word(status).into());
                e.last_run_error = error.map(|err| err.message.clone());
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

/// The word for a run's status in the session index and the log.
fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Ok => "done",
        RunStatus::Aborted => "aborted",
        RunStatus::Error => "failed",
    }
}
