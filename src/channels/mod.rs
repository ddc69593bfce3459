//! Chat channels: Telegram, Discord, WhatsApp, IRC, Matrix, Signal and Slack (each a cargo feature) connected to the agent.
//!
//! Per configured channel the registry ([`Channels`], in `registry.rs`) runs a receiver
//! (Telegram's long poll, Discord's gateway socket; WhatsApp's webhook arrives through the
//! gateway's HTTP server) and a worker (`worker.rs`). The receiver records each message in the
//! channel's [`journal`] through its [`Link`] before acknowledging it upstream; the worker takes
//! recorded messages through the access policy ([`access`], [`pairing`]), the agent, and delivery
//! of the answer in chunks ([`text`]) with retries. Every step is journaled, so a restart resumes
//! exactly where the last run stopped.
//!
//! Liveness is reported as it is ([`Status`]): `connected` is true only while the service
//! answers, each receiver has a watchdog (a stalled poll, a heartbeat without ACK), and
//! reconnects back off exponentially with jitter. Bad credentials stop the channel with a clear
//! `lastError` instead of retrying forever.
//!
//! The set of channels is [`ChannelKind`]; one file per service holds its client, its receiver
//! and its wire types.

// A build without any channel (`--no-default-features`) keeps the registry, whose transport type
// then has no values: everything after building one is unreachable, on purpose.
#![cfg_attr(
    not(any(
        feature = "telegram",
        feature = "discord",
        feature = "whatsapp",
        feature = "irc",
        feature = "matrix",
        feature = "signal",
        feature = "slack"
    )),
    allow(unreachable_code, unused_variables)
)]

pub mod access;
mod http;
pub mod journal;
mod link;
pub mod pairing;
mod registry;
mod status;
pub mod text;
mod transport;
mod worker;

#[cfg(feature = "discord")]
pub mod discord;
#[cfg(feature = "irc")]
pub mod irc;
#[cfg(feature = "matrix")]
pub mod matrix;
#[cfg(feature = "signal")]
pub mod signal;
#[cfg(feature = "slack")]
pub mod slack;
#[cfg(feature = "telegram")]
pub mod telegram;
#[cfg(feature = "whatsapp")]
pub mod whatsapp;

pub use crate::config::channel_kind::ChannelKind;
pub use http::{ApiReply, SendError, call_json};
pub use link::{Backoff, Link, Tuning};
pub use registry::{Channels, ChatCommands};
pub use status::{HealthState, Status, status_result};
