//! `hooks`: webhook ingress.

use crate::config::check::{Checker, Section};
use crate::config::model::{Resolver, SecretProvider, resolve_secret};
use crate::config::secret::Secret;

/// `hooks.*`.
#[derive(Debug, Clone)]
pub struct Hooks {
    pub enabled: bool,
    pub token: Option<Secret>,
    /// URL prefix, `/hooks` by default.
    pub path: String,
    pub default_session_key: Option<String>,
    pub allow_request_session_key: bool,
    pub allowed_session_key_prefixes: Vec<String>,
    /// `None`: every agent; otherwise only these (`"*"` in the list also means every agent).
    pub allowed_agent_ids: Option<Vec<String>>,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            enabled: false,
            token: None,
            path: "/hooks".to_string(),
            default_session_key: None,
            allow_request_session_key: false,
            allowed_session_key_prefixes: Vec::new(),
            allowed_agent_ids: None,
        }
    }
}

impl Hooks {
    pub fn agent_allowed(&self, id: &str) -> bool {
        self.allowed_agent_ids.as_ref().is_none_or(|ids| ids.iter().any(|a| a == "*" || a == id))
    }
}

/// `hooks`.
pub(in crate::config) fn hooks(c: &mut Checker, root: &Section, resolver: &Resolver, secrets: &[SecretProvider]) -> Hooks {
    let h = c.partial_section(
        root,
        "hooks",
        &[
            "enabled",
            "token",
            "path",
            "defaultSessionKey",
            "allowRequestSessionKey",
            "allowedSessionKeyPrefixes",
            "allowedAgentIds",
            "maxBodyBytes",
        ],
    );
    let base = Hooks::default();
    let token_in = c.secret(&h, "token");
    let hooks = Hooks {
        enabled: c.bool(&h, "enabled").unwrap_or(false),
        token: resolve_secret(c, &h.child_path("token"), token_in, resolver, secrets),
        path: c.text(&h, "path").unwrap_or(base.path),
        default_session_key: c.text(&h, "defaultSessionKey"),
        allow_request_session_key: c.bool(&h, "allowRequestSessionKey").unwrap_or(false),
        allowed_session_key_prefixes: c.strings(&h, "allowedSessionKeyPrefixes"),
        allowed_agent_ids: h.has("allowedAgentIds").then(|| c.strings(&h, "allowedAgentIds")),
    };
    if !hooks.path.starts_with('/') || hooks.path.trim_end_matches('/').is_empty() {
        c.issue(&h.child_path("path"), format!("must start with '/' and must not be \"/\", got {:?}", hooks.path));
    }
    if hooks.enabled && hooks.token.is_none() && !h.has("token") {
        c.issue(&h.child_path("token"), "hooks.enabled is true, so hooks.token is required");
    }
    hooks
}
