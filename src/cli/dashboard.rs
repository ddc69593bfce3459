//! `openclaw dashboard [--no-open] [--json]`: the control panel's address and a one-time owner
//! link. The link carries a bootstrap token in its fragment
//! (`#bootstrapToken=…&bootstrapProfile=owner&gatewayUrl=…`, the official names), written to the
//! state dir for the running gateway (see `gateway::bootstrap`): valid ten minutes, once, it
//! pairs the browser that opens it as the owner, which then signs in with its own device token.
//!
//! `openclaw dashboard install [--version V] [--registry URL]` and `openclaw dashboard uninstall`:
//! the official Control UI, fetched from the npm registry (`openclaw@V`), checked against the
//! registry's sha512 integrity, and only its `package/dist/control-ui/` extracted into
//! `<stateDir>/control-ui`, which `gateway.controlUi.root` then names.
//!
//! The tarball is streamed to a file while it is hashed, then read back through gzip and tar
//! framing parsed here (raw DEFLATE from `miniz_oxide`). Sizes are bounded; links, devices,
//! extension headers, absolute paths, `..` and other odd entries are refused.

#![cfg_attr(not(feature = "dashboard-install"), allow(dead_code, unused_imports))]

use argh::FromArgs;
use serde_json::{Value, json};
use std::path::Path;

use super::client::{CliError, TargetFlags};
use super::config::{Change, Writer};
use super::print_json;
use crate::config::Paths;
use crate::encoding::percent_encode;

/// The registry used when neither `--registry` nor `OPENCLAW_NPM_REGISTRY` names one.
pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org";
/// The directory under the state dir that holds the installed UI.
pub const DIR: &str = "control-ui";
const KEY: &str = "gateway.controlUi.root";

/// Largest registry document read (the full packument of `openclaw` is ~10 MB).
const MAX_METADATA_BYTES: usize = 32 << 20;
/// Largest tarball downloaded (2026.9.6 is 95 MB).
const MAX_TARBALL_BYTES: u64 = 512 << 20;
/// Largest uncompressed archive read through (2026.9.6 is 321 MB).
const MAX_ARCHIVE_BYTES: u64 = 2 << 30;
/// Largest single file extracted, and all of them together (the UI is 54 MB in 1795 files).
const MAX_FILE_BYTES: u64 = 64 << 20;
const MAX_UI_BYTES: u64 = 512 << 20;
const MAX_UI_FILES: usize = 20_000;
const PREFIX: &str = "package/dist/control-ui/";

/// open the control panel signed in; `install`/`uninstall` the official Control UI
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "dashboard")]
pub struct DashboardCmd {
    #[argh(subcommand)]
    pub action: Option<Action>,
    /// print the URL, do not open a browser
    #[argh(switch)]
    pub no_open: bool,
    /// print the result as JSON
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Action {
    Install(InstallCmd),
    Uninstall(UninstallCmd),
}

/// fetch the official Control UI (npm package openclaw) and serve it (gateway.controlUi.root)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "install")]
pub struct InstallCmd {
    /// the openclaw version or dist-tag to install (default: latest)
    #[argh(option, default = "String::from(\"latest\")")]
    pub version: String,
    /// npm registry URL (default: $OPENCLAW_NPM_REGISTRY or https://registry.npmjs.org)
    #[argh(option)]
    pub registry: Option<String>,
}

/// remove the installed Control UI and unset gateway.controlUi.root
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "uninstall")]
pub struct UninstallCmd {}

pub fn run(paths: &Paths, cmd: DashboardCmd) -> Result<(), CliError> {
    match cmd.action {
        Some(Action::Install(c)) => install(paths, c),
        Some(Action::Uninstall(_)) => uninstall(paths),
        None => open(paths, cmd.no_open, cmd.json),
    }
}

/// How long the check that the gateway serves the panel may take.
const DOCUMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The panel's addresses, as `--json` reports them.
struct Links {
    port: u16,
    http_url: String,
    ws_url: String,
}

