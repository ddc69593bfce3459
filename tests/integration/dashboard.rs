//! `openclaw dashboard install|uninstall` against a fake npm registry on 127.0.0.1 serving a
//! tarball built here: integrity checked, only `package/dist/control-ui/` extracted, odd entries
//! refused, `gateway.controlUi.root` set and unset.

use crate::support::fake_http::{read_request, respond, spawn_accept_loop};
use crate::support::*;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One ustar header for `path` (split into prefix/name when long), of type `kind`.
fn header(path: &str, size: usize, kind: u8, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    let (prefix, name) = if path.len() > 100 { path.rsplit_once('/').unwrap() } else { ("", path) };
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    // uid/gid left as NUL bytes, as npm writes them.
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"03560116604");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

/// A .tgz of `entries` (path, content, type, link target).
fn tgz(entries: &[(&str, &[u8], u8, &str)]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (path, data, kind, link) in entries {
        tar.extend_from_slice(&header(path, data.len(), *kind, link));
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    out.extend(miniz_oxide::deflate::compress_to_vec(&tar, 6));
    // CRC32 and size trailer (the installer relies on the sha512 instead of the CRC).
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(tar.len() as u32).to_le_bytes());
    out
}

fn good_entries() -> Vec<(&'static str, &'static [u8], u8, &'static str)> {
    vec![
        ("package/package.json", br#"{"name":"openclaw"}"#, b'0', ""),
        ("package/dist/index.js", b"not the ui", b'0', ""),
        ("package/dist/control-ui/index.html", b"<html lang=\"en\"><script src=\"./assets/a.js\"></script></html>", b'0', ""),
        ("package/dist/control-ui/assets/a.js", b"console.log(1)", b'0', ""),
        ("package/dist/control-ui/assets/empty.css", b"", b'0', ""),
        (
            "package/dist/control-ui/assets/a-very-long-directory-name-that-pushes-the-path-past-one-hundred-bytes/file.js",
            b"long",
            b'0',
            "",
        ),
    ]
}

struct Registry {
    tarball: Vec<u8>,
    integrity: Mutex<String>,
    port: u16,
    hits: Mutex<Vec<String>>,
}

fn sha512_b64(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA512, data);
    use std::fmt::Write;
    // base64 by hand-free route: reuse the standard alphabet through serde-less encoding.
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in d.as_ref().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                s.write_char(table[(n >> (18 - 6 * i) & 63) as usize] as char).unwrap();
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn registry(tarball: Vec<u8>) -> Arc<Registry> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let integrity = format!("sha512-{}", sha512_b64(&tarball));
    let reg = Arc::new(Registry { tarball, integrity: Mutex::new(integrity), port, hits: Mutex::new(Vec::new()) });
    spawn_accept_loop(
        listener,
        reg.clone(),
        |_| false,
        |reg, mut stream| {
            let Ok(req) = read_request(&mut stream, 1024) else { return };
            reg.hits.lock().unwrap().push(req.path().to_string());
            match req.path() {
                "/openclaw/9.9.9" => {
                    let doc = json!({"name": "openclaw", "version": "9.9.9",
                                 "dist": {"integrity": *reg.integrity.lock().unwrap(),
                                          "tarball": format!("http://127.0.0.1:{}/openclaw/-/openclaw-9.9.9.tgz", reg.port)}});
                    respond(&mut stream, 200, "application/json", &[], doc.to_string().as_bytes());
                }
                "/openclaw/-/openclaw-9.9.9.tgz" => respond(&mut stream, 200, "application/octet-stream", &[], &reg.tarball),
                _ => respond(&mut stream, 404, "application/json", &[], b"{\"error\":\"not found\"}"),
            }
        },
    );
    reg
}

fn config(home: &TempDir) -> Value {
    let text = std::fs::read_to_string(home.path().join(".openclaw/openclaw.json")).unwrap_or_else(|_| "{}".into());
    serde_json::from_str(&text).unwrap()
}

fn install(home: &Arc<TempDir>, reg: &Registry) -> (i32, String, String) {
    Cmd::new(home.clone())
        .args(["dashboard", "install", "--version", "9.9.9"])
        .env("OPENCLAW_NPM_REGISTRY", &format!("http://127.0.0.1:{}", reg.port))
        .output(Duration::from_secs(30))
}

