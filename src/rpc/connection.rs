//! One WebSocket client, from the upgrade to the close: challenge, handshake under a deadline and
//! a small frame budget, then three cooperating futures in one task — the reader (requests), the
//! writer (responses and events, with the per-connection `seq`) and the pinger. The hub closes
//! the client's outbox when it falls too far behind, which ends the writer and the connection.

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::protocol::frame::Frame;
use async_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use serde_json::json;
use smol::Timer;
use smol::future::FutureExt;
use smol::io::AsyncWriteExt;
use smol::stream::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::handshake::{self, Peer, Session};
use super::methods::{self, Call};
use super::protocol::{self, ErrorShape, Inbound};
use crate::gateway::hub::{ClientInfo, ConnId, Member, Outbound, Outbox};
use crate::gateway::{Gateway, Phase};
use crate::limits::{
    WS_CLOSE_GRACE, WS_FRAGMENT_BYTES, WS_HANDSHAKE_FRAGMENT_BYTES, WS_MAX_PAYLOAD, WS_PEER_PING_BURST, WS_PEER_PINGS_PER_SECOND,
    WS_PREAUTH_MAX_PAYLOAD, WS_WRITE_BUFFER_MAX,
};
use crate::net::edge::EdgeStream;
use crate::net::http::Head;
use crate::net::server::{CountGuard, Upgraded};
use crate::net::ws::{self, UpgradeRequest, WsIo};

type Ws = WebSocketStream<WsIo<EdgeStream>>;

/// Largest frame header (RFC 6455: 2 + 8 length + 4 mask bytes).
const MAX_FRAME_HEADER: usize = 14;

/// Serves one upgraded connection until it closes. The router has checked the upgrade request
/// (`req`) and answered a bad one itself, through the HTTP error writer.
pub async fn serve(gw: Arc<Gateway>, head: Head, req: UpgradeRequest, mut up: Upgraded, peer_addr: SocketAddr) {
    let mut pending = std::mem::replace(&mut up.pending, crate::net::server::Pending::none());
    if let Some(joined) = open(&gw, head, req, up, peer_addr).await {
        // Authenticated: no longer one of the cheap pending connections a flood is made of.
        pending.done();
        // The session is a task of its own, made of only what it needs, and this one (sized
        // for the upgrade and the handshake, with every caller's arguments) ends here: what an
        // idle client costs is the session's state, not the handshake's.
        crate::rt::spawn(run_session(gw, joined)).detach();
    }
}

/// A connection that completed the handshake: in the hub (so no event sent after its
/// `hello-ok` is missed) and about to run its session.
struct Joined {
    ws: Ws,
    session: Session,
    id: ConnId,
    outbox: Outbox,
    /// The connection's place in the total, released when the session ends.
    count: CountGuard,
}

/// Upgrade, challenge and handshake. Returns the socket and the session after `hello-ok`,
/// already joined to the hub.
async fn open(gw: &Arc<Gateway>, head: Head, req: UpgradeRequest, up: Upgraded, peer_addr: SocketAddr) -> Option<Joined> {
    let Upgraded { mut stream, leftover, count, .. } = up;
    let trusted = gw.settings().loaded.config.gateway.trusted_proxies.clone();
    let (ip, local) = crate::gateway::auth::locality(peer_addr.ip(), &|h| head.header(h).map(str::to_string), &trusted);
    let peer = Peer { ip, local, origin: head.header("origin").map(str::to_string), host: head.header("host").map(str::to_string) };
    drop(head);
    if stream.write_all(&ws::accept_response(&req)).await.is_err() {
        return None;
    }
    let io = WsIo::new(stream, leftover, WS_PREAUTH_MAX_PAYLOAD + MAX_FRAME_HEADER);
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws::config(WS_MAX_PAYLOAD, WS_WRITE_BUFFER_MAX))).await;

    let nonce = crate::ids::uuid();
    let challenge = json!({"nonce": nonce, "ts": crate::clock::now_ms(), "capabilities": []}).to_string();
    if send_text(&mut ws, protocol::event_frame("connect.challenge", &challenge, None, None)).await.is_err() {
        return None;
    }

    let deadline = Instant::now() + gw.tuning.handshake_timeout;
    let outcome = handshake_phase(gw, &mut ws, &peer, &nonce)
        .or(async {
            Timer::at(deadline).await;
            Err(Close::new(1000, ""))
        })
        .await;
    let (session, hello) = match outcome {
        Ok(accepted) => accepted,
        Err(close) => {
            log::debug!(target: "ws", "handshake from {} ended with close {}", peer.ip, close.code);
            close_now(&mut ws, close).await;
            return None;
        }
    };
    ws.get_mut().end_preauth();
    log::info!(
        target: "ws",
        "client connected conn={} client={} mode={} scopes={} from {}",
        short(&session.conn_id),
        session.params.client_id,
        session.params.mode,
        session.scopes.list.join(","),
        peer.ip
    );
    // Joined before `hello-ok` is sent: a client that acts on `hello-ok` at once (or another
    // client acting meanwhile) must not raise an event this connection misses. What is queued
    // meanwhile is written after `hello-ok`, when the session's writer starts.
    let id = gw.next_conn_id();
    let outbox = gw.hub.outbox(gw.tuning.max_buffered_bytes);
    gw.hub.join(id, member(&session, &outbox)).await;
    if send_text(&mut ws, hello).await.is_err() {
        outbox.close();
        gw.hub.leave(id).await;
        return None;
    }
    Some(Joined { ws, session, id, outbox, count })
}