/// `openclaw dashboard`: checks that the gateway of this state dir runs and serves the panel,
/// issues a one-time owner link, prints it, and opens it unless `no_open`. With `json`, the
/// official object (`{ok: false, reason}` and exit 1 when the gateway is not there).
fn open(paths: &Paths, no_open: bool, json: bool) -> Result<(), CliError> {
    let cfg = super::client::client_config(paths);
    let ui = &cfg.gateway.control_ui;
    let port = super::client::local_port(paths, &cfg);
    let links = Links {
        port,
        http_url: format!("http://127.0.0.1:{port}{}", ui.base_path),
        ws_url: format!("ws://127.0.0.1:{port}{}", ui.base_path.trim_end_matches('/')),
    };
    let issued = if !ui.enabled {
        Err("The control panel is off (gateway.controlUi.enabled is false).".to_string())
    } else if crate::daemon::lock::live_owner(&paths.state_dir).is_none() {
        Err("Gateway is not running.".to_string())
    } else {
        panel_served(&links.http_url).and_then(|()| {
            crate::gateway::bootstrap::issue(&paths.state_dir, crate::clock::now_ms())
                .map_err(|e| format!("Could not create a one-time browser pairing link: {e}"))
        })
    };
    let issued = match issued {
        Ok(issued) => issued,
        Err(reason) if json => {
            print_json(&json!({"ok": false, "reason": reason}));
            return Err(CliError::new(""));
        }
        Err(reason) => return Err(CliError::new(format!("{reason}\nStart it with `openclaw gateway run` (or `openclaw gateway start`)."))),
    };
    let browser_url = format!(
        "{}#bootstrapToken={}&bootstrapProfile={}&gatewayUrl={}",
        links.http_url,
        percent_encode(&issued.token),
        crate::gateway::bootstrap::OWNER_PROFILE,
        percent_encode(&links.ws_url)
    );
    if json {
        print_json(&json_result(paths, &cfg, &links, &browser_url, issued.expires_at_ms));
        return Ok(());
    }
    println!("Dashboard URL: {}", links.http_url);
    println!("One-time pairing link (opens the panel signed in as the owner; works once, for 10 minutes):");
    println!("{browser_url}");
    if no_open {
        println!("Browser launch disabled (--no-open). Open the link above in a browser on this machine.");
    } else if launch_browser(&browser_url) {
        println!("Opened in your browser. Keep that tab to control OpenClaw.");
    } else {
        println!("No browser to open here: open the link above in a browser on this machine.");
    }
    Ok(())
}

/// The official `--json` object. `url` keeps the shared token in its fragment, as the official
/// one does, for clients that sign in with it; `browserUrl` is the one-time owner link.
fn json_result(paths: &Paths, cfg: &crate::config::Config, links: &Links, browser_url: &str, expires_at_ms: u64) -> Value {
    let flags = TargetFlags { url: None, token: None, password: None, timeout_ms: None };
    let secret = super::client::resolve_target(paths, cfg, &flags).ok().and_then(|t| t.token.or(t.password));
    let url = match &secret {
        Some(t) => format!("{}#token={}", links.http_url, percent_encode(t.expose())),
        None => links.http_url.clone(),
    };
    json!({
        "ok": true,
        "url": url,
        "httpUrl": links.http_url,
        "wsUrl": links.ws_url,
        "port": links.port,
        "tokenIncluded": secret.is_some(),
        "browserUrl": browser_url,
        "browserBootstrapExpiresAtMs": expires_at_ms,
    })
}