#[test]
fn install_extracts_only_the_control_ui_checks_integrity_and_sets_the_root() {
    let home = Arc::new(TempDir::new("dash"));
    let reg = registry(tgz(&good_entries()));
    let (code, out, err) = install(&home, &reg);
    assert_eq!(code, 0, "{out}\n{err}");
    let dir = home.path().join(".openclaw/control-ui");
    assert!(out.contains("openclaw 9.9.9") && out.contains("4 files"), "{out}");
    assert_eq!(std::fs::read_to_string(dir.join("assets/a.js")).unwrap(), "console.log(1)");
    assert_eq!(std::fs::read(dir.join("assets/empty.css")).unwrap(), b"");
    let long = "assets/a-very-long-directory-name-that-pushes-the-path-past-one-hundred-bytes/file.js";
    assert_eq!(std::fs::read_to_string(dir.join(long)).unwrap(), "long", "ustar prefix joined");
    assert!(!home.path().join(".openclaw/control-ui/package.json").exists() && !dir.join("index.js").exists());
    assert!(!home.path().join(".openclaw/control-ui.tgz.part").exists(), "the download is removed");
    assert_eq!(config(&home)["gateway"]["controlUi"]["root"], dir.to_str().unwrap());
    assert_eq!(*reg.hits.lock().unwrap(), ["/openclaw/9.9.9", "/openclaw/-/openclaw-9.9.9.tgz"]);

    // The gateway then serves it.
    let mut cfg = config(&home);
    merge(&mut cfg, json!({"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}}}));
    let gw = Gw::builder().home(home.clone()).config(cfg).start();
    block_on(async {
        let r = http_raw(gw.port, b"GET /chat HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nConnection: close\r\n\r\n").await;
        assert_eq!(r.status, 200);
        assert!(r.text().contains(r#"src="/assets/a.js""#), "{}", r.text());
    });
    drop(gw);

    let (code, out, err) = Cmd::new(home.clone()).args(["dashboard", "uninstall"]).output(Duration::from_secs(30));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!dir.exists());
    assert!(config(&home)["gateway"]["controlUi"].get("root").is_none(), "{}", config(&home));
}

#[test]
fn a_tarball_that_does_not_match_its_integrity_is_refused() {
    let home = Arc::new(TempDir::new("dash-int"));
    let reg = registry(tgz(&good_entries()));
    *reg.integrity.lock().unwrap() = format!("sha512-{}", sha512_b64(b"something else"));
    let (code, _, err) = install(&home, &reg);
    assert_ne!(code, 0);
    assert!(err.contains("integrity check failed"), "{err}");
    assert!(!home.path().join(".openclaw/control-ui").exists());
    assert!(config(&home)["gateway"].get("controlUi").is_none());
}

#[test]
fn links_traversal_and_odd_entries_are_refused() {
    let cases: Vec<(&str, Vec<(&str, &[u8], u8, &str)>)> = vec![
        ("symlink", vec![("package/dist/control-ui/evil", b"", b'2', "/etc/passwd")]),
        ("hardlink", vec![("package/dist/control-ui/evil", b"", b'1', "package/package.json")]),
        ("dotdot", vec![("package/dist/control-ui/../../../escape.txt", b"x", b'0', "")]),
        ("device", vec![("package/dist/control-ui/dev", b"", b'3', "")]),
        ("pax", vec![("package/dist/control-ui/PaxHeader", b"", b'x', "")]),
    ];
    for (what, mut entries) in cases {
        let home = Arc::new(TempDir::new("dash-bad"));
        entries.insert(0, ("package/dist/control-ui/index.html", b"<html></html>", b'0', ""));
        let reg = registry(tgz(&entries));
        let (code, _, err) = install(&home, &reg);
        assert_ne!(code, 0, "{what}");
        assert!(err.contains("refusing"), "{what}: {err}");
        assert!(!home.path().join(".openclaw/control-ui").exists(), "{what}");
        assert!(!home.path().join("escape.txt").exists() && !home.path().join(".openclaw/control-ui.staging").exists(), "{what}");
    }
    // Not a gzip file at all.
    let home = Arc::new(TempDir::new("dash-notgz"));
    let reg = registry(b"PK\x03\x04 a zip".to_vec());
    let (code, _, err) = install(&home, &reg);
    assert_ne!(code, 0);
    assert!(err.contains("not a gzip file"), "{err}");
}
