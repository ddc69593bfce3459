//! A model turn: calling the chain's models (retries, fallbacks) and passing the streamed
//! answer on in batches.

use smol::Timer;
use smol::future::FutureExt;
use std::time::Instant;

use super::plan::retry_delay;
use super::{Failure, Run, StepErr, StepOut};
use crate::agent::AbortReason;
use crate::agent::EventKind;
use crate::agent::message::Message;
use crate::agent::providers::{self, ErrorKind, ModelRequest, ModelStream, ProviderError, ResolvedModel, StreamEvent, ToolSpec};
use crate::config::Config;
use crate::limits::{DELTA_FLUSH_INTERVAL, RUN_TEXT_MAX_BYTES};

/// What ended a wait in a streamed turn.
enum Next {
    Item(Result<Option<StreamEvent>, ProviderError>),
    Abort(AbortReason),
    Flush,
}

impl Run {
    /// One model turn on the chain's current model, with retries, falling back along the
    /// chain when a model fails before it said anything.
    pub(super) async fn call_model(
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
        let mut stream = self.open(model, req).await?;
        let mut out = StepOut::default();
        let mut streamed = false;
        loop {
            match self.next_event(&mut stream).await {
                Next::Flush => self.flush().await,
                Next::Abort(reason) => {
                    self.flush().await;
                    return Err(StepErr::Aborted(reason, out));
                }
                Next::Item(Ok(Some(StreamEvent::Text(t)))) => {
                    if let Err(e) = self.take_text(&mut out, &t).await {
                        return Err(StepErr::Provider(e, true, out));
                    }
                    streamed = true;
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

    /// Opens the model stream, unless the run is aborted first.
    async fn open(&self, model: &ResolvedModel, req: &ModelRequest<'_>) -> Result<ModelStream, StepErr> {
        // `or` polls its left side first: a stream that is always ready would never see the abort.
        if let Some(reason) = self.abort.reason() {
            return Err(StepErr::Aborted(reason, StepOut::default()));
        }
        let abort = self.abort.clone();
        let opened = async { Ok(ModelStream::open(model, req).await) }.or(async { Err(abort.wait().await) }).await;
        match opened {
            Err(reason) => Err(StepErr::Aborted(reason, StepOut::default())),
            Ok(Err(e)) => Err(StepErr::Provider(e, false, StepOut::default())),
            Ok(Ok(s)) => Ok(s),
        }
    }

    /// Waits for whichever comes first: the abort, the stream's next item, or the time to pass
    /// pending text on.
    async fn next_event(&self, stream: &mut ModelStream) -> Next {
        let flush_at = (!self.pending.is_empty()).then(|| self.last_flush.map(|t| t + DELTA_FLUSH_INTERVAL).unwrap_or_else(Instant::now));
        let abort = self.abort.clone();
        // The abort first: a stream that is always ready must not hide it.
        async { Next::Abort(abort.wait().await) }
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
            .await
    }

    /// Adds streamed text to the turn and the run, passing it on once the flush interval has
    /// passed. Fails when the run's answer would pass its size bound.
    async fn take_text(&mut self, out: &mut StepOut, t: &str) -> Result<(), ProviderError> {
        if out.text.is_empty() && !self.run_text.is_empty() {
            // A new turn after tool calls: keep its text apart from the last one.
            self.run_text.push_str("\n\n");
            self.pending.push_str("\n\n");
        }
        if self.run_text.len() + t.len() > RUN_TEXT_MAX_BYTES {
            self.flush().await;
            self.usage.add(&out.usage);
            return Err(ProviderError::new(ErrorKind::Protocol, format!("the answer passed {RUN_TEXT_MAX_BYTES} bytes; stopped")));
        }
        out.text.push_str(t);
        self.run_text.push_str(t);
        self.pending.push_str(t);
        if self.last_flush.is_none_or(|last| last.elapsed() >= DELTA_FLUSH_INTERVAL) {
            self.flush().await;
        }
        Ok(())
    }

    /// Passes the pending text on.
    pub(super) async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let delta = std::mem::take(&mut self.pending);
        self.last_flush = Some(Instant::now());
        self.live.text.lock().unwrap_or_else(|e| e.into_inner()).clone_from(&self.run_text);
        self.emit(EventKind::Assistant { text: self.run_text.clone(), delta }).await;
    }
}
