//! Compresses the control panel's assets (panel/) at build time: each file is embedded gzip-
//! compressed with its ETag, so the binary carries about a quarter of their size and serving
//! them costs no compression at run time. `index.html` stays as it is: it is rewritten for the
//! base path when served, and it is small.

use std::fmt::Write as _;
use std::path::Path;

/// The assets besides `index.html`: file name, content type.
const ASSETS: &[(&str, &str)] =
    &[("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8"), ("icon.svg", "image/svg+xml; charset=utf-8")];

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_string());
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".to_string());
    let panel = Path::new(&manifest).join("panel");
    println!("cargo:rerun-if-changed=panel");
    println!("cargo:rerun-if-changed=build.rs");
    // The release artifacts link with this script (scripts/build-release.sh); a new one must relink.
    println!("cargo:rerun-if-changed=scripts/hot-text.ld");
    println!("cargo:rerun-if-env-changed=OPENCLAW_PANEL_STUB");
    println!("cargo::rustc-check-cfg=cfg(panel_stub)");
    // OPENCLAW_PANEL_STUB=1 builds without the panel (no assets, no route, no inflate), only to
    // measure what the panel adds to the binary (the budget in DESIGN.md §4).
    let stub = std::env::var("OPENCLAW_PANEL_STUB").is_ok_and(|v| v == "1");
    if stub {
        println!("cargo::rustc-cfg=panel_stub");
    }
    let mut code = String::from(
        "/// The panel's assets: (name, content type, ETag, gzip bytes).\npub const ASSETS: &[(&str, &str, &str, &[u8])] = &[\n",
    );
    for (name, content_type) in ASSETS.iter().filter(|_| !stub) {
        let src = panel.join(name);
        println!("cargo:rerun-if-changed={}", src.display());
        let raw = std::fs::read(&src).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", src.display())));
        let gz = gzip(&raw);
        let dest = Path::new(&out).join(format!("{name}.gz"));
        std::fs::write(&dest, &gz).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", dest.display())));
        let etag = format!("\\\"{:016x}\\\"", fnv1a(&raw));
        let _ = writeln!(code, "    ({name:?}, {content_type:?}, \"{etag}\", include_bytes!({:?})),", dest.display().to_string());
    }
    code.push_str("];\n");
    let index = panel.join("index.html");
    println!("cargo:rerun-if-changed={}", index.display());
    let _ = writeln!(
        code,
        "/// The page, before its base path is filled in.\npub const INDEX_HTML: &str = include_str!({:?});",
        index.display().to_string()
    );
    let dest = Path::new(&out).join("panel_assets.rs");
    std::fs::write(&dest, code).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", dest.display())));
}

fn fail(why: &str) -> ! {
    eprintln!("build.rs: {why}");
    std::process::exit(1)
}

/// A gzip member (RFC 1952): a fixed 10-byte header, the deflate stream, CRC-32 and length.
fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255];
    out.extend(miniz_oxide::deflate::compress_to_vec(raw, 10));
    out.extend(crc32(raw).to_le_bytes());
    out.extend((raw.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}
