//! HTTP on the gateway port: probes, errors, limits, keep-alive, hostile input.

use crate::support::*;
use serde_json::json;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use std::time::{Duration, Instant};

fn assert_security_headers(r: &HttpResponse) {
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"));
    assert_eq!(r.header("Permissions-Policy"), Some("camera=(), microphone=(self), geolocation=()"));
}

#[test]
fn health_probes_answer_live_on_both_paths_and_head() {
    let gw = Gw::start();
    block_on(async {
        for path in ["/health", "/healthz"] {
            let r = http_get(gw.port, path).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), r#"{"ok":true,"status":"live"}"#);
            assert_eq!(r.header("Content-Type"), Some("application/json; charset=utf-8"));
            assert_eq!(r.header("Cache-Control"), Some("no-store"));
            assert_security_headers(&r);
        }
        let r = http_raw(gw.port, b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Length"), Some("27"));
    });
}

#[test]
fn ready_and_startup_probes_report_state_with_details_for_local_callers() {
    let gw = Gw::start();
    block_on(async {
        for path in ["/ready", "/readyz"] {
            let r = http_get(gw.port, path).await;
            assert_eq!(r.status, 200);
            let v = r.json();
            assert_eq!(v["ready"], true);
            assert_eq!(v["failing"], json!([]));
            assert!(v["uptimeMs"].as_u64().is_some(), "{v}");
        }
        for path in ["/startup", "/startupz"] {
            let r = http_get(gw.port, path).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.json()["status"], "started");
        }
    });
}

#[test]
fn wrong_method_gets_405_with_allow_and_unknown_path_gets_404_as_the_official_gateway_does() {
    let gw = Gw::start();
    block_on(async {
        let r = http_raw(gw.port, b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
        assert_eq!(r.status, 405);
        assert_eq!(r.header("Allow"), Some("GET, HEAD"));
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.text(), "Method Not Allowed");
        assert_security_headers(&r);
        // Other unknown paths are the control panel's (its page for a navigation; panel.rs).
        for path in ["/nope.txt", "/api/health", "/v1/models", "/hooks/wake"] {
            let r = http_get(gw.port, path).await;
            assert_eq!((r.status, r.text().as_str()), (404, "Not Found"), "{path}: endpoints that are off do not exist");
            assert_security_headers(&r);
        }
    });
}

#[test]
fn keep_alive_serves_pipelined_requests_on_one_connection() {
    let gw = Gw::start();
    block_on(async {
        let mut s = HttpConn::open(gw.port).await;
        s.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let a = s.response(false).await.unwrap();
        let b = s.response(false).await.unwrap();
        assert_eq!((a.status, b.status), (200, 200));
        assert_eq!(a.header("Connection"), Some("keep-alive"));
        assert_eq!(a.header("Keep-Alive"), Some("timeout=5"));
        assert_eq!(b.json()["ready"], true);
        // The same connection still works afterwards.
        s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(s.response(false).await.unwrap().status, 200);
    });
}

#[test]
fn oversized_head_and_too_many_headers_get_431() {
    let gw = Gw::start();
    block_on(async {
        let mut req = b"GET /health HTTP/1.1\r\nX-Big: ".to_vec();
        req.extend(std::iter::repeat_n(b'a', 20_000));
        req.extend_from_slice(b"\r\n\r\n");
        let r = http_raw(gw.port, &req).await;
        assert_eq!(r.status, 431);
        assert_eq!(r.header("Connection"), Some("close"));
        let mut req = b"GET /health HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        let r = http_raw(gw.port, &req).await;
        assert_eq!(r.status, 431);
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("header lines"));
    });
}

