//! The gateway as a process: [`start`] (lock, bootstrap, logging, binding), the [`lifecycle`]
//! (serve, signals, restarts in-process, graceful shutdown), the config file poller
//! ([`reload`]), the state-dir [`lock`], the [`runtime_token`] file for local clients and the
//! systemd [`watchdog`]. It is the top of the running gateway: it builds the shared state
//! (`crate::gateway`) and hands each listener to the router (`crate::router`).

pub mod lifecycle;
pub mod lock;
pub mod reload;
pub mod runtime_token;
pub mod start;
pub mod watchdog;
