//! Registration: `CAP`/SASL, `PASS`, `NICK`, `USER` up to the server's 001, then NickServ
//! `IDENTIFY` (when configured) and the JOINs.

use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncWrite};
use std::time::Instant;

use super::wire::{Lines, Message};
use super::{Client, End, NICK_ATTEMPTS, REGISTER_TIMEOUT, alt_nick, lock, write_line};
use crate::channels::{HealthState, Link};
use crate::config::channels as cfg;

/// What registration has settled so far.
struct Registration<'a> {
    cfg: &'a cfg::Irc,
    nick: String,
    collisions: usize,
    /// No capability negotiation pending (none was started, or `CAP END` was sent).
    cap_done: bool,
}

/// Registration, up to 001; then the JOINs.
pub(super) async fn register<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    client: &Client,
    link: &Link,
    lines: &mut Lines<R>,
    w: &mut W,
) -> Result<(), End> {
    let c = &client.cfg;
    let mut reg = Registration { cfg: c, nick: c.nick.clone(), collisions: 0, cap_done: c.sasl.is_none() };
    reg.greet(w).await?;
    let deadline = Instant::now() + REGISTER_TIMEOUT;
    let me = loop {
        let line = next_line(lines, deadline).await?;
        let Some(m) = Message::parse(&line) else { continue };
        if let Some(me) = reg.step(&m, w).await? {
            break me;
        }
    };
    {
        let mut l = lock(&client.live);
        l.nick = me.clone();
        l.prefix = None;
    }
    if !reg.cap_done {
        write_line(w, "CAP END").await?;
    }
    if let Some(ns) = &c.nickserv {
        // Before the JOINs, so channels that want an identified nick let us in; never logged.
        write_line(w, &identify_line(ns, &c.nick)).await?;
    }
    link.connected(Some(me));
    for ch in &c.channels {
        write_line(w, &format!("JOIN {ch}")).await?;
    }
    Ok(())
}

/// The next server line, or the end of the connection when registration runs past `deadline`.
async fn next_line<R: AsyncRead + Unpin>(lines: &mut Lines<R>, deadline: Instant) -> Result<String, End> {
    let left = deadline.saturating_duration_since(Instant::now());
    let line = async { lines.next().await.map_err(|e| End::Retry(format!("the IRC connection failed while registering: {e}"))) }
        .or(async {
            smol::Timer::after(left).await;
            Err(End::Retry(format!("the server did not finish registration within {} s", REGISTER_TIMEOUT.as_secs())))
        })
        .await?;
    line.ok_or_else(|| End::Retry("the server closed the connection while registering".into()))
}

