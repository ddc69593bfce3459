//! What a config change means for a running gateway: a pure `diff(old, new)` listing the changed
//! key paths, each classified as hot (applied in place), restart (needs an in-process restart) or
//! none (no effect on this gateway). The official reload table (observed §9) is the model: the
//! most specific matching prefix wins, and `gateway.*` needs a restart unless listed as hot.

use serde_json::Value;

/// How a changed path is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReloadKind {
    /// No effect on this gateway (metadata, client-side settings, sections it does not use).
    None,
    /// Applied to the running gateway without a restart.
    Hot,
    /// Needs an in-process restart (listeners, auth).
    Restart,
}

/// One changed key path and how it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ReloadKind,
}

/// The changes between two configs, grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn paths(&self, kind: ReloadKind) -> Vec<&str> {
        self.changes.iter().filter(|c| c.kind == kind).map(|c| c.path.as_str()).collect()
    }

    pub fn needs_restart(&self) -> bool {
        self.changes.iter().any(|c| c.kind == ReloadKind::Restart)
    }

    pub fn has_effect(&self) -> bool {
        self.changes.iter().any(|c| c.kind != ReloadKind::None)
    }

    /// `a.b, c.d` for log lines.
    pub fn describe(&self) -> String {
        self.changes.iter().map(|c| c.path.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// Prefix rules; the longest matching prefix decides. Paths not matched by any rule: sections
/// this gateway uses restart, sections it does not use have no effect.
const RULES: &[(&str, ReloadKind)] = &[
    // The catch-all for the server itself, and the exceptions to it.
    ("gateway", ReloadKind::Restart),
    ("gateway.reload", ReloadKind::None),
    ("gateway.remote", ReloadKind::None),
    ("gateway.http", ReloadKind::Hot),
    ("gateway.controlUi", ReloadKind::Hot),
    ("gateway.auth.rateLimit", ReloadKind::Hot),
    ("gateway.trustedProxies", ReloadKind::Hot),
    ("gateway.allowRealIpFallback", ReloadKind::Hot),
    ("gateway.tools", ReloadKind::Hot),
    ("gateway.nodes", ReloadKind::Hot),
    ("gateway.terminal", ReloadKind::Hot),
    ("gateway.cliAgents", ReloadKind::Hot),
    ("gateway.publicOrigin", ReloadKind::Hot),
    ("discovery", ReloadKind::Restart),
    // Applied in place.
    ("logging", ReloadKind::Hot),
    ("hooks", ReloadKind::Hot),
    ("channels", ReloadKind::Hot),
    ("agents", ReloadKind::Hot),
    ("models", ReloadKind::Hot),
    ("session", ReloadKind::Hot),
    ("messages", ReloadKind::Hot),
    ("tools", ReloadKind::Hot),
    ("commands", ReloadKind::Hot),
    ("env", ReloadKind::Hot),
    // Secret providers change what SecretRefs resolve to: re-resolve in place.
    ("secrets", ReloadKind::Hot),
    // Metadata and client-side settings.
    ("meta", ReloadKind::None),
    ("wizard", ReloadKind::None),
    ("ui", ReloadKind::None),
    ("tui", ReloadKind::None),
    ("identity", ReloadKind::None),
    ("$schema", ReloadKind::None),
];

/// The kind of one changed path. `used` says whether its top-level section is one this gateway
/// reads (an unmatched path in a used section is treated as needing a restart, like the official
/// gateway; in an unused section it changes nothing here).
pub fn classify(path: &str, used: &dyn Fn(&str) -> bool) -> ReloadKind {
    let mut best: Option<(usize, ReloadKind)> = None;
    for (prefix, kind) in RULES {
        let matches = path == *prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'.'));
        if matches && best.is_none_or(|(len, _)| prefix.len() > len) {
            best = Some((prefix.len(), *kind));
        }
    }
    match best {
        Some((_, kind)) => kind,
        None => {
            let top = path.split('.').next().unwrap_or(path);
            if used(top) { ReloadKind::Restart } else { ReloadKind::None }
        }
    }
}

