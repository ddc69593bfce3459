//! The state of a running gateway, shared by every surface above it: [`Gateway`] (settings,
//! phase, the agent and the channels), the start-up [`rules`], [`auth`], the event [`hub`], the
//! config [`admission`] checks and how a new config is [`apply`]-ed. The one-port router
//! (`crate::router`), the HTTP API (`crate::api`) and the WebSocket RPC (`crate::rpc`) import it;
//! it imports none of them. The process around it (start, signals, reload polling) is
//! `crate::daemon`.
//!
//! The event hub lives here rather than in the RPC layer because it is state that lower parts
//! publish into (config reloads, channel status, the agent's notices); the RPC connections are
//! its subscribers.

pub mod admission;
pub mod apply;
pub mod auth;
pub mod devices;
pub mod hub;
pub mod rules;
pub mod tuning;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::config::{BindMode, Loaded, Paths};
use crate::net::server::ConnectionCount;
use auth::{AuthSettings, RateLimiter};
use hub::Hub;
use hub::StateVersion;
use smol::channel::Sender;
use tuning::Tuning;

/// Life-cycle phase, as the probes and `connect` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Listening, but not ready for clients (`/ready` 503, `connect` UNAVAILABLE).
    Starting = 0,
    Ready = 1,
    /// Shutting down.
    Draining = 2,
    /// Restarting in-process (clients are told to come back shortly).
    Restarting = 3,
}

/// Where the port came from (reported by `gateway status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSource {
    Flag,
    Env,
    DevProfile,
    Config,
    Default,
}

impl PortSource {
    pub fn name(self) -> &'static str {
        match self {
            PortSource::Flag => "flag",
            PortSource::Env => "env",
            PortSource::DevProfile => "dev-profile",
            PortSource::Config => "config",
            PortSource::Default => "default",
        }
    }
}

/// The resolved listening setup.
#[derive(Debug, Clone)]
pub struct Listen {
    pub bind: BindMode,
    /// `flag`, `config` or `default`.
    pub bind_source: &'static str,
    pub hosts: Vec<IpAddr>,
    pub port: u16,
    pub port_source: PortSource,
    /// Sockets actually bound (filled in after binding).
    pub bound: Vec<SocketAddr>,
}

impl Listen {
    pub fn is_loopback(&self) -> bool {
        self.hosts.iter().all(|h| h.is_loopback())
    }

    /// `ws://127.0.0.1:18789` for the first listener.
    pub fn primary_url(&self) -> String {
        match self.bound.first() {
            Some(SocketAddr::V6(a)) => format!("ws://[{}]:{}", a.ip(), a.port()),
            Some(a) => format!("ws://{a}"),
            None => format!("ws://127.0.0.1:{}", self.port),
        }
    }
}

/// Everything derived from the config for the running gateway; replaced as a whole on reload.
#[derive(Debug)]
pub struct Settings {
    pub loaded: Loaded,
    /// Config hash of the file this was built from (`appliedConfigHash`).
    pub hash: Option<String>,
    /// Digest of the config file and every included file, to tell real changes from touches.
    pub fingerprint: String,
    pub listen: Listen,
    pub auth: AuthSettings,
}

/// Requests to the gateway's main loop.
#[derive(Debug)]
pub enum Control {
    /// Stop the process (the signal name or another reason, for the log).
    Stop(&'static str),
    /// Restart in-process with `loaded` (or the file read anew).
    Restart { reason: String, loaded: Option<Box<Loaded>> },
    /// Check the config file now (SIGHUP, after a config write). `force_restart` applies the
    /// file with a restart whatever changed (`config.apply`).
    ReloadNow { force_restart: bool },
}

/// State shared by every task of a running gateway.
pub struct Gateway {
    pub paths: Paths,
    /// Sessions and runs; its notices become `chat`, `agent` and `sessions.changed` events.
    pub agent: crate::agent::Agent,
    /// The chat channels (Telegram, Discord, WhatsApp) and their liveness.
    pub channels: Arc<crate::channels::Channels>,
    pub tuning: Tuning,
    pub started: Instant,
    pub boot_id: String,
    /// Identifies this gateway in presence entries.
    pub instance_id: String,
    pub hub: Hub,
    pub hash_key: Vec<u8>,
    pub log_file: Option<PathBuf>,
    pub connections: ConnectionCount,
    pub limiter: Mutex<RateLimiter>,
    /// Paired devices and waiting pairing requests.
    pub devices: Arc<devices::Devices>,
    /// The flags the gateway was started with (they still win on an in-process restart).
    pub opts: rules::RunOptions,
    /// The main loop's control queue.
    pub control: Sender<Control>,
    /// Serialises config writes (`config.set`/`patch`/`apply`) so a `baseHash` check and its
    /// write are one step.
    pub config_write: smol::lock::Mutex<()>,
    /// Recent control-plane writes per method, for the official 30-per-minute limit.
    pub write_limiter: Mutex<std::collections::HashMap<&'static str, std::collections::VecDeque<Instant>>>,
    phase: AtomicU8,
    settings: RwLock<Arc<Settings>>,
    presence_version: AtomicU64,
    health_version: AtomicU64,
    next_conn: AtomicU64,
}

impl Gateway {
    /// The shared state for a gateway about to serve; the tuning is read from the environment
    /// here, once per process start.
    pub fn new(
        paths: Paths,
        settings: Settings,
        hash_key: Vec<u8>,
        log_file: Option<PathBuf>,
        opts: rules::RunOptions,
        control: Sender<Control>,
        notices: Sender<crate::agent::Notice>,
    ) -> Gateway {
        let tuning = Tuning::from_env();
        let connections = ConnectionCount::new(tuning.max_connections, tuning.max_pending_connections);
        let hub = Hub::start(tuning.max_buffered_bytes_total);
        let agent = crate::agent::Agent::start(paths.clone(), notices);
        let devices = Arc::new(devices::Devices::open(&paths.state_dir));
        let approvals = devices::ChatApprovals { devices: devices.clone(), hub: hub.clone() };
        let channels = Arc::new(crate::channels::Channels::new(agent.clone(), paths.state_dir.clone(), Some(Arc::new(approvals))));
        Gateway {
            agent,
            channels,
            opts,
            control,
            config_write: smol::lock::Mutex::new(()),
            write_limiter: Mutex::new(Default::default()),
            paths,
            tuning,
            started: Instant::now(),
            boot_id: crate::ids::uuid(),
            instance_id: crate::ids::uuid(),
            hub,
            hash_key,
            log_file,
            connections,
            limiter: Mutex::new(RateLimiter::default()),
            devices,
            phase: AtomicU8::new(Phase::Starting as u8),
            settings: RwLock::new(Arc::new(settings)),
            presence_version: AtomicU64::new(1),
            health_version: AtomicU64::new(1),
            next_conn: AtomicU64::new(1),
        }
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            3 => Phase::Restarting,
            _ => Phase::Draining,
        }
    }

    pub fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Ordering::Release);
    }

    /// The current settings snapshot.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace_settings(&self, s: Settings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn state_version(&self) -> StateVersion {
        StateVersion { presence: self.presence_version.load(Ordering::Relaxed), health: self.health_version.load(Ordering::Relaxed) }
    }

    /// Bumps the health version (a new health snapshot is being published).
    pub fn bump_health(&self) -> StateVersion {
        self.health_version.fetch_add(1, Ordering::Relaxed);
        self.state_version()
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }
}
