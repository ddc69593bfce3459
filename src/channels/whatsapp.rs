//! WhatsApp through the official WhatsApp Business Cloud API: Meta delivers messages to a webhook
//! on the gateway port (verified with `hub.verify_token`, each POST signed with the app secret in
//! `X-Hub-Signature-256`), and answers go out through the Graph API messages endpoint.
//!
//! The webhook answers 200 only after the messages are in the journal; any other answer makes Meta
//! deliver the notification again, and the journal recognises the repeat by its `wamid`. Without
//! an app secret the webhook refuses every POST: an unsigned endpoint would let anyone on the
//! network talk to the agent.

use serde_json::{Value, json};

use super::journal::Inbound;
use super::{Backoff, HealthState, Link, SendError, call_json};
use crate::config::channels as cfg;
use crate::limits;
use crate::wire::{self, WireError};

#[derive(Clone)]
pub struct Client {
    /// `<graphRoot>/<version>/<phoneNumberId>`.
    node: String,
    token: String,
}

impl Client {
    pub fn new(c: &cfg::WhatsApp) -> Result<Client, String> {
        let Some(token) = &c.access_token else {
            return Err("no access token: set channels.whatsapp.accessToken (or WHATSAPP_ACCESS_TOKEN)".into());
        };
        let Some(phone) = &c.phone_number_id else {
            return Err("no phone number id: set channels.whatsapp.phoneNumberId (WhatsApp Manager → API Setup)".into());
        };
        Ok(Client { node: format!("{}/{}/{phone}", c.graph_root, c.api_version), token: token.expose().to_string() })
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub async fn send(&self, to: &str, text: &str, reply_to: Option<&str>) -> Result<String, SendError> {
        let to: String = to.strip_prefix("whatsapp:").unwrap_or(to).chars().filter(|c| c.is_ascii_digit()).collect();
        if to.is_empty() {
            return Err(SendError::Permanent("a WhatsApp target is a phone number in international format, such as +15551234567".into()));
        }
        let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
                              "text": {"preview_url": false, "body": text}});
        if let Some(r) = reply_to {
            body["context"] = json!({"message_id": r});
        }
        let auth = self.auth();
        let reply = call_json(
            "POST",
            &format!("{}/messages", self.node),
            &[("Authorization", &auth)],
            Some(&body),
            limits::CHANNEL_REQUEST_TIMEOUT,
        )
        .await?;
        if reply.status == 200 {
            return Ok(reply.body["messages"][0]["id"].as_str().unwrap_or_default().to_string());
        }
        let message = graph_error(&reply.body, reply.status);
        // 130429 / 131056 / 4 / 80007: rate limits, worth waiting for.
        let code = reply.body["error"]["code"].as_i64().unwrap_or(0);
        if matches!(code, 130429 | 131056 | 4 | 80007) || reply.body["error"]["is_transient"] == true {
            return Err(SendError::Transient { message, retry_after: reply.retry_after });
        }
        Err(SendError::from_status(reply.status, message, reply.retry_after))
    }

    /// The phone number node: the credentials check behind `probe` and [`watch`].
    async fn lookup(&self) -> std::io::Result<super::ApiReply> {
        call_json("GET", &self.node, &[("Authorization", &self.auth())], None, limits::CHANNEL_REQUEST_TIMEOUT).await
    }

    pub async fn probe(&self) -> Result<Value, String> {
        let reply = self.lookup().await.map_err(|e| e.to_string())?;
        if reply.status != 200 {
            return Err(graph_error(&reply.body, reply.status));
        }
        Ok(json!({"phoneNumber": reply.body["display_phone_number"], "verifiedName": reply.body["verified_name"]}))
    }
}

fn graph_error(body: &Value, status: u16) -> String {
    match body["error"]["message"].as_str() {
        Some(m) => format!("{m} (HTTP {status}, code {})", body["error"]["code"]),
        None => format!("Graph API answered HTTP {status}"),
    }
}

