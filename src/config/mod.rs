//! Configuration: where files live ([`paths`]), how the file is read ([`load`], [`json5`]), the
//! typed form the program uses ([`model`], built with [`check`]) and how secrets are kept out of
//! sight ([`secret`]). Nothing here knows about sockets.

pub mod agents;
pub mod bootstrap;
pub mod channel_kind;
pub mod channels;
pub mod check;
pub mod edit;
pub mod json5;
pub mod load;
pub mod model;
pub mod paths;
pub mod reload;
pub mod secret;

pub use check::Issue;
pub use load::{LoadError, Source};
pub use model::{AuthMode, BindMode, Config, LogLevel, ReloadMode};
pub use paths::Paths;

use serde_json::Value;
use std::path::Path;

/// A config as the gateway loaded it: the file's stages, the typed config, and the findings.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// `None` when no config file exists (allowed with `--allow-unconfigured`).
    pub source: Option<Source>,
    /// Shared: the agent keeps the snapshot a run started with while the gateway may reload.
    pub config: std::sync::Arc<Config>,
    /// Problems that make the config invalid.
    pub issues: Vec<Issue>,
    /// Things worth telling the operator that do not stop the gateway.
    pub warnings: Vec<String>,
}

impl Loaded {
    pub fn is_valid(&self) -> bool {
        self.issues.is_empty()
    }

    /// The resolved JSON (empty object without a file).
    pub fn resolved(&self) -> Value {
        self.source.as_ref().map(|s| s.resolved.clone()).unwrap_or_else(|| Value::Object(Default::default()))
    }
}

/// Reads and validates the config at `paths.config_path`.
pub fn load(paths: &Paths) -> Result<Loaded, LoadError> {
    let source = load::read(&paths.config_path)?;
    Ok(validate(source, paths))
}

/// Validates an already-read source.
pub fn validate(source: Source, paths: &Paths) -> Loaded {
    let env = |k: &str| std::env::var(k).ok();
    let resolver = model::Resolver { env: &env, home: &paths.home };
    let (config, checker) = Config::from_value(&source.resolved, &resolver);
    let mut warnings = source.warnings.clone();
    warnings.extend(checker.warnings);
    Loaded { source: Some(source), config: std::sync::Arc::new(config), issues: checker.issues, warnings }
}

/// The config used when no file exists.
pub fn unconfigured() -> Loaded {
    Loaded { source: None, config: std::sync::Arc::new(Config::empty()), issues: Vec::new(), warnings: Vec::new() }
}

/// A copy of `value` with every secret-bearing value replaced by [`secret::REDACTED`].
/// SecretRef objects stay visible: they name where a secret lives, not the secret.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let redacted = if secret::is_secret_key(k) {
                        match v {
                            Value::String(s) if !s.is_empty() && !is_env_reference(s) => Value::String(secret::REDACTED.into()),
                            Value::Object(_) => redact(v),
                            Value::Null | Value::Bool(_) => v.clone(),
                            Value::String(_) => v.clone(),
                            _ => Value::String(secret::REDACTED.into()),
                        }
                    } else {
                        redact(v)
                    };
                    (k.clone(), redacted)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

fn is_env_reference(s: &str) -> bool {
    s.strip_prefix("${").and_then(|r| r.strip_suffix('}')).is_some_and(|name| !name.contains(['{', '}']))
}

/// The raw file text with every literal secret value (as found in `parsed`) replaced.
pub fn redact_raw(raw: &str, parsed: &Value) -> String {
    let mut secrets = Vec::new();
    collect_secret_strings(parsed, false, &mut secrets);
    // Longest first, so a secret that contains another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = raw.to_string();
    for s in secrets {
        out = out.replace(&s, secret::REDACTED);
    }
    out
}

/// Puts the current file's secrets back where `raw` (text a client edited from `config.get`)
/// still holds [`secret::REDACTED`]. `Err((path, message))` for a marker where the current file
/// has no secret string, or for text that does not parse.
///
/// Each marker is first made unique, so that after parsing it is known which path it sits at,
/// then replaced in the text by that path's secret: comments and layout stay as written.
pub fn restore_redacted(raw: &str, current: &Value) -> Result<String, (String, String)> {
    if !raw.contains(secret::REDACTED) {
        return Ok(raw.to_string());
    }
    let parts: Vec<&str> = raw.split(secret::REDACTED).collect();
    let mut tagged = String::with_capacity(raw.len() + parts.len() * 8);
    for (i, part) in parts.iter().enumerate() {
        tagged.push_str(part);
        if i + 1 < parts.len() {
            tagged.push_str(&format!("{}{i}__", secret::REDACTED));
        }
    }
    let parsed = json5::parse(&tagged).map_err(|e| (String::new(), e.to_string()))?;
    let mut found = Vec::new();
    find_markers(&parsed, "", &mut found);
    let mut out = String::with_capacity(raw.len());
    for (i, part) in parts.iter().enumerate() {
        out.push_str(part);
        if i + 1 >= parts.len() {
            continue;
        }
        let tag = format!("{}{i}__", secret::REDACTED);
        let Some((path, pointer)) = found.iter().find(|(_, _, t)| *t == tag).map(|(p, ptr, _)| (p.clone(), ptr.clone())) else {
            return Err((String::new(), format!("{} may only stand for a whole secret value", secret::REDACTED)));
        };
        match current.pointer(&pointer) {
            Some(Value::String(secret)) if !secret.is_empty() && secret != secret::REDACTED => {
                let quoted = serde_json::to_string(secret).unwrap_or_default();
                out.push_str(quoted.trim_start_matches('"').trim_end_matches('"'));
            }
            _ => return Err((path, format!("{} where the current config has no secret to keep", secret::REDACTED))),
        }
    }
    Ok(out)
}

