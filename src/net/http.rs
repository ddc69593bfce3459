//! HTTP/1.1 on a byte stream: the request head (parsed with httparse), bodies (Content-Length and
//! chunked) under a size limit and a deadline, and responses. Every way a request can be bad is
//! one [`HttpError`] with one status, so the answers are decided in a single place.

use smol::Timer;
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::limits::{
    HTTP_BODY_TIMEOUT, HTTP_FIRST_REQUEST_TIMEOUT, HTTP_HEAD_TIMEOUT, HTTP_KEEPALIVE_IDLE, HTTP_MAX_CHUNK_LINE, HTTP_MAX_HEAD_BYTES,
    HTTP_MAX_HEADERS, HTTP_WRITE_TIMEOUT,
};

/// The deadlines of one connection (defaults from [`crate::limits`]).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// Silence allowed before the first request.
    pub first_request: Duration,
    /// Silence allowed between keep-alive requests.
    pub keepalive_idle: Duration,
    /// From the first byte of a head to its end.
    pub head: Duration,
    /// From the end of the head to the end of the body.
    pub body: Duration,
    /// For writing one response.
    pub write: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            first_request: HTTP_FIRST_REQUEST_TIMEOUT,
            keepalive_idle: HTTP_KEEPALIVE_IDLE,
            head: HTTP_HEAD_TIMEOUT,
            body: HTTP_BODY_TIMEOUT,
            write: HTTP_WRITE_TIMEOUT,
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    /// The request target as sent (`/v1/models?x=1`).
    pub target: String,
    /// The path part of the target.
    pub path: String,
    pub query: Option<String>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header names in lower case, values as text (invalid UTF-8 replaced).
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// True when a comma-separated header (like `Connection`) contains `token`.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers.iter().filter(|(n, _)| n == name).any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// Whether the client wants the connection kept open after this request.
    pub fn keep_alive(&self) -> bool {
        if self.header_has_token("connection", "close") {
            return false;
        }
        self.minor_version >= 1 || self.header_has_token("connection", "keep-alive")
    }

    /// The protocol named in `Upgrade` when the request asks for one.
    pub fn upgrade(&self) -> Option<&str> {
        if self.header_has_token("connection", "upgrade") { self.header("upgrade").map(str::trim) } else { None }
    }

    /// A query parameter's raw value.
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then_some(v)
        })
    }
}

/// A request with its body read.
#[derive(Debug)]
pub struct Request {
    pub head: Head,
    pub body: Vec<u8>,
}

/// Everything that can be wrong with a request, and the status it earns.
#[derive(Debug)]
pub enum HttpError {
    /// Malformed request; the text says what.
    BadRequest(Cow<'static, str>),
    /// The client was too slow sending its head or body.
    Timeout,
    /// The head is larger than we accept.
    HeadTooLarge,
    /// More header lines than we accept.
    TooManyHeaders,
    /// The body is larger than the route accepts.
    PayloadTooLarge { limit: usize },
    /// A transfer coding we do not implement.
    NotImplemented(&'static str),
    /// The peer went away or the socket failed; nothing can be answered.
    Io(io::Error),
}

impl HttpError {
    /// The status to answer with, or `None` when the connection is gone.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            HttpError::BadRequest(_) => 400,
            HttpError::Timeout => 408,
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::PayloadTooLarge { .. } => 413,
            HttpError::NotImplemented(_) => 501,
            HttpError::Io(_) => return None,
        })
    }

    /// A sentence for the response body that tells the client what to change.
    pub fn message(&self) -> String {
        match self {
            HttpError::BadRequest(why) => format!("Bad Request: {why}"),
            HttpError::Timeout => "Request Timeout: the request was not received in time".into(),
            HttpError::HeadTooLarge => {
                format!("Request Header Fields Too Large: the request head must be under {HTTP_MAX_HEAD_BYTES} bytes")
            }
            HttpError::TooManyHeaders => {
                format!("Request Header Fields Too Large: send at most {HTTP_MAX_HEADERS} header lines")
            }
            HttpError::PayloadTooLarge { limit } => format!("Payload Too Large: this endpoint accepts at most {limit} bytes"),
            HttpError::NotImplemented(what) => format!("Not Implemented: {what}"),
            HttpError::Io(e) => format!("connection error: {e}"),
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::TimedOut { HttpError::Timeout } else { HttpError::Io(e) }
    }
}

