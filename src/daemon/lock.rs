//! One gateway per state directory: an exclusive `flock` on `<state>/gateway.lock`, which also
//! records the owner's pid and port for messages and client commands.
//!
//! The file is never deleted: removing a lock file while another process is about to lock it is
//! how two owners end up holding "the" lock on different inodes. The kernel releases the lock
//! when the owner dies, so a stale file cannot block anyone.

use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held state-directory lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    pub path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another live gateway holds it (its pid, when recorded).
    Held {
        pid: Option<u32>,
    },
    Io(std::io::Error),
}

/// What the owner wrote into the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub port: Option<u16>,
}

pub fn lock_path(state_dir: &Path) -> PathBuf {
    state_dir.join("gateway.lock")
}

/// Takes the lock, retrying for `wait` in case a previous gateway is just shutting down.
pub fn acquire(state_dir: &Path, wait: Duration) -> Result<StateLock, LockError> {
    crate::fsutil::create_private_dir(state_dir).map_err(LockError::Io)?;
    let path = lock_path(state_dir);
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(&path).map_err(LockError::Io)?;
    let deadline = Instant::now() + wait;
    loop {
        if crate::sys::try_lock(&file).map_err(LockError::Io)? {
            return Ok(StateLock { file, path });
        }
        if Instant::now() >= deadline {
            return Err(LockError::Held { pid: read_owner(state_dir).map(|o| o.pid) });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl StateLock {
    /// Records the owner (pid, port) in the lock file. Not synced: the record describes this
    /// process, which a power cut ends too, and readers on the running system see the page
    /// cache; an fsync here would only delay the first answer (by 5-20 ms on an SD card).
    pub fn record(&mut self, port: u16, config_path: &Path) {
        let text = json!({
            "pid": std::process::id(),
            "port": port,
            "startedAt": crate::clock::now_ms(),
            "configPath": config_path.display().to_string(),
        })
        .to_string();
        let _ = self.file.set_len(0);
        let _ = self.file.seek(SeekFrom::Start(0));
        let _ = self.file.write_all(text.as_bytes());
    }
}

/// Reads the recorded owner of a state directory's lock, if the file holds one.
pub fn read_owner(state_dir: &Path) -> Option<Owner> {
    let mut text = String::new();
    File::open(lock_path(state_dir)).ok()?.read_to_string(&mut text).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    Some(Owner { pid: v["pid"].as_u64()? as u32, port: v["port"].as_u64().map(|p| p as u16) })
}

/// The owner of the lock if a live process still holds it (checked by trying the lock).
pub fn live_owner(state_dir: &Path) -> Option<Owner> {
    let file = OpenOptions::new().read(true).write(true).open(lock_path(state_dir)).ok()?;
    match crate::sys::try_lock(&file) {
        Ok(false) => read_owner(state_dir),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_reports_the_owner_pid_and_release_frees_it() {
        let dir = std::env::temp_dir().join(format!("oc-statelock-{}", crate::ids::uuid()));
        let mut first = acquire(&dir, Duration::ZERO).unwrap();
        first.record(19001, Path::new("/x/openclaw.json"));
        match acquire(&dir, Duration::from_millis(100)) {
            Err(LockError::Held { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        assert_eq!(live_owner(&dir), Some(Owner { pid: std::process::id(), port: Some(19001) }));
        drop(first);
        assert_eq!(live_owner(&dir), None, "a released lock has no live owner");
        assert!(acquire(&dir, Duration::ZERO).is_ok());
        std::fs::remove_dir_all(dir).ok();
    }
}
