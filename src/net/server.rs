//! Accepting TCP connections and running the HTTP/1.1 keep-alive loop on each. What a request
//! means is the [`Service`]'s business; this module only moves bytes, enforces limits and
//! deadlines, and turns every [`HttpError`] into its status in one place.

use smol::Async;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::edge::EdgeStream;
use super::http::{Conn, Deadlines, Head, HttpError, Request, Response};
use crate::limits::{ACCEPT_ERROR_BACKOFF, HTTP_LINGER_MAX_BYTES, HTTP_LINGER_TIME};

/// What an upgraded connection gets: the socket, any bytes read past the request head, its
/// place among the pending connections, which the WebSocket layer gives up once the client has
/// authenticated, and its place in the total, which it keeps for as long as the socket is open
/// (whichever task holds the connection then).
pub struct Upgraded {
    pub stream: EdgeStream,
    pub leftover: Vec<u8>,
    pub pending: Pending,
    pub count: CountGuard,
}

impl Upgraded {
    /// Refuses the upgrade with `resp`, written by the same HTTP writer as every other response,
    /// and closes the connection.
    pub async fn refuse(self, resp: Response) {
        let mut conn = Conn::new(self.stream, Deadlines::default());
        let _ = conn.write_response(resp, false, false).await;
    }
}

/// The application behind the listener.
pub trait Service: Send + Sync + 'static {
    /// Decides, from the head alone, how large a body the request may carry, or answers right
    /// away (404, 405, 401…) without reading the body.
    fn admit(&self, head: &Head, peer: SocketAddr) -> Result<usize, Response>;

    /// Answers a complete request.
    fn respond(self: &Arc<Self>, req: Request, peer: SocketAddr) -> impl Future<Output = Response> + Send;

    /// Takes over a connection that asked for `Upgrade: websocket`.
    fn upgrade(self: &Arc<Self>, head: Head, io: Upgraded, peer: SocketAddr) -> impl Future<Output = ()> + Send;

    /// The response for a request the HTTP layer rejected (status from [`HttpError::status`]).
    fn error_response(&self, status: u16, message: &str) -> Response;
}

/// Counts live connections, and those still pending (no complete request head yet, or a
/// WebSocket before its handshake), so each stays under its cap: beyond either, a new connection
/// is closed at once, before it costs more than its socket.
#[derive(Clone)]
pub struct ConnectionCount(Arc<Counts>);

struct Counts {
    total: AtomicUsize,
    pending: AtomicUsize,
    max_total: usize,
    max_pending: usize,
}

