//! The outbound side of a channel, one variant per channel compiled in: a client for the
//! service's HTTP API, and the receiver it starts.

use serde_json::Value;
use smol::Task;

use super::SendError;
use super::link::Link;
use crate::config::channel_kind::ChannelKind;
use crate::config::channels as cfg;

#[cfg(feature = "discord")]
use super::discord;
#[cfg(feature = "irc")]
use super::irc;
#[cfg(feature = "matrix")]
use super::matrix;
#[cfg(feature = "signal")]
use super::signal;
#[cfg(feature = "slack")]
use super::slack;
#[cfg(feature = "telegram")]
use super::telegram;
#[cfg(feature = "whatsapp")]
use super::whatsapp;

#[derive(Clone)]
pub enum Transport {
    #[cfg(feature = "telegram")]
    Telegram(telegram::Client),
    #[cfg(feature = "discord")]
    Discord(discord::Client),
    #[cfg(feature = "whatsapp")]
    WhatsApp(whatsapp::Client),
    #[cfg(feature = "irc")]
    Irc(irc::Client),
    #[cfg(feature = "matrix")]
    Matrix(matrix::Client),
    #[cfg(feature = "signal")]
    Signal(signal::Client),
    #[cfg(feature = "slack")]
    Slack(slack::Client),
}

/// Why a configured channel cannot start in this build.
#[allow(dead_code)]
fn not_built(kind: ChannelKind) -> String {
    format!("this openclaw build has no {} support; rebuild with `--features {kind}`", kind.label())
}

impl Transport {
    /// The client for a channel's config; an error says what is missing (credentials, or the
    /// channel in this build).
    pub fn build(ch: &cfg::Channel) -> Result<Transport, String> {
        match &ch.service {
            #[cfg(feature = "telegram")]
            cfg::Service::Telegram(t) => telegram::Client::new(t).map(Transport::Telegram),
            #[cfg(not(feature = "telegram"))]
            cfg::Service::Telegram(_) => Err(not_built(ChannelKind::Telegram)),
            #[cfg(feature = "discord")]
            cfg::Service::Discord(d) => discord::Client::new(d).map(Transport::Discord),
            #[cfg(not(feature = "discord"))]
            cfg::Service::Discord(_) => Err(not_built(ChannelKind::Discord)),
            #[cfg(feature = "whatsapp")]
            cfg::Service::WhatsApp(w) => whatsapp::Client::new(w).map(Transport::WhatsApp),
            #[cfg(not(feature = "whatsapp"))]
            cfg::Service::WhatsApp(_) => Err(not_built(ChannelKind::WhatsApp)),
            #[cfg(feature = "irc")]
            cfg::Service::Irc(i) => irc::Client::new(i).map(Transport::Irc),
            #[cfg(not(feature = "irc"))]
            cfg::Service::Irc(_) => Err(not_built(ChannelKind::Irc)),
            #[cfg(feature = "matrix")]
            cfg::Service::Matrix(m) => matrix::Client::new(m).map(Transport::Matrix),
            #[cfg(not(feature = "matrix"))]
            cfg::Service::Matrix(_) => Err(not_built(ChannelKind::Matrix)),
            #[cfg(feature = "signal")]
            cfg::Service::Signal(s) => signal::Client::new(s).map(Transport::Signal),
            #[cfg(not(feature = "signal"))]
            cfg::Service::Signal(_) => Err(not_built(ChannelKind::Signal)),
            #[cfg(feature = "slack")]
            cfg::Service::Slack(s) => slack::Client::new(s).map(Transport::Slack),
            #[cfg(not(feature = "slack"))]
            cfg::Service::Slack(_) => Err(not_built(ChannelKind::Slack)),
        }
    }

