//! The event hub: one task owns the registry of connected clients and fans events out to them.
//! Everything else talks to it through [`Hub`] commands over a bounded channel.
//!
//! Each client has an [`Outbox`] bounded in bytes (`policy.maxBufferedBytes`), and all outboxes
//! together share one budget ([`crate::limits::WS_TOTAL_BUFFERED_BYTES`]). The hub never waits
//! for a client: when an event does not fit a client's budget, that client is dropped; when it
//! does not fit the shared one, the clients with the most queued are dropped first (close 1008
//! "slow consumer", as the official gateway closes a slow client). Stalled readers therefore
//! cost at most the shared budget, and never slow the others.

use serde::Serialize;
use smol::channel::{self, Receiver, Sender};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use super::auth::{Scope, Scopes};
use crate::limits::WS_QUEUE_ITEM_OVERHEAD;
use crate::limits::{HUB_OUTBOX_KEEP, HUB_QUEUE};

/// `stateVersion` of presence and health events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StateVersion {
    pub presence: u64,
    pub health: u64,
}

pub type ConnId = u64;

/// An event ready to deliver; the payload is serialised once for every recipient.
#[derive(Debug)]
pub struct Event {
    pub name: String,
    pub payload: String,
    pub state_version: Option<StateVersion>,
    /// Scope a connection needs to receive it (`None`: every connection).
    pub scope: Option<Scope>,
    /// Client capability (`connect.caps`) a connection needs to receive it.
    pub cap: Option<&'static str>,
}

impl Event {
    /// An event with `payload` serialized once, here (a typed payload or a `Value`).
    pub fn new(name: &str, payload: &impl serde::Serialize) -> Event {
        // Only a map with non-string keys fails to serialize, and no payload has one; the empty
        // object keeps the frame valid should one ever appear.
        let payload = serde_json::to_string(payload).unwrap_or_else(|e| {
            log::error!(target: "gateway", "cannot serialize the {name} event: {e}");
            "{}".to_string()
        });
        Event { name: name.to_string(), payload, state_version: None, scope: None, cap: None }
    }

    pub fn scoped(mut self, scope: Scope) -> Event {
        self.scope = Some(scope);
        self
    }

    pub fn versioned(mut self, sv: StateVersion) -> Event {
        self.state_version = Some(sv);
        self
    }
}

/// One item in a client's outbound queue.
#[derive(Debug)]
pub enum Outbound {
    /// A complete frame (a response).
    Frame(String),
    /// A broadcast event; the connection adds its own `seq`.
    Event(Arc<Event>),
    /// A WebSocket ping.
    Ping,
    /// Send a close frame and end the connection.
    Close { code: u16, reason: String },
}

impl Outbound {
    /// Bytes this item is charged against the client's budget.
    pub fn cost(&self) -> usize {
        WS_QUEUE_ITEM_OVERHEAD
            + match self {
                Outbound::Frame(f) => f.len(),
                Outbound::Event(e) => e.payload.len() + e.name.len(),
                Outbound::Ping => 0,
                Outbound::Close { reason, .. } => reason.len(),
            }
    }
}

/// A client's outbound queue with its byte budget: many producers (the hub, the connection's
/// reader), one consumer (the connection's writer).
///
/// A mutex-guarded `VecDeque` plus the writer's waker costs about a hundred bytes per client;
/// an async channel costs about 2 KiB (a cache-padded channel and a 31-slot block), which was a
/// sixth of an idle client's memory.
#[derive(Clone)]
pub struct Outbox {
    shared: Arc<Queue>,
}

struct Queue {
    state: Mutex<QueueState>,
    limit: usize,
    /// What every client has queued together.
    total: Arc<SharedBudget>,
}

struct QueueState {
    items: VecDeque<Outbound>,
    queued: usize,
    waker: Option<Waker>,
    closed: bool,
    /// The close frame to send on the way out, when the hub dropped this client.
    farewell: Option<(u16, String)>,
}

impl Drop for Queue {
    fn drop(&mut self) {
        // Whatever was still queued no longer occupies the shared budget.
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        self.total.release(st.queued);
        st.queued = 0;
    }
}

