//! Integration tests: the real `openclaw` binary on real sockets, one module per surface. They
//! share one test binary so the suite links once.

#[path = "../support/mod.rs"]
mod support;

mod agent;
#[cfg(all(
    feature = "telegram",
    feature = "discord",
    feature = "whatsapp",
    feature = "irc",
    feature = "matrix",
    feature = "signal",
    feature = "slack"
))]
mod all_channels;
mod channels;
mod cli;
mod cli_config;
mod config_rpc;
mod control_ui;
#[cfg(feature = "dashboard-install")]
mod dashboard;
#[cfg(feature = "discord")]
mod discord;
mod first_run;
mod hooks;
mod http;
mod install;
#[cfg(feature = "irc")]
mod irc;
mod limits;
#[cfg(feature = "matrix")]
mod matrix;
mod openai_http;
mod panel;
mod protocol;
mod reload;
mod service;
#[cfg(feature = "signal")]
mod signal;
#[cfg(feature = "slack")]
mod slack;
mod smoke;
mod startup;
#[cfg(feature = "telegram")]
mod telegram;
#[cfg(feature = "whatsapp")]
mod whatsapp;
