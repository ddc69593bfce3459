//! openclaw: the OpenClaw Gateway for small machines.
//!
//! One process and one port: HTTP probes and APIs plus the official WebSocket protocol v4, so the
//! official clients work unchanged. The layout follows the architecture:
//!
//! - [`cli`]: argh commands; `main.rs` only calls [`cli::main`].
//! - [`config`]: paths, JSON5 reading, `$include`/`${VAR}`, the typed config, secrets.
//! - [`net`]: HTTP/1.1 (server and client), TLS, SSE and the WebSocket upgrade; knows nothing of
//!   OpenClaw.
//! - [`daemon`]: the gateway process: start, signals, in-process restarts, config polling, the
//!   state-dir lock, the systemd watchdog.
//! - [`router`]: the one port's route table: HTTP routes, webhooks and the WebSocket upgrade.
//! - [`rpc`]: the WebSocket RPC: connections, handshake, frames, typed params, the method table.
//! - [`api`]: the HTTP API: probes, `/v1` (OpenAI-compatible), `/tools/invoke`, hooks.
//! - [`gateway`]: the shared state of a running gateway (settings, phase, auth, the event hub,
//!   the start-up rules, config admission and apply); imported by the three above, imports none.
//! - [`channels`]: the chat channels (Telegram, Discord, WhatsApp, Slack, Signal, Matrix, IRC), their
//!   journal and pairing.
//! - [`agent`]: sessions, transcripts, model providers, tools and the run scheduler.
//! - [`service`]: systemd units, launchd agents and the notify protocol.
//!
//! Imports point down this list (cli → daemon → router → rpc, api → gateway → channels → agent →
//! config → net → plumbing); nothing imports a module above it.
//! - [`logging`], [`clock`], [`limits`], [`sys`], [`fsutil`], [`rt`], [`encoding`], [`ids`], [`url`]:
//!   shared plumbing; [`wire`] reads other services' JSON payloads; [`error`] is the crate's error.
//! - [`fuzz`]: the entry points of the fuzz targets in `fuzz/` (not used by the program).

pub mod agent;
pub mod api;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod encoding;
pub mod error;
pub mod fsutil;
pub mod fuzz;
pub mod gateway;
pub mod ids;
pub mod limits;
pub mod logging;
pub mod net;
pub mod router;
pub mod rpc;
pub mod rt;
pub mod service;
pub mod sys;
pub mod url;
pub mod wire;

/// The version this build reports (`hello-ok.server.version`, `openclaw --version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
