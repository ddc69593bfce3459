//! openclaw: the OpenClaw Gateway for small machines.
//!
//! One process and one port: HTTP probes and APIs plus the official WebSocket protocol v4, so the
//! official clients work unchanged. The layout follows the architecture:
//!
//! - [`cli`]: argh commands; `main.rs` only calls [`cli::main`].
//! - [`config`]: paths, JSON5 reading, `$include`/`${VAR}`, the typed config, secrets.
//! - [`net`]: HTTP/1.1 (server and client), TLS, SSE and the WebSocket upgrade; knows nothing of
//!   OpenClaw.
//! - [`gateway`]: the resident process: start-up rules, the protocol, the event hub.
//! - [`api`]: the HTTP routes of the gateway port.
//! - [`agent`]: sessions, transcripts, model providers, tools and the run scheduler.
//! - [`logging`], [`clock`], [`limits`], [`sys`], [`fsutil`], [`rt`]: shared plumbing.
//! - [`fuzz`]: the entry points of the fuzz targets in `fuzz/` (not used by the program).

pub mod agent;
pub mod api;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod encoding;
pub mod error;
pub mod fsutil;
pub mod fuzz;
pub mod gateway;
pub mod ids;
pub mod limits;
pub mod logging;
pub mod net;
pub mod rt;
pub mod service;
pub mod sys;

/// The version this build reports (`hello-ok.server.version`, `openclaw --version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