/// Bytes queued across all clients, against one limit.
pub struct SharedBudget {
    used: AtomicUsize,
    limit: usize,
}

impl SharedBudget {
    pub fn new(limit: usize) -> Arc<SharedBudget> {
        Arc::new(SharedBudget { used: AtomicUsize::new(0), limit: limit.max(1) })
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl Outbox {
    /// A client's queue of at most `limit` bytes, counted in `total` as well.
    pub fn new(limit: usize, total: Arc<SharedBudget>) -> Outbox {
        let state = QueueState { items: VecDeque::new(), queued: 0, waker: None, closed: false, farewell: None };
        Outbox { shared: Arc::new(Queue { state: Mutex::new(state), limit, total }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an item without waiting. `false` when the client is over its budget, the shared
    /// budget is spent, or the client is gone.
    pub fn push(&self, item: Outbound) -> bool {
        let cost = item.cost();
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        // Close frames always fit: they end the connection and free the queue.
        if !matches!(item, Outbound::Close { .. }) {
            let total = &self.shared.total;
            if st.queued + cost > self.shared.limit || total.used() + cost > total.limit {
                return false;
            }
        }
        self.shared.total.used.fetch_add(cost, Ordering::Relaxed);
        st.queued += cost;
        st.items.push_back(item);
        let waker = st.waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// The next item; `None` once the queue is closed. Only the connection's writer calls this.
    /// The item stays charged (to this client and the shared budget) while it is being written:
    /// the writer calls [`Outbox::sent`] with its [`Outbound::cost`] when the write is done, so
    /// a frame stuck in a write to a peer that does not read still counts.
    pub async fn recv(&self) -> Option<Outbound> {
        std::future::poll_fn(|cx| {
            let mut st = self.lock();
            if st.closed {
                return Poll::Ready(None);
            }
            if let Some(item) = st.items.pop_front() {
                if st.items.is_empty() && st.items.capacity() > HUB_OUTBOX_KEEP {
                    st.items.shrink_to(HUB_OUTBOX_KEEP);
                }
                return Poll::Ready(Some(item));
            }
            st.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Releases the charge of an item [`Outbox::recv`] handed out, once it is written.
    pub fn sent(&self, cost: usize) {
        let mut st = self.lock();
        if st.closed {
            // close() released everything already.
            return;
        }
        let cost = cost.min(st.queued);
        st.queued -= cost;
        self.shared.total.release(cost);
    }

    /// Completes when the queue is closed (the writer races its socket writes against this, so
    /// a client dropped for being slow is cut off even in the middle of a stuck write).
    pub async fn closed(&self) {
        std::future::poll_fn(|cx| {
            let mut st = self.lock();
            if st.closed {
                return Poll::Ready(());
            }
            st.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Drops everything queued and ends the writer.
    pub fn close(&self) {
        self.close_with(None);
    }

    /// Drops everything queued and ends the writer, which sends this close frame on its way out
    /// (if the peer still reads at all).
    pub fn evict(&self, code: u16, reason: &str) {
        self.close_with(Some((code, reason.to_string())));
    }

    fn close_with(&self, farewell: Option<(u16, String)>) {
        let mut st = self.lock();
        st.closed = true;
        st.items.clear();
        self.shared.total.release(st.queued);
        st.queued = 0;
        if farewell.is_some() {
            st.farewell = farewell;
        }
        let waker = st.waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The close frame the hub asked for when it dropped this client (once).
    pub fn take_farewell(&self) -> Option<(u16, String)> {
        self.lock().farewell.take()
    }

    pub fn queued_bytes(&self) -> usize {
        self.lock().queued
    }
}

/// What the hub knows about a connected client (for presence and status).
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub conn_id: String,
    pub client_id: String,
    pub mode: String,
    pub version: String,
    pub platform: String,
    pub instance_id: Option<String>,
    pub display_name: Option<String>,
    pub ip: String,
    pub connected_at_ms: u64,
    pub scopes: Vec<String>,
    /// The verified device identity (`connect.device.id`), if the client proved one.
    pub device_id: Option<String>,
}

/// A registered connection. When the hub drops a client for being too slow it closes the
/// client's outbox, which ends the connection.
pub struct Member {
    pub outbox: Outbox,
    pub scopes: Scopes,
    /// Capabilities the client declared (`connect.caps`).
    pub caps: Vec<String>,
    pub info: ClientInfo,
}

impl Member {
    /// Whether this client may see `event` (its scope and capability).
    fn receives(&self, event: &Event) -> bool {
        event.scope.is_none_or(|s| self.scopes.allows(s)) && event.cap.is_none_or(|c| self.caps.iter().any(|x| x == c))
    }
}

enum Command {
    Join(ConnId, Box<Member>),
    Leave(ConnId),
    Broadcast(Arc<Event>),
    Shutdown { event: Option<Arc<Event>>, code: u16, reason: String, done: Sender<usize> },
    List(Sender<Vec<ClientInfo>>),
    CloseDevice { device_id: String, code: u16, reason: String },
}

/// Handle to the hub task.
#[derive(Clone)]
pub struct Hub {
    tx: Sender<Command>,
    budget: Arc<SharedBudget>,
}

impl Hub {
    /// Starts the owner task; all clients' queues together hold at most `total_limit` bytes.
    pub fn start(total_limit: usize) -> Hub {
        let (tx, rx) = channel::bounded(HUB_QUEUE);
        let budget = SharedBudget::new(total_limit);
        crate::rt::spawn(run(rx, budget.clone())).detach();
        Hub { tx, budget }
    }

    /// A new client's queue of at most `limit` bytes, in the shared budget.
    pub fn outbox(&self, limit: usize) -> Outbox {
        Outbox::new(limit, self.budget.clone())
    }

    /// Bytes queued for all clients now.
    pub fn queued_bytes(&self) -> usize {
        self.budget.used()
    }

    pub async fn join(&self, id: ConnId, member: Member) {
        let _ = self.tx.send(Command::Join(id, Box::new(member))).await;
    }

    pub async fn leave(&self, id: ConnId) {
        let _ = self.tx.send(Command::Leave(id)).await;
    }

    /// Sends `event` to every client allowed to see it.
    pub async fn broadcast(&self, event: Event) {
        let _ = self.tx.send(Command::Broadcast(Arc::new(event))).await;
    }

    /// Sends `event` and then a close frame to every client; returns how many were told.
    pub async fn shutdown(&self, event: Event, code: u16, reason: &str) -> usize {
        self.close_with(Some(event), code, reason).await
    }

    /// Closes every client with `code` and `reason` (no event first).
    pub async fn close_all(&self, code: u16, reason: &str) -> usize {
        self.close_with(None, code, reason).await
    }

    async fn close_with(&self, event: Option<Event>, code: u16, reason: &str) -> usize {
        let (done, wait) = channel::bounded(1);
        let cmd = Command::Shutdown { event: event.map(Arc::new), code, reason: reason.to_string(), done };
        if self.tx.send(cmd).await.is_err() {
            return 0;
        }
        wait.recv().await.unwrap_or(0)
    }

    /// Closes every connection of a device (a removed device: 4001 `device removed`).
    pub async fn close_device(&self, device_id: &str, code: u16, reason: &str) {
        let _ = self.tx.send(Command::CloseDevice { device_id: device_id.to_string(), code, reason: reason.to_string() }).await;
    }

    pub async fn clients(&self) -> Vec<ClientInfo> {
        let (tx, rx) = channel::bounded(1);
        if self.tx.send(Command::List(tx)).await.is_err() {
            return Vec::new();
        }
        rx.recv().await.unwrap_or_default()
    }
}

async fn run(rx: Receiver<Command>, budget: Arc<SharedBudget>) {
    let mut members: std::collections::HashMap<ConnId, Member> = std::collections::HashMap::new();
    while let Ok(cmd) = rx.recv().await {
        match cmd {
            Command::Join(id, m) => {
                members.insert(id, *m);
            }
            Command::Leave(id) => {
                members.remove(&id);
            }
            Command::Broadcast(event) => {
                make_room(&mut members, &budget, &event);
                members.retain(|_, m| {
                    if !m.receives(&event) {
                        return true;
                    }
                    if m.outbox.push(Outbound::Event(event.clone())) {
                        return true;
                    }
                    log::warn!(
                        target: "ws",
                        "closing slow client conn={} (1008 slow consumer: {} bytes queued, limit {}; all clients {} of {})",
                        m.info.conn_id,
                        m.outbox.queued_bytes(),
                        m.outbox.shared.limit,
                        budget.used(),
                        budget.limit()
                    );
                    m.outbox.evict(1008, "slow consumer");
                    false
                });
            }
            Command::Shutdown { event, code, reason, done } => {
                let n = members.len();
                for m in members.values() {
                    if let Some(event) = &event {
                        m.outbox.push(Outbound::Event(event.clone()));
                    }
                    m.outbox.push(Outbound::Close { code, reason: reason.clone() });
                }
                let _ = done.try_send(n);
            }
            Command::CloseDevice { device_id, code, reason } => {
                members.retain(|_, m| {
                    if m.info.device_id.as_deref() != Some(device_id.as_str()) {
                        return true;
                    }
                    m.outbox.push(Outbound::Close { code, reason: reason.clone() });
                    false
                });
            }
            Command::List(reply) => {
                let _ = reply.try_send(members.values().map(|m| m.info.clone()).collect());
            }
        }
    }
}

/// Closes the clients with the most queued, largest first, until `event` fits the shared budget
/// for every client that receives it: the ones that stopped reading give way, the ones keeping
/// up keep their events.
fn make_room(members: &mut std::collections::HashMap<ConnId, Member>, budget: &SharedBudget, event: &Arc<Event>) {
    let cost = Outbound::Event(event.clone()).cost();
    loop {
        let recipients = members.values().filter(|m| m.receives(event)).count();
        if budget.used() + cost.saturating_mul(recipients) <= budget.limit() {
            return;
        }
        let Some((&id, _)) = members.iter().filter(|(_, m)| m.outbox.queued_bytes() > 0).max_by_key(|(_, m)| m.outbox.queued_bytes())
        else {
            return;
        };
        if let Some(m) = members.remove(&id) {
            log::warn!(
                target: "ws",
                "closing slow client conn={} (1008 slow consumer: {} bytes queued; all clients {} of {})",
                m.info.conn_id,
                m.outbox.queued_bytes(),
                budget.used(),
                budget.limit()
            );
            m.outbox.evict(1008, "slow consumer");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_refuses_items_past_its_byte_budget_and_close_ends_it() {
        smol::block_on(async {
            let ob = Outbox::new(200, SharedBudget::new(1 << 20));
            assert!(ob.push(Outbound::Frame("x".repeat(100))));
            assert!(!ob.push(Outbound::Frame("y".repeat(100))), "164 + 164 > 200");
            assert!(ob.push(Outbound::Close { code: 1000, reason: String::new() }), "close always fits");
            let first = ob.recv().await.unwrap();
            assert!(matches!(first, Outbound::Frame(ref f) if f.starts_with('x')));
            assert!(!ob.push(Outbound::Frame("z".repeat(10))), "an item being written still counts");
            ob.sent(first.cost());
            assert!(ob.push(Outbound::Frame("z".repeat(10))), "room again once the writer wrote one");
            ob.close();
            assert!(ob.recv().await.is_none(), "closing drops what was queued");
            assert!(!ob.push(Outbound::Ping));
            ob.closed().await;
        });
    }

    #[test]
    fn recv_waits_for_a_push_from_another_thread() {
        let ob = Outbox::new(1 << 20, SharedBudget::new(1 << 20));
        let producer = ob.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(producer.push(Outbound::Ping));
        });
        smol::block_on(async { assert!(matches!(ob.recv().await, Some(Outbound::Ping))) });
        t.join().unwrap();
    }

    #[test]
    fn broadcast_skips_clients_without_the_scope_and_drops_slow_ones() {
        crate::rt::block_on(async {
            let hub = Hub::start(1 << 20);
            let info = |id: &str| ClientInfo {
                conn_id: id.into(),
                client_id: "test".into(),
                mode: "test".into(),
                version: "1".into(),
                platform: "linux".into(),
                instance_id: None,
                display_name: None,
                ip: "127.0.0.1".into(),
                connected_at_ms: 0,
                scopes: vec![],
                device_id: None,
            };
            let reader = hub.outbox(10_000);
            hub.join(
                1,
                Member { outbox: reader.clone(), scopes: Scopes::from_list(&["operator.read".into()]), caps: vec![], info: info("a") },
            )
            .await;
            let none = hub.outbox(10_000);
            hub.join(2, Member { outbox: none.clone(), scopes: Scopes::default(), caps: vec!["tool-events".into()], info: info("b") })
                .await;
            let slow = hub.outbox(100);
            hub.join(3, Member { outbox: slow.clone(), scopes: Scopes::full(), caps: vec![], info: info("c") }).await;

            hub.broadcast(Event::new("chat", &serde_json::json!({"x": "y".repeat(50)})).scoped(Scope::Read)).await;
            hub.broadcast(Event::new("tick", &serde_json::json!({"ts": 1}))).await;
            let mut tool = Event::new("agent", &serde_json::json!({"stream": "tool"}));
            tool.cap = Some("tool-events");
            hub.broadcast(tool).await;
            assert_eq!(hub.clients().await.len(), 2, "the slow client was dropped");
            assert!(slow.is_closed(), "dropping the member closes its outbox, which ends its connection");
            for name in ["chat", "tick"] {
                let item = reader.recv().await.unwrap();
                reader.sent(item.cost());
                assert!(matches!(item, Outbound::Event(e) if e.name == name));
            }
            assert!(matches!(none.recv().await.unwrap(), Outbound::Event(e) if e.name == "tick"), "no chat without read scope");
            assert!(matches!(none.recv().await.unwrap(), Outbound::Event(e) if e.name == "agent"), "tool events go to tool-events clients");
            assert_eq!(reader.queued_bytes(), 0, "and only to them");
        });
    }

    #[test]
    fn past_the_shared_budget_the_clients_with_the_most_queued_are_closed_first() {
        crate::rt::block_on(async {
            let hub = Hub::start(10_000);
            let info = |id: &str| ClientInfo {
                conn_id: id.into(),
                client_id: "test".into(),
                mode: "test".into(),
                version: "1".into(),
                platform: "linux".into(),
                instance_id: None,
                display_name: None,
                ip: "127.0.0.1".into(),
                connected_at_ms: 0,
                scopes: vec![],
                device_id: None,
            };
            // Each client alone may queue far more than the shared budget.
            let (stalled, lagging, reader) = (hub.outbox(1 << 20), hub.outbox(1 << 20), hub.outbox(1 << 20));
            for (id, ob) in [(1, &stalled), (2, &lagging), (3, &reader)] {
                hub.join(id, Member { outbox: ob.clone(), scopes: Scopes::full(), caps: vec![], info: info(&id.to_string()) }).await;
            }
            let event = || Event::new("chat", &serde_json::json!({"x": "y".repeat(1000)}));
            hub.broadcast(event()).await;
            // The lagging client reads one event, the reader keeps up; the stalled one reads none.
            let first = lagging.recv().await.expect("an event");
            lagging.sent(first.cost());
            for _ in 0..6 {
                hub.broadcast(event()).await;
                // A round trip through the hub: the broadcast before it has been handled.
                hub.clients().await;
                while reader.queued_bytes() > 0 {
                    let item = reader.recv().await.expect("an event");
                    reader.sent(item.cost());
                }
            }
            assert!(hub.queued_bytes() <= 10_000, "the shared budget holds: {}", hub.queued_bytes());
            assert!(stalled.is_closed() && !reader.is_closed(), "the client that read nothing went first");
            assert_eq!(stalled.take_farewell(), Some((1008, "slow consumer".to_string())));
            assert!(!reader.is_closed());
            assert_eq!(hub.clients().await.iter().filter(|c| c.conn_id == "3").count(), 1, "the reader stays");
        });
    }
}
