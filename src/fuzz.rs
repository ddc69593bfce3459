#![allow(clippy::panic)] // A failed check here is the finding: the fuzzer reports the panic.

//! Entry points of the fuzz targets in `fuzz/` (cargo-fuzz, nightly) and of the corpus replay in
//! `cargo test` (stable). Each takes arbitrary bytes and hands them to the real readers of the
//! crate: the functions the gateway runs on what arrives from a socket or is found in a file.
//! Whatever the input, none of them may panic: release builds abort on a panic, so a panic here
//! is an outage there. Some also check a property (a file reads back as written, an event stream
//! decodes the same however it is split); a failed check panics too.
//!
//! The first bytes of an input steer it: which reader of a family, how a stream is cut into
//! reads, a limit. The rest is the payload. Files are written to a scratch directory
//! (`$OPENCLAW_FUZZ_DIR`, else the system temp dir) per process and target.
//!
//! Nothing here is used by the program; `lto` drops it from the release binary.

use serde_json::{Value, json};
use smol::io::{AsyncRead, AsyncWrite};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::agent::providers::{self, ResolvedModel, StreamEvent};
use crate::channels::journal::{Inbound, Journal};
use crate::config::channels as cfg;
use crate::net::http::{Conn, Deadlines, HttpError, Response};
use crate::net::sse::{SseEvent, SseParser};

mod gateway;

pub use gateway::{gateway_http, gateway_rpc};

/// A fuzz target: one input, any bytes; it returns only if the code under it did not panic.
pub type Target = fn(&[u8]);

/// The targets, by name: what `fuzz/fuzz_targets/<name>.rs` calls, and what the corpus replay
/// looks up for `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("http_request", http_request),
    ("http_response", http_response),
    ("gateway_rpc", gateway_rpc),
    ("gateway_http", gateway_http),
    ("json5", json5),
    ("config", config),
    ("sse", sse),
    ("chat_payloads", chat_payloads),
    ("model_stream", model_stream),
    ("transcript", transcript),
    ("session_index", session_index),
    ("channel_journal", channel_journal),
];

/// Reads an input front to back: steering bytes first, then the payload. Past the end it yields
/// zeros and empty slices, so every input is usable.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// The next `n` bytes (fewer at the end).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Up to the first `0xff` byte (dropped), or everything left.
    fn field(&mut self) -> &'a [u8] {
        match self.data.iter().position(|b| *b == 0xff) {
            Some(i) => {
                let head = &self.data[..i];
                self.data = &self.data[i + 1..];
                head
            }
            None => self.rest(),
        }
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Read sizes that cycle through `seeds` (each 1..=256), so a stream arrives cut in every way.
fn piece_sizes(seeds: &[u8]) -> Vec<usize> {
    let sizes: Vec<usize> = seeds.iter().map(|b| *b as usize + 1).collect();
    if sizes.is_empty() { vec![usize::MAX] } else { sizes }
}

