//! A small HTTP/1.1 client for the APIs the gateway calls (model providers, chat services): plain
//! or TLS, with a deadline on every step so a silent server can never hang a caller. A request is
//! one connection unless it asks for [`Request::keep_alive`]: then its connection goes back to
//! [`super::pool`] when the caller [`Response::finish`]es the body. Bodies are read a piece at a
//! time, which is what server-sent event streams need; [`Response::text`] collects small bodies
//! (error messages) up to a limit.

use smol::Async;
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::pool;
use super::tls::{self, TlsStream};
use crate::limits::{CLIENT_MAX_CHUNK_LINE, CLIENT_MAX_HEAD_BYTES, CLIENT_POOL_DRAIN_BYTES, CLIENT_POOL_DRAIN_TIME, CLIENT_READ_BUFFER};

pub use crate::url::Url;

/// A connected socket, plain or TLS.
pub enum Stream {
    Plain(Async<TcpStream>),
    Tls(Box<TlsStream<Async<TcpStream>>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    let what = what.to_string();
    fut.or(async move {
        smol::Timer::after(limit).await;
        Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out after {} ms", limit.as_millis())))
    })
    .await
}

/// Opens a connection to `url`'s host (TLS for `https`), trying each resolved address in turn.
pub async fn connect(url: &Url, timeout: Duration) -> io::Result<Stream> {
    let deadline = Instant::now() + timeout;
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let addrs: Vec<SocketAddr> = within(remaining(), "DNS lookup", smol::net::resolve((url.host.as_str(), url.port))).await?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{} did not resolve to any address", url.host));
    for addr in addrs {
        match within(remaining(), "connect", Async::<TcpStream>::connect(addr)).await {
            Ok(tcp) => {
                let _ = tcp.get_ref().set_nodelay(true);
                if !url.https {
                    return Ok(Stream::Plain(tcp));
                }
                return within(remaining(), "TLS handshake", tls::connect(&url.host, tcp)).await.map(|s| Stream::Tls(Box::new(s)));
            }
            Err(e) => last = io::Error::new(e.kind(), format!("{addr}: {e}")),
        }
    }
    Err(last)
}

/// An outbound request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the connection may be reused (see [`Request::keep_alive`]).
    pub keep_alive: bool,
}

impl Request {
    pub fn new(method: &'static str, url: Url) -> Request {
        Request { method, url, headers: Vec::new(), body: Vec::new(), keep_alive: false }
    }

