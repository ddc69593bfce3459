//! The registered connection: server lines in, queued lines out (paced by a token bucket), and
//! the silence watchdog.

use smol::channel::{Receiver, Sender};
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncWrite};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::wire::{Lines, Message, inbound};
use super::{Client, Done, End, FLOOD_BURST, FLOOD_INTERVAL, Outgoing, lock, write_line};
use crate::channels::Link;
use crate::clock::now_ms;
use crate::limits;

/// Token bucket for outbound lines.
struct Flood {
    clock: Instant,
}

impl Flood {
    /// How long until the next line may go (zero: now).
    fn wait(&self) -> Duration {
        let window = FLOOD_INTERVAL * FLOOD_BURST;
        let now = Instant::now();
        self.clock.saturating_duration_since(now).saturating_sub(window - FLOOD_INTERVAL)
    }

    fn sent(&mut self) {
        self.clock = self.clock.max(Instant::now()) + FLOOD_INTERVAL;
    }
}

enum Event {
    Line(std::io::Result<Option<String>>),
    Out(Option<Outgoing>),
    Tick,
}

/// What the connection carries from one event to the next.
struct Connection<'a, W> {
    client: &'a Client,
    link: &'a Link,
    w: &'a mut W,
    /// When the connection started: with `seq`, the journal id of an incoming message (IRC has none).
    started_ms: u64,
    seq: u64,
    /// Lines waiting for the token bucket; the last line of a message carries its waiter.
    queue: VecDeque<(String, Option<Done>)>,
    flood: Flood,
    last_heard: Instant,
    pinged: Option<Instant>,
}

/// Runs the registered connection until it ends.
pub(super) async fn run<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(client: &Client, link: &Link, lines: &mut Lines<R>, w: &mut W) -> End {
    let (tx, rx): (Sender<Outgoing>, Receiver<Outgoing>) = smol::channel::bounded(limits::CHANNEL_CONCURRENT_MESSAGES);
    lock(&client.live).out = Some(tx);
    let mut c = Connection {
        client,
        link,
        w,
        started_ms: now_ms(),
        seq: 0,
        queue: VecDeque::new(),
        flood: Flood { clock: Instant::now() },
        last_heard: Instant::now(),
        pinged: None,
    };
    loop {
        if let Err(end) = c.write_queued().await {
            return end;
        }
        let tick = if c.queue.is_empty() { Duration::from_millis(1000) } else { c.flood.wait().max(Duration::from_millis(10)) };
        // While lines wait for the bucket, take no more from the senders (backpressure).
        let take_more = c.queue.is_empty();
        let ev = async { Event::Line(lines.next().await) }
            .or(async { if take_more { Event::Out(rx.recv().await.ok()) } else { std::future::pending().await } })
            .or(async {
                smol::Timer::after(tick).await;
                Event::Tick
            })
            .await;
        let step = match ev {
            Event::Tick => c.watchdog().await,
            Event::Out(None) => Err(End::Retry("the outbound queue closed".into())),
            Event::Out(Some(o)) => {
                c.enqueue(o);
                Ok(())
            }
            Event::Line(Err(e)) => Err(End::Retry(format!("the IRC connection failed: {e}"))),
            Event::Line(Ok(None)) => Err(End::Retry("the IRC server closed the connection".into())),
            Event::Line(Ok(Some(line))) => c.heard(&line).await,
        };
        if let Err(end) = step {
            return end;
        }
    }
}

impl<W: AsyncWrite + Unpin> Connection<'_, W> {
    /// Writes queued lines while the token bucket allows; tells each message's waiter.
    async fn write_queued(&mut self) -> Result<(), End> {
        while !self.queue.is_empty() && self.flood.wait().is_zero() {
            let Some((line, done)) = self.queue.pop_front() else { break };
            if let Err(e) = write_line(self.w, &line).await {
                if let Some(d) = done {
                    let _ = d.try_send(Err("the IRC connection failed".into()));
                }
                return Err(e);
            }
            self.flood.sent();
            if let Some(d) = done {
                let _ = d.try_send(Ok(()));
                self.link.status().last_outbound_at = Some(now_ms());
            }
        }
        Ok(())
    }

    fn enqueue(&mut self, o: Outgoing) {
        let n = o.lines.len();
        for (i, line) in o.lines.into_iter().enumerate() {
            self.queue.push_back((line, (i + 1 == n).then(|| o.done.clone())));
        }
    }

    /// A server silent for `poll_timeout` gets a PING; one that does not answer it within
    /// `stall_grace` is dropped.
    async fn watchdog(&mut self) -> Result<(), End> {
        let silent = self.last_heard.elapsed();
        match self.pinged {
            Some(at) if at.elapsed() >= self.link.tuning.stall_grace => {
                Err(End::Retry(format!("the IRC server stopped answering (silent for {} s, no reply to PING)", silent.as_secs())))
            }
            None if silent >= self.link.tuning.poll_timeout => {
                self.pinged = Some(Instant::now());
                write_line(self.w, &format!("PING :openclaw-{}", now_ms())).await
            }
            _ => Ok(()),
        }
    }

    /// One line from the server.
    async fn heard(&mut self, line: &str) -> Result<(), End> {
        self.last_heard = Instant::now();
        self.pinged = None;
        self.link.activity();
        let Some(m) = Message::parse(line) else { return Ok(()) };
        match m.command.as_str() {
            "PING" => write_line(self.w, &format!("PONG :{}", m.param(0))).await?,
            "ERROR" => return Err(End::Retry(format!("the IRC server closed the connection: {}", m.param(0)))),
            "NICK" => {
                let mut l = lock(&self.client.live);
                if m.nick().eq_ignore_ascii_case(&l.nick) {
                    l.nick = m.param(0).to_string();
                    l.prefix = None;
                }
            }
            "JOIN" => {
                let mut l = lock(&self.client.live);
                if m.nick().eq_ignore_ascii_case(&l.nick) {
                    l.prefix = m.prefix.clone();
                    log::info!(target: "channels", "irc: joined {}", m.param(0));
                }
            }
            "KICK" => {
                let l = lock(&self.client.live);
                if m.param(1).eq_ignore_ascii_case(&l.nick) {
                    log::warn!(target: "channels", "irc: kicked from {} by {}: {}", m.param(0), m.nick(), m.param(2));
                }
            }
            "403" | "405" | "471" | "473" | "474" | "475" | "476" | "477" => {
                let why = m.params.last().cloned().unwrap_or_default();
                log::warn!(target: "channels", "irc: cannot join {}: {why} ({})", m.param(1), m.command);
                self.link.status().last_error = Some(format!("cannot join {}: {why}", m.param(1)));
            }
            "PRIVMSG" => {
                let me = lock(&self.client.live).nick.clone();
                self.seq += 1;
                if let Some(msg) = inbound(&m, &me, &format!("{}-{}", self.started_ms, self.seq)) {
                    self.link.accept(msg).await.map_err(|e| End::Retry(format!("cannot record an incoming message: {e}")))?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_control_allows_a_burst_then_paces() {
        let mut f = Flood { clock: Instant::now() };
        for _ in 0..FLOOD_BURST {
            assert!(f.wait().is_zero());
            f.sent();
        }
        assert!(!f.wait().is_zero());
    }
}
