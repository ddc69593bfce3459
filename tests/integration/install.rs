//! `scripts/install.sh` on simulated boards: a fake `uname` (and `/proc/cpuinfo`) picks the
//! board, fake binaries record what ran, a fake `sudo` records whether root was asked for.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const TARGETS: &[&str] =
    &["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl", "armv7-unknown-linux-gnueabihf", "arm-unknown-linux-musleabihf"];

fn write_exec(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

struct Board {
    home: Arc<TempDir>,
    fakebin: PathBuf,
    dist: PathBuf,
    log: PathBuf,
}

impl Board {
    /// A simulated machine reporting `machine` from `uname -m` and `cpu_arch` in /proc/cpuinfo,
    /// with fake binaries for `available` targets.
    fn new(machine: &str, cpu_arch: &str, available: &[&str]) -> Board {
        let home = Arc::new(TempDir::new("install"));
        let fakebin = home.path().join("fakebin");
        let dist = home.path().join("dist");
        let log = home.path().join("calls.log");
        std::fs::create_dir_all(&fakebin).unwrap();
        std::fs::create_dir_all(&dist).unwrap();
        write_exec(&fakebin.join("uname"), &format!("#!/bin/sh\nif [ \"$1\" = -m ]; then echo {machine}; else echo Linux; fi\n"));
        write_exec(&fakebin.join("sudo"), &format!("#!/bin/sh\necho \"sudo $*\" >> {}\nexec \"$@\"\n", log.display()));
        // An ordinary user, even when the tests run as root.
        write_exec(&fakebin.join("id"), "#!/bin/sh\ncase \"$1\" in -u) echo 1000 ;; -un) echo pi ;; *) echo 'uid=1000(pi)' ;; esac\n");
        std::fs::write(home.path().join("cpuinfo"), format!("processor\t: 0\nCPU architecture: {cpu_arch}\n")).unwrap();
        for t in available {
            write_exec(
                &dist.join(format!("openclaw-{t}")),
                &format!("#!/bin/sh\necho \"{t} $*\" >> {}\necho 'openclaw 0.1.0 ({t})'\n", log.display()),
            );
        }
        std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh"), dist.join("install.sh")).unwrap();
        Board { home, fakebin, dist, log }
    }

    fn install(&self, extra: &[&str]) -> (i32, String, String) {
        let mut cmd = std::process::Command::new("dash");
        cmd.arg(self.dist.join("install.sh")).args(extra);
        let path = format!("{}:{}", self.fakebin.display(), std::env::var("PATH").unwrap());
        cmd.env("PATH", path).env("HOME", self.home.path()).env("OPENCLAW_CPUINFO", self.home.path().join("cpuinfo"));
        let out = run_with_limit(cmd, Duration::from_secs(20));
        (out.0, out.1, out.2)
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn installed(&self) -> PathBuf {
        self.home.path().join(".local/bin/openclaw")
    }
}

fn run_with_limit(mut cmd: std::process::Command, limit: Duration) -> (i32, String, String) {
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(limit).expect("install.sh hung").unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_64_bit_pi_gets_the_aarch64_binary_and_setup_runs() {
    let b = Board::new("aarch64", "8", TARGETS);
    let (code, out, err) = b.install(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Installing aarch64-unknown-linux-musl for aarch64"), "{out}");
    let calls = b.calls();
    assert!(calls.contains("aarch64-unknown-linux-musl --version"), "{calls}");
    assert!(calls.contains("aarch64-unknown-linux-musl setup"), "setup ran: {calls}");
    assert!(!calls.contains("sudo"), "never asks for root: {calls}");
    assert_eq!(std::fs::metadata(b.installed()).unwrap().permissions().mode() & 0o777, 0o755);
    assert!(out.contains("openclaw gateway install") && out.contains("loginctl enable-linger"), "{out}");
    assert!(out.contains("is not on your PATH"), "{out}");
}

#[test]
fn a_32_bit_armv7_board_gets_the_armv7_binary() {
    let b = Board::new("armv7l", "7", TARGETS);
    let (code, out, err) = b.install(&["--no-setup"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(b.calls().contains("armv7-unknown-linux-gnueabihf --version"));
    assert!(!b.calls().contains("setup"), "--no-setup skips setup");
}

#[test]
fn armv6_boards_never_get_the_armv7_binary() {
    for (machine, cpu) in [("armv6l", "6"), ("armv7l", "6")] {
        let b = Board::new(machine, cpu, &["armv7-unknown-linux-gnueabihf"]);
        let (code, _, err) = b.install(&[]);
        assert_eq!(code, 1, "{machine}/{cpu}: {err}");
        assert!(err.contains("ARMv6") && err.contains("arm-unknown-linux-musleabihf"), "{err}");
        assert!(!b.installed().exists(), "nothing installed");
        let b = Board::new(machine, cpu, TARGETS);
        let (code, _, err) = b.install(&["--no-setup"]);
        assert_eq!(code, 0, "{err}");
        assert!(b.calls().contains("arm-unknown-linux-musleabihf --version"), "{}", b.calls());
    }
}

#[test]
fn prefix_and_system_installs() {
    let b = Board::new("x86_64", "", TARGETS);
    let prefix = b.home.path().join("opt");
    let (code, _, err) = b.install(&["--prefix", prefix.to_str().unwrap(), "--no-setup"]);
    assert_eq!(code, 0, "{err}");
    assert!(prefix.join("bin/openclaw").is_file());
    assert!(!b.calls().contains("sudo"));
    let (code, _, err) = b.install(&["--system", "--prefix", prefix.to_str().unwrap(), "--no-setup"]);
    assert_eq!(code, 0, "{err}");
    assert!(b.calls().contains("sudo mkdir"), "a system install asks for root: {}", b.calls());
    let (code, _, err) = b.install(&["--bogus"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown option --bogus"));
}

#[test]
fn unknown_machines_are_refused() {
    let b = Board::new("riscv64", "", TARGETS);
    let (code, _, err) = b.install(&[]);
    assert_eq!(code, 1);
    assert!(err.contains("no openclaw build for machine type 'riscv64'"), "{err}");
}

#[test]
fn the_real_binary_installs_and_sets_up_a_profile() {
    let b = Board::new("x86_64", "", &[]);
    std::fs::copy(bin(), b.dist.join("openclaw-x86_64-unknown-linux-musl")).unwrap();
    let (code, out, err) = b.install(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Wrote ~/.openclaw/openclaw.json"), "{out}");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.home.path().join(".openclaw/openclaw.json")).unwrap()).unwrap();
    assert_eq!(cfg["gateway"]["mode"], "local");
    assert!(b.home.path().join(".openclaw/workspace/AGENTS.md").is_file());
}
