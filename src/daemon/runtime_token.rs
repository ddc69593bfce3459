//! The runtime-only token of a gateway started without a configured secret, shared with the
//! local user's client commands through a private file.
//!
//! On loopback with no token or password configured the gateway generates one for this run (as
//! the official gateway does). No client could know it, so `openclaw status` and friends would
//! be locked out of the gateway their own user just started. The token is written to
//! `<state>/gateway.runtime-token` (mode 600 in the 700 state directory: only that user reads
//! it), the client commands read it when nothing else gives them a secret, and the file is
//! removed at shutdown. A file left by a crash is harmless: clients read it only while a live
//! gateway holds the state lock, and the next start replaces or removes it.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::secret::Secret;

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("gateway.runtime-token")
}

/// Makes the file match the running settings: the token while it is runtime-only, no file
/// once a secret is configured.
pub fn sync(state_dir: &Path, runtime_token: Option<&Secret>) -> io::Result<()> {
    match runtime_token {
        Some(token) => crate::fsutil::write_private_atomic(&path(state_dir), token.expose().as_bytes()),
        None => remove(state_dir),
    }
}

pub fn remove(state_dir: &Path) -> io::Result<()> {
    match std::fs::remove_file(path(state_dir)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The token of the gateway running on `state_dir`, when it has a runtime-only one.
pub fn read(state_dir: &Path) -> Option<Secret> {
    super::lock::live_owner(state_dir)?;
    let text = std::fs::read_to_string(path(state_dir)).ok()?;
    let token = text.trim();
    (!token.is_empty() && token.len() <= crate::limits::RUNTIME_TOKEN_MAX_BYTES).then(|| Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_private_read_only_while_the_gateway_lives_and_removed() {
        let dir = std::env::temp_dir().join(format!("oc-rt-{}", crate::ids::uuid()));
        let token = Secret::new("runtime-token-123");
        sync(&dir, Some(&token)).unwrap();
        assert_eq!(std::fs::metadata(path(&dir)).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(read(&dir).is_none(), "no live gateway holds the state lock");
        let mut lock = crate::daemon::lock::acquire(&dir, std::time::Duration::ZERO).unwrap();
        lock.record(18789, std::path::Path::new("/x/openclaw.json"));
        assert_eq!(read(&dir).map(|t| t.expose().to_string()), Some("runtime-token-123".to_string()));
        sync(&dir, None).unwrap();
        assert!(!path(&dir).exists() && read(&dir).is_none());
        remove(&dir).unwrap();
        drop(lock);
        std::fs::remove_dir_all(dir).ok();
    }
}