/// A response body.
pub enum Body {
    Empty,
    Full(Vec<u8>),
    /// Chunks sent as they arrive (server-sent events); the connection closes afterwards.
    Stream(smol::channel::Receiver<Vec<u8>>),
}

/// A response to write.
pub struct Response {
    pub status: u16,
    /// Names and values are mostly literals; `Cow` keeps those from being copied per response.
    pub headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16) -> Self {
        // Room for the usual content-type, cache and security headers without regrowing.
        Response { status, headers: Vec::with_capacity(8), body: Body::Empty }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Response::json_bytes(status, value.to_string().into_bytes())
    }

    /// A JSON answer already serialized (a constant body, for one).
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Self {
        Response::new(status).header("Content-Type", "application/json; charset=utf-8").body(body)
    }

    pub fn text(status: u16, text: &str) -> Self {
        Response::new(status).header("Content-Type", "text/plain; charset=utf-8").body(text.as_bytes().to_vec())
    }

    pub fn header(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<Cow<'static, str>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, bytes: Vec<u8>) -> Self {
        self.body = Body::Full(bytes);
        self
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Runs `fut` with a deadline; a late future becomes a `TimedOut` error.
pub async fn deadline<T>(at: Instant, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    fut.or(async {
        Timer::at(at).await;
        Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
    })
    .await
}

/// The deadline timer of one connection, kept for the connection's life and re-armed lazily.
///
/// A fresh timer for every read of a keep-alive connection meant one insertion into the reactor's
/// timer queue per request, and each insertion wakes the thread waiting in `epoll_wait` (under
/// `wrk -t2 -c50` that was a reactor wake-up per request). Here a deadline that moves later leaves
/// the timer where it is: when it goes off before the real deadline, it is re-armed once. A
/// connection answering requests all day thus touches the reactor about once per idle period.
struct Alarm {
    timer: Timer,
    /// When the timer is set to go off; `None` when it is not set.
    armed: Option<Instant>,
}

impl Alarm {
    fn new() -> Self {
        Alarm { timer: Timer::never(), armed: None }
    }

    /// Runs `fut` with a deadline; a late future becomes a `TimedOut` error. A future that is
    /// ready at once never touches the timer.
    async fn within<T>(&mut self, until: Instant, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
        let mut fut = std::pin::pin!(fut);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = fut.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            loop {
                // Set later than `until` (or not at all): bring it forward. Earlier: leave it.
                if self.armed.is_none_or(|at| at > until) {
                    self.timer.set_at(until);
                    self.armed = Some(until);
                }
                if Pin::new(&mut self.timer).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.armed = None;
                if Instant::now() >= until {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed")));
                }
                // It went off for an earlier deadline; the loop sets it to this one.
            }
        })
        .await
    }
}

/// One HTTP connection: the stream plus the bytes read from it but not yet consumed.
pub struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    deadlines: Deadlines,
    alarm: Alarm,
}

