//! What a run decides around its model calls, kept apart from the run's loop so each rule is
//! tested on its own: which models to try and in what order, how much history fits the model's
//! context, when a failed call is retried, and how long a tool result may be.

use std::time::Duration;

use super::super::RunRequest;
use super::super::message::{self, Message};
use super::super::providers::{self, ProviderError};
use super::super::store::SessionEntry;
use crate::config::Config;
use crate::limits::{MODEL_MAX_ATTEMPTS, MODEL_RETRY_AFTER_MAX, MODEL_RETRY_BASE};

/// The models to try, in order: the run's own choice, else the session's, else the agent's
/// primary; then the agent's fallbacks. Nothing configured means the offline responder.
pub(super) fn model_chain(cfg: &Config, req: &RunRequest, entry: &SessionEntry) -> Vec<String> {
    let choice = cfg.agents.model_for(&req.key.agent_id);
    let primary = req.model.clone().or(entry.model_override.clone()).or(choice.primary.clone());
    let Some(primary) = primary else {
        return vec![format!("{}/{}", providers::OFFLINE_PROVIDER, providers::OFFLINE_MODEL)];
    };
    let mut chain = vec![primary];
    for f in &choice.fallbacks {
        if !chain.contains(f) {
            chain.push(f.clone());
        }
    }
    chain
}

/// Keeps the newest messages that fit the model's context (about three characters per token,
/// after the system prompt), starting at a user turn, with tool calls and results paired.
pub(super) fn fit_history(messages: Vec<Message>, context_window: u32, system_chars: usize) -> Vec<Message> {
    let budget = (context_window as usize).saturating_mul(3).saturating_sub(system_chars).max(4000);
    // Everything from the newest user turn on is kept whatever its size (the request and the
    // work done for it so far); older turns fill what room is left.
    let last_user = messages.iter().rposition(|m| matches!(m, Message::User { .. })).unwrap_or(messages.len().saturating_sub(1));
    let mut used = 0;
    let mut start = messages.len();
    while start > 0 {
        let c = messages[start - 1].chars();
        if used + c > budget && start <= last_user {
            break;
        }
        used += c;
        start -= 1;
    }
    let mut window: Vec<Message> = messages.into_iter().skip(start).collect();
    let first_user = window.iter().position(|m| matches!(m, Message::User { .. })).unwrap_or(0);
    window.drain(..first_user);
    message::repair(window)
}

/// How long to wait before retrying after `e`, or `None` when a retry would not help (or the
/// provider asks for a longer pause than we are willing to hold a run for).
pub(super) fn retry_delay(e: &ProviderError, attempt: u32) -> Option<Duration> {
    if !e.retryable() || attempt >= MODEL_MAX_ATTEMPTS {
        return None;
    }
    match e.retry_after {
        Some(d) if d > MODEL_RETRY_AFTER_MAX => None,
        Some(d) => Some(d),
        None => {
            let mut jitter = [0u8; 1];
            crate::ids::random_bytes(&mut jitter);
            Some(MODEL_RETRY_BASE * 2u32.pow(attempt - 1) + Duration::from_millis(jitter[0] as u64))
        }
    }
}

pub(super) fn cap_chars(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let kept = crate::encoding::prefix_within(text, max);
    format!("{kept}\n[… {} more bytes cut]", text.len() - kept.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::message::ToolCall;
    use crate::agent::providers::ErrorKind;

    #[test]
    fn history_fits_the_context_and_starts_at_a_user_turn() {
        let mut msgs = Vec::new();
        for i in 0..50 {
            msgs.push(Message::user(format!("question {i} {}", "x".repeat(1000))));
            msgs.push(Message::Assistant { text: "y".repeat(1000), tool_calls: Vec::new() });
        }
        msgs.push(Message::user("last"));
        let window = fit_history(msgs, 4000, 2000);
        assert!(matches!(window.first(), Some(Message::User { .. })));
        assert_eq!(window.last(), Some(&Message::user("last")));
        let chars: usize = window.iter().map(Message::chars).sum();
        assert!(chars <= 10_000, "{chars}");
        // The newest message is kept even when it alone is over budget.
        let huge = vec![Message::user("z".repeat(100_000))];
        assert_eq!(fit_history(huge, 1000, 0).len(), 1);
        // A tool round larger than the context keeps its user turn and the calls' results paired.
        let calls: Vec<ToolCall> =
            (0..8).map(|i| ToolCall { id: format!("c{i}"), name: "read".into(), arguments: serde_json::json!({"path": "f"}) }).collect();
        let mut round =
            vec![Message::user("earlier"), Message::user("do the task"), Message::Assistant { text: String::new(), tool_calls: calls }];
        for i in 0..8 {
            round.push(Message::ToolResult { call_id: format!("c{i}"), name: "read".into(), text: "r".repeat(64 * 1024), is_error: false });
        }
        let window = fit_history(round, 128_000, 10_000);
        assert_eq!(window.len(), 10, "{window:?}");
        assert_eq!(window[0], Message::user("do the task"));
    }

    #[test]
    fn retries_back_off_and_respect_retry_after() {
        let mut e = ProviderError::new(ErrorKind::Overloaded, "x");
        assert!(retry_delay(&e, 1).unwrap() >= MODEL_RETRY_BASE);
        assert!(retry_delay(&e, 2).unwrap() >= MODEL_RETRY_BASE * 2);
        assert_eq!(retry_delay(&e, MODEL_MAX_ATTEMPTS), None);
        e.retry_after = Some(Duration::from_millis(10));
        assert_eq!(retry_delay(&e, 1), Some(Duration::from_millis(10)));
        e.retry_after = Some(MODEL_RETRY_AFTER_MAX + Duration::from_secs(1));
        assert_eq!(retry_delay(&e, 1), None, "a long Retry-After fails fast instead of holding the run");
        assert_eq!(retry_delay(&ProviderError::new(ErrorKind::Auth, "x"), 1), None);
    }

    #[test]
    fn long_tool_output_is_cut_on_a_char_boundary() {
        let s = "é".repeat(10);
        let cut = cap_chars(&s, 5);
        assert!(cut.starts_with("éé\n[… 16 more bytes cut]"), "{cut}");
    }
}
