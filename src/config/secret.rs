//! Secret values (tokens, passwords, API keys). The type has no `Display`, and its `Debug` prints a
//! mask, so a secret cannot reach a log line or an error message by accident; code that needs the
//! value asks for it by name with [`Secret::expose`].

use std::fmt;

/// The placeholder OpenClaw uses where a secret was redacted.
pub const REDACTED: &str = "__OPENCLAW_REDACTED__";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for comparison or for sending it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality with an untrusted candidate. Both sides are hashed first, so the
    /// comparison time depends neither on where they differ nor on their lengths.
    pub fn matches(&self, candidate: &str) -> bool {
        use ring::digest::{SHA256, digest};
        let a = digest(&SHA256, self.0.as_bytes());
        let b = digest(&SHA256, candidate.as_bytes());
        let diff = a.as_ref().iter().zip(b.as_ref()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        diff == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Like the official redactor: long secrets keep a recognisable prefix and suffix.
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() >= 18 {
            let head: String = chars.iter().take(6).collect();
            let tail: String = chars.iter().skip(chars.len() - 4).collect();
            write!(f, "Secret({head}…{tail})")
        } else {
            f.write_str("Secret(***)")
        }
    }
}

/// True for config keys whose values are secrets (redacted in `config.get`, masked in logs).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    const EXACT: &[&str] = &["token", "password", "apikey", "secret", "privatekey", "authorization", "cookie"];
    const SUFFIXES: &[&str] = &["token", "password", "secret", "apikey", "privatekey"];
    // Keys that end like a secret but hold none.
    const NOT_SECRET: &[&str] = &["maxtokens", "contexttokens", "outputtokens", "inputtokens", "totaltokens", "maxoutputtokens"];
    if NOT_SECRET.contains(&k.as_str()) {
        return false;
    }
    EXACT.contains(&k.as_str()) || SUFFIXES.iter().any(|s| k.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let short = Secret::new("hunter2");
        assert_eq!(format!("{short:?}"), "Secret(***)");
        let long = Secret::new("0123456789abcdefghijKLMN");
        let shown = format!("{long:?}");
        assert_eq!(shown, "Secret(012345…KLMN)");
        assert!(!shown.contains("6789abcdefghij"));
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: Secret,
        }
        assert!(!format!("{:?}", Holder { token: Secret::new("hunter2") }).contains("hunter2"));
    }

    #[test]
    fn matches_compares_whole_values() {
        let s = Secret::new("reftoken123");
        assert!(s.matches("reftoken123"));
        assert!(!s.matches("reftoken12"));
        assert!(!s.matches("reftoken1234"));
        assert!(!s.matches(""));
    }

    #[test]
    fn recognises_secret_keys() {
        for k in ["token", "botToken", "apiKey", "password", "appSecret", "webhookSecret", "verifyToken"] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["mode", "port", "maxTokens", "contextTokens", "mainKey", "tokenFile"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