enum HeadParse {
    Complete(Head, usize),
    Partial,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S, deadlines: Deadlines) -> Self {
        Conn { stream, buf: Vec::new(), start: 0, end: 0, deadlines, alarm: Alarm::new() }
    }

    /// Gives back the stream and any bytes already read past the last request (an upgrade
    /// hands these to the WebSocket layer).
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let rest = self.buffered().to_vec();
        (self.stream, rest)
    }

    /// Read but not consumed yet (`start..end`, which the reading code keeps ordered and inside
    /// the buffer; empty otherwise, never a panic).
    fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Reads more bytes into the buffer (at most `max_total` buffered). Returns 0 at EOF.
    async fn fill(&mut self, max_total: usize, until: Instant) -> Result<usize, HttpError> {
        if self.start > 0 && (self.start == self.end || self.end == self.buf.len()) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grow = (self.buf.len().max(1024) * 2).min(max_total.max(self.end + 1));
            if grow <= self.end {
                return Err(HttpError::HeadTooLarge);
            }
            self.buf.resize(grow, 0);
        }
        let end = self.end;
        let Some(free) = self.buf.get_mut(end..) else { return Err(HttpError::HeadTooLarge) };
        let n = self.alarm.within(until, self.stream.read(free)).await?;
        self.end += n;
        Ok(n)
    }

    /// Reads the next request head. `Ok(None)` means the client closed (or stayed silent past
    /// `idle`) without starting a request — a normal end of a keep-alive connection.
    pub async fn read_head(&mut self, idle: Duration) -> Result<Option<Head>, HttpError> {
        let mut until = Instant::now() + idle;
        let mut started = !self.buffered().is_empty();
        if started {
            until = Instant::now() + self.deadlines.head;
        }
        loop {
            if started {
                match parse_head(self.buffered())? {
                    HeadParse::Complete(head, len) => {
                        self.start += len;
                        return Ok(Some(head));
                    }
                    HeadParse::Partial if self.buffered().len() >= HTTP_MAX_HEAD_BYTES => return Err(HttpError::HeadTooLarge),
                    HeadParse::Partial => {}
                }
            }
            let read = self.fill(HTTP_MAX_HEAD_BYTES, until).await;
            match read {
                Ok(0) if !started => return Ok(None),
                Ok(0) => return Err(HttpError::BadRequest("connection closed in the middle of the request head".into())),
                Ok(_) => {
                    if !started {
                        started = true;
                        until = Instant::now() + self.deadlines.head;
                    }
                }
                Err(HttpError::Timeout) if !started => return Ok(None),
                Err(HttpError::Io(_)) if !started => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the body announced by `head`, refusing more than `limit` bytes.
    pub async fn read_body(&mut self, head: &Head, limit: usize) -> Result<Vec<u8>, HttpError> {
        let until = Instant::now() + self.deadlines.body;
        match body_framing(head)? {
            Framing::None => Ok(Vec::new()),
            Framing::Length(len) => {
                if len > limit as u64 {
                    return Err(HttpError::PayloadTooLarge { limit });
                }
                let len = len as usize;
                if head.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
                    self.write_raw(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
                }
                let mut body = Vec::with_capacity(len.min(64 * 1024));
                while body.len() < len {
                    if self.buffered().is_empty() && self.fill(64 * 1024, until).await? == 0 {
                        return Err(HttpError::BadRequest("connection closed before the whole body arrived".into()));
                    }
                    let take = (len - body.len()).min(self.buffered().len());
                    body.extend_from_slice(self.buffered().get(..take).unwrap_or_default());
                    self.start += take;
                }
                Ok(body)
            }
            Framing::Chunked => {
                if head.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
                    self.write_raw(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
                }
                self.read_chunked(limit, until).await
            }
        }
    }

    async fn read_line(&mut self, max: usize, until: Instant) -> Result<Vec<u8>, HttpError> {
        loop {
            if let Some(i) = self.buffered().windows(2).position(|w| w == b"\r\n") {
                let line = self.buffered().get(..i).unwrap_or_default().to_vec();
                self.start += i + 2;
                return Ok(line);
            }
            if self.buffered().len() > max + 2 {
                return Err(HttpError::BadRequest("malformed chunk framing".into()));
            }
            if self.fill(max + 2, until).await? == 0 {
                return Err(HttpError::BadRequest("connection closed inside a chunked body".into()));
            }
        }
    }

    async fn read_chunked(&mut self, limit: usize, until: Instant) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line(HTTP_MAX_CHUNK_LINE, until).await?;
            let size_text = std::str::from_utf8(&line).unwrap_or("").split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| HttpError::BadRequest(format!("invalid chunk size {size_text:?}").into()))?;
            if size == 0 {
                // Trailer fields, then the empty line.
                loop {
                    let trailer = self.read_line(HTTP_MAX_CHUNK_LINE, until).await?;
                    if trailer.is_empty() {
                        return Ok(body);
                    }
                }
            }
            if body.len().saturating_add(size) > limit {
                return Err(HttpError::PayloadTooLarge { limit });
            }
            let mut remaining = size;
            while remaining > 0 {
                if self.buffered().is_empty() && self.fill(64 * 1024, until).await? == 0 {
                    return Err(HttpError::BadRequest("connection closed inside a chunk".into()));
                }
                let take = remaining.min(self.buffered().len());
                body.extend_from_slice(self.buffered().get(..take).unwrap_or_default());
                self.start += take;
                remaining -= take;
            }
            if !self.read_line(0, until).await?.is_empty() {
                return Err(HttpError::BadRequest("chunk data longer than its size".into()));
            }
        }
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let until = Instant::now() + self.deadlines.write;
        self.alarm
            .within(until, async {
                self.stream.write_all(bytes).await?;
                self.stream.flush().await
            })
            .await
    }

    /// Writes `resp`. `head_only` omits the body (HEAD requests); `keep_alive` chooses the
    /// `Connection` header. Streamed bodies use chunked encoding.
    pub async fn write_response(&mut self, resp: Response, head_only: bool, keep_alive: bool) -> io::Result<()> {
        use std::io::Write as _;
        let mut out = Vec::with_capacity(512);
        // Writing into a Vec cannot fail; `write!` straight into it saves a String per line.
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
        for (name, value) in &resp.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let streaming = matches!(resp.body, Body::Stream(_));
        if keep_alive && !streaming {
            out.extend_from_slice(b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n");
        } else {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        match resp.body {
            Body::Empty => {
                if resp.status >= 200 && resp.status != 204 && resp.status != 304 {
                    out.extend_from_slice(b"Content-Length: 0\r\n");
                }
                out.extend_from_slice(b"\r\n");
                self.write_raw(&out).await
            }
            Body::Full(bytes) => {
                let _ = write!(out, "Content-Length: {}\r\n\r\n", bytes.len());
                if !head_only {
                    out.extend_from_slice(&bytes);
                }
                self.write_raw(&out).await
            }
            Body::Stream(rx) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                self.write_raw(&out).await?;
                if head_only {
                    return Ok(());
                }
                while let Ok(chunk) = rx.recv().await {
                    if chunk.is_empty() {
                        continue;
                    }
                    let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                    frame.extend_from_slice(&chunk);
                    frame.extend_from_slice(b"\r\n");
                    self.write_raw(&frame).await?;
                }
                self.write_raw(b"0\r\n\r\n").await
            }
        }
    }
}

