//! `gateway.controlUi.root`: serves a directory holding the official Control UI (the
//! `dist/control-ui` of the npm package `openclaw`, see `openclaw dashboard install`) the way the
//! official gateway serves it: `index.html` rewritten so its relative asset paths work at every
//! SPA route and under `basePath`, the SPA fallback for HTML navigations, precompressed `.br` /
//! `.gz` assets when the browser accepts them, `control-ui-config.json` and
//! `/__openclaw__/plugin-icon/<id>` behind the gateway's bearer auth.
//!
//! Every file comes from inside the root: the decoded path may not hold `..`, `.`, backslashes
//! or NUL, the file is canonicalised (resolving symlinks) and must stay under the canonical root,
//! and only regular files are served.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::api::{Api, not_found};
use crate::config::Config;
use crate::net::http::{Head, Response};

/// Largest file served (the biggest official asset is 3.6 MB).
const MAX_FILE_BYTES: u64 = 32 << 20;

/// Root files the official index.html links to (also reachable under `/__openclaw__/`).
const ROOT_ASSETS: &[&str] = &["apple-touch-icon.png", "favicon-32.png", "favicon.ico", "favicon.svg", "manifest.webmanifest", "sw.js"];

/// Paths that belong to other handlers even when they would otherwise fall back to the SPA.
const NOT_UI: &[&str] = &["/api", "/v1", "/tools", "/ui"];

/// Whether a request for `path` is the Control UI's (the root is configured and the path is under
/// `basePath`, and not an API path).
pub fn claims(path: &str, cfg: &Config) -> bool {
    let ui = &cfg.gateway.control_ui;
    if ui.root.is_none() {
        return false;
    }
    let Some(rel) = relative(path, ui.base_path.trim_end_matches('/')) else { return false };
    !NOT_UI.iter().any(|p| rel == *p || rel.starts_with(&format!("{p}/")))
}

/// The path under `base` ("/" for `base` itself, which redirects).
fn relative<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    if base.is_empty() {
        return Some(path);
    }
    if path == base {
        return Some("");
    }
    path.strip_prefix(base).filter(|r| r.starts_with('/'))
}