    /// Sends the request on an idle connection to the same server when the pool has one, and
    /// lets the connection serve the next request once the body is [`Response::finish`]ed.
    pub fn keep_alive(mut self) -> Request {
        self.keep_alive = true;
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn json(mut self, body: &serde_json::Value) -> Request {
        self.body = body.to_string().into_bytes();
        self.header("Content-Type", "application/json")
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(format!("{} {} HTTP/1.1\r\nHost: {}\r\n", self.method, self.url.path, self.url.authority()).as_bytes());
        let has = |name: &str| self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !has("user-agent") {
            out.extend_from_slice(format!("User-Agent: openclaw/{}\r\n", crate::VERSION).as_bytes());
        }
        for (name, value) in &self.headers {
            // A header value with a line break would let a config value inject headers.
            let value: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if !self.body.is_empty() || matches!(self.method, "POST" | "PUT" | "PATCH") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        // HTTP/1.1 connections are persistent unless one side says otherwise.
        if !self.keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Deadlines for one exchange.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// DNS, TCP connect and TLS handshake together.
    pub connect: Duration,
    /// From the request being sent to the response head being in.
    pub head: Duration,
    /// Longest silence while reading the body.
    pub idle: Duration,
}

/// Sends `req` and reads the response head; the body is read from the [`Response`].
pub async fn send(req: &Request, t: &Timeouts) -> io::Result<Response> {
    let bytes = req.encode();
    if !req.keep_alive {
        return exchange(connect(&req.url, t.connect).await?, &bytes, req.method, t).await;
    }
    let key = pool::Key::of(&req.url);
    if let Some(idle) = pool::take(&key) {
        match exchange(idle, &bytes, req.method, t).await {
            Ok(resp) => return Ok(resp.returning_to(key)),
            // The server closed the idle connection as it was reused and answered nothing, so
            // the request is sent once more on a new connection (what browsers and Go's client
            // do in this case too). Any other failure is the caller's.
            Err(e) if closed_unanswered(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let resp = exchange(connect(&req.url, t.connect).await?, &bytes, req.method, t).await?;
    Ok(resp.returning_to(key))
}

/// Writes an encoded request on `stream` and reads the answer's head.
async fn exchange(mut stream: Stream, bytes: &[u8], method: &str, t: &Timeouts) -> io::Result<Response> {
    within(t.head, "sending the request", async {
        stream.write_all(bytes).await?;
        stream.flush().await
    })
    .await?;
    read_response(stream, method, t).await
}

/// Whether an exchange failed because the connection was already closed, before any byte of an
/// answer: a failed write, or an end of stream or reset where the head should have begun.
fn closed_unanswered(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::UnexpectedEof
    )
}

/// Reads the response to a request already sent on `stream` (the head within `t.head`) and
/// decides how its body is delimited. Generic over the stream so the fuzz target can feed it
/// from memory; the program only ever uses [`Stream`].
pub async fn read_response<S: AsyncRead + Unpin>(mut stream: S, method: &str, t: &Timeouts) -> io::Result<Response<S>> {
    let deadline = Instant::now() + t.head;
    let mut buf = Vec::with_capacity(CLIENT_READ_BUFFER);
    loop {
        let (status, headers, consumed, http11) = read_head(&mut stream, &mut buf, deadline).await?;
        buf.drain(..consumed);
        // 1xx responses (100 Continue, 103 Early Hints) precede the real one.
        if (100..200).contains(&status) {
            continue;
        }
        let mut resp = Response { status, headers, stream, buf, framing: Framing::Close, idle: t.idle, persistent: http11, pool: None };
        if resp.header("connection").is_some_and(|v| v.to_ascii_lowercase().contains("close")) {
            resp.persistent = false;
        }
        resp.framing = if method == "HEAD" || status == 204 || status == 304 {
            Framing::Done
        } else if resp.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            Framing::ChunkSize
        } else if let Some(len) = resp.header("content-length") {
            let len = len.trim().parse::<u64>().map_err(|_| bad_data(format!("invalid Content-Length {len:?}")))?;
            if len == 0 { Framing::Done } else { Framing::Length(len) }
        } else {
            Framing::Close
        };
        return Ok(resp);
    }
}

async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> io::Result<(u16, Vec<(String, String)>, usize, bool)> {
    loop {
        if let Some(end) = find_head_end(buf) {
            let mut storage = [httparse::EMPTY_HEADER; 100];
            let mut parsed = httparse::Response::new(&mut storage);
            match parsed.parse(buf.get(..end).unwrap_or_default()) {
                Ok(httparse::Status::Complete(_)) => {}
                Ok(httparse::Status::Partial) => return Err(bad_data("incomplete response head".into())),
                Err(e) => return Err(bad_data(format!("malformed response head: {e}"))),
            }
            let status = parsed.code.unwrap_or(0);
            let headers =
                parsed.headers.iter().map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).trim().to_string())).collect();
            return Ok((status, headers, end, parsed.version == Some(1)));
        }
        if buf.len() > CLIENT_MAX_HEAD_BYTES {
            return Err(bad_data(format!("response head larger than {CLIENT_MAX_HEAD_BYTES} bytes")));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = within(left, "waiting for the response", read_more(stream, buf)).await?;
        if n == 0 && buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a response"));
        }
        if n == 0 {
            // Not UnexpectedEof: part of an answer arrived, so the request must not be resent.
            return Err(bad_data("connection closed inside the response head".into()));
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads once into `buf`. Cancel-safe: `buf` changes only after the read completed, so a caller
/// may drop this future (racing it against a timer) without corrupting the buffer.
async fn read_more<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut scratch = [0u8; CLIENT_READ_BUFFER];
    let n = stream.read(&mut scratch).await?;
    buf.extend_from_slice(scratch.get(..n).unwrap_or_default());
    Ok(n)
}

fn bad_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// How the rest of the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// This many body bytes remain.
    Length(u64),
    /// Next comes a chunk-size line.
    ChunkSize,
    /// Inside a chunk, this many bytes remain.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Until the server closes the connection.
    Close,
    Done,
}

/// A response whose body has not been read yet.
pub struct Response<S = Stream> {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    stream: S,
    /// Bytes read from the socket and not handed out yet.
    buf: Vec<u8>,
    framing: Framing,
    idle: Duration,
    /// HTTP/1.1 without `Connection: close`: the server keeps the connection after this answer.
    persistent: bool,
    /// Where the connection goes back after the body, for a keep-alive request.
    pool: Option<pool::Key>,
}

impl<S: AsyncRead + Unpin> Response<S> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `Retry-After` (delay in seconds or an HTTP date) or `retry-after-ms` (OpenAI), if present.
    pub fn retry_after(&self) -> Option<Duration> {
        if let Some(ms) = self.header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
            return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_millis(ms as u64));
        }
        let v = self.header("retry-after")?.trim();
        if let Ok(secs) = v.parse::<f64>() {
            return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_millis((secs * 1000.0) as u64));
        }
        let at = crate::clock::parse_http_date(v)?;
        Some(Duration::from_millis(at.saturating_sub(crate::clock::now_ms())))
    }

    /// The next piece of the body (`None` at its end). Fails if the server goes quiet for longer
    /// than the idle timeout or the connection ends early.
    pub async fn chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            match self.framing {
                Framing::Done => return Ok(None),
                Framing::Length(left) => {
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        return Err(early_eof(left));
                    }
                    let n = (left.min(self.buf.len() as u64)) as usize;
                    let out: Vec<u8> = self.buf.drain(..n).collect();
                    self.framing = if left == n as u64 { Framing::Done } else { Framing::Length(left - n as u64) };
                    return Ok(Some(out));
                }
                Framing::Close => {
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        self.framing = Framing::Done;
                        return Ok(None);
                    }
                    return Ok(Some(std::mem::take(&mut self.buf)));
                }
                Framing::ChunkSize => {
                    let line = self.line().await?;
                    let size_text = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size_text, 16).map_err(|_| bad_data(format!("invalid chunk size line {line:?}")))?;
                    if size == 0 {
                        // Trailers, then the blank line that ends the body.
                        while !self.line().await?.is_empty() {}
                        self.framing = Framing::Done;
                        return Ok(None);
                    }
                    self.framing = Framing::ChunkData(size);
                }
                Framing::ChunkData(left) => {
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        return Err(early_eof(left));
                    }
                    let n = (left.min(self.buf.len() as u64)) as usize;
                    let out: Vec<u8> = self.buf.drain(..n).collect();
                    self.framing = if left == n as u64 { Framing::ChunkEnd } else { Framing::ChunkData(left - n as u64) };
                    return Ok(Some(out));
                }
                Framing::ChunkEnd => {
                    if !self.line().await?.is_empty() {
                        return Err(bad_data("chunk data longer than its declared size".into()));
                    }
                    self.framing = Framing::ChunkSize;
                }
            }
        }
    }

    /// The body as text: at most `limit` bytes, read within `total` (a server trickling an
    /// endless body cannot hold the caller). A longer body is cut at the limit.
    pub async fn text(&mut self, limit: usize, total: Duration) -> io::Result<String> {
        let read = async {
            let mut out = Vec::new();
            while out.len() < limit {
                let Some(piece) = self.chunk().await? else { break };
                let room = limit - out.len();
                out.extend_from_slice(piece.get(..room).unwrap_or(&piece));
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        };
        within(total, "reading the response body", read).await
    }

    async fn fill(&mut self) -> io::Result<usize> {
        within(self.idle, "reading the response", read_more(&mut self.stream, &mut self.buf)).await
    }

    /// One CRLF-terminated line of the chunked framing, without the CRLF.
    async fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(self.buf.get(..i).unwrap_or_default()).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > CLIENT_MAX_CHUNK_LINE {
                return Err(bad_data("chunk framing line too long".into()));
            }
            if self.fill().await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside the chunked body"));
            }
        }
    }
}