enum Framing {
    None,
    Length(u64),
    Chunked,
}

fn body_framing(head: &Head) -> Result<Framing, HttpError> {
    let te: Vec<&str> = head.headers.iter().filter(|(n, _)| n == "transfer-encoding").map(|(_, v)| v.as_str()).collect();
    let cl: Vec<&str> = head.headers.iter().filter(|(n, _)| n == "content-length").map(|(_, v)| v.as_str()).collect();
    if !te.is_empty() {
        // A request carrying both is how request smuggling starts; refuse it outright.
        if !cl.is_empty() {
            return Err(HttpError::BadRequest("both Transfer-Encoding and Content-Length".into()));
        }
        let codings: Vec<String> = te.iter().flat_map(|v| v.split(',')).map(|c| c.trim().to_ascii_lowercase()).collect();
        return match codings.as_slice() {
            [only] if only == "chunked" => Ok(Framing::Chunked),
            _ => Err(HttpError::NotImplemented("only the chunked transfer coding is supported")),
        };
    }
    let mut length: Option<u64> = None;
    for v in cl.iter().flat_map(|v| v.split(',')) {
        let v = v.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 19 {
            return Err(HttpError::BadRequest("invalid Content-Length".into()));
        }
        let n: u64 = v.parse().map_err(|_| HttpError::BadRequest("invalid Content-Length".into()))?;
        if length.is_some_and(|l| l != n) {
            return Err(HttpError::BadRequest("conflicting Content-Length values".into()));
        }
        length = Some(n);
    }
    Ok(match length {
        Some(0) | None => Framing::None,
        Some(n) => Framing::Length(n),
    })
}

