//! One-time dashboard bootstrap tokens: `openclaw dashboard` hands a browser a token in the URL
//! fragment (`#bootstrapToken=…&bootstrapProfile=owner&gatewayUrl=…`); the browser presents it
//! once in `connect.params.auth.bootstrapToken` with its signed device identity, and that device
//! is paired as the owner (admin scopes) and gets its durable device token in `hello-ok`.
//!
//! The handoff goes through the state dir, as the official CLI's does (it has no RPC for this):
//! the CLI writes `<stateDir>/devices/bootstrap/<sha256 hex of the token>.json` and the gateway
//! deletes that file when the token is presented. Deleting is the single use: of two connects
//! racing with one token, only one unlink succeeds. A file survives a gateway restart within the
//! ten minutes, and it holds the token's hash, never the token, so reading the state dir later
//! does not give a usable link.

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::ErrorShape;
use crate::limits::{BOOTSTRAP_FILE_MAX_BYTES, BOOTSTRAP_TOKEN_MAX_CHARS, BOOTSTRAP_TOKEN_TTL_MS, BOOTSTRAP_TOKENS_MAX};

/// The fragment's `bootstrapProfile` value for the dashboard owner handoff (official name).
pub const OWNER_PROFILE: &str = "owner";
/// What the owner handoff pairs the browser with (the official Control UI owner profile).
pub const OWNER_SCOPES: &[&str] = &[
    "operator.admin",
    "operator.approvals",
    "operator.pairing",
    "operator.questions",
    "operator.read",
    "operator.talk.secrets",
    "operator.write",
];
/// The official refusal for an unknown, used or expired bootstrap token.
const INVALID_MESSAGE: &str =
    "unauthorized: setup code invalid, expired, revoked, or already used (create a new code; review `openclaw devices list`)";

/// One outstanding token, as its file holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    issued_at_ms: u64,
    expires_at_ms: u64,
    /// Always the owner handoff today; kept so a later profile cannot be mistaken for it.
    profile: String,
}

/// A token just issued, for the dashboard link.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_at_ms: u64,
}

/// The token is unknown, used, expired or malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// Where the outstanding tokens of a state dir live.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("devices").join("bootstrap")
}

fn file_for(state_dir: &Path, token: &str) -> PathBuf {
    let hash = crate::encoding::hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    dir(state_dir).join(format!("{hash}.json"))
}

/// Issues an owner token valid for [`BOOTSTRAP_TOKEN_TTL_MS`]; drops expired ones and, past
/// [`BOOTSTRAP_TOKENS_MAX`], the oldest.
pub fn issue(state_dir: &Path, now_ms: u64) -> io::Result<Issued> {
    prune(&dir(state_dir), now_ms, BOOTSTRAP_TOKENS_MAX - 1);
    let mut raw = [0u8; 32];
    crate::ids::random_bytes(&mut raw);
    let token = crate::encoding::base64url(&raw);
    let expires_at_ms = now_ms + BOOTSTRAP_TOKEN_TTL_MS;
    let record = Record { issued_at_ms: now_ms, expires_at_ms, profile: OWNER_PROFILE.to_string() };
    let text = serde_json::to_vec(&record).map_err(io::Error::other)?;
    crate::fsutil::write_private_atomic(&file_for(state_dir, &token), &text)?;
    Ok(Issued { token, expires_at_ms })
}