/// Whether the gateway answers the panel's page with HTML, so the link leads somewhere.
fn panel_served(http_url: &str) -> Result<(), String> {
    let parsed = crate::url::Url::parse(http_url).map_err(|e| format!("{http_url}: {e}"))?;
    let req = crate::net::client::Request::new("GET", parsed).header("Accept", "text/html");
    let t = crate::net::client::Timeouts { connect: DOCUMENT_TIMEOUT, head: DOCUMENT_TIMEOUT, idle: DOCUMENT_TIMEOUT };
    let status = crate::rt::block_on(async {
        crate::net::client::send(&req, &t).await.map(|r| (r.status, r.header("content-type").map(str::to_string)))
    });
    match status {
        Ok((200, Some(kind))) if kind.starts_with("text/html") => Ok(()),
        Ok((code, _)) => Err(format!("Control UI dashboard is unavailable (HTTP {code}).")),
        Err(e) => Err(format!("Control UI dashboard is unavailable: {e}")),
    }
}

fn launch_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

fn install(paths: &Paths, cmd: InstallCmd) -> Result<(), CliError> {
    let registry = cmd
        .registry
        .or_else(|| std::env::var("OPENCLAW_NPM_REGISTRY").ok().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| DEFAULT_REGISTRY.to_string());
    let version = cmd.version.trim().to_string();
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_')) {
        return Err(CliError::new(format!("invalid version {version:?}")));
    }
    let dest = paths.state_dir.join(DIR);
    let staging = paths.state_dir.join(format!("{DIR}.staging"));
    let download = paths.state_dir.join(format!("{DIR}.tgz.part"));
    std::fs::create_dir_all(&paths.state_dir).map_err(|e| CliError::new(format!("cannot create the state dir: {e}")))?;
    let result = fetch_and_extract(&registry, &version, &download, &staging);
    let _ = std::fs::remove_file(&download);
    let (version, files, bytes) = match result {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(CliError::new(e));
        }
    };
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(|e| CliError::new(format!("cannot replace {}: {e}", dest.display())))?;
    }
    std::fs::rename(&staging, &dest).map_err(|e| CliError::new(format!("cannot move the UI into place: {e}")))?;
    println!("Installed the Control UI of openclaw {version}: {files} files, {} KiB in {}.", bytes / 1024, paths.display(&dest));
    let root = dest.to_string_lossy().into_owned();
    set_root(paths, Some(json!(root)))
}