impl Response<Stream> {
    fn returning_to(mut self, key: pool::Key) -> Response {
        if self.persistent {
            self.pool = Some(key);
        }
        self
    }

    /// Done with this response: a keep-alive connection goes back to the pool for the next
    /// request to the same server once its body has ended exactly where the framing said. What is
    /// left of the body (typically the end of a chunked stream, which arrives just after the last
    /// event) is read in the background, at most [`CLIENT_POOL_DRAIN_BYTES`] within
    /// [`CLIENT_POOL_DRAIN_TIME`]; a longer remainder closes the connection instead, which is also
    /// how a stream that is still producing (an aborted run) is stopped at the server.
    pub fn finish(mut self) {
        let Some(key) = self.pool.take() else { return };
        if self.framing == Framing::Close {
            return;
        }
        if self.framing == Framing::Done {
            if self.buf.is_empty() {
                pool::put(key, self.stream);
            }
            return;
        }
        crate::rt::spawn(async move {
            let drained = within(CLIENT_POOL_DRAIN_TIME, "reading the end of the body", async {
                let mut read = 0;
                while let Some(piece) = self.chunk().await? {
                    read += piece.len();
                    if read > CLIENT_POOL_DRAIN_BYTES {
                        return Err(bad_data("the rest of the body is too long to read for reuse".into()));
                    }
                }
                Ok(())
            })
            .await;
            if drained.is_ok() && self.buf.is_empty() {
                pool::put(key, self.stream);
            }
        })
        .detach();
    }
}