/// Whether `token` can be a bootstrap token at all: 1 to 256 printable ASCII characters.
pub fn well_formed(token: &str) -> bool {
    (1..=BOOTSTRAP_TOKEN_MAX_CHARS).contains(&token.len()) && token.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Uses `token` up: `Ok` once while it is current, [`Invalid`] after that or when it never was.
pub fn redeem(state_dir: &Path, token: &str, now_ms: u64) -> Result<(), Invalid> {
    if !well_formed(token) {
        return Err(Invalid);
    }
    let path = file_for(state_dir, token);
    let record = read_record(&path);
    // The unlink decides who used it; an expired or damaged file goes too.
    std::fs::remove_file(&path).map_err(|_| Invalid)?;
    match record {
        Some(r) if r.profile == OWNER_PROFILE && now_ms < r.expires_at_ms.min(r.issued_at_ms + BOOTSTRAP_TOKEN_TTL_MS) => Ok(()),
        _ => Err(Invalid),
    }
}

fn read_record(path: &Path) -> Option<Record> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > BOOTSTRAP_FILE_MAX_BYTES {
        return None;
    }
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Removes expired, damaged and foreign files, then the oldest until at most `keep` remain.
fn prune(dir: &Path, now_ms: u64, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut live = Vec::new();
    // Bounded: the directory never holds many more than BOOTSTRAP_TOKENS_MAX files.
    for entry in entries.flatten().take(BOOTSTRAP_TOKENS_MAX * 4) {
        let path = entry.path();
        let ours = path.extension().is_some_and(|e| e == "json");
        match read_record(&path) {
            Some(r) if ours && now_ms < r.expires_at_ms => live.push((r.issued_at_ms, path)),
            _ if ours => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
    live.sort();
    let excess = live.len().saturating_sub(keep);
    for (_, path) in live.into_iter().take(excess) {
        let _ = std::fs::remove_file(path);
    }
}

/// The official `connect` refusal for a token that is not (or no longer) valid.
pub fn invalid_error() -> ErrorShape {
    ErrorShape::invalid(INVALID_MESSAGE).details(json!({
        "code": "AUTH_BOOTSTRAP_TOKEN_INVALID",
        "authReason": "bootstrap_token_invalid",
        "canRetryWithDeviceToken": false,
        "recommendedNextStep": "review_auth_configuration",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_state() -> PathBuf {
        let d = std::env::temp_dir().join(format!("oc-bootstrap-{}-{}", std::process::id(), crate::ids::uuid()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_token_works_once() {
        let state = temp_state();
        let issued = issue(&state, 1_000).unwrap();
        assert!(well_formed(&issued.token));
        assert_eq!(issued.expires_at_ms, 1_000 + BOOTSTRAP_TOKEN_TTL_MS);
        assert_eq!(redeem(&state, &issued.token, 2_000), Ok(()));
        assert_eq!(redeem(&state, &issued.token, 2_001), Err(Invalid));
        std::fs::remove_dir_all(state).unwrap();
    }

    #[test]
    fn an_expired_token_is_refused_and_removed() {
        let state = temp_state();
        let issued = issue(&state, 1_000).unwrap();
        assert_eq!(redeem(&state, &issued.token, issued.expires_at_ms), Err(Invalid));
        assert!(!file_for(&state, &issued.token).exists());
        std::fs::remove_dir_all(state).unwrap();
    }

    #[test]
    fn malformed_and_unknown_tokens_are_refused() {
        let state = temp_state();
        assert_eq!(redeem(&state, "", 0), Err(Invalid));
        assert_eq!(redeem(&state, "has space", 0), Err(Invalid));
        assert_eq!(redeem(&state, &"x".repeat(BOOTSTRAP_TOKEN_MAX_CHARS + 1), 0), Err(Invalid));
        assert_eq!(redeem(&state, "../../paired", 0), Err(Invalid));
        assert_eq!(redeem(&state, "never-issued", 0), Err(Invalid));
        std::fs::remove_dir_all(state).unwrap();
    }

    #[test]
    fn issuing_keeps_the_directory_bounded() {
        let state = temp_state();
        let first = issue(&state, 10).unwrap();
        for i in 0..BOOTSTRAP_TOKENS_MAX as u64 + 3 {
            issue(&state, 20 + i).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir(&state)).unwrap().count(), BOOTSTRAP_TOKENS_MAX);
        // The oldest went first.
        assert_eq!(redeem(&state, &first.token, 100), Err(Invalid));
        // Expired ones go at the next issue.
        issue(&state, 10 + BOOTSTRAP_TOKEN_TTL_MS + 1_000).unwrap();
        assert_eq!(std::fs::read_dir(dir(&state)).unwrap().count(), 1);
        std::fs::remove_dir_all(state).unwrap();
    }
}
