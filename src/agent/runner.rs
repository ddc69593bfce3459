//! The run scheduler: one owner task holds every session's lane (its active run and the runs
//! queued behind it), the slots shared by all sessions, and the recent outcomes that answer
//! repeated idempotency keys and `agent.wait`. Everything else talks to it with [`Command`]s.
//!
//! A message arriving while its session is busy waits its turn (the official `followup` queue
//! mode); a full lane refuses new work instead of dropping old work.

use smol::channel::{self, Receiver, Sender};
use smol::future::FutureExt;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::message::{StopReason, Usage};
use super::{
    Abort, AbortHandle, AbortReason, ActiveRun, Admission, EventKind, Notice, Outcome, RunEvent, RunRequest, RunStatus, SessionKey, Shared,
};
use crate::error::Error;
use crate::limits::{
    AGENT_FINISHED_RUNS_KEPT, AGENT_FINISHED_RUNS_TTL, AGENT_LANE_FULL_RETRY_MS, AGENT_LANE_QUEUE_MAX, AGENT_SCHEDULER_QUEUE,
    AGENT_WAITERS_MAX,
};

/// What the run shares with the scheduler while it goes.
pub struct Live {
    pub text: Mutex<String>,
    pub started_at: Mutex<u64>,
}

/// A run waiting for its turn.
struct Job {
    req: RunRequest,
    live: Arc<Live>,
}

enum Phase {
    Queued,
    Running { abort: AbortHandle, live: Arc<Live> },
    Done(Arc<Outcome>),
}

struct RunState {
    key: String,
    phase: Phase,
    waiters: Vec<Sender<Arc<Outcome>>>,
}

#[derive(Default)]
struct Lane {
    active: Option<String>,
    queue: VecDeque<Job>,
    /// Queued jobs wait for a slot in `Scheduler::waiting`.
    waiting_for_slot: bool,
}

enum Command {
    Submit(Box<RunRequest>, Sender<Result<Admission, Error>>),
    Abort { key: String, run_id: Option<String>, reply: Sender<Vec<String>> },
    Wait { run_id: String, reply: Sender<Arc<Outcome>> },
    Active { key: String, reply: Sender<Vec<ActiveRun>> },
    Finished { run_id: String, outcome: Arc<Outcome> },
    Shutdown { reply: Sender<()> },
}

/// Handle to the scheduler task.
#[derive(Clone)]
pub struct Handle {
    tx: Sender<Command>,
}

impl Handle {
    pub fn start(shared: Arc<Shared>) -> Handle {
        let (tx, rx) = channel::bounded(AGENT_SCHEDULER_QUEUE);
        crate::rt::spawn(Scheduler::new(shared, tx.clone()).run(rx)).detach();
        Handle { tx }
    }

    pub async fn submit(&self, req: RunRequest) -> Result<Admission, Error> {
        let (reply, answer) = channel::bounded(1);
        // The scheduler ends only with the process: a closed channel means it is stopping.
        self.tx.send(Command::Submit(Box::new(req), reply)).await.map_err(|_| Error::ShuttingDown)?;
        answer.recv().await.map_err(|_| Error::ShuttingDown)?
    }

    pub async fn abort(&self, key: &SessionKey, run_id: Option<&str>) -> Vec<String> {
        let (reply, answer) = channel::bounded(1);
        let cmd = Command::Abort { key: key.to_string(), run_id: run_id.map(str::to_string), reply };
        if self.tx.send(cmd).await.is_err() {
            return Vec::new();
        }
        answer.recv().await.unwrap_or_default()
    }

    pub async fn wait(&self, run_id: &str, timeout: Duration) -> Option<Arc<Outcome>> {
        let (reply, answer) = channel::bounded(1);
        self.tx.send(Command::Wait { run_id: run_id.to_string(), reply }).await.ok()?;
        async { answer.recv().await.ok() }
            .or(async {
                smol::Timer::after(timeout).await;
                None
            })
            .await
    }

    pub async fn active(&self, key: &SessionKey) -> Vec<ActiveRun> {
        let (reply, answer) = channel::bounded(1);
        if self.tx.send(Command::Active { key: key.to_string(), reply }).await.is_err() {
            return Vec::new();
        }
        answer.recv().await.unwrap_or_default()
    }

    /// A round trip through the scheduler task: `true` when it answered within `limit`.
    pub async fn ping(&self, limit: Duration) -> bool {
        let (reply, answer) = channel::bounded(1);
        let asked = async { self.tx.send(Command::Active { key: String::new(), reply }).await.is_ok() && answer.recv().await.is_ok() };
        asked
            .or(async {
                smol::Timer::after(limit).await;
                false
            })
            .await
    }

