//! The `chat_payloads` target: the chat services' readers (Telegram, Discord, WhatsApp), each on
//! the path its receiver runs, with a real journal.

// Each reader is compiled with its channel; the imports only some of them use follow suit.
#[cfg(any(feature = "telegram", feature = "discord"))]
use serde_json::Value;
#[cfg(feature = "telegram")]
use serde_json::json;

#[cfg(any(feature = "discord", feature = "whatsapp"))]
use super::text;
use super::{Input, scratch};
use crate::channels::journal::{Inbound, Journal};
use crate::config::channels as cfg;

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
        let Some(envelope) = serde_json::from_slice(frame).ok().and_then(|v| discord::wire::Envelope::read(v).ok()) else { continue };
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
