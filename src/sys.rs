//! Thin, safe wrappers over the few operating-system facilities the gateway needs beyond `std`:
//! file locks, signals to other processes, `/proc` lookups (who holds a port, memory use),
//! `uname`, interface addresses and the open-file limit. Linux is the target; the `/proc` parts
//! degrade to "unknown" elsewhere.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Takes an exclusive, non-blocking `flock` on `file`. `Ok(false)` when another process holds it.
/// The kernel drops the lock when the holder exits, however it exits, so a dead owner never
/// blocks a new gateway.
pub fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a valid, open descriptor has no memory-safety preconditions.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(false) } else { Err(err) }
}

/// Sends `signal` to `pid`. `Ok(false)` when the process does not exist.
pub fn kill(pid: u32, signal: i32) -> io::Result<bool> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) { Ok(false) } else { Err(err) }
}

/// Whether standard input and output are both a terminal (a person is there to answer).
pub fn interactive() -> bool {
    // SAFETY: isatty on the standard descriptors has no memory-safety preconditions.
    unsafe { libc::isatty(0) == 1 && libc::isatty(1) == 1 }
}

/// Terminal echo switched off on standard input while this lives (for typing a secret); the
/// previous settings come back on drop. Does nothing when standard input is not a terminal.
pub struct EchoOff {
    saved: Option<libc::termios>,
}

impl EchoOff {
    pub fn new() -> EchoOff {
        // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor or fails.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 and a valid pointer to a termios.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return EchoOff { saved: None };
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        // SAFETY: as above; a failure leaves the terminal as it was.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        EchoOff { saved: Some(saved) }
    }
}

impl Default for EchoOff {
    fn default() -> Self {
        EchoOff::new()
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            // SAFETY: restores settings read from the same descriptor.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

/// Whether a process with this pid exists (signal 0 probes without delivering anything).
pub fn process_alive(pid: u32) -> bool {
    // EPERM means it exists but belongs to someone else.
    kill(pid, 0).unwrap_or(true)
}

/// A process seen in `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub comm: String,
    pub cmdline: Vec<String>,
}

impl ProcessInfo {
    /// True for an OpenClaw gateway process (ours or the official one).
    pub fn is_openclaw_gateway(&self) -> bool {
        let exe = self.cmdline.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("");
        let named = exe.starts_with("openclaw") || self.comm.starts_with("openclaw");
        named && (self.comm.starts_with("openclaw-gatewa") || self.cmdline.iter().any(|a| a == "gateway"))
    }

    /// `openclaw gateway --port 1` for messages.
    pub fn describe(&self) -> String {
        if self.cmdline.is_empty() { self.comm.clone() } else { self.cmdline.join(" ") }
    }
}

pub fn process_info(pid: u32) -> Option<ProcessInfo> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?.trim().to_string();
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    Some(ProcessInfo { pid, comm, cmdline })
}

/// Processes that hold a listening TCP socket on `port` (only those whose file descriptors we
/// may read, i.e. our own user's, or all of them as root).
pub fn listeners_on_port(port: u16) -> Vec<ProcessInfo> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // local_address is "HEXIP:HEXPORT"; state 0A is LISTEN; inode is column 9.
            if cols.len() < 10 || cols[3] != "0A" {
                continue;
            }
            let local_port = cols[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                if let Ok(inode) = cols[9].parse::<u64>() {
                    inodes.push(inode);
                }
            }
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return found };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else { continue };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| wanted.iter().any(|w| target.as_os_str() == w.as_str())));
        if holds {
            if let Some(info) = process_info(pid) {
                found.push(info);
            }
        }
    }
    found
}