/// Checks the credentials until the Graph API accepts them (the webhook needs no connection, so
/// "connected" means "the phone number answers"). Rejected credentials stop the channel.
pub async fn watch(client: Client, link: Link) {
    let mut backoff = Backoff::new(&link.tuning);
    loop {
        match client.lookup().await {
            Ok(r) if r.status == 200 => {
                link.connected(r.body["display_phone_number"].as_str().map(str::to_string));
                return;
            }
            Ok(r) if r.status == 401 || r.body["error"]["code"].as_i64() == Some(190) => {
                link.fatal(
                    &format!(
                        "WhatsApp rejected the access token ({}); check channels.whatsapp.accessToken",
                        graph_error(&r.body, r.status)
                    ),
                    HealthState::AuthFailed,
                );
                return;
            }
            // Unknown phone number id, or a token without permission on it: retrying cannot help.
            Ok(r) if r.status == 403 || (r.status == 400 && r.body["error"]["code"].as_i64() == Some(100)) => {
                link.fatal(
                    &format!(
                        "WhatsApp refused the phone number lookup ({}); check channels.whatsapp.phoneNumberId and the token's permissions",
                        graph_error(&r.body, r.status)
                    ),
                    HealthState::NotConfigured,
                );
                return;
            }
            Ok(r) => {
                link.disconnected(&format!("phone number lookup failed: {}", graph_error(&r.body, r.status)));
                link.pause(&mut backoff, r.retry_after).await;
            }
            Err(e) => {
                link.disconnected(&format!("phone number lookup failed: {e}"));
                link.pause(&mut backoff, None).await;
            }
        }
    }
}

/// The subscription handshake: `GET <webhookPath>?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
/// answers the challenge when the token matches.
pub fn verify(c: &cfg::WhatsApp, mode: Option<&str>, token: Option<&str>, challenge: Option<&str>) -> Result<String, (u16, &'static str)> {
    let Some(expected) = &c.verify_token else {
        return Err((403, "webhook verification refused: channels.whatsapp.verifyToken is not set"));
    };
    if mode != Some("subscribe") {
        return Err((400, "expected hub.mode=subscribe"));
    }
    let ok = token.is_some_and(|t| expected.matches(t));
    if !ok {
        return Err((403, "webhook verification refused: hub.verify_token does not match channels.whatsapp.verifyToken"));
    }
    match challenge {
        Some(ch) if !ch.is_empty() && ch.len() <= 256 => Ok(ch.to_string()),
        _ => Err((400, "missing hub.challenge")),
    }
}

/// A webhook POST: the signature is checked against the app secret, then each text message is
/// recorded. Returns the HTTP status and a JSON body.
pub async fn deliver(link: &Link, c: &cfg::WhatsApp, signature: Option<&str>, body: &[u8]) -> (u16, Value) {
    let Some(secret) = &c.app_secret else {
        log::warn!(target: "channels", "whatsapp: webhook POST refused: channels.whatsapp.appSecret is not set");
        return (
            403,
            json!({"error": "webhook refused: set channels.whatsapp.appSecret (the Meta app secret) so deliveries can be verified"}),
        );
    };
    if !signature_ok(secret.expose(), signature, body) {
        log::warn!(target: "channels", "whatsapp: webhook POST with a missing or wrong X-Hub-Signature-256 refused");
        return (401, json!({"error": "invalid or missing X-Hub-Signature-256"}));
    }
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return (400, json!({"error": "the webhook body is not JSON"}));
    };
    let inbound = match messages(&payload, c.phone_number_id.as_deref()) {
        Ok(m) => m,
        Err(e) => {
            log::warn!(target: "channels", "whatsapp: webhook POST refused: not a WhatsApp notification: {e}");
            return (400, json!({"error": format!("the webhook body is not a WhatsApp notification: {e}")}));
        }
    };
    for msg in inbound {
        if let Err(e) = link.accept(msg).await {
            // Not recorded: a non-200 answer makes Meta deliver it again later.
            log::error!(target: "channels", "whatsapp: cannot record an incoming message: {e}");
            return (500, json!({"error": "could not store the message; deliver it again"}));
        }
    }
    (200, json!({"ok": true}))
}

fn signature_ok(secret: &str, header: Option<&str>, body: &[u8]) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Some(tag) = crate::encoding::hex_decode(hex) else { return false };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &tag).is_ok()
}