fn uninstall(paths: &Paths) -> Result<(), CliError> {
    let dest = paths.state_dir.join(DIR);
    match std::fs::remove_dir_all(&dest) {
        Ok(()) => println!("Removed {}.", paths.display(&dest)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("No Control UI installed at {}.", paths.display(&dest)),
        Err(e) => return Err(CliError::new(format!("cannot remove {}: {e}", dest.display()))),
    }
    set_root(paths, None)
}

/// Sets or unsets `gateway.controlUi.root` through the gateway in charge, or in the file.
fn set_root(paths: &Paths, value: Option<Value>) -> Result<(), CliError> {
    let path = crate::config::edit::parse_path(KEY).map_err(CliError::new)?;
    let writer = Writer::open(paths, &TargetFlags::default())?;
    if value.is_none() && crate::config::edit::get(writer.current(), &path).is_none() {
        return Ok(());
    }
    let done = if value.is_some() { format!("Set {KEY}.") } else { format!("Removed {KEY}.") };
    let patch = crate::config::edit::patch_for(&path, value).map_err(CliError::new)?;
    let change = Change { patch, replace_paths: Vec::new(), note: "openclaw dashboard".to_string() };
    writer.apply(&change, false)?.report(&done, paths);
    Ok(())
}

#[cfg(not(feature = "dashboard-install"))]
fn fetch_and_extract(_registry: &str, _version: &str, _download: &Path, _staging: &Path) -> Result<(String, usize, u64), String> {
    Err("this build has no `dashboard install` (feature dashboard-install); unpack package/dist/control-ui of the npm package \
         openclaw yourself and set gateway.controlUi.root to that directory"
        .to_string())
}

/// Metadata, download with integrity check, extraction into `staging`. Returns the version, the
/// number of files and their bytes.
#[cfg(feature = "dashboard-install")]
fn fetch_and_extract(registry: &str, version: &str, download: &Path, staging: &Path) -> Result<(String, usize, u64), String> {
    let meta_url = format!("{}/openclaw/{version}", registry.trim_end_matches('/'));
    let meta = crate::rt::block_on(get_text(&meta_url))?;
    let meta: Value = serde_json::from_str(&meta).map_err(|e| format!("{meta_url}: not JSON ({e})"))?;
    // A version document, or a packument (its `versions[v]`).
    let doc = if meta.get("dist").is_some() { &meta } else { &meta["versions"][version] };
    let real_version = doc["version"].as_str().unwrap_or(version).to_string();
    let integrity = doc["dist"]["integrity"].as_str().ok_or(format!("{meta_url}: no dist.integrity for openclaw@{version}"))?;
    let expected = integrity
        .split_whitespace()
        .find_map(|i| i.strip_prefix("sha512-"))
        .ok_or(format!("{meta_url}: dist.integrity has no sha512 ({integrity})"))?
        .to_string();
    let tarball = doc["dist"]["tarball"].as_str().ok_or(format!("{meta_url}: no dist.tarball"))?.to_string();
    println!("Downloading openclaw {real_version} from {tarball}");
    let got = crate::rt::block_on(download_to(&tarball, download))?;
    if got != expected {
        return Err(format!("integrity check failed for {tarball}: expected sha512-{expected}, got sha512-{got}"));
    }
    let _ = std::fs::remove_dir_all(staging);
    std::fs::create_dir_all(staging).map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    let file = std::fs::File::open(download).map_err(|e| format!("cannot read the download: {e}"))?;
    let (files, bytes) = extract(std::io::BufReader::new(file), staging)?;
    if !staging.join("index.html").is_file() {
        return Err(format!("openclaw {real_version} has no {PREFIX}index.html"));
    }
    Ok((real_version, files, bytes))
}

fn timeouts() -> crate::net::client::Timeouts {
    let t = std::time::Duration::from_secs(30);
    crate::net::client::Timeouts { connect: t, head: t, idle: t }
}

async fn get_text(url: &str) -> Result<String, String> {
    let parsed = crate::url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let req = crate::net::client::Request::new("GET", parsed).header("Accept", "application/json");
    let mut resp = crate::net::client::send(&req, &timeouts()).await.map_err(|e| format!("{url}: {e}"))?;
    if resp.status != 200 {
        return Err(format!("{url}: HTTP {}", resp.status));
    }
    resp.text(MAX_METADATA_BYTES, std::time::Duration::from_secs(120)).await.map_err(|e| format!("{url}: {e}"))
}

/// Streams `url` into `path`; returns the base64 sha512 of the bytes.
async fn download_to(url: &str, path: &Path) -> Result<String, String> {
    use std::io::Write;
    let parsed = crate::url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let req = crate::net::client::Request::new("GET", parsed);
    let mut resp = crate::net::client::send(&req, &timeouts()).await.map_err(|e| format!("{url}: {e}"))?;
    if resp.status != 200 {
        return Err(format!("{url}: HTTP {}", resp.status));
    }
    let mut out = std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut hash = ring::digest::Context::new(&ring::digest::SHA512);
    let mut total = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        total += chunk.len() as u64;
        if total > MAX_TARBALL_BYTES {
            return Err(format!("{url}: larger than {} MiB", MAX_TARBALL_BYTES >> 20));
        }
        hash.update(&chunk);
        out.write_all(&chunk).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    out.sync_all().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(crate::encoding::base64(hash.finish().as_ref()))
}

#[cfg(feature = "dashboard-install")]
/// Reads a gzip member header (RFC 1952) up to the DEFLATE data.
fn gzip_header<R: std::io::Read>(r: &mut R) -> Result<(), String> {
    let bad = |what: &str| format!("not a gzip file ({what})");
    let mut fixed = [0u8; 10];
    r.read_exact(&mut fixed).map_err(|_| bad("too short"))?;
    if fixed[0] != 0x1f || fixed[1] != 0x8b || fixed[2] != 8 {
        return Err(bad("bad magic"));
    }
    let flags = fixed[3];
    let mut byte = [0u8; 1];
    if flags & 4 != 0 {
        let mut len = [0u8; 2];
        r.read_exact(&mut len).map_err(|_| bad("extra field"))?;
        let mut skip = vec![0u8; u16::from_le_bytes(len) as usize];
        r.read_exact(&mut skip).map_err(|_| bad("extra field"))?;
    }
    for flag in [8u8, 16] {
        if flags & flag != 0 {
            loop {
                r.read_exact(&mut byte).map_err(|_| bad("name"))?;
                if byte[0] == 0 {
                    break;
                }
            }
        }
    }
    if flags & 2 != 0 {
        let mut crc = [0u8; 2];
        r.read_exact(&mut crc).map_err(|_| bad("header crc"))?;
    }
    Ok(())
}

#[cfg(feature = "dashboard-install")]
/// Where the tar stream is.
enum Tar {
    Header,
    /// File data: bytes left, padding after it, and the file being written (`None`: skipped).
    Data {
        left: u64,
        pad: u64,
        out: Option<std::fs::File>,
    },
    End,
}

#[cfg(feature = "dashboard-install")]
struct Extractor<'a> {
    staging: &'a Path,
    pending: Vec<u8>,
    state: Tar,
    files: usize,
    bytes: u64,
}

