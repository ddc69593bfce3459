//! Session keys as OpenClaw forms them: `agent:<agentId>:<rest>`, where `<rest>` says where the
//! conversation lives (`main`, `<channel>:direct:<peer>`, `<channel>:group:<id>`,
//! `explicit:<runId>`, `openai-user:<user>`, …). Clients may send a short form (`main`, or any key
//! without the `agent:` prefix); it is canonicalised against the agent it belongs to.

use crate::config::agents::valid_agent_id;
use crate::limits::SESSION_KEY_MAX_CHARS;

/// The main session's suffix (`session.mainKey` in the official config).
pub const MAIN_KEY: &str = "main";

/// A session key split into its agent and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    pub agent_id: String,
    pub rest: String,
}

impl SessionKey {
    pub fn new(agent_id: &str, rest: &str) -> SessionKey {
        SessionKey { agent_id: agent_id.to_string(), rest: rest.to_string() }
    }

    pub fn main(agent_id: &str) -> SessionKey {
        SessionKey::new(agent_id, MAIN_KEY)
    }

    /// Canonicalises what a client sent. `default_agent` applies when the key does not name its
    /// agent; `agent_hint` (an explicit `agentId` param) must agree with a key that does.
    pub fn parse(raw: &str, default_agent: &str, agent_hint: Option<&str>) -> Result<SessionKey, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("sessionKey must not be empty".into());
        }
        if raw.chars().count() > SESSION_KEY_MAX_CHARS {
            return Err(format!("sessionKey is longer than {SESSION_KEY_MAX_CHARS} characters"));
        }
        if raw.chars().any(char::is_control) {
            return Err("sessionKey must not contain control characters".into());
        }
        if let Some(tail) = raw.strip_prefix("agent:") {
            let (agent, rest) =
                tail.split_once(':').ok_or_else(|| format!("invalid session key {raw:?}: expected agent:<agentId>:<key>"))?;
            if !valid_agent_id(agent) || rest.is_empty() {
                return Err(format!("invalid session key {raw:?}: expected agent:<agentId>:<key>"));
            }
            if let Some(hint) = agent_hint {
                if hint != agent {
                    return Err(format!("session key {raw:?} belongs to agent {agent:?}, not {hint:?}"));
                }
            }
            return Ok(SessionKey::new(agent, rest));
        }
        let agent = agent_hint.unwrap_or(default_agent);
        Ok(SessionKey::new(agent, raw))
    }

    /// Sessions of a direct conversation on a channel.
    pub fn direct(agent_id: &str, channel: &str, peer: &str) -> SessionKey {
        SessionKey::new(agent_id, &format!("{channel}:direct:{peer}"))
    }

    /// Sessions of a group, room or channel on a chat service.
    pub fn group(agent_id: &str, channel: &str, group: &str) -> SessionKey {
        SessionKey::new(agent_id, &format!("{channel}:group:{group}"))
    }

    /// The one-off session of an `agent` call without a session key.
    pub fn explicit(agent_id: &str, run_id: &str) -> SessionKey {
        SessionKey::new(agent_id, &format!("explicit:{run_id}"))
    }

    /// The stable session of an OpenAI-compatible caller that sent `user`.
    pub fn openai_user(agent_id: &str, user: &str) -> SessionKey {
        SessionKey::new(agent_id, &format!("openai-user:{user}"))
    }

    pub fn is_main(&self) -> bool {
        self.rest == MAIN_KEY
    }

    /// `direct`, `group` or `unknown`, from the key's shape (the `SessionRow.kind` values).
    pub fn kind(&self) -> &'static str {
        if self.rest.contains(":group:") || self.rest.contains(":channel:") {
            "group"
        } else if self.is_main() || self.rest.contains(":direct:") || self.rest.starts_with("openai-user:") {
            "direct"
        } else {
            "unknown"
        }
    }

    /// The chat service a channel session belongs to (`telegram` in `telegram:direct:42`).
    pub fn channel(&self) -> Option<&str> {
        let (first, tail) = self.rest.split_once(':')?;
        (tail.starts_with("direct:") || tail.starts_with("group:") || tail.starts_with("channel:")).then_some(first)
    }
}

impl std::fmt::Display for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "agent:{}:{}", self.agent_id, self.rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_canonicalised_against_the_agent() {
        assert_eq!(SessionKey::parse("main", "main", None).unwrap().to_string(), "agent:main:main");
        assert_eq!(SessionKey::parse("main", "main", Some("work")).unwrap().to_string(), "agent:work:main");
        assert_eq!(SessionKey::parse("agent:work:main", "main", None).unwrap().agent_id, "work");
        assert_eq!(SessionKey::parse("project-x", "main", None).unwrap().to_string(), "agent:main:project-x");
    }

    #[test]
    fn malformed_or_conflicting_keys_are_refused() {
        assert!(SessionKey::parse("", "main", None).is_err());
        assert!(SessionKey::parse("agent:main", "main", None).is_err());
        assert!(SessionKey::parse("agent:Bad Agent:x", "main", None).is_err());
        assert!(SessionKey::parse("agent:work:main", "main", Some("main")).is_err());
        assert!(SessionKey::parse(&"k".repeat(513), "main", None).is_err());
        assert!(SessionKey::parse("a\nb", "main", None).is_err());
    }

    #[test]
    fn official_shapes() {
        assert_eq!(SessionKey::direct("main", "telegram", "42").to_string(), "agent:main:telegram:direct:42");
        assert_eq!(SessionKey::group("main", "discord", "99").to_string(), "agent:main:discord:group:99");
        assert_eq!(SessionKey::explicit("main", "r1").to_string(), "agent:main:explicit:r1");
        assert_eq!(SessionKey::openai_user("main", "bob").to_string(), "agent:main:openai-user:bob");
        assert_eq!(SessionKey::group("main", "discord", "99").kind(), "group");
        assert_eq!(SessionKey::direct("main", "telegram", "42").channel(), Some("telegram"));
        assert_eq!(SessionKey::main("main").kind(), "direct");
        assert_eq!(SessionKey::explicit("main", "r").channel(), None);
    }
}
