//! The built-in offline responder, used when no model is configured so that a fresh
//! `--dev gateway --allow-unconfigured` answers at once. It is not a model and says so in every
//! reply, together with how to configure a real one. Its replies are deterministic (tests and
//! first runs rely on that).

use std::collections::VecDeque;

use super::{ModelRequest, StreamEvent};
use crate::agent::message::{Message, StopReason, Usage};
use crate::limits::OFFLINE_ECHO_CHARS;

pub struct Stream {
    out: VecDeque<StreamEvent>,
}

/// The reply to the conversation's last user message.
pub fn reply(req: &ModelRequest<'_>) -> String {
    let last = req.messages.iter().rev().find_map(|m| match m {
        Message::User { text } => Some(text.as_str()),
        _ => None,
    });
    let mut echo: String = last.unwrap_or("").trim().chars().take(OFFLINE_ECHO_CHARS).collect();
    if last.is_some_and(|t| t.trim().chars().count() > OFFLINE_ECHO_CHARS) {
        echo.push('…');
    }
    format!(
        "[offline] No AI model is configured, so this reply comes from OpenClaw's built-in offline responder, which only echoes. \
         You said: \"{echo}\". To talk to a real model, set agents.defaults.model in openclaw.json (for example \
         \"anthropic/claude-sonnet-4-5\" with ANTHROPIC_API_KEY set, or \"ollama/llama3.2\" for a local Ollama) or add \
         models.providers.<id> with its baseUrl."
    )
}

pub fn open(req: &ModelRequest<'_>) -> Stream {
    let text = reply(req);
    let mut out = VecDeque::new();
    // Stream it word by word so clients see deltas exactly as with a real model.
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' && i > start {
            out.push_back(StreamEvent::Text(text.get(start..i).unwrap_or_default().to_string()));
            start = i;
        }
    }
    out.push_back(StreamEvent::Text(text.get(start..).unwrap_or_default().to_string()));
    let input = (req.system.len() + req.messages.iter().map(Message::chars).sum::<usize>()).div_ceil(4) as u64;
    out.push_back(StreamEvent::Usage(Usage { input, output: text.len().div_ceil(4) as u64, ..Default::default() }));
    out.push_back(StreamEvent::Stop(StopReason::Stop));
    Stream { out }
}

impl Stream {
    pub fn next_event(&mut self) -> Option<StreamEvent> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_labelled_deterministic_and_stream_in_pieces() {
        let msgs = [Message::user("hello there")];
        let req = ModelRequest { system: "", messages: &msgs, tools: &[] };
        let mut s = open(&req);
        let mut text = String::new();
        let mut pieces = 0;
        while let Some(e) = s.next_event() {
            if let StreamEvent::Text(t) = e {
                text.push_str(&t);
                pieces += 1;
            }
        }
        assert_eq!(text, reply(&req));
        assert!(pieces > 10);
        assert!(text.starts_with("[offline]") && text.contains("You said: \"hello there\"") && text.contains("agents.defaults.model"));
    }
}
