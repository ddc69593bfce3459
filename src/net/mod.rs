//! Network plumbing with no knowledge of OpenClaw: HTTP/1.1 parsing and writing ([`http`]), the
//! accept loop and keep-alive handling ([`server`]), and the WebSocket upgrade ([`ws`]).

pub mod http;
pub mod server;
pub mod ws;
