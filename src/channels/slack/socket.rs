//! The Socket Mode connection: `auth.test` (who the bot is), `apps.connections.open` (a
//! single-use URL), the WebSocket, `hello`, then envelopes. Each envelope is acknowledged by its
//! `envelope_id` only after its message is on disk; one that could not be recorded stays
//! unacknowledged and Slack delivers it again (with `retry_attempt`), and a redelivery of one
//! already recorded is recognised by the journal and acknowledged again.
//!
//! `disconnect` with `refresh_requested` (or `warning`) opens the next connection first, keeps
//! reading the old one meanwhile, and closes it only once the new one said `hello`: nothing sent
//! to either socket is lost and the status never shows a gap. `link_disabled` and refused tokens
//! stop the channel with a clear status instead of looping.
//!
//! "Connected but deaf" (a socket that stays open and delivers nothing, the complaint OpenClaw
//! users report most) is caught by the transport, not by counting messages (a quiet workspace is
//! not a dead socket): we ping every few seconds and want a pong, and any frame at all within a
//! bound. Either missing drops the socket (closed, not leaked: Slack spreads events over every
//! socket of the app), says so in the status and reconnects.

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::Role;
use serde_json::{Value, json};
use smol::future::FutureExt;
use smol::stream::StreamExt;
use std::time::{Duration, Instant};

use super::wire::{Event, Frame, inbound};
use super::{BotIdentity, Client};
use crate::channels::{Backoff, HealthState, Link};
use crate::limits;
use crate::net::client::{self, Stream};

/// Largest frame taken from Slack (an envelope with rich blocks stays far below).
const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// A write (ack, ping) that takes longer means the peer stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a superseded socket may take to close (Slack may not answer the close).
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// After `too_many_websockets` a quick reconnect makes it worse: wait at least this.
const TOO_MANY_SOCKETS_WAIT: Duration = Duration::from_secs(30);

type Ws = WebSocketStream<Stream>;

/// The liveness timings; the environment may shorten them (tests do).
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// How often we ping.
    ping_every: Duration,
    /// How long a ping may go unanswered.
    pong_within: Duration,
    /// How long the socket may stay without any frame.
    silent_after: Duration,
}

impl Timing {
    fn from_env() -> Timing {
        let ms = crate::sys::env_ms;
        Timing {
            ping_every: ms("OPENCLAW_SLACK_PING_INTERVAL_MS", Duration::from_secs(10)),
            pong_within: ms("OPENCLAW_SLACK_PONG_TIMEOUT_MS", Duration::from_secs(10)),
            silent_after: ms("OPENCLAW_SLACK_SILENT_AFTER_MS", Duration::from_secs(60)),
        }
    }
}

/// How a connection ended.
enum End {
    /// Reconnect after the backoff (and at least this long).
    Retry(String, Option<Duration>),
    /// Slack asked for a refresh and the next connection is already open.
    Switch(Box<Ws>),
    /// Retrying cannot help: stop the channel.
    Fatal(String, HealthState),
}

/// The receiver: learn who the bot is, then one Socket Mode connection after another.
pub async fn receive(client: Client, link: Link) {
    let timing = Timing::from_env();
    let mut backoff = Backoff::new(&link.tuning);
    let Some(me) = identify(&client, &link, &mut backoff).await else { return };
    let mut ready: Option<Box<Ws>> = None;
    loop {
        let opened = match ready.take() {
            Some(ws) => Ok(*ws),
            None => connect(&client).await,
        };
        let since = Instant::now();
        let end = match opened {
            Ok(ws) => {
                link.connected(Some(me.name.clone()).filter(|n| !n.is_empty()));
                session(&client, &link, &me, &timing, ws).await
            }
            Err(end) => end,
        };
        if since.elapsed() >= link.tuning.healthy_after {
            backoff.reset();
        }
        match end {
            End::Switch(ws) => ready = Some(ws),
            End::Retry(why, at_least) => {
                link.disconnected(&why);
                link.pause(&mut backoff, at_least).await;
            }
            End::Fatal(why, health) => {
                link.fatal(&why, health);
                return;
            }
        }
    }
}

/// `auth.test` until it answers; `None` when the bot token is refused (the channel stopped).
async fn identify(client: &Client, link: &Link, backoff: &mut Backoff) -> Option<BotIdentity> {
    loop {
        match client.whoami().await {
            Ok(me) => return Some(me),
            Err(e) if e.auth() => {
                link.fatal(&format!("Slack rejected the bot token ({e}); check channels.slack.botToken (xoxb-…)"), HealthState::AuthFailed);
                return None;
            }
            Err(e) => {
                link.disconnected(&format!("auth.test failed: {e}"));
                link.pause(backoff, e.retry_after).await;
            }
        }
    }
}

