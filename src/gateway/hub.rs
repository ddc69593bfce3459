//! The event hub: one task owns the registry of connected clients and fans events out to them.
//! Everything else talks to it through [`Hub`] commands over a bounded channel.
//!
//! Each client has an [`Outbox`] bounded in bytes (`policy.maxBufferedBytes`). The hub never
//! waits for a client: when an event does not fit, the client is dropped. A stalled reader
//! therefore costs at most its budget of memory, and never slows the others.

use smol::channel::{self, Receiver, Sender};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::auth::{Scope, Scopes};
use super::protocol::StateVersion;
use crate::limits::WS_QUEUE_ITEM_OVERHEAD;

pub type ConnId = u64;

/// An event ready to deliver; the payload is serialised once for every recipient.
#[derive(Debug)]
pub struct Event {
    pub name: String,
    pub payload: String,
    pub state_version: Option<StateVersion>,
    /// Scope a connection needs to receive it (`None`: every connection).
    pub scope: Option<Scope>,
}

impl Event {
    pub fn new(name: &str, payload: &serde_json::Value) -> Event {
        Event { name: name.to_string(), payload: payload.to_string(), state_version: None, scope: None }
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

/// A client's outbound queue with its byte budget.
#[derive(Clone)]
pub struct Outbox {
    tx: Sender<Outbound>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl Outbox {
    pub fn new(limit: usize) -> (Outbox, Receiver<Outbound>) {
        let (tx, rx) = channel::unbounded();
        (Outbox { tx, queued: Arc::new(AtomicUsize::new(0)), limit }, rx)
    }

    /// Queues an item without waiting. `false` when the client is over its budget or gone.
    pub fn push(&self, item: Outbound) -> bool {
        let cost = item.cost();
        let before = self.queued.fetch_add(cost, Ordering::AcqRel);
        // Close frames always fit: they end the connection and free the queue.
        if before + cost > self.limit && !matches!(item, Outbound::Close { .. }) {
            self.queued.fetch_sub(cost, Ordering::AcqRel);
            return false;
        }
        if self.tx.try_send(item).is_err() {
            self.queued.fetch_sub(cost, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Called by the writer once an item has left the queue.
    pub fn sent(&self, cost: usize) {
        self.queued.fetch_sub(cost, Ordering::AcqRel);
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
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
}

/// A registered connection. Dropping it (the hub does so when the client is too slow or gone)
/// drops `kill`, the only sender of the connection's kill channel, which ends its task.
pub struct Member {
    pub outbox: Outbox,
    pub scopes: Scopes,
    pub info: ClientInfo,
    pub kill: Sender<()>,
}

enum Command {
    Join(ConnId, Box<Member>),
    Leave(ConnId),
    Broadcast(Arc<Event>),
    Shutdown { event: Arc<Event>, code: u16, reason: String, done: Sender<usize> },
    List(Sender<Vec<ClientInfo>>),
}

/// Handle to the hub task.
#[derive(Clone)]
pub struct Hub {
    tx: Sender<Command>,
}

/// Commands queued at most; broadcasters wait when the hub falls this far behind.
const HUB_QUEUE: usize = 1024;

impl Hub {
    /// Starts the owner task.
    pub fn start() -> Hub {
        let (tx, rx) = channel::bounded(HUB_QUEUE);
        crate::rt::spawn(run(rx)).detach();
        Hub { tx }
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
        let (done, wait) = channel::bounded(1);
        let cmd = Command::Shutdown { event: Arc::new(event), code, reason: reason.to_string(), done };
        if self.tx.send(cmd).await.is_err() {
            return 0;
        }
        wait.recv().await.unwrap_or(0)
    }

    pub async fn clients(&self) -> Vec<ClientInfo> {
        let (tx, rx) = channel::bounded(1);
        if self.tx.send(Command::List(tx)).await.is_err() {
            return Vec::new();
        }
        rx.recv().await.unwrap_or_default()
    }
}

async fn run(rx: Receiver<Command>) {
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
                members.retain(|_, m| {
                    if event.scope.is_some_and(|s| !m.scopes.allows(s)) {
                        return true;
                    }
                    if m.outbox.push(Outbound::Event(event.clone())) {
                        return true;
                    }
                    log::warn!(
                        target: "ws",
                        "dropping slow client conn={} ({} bytes queued, limit {})",
                        m.info.conn_id,
                        m.outbox.queued_bytes(),
                        m.outbox.limit
                    );
                    false
                });
            }
            Command::Shutdown { event, code, reason, done } => {
                let n = members.len();
                for m in members.values() {
                    m.outbox.push(Outbound::Event(event.clone()));
                    m.outbox.push(Outbound::Close { code, reason: reason.clone() });
                }
                let _ = done.try_send(n);
            }
            Command::List(reply) => {
                let _ = reply.try_send(members.values().map(|m| m.info.clone()).collect());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_refuses_items_past_its_byte_budget() {
        let (ob, rx) = Outbox::new(200);
        assert!(ob.push(Outbound::Frame("x".repeat(100))));
        assert!(!ob.push(Outbound::Frame("y".repeat(100))), "164 + 164 > 200");
        assert!(ob.push(Outbound::Close { code: 1000, reason: String::new() }), "close always fits");
        let first = rx.try_recv().unwrap();
        ob.sent(first.cost());
        assert!(ob.push(Outbound::Frame("z".repeat(10))));
    }

    #[test]
    fn broadcast_skips_clients_without_the_scope_and_drops_slow_ones() {
        crate::rt::block_on(async {
            let hub = Hub::start();
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
            };
            let (reader_box, reader_rx) = Outbox::new(10_000);
            let (kill_a, _kill_a_rx) = channel::bounded(1);
            hub.join(1, Member { outbox: reader_box, scopes: Scopes::from_list(&["operator.read".into()]), info: info("a"), kill: kill_a })
                .await;
            let (none_box, none_rx) = Outbox::new(10_000);
            let (kill_b, _kill_b_rx) = channel::bounded(1);
            hub.join(2, Member { outbox: none_box, scopes: Scopes::default(), info: info("b"), kill: kill_b }).await;
            let (slow_box, _slow_rx) = Outbox::new(100);
            let (kill_c, kill_c_rx) = channel::bounded::<()>(1);
            hub.join(3, Member { outbox: slow_box, scopes: Scopes::full(), info: info("c"), kill: kill_c }).await;

            hub.broadcast(Event::new("chat", &serde_json::json!({"x": "y".repeat(50)})).scoped(Scope::Read)).await;
            hub.broadcast(Event::new("tick", &serde_json::json!({"ts": 1}))).await;
            assert_eq!(hub.clients().await.len(), 2, "the slow client was dropped");
            assert!(kill_c_rx.recv().await.is_err(), "dropping the member ends its connection");
            assert!(matches!(reader_rx.recv().await.unwrap(), Outbound::Event(e) if e.name == "chat"));
            assert!(matches!(reader_rx.recv().await.unwrap(), Outbound::Event(e) if e.name == "tick"));
            assert!(matches!(none_rx.recv().await.unwrap(), Outbound::Event(e) if e.name == "tick"), "no chat without read scope");
        });
    }
}