fn parse_head(buf: &[u8]) -> Result<HeadParse, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; HTTP_MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(HeadParse::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(e) => return Err(HttpError::BadRequest(format!("malformed request head ({e})").into())),
    };
    let method = req.method.unwrap_or_default().to_string();
    let target = req.path.unwrap_or_default().to_string();
    let minor_version = req.version.unwrap_or(1);
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.clone(), None),
    };
    if !path.starts_with('/') && target != "*" {
        return Err(HttpError::BadRequest("the request target must be an absolute path".into()));
    }
    let headers = req.headers.iter().map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).trim().to_string())).collect();
    Ok(HeadParse::Complete(Head { method, target, path, query, minor_version, headers }, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use smol::io::Cursor;

    /// An in-memory duplex: reads come from `input`, writes collect in `output`.
    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl AsyncRead for Duplex {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<io::Result<usize>> {
            std::pin::Pin::new(&mut self.input).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Duplex {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            self.output.extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    fn conn(bytes: &[u8]) -> Conn<Duplex> {
        Conn::new(Duplex { input: Cursor::new(bytes.to_vec()), output: Vec::new() }, Deadlines::default())
    }

    #[test]
    fn parses_pipelined_requests_with_both_body_framings() {
        smol::block_on(async {
            let mut c = conn(
                b"POST /a?x=1&y HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\nGET /c HTTP/1.0\r\n\r\n",
            );
            let h = c.read_head(Duration::from_secs(1)).await.unwrap().unwrap();
            assert_eq!((h.method.as_str(), h.path.as_str()), ("POST", "/a"));
            assert_eq!(h.query_param("x"), Some("1"));
            assert_eq!(h.query_param("y"), Some(""));
            assert_eq!(c.read_body(&h, 100).await.unwrap(), b"hello");
            let h = c.read_head(Duration::from_secs(1)).await.unwrap().unwrap();
            assert_eq!(c.read_body(&h, 100).await.unwrap(), b"abcde");
            let h = c.read_head(Duration::from_secs(1)).await.unwrap().unwrap();
            assert_eq!(h.path, "/c");
            assert!(!h.keep_alive(), "HTTP/1.0 closes by default");
            assert!(c.read_head(Duration::from_secs(1)).await.unwrap().is_none());
        });
    }

    #[test]
    fn limits_are_enforced() {
        smol::block_on(async {
            let mut c = conn(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world");
            let h = c.read_head(Duration::from_secs(1)).await.unwrap().unwrap();
            assert!(matches!(c.read_body(&h, 10).await, Err(HttpError::PayloadTooLarge { limit: 10 })));

            let mut c = conn(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n");
            let h = c.read_head(Duration::from_secs(1)).await.unwrap().unwrap();
            assert!(matches!(c.read_body(&h, 10).await, Err(HttpError::PayloadTooLarge { .. })));

            let mut many = b"GET / HTTP/1.1\r\n".to_vec();
            for i in 0..(HTTP_MAX_HEADERS + 1) {
                many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
            }
            many.extend_from_slice(b"\r\n");
            assert!(matches!(conn(&many).read_head(Duration::from_secs(1)).await, Err(HttpError::TooManyHeaders)));

            let mut huge = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
            huge.extend(std::iter::repeat_n(b'a', HTTP_MAX_HEAD_BYTES + 10));
            assert!(matches!(conn(&huge).read_head(Duration::from_secs(1)).await, Err(HttpError::HeadTooLarge)));
        });
    }

    #[test]
    fn rejects_ambiguous_framing() {
        smol::block_on(async {
            for raw in [
                &b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            ] {
                let mut c = conn(raw);
                let h = c.read_head(Duration::from_secs(1)).await.unwrap().unwrap();
                let e = c.read_body(&h, 100).await.unwrap_err();
                assert!(matches!(e.status(), Some(400 | 501)), "{raw:?} -> {e:?}");
            }
            let e = conn(b"GARBAGE\r\n\r\n").read_head(Duration::from_secs(1)).await.unwrap_err();
            assert_eq!(e.status(), Some(400));
        });
    }

    #[test]
    fn writes_responses_with_length_and_connection_headers() {
        smol::block_on(async {
            let mut c = conn(b"");
            let r = Response::text(404, "Not Found");
            c.write_response(r, false, true).await.unwrap();
            let out = String::from_utf8(c.into_parts().0.output).unwrap();
            assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
            assert!(out.contains("Content-Length: 9\r\n"));
            assert!(out.contains("Connection: keep-alive\r\n"));
            assert!(out.ends_with("\r\n\r\nNot Found"));

            let mut c = conn(b"");
            c.write_response(Response::text(200, "abc"), true, false).await.unwrap();
            let out = String::from_utf8(c.into_parts().0.output).unwrap();
            assert!(out.contains("Content-Length: 3\r\n") && out.ends_with("\r\n\r\n"), "HEAD keeps length, drops body: {out}");
        });
    }

    /// Ready after `delay` with `Ok(())`.
    async fn after(delay: Duration) -> io::Result<()> {
        Timer::after(delay).await;
        Ok(())
    }

    #[test]
    fn a_connection_alarm_keeps_every_deadline_it_is_given() {
        smol::block_on(async {
            let mut alarm = Alarm::new();

            // Ready at once: the timer is not even set.
            alarm.within(Instant::now() + Duration::from_secs(1), async { Ok(()) }).await.unwrap();
            assert!(alarm.armed.is_none());

            // Done in time: the timer stays set for that deadline.
            let first = Instant::now() + Duration::from_millis(300);
            alarm.within(first, after(Duration::from_millis(20))).await.unwrap();
            assert_eq!(alarm.armed, Some(first));

            // A later deadline leaves the timer at the earlier one; when that goes off, the wait
            // goes on until its own deadline, and not longer.
            let started = Instant::now();
            let later = started + Duration::from_millis(700);
            let e = alarm.within(later, std::future::pending::<io::Result<()>>()).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert!(Instant::now() >= later, "timed out early, at the earlier deadline");
            assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());

            // A later deadline that is met: the early alarm is only a wake-up, not a timeout.
            let started = Instant::now();
            alarm.within(started + Duration::from_millis(200), after(Duration::from_millis(10))).await.unwrap();
            alarm.within(started + Duration::from_secs(5), after(Duration::from_millis(400))).await.unwrap();

            // An earlier deadline moves the timer forward.
            alarm.within(Instant::now() + Duration::from_secs(30), after(Duration::from_millis(10))).await.unwrap();
            let started = Instant::now();
            let e = alarm.within(started + Duration::from_millis(150), std::future::pending::<io::Result<()>>()).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert!(started.elapsed() < Duration::from_secs(2), "waited for the old, later deadline: {:?}", started.elapsed());
        });
    }

    #[test]
    fn expect_continue_is_answered_before_the_body() {
        smol::block_on(async {
            let mut c = conn(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok");
            let h = c.read_head(Duration::from_secs(1)).await.unwrap().unwrap();
            assert_eq!(c.read_body(&h, 10).await.unwrap(), b"ok");
            assert_eq!(c.into_parts().0.output, b"HTTP/1.1 100 Continue\r\n\r\n");
        });
    }
}