/// A new connection: a URL from `apps.connections.open`, the upgrade, and `hello`.
async fn connect(client: &Client) -> Result<Ws, End> {
    let url = match client.socket_url().await {
        Ok(u) => u,
        Err(e) if e.auth() => {
            return Err(End::Fatal(
                format!("Slack rejected the app-level token ({e}); check channels.slack.appToken (xapp-…, scope connections:write)"),
                HealthState::AuthFailed,
            ));
        }
        Err(e) => return Err(End::Retry(format!("apps.connections.open failed: {e}"), e.retry_after)),
    };
    let mut ws = open(&url).await.map_err(|e| End::Retry(format!("cannot connect to Socket Mode: {e}"), None))?;
    match hello(&mut ws).await {
        Ok(()) => Ok(ws),
        Err(end) => {
            close(ws).await;
            Err(end)
        }
    }
}

/// Connects and upgrades: `wss://` through TLS, `ws://` plain; the URL's query (the ticket)
/// goes along as it is.
async fn open(socket_url: &str) -> std::io::Result<Ws> {
    use std::io::{Error, ErrorKind};
    let (https, rest) = match (socket_url.strip_prefix("wss://"), socket_url.strip_prefix("ws://")) {
        (Some(r), _) => (true, r),
        (None, Some(r)) => (false, r),
        _ => return Err(Error::new(ErrorKind::InvalidInput, "not a ws:// or wss:// URL")),
    };
    let url = client::Url::parse(&format!("{}://{rest}", if https { "https" } else { "http" }))
        .map_err(|e| Error::new(ErrorKind::InvalidInput, e))?;
    let within = limits::CHANNEL_CONNECT_TIMEOUT;
    let started = Instant::now();
    let mut stream = client::connect(&url, within).await?;
    let left = within.saturating_sub(started.elapsed());
    let leftover = crate::net::ws::client_handshake(&mut stream, &url.authority(), &url.path, &[])
        .or(async {
            smol::Timer::after(left).await;
            Err(Error::new(ErrorKind::TimedOut, format!("the WebSocket upgrade timed out after {} ms", within.as_millis())))
        })
        .await?;
    let config = crate::net::ws::config(MAX_FRAME_BYTES, limits::WS_WRITE_BUFFER_MAX);
    Ok(WebSocketStream::from_partially_read(stream, leftover, Role::Client, Some(config)).await)
}

/// Waits for `hello`: only then does the connection count.
async fn hello(ws: &mut Ws) -> Result<(), End> {
    let until = Instant::now() + limits::CHANNEL_CONNECT_TIMEOUT;
    loop {
        let text = match next_frame(ws, until).await {
            Wait::Frame(Message::Text(t)) => t,
            Wait::Frame(_) => continue,
            Wait::Timeout => return Err(End::Retry("no hello on the Socket Mode connection".into(), None)),
            Wait::Closed(why) => return Err(End::Retry(format!("{why} before hello"), None)),
        };
        match read_frame(&text) {
            Some(f) if f.kind == "hello" => {
                log::info!(target: "channels", "slack: Socket Mode connected ({} connection(s) open for the app)", f.num_connections.unwrap_or(0));
                return Ok(());
            }
            Some(f) if f.kind == "disconnect" => return Err(disconnected(f.reason.as_deref().unwrap_or_default())),
            _ => return Err(End::Retry("the Socket Mode connection did not open with hello".into(), None)),
        }
    }
}

/// A frame's JSON.
fn read_frame(text: &str) -> Option<Frame> {
    Frame::read(serde_json::from_str::<Value>(text).ok()?).ok()
}

/// What a `disconnect` that does not ask for a refresh means.
fn disconnected(reason: &str) -> End {
    match reason {
        "link_disabled" => End::Fatal(
            "Slack disabled Socket Mode for this app (disconnect: link_disabled); turn it on under Settings → Socket Mode".into(),
            HealthState::Error,
        ),
        "too_many_websockets" => End::Retry(
            "Slack refused another socket (too_many_websockets: more than 10 open for the app, another process may use the same app token)"
                .into(),
            Some(TOO_MANY_SOCKETS_WAIT),
        ),
        other => End::Retry(format!("Slack closed the connection (disconnect: {other})"), None),
    }
}