/// Answers a GET or HEAD the route table gave to the Control UI.
pub async fn serve(api: &Api, head: &Head, peer: SocketAddr, cfg: &Config) -> Response {
    let ui = &cfg.gateway.control_ui;
    let (Some(root), Some(rel)) = (ui.root.clone(), relative(&head.path, ui.base_path.trim_end_matches('/'))) else { return not_found() };
    let base = ui.base_path.trim_end_matches('/').to_string();
    if rel.is_empty() {
        let query = head.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
        return Response::new(302).header("Location", format!("{base}/{query}"));
    }
    let head_only = head.method == "HEAD";
    if rel == "/control-ui-config.json"
        || rel == "/__openclaw/control-ui-config.json"
        || (base.is_empty() && rel == "/__openclaw__/control-ui-config.json")
    {
        return match api.authorize(head, peer).await {
            Err(refused) => unauthorized(refused),
            Ok(()) => strip(json_config(api, cfg), head_only),
        };
    }
    if let Some(id) = rel.strip_prefix("/__openclaw__/plugin-icon/") {
        return match api.authorize(head, peer).await {
            Err(refused) => unauthorized(refused),
            Ok(()) => strip(plugin_icon(id), head_only),
        };
    }
    let resp = match smol::unblock({
        let rel = rel.to_string();
        let accept = head.header("accept").unwrap_or("").to_string();
        let encodings = head.header("accept-encoding").unwrap_or("").to_string();
        let host = head.header("host").unwrap_or("").to_string();
        move || static_file(&root, &base, &rel, &accept, &encodings, &host)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => {
            log::warn!("control ui: {e}");
            Response::text(500, "Internal Server Error")
        }
    };
    strip(resp.header("X-Frame-Options", "DENY"), head_only)
}

/// HEAD: the same headers, no body.
fn strip(mut resp: Response, head_only: bool) -> Response {
    if head_only {
        resp.body = crate::net::http::Body::Empty;
    }
    resp
}

/// The official 401 body for the Control UI's JSON endpoints.
fn unauthorized(refused: Response) -> Response {
    if refused.status != 401 {
        return refused;
    }
    Response::json(401, &json!({"error": {"message": "Unauthorized", "type": "unauthorized"}}))
}

/// `control-ui-config.json`: what the UI needs before it connects.
fn json_config(api: &Api, cfg: &Config) -> Response {
    let agent_id = cfg.agents.default_id().to_string();
    let entry = cfg.agents.entry(&agent_id);
    let name = entry.and_then(|e| e.identity.name.clone().or(e.name.clone())).unwrap_or_else(|| agent_id.clone());
    let avatar = entry.and_then(|e| e.identity.avatar.clone().or(e.identity.emoji.clone()));
    let auth_none = api.gw.settings().auth.mode.name() == "none";
    let body = json!({
        "basePath": cfg.gateway.control_ui.base_path.trim_end_matches('/'),
        "assistantName": name,
        "assistantAvatar": avatar,
        "assistantAvatarSource": null,
        "assistantAvatarStatus": null,
        "assistantAvatarReason": null,
        "assistantAgentId": agent_id,
        "serverVersion": crate::VERSION,
        "embedSandbox": "strict",
        "allowExternalEmbedUrls": false,
        "automaticallyFetchFavicons": false,
        "communityInvite": false,
        // Never the terminal: it would open a shell on the host.
        "terminalEnabled": false,
        "cliAgentsEnabled": false,
        "pluginAssetsRequireAuth": !auth_none,
        "pluginFrameGrants": [],
    });
    Response::json(200, &body).header("Cache-Control", "no-cache")
}

/// `/__openclaw__/plugin-icon/<id>`: an icon for each chat channel this gateway has (a lettered
/// badge drawn here; the official package icons are not ours to ship).
fn plugin_icon(id: &str) -> Response {
    let (letter, color) = match id {
        "telegram" => ("T", "#2aa3de"),
        "discord" => ("D", "#5865f2"),
        "whatsapp" => ("W", "#25d366"),
        _ => return Response::text(404, "Not Found"),
    };
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="{color}"/><text x="32" y="44" font-family="sans-serif" font-size="34" font-weight="700" text-anchor="middle" fill="#fff">{letter}</text></svg>"##
    );
    Response::new(200)
        .header("Content-Type", "image/svg+xml")
        .header("Cache-Control", "private, max-age=3600")
        .header("Cross-Origin-Resource-Policy", "same-origin")
        .header("Content-Security-Policy", "default-src 'none'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; sandbox")
        .body(svg.into_bytes())
}

/// The content type of a file by its extension (`None`: not a known static type).
fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "application/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        "webmanifest" => "application/manifest+json; charset=utf-8",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "br" | "gz" => "application/octet-stream",
        _ => return None,
    })
}

fn compressible(path: &str) -> bool {
    matches!(path.rsplit_once('.').map(|(_, e)| e), Some("css" | "html" | "js" | "json" | "svg" | "txt" | "wasm" | "webmanifest"))
}

/// The path of the file a request names, relative to the root, or `None` when it is not a safe
/// relative path. `/x/assets/y.js` names `assets/y.js` (asset URLs resolved against an SPA route);
/// `/__openclaw__/<root asset>` names the root asset.
fn file_path(rel: &str) -> Option<String> {
    let decoded = crate::api::openai::percent_decode(rel)?;
    let mapped = match decoded.find("/assets/") {
        Some(i) => decoded.get(i + 1..)?.to_string(),
        None => {
            let p = decoded.strip_prefix('/').unwrap_or(&decoded);
            match p.strip_prefix("__openclaw__/") {
                Some(asset) if ROOT_ASSETS.contains(&asset) => asset.to_string(),
                _ => p.to_string(),
            }
        }
    };
    let safe = !mapped.contains('\0')
        && !mapped.contains('\\')
        && !mapped.starts_with('/')
        && mapped.split('/').all(|seg| !seg.is_empty() && seg != ".." && seg != ".");
    (safe || mapped.is_empty()).then_some(mapped)
}