    /// Sends one message (at most the service's limit); returns the service's message id.
    /// `nonce` identifies this piece across retries and restarts.
    pub async fn send(&self, to: &str, text: &str, reply_to: Option<&str>, nonce: &str) -> Result<String, SendError> {
        // Discord dedupes by the nonce; Matrix makes it the transaction id.
        let _ = nonce;
        match *self {
            #[cfg(feature = "telegram")]
            Transport::Telegram(ref c) => c.send(to, text, reply_to).await,
            #[cfg(feature = "discord")]
            Transport::Discord(ref c) => c.send(to, text, reply_to, nonce).await,
            #[cfg(feature = "whatsapp")]
            Transport::WhatsApp(ref c) => c.send(to, text, reply_to).await,
            #[cfg(feature = "irc")]
            Transport::Irc(ref c) => c.send(to, text).await,
            #[cfg(feature = "matrix")]
            Transport::Matrix(ref c) => c.send(to, text, reply_to, nonce).await,
            // The nonce is the JSON-RPC id (signal-cli has no idempotency key).
            #[cfg(feature = "signal")]
            Transport::Signal(ref c) => c.send(to, text, reply_to, nonce).await,
            #[cfg(feature = "slack")]
            Transport::Slack(ref c) => c.send(to, text, reply_to).await,
        }
    }

    /// Shows "typing…" where the service has it (best effort).
    pub async fn typing(&self, to: &str) {
        // WhatsApp has no typing indicator for businesses.
        let _ = to;
        match *self {
            #[cfg(feature = "telegram")]
            Transport::Telegram(ref c) => c.typing(to).await,
            #[cfg(feature = "discord")]
            Transport::Discord(ref c) => c.typing(to).await,
            #[cfg(feature = "whatsapp")]
            Transport::WhatsApp(_) => {}
            // IRC has no typing indicator.
            #[cfg(feature = "irc")]
            Transport::Irc(_) => {}
            #[cfg(feature = "matrix")]
            Transport::Matrix(ref c) => c.typing(to).await,
            #[cfg(feature = "signal")]
            Transport::Signal(ref c) => c.typing(to).await,
            // Slack's Web API has no typing indicator for bots.
            #[cfg(feature = "slack")]
            Transport::Slack(_) => {}
        }
    }

    /// Checks the credentials against the service (`getMe`, `/users/@me`, the phone number).
    pub async fn probe(&self) -> Result<Value, String> {
        match *self {
            #[cfg(feature = "telegram")]
            Transport::Telegram(ref c) => c.probe().await,
            #[cfg(feature = "discord")]
            Transport::Discord(ref c) => c.probe().await,
            #[cfg(feature = "whatsapp")]
            Transport::WhatsApp(ref c) => c.probe().await,
            #[cfg(feature = "irc")]
            Transport::Irc(ref c) => c.probe().await,
            #[cfg(feature = "matrix")]
            Transport::Matrix(ref c) => c.probe().await,
            #[cfg(feature = "signal")]
            Transport::Signal(ref c) => c.probe().await,
            #[cfg(feature = "slack")]
            Transport::Slack(ref c) => c.probe().await,
        }
    }

    /// Starts the receiver: Telegram's long poll, Discord's gateway socket, WhatsApp's
    /// credentials watch (its messages arrive through the gateway's webhook route).
    pub fn receive(&self, link: Link) -> Task<()> {
        let _ = &link;
        match *self {
            #[cfg(feature = "telegram")]
            Transport::Telegram(ref c) => crate::rt::spawn(telegram::receive(c.clone(), link)),
            #[cfg(feature = "discord")]
            Transport::Discord(ref c) => crate::rt::spawn(discord::receive(c.clone(), link)),
            #[cfg(feature = "whatsapp")]
            Transport::WhatsApp(ref c) => crate::rt::spawn(whatsapp::watch(c.clone(), link)),
            #[cfg(feature = "irc")]
            Transport::Irc(ref c) => crate::rt::spawn(irc::receive(c.clone(), link)),
            #[cfg(feature = "matrix")]
            Transport::Matrix(ref c) => crate::rt::spawn(matrix::receive(c.clone(), link)),
            #[cfg(feature = "signal")]
            Transport::Signal(ref c) => crate::rt::spawn(signal::receive(c.clone(), link)),
            #[cfg(feature = "slack")]
            Transport::Slack(ref c) => crate::rt::spawn(slack::receive(c.clone(), link)),
        }
    }
}
