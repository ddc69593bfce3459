//! The control panel (panel/ in the repository): its files, embedded in the binary gzip-compressed
//! by build.rs, served at `gateway.controlUi.basePath` while `gateway.controlUi.enabled`.
//!
//! `<base>` and every path under it whose last segment has no dot is the page (the panel routes
//! itself); `<base>app.js`, `app.css` and `icon.svg` are the assets; other dotted names are 404.
//! Responses carry a strict Content-Security-Policy (the page needs no inline code and no other
//! origin), an ETag with `Cache-Control: no-cache` (a reload costs a 304), and gzip when the
//! browser accepts it. The file names carry no content hash, so nothing is cached for long.

use crate::net::http::{Head, Response};

mod assets {
    include!(concat!(env!("OUT_DIR"), "/panel_assets.rs"));
}

/// The policy the page is written for: its own scripts, styles, images and WebSocket only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

/// What a path under the base path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The page (`<base>` or a panel route such as `<base>chat`).
    Page,
    /// One of the embedded assets (index into the asset table).
    Asset(usize),
    /// `<base>` without its trailing slash: redirected to it.
    Redirect,
}

/// What `path` is when the panel is served at `base` (normalised, ends with `/`), or `None` when
/// the path is not the panel's.
pub fn target(path: &str, base: &str) -> Option<Target> {
    if base.len() > 1 && path == base.trim_end_matches('/') {
        return Some(Target::Redirect);
    }
    let rest = path.strip_prefix(base)?;
    let last = rest.rsplit('/').next().unwrap_or("");
    if !last.contains('.') {
        return Some(Target::Page);
    }
    if rest.contains('/') {
        return None;
    }
    assets::ASSETS.iter().position(|(name, ..)| *name == rest).map(Target::Asset)
}

/// Whether an unknown-looking path may get the page: a browser navigation (`Accept` names HTML,
/// or any type), or a request that says nothing.
pub fn wants_html(head: &Head) -> bool {
    match head.header("accept") {
        None => true,
        Some(accept) => accept.split(',').any(|t| {
            let t = t.split(';').next().unwrap_or("").trim();
            t == "text/html" || t == "*/*" || t == "text/*"
        }),
    }
}

/// The response for a panel target.
pub fn respond(head: &Head, target: Target, base: &str) -> Response {
    match target {
        Target::Redirect => Response::new(308).header("Location", base.to_string()).header("Cache-Control", "no-cache"),
        Target::Page => {
            let html = index_html(base);
            let etag = format!("\"{:016x}\"", fnv1a(html.as_bytes()));
            finish(head, "text/html; charset=utf-8", &etag, Encoded::Identity(html.into_bytes()))
        }
        Target::Asset(i) => match assets::ASSETS.get(i) {
            Some((_, content_type, etag, gz)) => finish(head, content_type, etag, Encoded::Gzip(gz)),
            None => crate::api::not_found(),
        },
    }
}

enum Encoded {
    Identity(Vec<u8>),
    Gzip(&'static [u8]),
}

fn finish(head: &Head, content_type: &str, etag: &str, body: Encoded) -> Response {
    let gzip_ok = accepts_gzip(head);
    // The two encodings are different bytes, so they get different validators.
    let etag = match body {
        Encoded::Gzip(_) if gzip_ok => format!("{}-gz\"", etag.trim_end_matches('"')),
        _ => etag.to_string(),
    };
    let mut resp = Response::new(200);
    if none_match(head, &etag) {
        resp = Response::new(304);
    } else {
        match body {
            Encoded::Identity(bytes) => resp = resp.body(bytes),
            Encoded::Gzip(gz) if gzip_ok => resp = resp.header("Content-Encoding", "gzip").body(gz.to_vec()),
            Encoded::Gzip(gz) => match gunzip(gz) {
                Some(bytes) => resp = resp.body(bytes),
                None => return crate::api::error(500, "the embedded control panel is damaged"),
            },
        }
        resp = resp.header("Content-Type", content_type.to_string());
    }
    resp.header("ETag", etag)
        .header("Cache-Control", "no-cache")
        .header("Vary", "Accept-Encoding")
        .header("Content-Security-Policy", CSP)
        .header("X-Frame-Options", "DENY")
}

/// `If-None-Match` names `etag` (or `*`).
fn none_match(head: &Head, etag: &str) -> bool {
    head.header("if-none-match").is_some_and(|v| v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*"))
}

fn accepts_gzip(head: &Head) -> bool {
    head.header("accept-encoding").is_some_and(|v| {
        v.split(',').any(|t| {
            let mut parts = t.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim().replace(' ', "").as_str(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

/// The page with its base path filled in (the base path is validated as plain path characters
/// when the config is read; it is escaped here all the same).
pub fn index_html(base: &str) -> String {
    let escaped = escape_html(base);
    assets::INDEX_HTML
        .replace("<meta name=\"openclaw-base-path\" content=\"/\">", &format!("<meta name=\"openclaw-base-path\" content=\"{escaped}\">"))
        .replace("<base href=\"/\">", &format!("<base href=\"{escaped}\">"))
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The embedded gzip member's content: build.rs writes a 10-byte header without optional fields,
/// then the deflate stream, then 8 bytes of trailer.
fn gunzip(gz: &[u8]) -> Option<Vec<u8>> {
    if cfg!(panel_stub) {
        return None;
    }
    let deflate = gz.get(10..gz.len().checked_sub(8)?)?;
    miniz_oxide::inflate::decompress_to_vec(deflate).ok()
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_the_page_the_assets_or_nothing() {
        assert_eq!(target("/", "/"), Some(Target::Page));
        assert_eq!(target("/chat", "/"), Some(Target::Page));
        assert_eq!(target("/a/b", "/"), Some(Target::Page));
        assert!(matches!(target("/app.js", "/"), Some(Target::Asset(_))));
        assert_eq!(target("/x.js", "/"), None);
        assert_eq!(target("/a/app.js", "/"), None);
        assert_eq!(target("/ui", "/ui/"), Some(Target::Redirect));
        assert_eq!(target("/ui/", "/ui/"), Some(Target::Page));
        assert!(matches!(target("/ui/app.css", "/ui/"), Some(Target::Asset(_))));
        assert_eq!(target("/other", "/ui/"), None);
    }

    #[test]
    fn every_embedded_asset_inflates_back() {
        for (name, _, _, gz) in assets::ASSETS {
            let raw = gunzip(gz).unwrap();
            assert!(!raw.is_empty(), "{name}");
        }
        assert!(gunzip(&[1, 2, 3]).is_none());
    }

    #[test]
    fn the_page_gets_its_base_path() {
        let html = index_html("/ui/");
        assert!(html.contains("<base href=\"/ui/\">"));
        assert!(html.contains("content=\"/ui/\""));
        assert_eq!(escape_html("\"<x>&'"), "&quot;&lt;x&gt;&amp;&#39;");
    }
}