/// How to end a connection.
struct Close {
    code: u16,
    reason: String,
}

impl Close {
    fn new(code: u16, reason: &str) -> Close {
        Close { code, reason: reason.to_string() }
    }
}

/// Reads the first frame and runs the `connect` checks. On success returns the session and the
/// `hello-ok` response frame.
async fn handshake_phase(gw: &Arc<Gateway>, ws: &mut Ws, peer: &Peer, nonce: &str) -> Result<(Session, String), Close> {
    loop {
        let msg = match ws.next().await {
            None => return Err(Close::new(1000, "")),
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(read_error_close(ws, &e)),
        };
        let text = match msg {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => match String::from_utf8(b.to_vec()) {
                Ok(t) => t,
                Err(_) => return Err(Close::new(1008, "invalid request frame")),
            },
            Message::Close(_) => return Err(Close::new(1000, "")),
            _ => continue,
        };
        if text.len() > WS_PREAUTH_MAX_PAYLOAD {
            return Err(Close::new(1009, ""));
        }
        let req = match protocol::parse_inbound(&text) {
            Inbound::NotJson => return Err(Close::new(1000, "")),
            Inbound::Invalid { .. } => return Err(Close::new(1008, "invalid request frame")),
            Inbound::Request(r) => r,
        };
        if req.method != "connect" {
            let e = ErrorShape::invalid("invalid handshake: first request must be connect");
            let _ = send_text(ws, protocol::response_err(&req.id, &e)).await;
            return Err(Close::new(1008, &e.message));
        }
        let params = match handshake::parse_connect(req.params.as_ref()) {
            Ok(p) => p,
            Err(why) => {
                let e = ErrorShape::invalid(format!("invalid connect params: {why}"));
                let _ = send_text(ws, protocol::response_err(&req.id, &e)).await;
                return Err(Close::new(1008, &e.message));
            }
        };
        return match handshake::accept(gw, params, peer, nonce).await {
            Ok(session) => {
                let hello = handshake::hello_ok(gw, &session);
                Ok((session, protocol::response_ok(&req.id, &hello)))
            }
            Err(refusal) => {
                let _ = send_text(ws, protocol::response_err(&req.id, &refusal.error)).await;
                Err(Close::new(refusal.close_code, &refusal.close_reason))
            }
        };
    }
}

/// The close frame for a peer that broke the protocol after the handshake (RFC 6455 §7.4.1):
/// 1009 for a message past the size limit, 1007 for text that is not UTF-8, 1002 for frames a
/// client must not send (unmasked, reserved bits or opcodes, bad control frames). `None` for a
/// transport failure, where no frame can be sent.
fn violation_close(e: &WsError) -> Option<(u16, &'static str)> {
    match e {
        WsError::Capacity(_) => Some((1009, "payload too large")),
        WsError::Utf8(_) => Some((1007, "invalid UTF-8 in a text message")),
        WsError::Protocol(_) => Some((1002, "protocol error")),
        _ => None,
    }
}

/// The close for a failed read: 1009 for oversized frames (tungstenite's limit or our
/// pre-authentication budget), otherwise just end.
fn read_error_close(ws: &Ws, e: &WsError) -> Close {
    if matches!(e, WsError::Capacity(_)) || ws.get_ref().budget_exceeded() { Close::new(1009, "") } else { Close::new(1000, "") }
}

