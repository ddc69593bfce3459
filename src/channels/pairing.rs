//! DM pairing: an unknown sender under `dmPolicy: "pairing"` gets a short code; the owner approves
//! it (`openclaw pairing approve <channel> <code>` or `channels.pairing.approve`) and the sender is
//! allowed from then on.
//!
//! Stored as OpenClaw's legacy JSON files in `<state>/credentials/`: `<channel>-pairing.json`
//! (pending requests) and `<channel>-allowFrom.json` (approved senders). Both the gateway and the
//! CLI change them, with or without a running gateway, so every change is a read-modify-write
//! under an exclusive `flock` on `credentials/.pairing.lock`, written atomically.

use serde::{Deserialize, Serialize};
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::limits::{PAIRING_CODE_TTL, PAIRING_PENDING_MAX};

/// Code characters: upper case and digits without the look-alikes 0, O, 1 and I.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub code: String,
    pub sender_id: String,
    #[serde(default)]
    pub sender_label: String,
    /// Where to tell the sender about the approval.
    #[serde(default)]
    pub chat: String,
    pub created_at: u64,
    pub last_seen_at: u64,
}

impl Request {
    pub fn expires_at(&self) -> u64 {
        self.created_at + PAIRING_CODE_TTL.as_millis() as u64
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PendingFile {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    requests: Vec<Request>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AllowFile {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    allow_from: Vec<String>,
}

/// What a sender's first message under pairing leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// A new code: tell the sender.
    New(String),
    /// A code is already pending for this sender: stay quiet (the official behaviour).
    Pending(String),
    /// Too many pending requests on this channel: stay quiet until some expire or are handled.
    Full,
}

/// The pairing files of one state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

struct Guard(#[allow(dead_code)] std::fs::File);

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store { dir: state_dir.join("credentials") }
    }

    fn pending_path(&self, channel: &str) -> PathBuf {
        self.dir.join(format!("{channel}-pairing.json"))
    }

    fn allow_path(&self, channel: &str) -> PathBuf {
        self.dir.join(format!("{channel}-allowFrom.json"))
    }

    /// Takes the store lock, waiting up to 2 s for another process to finish its change.
    fn lock(&self) -> io::Result<Guard> {
        crate::fsutil::create_private_dir(&self.dir)?;
        let f = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(self.dir.join(".pairing.lock"))?;
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if crate::sys::try_lock(&f)? {
                return Ok(Guard(f));
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the pairing store is locked by another process"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn read<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> io::Result<T> {
        match std::fs::read(path) {
            Ok(b) if b.len() > 1024 * 1024 => Err(io::Error::other(format!("{} is larger than 1 MiB", path.display()))),
            Ok(b) => serde_json::from_slice(&b).map_err(|e| io::Error::other(format!("{} is not valid JSON: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(e),
        }
    }

    fn write<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
        crate::fsutil::write_private_atomic(path, &bytes)
    }

    /// Senders approved through pairing.
    pub fn allowed(&self, channel: &str) -> io::Result<Vec<String>> {
        Ok(Self::read::<AllowFile>(&self.allow_path(channel))?.allow_from)
    }

    /// Pending, unexpired requests.
    pub fn pending(&self, channel: &str, now: u64) -> io::Result<Vec<Request>> {
        let mut f: PendingFile = Self::read(&self.pending_path(channel))?;
        f.requests.retain(|r| r.expires_at() > now);
        Ok(f.requests)
    }

    /// Registers `sender` as asking for access; a code is made only when none is pending.
    pub fn ask(&self, channel: &str, sender: &str, label: &str, chat: &str, now: u64) -> io::Result<Ask> {
        let _g = self.lock()?;
        let path = self.pending_path(channel);
        let mut f: PendingFile = Self::read(&path)?;
        f.requests.retain(|r| r.expires_at() > now);
        if let Some(r) = f.requests.iter_mut().find(|r| r.sender_id == sender) {
            r.last_seen_at = now;
            let code = r.code.clone();
            Self::write(&path, &PendingFile { version: 1, requests: f.requests })?;
            return Ok(Ask::Pending(code));
        }
        if f.requests.len() >= PAIRING_PENDING_MAX {
            return Ok(Ask::Full);
        }
        let code = new_code();
        f.requests.push(Request {
            code: code.clone(),
            sender_id: sender.to_string(),
            sender_label: label.to_string(),
            chat: chat.to_string(),
            created_at: now,
            last_seen_at: now,
        });
        Self::write(&path, &PendingFile { version: 1, requests: f.requests })?;
        Ok(Ask::New(code))
    }

    /// Approves the pending request with `code` (any case): the sender joins the allow list.
    /// `Ok(None)` when no unexpired request has that code.
    pub fn approve(&self, channel: &str, code: &str, now: u64) -> io::Result<Option<Request>> {
        self.resolve(channel, code, now, true)
    }

    /// Drops the pending request with `code` without approving it.
    pub fn dismiss(&self, channel: &str, code: &str, now: u64) -> io::Result<Option<Request>> {
        self.resolve(channel, code, now, false)
    }

    fn resolve(&self, channel: &str, code: &str, now: u64, approve: bool) -> io::Result<Option<Request>> {
        let _g = self.lock()?;
        let path = self.pending_path(channel);
        let mut f: PendingFile = Self::read(&path)?;
        f.requests.retain(|r| r.expires_at() > now);
        let code = code.trim().to_ascii_uppercase();
        let Some(i) = f.requests.iter().position(|r| r.code == code) else { return Ok(None) };
        let req = f.requests.remove(i);
        if approve {
            let allow_path = self.allow_path(channel);
            let mut a: AllowFile = Self::read(&allow_path)?;
            if !a.allow_from.contains(&req.sender_id) {
                a.allow_from.push(req.sender_id.clone());
            }
            a.version = 1;
            Self::write(&allow_path, &a)?;
        }
        Self::write(&path, &PendingFile { version: 1, requests: f.requests })?;
        Ok(Some(req))
    }
}

fn new_code() -> String {
    let mut bytes = [0u8; CODE_LEN];
    crate::ids::random_bytes(&mut bytes);
    // 256 is a multiple of the 32-letter alphabet, so the modulo is unbiased.
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_avoid_look_alikes() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), 8);
            assert!(c.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit()));
            assert!(!c.contains(['0', 'O', '1', 'I']), "{c}");
        }
    }

    #[test]
    fn ask_approve_and_limits() {
        let dir = std::env::temp_dir().join(format!("openclaw-pairing-{}", crate::ids::uuid()));
        let s = Store::new(&dir);
        let Ask::New(code) = s.ask("telegram", "7", "u7", "7", 1000).unwrap() else { panic!() };
        assert_eq!(s.ask("telegram", "7", "u7", "7", 2000).unwrap(), Ask::Pending(code.clone()), "no second code");
        assert!(matches!(s.ask("telegram", "8", "", "8", 2000).unwrap(), Ask::New(_)));
        assert!(matches!(s.ask("telegram", "9", "", "9", 2000).unwrap(), Ask::New(_)));
        assert_eq!(s.ask("telegram", "10", "", "10", 2000).unwrap(), Ask::Full, "at most 3 pending");
        assert!(s.approve("discord", &code, 3000).unwrap().is_none(), "codes are per channel");
        let r = s.approve("telegram", &code.to_lowercase(), 3000).unwrap().unwrap();
        assert_eq!(r.sender_id, "7");
        assert_eq!(s.allowed("telegram").unwrap(), ["7"]);
        assert!(s.approve("telegram", &code, 3000).unwrap().is_none(), "a code works once");
        // Expired requests vanish and free their slot.
        let later = 2000 + PAIRING_CODE_TTL.as_millis() as u64;
        assert!(s.pending("telegram", later).unwrap().is_empty());
        assert!(matches!(s.ask("telegram", "10", "", "10", later).unwrap(), Ask::New(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