/// Resident memory of this process in bytes (`VmRSS`).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time this process has used so far: (user, system) in milliseconds (`getrusage`).
pub fn cpu_times_ms() -> Option<(u64, u64)> {
    // SAFETY: rusage is plain old data that getrusage(2) fills for RUSAGE_SELF.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) != 0 {
            return None;
        }
        u
    };
    let ms = |t: libc::timeval| (t.tv_sec.max(0) as u64).saturating_mul(1000).saturating_add((t.tv_usec.max(0) as u64) / 1000);
    Some((ms(usage.ru_utime), ms(usage.ru_stime)))
}

/// `uname -s` and `-r` and `-m`.
pub fn uname() -> (String, String, String) {
    // SAFETY: utsname is plain old data filled by uname(2); fields are NUL-terminated on success.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return ("unknown".into(), String::new(), String::new());
        }
        let f = |b: &[libc::c_char]| std::ffi::CStr::from_ptr(b.as_ptr()).to_string_lossy().into_owned();
        (f(&u.sysname), f(&u.release), f(&u.machine))
    }
}

/// The host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// True inside a container (Docker, Podman, Kubernetes, LXC), detected the official way.
pub fn in_container() -> bool {
    if ["/.dockerenv", "/run/.containerenv", "/var/run/.containerenv"].iter().any(|p| Path::new(p).exists()) {
        return true;
    }
    std::fs::read_to_string("/proc/1/cgroup").map(|c| c.contains("docker") || c.contains("kubepods") || c.contains("lxc")).unwrap_or(false)
}

/// Raises the soft open-file limit to the hard limit (each client is one descriptor).
pub fn raise_fd_limit() -> Option<u64> {
    // SAFETY: getrlimit/setrlimit read and write a plain struct we own.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return None;
        }
        if rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit { rlim_cur: rl.rlim_max, rlim_max: rl.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return Some(rl.rlim_max as u64);
            }
        }
        Some(rl.rlim_cur as u64)
    }
}

/// The first IPv4 address in Tailscale's CGNAT range (100.64.0.0/10) on any interface.
pub fn tailnet_ipv4() -> Option<Ipv4Addr> {
    interface_addrs().into_iter().find_map(|ip| match ip {
        IpAddr::V4(v4) if v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 => Some(v4),
        _ => None,
    })
}

/// All interface addresses.
pub fn interface_addrs() -> Vec<IpAddr> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs allocates a list we walk read-only and free exactly once.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match (*addr).sa_family as i32 {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::V6(std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

/// A duration in milliseconds from the environment variable `name`, else `default` (also for a
/// value that is not a positive number).
pub fn env_ms(name: &str, default: std::time::Duration) -> std::time::Duration {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&v| v > 0)
        .map(std::time::Duration::from_millis)
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_listener_of_our_own_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = listeners_on_port(port);
        assert!(found.iter().any(|p| p.pid == std::process::id()), "{found:?}");
    }

    #[test]
    fn lock_is_exclusive_between_descriptors() {
        let path = std::env::temp_dir().join(format!("oc-lock-{}", crate::ids::uuid()));
        let a = File::create(&path).unwrap();
        let b = File::open(&path).unwrap();
        assert!(try_lock(&a).unwrap());
        assert!(!try_lock(&b).unwrap(), "flock locks are per open file description");
        drop(a);
        assert!(try_lock(&b).unwrap());
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn recognises_gateway_processes() {
        let p =
            |comm: &str, args: &[&str]| ProcessInfo { pid: 1, comm: comm.into(), cmdline: args.iter().map(|s| s.to_string()).collect() };
        assert!(p("openclaw", &["/usr/local/bin/openclaw", "--dev", "gateway"]).is_openclaw_gateway());
        assert!(p("openclaw-gatewa", &["openclaw-gateway"]).is_openclaw_gateway());
        assert!(!p("nginx", &["nginx", "gateway"]).is_openclaw_gateway());
        assert!(!p("openclaw", &["openclaw", "status"]).is_openclaw_gateway());
        assert!(process_alive(std::process::id()));
        assert!(rss_bytes().unwrap() > 0);
    }
}