/// The changed paths between `old` and `new`, classified. Objects are compared key by key; any
/// other value (including arrays) counts as one leaf.
pub fn diff(old: &Value, new: &Value, used: &dyn Fn(&str) -> bool) -> Plan {
    let mut paths = Vec::new();
    walk("", old, new, &mut paths);
    paths.sort();
    Plan { changes: paths.into_iter().map(|p| Change { kind: classify(&p, used), path: p }).collect() }
}

fn walk(prefix: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = join(prefix, k);
                match b.get(k) {
                    Some(vb) => walk(&p, va, vb, out),
                    None => out.push(p),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(join(prefix, k));
            }
        }
        (a, b) if a == b => {}
        _ => out.push(if prefix.is_empty() { "(root)".to_string() } else { prefix.to_string() }),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn used(top: &str) -> bool {
        matches!(top, "gateway" | "logging" | "secrets" | "agents" | "models" | "channels" | "hooks")
    }

    #[test]
    fn the_official_table_decides_hot_and_restart() {
        assert_eq!(classify("gateway.port", &used), ReloadKind::Restart);
        assert_eq!(classify("gateway.bind", &used), ReloadKind::Restart);
        assert_eq!(classify("gateway.auth.token", &used), ReloadKind::Restart);
        assert_eq!(classify("gateway.auth.rateLimit.maxAttempts", &used), ReloadKind::Hot);
        assert_eq!(classify("gateway.http.endpoints.chatCompletions.enabled", &used), ReloadKind::Hot);
        assert_eq!(classify("gateway.reload.mode", &used), ReloadKind::None);
        assert_eq!(classify("gateway.remote.url", &used), ReloadKind::None);
        assert_eq!(classify("logging.level", &used), ReloadKind::Hot);
        assert_eq!(classify("channels.telegram.botToken", &used), ReloadKind::Hot);
        assert_eq!(classify("agents.defaults.model", &used), ReloadKind::Hot);
        assert_eq!(classify("models.providers.x.baseUrl", &used), ReloadKind::Hot);
        assert_eq!(classify("meta.lastTouchedVersion", &used), ReloadKind::None);
        assert_eq!(classify("discovery.mdns.mode", &used), ReloadKind::Restart);
        // A prefix only matches whole segments.
        assert_eq!(classify("gatewayx", &used), ReloadKind::None);
        assert_eq!(classify("gateway.httpx", &used), ReloadKind::Restart);
        // Sections this gateway does not read change nothing here.
        assert_eq!(classify("plugins.entries.x", &used), ReloadKind::None);
    }

    #[test]
    fn diff_lists_changed_added_and_removed_leaves() {
        let old = json!({"gateway": {"port": 1, "auth": {"token": "a"}, "http": {"endpoints": {}}}, "logging": {"level": "info"}, "meta": {"v": 1}});
        let new = json!({"gateway": {"port": 2, "auth": {"token": "a"}, "http": {"endpoints": {"responses": {"enabled": true}}}}, "meta": {"v": 2}, "hooks": {"enabled": true}});
        let plan = diff(&old, &new, &used);
        let got: Vec<(&str, ReloadKind)> = plan.changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(
            got,
            vec![
                ("gateway.http.endpoints.responses", ReloadKind::Hot),
                ("gateway.port", ReloadKind::Restart),
                ("hooks", ReloadKind::Hot),
                ("logging", ReloadKind::Hot),
                ("meta.v", ReloadKind::None),
            ]
        );
        assert!(plan.needs_restart());
        assert_eq!(plan.paths(ReloadKind::Hot), vec!["gateway.http.endpoints.responses", "hooks", "logging"]);
    }

    #[test]
    fn identical_configs_have_no_changes_and_arrays_are_leaves() {
        let a = json!({"gateway": {"controlUi": {"allowedOrigins": ["a", "b"]}}});
        assert!(diff(&a, &a, &used).is_empty());
        let b = json!({"gateway": {"controlUi": {"allowedOrigins": ["a"]}}});
        let plan = diff(&a, &b, &used);
        assert_eq!(plan.describe(), "gateway.controlUi.allowedOrigins");
        assert!(!plan.needs_restart() && plan.has_effect());
        let only_meta = diff(&json!({"meta": 1}), &json!({"meta": 2}), &used);
        assert!(!only_meta.has_effect());
    }
}