/// Strings that are exactly a tagged marker: (dotted path, JSON pointer, the string).
fn find_markers(v: &Value, pointer: &str, out: &mut Vec<(String, String, String)>) {
    match v {
        Value::String(s) if s.starts_with(secret::REDACTED) => {
            let path = pointer.trim_start_matches('/').replace('/', ".").replace("~1", "/").replace("~0", "~");
            out.push((path, pointer.to_string(), s.clone()));
        }
        Value::Object(map) => {
            for (k, v) in map {
                find_markers(v, &format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                find_markers(v, &format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn collect_secret_strings(v: &Value, under_secret_key: bool, out: &mut Vec<String>) {
    match v {
        Value::String(s) if under_secret_key && !s.is_empty() && !is_env_reference(s) => out.push(s.clone()),
        Value::Object(map) => {
            for (k, v) in map {
                collect_secret_strings(v, secret::is_secret_key(k), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_secret_strings(i, under_secret_key, out)),
        _ => {}
    }
}

/// The key that makes config hashes unguessable (`<state>/config-journal-fingerprint.key`).
/// A plain hash of the file would let anyone who can read the hash test guesses of a weak
/// password in it offline; an HMAC with a local key does not.
pub fn hash_key(state_dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = state_dir.join("config-journal-fingerprint.key");
    match std::fs::read(&path) {
        Ok(k) if k.len() == 32 => return Ok(k),
        Ok(_) | Err(_) => {}
    }
    let mut key = vec![0u8; 32];
    crate::ids::random_bytes(&mut key);
    crate::fsutil::write_private_atomic(&path, &key)?;
    Ok(key)
}

/// `hmac-sha256:v1:<base64url>` of the raw config text, as OpenClaw formats config hashes.
pub fn config_hash(key: &[u8], raw: &str) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&k, raw.as_bytes());
    format!("hmac-sha256:v1:{}", crate::encoding::base64url(tag.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacted_markers_get_the_current_secrets_back() {
        let current = serde_json::json!({"gateway": {"auth": {"token": "s3cr\"et"}}, "channels": {"telegram": {"botToken": "123:abc"}}});
        let raw = "{\n  // keep me\n  gateway: {auth: {token: \"__OPENCLAW_REDACTED__\"}},\n  channels: {telegram: {botToken: '__OPENCLAW_REDACTED__'}},\n}";
        let restored = restore_redacted(raw, &current).unwrap();
        assert!(restored.contains("// keep me"));
        let v = json5::parse(&restored).unwrap();
        assert_eq!(v["gateway"]["auth"]["token"], "s3cr\"et");
        assert_eq!(v["channels"]["telegram"]["botToken"], "123:abc");
        let err = restore_redacted("{gateway: {auth: {password: \"__OPENCLAW_REDACTED__\"}}}", &current).unwrap_err();
        assert_eq!(err.0, "gateway.auth.password");
        assert_eq!(restore_redacted("{a: 1}", &current).unwrap(), "{a: 1}");
    }

    #[test]
    fn redaction_hides_secrets_but_not_references() {
        let v = json!({"gateway": {"auth": {"token": "abc", "password": "${PW}", "mode": "token"}},
                       "models": {"providers": {"x": {"apiKey": {"source": "env", "id": "K"}, "baseUrl": "http://h"}}},
                       "channels": {"telegram": {"botToken": "123:xyz", "textChunkLimit": 4000}}});
        let r = redact(&v);
        assert_eq!(r["gateway"]["auth"]["token"], secret::REDACTED);
        assert_eq!(r["gateway"]["auth"]["password"], "${PW}");
        assert_eq!(r["gateway"]["auth"]["mode"], "token");
        assert_eq!(r["models"]["providers"]["x"]["apiKey"], json!({"source": "env", "id": "K"}));
        assert_eq!(r["channels"]["telegram"]["botToken"], secret::REDACTED);
        assert_eq!(r["channels"]["telegram"]["textChunkLimit"], 4000);
    }

    #[test]
    fn raw_redaction_replaces_literal_secrets() {
        let raw = "{gateway: {auth: {token: 'abc123secret'}}, // abc123secret again\n}";
        let parsed = json5::parse(raw).unwrap();
        let out = redact_raw(raw, &parsed);
        assert!(!out.contains("abc123secret"), "{out}");
        assert_eq!(out.matches(secret::REDACTED).count(), 2);
    }

    #[test]
    fn config_hash_depends_on_key_and_text() {
        let a = config_hash(&[1; 32], "{}");
        assert!(a.starts_with("hmac-sha256:v1:"));
        assert_ne!(a, config_hash(&[2; 32], "{}"));
        assert_ne!(a, config_hash(&[1; 32], "{ }"));
        assert_eq!(a, config_hash(&[1; 32], "{}"));
    }
}