/// Sends a message of the handshake (the challenge, `hello-ok`, a refusal) in frames of at most
/// [`WS_HANDSHAKE_FRAGMENT_BYTES`]: every client gets `hello-ok` (about 3 KB), and tungstenite
/// keeps its write buffer at the largest frame it wrote, so whole it would stay allocated for the
/// life of every idle connection.
async fn send_text(ws: &mut Ws, text: String) -> Result<(), WsError> {
    let mut sent = Ok(());
    for message in fragments(text, WS_HANDSHAKE_FRAGMENT_BYTES) {
        sent = ws.send(message).or(send_timeout(crate::limits::WS_SEND_TIMEOUT)).await;
        if sent.is_err() {
            break;
        }
    }
    sent
}

async fn send_timeout(limit: std::time::Duration) -> Result<(), WsError> {
    Timer::after(limit).await;
    Err(WsError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "send timed out")))
}

/// One text message as WebSocket messages: small ones whole, large ones as a text frame and
/// continuation frames of at most `max` bytes (at least 1). tungstenite keeps its write buffer at
/// the size of the largest frame it ever wrote, so unfragmented large responses (`logs.tail` can
/// be 1 MB) would stay allocated for the life of the connection.
fn fragments(text: String, max: usize) -> Vec<Message> {
    let max = max.max(1);
    if text.len() <= max {
        return vec![Message::text(text)];
    }
    let bytes = async_tungstenite::tungstenite::Bytes::from(text);
    let count = bytes.len().div_ceil(max);
    (0..count)
        .map(|i| {
            let part = bytes.slice(i * max..((i + 1) * max).min(bytes.len()));
            let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
            Message::Frame(Frame::message(part, opcode, i + 1 == count))
        })
        .collect()
}

/// Sends a close frame (reason cut to the 123 bytes a close frame allows) and waits briefly for
/// the peer's reply.
/// Sends a close frame on a live session's write half, waiting at most [`WS_CLOSE_GRACE`] for a
/// peer that does not read (the session ends either way).
async fn send_close(sink: &mut async_tungstenite::WebSocketSender<WsIo<EdgeStream>>, code: u16, reason: &str) {
    let frame = CloseFrame { code: CloseCode::from(code), reason: truncate_reason(reason).into() };
    let _ = sink
        .send(Message::Close(Some(frame)))
        .or(async {
            Timer::after(WS_CLOSE_GRACE).await;
            Ok(())
        })
        .await;
}

async fn close_now(ws: &mut Ws, close: Close) {
    let frame = CloseFrame { code: CloseCode::from(close.code), reason: truncate_reason(&close.reason).into() };
    let graceful = async {
        let _ = ws.close(Some(frame)).await;
        while let Some(Ok(_)) = ws.next().await {}
    };
    graceful
        .or(async {
            Timer::after(WS_CLOSE_GRACE).await;
        })
        .await;
}

fn truncate_reason(reason: &str) -> String {
    crate::encoding::prefix_within(reason, 123).to_string()
}

/// An id cut for a log line: the first 8 and last 4 characters. Ids come from clients and may be
/// any text, so this counts characters, never bytes.
fn short(id: &str) -> String {
    let count = id.chars().count();
    if count <= 12 {
        return id.to_string();
    }
    let head: String = id.chars().take(8).collect();
    let tail: String = id.chars().skip(count - 4).collect();
    format!("{head}…{tail}")
}

/// A token bucket for the pings a client sends: [`WS_PEER_PING_BURST`] at once, refilled at
/// [`WS_PEER_PINGS_PER_SECOND`]. Each ping makes tungstenite read it and queue a pong, so a peer
/// that floods pings and never reads keeps the gateway busy without ever filling a buffer that
/// the send timeout would notice.
struct PingAllowance {
    tokens: u32,
    refilled_at: Instant,
}

impl PingAllowance {
    fn new(now: Instant) -> PingAllowance {
        PingAllowance { tokens: WS_PEER_PING_BURST, refilled_at: now }
    }

