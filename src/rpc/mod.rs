//! The WebSocket RPC of protocol v4: a [`connection`] per client (reader, writer, pinger), the
//! [`handshake`] (`connect.challenge` → `connect` → `hello-ok`), the [`protocol`] frames, typed
//! [`params`], the [`methods`] table and its handlers, and [`agent_events`], which turns the
//! agent's notices into `chat`, `agent` and `sessions.changed` events on the hub, with the
//! [`payloads`] of those events as types.
//!
//! It sits on the shared state in `crate::gateway` and knows nothing of HTTP routing: the router
//! hands it an upgraded socket.

pub mod agent_events;
pub mod connection;
pub mod handshake;
pub mod methods;
pub mod params;
pub mod payloads;
pub mod protocol;
