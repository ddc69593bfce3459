//! Bounded under slow and many clients: clients that stop reading share one outbound budget and
//! the ones with the most queued are closed first; a peer that pings without reading cannot
//! grow the write buffer; silent connections and connection floods are capped at accept; and
//! protocol violations after the handshake get the close frame RFC 6455 asks for.

use crate::support::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Peak resident memory of `pid` while `work` runs (sampled every 20 ms on another thread).
fn peak_rss_during<T>(pid: u32, work: impl FnOnce() -> T) -> (T, u64) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(rss_kib(pid).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    let out = work();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (out, sampler.join().unwrap())
}

/// A gateway whose resident memory follows what it holds: glibc (the test build's allocator)
/// otherwise keeps freed large blocks in its per-thread arenas, which would measure the
/// allocator's policy instead of the gateway's buffers. (The release build uses musl.)
fn measured() -> GwBuilder {
    Gw::builder().env("MALLOC_MMAP_THRESHOLD_", "131072").env("MALLOC_ARENA_MAX", "2")
}

#[test]
fn twenty_clients_that_never_read_stay_within_the_shared_budget_and_readers_get_every_event() {
    let gw = measured().start();
    let pid = gw.child.id();
    let (ids, peak) = block_on(async {
        let mut stalled = Vec::new();
        for _ in 0..20 {
            stalled.push(Client::connect(gw.port, TOKEN, &["operator.read"]).await.0);
        }
        let (mut reader, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let (mut admin, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let baseline = rss_kib(pid).unwrap();
        let big = "x".repeat(900_000);
        let (ids, peak) = peak_rss_during(pid, || {
            block_on(async {
                let mut ids = Vec::new();
                for i in 0..60 {
                    let r = admin.request("chat.inject", json!({"sessionKey": "main", "message": format!("{i}:{big}")})).await;
                    assert_eq!(r["ok"], true, "{}", r["error"]);
                    ids.push(i);
                    // The reader keeps up.
                    let ev = reader.event("chat", WAIT).await.expect("the reader gets the event");
                    let text = ev["payload"]["message"]["content"][0]["text"].as_str().unwrap();
                    assert!(text.starts_with(&format!("{i}:")), "in order");
                }
                ids
            })
        });
        drop(stalled);
        (ids, peak.saturating_sub(baseline))
    });
    assert_eq!(ids.len(), 60);
    // 32 MiB shared budget (in flight included) plus allocator slack; without it each stalled
    // client could hold its own 50 MiB.
    eprintln!("peak growth {peak} KiB");
    assert!(peak < 48 * 1024, "RSS grew {peak} KiB over the baseline");
    assert!(gw.lines().iter().any(|l| l.contains("1008 slow consumer")), "{:?}", gw.lines());
}

#[test]
fn a_peer_that_pings_and_never_reads_is_closed_before_it_costs_memory() {
    // A flood of pings is refused outright (1008); a slower peer that stops reading is found by
    // the gateway's own ping, which cannot be written for 2 s.
    let mut gw = measured().env("OPENCLAW_WS_PING_INTERVAL_MS", "500").env("OPENCLAW_WS_SEND_TIMEOUT_MS", "2000").start();
    let pid = gw.child.id();
    let (closed, grew) = block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let baseline = rss_kib(pid).unwrap();
        let ping = client_frame(0x9, &[7u8; 125], true);
        let burst: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 500).collect();
        let started = Instant::now();
        let mut closed = false;
        let mut peak = baseline;
        while started.elapsed() < Duration::from_secs(20) {
            let sent = timeout(Duration::from_secs(2), c.try_send_raw(&burst)).await;
            peak = peak.max(rss_kib(pid).unwrap_or(0));
            if sent != Ok(true) {
                // Refused (the gateway closed) or stuck (the gateway stopped reading a closed peer).
                closed = true;
                break;
            }
        }
        (closed, peak.saturating_sub(baseline))
    });
    assert!(closed, "the gateway never closed a peer that does not read its pongs");
    assert!(grew < 8 * 1024, "RSS grew {grew} KiB");
    assert!(gw.child.try_wait().unwrap().is_none());
    block_on(async { assert_eq!(http_get(gw.port, "/health").await.status, 200) });
}

#[test]
fn silent_connections_and_floods_are_capped_at_accept_and_health_is_still_answered() {
    let gw = Gw::builder().env("OPENCLAW_MAX_PENDING_CONNECTIONS", "50").env("OPENCLAW_MAX_CONNECTIONS", "150").start();
    let pid = gw.child.id();
    block_on(async {
        // Already in: a keep-alive HTTP connection and an authenticated WebSocket client.
        let mut http = HttpConn::open(gw.port).await;
        http.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(http.response(false).await.unwrap().status, 200);
        let (mut ws, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let baseline = rss_kib(pid).unwrap();

        // 300 connections that never send a byte: 50 are kept (until their first-request
        // deadline), the rest are closed at once.
        let mut flood = Vec::new();
        for _ in 0..300 {
            flood.push(smol::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap());
        }
        // Refused ones were closed at accept, so a short wait tells them apart (a long one would
        // run into the kept ones' 10 s first-request deadline).
        let mut open = 0;
        for s in &mut flood {
            let mut b = [0u8; 1];
            if timeout(Duration::from_millis(20), smol::io::AsyncReadExt::read(s, &mut b)).await.is_err() {
                open += 1;
            }
        }
        assert_eq!(open, 50, "only the pending cap stays open");
        let grew = rss_kib(pid).unwrap().saturating_sub(baseline);
        assert!(grew < 4 * 1024, "RSS grew {grew} KiB");
        http.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(http.response(false).await.unwrap().status, 200, "the keep-alive connection is answered");
        assert_eq!(ws.call("health", Value::Null).await["ok"], true, "so is the connected client");
        drop(flood);

        // Connections that did send a request count against the total: past it, closed at once.
        let mut kept = Vec::new();
        let mut refused = 0;
        for _ in 0..200 {
            let mut c = HttpConn::open(gw.port).await;
            c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
            match timeout(Duration::from_secs(2), c.response(false)).await {
                Ok(Some(r)) if r.status == 200 => kept.push(c),
                _ => refused += 1,
            }
        }
        assert_eq!(kept.len(), 150 - 2, "the total cap (two were in before)");
        assert_eq!(refused, 200 - kept.len());
    });
    assert!(gw.lines().iter().any(|l| l.contains("connection from") && l.contains("refused")), "{:?}", gw.lines());
}

#[test]
fn protocol_violations_after_connect_get_their_close_codes() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        c.send_raw(&client_frame(0x1, &[0x7b, 0xff, 0xfe, 0x7d], true)).await;
        assert_eq!(c.closed().await.map(|c| c.code), Some(1007), "text that is not UTF-8");

        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        c.send_raw(&client_frame(0x1, br#"{"type":"req","id":"1","method":"health"}"#, false)).await;
        assert_eq!(c.closed().await.map(|c| c.code), Some(1002), "an unmasked client frame");
    });
}