/// A regular file inside the root (after resolving symlinks), or `None`.
fn confined(root: &Path, rel: &str) -> Option<PathBuf> {
    let root = root.canonicalize().ok()?;
    let path = root.join(rel).canonicalize().ok()?;
    if !path.starts_with(&root) {
        return None;
    }
    let meta = std::fs::metadata(&path).ok()?;
    (meta.is_file() && meta.len() <= MAX_FILE_BYTES).then_some(path)
}

/// The encodings the client takes, best first, among br and gzip; `identity` is always last
/// unless refused.
fn encodings(header: &str) -> (Vec<&'static str>, bool) {
    let mut ranked: Vec<(&'static str, f32)> = Vec::new();
    let mut identity_q = None;
    let mut star_q = None;
    for part in header.split(',') {
        let mut bits = part.split(';');
        let name = bits.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = bits.filter_map(|b| b.trim().strip_prefix("q=")).find_map(|v| v.trim().parse::<f32>().ok()).unwrap_or(1.0);
        match name.as_str() {
            "br" => ranked.push(("br", q)),
            "gzip" => ranked.push(("gzip", q)),
            "identity" => identity_q = Some(q),
            "*" => star_q = Some(q),
            _ => {}
        }
    }
    ranked.retain(|(_, q)| *q > 0.0);
    // Higher q first; br before gzip at equal q.
    ranked.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| (a.0 != "br").cmp(&(b.0 != "br"))));
    let identity_ok = identity_q.or(star_q).is_none_or(|q| q > 0.0);
    (ranked.into_iter().map(|(n, _)| n).collect(), identity_ok)
}