/// A socket in memory: reads hand out `input` in pieces of the given sizes, then end of file;
/// writes are accepted and dropped.
struct Pieces {
    input: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl Pieces {
    fn new(input: &[u8], sizes: Vec<usize>) -> Pieces {
        Pieces { input: input.to_vec(), pos: 0, sizes, next: 0 }
    }
}

impl AsyncRead for Pieces {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let size = this.sizes[this.next % this.sizes.len()];
        this.next += 1;
        let n = size.min(buf.len()).min(this.input.len() - this.pos);
        buf[..n].copy_from_slice(&this.input[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Pieces {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Where this process keeps the files of its fuzz inputs.
pub fn scratch_root() -> PathBuf {
    let base = std::env::var_os("OPENCLAW_FUZZ_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    base.join(format!("openclaw-fuzz-{}", std::process::id()))
}

/// An empty directory for one input of `target` (the previous input's files are removed).
fn scratch(target: &str) -> PathBuf {
    let dir = scratch_root().join(target);
    let _ = std::fs::remove_dir_all(&dir);
    // A scratch directory that cannot be made is a broken machine, not a finding.
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create the fuzz scratch directory {}: {e}", dir.display());
    }
    dir
}

// ---- HTTP -----------------------------------------------------------------------------------

/// The server's HTTP/1.1 reader: request heads (httparse, then our checks), bodies with
/// `Content-Length` or chunked framing under a limit, keep-alive and pipelining, and the
/// WebSocket upgrade checks on a head that asks for one, the way `net::server` runs them.
///
/// Input: a byte choosing the body limit, a byte counting read-size seeds, those seeds, then the
/// bytes the client sends.
pub fn http_request(data: &[u8]) {
    let mut input = Input::new(data);
    let limit = [0, 1, 16, 1024, 64 * 1024, crate::limits::V1_MAX_BODY_BYTES][input.byte() as usize % 6];
    let seeds = input.byte() as usize % 8;
    let sizes = piece_sizes(input.take(seeds));
    let mut conn = Conn::new(Pieces::new(input.rest(), sizes), Deadlines::default());
    smol::block_on(async {
        for _ in 0..64 {
            let head = match conn.read_head(Duration::from_secs(1)).await {
                Ok(Some(head)) => head,
                Ok(None) => return,
                Err(e) => return reject(&e),
            };
            let _ = (head.keep_alive(), head.header("host"), head.query_param("a"), head.header_has_token("connection", "close"));
            if let Some(protocol) = head.upgrade() {
                if protocol.eq_ignore_ascii_case("websocket") {
                    if let Ok(req) = crate::net::ws::check_upgrade(&head) {
                        let _ = crate::net::ws::accept_response(&req);
                    }
                }
                return;
            }
            let body = match conn.read_body(&head, limit).await {
                Ok(body) => body,
                Err(e) => return reject(&e),
            };
            assert!(body.len() <= limit, "a body of {} bytes passed the limit of {limit}", body.len());
            let keep_alive = head.keep_alive();
            if conn.write_response(Response::text(200, "ok"), head.method == "HEAD", keep_alive).await.is_err() || !keep_alive {
                return;
            }
        }
    });
}

fn reject(e: &HttpError) {
    let _ = (e.status(), e.message());
}

/// The client's HTTP/1.1 reader (model providers and chat services answer through it): the
/// response head, `Retry-After`, the body with `Content-Length`, chunked or close-delimited
/// framing, and the bounded `text()` read; also the URL parser the provider and Discord gateway
/// URLs go through.
///
/// Input: a mode byte (bit 0–1 request method, bit 2 collect with `text()`, bit 3 parse a URL
/// instead), a byte counting read-size seeds, those seeds, then the server's bytes.
pub fn http_response(data: &[u8]) {
    use crate::net::client;
    let mut input = Input::new(data);
    let mode = input.byte();
    if mode & 8 != 0 {
        if let Ok(url) = client::Url::parse(&text(input.rest())) {
            let _ = (url.join("v1/messages").to_string(), url.authority(), url.is_loopback());
        }
        return;
    }
    let method = ["GET", "HEAD", "POST", "PUT"][mode as usize % 4];
    let seeds = input.byte() as usize % 8;
    let sizes = piece_sizes(input.take(seeds));
    let stream = Pieces::new(input.rest(), sizes);
    let t = client::Timeouts { connect: Duration::from_secs(1), head: Duration::from_secs(1), idle: Duration::from_secs(1) };
    smol::block_on(async {
        let Ok(mut resp) = client::read_response(stream, method, &t).await else { return };
        let _ = (resp.retry_after(), resp.header("content-type"));
        if mode & 4 != 0 {
            let limit = 1 + mode as usize * 16;
            if let Ok(body) = resp.text(limit, Duration::from_secs(1)).await {
                assert!(body.len() <= limit * 3, "text() kept {} bytes for a limit of {limit}", body.len());
            }
            return;
        }
        while let Ok(Some(_)) = resp.chunk().await {}
    });
}

// ---- config ---------------------------------------------------------------------------------

/// The JSON5 reader alone. Every JSON document is JSON5, so when `serde_json` accepts the text
/// the JSON5 reader must accept it too and read the same value.
pub fn json5(data: &[u8]) {
    let text = text(data);
    let ours = crate::config::json5::parse(&text);
    if let Ok(json) = serde_json::from_str::<Value>(&text) {
        match ours {
            Ok(v) => assert!(same(&v, &json), "the JSON5 reader reads this JSON differently: {text:?}\n{v}\n{json}"),
            Err(e) => panic!("the JSON5 reader refuses JSON that serde_json reads ({e}): {text:?}"),
        }
    }
}

/// Equal values, where a float may differ from serde_json's in its last digits: serde_json
/// (without `float_roundtrip`) rounds long decimals only nearly right (a few units in the last
/// place off), the standard library's parser, which the JSON5 reader uses, exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-14 * x.abs().max(y.abs()),
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

/// A config file from disk through everything the gateway does with one: JSON5, `$include`,
/// `${VAR}`, the typed config and its check, redaction, the hash, the reload diff against the
/// empty config, and the start-up checks (listen and auth settings).
///
/// Input: a flag byte (bit 0: the text after the first `0xff` becomes `extra.json5`, which the
/// config can `$include`), then the file.
pub fn config(data: &[u8]) {
    use crate::config::{self, Paths};
    let mut input = Input::new(data);
    let flags = input.byte();
    let dir = scratch("config");
    let main = if flags & 1 != 0 { input.field() } else { input.rest() };
    let paths =
        Paths { home: dir.clone(), profile: None, state_dir: dir.join("state"), config_path: dir.join("openclaw.json"), dev: false };
    let _ = std::fs::write(&paths.config_path, main);
    let _ = std::fs::write(dir.join("extra.json5"), input.rest());
    let Ok(loaded) = config::load(&paths) else { return };
    let resolved = loaded.resolved();
    let _ = config::redact(&resolved);
    if let Some(source) = &loaded.source {
        let _ = config::redact_raw(&source.raw, &source.parsed);
        let _ = config::config_hash(&[7; 32], &source.raw);
    }
    let plan = config::reload::diff(&json!({}), &resolved, &config::model::is_used_section);
    let _ = (plan.describe(), plan.needs_restart());
    let opts = crate::gateway::rules::RunOptions { port: Some(0), ..Default::default() };
    let _ = crate::gateway::rules::check_mode(&paths, &loaded, &opts);
    if loaded.is_valid() {
        let _ = crate::gateway::rules::build_settings(&paths, loaded, &opts, &[7; 32]);
    }
}

// ---- server-sent events ---------------------------------------------------------------------

/// The server-sent event reader. An event stream must decode the same whether it arrives in
/// one read or cut into pieces (the error for an overlong event included).
///
/// Input: a byte choosing the event size limit, a byte counting read-size seeds, those seeds,
/// then the stream.
pub fn sse(data: &[u8]) {
    let mut input = Input::new(data);
    let max = match input.byte() {
        0..=127 => 1 + input.byte() as usize,
        _ => crate::limits::SSE_MAX_LINE,
    };
    let seeds = input.byte() as usize % 8;
    let sizes = piece_sizes(input.take(seeds));
    let stream = input.rest();
    let whole = sse_events(stream, &[usize::MAX], max);
    let pieces = sse_events(stream, &sizes, max);
    assert_eq!(whole, pieces, "the event stream decodes differently when split {sizes:?}");
}

/// The events of `stream` fed in pieces, up to the first error, and the error.
fn sse_events(stream: &[u8], sizes: &[usize], max: usize) -> (Vec<SseEvent>, Option<String>) {
    let mut parser = SseParser::new(max);
    let mut out = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(sizes[i % sizes.len()].min(rest.len()));
        i += 1;
        rest = tail;
        if let Err(e) = parser.feed(piece, &mut out) {
            return (out, Some(e.0));
        }
    }
    out.extend(parser.finish());
    (out, None)
}

// ---- model providers ------------------------------------------------------------------------

/// The model stream readers: OpenAI chat-completion chunks and Anthropic message events, from
/// the raw body bytes through the SSE reader to the decoded text, tool calls, usage and stop,
/// exactly as a provider stream runs them; and the error answer reader (`http_error`).
///
/// Input: a byte choosing the reader (and for errors the status), a byte counting read-size
/// seeds, those seeds, then the body.
pub fn model_stream(data: &[u8]) {
    let mut input = Input::new(data);
    let which = input.byte();
    let mut model = ResolvedModel::offline();
    model.provider = "fuzz".into();
    if which % 3 == 2 {
        let status = [400, 401, 402, 408, 429, 500, 503, 529][(which as usize / 3) % 8];
        let _ = providers::http_error(&model, status, &text(input.rest()), None);
        return;
    }
    let seeds = input.byte() as usize % 8;
    let sizes = piece_sizes(input.take(seeds));
    let mut body = input.rest();
    let mut parser = SseParser::new(crate::limits::SSE_MAX_LINE);
    let mut events = Vec::new();
    let mut i = 0;
    while !body.is_empty() {
        let (piece, tail) = body.split_at(sizes[i % sizes.len()].min(body.len()));
        i += 1;
        body = tail;
        if parser.feed(piece, &mut events).is_err() {
            return;
        }
    }
    events.extend(parser.finish());
    let mut decoder = if which % 3 == 0 {
        Decoder::OpenAi(providers::openai::Decoder::new(model))
    } else {
        Decoder::Anthropic(providers::anthropic::Decoder::new(model))
    };
    // Fed the way `Stream::next` feeds it: every event, then the end of the body, until done.
    let mut out = Vec::new();
    for event in events.into_iter().map(Some).chain([None]) {
        if decoder.is_done() {
            break;
        }
        if decoder.feed(event).is_err() {
            return;
        }
        out.extend(std::iter::from_fn(|| decoder.pop()));
    }
    let stops = out.iter().filter(|e| matches!(e, StreamEvent::Stop(_))).count();
    assert!(stops == 1 && matches!(out.last(), Some(StreamEvent::Stop(_))), "a finished stream must end in one Stop: {out:?}");
}

/// The two stream decoders.
enum Decoder {
    OpenAi(providers::openai::Decoder),
    Anthropic(providers::anthropic::Decoder),
}

impl Decoder {
    fn feed(&mut self, event: Option<SseEvent>) -> Result<(), providers::ProviderError> {
        match self {
            Decoder::OpenAi(d) => d.feed(event),
            Decoder::Anthropic(d) => d.feed(event),
        }
    }

    fn pop(&mut self) -> Option<StreamEvent> {
        match self {
            Decoder::OpenAi(d) => d.pop(),
            Decoder::Anthropic(d) => d.pop(),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Decoder::OpenAi(d) => d.is_done(),
            Decoder::Anthropic(d) => d.is_done(),
        }
    }
}

// ---- chat services --------------------------------------------------------------------------

/// The chat services' readers, each on the path its receiver runs, with a real journal: a
/// Telegram Bot API answer (`getUpdates`, `getMe`) with its updates recorded, a Discord gateway
/// payload (Hello, dispatches with MESSAGE_CREATE, READY, RESUMED) or REST error body or resume
/// cursor, a WhatsApp webhook delivery (correctly signed, so the payload is read) or its
/// verification handshake. What was recorded must read back the same after a reopen.
///
/// Input: a byte choosing the reader, a byte for access policy and identities, then the payload.
pub fn chat_payloads(data: &[u8]) {
    let mut input = Input::new(data);
    let which = input.byte();
    let knobs = input.byte();
    let dir = scratch("chat_payloads");
    let Ok(journal) = Journal::open(&dir) else { return };
    let journal = std::sync::Arc::new(journal);
    let access = cfg::Access {
        dm_policy: if knobs & 1 != 0 { cfg::DmPolicy::Open } else { cfg::DmPolicy::Pairing },
        allow_from: vec!["*".into()],
        group_policy: if knobs & 2 != 0 { cfg::GroupPolicy::Open } else { cfg::GroupPolicy::Allowlist },
        group_allow_from: Vec::new(),
        groups: Vec::new(),
        require_mention: knobs & 4 != 0,
    };
    let payload = input.rest();
    smol::block_on(async {
        match which % 8 {
            #[cfg(feature = "telegram")]
            0 | 1 => telegram(payload, knobs, access, journal.clone()).await,
            #[cfg(feature = "discord")]
            2 | 3 => discord_gateway(payload, knobs, access, journal.clone()).await,
            #[cfg(feature = "discord")]
            4 => discord_rest(payload),
            #[cfg(feature = "whatsapp")]
            5 | 6 => whatsapp(payload, knobs, access, journal.clone()).await,
            #[cfg(feature = "whatsapp")]
            7 => whatsapp_verify(payload),
            _ => {}
        }
    });
    let before: Vec<(Inbound, Option<String>, usize)> = journal.pending().into_iter().map(|e| (e.msg, e.reply, e.sent)).collect();
    let cursor = journal.cursor();
    drop(journal);
    let Ok(again) = Journal::open(&dir) else { return };
    let after: Vec<(Inbound, Option<String>, usize)> = again.pending().into_iter().map(|e| (e.msg, e.reply, e.sent)).collect();
    assert_eq!(before, after, "the journal reads back differently after a reopen");
    assert_eq!(cursor, again.cursor(), "the journal cursor reads back differently after a reopen");
}

#[cfg(feature = "discord")]
fn json_or_text(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(text(bytes)))
}

#[cfg(feature = "telegram")]
async fn telegram(payload: &[u8], knobs: u8, access: cfg::Access, journal: std::sync::Arc<Journal>) {
    use crate::channels::telegram;
    let link = crate::channels::Link::detached(crate::channels::ChannelKind::Telegram, access, journal);
    let status = if knobs & 8 != 0 { 429 } else { 200 };
    let body = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let reply = crate::channels::ApiReply { status, body, retry_after: None, headers: Vec::new() };
    match telegram::answer("getUpdates", reply) {
        Ok(Value::Array(updates)) => {
            let (bot_id, username) = telegram::identity(&json!({"id": 1, "username": "fuzz_bot"}));
            let mut offset = (knobs & 16 != 0).then_some(7);
            let _ = telegram::record(&link, updates, &mut offset, bot_id, &username).await;
        }
        Ok(me) => {
            let _ = telegram::identity(&me);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

#[cfg(feature = "discord")]
async fn discord_gateway(payload: &[u8], knobs: u8, access: cfg::Access, journal: std::sync::Arc<Journal>) {
    use crate::channels::discord;
    let link = crate::channels::Link::detached(crate::channels::ChannelKind::Discord, access, journal);
    let cursor = r#"{"sessionId":"s","seq":4,"resumeUrl":"wss://resume.example","botId":"900","botName":"bot"}"#;
    let mut state = discord::State::restore((knobs & 8 != 0).then_some(cursor));
    let mut ready_at = None;
    // A connection's frames, one per line, as `connection` reads them after Hello.
    for frame in payload.split(|b| *b == b'\n') {
        let Ok(envelope) = serde_json::from_slice::<discord::wire::Envelope>(frame) else { continue };
        let _ = discord::hello_interval(&envelope);
        if envelope.op == 0 {
            let t = envelope.t.as_deref().unwrap_or_default();
            if discord::dispatch(&link, &mut state, t, &envelope.d, envelope.s, &mut ready_at).await.is_err() {
                return;
            }
        }
        let _ = state.cursor_at(None);
    }
}

#[cfg(feature = "discord")]
fn discord_rest(payload: &[u8]) {
    use crate::channels::discord;
    let mut input = Input::new(payload);
    let code = input.u16();
    let header = text(input.field());
    let _ = (discord::seconds(&header), discord::target(&header), discord::closed(code, &header));
    let rest = input.rest();
    let _ = discord::error_text(&json_or_text(rest));
    let restored = discord::State::restore(Some(&text(rest)));
    let _ = (restored.cursor_at(None), restored.cursor_at(Some(1)));
}

#[cfg(feature = "whatsapp")]
fn whatsapp_config(knobs: u8) -> cfg::WhatsApp {
    use crate::config::secret::Secret;
    cfg::WhatsApp {
        access_token: None,
        token_source: cfg::TokenSource::None,
        phone_number_id: (knobs & 8 != 0).then(|| "123".to_string()),
        app_secret: Some(Secret::new("fuzz-app-secret")),
        verify_token: Some(Secret::new("fuzz-verify-token")),
        webhook_path: "/whatsapp/webhook".into(),
        graph_root: "http://127.0.0.1:9".into(),
        api_version: "v21.0".into(),
    }
}

#[cfg(feature = "whatsapp")]
async fn whatsapp(payload: &[u8], knobs: u8, access: cfg::Access, journal: std::sync::Arc<Journal>) {
    let link = crate::channels::Link::detached(crate::channels::ChannelKind::WhatsApp, access, journal);
    let c = whatsapp_config(knobs);
    let (signature, body) = if knobs & 16 != 0 {
        // A signature header as sent, for the check itself.
        let mut input = Input::new(payload);
        (text(input.field()), input.rest())
    } else {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"fuzz-app-secret");
        (format!("sha256={}", crate::encoding::hex(ring::hmac::sign(&key, payload).as_ref())), payload)
    };
    let _ = crate::channels::whatsapp::deliver(&link, &c, Some(&signature), body).await;
}

#[cfg(feature = "whatsapp")]
fn whatsapp_verify(payload: &[u8]) {
    let mut input = Input::new(payload);
    let (mode, token, challenge) = (text(input.field()), text(input.field()), text(input.rest()));
    let _ = crate::channels::whatsapp::verify(&whatsapp_config(0), Some(&mode), Some(&token), Some(&challenge));
}

// ---- files ----------------------------------------------------------------------------------

/// The transcript reader on a torn or corrupted file: the bounded tail read, the backwards
/// search for the last wanted line, the header; then an append, which must cut a torn tail so
/// that the appended line reads back as the last one.
///
/// Input: three bytes choosing the line and byte bounds, then the file.
pub fn transcript(data: &[u8]) {
    use crate::agent::transcript as t;
    let mut input = Input::new(data);
    let max_lines = 1 + input.byte() as usize % 64;
    let max_bytes = [1, 7, 64, 1024, 16 * 1024, 1 << 20][input.byte() as usize % 6];
    let max_line = [0, 1, 16, 1024, u64::MAX][input.byte() as usize % 5];
    let path = scratch("transcript").join("s.jsonl");
    let _ = std::fs::write(&path, input.rest());
    if let Ok(tail) = t::read_tail(&path, max_lines, max_bytes) {
        assert!(tail.entries.len() <= max_lines, "read_tail returned {} lines for a bound of {max_lines}", tail.entries.len());
    }
    let _ = t::last_entry(&path, max_line, |v| v["seq"].is_u64());
    let _ = t::read_header(&path);
    let line = json!({"type": "message", "seq": 1, "fuzz": true});
    if t::append(&path, std::slice::from_ref(&line), false).is_ok() {
        let last = t::last_entry(&path, u64::MAX, |_| true).ok().flatten();
        assert_eq!(last.as_ref(), Some(&line), "the appended line is not the last one read back");
    }
}

/// The session store on a corrupted index (`sessions.json`) and transcript: loading (with the
/// rebuild from transcript headers when the index is unreadable), listing and the `SessionRow`
/// each entry becomes, tail reads, appends (which find the sequence number at the transcript's
/// end), creating a session under the maintenance policy, reset and delete. The index the store
/// writes back must read back.
///
/// Input: two bytes giving the index's length, the index, then the transcript (`t.jsonl`).
pub fn session_index(data: &[u8]) {
    use crate::agent::SessionKey;
    use crate::agent::store::{Append, INDEX_FILE, Store};
    let mut input = Input::new(data);
    let index_len = input.u16() as usize;
    let index = input.take(index_len);
    let root = scratch("session_index");
    let state = root.join("state");
    let sessions = state.join("agents").join("main").join("sessions");
    if std::fs::create_dir_all(&sessions).is_err() {
        return;
    }
    let _ = std::fs::write(sessions.join(INDEX_FILE), index);
    let _ = std::fs::write(sessions.join("t.jsonl"), input.rest());
    let store = Store::new(&state);
    let policy = crate::config::agents::Maintenance { enforce: true, prune_after: Duration::from_secs(3600), max_entries: 3 };
    smol::block_on(async {
        let Ok(list) = store.list("main").await else { return };
        for (key, entry) in list.iter().take(4) {
            let _ = crate::rpc::methods::sessions::row(key, entry, false);
            let Ok(k) = SessionKey::parse(key, "main", None) else { continue };
            if k.to_string() != *key || k.agent_id != "main" {
                continue;
            }
            let _ = store.read_tail(&k, 8, 4096).await;
            let _ = store.append(&k, vec![Append { message: json!({"role": "user", "content": "hi"}), run_id: None }]).await;
        }
        let _ = store.ensure(&SessionKey::main("main"), &root, &policy).await;
        if let Some((key, _)) = list.first() {
            if let Ok(k) = SessionKey::parse(key, "main", None) {
                let _ = store.reset(&k, &root).await;
                let _ = store.delete(&k, false).await;
            }
        }
    });
    if let Ok(bytes) = std::fs::read(sessions.join(INDEX_FILE)) {
        let parsed = serde_json::from_slice::<std::collections::BTreeMap<String, crate::agent::store::SessionEntry>>(&bytes);
        assert!(parsed.is_ok(), "the index the store wrote does not read back: {parsed:?}");
    }
}

/// The channel journal reader on a torn or corrupted file, then the steps that follow a
/// restart (record, reply, sent chunks, done, with the compaction they trigger). The journal
/// must read back after a reopen exactly as it stood.
///
/// Input: a byte choosing the steps, then the file.
pub fn channel_journal(data: &[u8]) {
    let mut input = Input::new(data);
    let steps = input.byte();
    let dir = scratch("channel_journal");
    let _ = std::fs::write(dir.join("journal.jsonl"), input.rest());
    let Ok(journal) = Journal::open(&dir) else { return };
    let pending = journal.pending();
    if steps & 1 != 0 {
        let msg = Inbound {
            id: "fuzz-1".into(),
            chat: "42".into(),
            sender: "7".into(),
            sender_label: "fuzz".into(),
            group: false,
            mentioned: false,
            text: "hello".into(),
            reply_to: None,
            cursor: Some("c1".into()),
            received_at: 1,
        };
        let _ = journal.record(&msg);
    }
    if let Some(first) = pending.first() {
        let id = first.msg.id.clone();
        if steps & 2 != 0 {
            let _ = journal.replied(&id, "answer");
        }
        if steps & 4 != 0 {
            let _ = journal.sent(&id, first.sent);
        }
        if steps & 8 != 0 {
            let _ = journal.done(&id, "delivered");
        }
    }
    let before: Vec<_> = journal.pending();
    let cursor = journal.cursor();
    drop(journal);
    let Ok(again) = Journal::open(&dir) else { return };
    assert_eq!(before, again.pending(), "the journal reads back differently after a reopen");
    assert_eq!(cursor, again.cursor(), "the journal cursor reads back differently after a reopen");
}

/// Runs every committed corpus and regression input of `fuzz/` through its entry point.
#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inputs(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
    }

    #[test]
    fn the_committed_corpus_and_regressions_replay_without_a_panic() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut total = 0;
        for (name, entry) in TARGETS {
            let corpus = inputs(&fuzz.join("corpus").join(name));
            assert!(!corpus.is_empty(), "no committed corpus for {name}");
            for file in corpus.iter().chain(&inputs(&fuzz.join("regressions").join(name))) {
                let data = std::fs::read(file).unwrap();
                let replay = std::panic::catch_unwind(|| entry(&data));
                assert!(replay.is_ok(), "{name} panicked on {}", file.display());
                total += 1;
            }
        }
        assert!(total > 0);
        let _ = std::fs::remove_dir_all(scratch_root().join("config"));
    }
}
