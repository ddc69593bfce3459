//! The running gateway's main loop: accept loops, periodic events, the reloader, signals, and the
//! two ways a run ends — a graceful stop, or an in-process restart that keeps the process (and
//! with it the hub, sessions and channels) and rebinds with the new port and bind.

use async_signal::{Signal, Signals};
use serde_json::json;
use smol::stream::StreamExt;
use smol::{Async, Task, Timer, channel};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::lock::StateLock;
use super::start::{self, EXIT_FAILURE, Prepared, RunOptions};
use crate::config::{self, Loaded};
use crate::gateway::hub::Event;
use crate::gateway::{Control, Gateway, Listen, Phase};
use crate::limits;
use crate::limits::RESTART_EXPECTED_MS;
use crate::router::Router;

/// The accept loops of the current listeners; dropping them cancels the loops and closes the
/// sockets (the tasks are held only for that).
struct Acceptors {
    _tasks: Vec<Task<()>>,
}

impl Acceptors {
    fn start(listeners: Vec<Async<TcpListener>>, router: &Arc<Router>, gw: &Arc<Gateway>) -> Acceptors {
        let tasks = listeners
            .into_iter()
            .map(|l| crate::rt::spawn(crate::net::server::serve(l, router.clone(), gw.connections.clone(), gw.tuning.http)))
            .collect();
        Acceptors { _tasks: tasks }
    }
}

pub(super) async fn serve(p: Prepared, opts: RunOptions) -> u8 {
    let Prepared { paths, settings, listeners, mut lock, hash_key, log_file } = p;
    let signals = match Signals::new([Signal::Term, Signal::Int, Signal::Hup, Signal::Usr1]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Gateway failed to start: cannot install signal handlers: {e}");
            return EXIT_FAILURE;
        }
    };
    let (control, requests) = channel::bounded::<Control>(16);
    let (notices, notices_rx) = channel::bounded(limits::AGENT_NOTICE_QUEUE);
    let gw = Arc::new(Gateway::new(paths, settings, hash_key, log_file, opts, control.clone(), notices));
    crate::rt::spawn(crate::rpc::agent_events::run(gw.hub.clone(), notices_rx)).detach();
    let router = Arc::new(Router::new(gw.clone()));
    preload_sessions(&gw);
    let mut acceptors = Acceptors::start(listeners, &router, &gw);
    let _periodic = crate::rt::spawn(periodic_events(gw.clone()));
    let (reload_now, reload_requests) = channel::bounded::<bool>(4);
    let _reloader = crate::rt::spawn(super::reload::run(gw.clone(), reload_requests));
    let _signals = crate::rt::spawn(forward_signals(signals, control));

    announce(&gw);
    share_runtime_token(&gw);
    gw.channels.reconcile(gw.settings().loaded.config.clone()).await;
    gw.set_phase(Phase::Ready);
    log::info!(target: "gateway", "ready");
    let notifier = crate::service::notify::Notifier::from_env().map(Arc::new);
    let _watchdog = notifier.clone().map(|n| crate::rt::spawn(super::watchdog::run(gw.clone(), n)));
    // Messages acknowledged before the last stop (or crash) that never ran get their turn now.
    let resume = gw.clone();
    crate::rt::spawn(async move {
        let config = resume.settings().loaded.config.clone();
        resume.agent.resume_acknowledged(config).await;
    })
    .detach();

    let reason = loop {
        match requests.recv().await {
            Ok(Control::Stop(reason)) => break reason,
            Ok(Control::ReloadNow { force_restart }) => {
                let _ = reload_now.try_send(force_restart);
            }
            Ok(Control::Restart { reason, loaded }) => {
                restart(&gw, &router, &mut acceptors, &mut lock, &reason, loaded).await;
            }
            Err(_) => break "control channel closed",
        }
    };
    shut_down(&gw, acceptors, lock, notifier.as_deref(), reason).await;
    0
}

/// Loads the default agent's session index in the background, so health and status can count
/// its sessions before the first message arrives.
fn preload_sessions(gw: &Arc<Gateway>) {
    let preload = gw.clone();
    crate::rt::spawn(async move {
        let agent = preload.settings().loaded.config.agents.default_id().to_string();
        if let Err(e) = preload.agent.store().count(&agent).await {
            log::warn!(target: "agent", "cannot read the sessions of agent {agent}: {e}");
        }
    })
    .detach();
}

/// Turns the signals into control requests for the main loop, until the loop is gone.
async fn forward_signals(mut signals: Signals, control: channel::Sender<Control>) {
    while let Some(sig) = signals.next().await {
        let request = match sig {
            Ok(Signal::Term) => Control::Stop("SIGTERM"),
            Ok(Signal::Int) => Control::Stop("SIGINT"),
            Ok(Signal::Hup) => {
                log::info!(target: "gateway", "received SIGHUP; reloading the config");
                Control::ReloadNow { force_restart: false }
            }
            Ok(Signal::Usr1) => {
                log::info!(target: "gateway", "received SIGUSR1; restarting");
                Control::Restart { reason: "SIGUSR1".into(), loaded: None }
            }
            Ok(_) => continue,
            Err(e) => {
                log::warn!(target: "gateway", "signal stream error: {e}");
                continue;
            }
        };
        if control.send(request).await.is_err() {
            break;
        }
    }
}

