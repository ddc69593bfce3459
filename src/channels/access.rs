//! Who may talk to the agent through a channel: `dmPolicy` for direct messages, `groupPolicy`,
//! `groups` and mention gating for groups. Pure decisions, so every rule is unit-tested.

use super::journal::Inbound;
use crate::config::channels::{Access, DmPolicy, GroupPolicy};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// An unknown sender under the pairing policy: offer a code.
    Pair,
    /// Dropped without an answer; the reason goes to the debug log.
    Ignore(&'static str),
}

/// Decides for `msg`; `paired` are the senders approved through pairing.
pub fn decide(access: &Access, msg: &Inbound, paired: &[String]) -> Decision {
    let sender = crate::config::channels::normalize_sender(&msg.sender);
    let listed = |list: &[String]| list.iter().any(|a| a == "*" || *a == sender);
    // Paired ids are stored as the service wrote them (Slack's are upper case); the config's
    // lists are normalised when read.
    let paired: Vec<String> = paired.iter().map(|p| crate::config::channels::normalize_sender(p)).collect();
    let paired = paired.as_slice();
    if !msg.group {
        return match access.dm_policy {
            DmPolicy::Disabled => Decision::Ignore("direct messages are disabled (dmPolicy)"),
            DmPolicy::Open => Decision::Allow,
            DmPolicy::Allowlist if listed(&access.allow_from) || listed(paired) => Decision::Allow,
            DmPolicy::Allowlist => Decision::Ignore("sender not in allowFrom"),
            DmPolicy::Pairing if listed(&access.allow_from) || listed(paired) => Decision::Allow,
            DmPolicy::Pairing => Decision::Pair,
        };
    }
    let rule = access.groups.iter().find(|g| g.id == msg.chat).or_else(|| access.groups.iter().find(|g| g.id == "*"));
    if rule.is_some_and(|r| !r.enabled) {
        return Decision::Ignore("group disabled in groups");
    }
    let admitted = match access.group_policy {
        GroupPolicy::Disabled => return Decision::Ignore("group messages are disabled (groupPolicy)"),
        GroupPolicy::Open => true,
        GroupPolicy::Allowlist => rule.is_some() || (!access.group_allow_from.is_empty() && listed(&access.group_allow_from)),
    };
    if !admitted {
        return Decision::Ignore("group not allowed (groupPolicy allowlist: add it under groups or the sender to groupAllowFrom)");
    }
    let require_mention = rule.and_then(|r| r.require_mention).unwrap_or(access.require_mention);
    if require_mention && !msg.mentioned {
        return Decision::Ignore("group message without a mention");
    }
    Decision::Allow
}

/// The drop decisions that need no pairing store: group messages the policy does not answer
/// (group not allowed, no mention) and direct messages when they are disabled. Receivers apply
/// this before journaling, so a busy group in which nobody addresses the bot costs no disk write.
pub fn drop_early(access: &Access, msg: &Inbound) -> Option<&'static str> {
    if !msg.group && access.dm_policy != DmPolicy::Disabled {
        return None;
    }
    match decide(access, msg, &[]) {
        Decision::Ignore(why) => Some(why),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::channels::GroupRule;

    fn access(dm: DmPolicy, allow: &[&str]) -> Access {
        Access {
            dm_policy: dm,
            allow_from: allow.iter().map(|s| s.to_string()).collect(),
            group_policy: GroupPolicy::Allowlist,
            group_allow_from: Vec::new(),
            groups: Vec::new(),
            require_mention: true,
        }
    }

    fn dm(sender: &str) -> Inbound {
        Inbound {
            id: "1".into(),
            chat: sender.into(),
            sender: sender.into(),
            sender_label: String::new(),
            group: false,
            mentioned: false,
            text: "hi".into(),
            reply_to: None,
            cursor: None,
            received_at: 0,
        }
    }

    fn group(chat: &str, sender: &str, mentioned: bool) -> Inbound {
        Inbound { chat: chat.into(), group: true, mentioned, ..dm(sender) }
    }

    #[test]
    fn direct_message_policies() {
        assert_eq!(decide(&access(DmPolicy::Pairing, &[]), &dm("7"), &[]), Decision::Pair);
        assert_eq!(decide(&access(DmPolicy::Pairing, &[]), &dm("7"), &["7".into()]), Decision::Allow);
        assert_eq!(decide(&access(DmPolicy::Pairing, &["7"]), &dm("7"), &[]), Decision::Allow);
        assert_eq!(decide(&access(DmPolicy::Allowlist, &["8"]), &dm("7"), &[]), Decision::Ignore("sender not in allowFrom"));
        assert_eq!(decide(&access(DmPolicy::Allowlist, &["tg:7"]), &dm("7"), &[]), Decision::Ignore("sender not in allowFrom"));
        assert_eq!(decide(&access(DmPolicy::Open, &["*"]), &dm("7"), &[]), Decision::Allow);
        assert!(matches!(decide(&access(DmPolicy::Disabled, &["*"]), &dm("7"), &[]), Decision::Ignore(_)));
    }

    #[test]
    fn groups_need_an_allowlist_entry_and_a_mention() {
        let mut a = access(DmPolicy::Pairing, &[]);
        assert!(matches!(decide(&a, &group("-5", "7", true), &[]), Decision::Ignore(_)), "allowlist is the default");
        a.groups.push(GroupRule { id: "-5".into(), enabled: true, require_mention: None });
        assert!(matches!(decide(&a, &group("-5", "7", false), &[]), Decision::Ignore(_)), "mention required by default");
        assert_eq!(decide(&a, &group("-5", "7", true), &[]), Decision::Allow);
        a.groups[0].require_mention = Some(false);
        assert_eq!(decide(&a, &group("-5", "7", false), &[]), Decision::Allow);
        a.group_policy = GroupPolicy::Open;
        a.require_mention = false;
        assert_eq!(decide(&a, &group("-6", "7", false), &[]), Decision::Allow);
        a.group_policy = GroupPolicy::Disabled;
        assert!(matches!(decide(&a, &group("-5", "7", true), &[]), Decision::Ignore(_)));
        // Pairing approvals never open groups.
        let mut b = access(DmPolicy::Pairing, &[]);
        b.group_allow_from = vec!["9".into()];
        assert_eq!(decide(&b, &group("-7", "9", true), &[]), Decision::Allow);
        assert!(matches!(decide(&b, &group("-7", "7", true), &["7".into()]), Decision::Ignore(_)));
    }

    #[test]
    fn early_drops_never_touch_what_pairing_decides() {
        let mut a = access(DmPolicy::Allowlist, &["8"]);
        a.groups.push(GroupRule { id: "-5".into(), enabled: true, require_mention: None });
        // A direct message from an unlisted sender may still be paired: not dropped early.
        assert_eq!(drop_early(&a, &dm("7")), None);
        assert_eq!(drop_early(&a, &group("-5", "7", true)), None);
        assert!(drop_early(&a, &group("-5", "7", false)).is_some(), "no mention");
        assert!(drop_early(&a, &group("-6", "7", true)).is_some(), "group not allowed");
        a.dm_policy = DmPolicy::Disabled;
        assert!(drop_early(&a, &dm("7")).is_some());
    }
}
