//! Idle keep-alive connections to the servers the gateway calls again and again (model providers).
//! Reusing one saves the DNS lookup, the TCP connect and, above all, the TLS handshake on the next
//! request — on a Raspberry Pi talking to a provider across the internet that is tens to hundreds
//! of milliseconds before the first token of every turn and every tool round.
//!
//! A connection enters the pool only when its response ended exactly where its framing said
//! (so no stray bytes can be read as the next answer) and the server did not say
//! `Connection: close`. It leaves the pool when taken, when it has been idle for
//! [`CLIENT_POOL_IDLE`], or when the pool is full. A server may still close an idle connection
//! first: [`take`] skips sockets that show an end of stream or unexpected bytes, and
//! [`super::client::send`] retries once on a fresh connection when a reused one fails before any
//! byte of the answer arrived.

use std::sync::Mutex;
use std::time::Instant;

use super::client::{Stream, Url};
use crate::limits::{CLIENT_POOL_IDLE, CLIENT_POOL_MAX, CLIENT_POOL_PER_SERVER};

/// Which connections may serve a request: same scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    https: bool,
    host: String,
    port: u16,
}

impl Key {
    pub fn of(url: &Url) -> Key {
        Key { https: url.https, host: url.host.clone(), port: url.port }
    }
}

struct Idle {
    key: Key,
    stream: Stream,
    since: Instant,
}

/// A plain `Mutex<Vec>`: a handful of entries, held for a scan and a push or remove, never across
/// an await, so an owner task would only add a hop to every model call.
static IDLE: Mutex<Vec<Idle>> = Mutex::new(Vec::new());

/// An idle connection to `key`'s server that still looks open, most recently used first.
pub fn take(key: &Key) -> Option<Stream> {
    let mut closed = Vec::new();
    let found = {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        closed.extend(drain_expired(&mut idle));
        loop {
            let Some(pos) = idle.iter().rposition(|c| c.key == *key) else { break None };
            let conn = idle.remove(pos);
            if looks_open(&conn.stream) {
                break Some(conn.stream);
            }
            closed.push(conn);
        }
    };
    // Sockets are closed (and leave the reactor) outside the lock.
    drop(closed);
    found
}

/// Keeps `stream` for the next request to `key`'s server, dropping the oldest connections when
/// that server or the whole pool has its fill.
pub fn put(key: Key, stream: Stream) {
    let mut closed = Vec::new();
    {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        closed.extend(drain_expired(&mut idle));
        if idle.iter().filter(|c| c.key == key).count() >= CLIENT_POOL_PER_SERVER {
            if let Some(oldest) = idle.iter().position(|c| c.key == key) {
                closed.push(idle.remove(oldest));
            }
        }
        if idle.len() >= CLIENT_POOL_MAX {
            closed.push(idle.remove(0));
        }
        idle.push(Idle { key, stream, since: Instant::now() });
    }
    drop(closed);
}

/// How many idle connections the pool holds (for tests).
#[cfg(test)]
pub fn idle_to(key: &Key) -> usize {
    IDLE.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|c| c.key == *key).count()
}

fn drain_expired(idle: &mut Vec<Idle>) -> Vec<Idle> {
    let (old, fresh): (Vec<Idle>, Vec<Idle>) = std::mem::take(idle).into_iter().partition(|c| c.since.elapsed() >= CLIENT_POOL_IDLE);
    *idle = fresh;
    old
}