fn static_file(root: &Path, base: &str, rel: &str, accept: &str, accept_encoding: &str, host: &str) -> std::io::Result<Response> {
    let Some(path) = file_path(rel) else { return Ok(Response::text(404, "Not Found")) };
    if path.is_empty() || path == "index.html" {
        return index(root, base, host);
    }
    let in_assets = path.starts_with("assets/");
    if in_assets && (path.ends_with(".br") || path.ends_with(".gz")) {
        return Ok(Response::text(404, "Not Found"));
    }
    let Some(file) = confined(root, &path) else {
        let html = accept.is_empty() || accept.contains("text/html") || accept.contains("application/xhtml+xml") || accept.contains("*/*");
        return if content_type(&path).is_none() && html { index(root, base, host) } else { Ok(Response::text(404, "Not Found")) };
    };
    let ctype = content_type(&path).unwrap_or("application/octet-stream");
    let cache = if in_assets { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut chosen: Option<(PathBuf, &str)> = None;
    if in_assets && compressible(&path) {
        let (ranked, identity_ok) = encodings(accept_encoding);
        for enc in ranked {
            let suffix = if enc == "br" { "br" } else { "gz" };
            if let Some(p) = confined(root, &format!("{path}.{suffix}")) {
                chosen = Some((p, enc));
                break;
            }
        }
        if chosen.is_none() && !identity_ok {
            return Ok(Response::text(406, "Not Acceptable").header("Cache-Control", "no-store"));
        }
    }
    let mut resp = Response::new(200).header("Content-Type", ctype).header("Cache-Control", cache).header("Vary", "Accept-Encoding");
    let body = match chosen {
        Some((p, enc)) => {
            resp = resp.header("Content-Encoding", enc);
            std::fs::read(p)?
        }
        None => std::fs::read(file)?,
    };
    Ok(resp.body(body))
}

/// `index.html` with its relative references made absolute under `base` (so they resolve at any
/// SPA route), the base path and "no terminal" announced on `<html>`, and a CSP that allows its
/// inline scripts by hash.
fn index(root: &Path, base: &str, host: &str) -> std::io::Result<Response> {
    let Some(file) = confined(root, "index.html") else {
        return Ok(Response::text(404, "Control UI not found: the root holds no index.html"));
    };
    let text = std::fs::read_to_string(file)?;
    let html = rewrite_index(&text, base);
    let mut script_src = String::from("'self'");
    for body in inline_scripts(&html) {
        let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
        script_src.push_str(&format!(" 'sha256-{}'", crate::encoding::base64(digest.as_ref())));
    }
    let hostname = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    let extra = if !hostname.is_empty() && hostname.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
        format!(" http://{hostname}:* https://{hostname}:*")
    } else {
        String::new()
    };
    let csp = format!(
        "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; frame-src 'self'; script-src {script_src}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' data: blob:; font-src 'self'; \
         worker-src 'self'; connect-src 'self' ws: wss: data:{extra}"
    );
    Ok(Response::new(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Cache-Control", "no-cache")
        .header("Vary", "Accept-Encoding")
        .header("Content-Security-Policy", csp)
        .body(html.into_bytes()))
}

/// The rewrite of [`index`], separate for tests.
pub fn rewrite_index(text: &str, base: &str) -> String {
    let escaped: String = base
        .chars()
        .map(|c| match c {
            '"' => "&quot;".to_string(),
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            c => c.to_string(),
        })
        .collect();
    let mut out = text.replace("src=\"./", &format!("src=\"{escaped}/")).replace("href=\"./", &format!("href=\"{escaped}/"));
    out = out.replacen(
        "<html ",
        &format!("<html data-openclaw-control-ui-base-path=\"{escaped}\" data-openclaw-terminal-enabled=\"false\" "),
        1,
    );
    out
}

/// The bodies of the inline `<script>` elements (no `src`, not empty).
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let Some(after) = rest.get(start..) else { break };
        let Some(open_end) = after.find('>') else { break };
        let tag = after.get(..open_end).unwrap_or("");
        let Some(body_and_rest) = after.get(open_end + 1..) else { break };
        let Some(close) = body_and_rest.find("</script>") else { break };
        let body = body_and_rest.get(..close).unwrap_or("");
        let has_src = tag.split_whitespace().any(|a| a.starts_with("src="));
        if !has_src && !body.is_empty() {
            out.push(body);
        }
        rest = body_and_rest.get(close..).unwrap_or("");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_stay_inside_the_root() {
        assert_eq!(file_path("/").as_deref(), Some(""));
        assert_eq!(file_path("/chat/assets/x.js").as_deref(), Some("assets/x.js"));
        assert_eq!(file_path("/__openclaw__/sw.js").as_deref(), Some("sw.js"));
        assert_eq!(file_path("/fonts/a.woff2").as_deref(), Some("fonts/a.woff2"));
        for bad in ["/../etc/passwd", "/%2e%2e/etc/passwd", "/a/%2e%2e/%2e%2e/x", "/a%00b", "/a\\..\\b", "//etc/passwd", "/assets/../../x"]
        {
            assert_eq!(file_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn index_references_become_absolute_under_the_base_path() {
        let html = r#"<html data-x="1" lang="en"><link href="./favicon.svg"><script type="module" src="./assets/i.js"></script><script>a()</script></html>"#;
        let out = rewrite_index(html, "/ui2");
        assert!(out.contains(r#"href="/ui2/favicon.svg""#) && out.contains(r#"src="/ui2/assets/i.js""#), "{out}");
        assert!(out.starts_with(r#"<html data-openclaw-control-ui-base-path="/ui2" data-openclaw-terminal-enabled="false" data-x="1""#));
        assert_eq!(inline_scripts(&out), vec!["a()"]);
        assert!(rewrite_index(html, "").contains(r#"src="/assets/i.js""#));
    }

    #[test]
    fn accept_encoding_ranks_br_gzip_and_identity() {
        assert_eq!(encodings("gzip, deflate, br"), (vec!["br", "gzip"], true));
        assert_eq!(encodings("gzip;q=0.5, br;q=0.9"), (vec!["br", "gzip"], true));
        assert_eq!(encodings("br;q=0, identity;q=0"), (vec![], false));
        assert_eq!(encodings(""), (vec![], true));
    }
}
