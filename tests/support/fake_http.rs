//! The HTTP/1.1 server plumbing the fake services share: reading one request, writing one
//! `Connection: close` response, and the accept loop. What a service answers — its error bodies,
//! routes, faults and headers of its own — stays in its fake.
//!
//! Plain std threads and blocking sockets, one thread per connection and one request per
//! connection, so the fakes share no code or runtime with the client under test. Reading and
//! writing are generic over the stream so the LLM fake can serve the same way over TLS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Longest request head (request line, headers and the blank line) a fake reads; a longer one is
/// refused with 431, so a broken client cannot make a fake (and the test) eat memory.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body the channel fakes accept (their APIs take small JSON or form bodies); a
/// larger Content-Length is refused with 413 unread.
pub const MAX_BODY: usize = 1024 * 1024;

/// One request as the fakes need it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent, query string included (fakes record it verbatim).
    pub target: String,
    /// Header names lower-cased, values trimmed, in the order received.
    pub headers: Vec<(String, String)>,
    /// Exactly Content-Length bytes (empty without one).
    pub body: Vec<u8>,
}

impl Request {
    /// The target without its query string, not percent-decoded.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target.as_str(), |(p, _)| p)
    }

    /// The query string without the `?` (empty when there is none), not decoded.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one request: a head of CRLF-terminated lines (at most [`MAX_HEAD`]) and a
/// Content-Length body (at most `max_body`, usually [`MAX_BODY`]). `Err(Some(status))` asks the fake to refuse with
/// that status — 431 head too long, 413 body too large, 411 any Transfer-Encoding (the fakes take
/// Content-Length bodies only), 400 a malformed head — which each fake answers in its service's
/// error shape, or by just closing. `Err(None)`: the peer went away or timed out first.
///
/// `Expect: 100-continue` is honoured once the body is accepted, since such a client waits for
/// it before sending the body; that is why the stream must also be writable. Bytes after the body
/// are left unread: every answer says `Connection: close`.
pub fn read_request<S: Read + Write>(stream: &mut S, max_body: usize) -> Result<Request, Option<u16>> {
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let start = head.len();
        let room = (MAX_HEAD + 1 - head.len()) as u64;
        (&mut reader).take(room).read_until(b'\n', &mut head).map_err(|_| None)?;
        if head.len() > MAX_HEAD {
            return Err(Some(431));
        }
        if !head.ends_with(b"\n") {
            return Err(None); // end of stream, before or inside a line
        }
        // A bare LF is refused rather than guessed at (the client under test must send CRLF).
        match &head[start..] {
            b"\r\n" => break,
            line if !line.ends_with(b"\r\n") => return Err(Some(400)),
            _ => {}
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target)) = (first.next().filter(|m| !m.is_empty()), first.next().filter(|t| !t.is_empty())) else {
        return Err(Some(400));
    };
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else { return Err(Some(400)) };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut req = Request { method: method.to_string(), target: target.to_string(), headers, body: Vec::new() };
    if req.header("transfer-encoding").is_some() {
        return Err(Some(411));
    }
    // Every Content-Length must be a number, and repeated ones must agree: otherwise the body's
    // end is ambiguous, which RFC 9112 §6.3 answers with 400.
    let mut lengths = req.headers.iter().filter(|(n, _)| n == "content-length").map(|(_, v)| v.parse::<usize>().map_err(|_| Some(400)));
    let len = match lengths.next() {
        None => 0,
        Some(first) => {
            let first = first?;
            if lengths.any(|l| l != Ok(first)) {
                return Err(Some(400));
            }
            first
        }
    };
    if len > max_body {
        return Err(Some(413));
    }
    if req.header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        let _ = reader.get_mut().write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        let _ = reader.get_mut().flush();
    }
    req.body = vec![0; len];
    reader.read_exact(&mut req.body).map_err(|_| None)?;
    Ok(req)
}

/// The reason phrase for the statuses the fakes answer. Clients must not depend on it (RFC 9112
/// §4), but a real server sends the registered one, and fakes quote it in error bodies.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// A response head: status line, `Content-Type`, `headers` in order, `Connection: close` (one
/// request per connection), and the blank line. For a body streamed after it (the LLM fake's
/// chunked SSE); [`respond`] is the usual way.
pub fn head(status: u16, content_type: &str, headers: &[(&str, &str)]) -> String {
    head_of(status, content_type, headers, true)
}