#[cfg(feature = "dashboard-install")]
impl Extractor<'_> {
    fn push(&mut self, mut data: &[u8]) -> Result<(), String> {
        use std::io::Write;
        while !data.is_empty() {
            match &mut self.state {
                Tar::End => return Ok(()),
                Tar::Data { left, pad, out } => {
                    if *left > 0 {
                        let n = (*left).min(data.len() as u64) as usize;
                        let (now, rest) = data.split_at(n);
                        if let Some(f) = out {
                            f.write_all(now).map_err(|e| format!("cannot write the UI: {e}"))?;
                        }
                        *left -= n as u64;
                        data = rest;
                    } else if *pad > 0 {
                        let n = (*pad).min(data.len() as u64) as usize;
                        *pad -= n as u64;
                        data = data.get(n..).unwrap_or_default();
                    }
                    if let Tar::Data { left: 0, pad: 0, .. } = self.state {
                        self.state = Tar::Header;
                    }
                }
                Tar::Header => {
                    let need = 512 - self.pending.len();
                    let n = need.min(data.len());
                    let (now, rest) = data.split_at(n);
                    self.pending.extend_from_slice(now);
                    data = rest;
                    if self.pending.len() == 512 {
                        let block = std::mem::take(&mut self.pending);
                        self.state = self.header(&block)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn header(&mut self, h: &[u8]) -> Result<Tar, String> {
        if h.iter().all(|b| *b == 0) {
            return Ok(Tar::End);
        }
        let field = |a: usize, b: usize| h.get(a..b).unwrap_or_default();
        let text = |a: usize, b: usize| {
            let f = field(a, b);
            let end = f.iter().position(|c| *c == 0).unwrap_or(f.len());
            std::str::from_utf8(f.get(..end).unwrap_or_default()).map(str::to_string).map_err(|_| "a tar path is not UTF-8".to_string())
        };
        let octal = |a: usize, b: usize| -> Result<u64, String> {
            let s: String = field(a, b).iter().map(|c| *c as char).filter(|c| *c != '\0' && *c != ' ').collect();
            if s.is_empty() { Ok(0) } else { u64::from_str_radix(&s, 8).map_err(|_| format!("bad tar number {s:?}")) }
        };
        let stored: u64 = field(148, 156).iter().map(|c| *c as u64).sum::<u64>();
        let sum: u64 = h.iter().enumerate().map(|(i, c)| if (148..156).contains(&i) { 32 } else { *c as u64 }).sum();
        if octal(148, 156)? != sum && stored != 0 {
            return Err("tar header checksum mismatch".to_string());
        }
        let name = text(0, 100)?;
        let prefix = if field(257, 263) == b"ustar\0" { text(345, 500)? } else { String::new() };
        let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let size = octal(124, 136)?;
        let kind = field(156, 157).first().copied().unwrap_or(0);
        let pad = (512 - size % 512) % 512;
        match kind {
            b'0' | 0 | b'7' => {}
            b'5' => return Ok(if size == 0 { Tar::Header } else { Tar::Data { left: size, pad, out: None } }),
            other => return Err(format!("refusing tar entry {path:?} of type {:?} (only regular files are accepted)", other as char)),
        }
        let skip = if size == 0 { Tar::Header } else { Tar::Data { left: size, pad, out: None } };
        let Some(rel) = path.strip_prefix(PREFIX) else { return Ok(skip) };
        let safe = !rel.is_empty()
            && !rel.contains('\\')
            && rel.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != ".." && !seg.contains(':'));
        if !safe {
            return Err(format!("refusing tar entry with an unsafe path: {path:?}"));
        }
        if size > MAX_FILE_BYTES {
            return Err(format!("refusing {path:?}: {size} bytes is over the {} MiB limit", MAX_FILE_BYTES >> 20));
        }
        self.files += 1;
        self.bytes += size;
        if self.files > MAX_UI_FILES || self.bytes > MAX_UI_BYTES {
            return Err(format!("the Control UI is larger than {MAX_UI_FILES} files or {} MiB", MAX_UI_BYTES >> 20));
        }
        let target = self.staging.join(rel);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        Ok(if size == 0 { Tar::Header } else { Tar::Data { left: size, pad, out: Some(out) } })
    }
}

#[cfg(feature = "dashboard-install")]
/// Extracts `PREFIX` from a .tgz into `staging`; returns the file count and bytes.
pub fn extract<R: std::io::Read>(mut input: R, staging: &Path) -> Result<(usize, u64), String> {
    use miniz_oxide::inflate::stream::{InflateState, inflate};
    use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
    gzip_header(&mut input)?;
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut ex = Extractor { staging, pending: Vec::new(), state: Tar::Header, files: 0, bytes: 0 };
    let mut inbuf = vec![0u8; 64 << 10];
    let mut outbuf = vec![0u8; 256 << 10];
    let (mut start, mut end) = (0usize, 0usize);
    let mut total = 0u64;
    let mut eof = false;
    loop {
        if start == end && !eof {
            end = input.read(&mut inbuf).map_err(|e| format!("cannot read the download: {e}"))?;
            start = 0;
            eof = end == 0;
        }
        let r = inflate(&mut state, inbuf.get(start..end).unwrap_or_default(), &mut outbuf, MZFlush::None);
        start += r.bytes_consumed;
        total += r.bytes_written as u64;
        if total > MAX_ARCHIVE_BYTES {
            return Err(format!("the archive unpacks to more than {} MiB", MAX_ARCHIVE_BYTES >> 20));
        }
        ex.push(outbuf.get(..r.bytes_written).unwrap_or_default())?;
        match r.status {
            Ok(MZStatus::StreamEnd) => break,
            Ok(_) | Err(MZError::Buf) if !(eof && r.bytes_written == 0 && r.bytes_consumed == 0) => {}
            Ok(_) | Err(MZError::Buf) => return Err("the archive ends early".to_string()),
            Err(e) => return Err(format!("the archive is corrupt ({e:?})")),
        }
    }
    if !matches!(ex.state, Tar::End | Tar::Header) {
        return Err("the tar stream ends inside an entry".to_string());
    }
    Ok((ex.files, ex.bytes))
}

#[cfg(feature = "dashboard-install")]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_gzip_is_refused() {
        let dir = std::env::temp_dir().join(format!("oc-dash-{}", std::process::id()));
        let e = extract(&b"PK\x03\x04 not a tgz"[..], &dir).unwrap_err();
        assert!(e.contains("not a gzip file"), "{e}");
    }
}