    /// Takes one ping from the allowance; false when there is none left.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed_ms = now.saturating_duration_since(self.refilled_at).as_millis();
        let earned = elapsed_ms.saturating_mul(u128::from(WS_PEER_PINGS_PER_SECOND)) / 1000;
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(WS_PEER_PING_BURST);
            self.refilled_at = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// After `hello-ok`: requests in, responses and events out, pings, until either side ends it.
/// Not an `async fn`: one would keep `joined` in its state for the whole session next to the
/// halves split from it; the future returned holds the halves only.
fn run_session(gw: Arc<Gateway>, joined: Joined) -> impl Future<Output = ()> + Send {
    let Joined { ws, session, id, outbox, count } = joined;
    let (mut sink, mut stream) = ws.split();
    async move {
        let _count = count;
        let alive = AtomicBool::new(true);
        // Three loops on this one task, joined by `or`: the first to end ends the session, and
        // says why.
        let why = read_frames(&gw, &session, &outbox, &mut stream, &alive)
            .or(write_frames(&gw, &outbox, &mut sink))
            .or(ping(&gw, &outbox, &alive))
            .await;
        outbox.close();
        gw.hub.leave(id).await;
        log::info!(target: "ws", "client disconnected conn={} ({why})", short(&session.conn_id));
    }
}

/// The hub's view of a connected client.
fn member(session: &Session, outbox: &Outbox) -> Member {
    let info = ClientInfo {
        conn_id: session.conn_id.clone(),
        client_id: session.params.client_id.clone(),
        mode: session.params.mode.clone(),
        version: session.params.client_version.clone(),
        platform: session.params.platform.clone(),
        instance_id: session.params.instance_id.clone(),
        display_name: session.params.display_name.clone(),
        ip: session.ip.to_string(),
        connected_at_ms: session.connected_at_ms,
        scopes: session.scopes.list.clone(),
        device_id: session.device_id.clone(),
    };
    Member { outbox: outbox.clone(), scopes: session.scopes.clone(), caps: session.params.caps.clone(), info }
}

/// Reads frames and answers requests; `alive` records that the peer was heard from.
async fn read_frames(
    gw: &Arc<Gateway>,
    session: &Session,
    outbox: &Outbox,
    stream: &mut async_tungstenite::WebSocketReceiver<WsIo<EdgeStream>>,
    alive: &AtomicBool,
) -> &'static str {
    let mut pings = PingAllowance::new(Instant::now());
    while let Some(msg) = stream.next().await {
        alive.store(true, Ordering::Relaxed);
        let text = match msg {
            Ok(Message::Text(t)) => t.to_string(),
            Ok(Message::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
            Ok(Message::Ping(_)) if !pings.take(Instant::now()) => {
                outbox.push(Outbound::Close { code: 1008, reason: "too many pings".into() });
                return std::future::pending::<&str>().await;
            }
            Ok(Message::Close(_)) => continue, // tungstenite answers it; the stream ends next.
            Ok(_) => continue,
            Err(e) => {
                let Some((code, reason)) = violation_close(&e) else { return "read error" };
                // RFC 6455 asks for a close frame; the writer sends it and ends the session.
                outbox.push(Outbound::Close { code, reason: reason.into() });
                return std::future::pending::<&str>().await;
            }
        };
        let Some(reply) = handle_text(gw, session, outbox, &text).await else { continue };
        if !outbox.push(Outbound::Frame(reply)) {
            return "client too slow";
        }
    }
    "closed by client"
}

/// Writes what the outbox holds (responses, events with their sequence numbers, pings, a close).
async fn write_frames(gw: &Arc<Gateway>, outbox: &Outbox, sink: &mut async_tungstenite::WebSocketSender<WsIo<EdgeStream>>) -> &'static str {
    let mut seq: u64 = 0;
    while let Some(item) = outbox.recv().await {
        let cost = item.cost();
        let text = match item {
            Outbound::Frame(text) => text,
            Outbound::Event(event) => {
                seq += 1;
                protocol::event_frame(&event.name, &event.payload, Some(seq), event.state_version)
            }
            Outbound::Ping => {
                if sink.send(Message::Ping(Default::default())).or(send_timeout(gw.tuning.send_timeout)).await.is_err() {
                    return "write error";
                }
                outbox.sent(cost);
                continue;
            }
            Outbound::Close { code, reason } => {
                send_close(sink, code, &reason).await;
                // Give the client a moment to answer the close; the reader ends when it does.
                Timer::after(WS_CLOSE_GRACE).await;
                return "closed by gateway";
            }
        };
        for message in fragments(text, WS_FRAGMENT_BYTES) {
            let sent = sink
                .send(message)
                .or(async {
                    // A client dropped by the hub is cut off even mid-write.
                    outbox.closed().await;
                    Err(WsError::ConnectionClosed)
                })
                .or(send_timeout(gw.tuning.send_timeout))
                .await;
            if sent.is_err() {
                if !outbox.is_closed() {
                    return "write error";
                }
                break;
            }
        }
        if outbox.is_closed() {
            break;
        }
        outbox.sent(cost);
    }
    // Dropped by the hub: say why, if the peer reads at all, without waiting long.
    if let Some((code, reason)) = outbox.take_farewell() {
        send_close(sink, code, &reason).await;
        return "closed (slow consumer)";
    }
    "dropped (too slow)"
}