/// A graceful stop: stop accepting, stop the channels, abort the runs, tell the clients, and
/// wait for them within the shutdown budget.
async fn shut_down(
    gw: &Arc<Gateway>,
    acceptors: Acceptors,
    lock: StateLock,
    notifier: Option<&crate::service::notify::Notifier>,
    reason: &str,
) {
    log::info!(target: "gateway", "received {reason}; shutting down");
    if let Some(n) = notifier {
        let _ = n.send("STOPPING=1\nSTATUS=stopping");
    }
    let started = Instant::now();
    gw.set_phase(Phase::Draining);
    drop(acceptors);
    // Channels stop first: their receivers end and answers in flight stay in the journals, so
    // the runs aborted below are answered after the next start instead of being lost.
    gw.channels.stop_all().await;
    // Runs in progress are aborted and save their partial answers; clients still connected see
    // the aborted events before the shutdown event.
    gw.agent.shutdown(limits::AGENT_SHUTDOWN_BUDGET).await;
    let told = gw.hub.shutdown(Event::new("shutdown", &json!({"reason": "gateway stopping"})), 1012, "service restart").await;
    wait_for_clients(gw, told, limits::SHUTDOWN_BUDGET).await;
    if let Err(e) = super::runtime_token::remove(&gw.paths.state_dir) {
        log::warn!(target: "gateway", "cannot remove the runtime token file: {e}");
    }
    drop(lock);
    log::info!(target: "shutdown", "completed cleanly in {}ms", started.elapsed().as_millis());
}

fn announce(gw: &Gateway) {
    let settings = gw.settings();
    let urls: Vec<String> = settings.listen.bound.iter().map(|a| crate::gateway::rules::ws_url(*a)).collect();
    log::info!(
        target: "gateway",
        "listening on {} (PID {}, bind={}, auth={})",
        urls.join(", "),
        std::process::id(),
        settings.listen.bind.name(),
        settings.auth.mode.name()
    );
    if !settings.listen.is_loopback() {
        log::warn!(target: "gateway", "⚠️  Gateway is binding to a non-loopback address. Ensure authentication is configured before exposing to public networks.");
    }
    if let Some(f) = &gw.log_file {
        log::info!(target: "gateway", "log file: {}", f.display());
    }
}

/// Lets the local user's client commands use a runtime-only token (see [`super::runtime_token`]),
/// and removes the file once a secret is configured.
fn share_runtime_token(gw: &Gateway) {
    let settings = gw.settings();
    let token = if settings.auth.ephemeral_token { settings.auth.token.as_ref() } else { None };
    match super::runtime_token::sync(&gw.paths.state_dir, token) {
        Ok(()) if token.is_some() => log::info!(
            target: "gateway",
            "runtime token shared with this user's client commands through {} (mode 600, removed at shutdown)",
            gw.paths.display(&super::runtime_token::path(&gw.paths.state_dir))
        ),
        Ok(()) => {}
        Err(e) => log::warn!(target: "gateway", "cannot write the runtime token file for client commands: {e}"),
    }
}

/// Waits until the hub has no clients left (they got their close frames), at most `budget`.
async fn wait_for_clients(gw: &Gateway, told: usize, budget: Duration) {
    let deadline = Instant::now() + budget;
    while told > 0 && Instant::now() < deadline && !gw.hub.clients().await.is_empty() {
        Timer::after(Duration::from_millis(20)).await;
    }
}

