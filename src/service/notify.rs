//! The service manager's notify protocol (systemd `Type=notify`, `sd_notify(3)`): one datagram of
//! `KEY=VALUE` lines to the socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract
//! namespace). No libsystemd: the protocol is this datagram.
//!
//! `READY=1` once the gateway serves, `STATUS=` with what it is doing, `WATCHDOG=1` at half the
//! `$WATCHDOG_USEC` interval while it makes progress (systemd restarts it when they stop), and
//! `STOPPING=1` on the way out.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where notifications go, when a service manager asked for them.
pub struct Notifier {
    socket: UnixDatagram,
    target: Target,
    /// How often the manager expects `WATCHDOG=1` (`None`: no watchdog configured).
    pub watchdog_interval: Option<Duration>,
}

enum Target {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

impl Notifier {
    /// From the environment: `NOTIFY_SOCKET`, and `WATCHDOG_USEC` (with `WATCHDOG_PID`, when set,
    /// naming this process). `None` when the gateway does not run under a notify-aware manager.
    pub fn from_env() -> Option<Notifier> {
        Notifier::from_vars(&|k| std::env::var(k).ok())
    }

    fn from_vars(env: &dyn Fn(&str) -> Option<String>) -> Option<Notifier> {
        let name = env("NOTIFY_SOCKET").filter(|s| !s.is_empty())?;
        let target = match name.strip_prefix('@') {
            Some(abstract_name) => Target::Abstract(abstract_name.as_bytes().to_vec()),
            None => Target::Path(name.into()),
        };
        let socket = UnixDatagram::unbound().ok()?;
        let for_us = env("WATCHDOG_PID").and_then(|p| p.trim().parse::<u32>().ok()).is_none_or(|p| p == std::process::id());
        let watchdog_interval = env("WATCHDOG_USEC")
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            // Half the manager's timeout, as sd_watchdog_enabled(3) recommends.
            .map(|u| Duration::from_micros(u / 2));
        Some(Notifier { socket, target, watchdog_interval })
    }

    /// Sends one notification (`READY=1`, `STATUS=…`, several lines at once).
    pub fn send(&self, state: &str) -> io::Result<()> {
        match &self.target {
            Target::Path(p) => self.socket.send_to(state.as_bytes(), p).map(|_| ()),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                self.socket.send_to_addr(state.as_bytes(), &addr).map(|_| ())
            }
        }
    }
}

/// `STATUS=` text: one line, as systemctl shows it (newlines would end the field).
pub fn status_line(text: &str) -> String {
    format!("STATUS={}", text.replace(['\n', '\r'], " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_the_socket_and_the_watchdog_interval_is_half_the_timeout() {
        let dir = std::env::temp_dir().join(format!("oc-notify-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let p = path.display().to_string();
        let env = |k: &str| match k {
            "NOTIFY_SOCKET" => Some(p.clone()),
            "WATCHDOG_USEC" => Some("2000000".into()),
            _ => None,
        };
        let n = Notifier::from_vars(&env).unwrap();
        assert_eq!(n.watchdog_interval, Some(Duration::from_secs(1)));
        n.send(&format!("READY=1\n{}", status_line("ready\nnow"))).unwrap();
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=ready now");
        let other_pid = |k: &str| if k == "WATCHDOG_PID" { Some("1".to_string()) } else { env(k) };
        assert_eq!(Notifier::from_vars(&other_pid).unwrap().watchdog_interval, None, "the watchdog is for another process");
        assert!(Notifier::from_vars(&|_| None).is_none());
        std::fs::remove_dir_all(dir).ok();
    }
}
