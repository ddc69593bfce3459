//! The WebSocket upgrade on top of a request head we already parsed, and the byte stream handed to
//! tungstenite afterwards. Doing the handshake here (instead of tungstenite's `handshake`
//! feature) keeps a second HTTP parser and its dependencies out of the binary.

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use smol::io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::http::Head;
use crate::limits::WS_READ_CHUNK;

/// A valid upgrade request.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    pub key: String,
    /// The first subprotocol the client offered, echoed back as the official gateway does.
    pub protocol: Option<String>,
}

/// Why an upgrade request is refused, with the status to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRefusal {
    pub status: u16,
    pub message: &'static str,
}

/// Checks the WebSocket parts of an upgrade request (RFC 6455 §4.2.1).
pub fn check_upgrade(head: &Head) -> Result<UpgradeRequest, UpgradeRefusal> {
    if head.method != "GET" {
        return Err(UpgradeRefusal { status: 400, message: "a WebSocket upgrade must use GET" });
    }
    if head.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(UpgradeRefusal { status: 426, message: "unsupported WebSocket version; use 13" });
    }
    let key = head.header("sec-websocket-key").map(str::trim).unwrap_or("");
    if crate::encoding::base64_decode(key).map(|k| k.len()) != Some(16) {
        return Err(UpgradeRefusal { status: 400, message: "missing or invalid Sec-WebSocket-Key" });
    }
    let protocol =
        head.header("sec-websocket-protocol").and_then(|v| v.split(',').map(str::trim).find(|p| !p.is_empty())).map(str::to_string);
    Ok(UpgradeRequest { key: key.to_string(), protocol })
}

/// `Sec-WebSocket-Accept` for a client key.
pub fn accept_key(key: &str) -> String {
    const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(GUID.as_bytes());
    crate::encoding::base64(ctx.finish().as_ref())
}

/// The `101 Switching Protocols` response. No extensions are offered: no permessage-deflate,
/// like the official gateway (compression would cost memory per connection).
pub fn accept_response(req: &UpgradeRequest) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(&req.key)
    );
    if let Some(p) = &req.protocol {
        out.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// tungstenite settings for one connection. Reads happen in small chunks and writes are not
/// buffered, so an idle client costs a few KiB instead of tungstenite's 128 KiB default buffers.
/// `max_unsent` caps what may wait unsent (control frames included): a write that would pass it
/// fails, which ends the connection, so a peer that never reads cannot grow it.
pub fn config(max_payload: usize, max_unsent: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_CHUNK)
        .write_buffer_size(0)
        .max_write_buffer_size(max_unsent.max(1))
        .max_message_size(Some(max_payload))
        .max_frame_size(Some(max_payload))
}

/// The socket after the upgrade: first the bytes already read with the request head, then the
/// stream. Before authentication it also enforces a byte budget, so an unauthenticated peer
/// cannot make us buffer a large frame (tungstenite's own limit has to allow the post-auth
/// maximum, and cannot be changed on a live connection).
pub struct WsIo<S> {
    inner: S,
    prefix: Vec<u8>,
    pos: usize,
    budget: Option<usize>,
    exceeded: bool,
}

impl<S> WsIo<S> {
    pub fn new(inner: S, prefix: Vec<u8>, preauth_budget: usize) -> Self {
        WsIo { inner, prefix, pos: 0, budget: Some(preauth_budget), exceeded: false }
    }

    /// Lifts the pre-authentication budget.
    pub fn end_preauth(&mut self) {
        self.budget = None;
        self.prefix = Vec::new();
        self.pos = 0;
    }

    /// Whether a read was refused because the budget ran out.
    pub fn budget_exceeded(&self) -> bool {
        self.exceeded
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WsIo<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let mut limit = buf.len();
        if let Some(budget) = this.budget {
            if budget == 0 {
                this.exceeded = true;
                return Poll::Ready(Err(io::Error::other("pre-authentication payload too large")));
            }
            limit = limit.min(budget);
        }
        let n = if this.pos < this.prefix.len() {
            let rest = this.prefix.get(this.pos..).unwrap_or_default();
            let n = limit.min(rest.len()).min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
            this.pos += n;
            n
        } else {
            let window = limit.min(buf.len());
            match Pin::new(&mut this.inner).poll_read(cx, buf.get_mut(..window).unwrap_or_default()) {
                Poll::Ready(Ok(n)) => n,
                other => return other,
            }
        };
        if let Some(budget) = &mut this.budget {
            *budget -= n;
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// The client side of the upgrade (our own CLI talking to a gateway): sends the request, checks
/// the `101` and its accept key, and returns any bytes read past the response head.
pub async fn client_handshake<S>(stream: &mut S, host: &str, path: &str, extra_headers: &[(&str, &str)]) -> io::Result<Vec<u8>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    let mut key_bytes = [0u8; 16];
    crate::ids::random_bytes(&mut key_bytes);
    let key = crate::encoding::base64(&key_bytes);
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection during the WebSocket upgrade"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                if resp.code != Some(101) {
                    let code = resp.code.unwrap_or(0);
                    return Err(io::Error::other(format!("the server answered the WebSocket upgrade with HTTP {code}")));
                }
                let accept = resp.headers.iter().find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept")).map(|h| h.value);
                if accept != Some(accept_key(&key).as_bytes()) {
                    return Err(io::Error::other("the server sent a wrong Sec-WebSocket-Accept"));
                }
                return Ok(buf.get(len..).unwrap_or_default().to_vec());
            }
            Ok(httparse::Status::Partial) if buf.len() < 16 * 1024 => continue,
            Ok(httparse::Status::Partial) => return Err(io::Error::other("WebSocket upgrade response too large")),
            Err(e) => return Err(io::Error::other(format!("malformed WebSocket upgrade response: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smol::io::AsyncReadExt;

    #[test]
    fn accept_key_matches_rfc6455_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    fn head(headers: &[(&str, &str)]) -> Head {
        Head {
            method: "GET".into(),
            target: "/".into(),
            path: "/".into(),
            query: None,
            minor_version: 1,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn upgrade_checks_version_and_key_and_echoes_first_protocol() {
        let ok = check_upgrade(&head(&[
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "chat, superchat"),
        ]))
        .unwrap();
        assert_eq!(ok.protocol.as_deref(), Some("chat"));
        let text = String::from_utf8(accept_response(&ok)).unwrap();
        assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n") && !text.contains("extensions"), "{text}");
        let e = check_upgrade(&head(&[("sec-websocket-version", "8"), ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")])).unwrap_err();
        assert_eq!(e.status, 426);
        let e = check_upgrade(&head(&[("sec-websocket-version", "13"), ("sec-websocket-key", "short")])).unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn preauth_budget_counts_prefix_and_stream() {
        smol::block_on(async {
            let inner = smol::io::Cursor::new(vec![7u8; 100]);
            let mut io = WsIo::new(inner, vec![1, 2, 3], 10);
            let mut buf = [0u8; 64];
            assert_eq!(io.read(&mut buf).await.unwrap(), 3);
            assert_eq!(io.read(&mut buf).await.unwrap(), 7);
            assert!(io.read(&mut buf).await.is_err());
            assert!(io.budget_exceeded());
            io.end_preauth();
            assert_eq!(io.read(&mut buf).await.unwrap(), 64);
        });
    }
}