/// Text messages in a webhook notification (WhatsApp Cloud API, "Webhooks: messages") for our
/// phone number: `entry[].changes[]` whose `field` is `messages`, their `value.messages[]` with
/// the sender's name from `value.contacts[]`. Status updates (`value.statuses`), other change
/// fields and message types without `text` are skipped. An error names what a notification lacks
/// (a message without `id` or `from`).
fn messages(payload: &Value, phone_number_id: Option<&str>) -> Result<Vec<Inbound>, WireError> {
    let mut out = Vec::new();
    for entry in wire::object(payload)?.list("entry")? {
        for change in wire::object(entry)?.list("changes")? {
            let change = wire::object(change)?;
            // Other fields have other shapes: only a `messages` change's value is read.
            if change.str("field")? != "messages" {
                continue;
            }
            let value = change.obj("value")?;
            let theirs = match value.opt_obj("metadata")? {
                Some(metadata) => metadata.opt_str("phone_number_id")?,
                None => None,
            };
            if let (Some(ours), Some(theirs)) = (phone_number_id, theirs) {
                if ours != theirs {
                    continue;
                }
            }
            let contacts = value.list("contacts")?;
            for m in value.list("messages")? {
                let m = wire::object(m)?;
                // The `wamid`, by which the journal recognises a redelivery.
                let id = m.str("id")?;
                let from = m.str("from")?;
                let Some(text) = m.opt_obj("text")? else { continue };
                let body = text.str("body")?;
                out.push(Inbound {
                    id: id.to_string(),
                    chat: from.to_string(),
                    sender: from.to_string(),
                    sender_label: contact_name(contacts, from)?.unwrap_or(from).to_string(),
                    group: false,
                    mentioned: false,
                    text: body.to_string(),
                    reply_to: None,
                    cursor: None,
                    received_at: 0,
                });
            }
        }
    }
    Ok(out)
}

/// The profile name of the contact `wa_id` in a notification's `contacts`, if it has one.
fn contact_name<'a>(contacts: &'a [Value], wa_id: &str) -> Result<Option<&'a str>, WireError> {
    for contact in contacts {
        let contact = wire::object(contact)?;
        if contact.opt_str("wa_id")? == Some(wa_id) {
            return match contact.opt_obj("profile")? {
                Some(profile) => profile.opt_str("name"),
                None => Ok(None),
            };
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> cfg::WhatsApp {
        cfg::WhatsApp {
            access_token: None,
            token_source: cfg::TokenSource::None,
            phone_number_id: Some("123".into()),
            app_secret: None,
            verify_token: Some(crate::config::secret::Secret::new("vt")),
            webhook_path: "/whatsapp/webhook".into(),
            graph_root: "http://127.0.0.1:1".into(),
            api_version: "v21.0".into(),
        }
    }

    #[test]
    fn verification_handshake() {
        let c = config();
        assert_eq!(verify(&c, Some("subscribe"), Some("vt"), Some("42")), Ok("42".into()));
        assert_eq!(verify(&c, Some("subscribe"), Some("nope"), Some("42")).unwrap_err().0, 403);
        assert_eq!(verify(&c, Some("unsubscribe"), Some("vt"), Some("42")).unwrap_err().0, 400);
        assert_eq!(verify(&config_without_token(), Some("subscribe"), Some("vt"), Some("42")).unwrap_err().0, 403);
    }

    fn config_without_token() -> cfg::WhatsApp {
        cfg::WhatsApp { verify_token: None, ..config() }
    }

    #[test]
    fn signatures() {
        // HMAC-SHA256("secret", "body"), computed independently.
        let good = "sha256=dc46983557fea127b43af721467eb9b3fde2338fe3e14f51952aa8478c13d355";
        assert!(signature_ok("secret", Some(good), b"body"));
        assert!(!signature_ok("secret", Some(good), b"body!"));
        assert!(!signature_ok("other", Some(good), b"body"));
        assert!(!signature_ok("secret", None, b"body"));
        assert!(!signature_ok("secret", Some("sha256=zz"), b"body"));
    }

    #[test]
    fn notifications_become_messages() {
        let p = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
            "metadata": {"phone_number_id": "123"}, "contacts": [{"wa_id": "15550001", "profile": {"name": "Ann"}}],
            "messages": [{"from": "15550001", "id": "wamid.1", "type": "text", "text": {"body": "hi"}},
                         {"from": "15550001", "id": "wamid.2", "type": "image", "image": {}}]}}]}]});
        let m = messages(&p, Some("123")).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].id.as_str(), m[0].chat.as_str(), m[0].sender_label.as_str(), m[0].text.as_str()),
            ("wamid.1", "15550001", "Ann", "hi")
        );
        assert!(messages(&p, Some("999")).unwrap().is_empty(), "other phone numbers are not ours");
        let no_id = json!({"entry": [{"changes": [{"field": "messages", "value": {
            "messages": [{"from": "15550001", "type": "text", "text": {"body": "hi"}}]}}]}]});
        assert_eq!(messages(&no_id, Some("123")).unwrap_err().to_string(), "missing field `id`");
        let statuses =
            json!({"entry": [{"changes": [{"field": "messages", "value": {"statuses": [{"id": "wamid.9", "status": "read"}]}}]}]});
        assert!(messages(&statuses, Some("123")).unwrap().is_empty(), "status updates are not messages");
    }
}