/// Whether an idle socket is still usable: nothing to read yet. An end of stream means the server
/// closed it; bytes mean it sent something unasked (a TLS close alert, a late error), and either
/// way the next answer could not be trusted.
fn looks_open(stream: &Stream) -> bool {
    let tcp = match stream {
        Stream::Plain(s) => s.get_ref(),
        Stream::Tls(s) => s.get_ref().0.get_ref(),
    };
    let mut probe = [0u8; 1];
    matches!(tcp.peek(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    //! The pool as callers see it, through `client::send` and `Response::finish`, against small
    //! blocking servers.
    use super::*;
    use crate::net::client::{Request, Timeouts, send};
    use std::io::{self, Read, Write};
    use std::time::Duration;

    fn timeouts() -> Timeouts {
        Timeouts { connect: Duration::from_secs(2), head: Duration::from_secs(2), idle: Duration::from_millis(500) }
    }

    /// A keep-alive server: each accepted connection answers requests until the client closes it
    /// or `close_after` answers were sent; then it closes at once, or with `close_on_next_request`
    /// only when the next request has arrived (unanswered). Returns the URL and the number of
    /// connections accepted.
    fn serve_keep_alive(close_after: usize, reply: &'static [u8]) -> (Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        serve(close_after, false, reply)
    }

    fn serve(
        close_after: usize,
        close_on_next_request: bool,
        reply: &'static [u8],
    ) -> (Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://127.0.0.1:{}/v1", l.local_addr().unwrap().port())).unwrap();
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut s) = conn else { return };
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    for answered in 0.. {
                        let mut got = Vec::new();
                        let mut buf = [0u8; 4096];
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        if answered >= close_after {
                            return;
                        }
                        if s.write_all(reply).is_err() {
                            return;
                        }
                        if answered + 1 >= close_after && !close_on_next_request {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    fn get_text(url: &Url) -> io::Result<String> {
        smol::block_on(async {
            let mut resp = send(&Request::new("GET", url.join("models")).keep_alive(), &timeouts()).await?;
            let text = resp.text(1024, Duration::from_secs(2)).await?;
            resp.finish();
            Ok(text)
        })
    }

    #[test]
    fn a_keep_alive_request_reuses_the_connection_once_its_body_is_finished() {
        use std::sync::atomic::Ordering;
        let (url, accepted) = serve_keep_alive(usize::MAX, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
        for _ in 0..3 {
            assert_eq!(get_text(&url).unwrap(), "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "three requests, one connection");
        assert_eq!(idle_to(&Key::of(&url)), 1);
        // A response that is dropped before it was finished takes its connection with it.
        smol::block_on(async {
            let resp = send(&Request::new("GET", url.join("models")).keep_alive(), &timeouts()).await.unwrap();
            assert_eq!(resp.status, 200);
        });
        assert_eq!(idle_to(&Key::of(&url)), 0);
        assert_eq!(get_text(&url).unwrap(), "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_connection_the_server_closed_while_idle_is_replaced_and_the_request_is_answered() {
        use std::sync::atomic::Ordering;
        // One answer per connection, but without `Connection: close`: the client finds out only
        // when it reuses the connection.
        let (url, accepted) = serve_keep_alive(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(get_text(&url).unwrap(), "ok");
        assert_eq!(idle_to(&Key::of(&url)), 1);
        // Either seen closed when taken, or closed under the request and sent again: answered.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(get_text(&url).unwrap(), "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_request_on_a_connection_closed_under_it_is_sent_again_on_a_new_one() {
        use std::sync::atomic::Ordering;
        // The server closes only when the second request has arrived: the idle connection looked
        // open when taken, and the request was read but not answered.
        let (url, accepted) = serve(1, true, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        for _ in 0..4 {
            assert_eq!(get_text(&url).unwrap(), "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn connection_close_http_1_0_and_plain_requests_are_not_kept() {
        let (url, _) = serve_keep_alive(usize::MAX, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(get_text(&url).unwrap(), "ok");
        assert_eq!(idle_to(&Key::of(&url)), 0);
        let (url, _) = serve_keep_alive(usize::MAX, b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(get_text(&url).unwrap(), "ok");
        assert_eq!(idle_to(&Key::of(&url)), 0);
        let (url, _) = serve_keep_alive(usize::MAX, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        smol::block_on(async {
            let mut resp = send(&Request::new("GET", url.clone()), &timeouts()).await.unwrap();
            assert_eq!(resp.text(10, Duration::from_secs(1)).await.unwrap(), "ok");
            resp.finish();
        });
        assert_eq!(idle_to(&Key::of(&url)), 0, "a request that did not ask for keep-alive said Connection: close");
    }

    #[test]
    fn the_end_of_a_body_left_unread_is_drained_in_the_background_before_reuse() {
        use std::sync::atomic::Ordering;
        let (url, accepted) =
            serve_keep_alive(usize::MAX, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n");
        crate::rt::block_on(async {
            let mut resp = send(&Request::new("POST", url.join("chat")).keep_alive(), &timeouts()).await.unwrap();
            assert_eq!(resp.chunk().await.unwrap().as_deref(), Some(&b"first"[..]));
            // Done after the first piece (a stream's last event): the rest is read for reuse.
            resp.finish();
            let key = Key::of(&url);
            let waited = Instant::now();
            while idle_to(&key) == 0 && waited.elapsed() < Duration::from_secs(2) {
                smol::Timer::after(Duration::from_millis(5)).await;
            }
            assert_eq!(idle_to(&key), 1);
            let mut resp = send(&Request::new("POST", url.join("chat")).keep_alive(), &timeouts()).await.unwrap();
            assert_eq!(resp.text(100, Duration::from_secs(1)).await.unwrap(), "firstsecond");
        });
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