/// [`head`], or with `close` false one that keeps the connection (HTTP/1.1's default) for a fake
/// that serves several requests on it.
pub fn head_of(status: u16, content_type: &str, headers: &[(&str, &str)], close: bool) -> String {
    let mut head = format!("HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head
}

/// Writes a whole response with `Content-Length` and flushes; write errors are ignored, since a
/// client that went away is the test's business, not the fake's.
pub fn respond<W: Write>(stream: &mut W, status: u16, content_type: &str, headers: &[(&str, &str)], body: &[u8]) {
    respond_of(stream, status, content_type, headers, body, true);
}

/// [`respond`], keeping the connection when `close` is false.
pub fn respond_of<W: Write>(stream: &mut W, status: u16, content_type: &str, headers: &[(&str, &str)], body: &[u8], close: bool) {
    let len = body.len().to_string();
    let mut all = vec![("Content-Length", len.as_str())];
    all.extend_from_slice(headers);
    let mut out = head_of(status, content_type, &all, close).into_bytes();
    out.extend_from_slice(body);
    let _ = stream.write_all(&out);
    let _ = stream.flush();
}

/// Accepts connections on a thread of its own and serves each on another, until `stopped` says
/// so. A blocked accept only looks at the flag when the next connection arrives, so whoever sets
/// it calls [`wake`].
pub fn spawn_accept_loop<S: Send + Sync + 'static>(
    listener: TcpListener,
    shared: Arc<S>,
    stopped: fn(&S) -> bool,
    serve: fn(Arc<S>, TcpStream),
) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stopped(&shared) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let s = shared.clone();
            std::thread::spawn(move || serve(s, stream));
        }
    });
}

/// Connects once to a fake's own port so its accept loop wakes up and sees the stop flag.
pub fn wake(port: u16) {
    let _ = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A stream reading `input` and keeping what is written.
    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn read(input: impl Into<Vec<u8>>) -> (Result<Request, Option<u16>>, String) {
        let mut d = Duplex { input: Cursor::new(input.into()), output: Vec::new() };
        let r = read_request(&mut d, MAX_BODY);
        (r, String::from_utf8(d.output).unwrap())
    }

    fn refusal(input: impl Into<Vec<u8>>) -> Option<u16> {
        read(input).0.expect_err("refused")
    }

    #[test]
    fn fake_http_reads_a_request_and_honours_100_continue() {
        let (r, out) = read("POST /a/b?x=1&y HTTP/1.1\r\nX-Thing :  V \r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabcextra");
        let r = r.unwrap();
        assert_eq!((r.method.as_str(), r.target.as_str(), r.path(), r.query()), ("POST", "/a/b?x=1&y", "/a/b", "x=1&y"));
        assert_eq!((r.header("X-THING"), r.headers[0].0.as_str(), r.body.as_slice()), (Some("V"), "x-thing", &b"abc"[..]));
        assert_eq!(out, "HTTP/1.1 100 Continue\r\n\r\n");
        let (r, out) = read("GET / HTTP/1.1\r\n\r\n");
        assert_eq!((r.unwrap().body.len(), out.as_str()), (0, ""));
    }

    #[test]
    fn fake_http_refuses_what_it_cannot_frame() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(refusal(big), Some(431));
        assert_eq!(refusal(format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1)), Some(413));
        assert_eq!(refusal("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), Some(411));
        assert_eq!(refusal("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), Some(400));
        assert_eq!(refusal("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"), Some(400));
        assert_eq!(refusal("GET / HTTP/1.1\r\nno colon\r\n\r\n"), Some(400));
        assert_eq!(refusal("GET / HTTP/1.1\nHost: x\r\n\r\n"), Some(400));
        assert_eq!(refusal("GET\r\n\r\n"), Some(400));
        // The peer going away is not a refusal: nothing to answer.
        assert_eq!(refusal("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"), None);
        assert_eq!(refusal("GET / HTTP/1.1\r\nHost"), None);
        assert_eq!(refusal(""), None);
    }

    #[test]
    fn fake_http_responds_with_length_and_close() {
        let mut out = Vec::new();
        respond(&mut out, 429, "application/json", &[("Retry-After", "2")], b"{}");
        let expected = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
                        Retry-After: 2\r\nConnection: close\r\n\r\n{}";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