/// Pings the peer every interval; a peer not heard from since the last ping is gone.
async fn ping(gw: &Arc<Gateway>, outbox: &Outbox, alive: &AtomicBool) -> &'static str {
    loop {
        Timer::after(gw.tuning.ping_interval).await;
        // Nothing received since the last ping (not even its pong): the peer is gone.
        if !alive.swap(false, Ordering::Relaxed) {
            return "ping timeout";
        }
        if !outbox.push(Outbound::Ping) {
            return "client too slow";
        }
    }
}

/// Handles one text frame after the handshake; returns the response frame, if any.
async fn handle_text(gw: &Arc<Gateway>, session: &Session, outbox: &Outbox, text: &str) -> Option<String> {
    match protocol::parse_inbound(text) {
        // Malformed JSON after hello is ignored, as the official gateway does.
        Inbound::NotJson => {
            log::debug!(target: "ws", "parse error from conn={} ({} bytes)", short(&session.conn_id), text.len());
            None
        }
        Inbound::Invalid { id, message, .. } => {
            let id = id.unwrap_or_else(|| "invalid".to_string());
            Some(protocol::response_err(&id, &ErrorShape::invalid(format!("invalid request frame: {message}"))))
        }
        Inbound::Request(req) => {
            if req.method == "connect" {
                return Some(protocol::response_err(&req.id, &handshake::connect_again()));
            }
            if matches!(gw.phase(), Phase::Draining | Phase::Restarting) {
                return Some(protocol::response_err(&req.id, &ErrorShape::from(crate::error::Error::ShuttingDown)));
            }
            let started = Instant::now();
            let call = Call { gw, session, out: outbox, id: &req.id };
            // Boxed: method futures can be large, and an idle connection should not carry them.
            let result = Box::pin(methods::dispatch(&call, &req)).await;
            let ms = started.elapsed().as_millis();
            match &result {
                Ok(_) => log::debug!(target: "ws", "⇄ res ✓ {} {ms}ms conn={} id={}", req.method, short(&session.conn_id), short(&req.id)),
                Err(e) => log::info!(
                    target: "ws",
                    "⇄ res ✗ {} {ms}ms conn={} id={} {}",
                    req.method,
                    short(&session.conn_id),
                    short(&req.id),
                    e
                ),
            }
            match result {
                Ok(Some(payload)) => Some(protocol::response_ok(&req.id, &payload)),
                Ok(None) => None,
                Err(e) => Some(protocol::response_err(&req.id, &ErrorShape::from(e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn messages_longer_than_the_limit_go_as_a_text_frame_and_continuations() {
        let whole = fragments("x".repeat(1004), 1004);
        assert_eq!(whole.len(), 1);
        assert!(matches!(&whole[0], Message::Text(t) if t.len() == 1004));
        let text: String = (0..2500).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let parts = fragments(text.clone(), 1004);
        assert_eq!(parts.len(), 3);
        let mut joined = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let Message::Frame(frame) = part else { panic!("part {i} is not a frame") };
            let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
            assert_eq!(frame.header().opcode, opcode, "part {i}");
            assert_eq!(frame.header().is_final, i == 2, "part {i}");
            assert!(frame.payload().len() <= 1004);
            joined.extend_from_slice(frame.payload());
        }
        assert_eq!(joined, text.as_bytes());
        assert_eq!(fragments("ab".into(), 0).len(), 2, "a zero limit still makes progress");
    }

    #[test]
    fn a_ping_flood_exhausts_the_allowance_and_a_steady_pinger_never_does() {
        let start = Instant::now();
        let mut flood = PingAllowance::new(start);
        let granted = (0..1000).filter(|_| flood.take(start)).count();
        assert_eq!(granted, WS_PEER_PING_BURST as usize);
        // Refilled over time, but never beyond the burst.
        assert!(flood.take(start + Duration::from_secs(1)));
        let mut steady = PingAllowance::new(start);
        for second in 0..600 {
            assert!(steady.take(start + Duration::from_secs(second)), "a ping a second is allowed");
        }
    }

    #[test]
    fn long_ids_are_shortened_at_characters_not_bytes() {
        assert_eq!(short("1:60b4d761-209a-4906-9fc7-d4aef55bf540"), "1:60b4d7…f540");
        assert_eq!(short("r1"), "r1");
        assert_eq!(short(&"ü".repeat(13)), "üüüüüüüü…üüüü");
        assert_eq!(short("k\nr1\u{fffd}\u{fffd}-abcdefgh"), "k\nr1\u{fffd}\u{fffd}-a…efgh");
    }
}