    pub async fn shutdown(&self, budget: Duration) {
        let (reply, answer) = channel::bounded(1);
        if self.tx.send(Command::Shutdown { reply }).await.is_err() {
            return;
        }
        async {
            let _ = answer.recv().await;
        }
        .or(async {
            smol::Timer::after(budget).await;
        })
        .await;
    }
}

struct Scheduler {
    shared: Arc<Shared>,
    tx: Sender<Command>,
    lanes: HashMap<String, Lane>,
    runs: HashMap<String, RunState>,
    /// Finished run ids and when they finished, oldest first, for bounded retention.
    finished: VecDeque<(String, std::time::Instant)>,
    /// Session keys whose next job waits for a free slot, in arrival order.
    waiting: VecDeque<String>,
    running: usize,
    max_running: usize,
    /// Waiters for run ids not seen yet (`agent.wait` before the run was submitted).
    early_waiters: HashMap<String, Vec<Sender<Arc<Outcome>>>>,
    stopping: Option<Sender<()>>,
}

impl Scheduler {
    fn new(shared: Arc<Shared>, tx: Sender<Command>) -> Scheduler {
        Scheduler {
            shared,
            tx,
            lanes: HashMap::new(),
            runs: HashMap::new(),
            finished: VecDeque::new(),
            waiting: VecDeque::new(),
            running: 0,
            max_running: 1,
            early_waiters: HashMap::new(),
            stopping: None,
        }
    }

    async fn run(mut self, rx: Receiver<Command>) {
        while let Ok(cmd) = rx.recv().await {
            match cmd {
                Command::Submit(req, reply) => {
                    let result = self.submit(*req).await;
                    let _ = reply.try_send(result);
                }
                Command::Abort { key, run_id, reply } => {
                    let ids = self.abort(&key, run_id.as_deref()).await;
                    let _ = reply.try_send(ids);
                }
                Command::Wait { run_id, reply } => self.wait(run_id, reply),
                Command::Active { key, reply } => {
                    let _ = reply.try_send(self.active(&key));
                }
                Command::Finished { run_id, outcome } => self.finished(run_id, outcome).await,
                Command::Shutdown { reply } => {
                    let keys: Vec<String> = self.lanes.keys().cloned().collect();
                    for key in keys {
                        self.abort_with(&key, None, AbortReason::Shutdown).await;
                    }
                    if self.running == 0 {
                        self.flush_and_reply(reply).await;
                    } else {
                        self.stopping = Some(reply);
                    }
                }
            }
        }
    }

    async fn submit(&mut self, req: RunRequest) -> Result<Admission, Error> {
        if self.stopping.is_some() {
            return Err(Error::ShuttingDown);
        }
        if let Some(state) = self.runs.get(&req.run_id) {
            return Ok(match &state.phase {
                Phase::Done(o) => Admission::Done(o.clone()),
                _ => Admission::InFlight,
            });
        }
        self.max_running = req.config.agents.defaults.max_concurrent.max(1);
        let key = req.key.to_string();
        if !self.lanes.contains_key(&key) {
            self.shared.store.set_busy(&key, true);
        }
        let lane = self.lanes.entry(key.clone()).or_default();
        if lane.queue.len() >= AGENT_LANE_QUEUE_MAX {
            return Err(Error::busy(
                format!("session {key} already has {AGENT_LANE_QUEUE_MAX} messages waiting; wait for them or abort with chat.abort"),
                AGENT_LANE_FULL_RETRY_MS,
            ));
        }
        let run_id = req.run_id.clone();
        let live = Arc::new(Live { text: Mutex::new(String::new()), started_at: Mutex::new(0) });
        lane.queue.push_back(Job { req, live });
        let waiters = self.early_waiters.remove(&run_id).unwrap_or_default();
        self.runs.insert(run_id.clone(), RunState { key: key.clone(), phase: Phase::Queued, waiters });
        self.pump(&key);
        Ok(match self.runs.get(&run_id).map(|s| &s.phase) {
            Some(Phase::Running { .. }) => Admission::Started,
            _ => Admission::Queued,
        })
    }