/// Restarts in-process: clients are told and closed, the listeners are rebound when the port or
/// bind changed (the old ones stay if the new address cannot be bound), and the new settings
/// take over. A config that would not start is refused and the gateway keeps running as it was.
async fn restart(
    gw: &Arc<Gateway>,
    router: &Arc<Router>,
    acceptors: &mut Acceptors,
    lock: &mut StateLock,
    reason: &str,
    loaded: Option<Box<Loaded>>,
) {
    let started = Instant::now();
    let loaded = match loaded {
        Some(l) => *l,
        None => match config::load(&gw.paths) {
            Ok(l) if l.is_valid() => l,
            Ok(l) => {
                let why = l.issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; ");
                log::warn!(target: "gateway", "restart skipped (invalid config): {why}");
                return;
            }
            Err(config::LoadError::Missing(_)) if gw.opts.allow_unconfigured => config::unconfigured(),
            Err(e) => {
                log::warn!(target: "gateway", "restart skipped (invalid config): {e}");
                return;
            }
        },
    };
    let mut new = match crate::gateway::rules::check_mode(&gw.paths, &loaded, &gw.opts)
        .and_then(|()| crate::gateway::rules::build_settings(&gw.paths, loaded, &gw.opts, &gw.hash_key))
    {
        Ok(s) => s,
        Err(e) => {
            log::warn!(target: "gateway", "restart skipped: {}", e.lines.join(" "));
            return;
        }
    };
    let old = gw.settings();
    if old.auth.ephemeral_token && new.auth.ephemeral_token {
        // Still no configured token: keep this run's generated one instead of rotating it.
        new.auth.token = old.auth.token.clone();
    }
    let auth_changed = old.auth.mode != new.auth.mode || old.auth.token != new.auth.token || old.auth.password != new.auth.password;

    log::info!(target: "gateway", "restarting in-process ({reason})");
    gw.set_phase(Phase::Restarting);
    let (code, why) = if auth_changed { (4001, "gateway auth changed") } else { (1012, "service restart") };
    let shutdown = Event::new("shutdown", &json!({"reason": "gateway restarting", "restartExpectedMs": RESTART_EXPECTED_MS}));
    let told = gw.hub.shutdown(shutdown, code, why).await;
    wait_for_clients(gw, told, limits::WS_CLOSE_GRACE + Duration::from_millis(200)).await;

    if same_address(&old.listen, &new.listen) {
        new.listen.port = old.listen.port;
        new.listen.bound = old.listen.bound.clone();
    } else {
        match rebind(gw, new.listen.clone()).await {
            Ok((listen, listeners)) => {
                // Dropping the old accept loops closes the old sockets.
                *acceptors = Acceptors::start(listeners, router, gw);
                new.listen = listen;
            }
            Err(e) => {
                log::error!(
                    target: "gateway",
                    "restart: cannot listen on the new address ({}); still listening on {}",
                    e.lines.join(" "),
                    old.listen.primary_url()
                );
                new.auth.allowed_origins = crate::gateway::rules::allowed_origins(&new.loaded.config, &old.listen);
                new.listen = old.listen.clone();
            }
        }
    }
    lock.record(new.listen.port, &gw.paths.config_path);
    crate::gateway::rules::apply_log_levels(&new.loaded.config, gw.opts.verbose);
    gw.replace_settings(new);
    share_runtime_token(gw);
    gw.channels.reconcile(gw.settings().loaded.config.clone()).await;
    announce(gw);
    gw.set_phase(Phase::Ready);
    log::info!(target: "gateway", "restarted in-process in {}ms (same pid {})", started.elapsed().as_millis(), std::process::id());
}

/// Same hosts and port (port 0 means "any", so it matches whatever was picked before).
fn same_address(old: &Listen, new: &Listen) -> bool {
    old.hosts == new.hosts && (new.port == old.port || new.port == 0)
}

/// Binds the new listeners on a blocking thread (binding retries with short sleeps).
async fn rebind(gw: &Arc<Gateway>, mut listen: Listen) -> Result<(Listen, Vec<Async<TcpListener>>), start::StartError> {
    let paths = gw.paths.clone();
    smol::unblock(move || start::bind_all(&mut listen, false, &paths).map(|l| (listen, l))).await
}

/// Why a `health` event is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HealthCause {
    Interval,
    ChannelChange,
}

/// `tick` every `tickIntervalMs`; `health` (with `stateVersion`) every health interval and after
/// a channel's state moved.
async fn periodic_events(gw: Arc<Gateway>) {
    let tick = async {
        let mut timer = Timer::interval(gw.tuning.tick_interval);
        loop {
            timer.next().await;
            gw.hub.broadcast(Event::new("tick", &json!({"ts": crate::clock::now_ms()}))).await;
        }
    };
    // Also soon after a channel's state moved (the official gateway sends one "after
    // activity"): whoever started a channel sees it come up without waiting for the interval.
    let health = async {
        let mut timer = Timer::interval(gw.tuning.health_interval);
        let changes = gw.channels.changes();
        let mut last_for_change: Option<Instant> = None;
        loop {
            let interval = async {
                timer.next().await;
                HealthCause::Interval
            };
            let change = async {
                match changes.recv().await {
                    Ok(()) => HealthCause::ChannelChange,
                    // The registry is gone (teardown): only the interval is left.
                    Err(_) => std::future::pending().await,
                }
            };
            if smol::future::or(interval, change).await == HealthCause::ChannelChange {
                let settled = Instant::now() + limits::WS_HEALTH_CHANGE_SETTLE;
                let spaced = last_for_change.map_or(settled, |at| at + limits::WS_HEALTH_CHANGE_GAP);
                Timer::at(settled.max(spaced)).await;
                last_for_change = Some(Instant::now());
            }
            // Taken before the snapshot: a change after this point marks again and gets its own
            // event; one before it is in this snapshot.
            let _ = changes.try_recv();
            let sv = gw.bump_health();
            let snap = crate::rpc::methods::system::health_snapshot(&gw, false);
            gw.hub.broadcast(Event::new("health", &snap).versioned(sv)).await;
        }
    };
    smol::future::zip(tick, health).await;
}
