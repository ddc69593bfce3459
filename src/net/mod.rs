//! Network plumbing with no knowledge of OpenClaw: HTTP/1.1 parsing and writing ([`http`]), the
//! accept loop and keep-alive handling ([`server`]), the WebSocket upgrade ([`ws`]), and the
//! outbound side: an HTTP/1.1 client ([`client`]) over TLS ([`tls`]) with a pool of keep-alive
//! connections ([`pool`]), and server-sent events ([`sse`]).

pub mod client;
pub mod edge;
pub mod http;
pub mod pool;
pub mod roots;
pub mod server;
pub mod sse;
pub mod tls;
pub mod ws;