/// Whether Slack asks us to move to a new connection (which we open before leaving this one).
fn refresh_reason(reason: &str) -> bool {
    !matches!(reason, "link_disabled" | "too_many_websockets")
}

enum Wait {
    Timeout,
    Frame(Message),
    Closed(String),
}

/// The next frame, or `Timeout` when `until` passed first.
async fn next_frame(ws: &mut Ws, until: Instant) -> Wait {
    let frame = async { Some(ws.next().await) }
        .or(async {
            smol::Timer::at(until).await;
            None
        })
        .await;
    match frame {
        None => Wait::Timeout,
        Some(Some(Ok(Message::Close(f)))) => {
            let said = f.map(|f| format!(" ({} {})", u16::from(f.code), f.reason)).unwrap_or_default();
            Wait::Closed(format!("Slack closed the connection{said}"))
        }
        Some(Some(Ok(m))) => Wait::Frame(m),
        Some(Some(Err(e))) => Wait::Closed(format!("connection lost: {e}")),
        Some(None) => Wait::Closed("Slack closed the connection".into()),
    }
}

/// Sends one frame, bounded in time (a peer that stopped reading must not hang us).
async fn put(ws: &mut Ws, m: Message) -> Result<(), End> {
    async { ws.send(m).await.map_err(|e| e.to_string()) }
        .or(async {
            smol::Timer::after(WRITE_TIMEOUT).await;
            Err(format!("a write stalled for {} s", WRITE_TIMEOUT.as_secs()))
        })
        .await
        .map_err(|e| End::Retry(format!("connection lost: {e}"), None))
}

/// Closes a socket we leave, bounded: it must not linger and take events.
async fn close(mut ws: Ws) {
    let _ = async { ws.close(None).await.map_err(|_| ()) }
        .or(async {
            smol::Timer::after(CLOSE_WAIT).await;
            Err(())
        })
        .await;
}

/// The liveness watch of one connection.
struct Watch {
    timing: Timing,
    last_frame: Instant,
    next_ping: Instant,
    pong_due: Option<Instant>,
}

impl Watch {
    fn new(timing: Timing) -> Watch {
        let now = Instant::now();
        Watch { timing, last_frame: now, next_ping: now + timing.ping_every, pong_due: None }
    }

    fn deadline(&self) -> Instant {
        let silent = self.last_frame + self.timing.silent_after;
        self.pong_due.map_or(silent, |p| p.min(silent)).min(self.next_ping)
    }

    /// Acts on whatever is due: a missing pong or silence ends the connection; a ping goes out.
    async fn tick(&mut self, ws: &mut Ws) -> Result<(), End> {
        let now = Instant::now();
        if self.pong_due.is_some_and(|p| now >= p) {
            let ms = self.timing.pong_within.as_millis();
            return Err(End::Retry(format!("no pong within {ms} ms of a ping: the socket is silent (connected but deaf)"), None));
        }
        if now >= self.last_frame + self.timing.silent_after {
            let ms = self.timing.silent_after.as_millis();
            return Err(End::Retry(format!("no frame from Slack for {ms} ms: the socket is silent (connected but deaf)"), None));
        }
        if now >= self.next_ping {
            put(ws, Message::Ping(Vec::new().into())).await?;
            self.pong_due.get_or_insert(now + self.timing.pong_within);
            self.next_ping = now + self.timing.ping_every;
        }
        Ok(())
    }
}

/// What one text frame asks of the connection.
enum Flow {
    Go,
    /// `disconnect` with this reason.
    Disconnect(String),
}

/// One connection, from `hello` to its end.
async fn session(client: &Client, link: &Link, me: &BotIdentity, timing: &Timing, mut ws: Ws) -> End {
    let mut watch = Watch::new(*timing);
    loop {
        let end = match next_frame(&mut ws, watch.deadline()).await {
            Wait::Timeout => match watch.tick(&mut ws).await {
                Ok(()) => continue,
                Err(end) => end,
            },
            Wait::Closed(why) => End::Retry(why, None),
            Wait::Frame(frame) => {
                watch.last_frame = Instant::now();
                link.activity();
                match frame {
                    Message::Pong(_) => {
                        watch.pong_due = None;
                        continue;
                    }
                    Message::Text(t) => match handle(&mut ws, link, me, &t).await {
                        Ok(Flow::Go) => continue,
                        Ok(Flow::Disconnect(reason)) if refresh_reason(&reason) => return refresh(client, link, me, ws, &reason).await,
                        Ok(Flow::Disconnect(reason)) => disconnected(&reason),
                        Err(end) => end,
                    },
                    _ => continue,
                }
            }
        };
        close(ws).await;
        return end;
    }
}