    /// Starts the lane's next job if the lane is idle and a slot is free; otherwise puts the lane
    /// in line for a slot.
    fn pump(&mut self, key: &str) {
        let Some(lane) = self.lanes.get_mut(key) else { return };
        if lane.active.is_some() || lane.queue.is_empty() {
            return;
        }
        if self.running >= self.max_running {
            self.wait_for_slot(key);
            return;
        }
        let Some(job) = lane.queue.pop_front() else { return };
        lane.active = Some(job.req.run_id.clone());
        self.running += 1;
        // The scheduler keeps the handle while the run goes (see `abort_with`).
        let (abort, handle) = Abort::new();
        let Job { req, live } = job;
        let run_id = req.run_id.clone();
        if let Some(state) = self.runs.get_mut(&run_id) {
            state.phase = Phase::Running { abort: handle.clone(), live: live.clone() };
        }
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        crate::rt::spawn(async move {
            let outcome = super::run::execute(shared, req, abort, handle, live).await;
            let _ = tx.send(Command::Finished { run_id, outcome }).await;
        })
        .detach();
    }

    /// Puts an idle lane with queued work at the back of the line for a slot.
    fn wait_for_slot(&mut self, key: &str) {
        let Some(lane) = self.lanes.get_mut(key) else { return };
        if !lane.waiting_for_slot && lane.active.is_none() && !lane.queue.is_empty() {
            lane.waiting_for_slot = true;
            self.waiting.push_back(key.to_string());
        }
    }

    /// Starts waiting lanes while slots are free.
    fn fill_slots(&mut self) {
        while self.running < self.max_running {
            let Some(key) = self.waiting.pop_front() else { break };
            if let Some(lane) = self.lanes.get_mut(&key) {
                lane.waiting_for_slot = false;
            }
            self.pump(&key);
            // Its queue may have been emptied by an abort while it waited.
            self.drop_if_idle(&key);
        }
    }

    /// Forgets a lane with nothing running, queued or waiting.
    fn drop_if_idle(&mut self, key: &str) {
        if let Some(lane) = self.lanes.get(key) {
            if lane.active.is_none() && lane.queue.is_empty() && !lane.waiting_for_slot {
                self.lanes.remove(key);
                self.shared.store.set_busy(key, false);
            }
        }
    }

    async fn finished(&mut self, run_id: String, outcome: Arc<Outcome>) {
        self.running = self.running.saturating_sub(1);
        let key = outcome.key.to_string();
        self.complete(&run_id, outcome);
        if let Some(lane) = self.lanes.get_mut(&key) {
            if lane.active.as_deref() == Some(run_id.as_str()) {
                lane.active = None;
            }
        }
        // Fair turns: a session with more queued work goes behind the sessions already waiting
        // for a slot, so one busy chat cannot keep the others out.
        if self.waiting.is_empty() {
            self.pump(&key);
        } else {
            self.wait_for_slot(&key);
        }
        self.fill_slots();
        self.drop_if_idle(&key);
        if self.running == 0 {
            if let Some(reply) = self.stopping.take() {
                self.flush_and_reply(reply).await;
            }
        }
    }

    /// At shutdown: writes the delayed index changes, then reports done.
    async fn flush_and_reply(&self, reply: Sender<()>) {
        if let Err(e) = self.shared.store.flush().await {
            log::error!(target: "agent", "cannot write the session index at shutdown: {e}");
        }
        let _ = reply.try_send(());
    }

    /// Records an outcome, answers its waiters and trims old outcomes. The run is no longer
    /// owed, so it leaves the inbox.
    fn complete(&mut self, run_id: &str, outcome: Arc<Outcome>) {
        self.shared.inbox.finish(run_id);
        self.settle(run_id, outcome);
    }

    /// [`Scheduler::complete`] without leaving the inbox (a queued run stopped by a shutdown is
    /// still owed: it runs after the next start).
    fn settle(&mut self, run_id: &str, outcome: Arc<Outcome>) {
        if let Some(state) = self.runs.get_mut(run_id) {
            for w in state.waiters.drain(..) {
                let _ = w.try_send(outcome.clone());
            }
            state.phase = Phase::Done(outcome);
        }
        let now = std::time::Instant::now();
        self.finished.push_back((run_id.to_string(), now));
        // Outcomes hold the answer text, so they are kept only for a while and only so many.
        while let Some((old, at)) = self.finished.front() {
            if self.finished.len() <= AGENT_FINISHED_RUNS_KEPT && now.duration_since(*at) < AGENT_FINISHED_RUNS_TTL {
                break;
            }
            self.runs.remove(old);
            self.finished.pop_front();
        }
    }

    async fn abort(&mut self, key: &str, run_id: Option<&str>) -> Vec<String> {
        self.abort_with(key, run_id, AbortReason::Requested).await
    }