#[test]
fn bodies_over_the_route_limit_get_413_for_both_framings() {
    let gw = Gw::start();
    block_on(async {
        let r = http_raw(gw.port, b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n").await;
        assert_eq!(r.status, 413);
        let mut chunked = b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..3 {
            chunked.extend_from_slice(b"200\r\n");
            chunked.extend(std::iter::repeat_n(b'x', 0x200));
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let r = http_raw(gw.port, &chunked).await;
        assert_eq!(r.status, 413);
        // A small chunked body is read and the request answered.
        let r = http_raw(
            gw.port,
            b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )
        .await;
        assert_eq!(r.status, 200);
    });
}

#[test]
fn malformed_and_smuggling_requests_get_400() {
    let gw = Gw::start();
    block_on(async {
        let r = http_raw(gw.port, b"NOT A REQUEST\r\n\r\n").await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"]["type"], "invalid_request");
        let r = http_raw(gw.port, b"GET /health HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").await;
        assert_eq!(r.status, 400);
        let r = http_raw(gw.port, b"GET /health HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").await;
        assert_eq!(r.status, 501);
        let r = http_raw(gw.port, b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n").await;
        assert_eq!(r.status, 400);
        assert_eq!(r.header("Connection"), Some("close"));
    });
}

#[test]
fn expect_continue_is_honoured() {
    let gw = Gw::start();
    block_on(async {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 25];
        timeout(WAIT, s.read_exact(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
        s.write_all(b"ok").await.unwrap();
        assert_eq!(read_response(&mut s, false).await.unwrap().status, 200);
    });
}

#[test]
fn slow_senders_are_cut_off_with_408() {
    let gw = Gw::builder().env("OPENCLAW_HTTP_HEAD_TIMEOUT_MS", "300").env("OPENCLAW_HTTP_BODY_TIMEOUT_MS", "300").start();
    block_on(async {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
        let started = Instant::now();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let r = read_response(&mut s, false).await.unwrap();
        assert_eq!(r.status, 408);
        assert!(started.elapsed() < Duration::from_secs(3));

        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc").await.unwrap();
        let r = read_response(&mut s, false).await.unwrap();
        assert_eq!(r.status, 408);
    });
}

#[test]
fn a_silent_connection_is_closed_without_a_response() {
    let gw = Gw::builder().start();
    block_on(async {
        // Keep-alive idle is 5 s between requests, not 5 s in all: a connection asking every 2 s
        // stays open past the first request's idle deadline (its timer goes off then and must
        // only be moved on).
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
        for round in 0..4 {
            if round > 0 {
                smol::Timer::after(Duration::from_secs(2)).await;
            }
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let r = timeout(WAIT, read_response(&mut s, false))
                .await
                .expect("answered")
                .unwrap_or_else(|| panic!("round {round}: no response"));
            assert_eq!(r.status, 200);
        }
        // Then silence closes the socket.
        let mut buf = [0u8; 16];
        let n = timeout(Duration::from_secs(8), s.read(&mut buf)).await.expect("not closed").unwrap_or(0);
        assert_eq!(n, 0, "closed with no bytes");
    });
}

#[test]
fn ipv6_loopback_listener_serves_too() {
    let gw = Gw::start();
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return; // no IPv6 on this machine; the gateway skips ::1 too
    }
    block_on(async {
        let mut s = TcpStream::connect(("::1", gw.port)).await.expect("gateway listens on [::1]");
        s.write_all(b"GET /health HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n").await.unwrap();
        assert_eq!(read_response(&mut s, false).await.unwrap().status, 200);
    });
}

/// The names of a running process's threads.
fn thread_names(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
            names.push(name.trim().to_string());
        }
    }
    names
}

/// Many keep-alive connections at once, each asking `rounds` times; every answer must be 200.
async fn busy_clients(port: u16, clients: usize, rounds: usize) {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        tasks.push(smol::spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            for _ in 0..rounds {
                s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
                let r = timeout(WAIT, read_response(&mut s, false)).await.expect("answered").expect("a response");
                assert_eq!(r.status, 200);
            }
        }));
    }
    for t in tasks {
        t.await;
    }
}

#[test]
fn the_runtime_runs_on_every_core_it_may_use_and_on_one() {
    // Several cores: helper threads run tasks while async-io's thread waits on the sockets.
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let gw = Gw::start();
    block_on(busy_clients(gw.port, 20, 50));
    let names = thread_names(gw.child.id());
    assert_eq!(names.iter().any(|n| n == "openclaw-1"), cores > 1, "{names:?}");

    // One core: the only thread runs the tasks and waits on the sockets itself.
    let gw = Gw::builder().one_cpu().start();
    block_on(async {
        busy_clients(gw.port, 20, 50).await;
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let res = c.request("health", json!({})).await;
        assert_eq!(res["ok"], true, "{res}");
    });
    let names = thread_names(gw.child.id());
    assert!(!names.iter().any(|n| n.starts_with("openclaw-")), "no helper threads on one core: {names:?}");
}