fn early_eof(left: u64) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, format!("connection closed with {left} body bytes missing"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot server that writes `reply` in two halves and records the request.
    fn serve_once(reply: &'static [u8]) -> (Url, std::thread::JoinHandle<Vec<u8>>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://127.0.0.1:{}/base", l.local_addr().unwrap().port())).unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = vec![0u8; 4096];
            let n = s.read(&mut req).unwrap();
            let (a, b) = reply.split_at(reply.len() / 2);
            s.write_all(a).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            s.write_all(b).unwrap();
            req.truncate(n);
            req
        });
        (url, t)
    }

    fn timeouts() -> Timeouts {
        Timeouts { connect: Duration::from_secs(2), head: Duration::from_secs(2), idle: Duration::from_millis(500) }
    }

    #[test]
    fn reads_a_chunked_body_and_sends_a_well_formed_request() {
        let (url, server) =
            serve_once(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=1\r\n, world\r\n0\r\n\r\n");
        let body = smol::block_on(async {
            let req = Request::new("POST", url.join("chat")).json(&serde_json::json!({"a": 1})).header("X-Key", "v\r\nInjected: 1");
            let mut resp = send(&req, &timeouts()).await.unwrap();
            assert_eq!(resp.status, 200);
            resp.text(1 << 20, Duration::from_secs(2)).await.unwrap()
        });
        assert_eq!(body, "hello, world");
        let req = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(req.starts_with("POST /base/chat HTTP/1.1\r\nHost: 127.0.0.1:"), "{req}");
        assert!(req.contains("X-Key: vInjected: 1\r\n"), "header values cannot inject lines: {req}");
        assert!(req.ends_with("Content-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}"), "{req}");
    }

    #[test]
    fn a_body_cut_short_is_an_error_not_a_short_read() {
        let (url, _server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        let err = smol::block_on(async {
            let mut resp = send(&Request::new("GET", url), &timeouts()).await.unwrap();
            resp.text(100, Duration::from_secs(2)).await.unwrap_err()
        });
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn an_endless_body_is_cut_at_the_limit() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port())).unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req);
            let _ = s.write_all(b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n");
            while s.write_all(&[b'x'; 4096]).is_ok() {}
        });
        let text = smol::block_on(async {
            let mut resp = send(&Request::new("GET", url), &timeouts()).await.unwrap();
            resp.text(10_000, Duration::from_secs(2)).await.unwrap()
        });
        assert_eq!(text.len(), 10_000);
    }

    #[test]
    fn a_silent_server_times_out() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port())).unwrap();
        let _hold = std::thread::spawn(move || {
            let conn = l.accept();
            std::thread::sleep(Duration::from_secs(2));
            drop(conn);
        });
        let t = Timeouts { connect: Duration::from_secs(1), head: Duration::from_millis(200), idle: Duration::from_millis(200) };
        let started = Instant::now();
        let err = smol::block_on(send(&Request::new("GET", url), &t)).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let (url, _server) = serve_once(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n");
        let resp = smol::block_on(send(&Request::new("GET", url), &timeouts())).unwrap();
        assert_eq!(resp.retry_after(), Some(Duration::from_secs(2)));
        let (url, _server) =
            serve_once(b"HTTP/1.1 429 Too Many Requests\r\nretry-after-ms: 150\r\nretry-after: 1\r\nContent-Length: 0\r\n\r\n");
        let resp = smol::block_on(send(&Request::new("GET", url), &timeouts())).unwrap();
        assert_eq!(resp.retry_after(), Some(Duration::from_millis(150)));
    }
}
