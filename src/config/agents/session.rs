//! `session`: how sessions are scoped and how each agent's session store is kept bounded.

use std::time::Duration;

use crate::config::check::{Checker, Section};

/// `session.*` that this gateway acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Session {
    pub maintenance: Maintenance,
    /// `session.dmScope`: which session a direct message on a chat channel lands in.
    pub dm_scope: crate::config::channels::DmScope,
}

/// `session.maintenance`: how each agent's session store is kept bounded. Sessions not updated
/// within `prune_after`, and the oldest beyond `max_entries`, are removed with their
/// transcripts when a new session is created (never a session with a run in progress). In
/// `warn` mode nothing is removed and the excess is logged instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Maintenance {
    pub enforce: bool,
    pub prune_after: Duration,
    pub max_entries: usize,
}

impl Default for Maintenance {
    /// The official defaults: enforce, 30 days, 500 entries.
    fn default() -> Maintenance {
        Maintenance { enforce: true, prune_after: Duration::from_secs(30 * 86_400), max_entries: 500 }
    }
}

/// `session`.
pub(in crate::config) fn session(c: &mut Checker, root: &Section) -> Session {
    let s = c.partial_section(root, "session", &["maintenance", "dmScope"]);
    let m = c.partial_section(&s, "maintenance", &["mode", "pruneAfter", "maxEntries"]);
    let base = Maintenance::default();
    Session {
        dm_scope: crate::config::channels::dm_scope(c, &s),
        maintenance: Maintenance {
            enforce: c.one_of(&m, "mode", &[("enforce", true), ("warn", false)]).unwrap_or(base.enforce),
            prune_after: match c.duration(&m, "pruneAfter") {
                Some(d) if d < Duration::from_secs(60) => {
                    c.issue(
                        &m.child_path("pruneAfter"),
                        format!("must be at least 1m (a shorter time would remove sessions between messages), got {} ms", d.as_millis()),
                    );
                    base.prune_after
                }
                Some(d) => d,
                None => base.prune_after,
            },
            max_entries: c.int(&m, "maxEntries", 1, 1_000_000).map(|n| n as usize).unwrap_or(base.max_entries),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_maintenance_has_the_official_defaults_and_checks_its_keys() {
        let v = json!({"session": {"dmScope": "main", "maintenance": {"mode": "warn", "pruneAfter": "7d", "maxEntries": 50}}});
        let mut c = Checker::default();
        let s = session(&mut c, &Section::root(&v));
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        assert_eq!(s.maintenance, Maintenance { enforce: false, prune_after: Duration::from_secs(7 * 86_400), max_entries: 50 });

        for bad in ["soon", "0d"] {
            let v = json!({"session": {"maintenance": {"pruneAfter": bad, "maxEntries": 0}}});
            let mut c = Checker::default();
            let s = session(&mut c, &Section::root(&v));
            assert_eq!(s.maintenance, Maintenance::default());
            let paths: Vec<&str> = c.issues.iter().map(|i| i.path.as_str()).collect();
            assert_eq!(paths, vec!["session.maintenance.pruneAfter", "session.maintenance.maxEntries"], "{bad}");
        }
    }
}