/// One text frame: envelopes are recorded, then acknowledged.
async fn handle(ws: &mut Ws, link: &Link, me: &BotIdentity, text: &str) -> Result<Flow, End> {
    let Some(frame) = read_frame(text) else {
        log::warn!(target: "channels", "slack: a Socket Mode frame that is not an envelope was skipped");
        return Ok(Flow::Go);
    };
    match frame.kind.as_str() {
        "hello" => return Ok(Flow::Go),
        "disconnect" => return Ok(Flow::Disconnect(frame.reason.unwrap_or_default())),
        "events_api" => record(link, me, &frame).await?,
        // Slash commands and interactivity are not used; acknowledged so Slack stops retrying.
        _ => {}
    }
    if let Some(id) = frame.envelope_id.filter(|id| !id.is_empty()) {
        put(ws, Message::text(json!({"envelope_id": id}).to_string())).await?;
    }
    Ok(Flow::Go)
}

/// Records the envelope's message; an error leaves it unacknowledged, so Slack sends it again.
async fn record(link: &Link, me: &BotIdentity, frame: &Frame) -> Result<(), End> {
    if frame.retry_attempt > 0 {
        log::debug!(target: "channels", "slack: envelope redelivered (retry_attempt {})", frame.retry_attempt);
    }
    let event = &frame.payload["event"];
    if !matches!(event["type"].as_str(), Some("message" | "app_mention")) {
        return Ok(());
    }
    match Event::read(event) {
        Ok(ev) => {
            if let Some(msg) = inbound(&ev, me) {
                link.accept(msg).await.map_err(|e| End::Retry(format!("cannot record an incoming message: {e}"), None))?;
            }
        }
        // Delivering it again would fail the same way: skipped (and acknowledged), and said why.
        Err(e) => log::warn!(target: "channels", "slack: an event that cannot be read was skipped: {e}"),
    }
    Ok(())
}

/// Slack asked for a new connection: open it while still reading the old one, then close the
/// old one.
async fn refresh(client: &Client, link: &Link, me: &BotIdentity, mut old: Ws, reason: &str) -> End {
    log::info!(target: "channels", "slack: Slack asked for a new connection ({reason}); opening it before leaving this one");
    enum Step {
        Opened(Box<Result<Ws, End>>),
        Old(Wait),
    }
    let mut opening = std::pin::pin!(connect(client));
    let mut old_open = true;
    // The old socket is read until the new one is up (or it closes); no watchdog needed: the
    // opening is bounded by its own timeouts.
    let far = Instant::now() + limits::CHANNEL_CONNECT_TIMEOUT * 4;
    loop {
        let step = async { Step::Opened(Box::new(opening.as_mut().await)) }
            .or(async { if old_open { Step::Old(next_frame(&mut old, far).await) } else { std::future::pending().await } })
            .await;
        match step {
            Step::Opened(result) => {
                close(old).await;
                return match *result {
                    Ok(new) => End::Switch(Box::new(new)),
                    Err(end) => end,
                };
            }
            Step::Old(Wait::Frame(Message::Text(t))) => {
                if let Err(end) = handle(&mut old, link, me, &t).await {
                    close(old).await;
                    return end;
                }
            }
            Step::Old(Wait::Closed(_) | Wait::Timeout) => old_open = false,
            Step::Old(Wait::Frame(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_reasons() {
        assert!(refresh_reason("refresh_requested") && refresh_reason("warning"));
        assert!(matches!(disconnected("link_disabled"), End::Fatal(m, HealthState::Error) if m.contains("Socket Mode")));
        assert!(matches!(disconnected("too_many_websockets"), End::Retry(_, Some(w)) if w == TOO_MANY_SOCKETS_WAIT));
        let f = read_frame(r#"{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"h"}}"#).unwrap();
        assert_eq!((f.kind.as_str(), f.reason.as_deref(), f.envelope_id), ("disconnect", Some("refresh_requested"), None));
        let f = read_frame(r#"{"envelope_id":"e1","type":"events_api","retry_attempt":2,"payload":{"event":{}}}"#).unwrap();
        assert_eq!((f.envelope_id.as_deref(), f.retry_attempt), (Some("e1"), 2));
        assert!(read_frame("[]").is_none() && read_frame("{").is_none());
    }
}