    /// Queued jobs are dropped (reported as aborted) first, then the active run is signalled;
    /// it reports its own end once it has saved its partial answer.
    async fn abort_with(&mut self, key: &str, run_id: Option<&str>, reason: AbortReason) -> Vec<String> {
        let mut ids = Vec::new();
        let mut dropped = Vec::new();
        if let Some(lane) = self.lanes.get_mut(key) {
            let (drop_now, keep): (Vec<Job>, Vec<Job>) = lane.queue.drain(..).partition(|j| run_id.is_none_or(|id| id == j.req.run_id));
            lane.queue = keep.into();
            dropped = drop_now;
            if let Some(active) = lane.active.clone() {
                if run_id.is_none_or(|id| id == active) {
                    if let Some(RunState { phase: Phase::Running { abort, .. }, .. }) = self.runs.get(&active) {
                        abort.abort(reason);
                        ids.push(active);
                    }
                }
            }
        }
        for job in dropped {
            let outcome = Arc::new(never_started(&job));
            ids.push(job.req.run_id.clone());
            let event = RunEvent {
                run_id: job.req.run_id.clone(),
                key: job.req.key.clone(),
                session_id: String::new(),
                seq: 1,
                ts: outcome.ended_at,
                kind: EventKind::End(outcome.clone()),
            };
            self.shared.notify(Notice::Run(Arc::new(event))).await;
            if reason == AbortReason::Shutdown {
                self.settle(&job.req.run_id, outcome);
            } else {
                self.complete(&job.req.run_id, outcome);
            }
        }
        ids
    }

    fn wait(&mut self, run_id: String, reply: Sender<Arc<Outcome>>) {
        match self.runs.get_mut(&run_id) {
            Some(RunState { phase: Phase::Done(o), .. }) => {
                let _ = reply.try_send(o.clone());
            }
            Some(state) => add_waiter(&mut state.waiters, reply),
            None => {
                // The run may not have been submitted yet; drop waiters that gave up.
                if self.early_waiters.len() >= AGENT_WAITERS_MAX {
                    self.early_waiters.retain(|_, ws| {
                        ws.retain(|w| !w.is_closed());
                        !ws.is_empty()
                    });
                }
                if self.early_waiters.len() < AGENT_WAITERS_MAX {
                    add_waiter(self.early_waiters.entry(run_id).or_default(), reply);
                }
            }
        }
    }

    fn active(&self, key: &str) -> Vec<ActiveRun> {
        self.runs
            .iter()
            .filter(|(_, s)| s.key == key)
            .filter_map(|(id, s)| match &s.phase {
                Phase::Running { live, .. } => Some(ActiveRun {
                    run_id: id.clone(),
                    text: live.text.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                    started_at: *live.started_at.lock().unwrap_or_else(|e| e.into_inner()),
                }),
                _ => None,
            })
            .collect()
    }
}

/// The outcome of a queued job that was aborted before it started.
fn never_started(job: &Job) -> Outcome {
    let now = crate::clock::now_ms();
    Outcome {
        run_id: job.req.run_id.clone(),
        key: job.req.key.clone(),
        session_id: String::new(),
        status: RunStatus::Aborted,
        text: String::new(),
        client_tool_calls: Vec::new(),
        stop_reason: StopReason::Aborted,
        error: None,
        usage: Usage::default(),
        provider: None,
        model: None,
        started_at: now,
        ended_at: now,
        tools_used: Vec::new(),
    }
}

/// Adds a waiter for one run, first dropping waiters that gave up. Past the cap the new one is
/// not kept, and its caller sees its own timeout.
fn add_waiter(list: &mut Vec<Sender<Arc<Outcome>>>, reply: Sender<Arc<Outcome>>) {
    if list.len() >= AGENT_WAITERS_MAX {
        list.retain(|w| !w.is_closed());
    }
    if list.len() < AGENT_WAITERS_MAX {
        list.push(reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_that_gave_up_make_room_and_the_list_never_passes_its_cap() {
        let mut list = Vec::new();
        for _ in 0..AGENT_WAITERS_MAX {
            let (tx, rx) = smol::channel::bounded(1);
            drop(rx);
            add_waiter(&mut list, tx);
        }
        assert_eq!(list.len(), AGENT_WAITERS_MAX);
        let mut kept = Vec::new();
        let (tx, rx) = smol::channel::bounded(1);
        kept.push(rx);
        add_waiter(&mut list, tx);
        assert_eq!(list.len(), 1, "the closed ones were dropped");
        for _ in 0..AGENT_WAITERS_MAX + 10 {
            let (tx, rx) = smol::channel::bounded(1);
            kept.push(rx);
            add_waiter(&mut list, tx);
        }
        assert_eq!(list.len(), AGENT_WAITERS_MAX, "live waiters past the cap are not kept");
    }
}