impl Registration<'_> {
    /// The opening lines: `CAP LS` when SASL is configured, `PASS`, `NICK`, `USER`.
    async fn greet<W: AsyncWrite + Unpin>(&self, w: &mut W) -> Result<(), End> {
        let c = self.cfg;
        if c.sasl.is_some() {
            write_line(w, "CAP LS 302").await?;
        }
        if let Some(p) = &c.password {
            write_line(w, &format!("PASS :{}", p.expose())).await?;
        }
        write_line(w, &format!("NICK {}", self.nick)).await?;
        write_line(w, &format!("USER {} 0 * :{}", c.username, c.realname)).await
    }

    /// Handles one server line; `Some(nick)` once the server welcomed us (001) under that nick.
    async fn step<W: AsyncWrite + Unpin>(&mut self, m: &Message, w: &mut W) -> Result<Option<String>, End> {
        if let Some(end) = refusal(m, &self.nick) {
            return Err(end);
        }
        match m.command.as_str() {
            "PING" => write_line(w, &format!("PONG :{}", m.param(0))).await?,
            "CAP" => self.capabilities(m, w).await?,
            "AUTHENTICATE" if m.param(0) == "+" => {
                if let Some((user, pass)) = &self.cfg.sasl {
                    sasl_plain(w, user, pass.expose()).await?;
                }
            }
            "903" => {
                self.cap_done = true;
                write_line(w, "CAP END").await?;
            }
            "433" | "437" | "436" => {
                self.collisions += 1;
                if self.collisions > NICK_ATTEMPTS {
                    return Err(End::Retry(format!("every nick tried ({} and {NICK_ATTEMPTS} others) is in use", self.cfg.nick)));
                }
                self.nick = alt_nick(&self.cfg.nick, self.collisions);
                log::info!(target: "channels", "irc: nick in use; trying {}", self.nick);
                write_line(w, &format!("NICK {}", self.nick)).await?;
            }
            "001" => return Ok(Some(if m.param(0).is_empty() { self.nick.clone() } else { m.param(0).to_string() })),
            _ => {}
        }
        Ok(None)
    }

    /// `CAP LS` (possibly over several lines), `ACK` and `NAK` while asking for SASL.
    async fn capabilities<W: AsyncWrite + Unpin>(&mut self, m: &Message, w: &mut W) -> Result<(), End> {
        match m.param(1) {
            "LS" if !self.cap_done => {
                // `CAP * LS * :…` continues on the next line; the last one has no `*`.
                let caps = m.params.last().map(String::as_str).unwrap_or("");
                if caps.split(' ').any(|cap| cap == "sasl" || cap.starts_with("sasl=")) {
                    write_line(w, "CAP REQ :sasl").await?;
                } else if m.param(2) != "*" {
                    log::warn!(target: "channels", "irc: the server offers no SASL; registering without it");
                    self.cap_done = true;
                    write_line(w, "CAP END").await?;
                }
            }
            "ACK" => write_line(w, "AUTHENTICATE PLAIN").await?,
            "NAK" => {
                log::warn!(target: "channels", "irc: the server refused SASL; registering without it");
                self.cap_done = true;
                write_line(w, "CAP END").await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// `PRIVMSG NickServ :IDENTIFY <account> <password>`: the account is the configured nick, which
/// stays right when a collision gave us another one.
pub(super) fn identify_line(ns: &cfg::NickServ, account: &str) -> String {
    format!("PRIVMSG {} :IDENTIFY {account} {}", ns.service, ns.password.expose())
}

/// SASL PLAIN: `user\0user\0password`, base64, in `AUTHENTICATE` lines of at most 400 bytes.
async fn sasl_plain<W: AsyncWrite + Unpin>(w: &mut W, user: &str, password: &str) -> Result<(), End> {
    let payload = crate::encoding::base64(format!("{user}\0{user}\0{password}").as_bytes());
    let mut rest = payload.as_str();
    while rest.len() >= 400 {
        let (head, tail) = rest.split_at(400);
        write_line(w, &format!("AUTHENTICATE {head}")).await?;
        rest = tail;
    }
    write_line(w, &format!("AUTHENTICATE {}", if rest.is_empty() { "+" } else { rest })).await
}

/// The replies that end registration for good (or until the next attempt), with what to fix.
fn refusal(m: &Message, nick: &str) -> Option<End> {
    let last = || m.params.last().cloned().unwrap_or_default();
    Some(match m.command.as_str() {
        "902" | "904" | "905" | "906" => End::Fatal(
            format!("the IRC server rejected the SASL login ({} {}); check channels.irc.sasl", m.command, last()),
            HealthState::AuthFailed,
        ),
        "432" => End::Fatal(
            format!("the server refused the nick {nick:?} (432 Erroneous nickname); change channels.irc.nick"),
            HealthState::Error,
        ),
        "464" => End::Fatal("the IRC server rejected the password (464); check channels.irc.password".into(), HealthState::AuthFailed),
        "465" => End::Fatal(format!("the IRC server banned this connection (465 {})", last()), HealthState::Error),
        "ERROR" => {
            let why = m.param(0).to_string();
            let lower = why.to_ascii_lowercase();
            if lower.contains("password") || lower.contains("access denied") {
                End::Fatal(format!("the IRC server refused the connection: {why} (check channels.irc.password)"), HealthState::AuthFailed)
            } else {
                End::Retry(format!("the IRC server closed the connection while registering: {why}"))
            }
        }
        _ => return None,
    })
}
