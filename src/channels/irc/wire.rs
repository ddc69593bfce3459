//! The IRC wire: parsing one server line, reading lines off the socket, and deciding which
//! `PRIVMSG` is for the agent.

use smol::io::{AsyncRead, AsyncReadExt};

use super::super::journal::Inbound;
use super::LINE_MAX;

/// The most we buffer of one incoming line (message tags may add up to 8 KiB before it).
const READ_LINE_MAX: usize = 8 * 1024 + LINE_MAX;

/// One parsed line: `:prefix COMMAND params… :trailing`.
#[derive(Debug, PartialEq)]
pub(super) struct Message {
    pub(super) prefix: Option<String>,
    pub(super) command: String,
    pub(super) params: Vec<String>,
}

impl Message {
    pub(super) fn parse(line: &str) -> Option<Message> {
        let mut rest = line.trim_end_matches(['\r', '\n']);
        // Message tags are not used.
        if let Some(r) = rest.strip_prefix('@') {
            rest = r.split_once(' ').map(|(_, r)| r).unwrap_or("");
        }
        rest = rest.trim_start_matches(' ');
        let mut prefix = None;
        if let Some(r) = rest.strip_prefix(':') {
            let (p, r) = r.split_once(' ')?;
            prefix = Some(p.to_string());
            rest = r.trim_start_matches(' ');
        }
        let (command, mut rest) = match rest.split_once(' ') {
            Some((c, r)) => (c, r),
            None => (rest, ""),
        };
        if command.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_string());
                break;
            }
            match rest.split_once(' ') {
                Some((p, r)) => {
                    params.push(p.to_string());
                    rest = r;
                }
                None => {
                    params.push(rest.to_string());
                    break;
                }
            }
        }
        Some(Message { prefix, command: command.to_ascii_uppercase(), params })
    }

    pub(super) fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    /// The nick in the prefix (`nick!user@host`).
    pub(super) fn nick(&self) -> &str {
        let p = self.prefix.as_deref().unwrap_or("");
        p.split(['!', '@']).next().unwrap_or("")
    }
}

/// Reads CRLF- (or LF-) terminated lines, at most [`READ_LINE_MAX`] bytes each. Cancel-safe: a
/// dropped `next` loses nothing.
pub(super) struct Lines<R> {
    pub(super) inner: R,
    pub(super) buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    pub(super) async fn next(&mut self) -> std::io::Result<Option<String>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Ok(Some(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string()));
            }
            if self.buf.len() > READ_LINE_MAX {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the server sent a line over 8 KiB"));
            }
            let mut chunk = [0u8; 2048];
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
}

/// Whether `text` starts with `nick` as an address (`nick: …`, `nick, …`, `nick …`, `@nick …`);
/// returns the text after it.
pub(super) fn addressed<'a>(text: &'a str, nick: &str) -> Option<&'a str> {
    let t = text.trim_start();
    let t = t.strip_prefix('@').unwrap_or(t);
    if nick.is_empty() || t.len() < nick.len() || !t.is_char_boundary(nick.len()) {
        return None;
    }
    let (head, rest) = t.split_at(nick.len());
    if !head.eq_ignore_ascii_case(nick) {
        return None;
    }
    match rest.chars().next() {
        None => Some(""),
        Some(':' | ',' | ' ' | ';') => Some(rest.trim_start_matches([':', ',', ';']).trim_start()),
        _ => None,
    }
}

/// A PRIVMSG the agent should see.
pub(super) fn inbound(m: &Message, me: &str, id: &str) -> Option<Inbound> {
    let sender = m.nick();
    if sender.is_empty() || sender.eq_ignore_ascii_case(me) || sender.contains('.') {
        // Our own echo, or a server notice.
        return None;
    }
    let to = m.param(0);
    let mut text = m.param(1).to_string();
    if let Some(ctcp) = text.strip_prefix('\u{1}') {
        let ctcp = ctcp.trim_end_matches('\u{1}');
        // /me is a message; other CTCP queries (VERSION, PING…) are not for the agent.
        text = format!("* {sender} {}", ctcp.strip_prefix("ACTION ")?);
    }
    let group = !to.eq_ignore_ascii_case(me);
    let (text, mentioned) = match addressed(&text, me) {
        Some(rest) if group => (rest.to_string(), true),
        _ => (text, false),
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        return None;
    }
    Some(Inbound {
        id: id.to_string(),
        chat: if group { to.to_string() } else { sender.to_string() },
        sender: sender.to_string(),
        sender_label: sender.to_string(),
        group,
        mentioned,
        text,
        reply_to: None,
        cursor: None,
        received_at: 0,
    })
}