/// One connection's place in the total; released on drop.
pub struct CountGuard(Arc<Counts>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection's place among the pending ones; released on drop (or by [`Pending::done`]).
pub struct Pending(Option<Arc<Counts>>);

impl Pending {
    /// A place that counts for nothing (what is left after [`Pending::done`]).
    pub fn none() -> Pending {
        Pending(None)
    }

    /// The connection is past the cheap-to-open stage (it sent a request, or authenticated).
    pub fn done(&mut self) {
        if let Some(c) = self.0.take() {
            c.pending.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.done();
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Full {
    Total,
    Pending,
}

impl ConnectionCount {
    pub fn new(max_total: usize, max_pending: usize) -> ConnectionCount {
        ConnectionCount(Arc::new(Counts {
            total: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            max_total: max_total.max(1),
            max_pending: max_pending.max(1),
        }))
    }

    pub fn current(&self) -> usize {
        self.0.total.load(Ordering::Relaxed)
    }

    pub fn pending(&self) -> usize {
        self.0.pending.load(Ordering::Relaxed)
    }

    fn enter(&self) -> Result<(CountGuard, Pending), Full> {
        let c = &self.0;
        if c.total.fetch_add(1, Ordering::Relaxed) >= c.max_total {
            c.total.fetch_sub(1, Ordering::Relaxed);
            return Err(Full::Total);
        }
        let total = CountGuard(c.clone());
        if c.pending.fetch_add(1, Ordering::Relaxed) >= c.max_pending {
            c.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(Full::Pending);
        }
        Ok((total, Pending(Some(c.clone()))))
    }
}

/// Accepts connections on `listener` until the returned future is dropped.
pub async fn serve<S: Service>(listener: Async<TcpListener>, service: Arc<S>, count: ConnectionCount, deadlines: Deadlines) {
    loop {
        let (stream, peer) = match listener.read_with(|l| l.accept()).await {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: wait instead of spinning on a full fd table.
                log::warn!(target: "http", "accept failed: {e}");
                smol::Timer::after(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let (guard, pending) = match count.enter() {
            Ok(admitted) => admitted,
            Err(full) => {
                // Dropping the stream closes it at once. One line per refusal would let a flood
                // fill the log, so only every 100th is written.
                static REFUSED: AtomicUsize = AtomicUsize::new(0);
                let n = REFUSED.fetch_add(1, Ordering::Relaxed);
                if n % 100 == 0 {
                    let (what, limit) = match full {
                        Full::Total => ("connections open", count.0.max_total),
                        Full::Pending => ("connections waiting for their first request or handshake", count.0.max_pending),
                    };
                    log::warn!(target: "http", "connection from {peer} refused: {limit} {what} ({} refused so far)", n + 1);
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let stream = match EdgeStream::new(stream) {
            Ok(stream) => stream,
            Err(e) => {
                log::warn!(target: "http", "connection from {peer} dropped: cannot watch its socket: {e}");
                continue;
            }
        };
        crate::rt::spawn(handle_connection(stream, peer, service.clone(), deadlines, guard, pending)).detach();
    }
}

async fn handle_connection<S: Service>(
    stream: EdgeStream,
    peer: SocketAddr,
    service: Arc<S>,
    deadlines: Deadlines,
    guard: CountGuard,
    mut pending: Pending,
) {
    let mut conn = Conn::new(stream, deadlines);
    let mut idle = deadlines.first_request;
    loop {
        let head = match conn.read_head(idle).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(e) => {
                reject(&mut conn, &*service, &e).await;
                return;
            }
        };
        idle = deadlines.keepalive_idle;
        let upgrade = head.upgrade().is_some_and(|p| p.eq_ignore_ascii_case("websocket"));
        if !upgrade {
            // A WebSocket stays pending until it has authenticated; a request is past it now.
            pending.done();
        }

        if let Some(protocol) = head.upgrade() {
            if protocol.eq_ignore_ascii_case("websocket") {
                // A new task for the long-lived WebSocket, so this one (sized for HTTP request
                // handling) is freed instead of riding along for the connection's lifetime.
                let (stream, leftover) = conn.into_parts();
                let upgraded = Upgraded { stream, leftover, pending, count: guard };
                crate::rt::spawn(async move { service.upgrade(head, upgraded, peer).await }).detach();
                return;
            }
            let resp = service.error_response(400, &format!("Bad Request: cannot upgrade to {protocol:?}"));
            let _ = conn.write_response(resp, false, false).await;
            return;
        }

        let head_only = head.method == "HEAD";
        let keep_alive = head.keep_alive();
        let limit = match service.admit(&head, peer) {
            Ok(limit) => limit,
            Err(resp) => match refuse(&mut conn, &head, resp, head_only, keep_alive).await {
                AfterRefusal::Next => continue,
                AfterRefusal::Linger => {
                    linger(conn).await;
                    return;
                }
                AfterRefusal::Close => return,
            },
        };
        let body = match conn.read_body(&head, limit).await {
            Ok(body) => body,
            Err(e) => {
                reject(&mut conn, &*service, &e).await;
                linger(conn).await;
                return;
            }
        };
        let resp = service.respond(Request { head, body }, peer).await;
        let streaming = matches!(resp.body, super::http::Body::Stream(_));
        if conn.write_response(resp, head_only, keep_alive).await.is_err() || !keep_alive || streaming {
            return;
        }
    }
}

/// What becomes of a connection after a refused request.
enum AfterRefusal {
    /// Read the next request.
    Next,
    /// Drain what the client still sends for a moment, then close.
    Linger,
    /// Close now (the answer could not be written).
    Close,
}

/// Answers a request the service refused before its body was read.
async fn refuse(conn: &mut Conn<EdgeStream>, head: &Head, resp: Response, head_only: bool, keep_alive: bool) -> AfterRefusal {
    // The body (if any) was not read; the connection cannot be reused safely unless there is
    // none. A failed authentication is answered late and ends the connection, so guessing a
    // secret costs as much as it does after a body.
    let refused_auth = resp.status == 401;
    if refused_auth {
        smol::Timer::after(crate::limits::AUTH_FAILURE_DELAY).await;
    }
    let reusable = keep_alive && !has_body(head) && !refused_auth;
    if conn.write_response(resp, head_only, reusable).await.is_err() {
        return AfterRefusal::Close;
    }
    if reusable { AfterRefusal::Next } else { AfterRefusal::Linger }
}

fn has_body(head: &Head) -> bool {
    head.header("transfer-encoding").is_some() || head.header("content-length").is_some_and(|v| v.trim() != "0")
}

async fn reject<S: Service>(conn: &mut Conn<EdgeStream>, service: &S, err: &HttpError) {
    if let Some(status) = err.status() {
        log::debug!(target: "http", "rejecting request: {}", err.message());
        let _ = conn.write_response(service.error_response(status, &err.message()), false, false).await;
    }
}

/// Closes a connection whose client may still be sending a body we refused: stop writing, then
/// read and drop what arrives for a moment, so the client gets to read our error response
/// instead of a connection reset (closing with unread data makes the kernel send RST).
async fn linger(conn: Conn<EdgeStream>) {
    let (mut stream, _) = conn.into_parts();
    if stream.get_ref().shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let deadline = std::time::Instant::now() + HTTP_LINGER_TIME;
    let mut drained = 0usize;
    let mut buf = [0u8; 8192];
    while drained < HTTP_LINGER_MAX_BYTES {
        let read = super::http::deadline(deadline, smol::io::AsyncReadExt::read(&mut stream, &mut buf)).await;
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Binds a listening socket. `SO_REUSEADDR` is set by the standard library on Unix, so a
/// restarted gateway can bind while old connections sit in TIME_WAIT.
pub fn bind(addr: SocketAddr) -> io::Result<Async<TcpListener>> {
    Async::<TcpListener>::bind(addr)
}
