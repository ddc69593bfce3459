//! The system prompt: who the agent is, its tools, its workspace with the project files the
//! operator wrote there (`AGENTS.md`, `SOUL.md`, `IDENTITY.md`, `USER.md`, `MEMORY.md`), the time,
//! and where it runs. Workspace files are capped per file and in total; a cut file says so, so
//! the model does not take half a file for the whole.

use std::io::Read;
use std::path::Path;

use super::providers::ToolSpec;

/// Workspace files injected into the prompt, in this order, when present.
pub const WORKSPACE_FILES: &[&str] = &["AGENTS.md", "SOUL.md", "IDENTITY.md", "USER.md", "MEMORY.md"];

/// Inputs of one prompt.
pub struct PromptInputs<'a> {
    pub agent_id: &'a str,
    pub agent_name: Option<&'a str>,
    pub workspace: &'a Path,
    pub model: &'a str,
    pub tools: &'a [ToolSpec],
    pub per_file_max: usize,
    pub total_max: usize,
    pub timezone: Option<&'a str>,
    /// Where the message came from (`webchat`, `telegram`, `openai`, …).
    pub channel: &'a str,
    /// Extra instructions from the caller (`agent {extraSystemPrompt}`, an OpenAI system message).
    pub extra: Option<&'a str>,
}

/// One workspace file as injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub name: &'static str,
    pub text: String,
    /// Characters of the whole file when it was cut.
    pub cut_from: Option<usize>,
}

/// Reads the workspace files within the caps. Unreadable files are skipped.
pub fn workspace_files(workspace: &Path, per_file_max: usize, total_max: usize) -> Vec<Injected> {
    let mut out = Vec::new();
    let mut budget = total_max;
    for name in WORKSPACE_FILES {
        if budget == 0 {
            break;
        }
        let Ok(f) = std::fs::File::open(workspace.join(name)) else { continue };
        let cap = per_file_max.min(budget);
        // Read a little past the cap (4 bytes per char at most) to know whether the file is longer.
        let mut bytes = Vec::new();
        if f.take((cap as u64 + 1) * 4).read_to_end(&mut bytes).is_err() {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        let total_chars = text.chars().count();
        if text.trim().is_empty() {
            continue;
        }
        let (kept, cut_from) = if total_chars > cap {
            let full = std::fs::metadata(workspace.join(name)).map(|m| m.len() as usize).unwrap_or(total_chars);
            (text.chars().take(cap).collect::<String>(), Some(full.max(total_chars)))
        } else {
            (text.into_owned(), None)
        };
        budget -= kept.chars().count();
        out.push(Injected { name, text: kept, cut_from });
    }
    out
}

/// The system prompt for one run.
pub fn build(p: &PromptInputs) -> String {
    let mut s = String::with_capacity(4096);
    let who = p.agent_name.unwrap_or(p.agent_id);
    s.push_str(&format!("You are {who}, a personal assistant running inside OpenClaw.\n\n"));
    if !p.tools.is_empty() {
        s.push_str("## Tooling\nYou can call these tools:\n");
        for t in p.tools {
            s.push_str(&format!("- {}: {}\n", t.name, t.description));
        }
        s.push_str("Use a tool when it helps; do not invent file contents or command output.\n\n");
    }
    s.push_str(&format!("## Workspace\nYour working directory is {}. File tools only reach inside it.\n\n", p.workspace.display()));
    let files = workspace_files(p.workspace, p.per_file_max, p.total_max);
    if !files.is_empty() {
        s.push_str("## Project Context\nThe operator keeps these files in your workspace; follow them.\n\n");
        for f in &files {
            s.push_str(&format!("### {}\n{}\n", f.name, f.text.trim_end()));
            if let Some(full) = f.cut_from {
                s.push_str(&format!(
                    "[{} was cut to its first {} characters of about {full}; read the file with the read tool for the rest]\n",
                    f.name,
                    f.text.chars().count()
                ));
            }
            s.push('\n');
        }
    }
    let now = crate::clock::now_ms();
    s.push_str(&format!("## Current Date & Time\n{}", crate::clock::local(now).rfc3339(false)));
    if let Some(tz) = p.timezone {
        s.push_str(&format!(" (user time zone: {tz})"));
    }
    s.push_str("\n\n");
    let (os, _, arch) = crate::sys::uname();
    s.push_str(&format!(
        "## Runtime\nagent={} | host={} | os={} ({arch}) | model={} | channel={} | gateway=openclaw {}\n",
        p.agent_id,
        crate::sys::hostname(),
        os.to_lowercase(),
        p.model,
        p.channel,
        crate::VERSION
    ));
    if let Some(extra) = p.extra.filter(|e| !e.trim().is_empty()) {
        s.push_str("\n## Additional Instructions\n");
        s.push_str(extra.trim());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_injected_in_order_with_caps_and_a_notice() {
        let ws = std::env::temp_dir().join(format!("oc-prompt-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("SOUL.md"), "Be kind.").unwrap();
        std::fs::write(ws.join("AGENTS.md"), "a".repeat(500)).unwrap();
        std::fs::write(ws.join("USER.md"), "  \n").unwrap();
        std::fs::write(ws.join("MEMORY.md"), "m".repeat(50)).unwrap();
        let files = workspace_files(&ws, 100, 130);
        let names: Vec<&str> = files.iter().map(|f| f.name).collect();
        assert_eq!(names, vec!["AGENTS.md", "SOUL.md", "MEMORY.md"], "empty files are skipped");
        assert_eq!(files[0].text.len(), 100);
        assert_eq!(files[0].cut_from, Some(500));
        assert_eq!(files[2].text.len(), 22, "the total cap leaves 130 - 100 - 8 characters");

        let tools = [ToolSpec { name: "read".into(), description: "Read a file".into(), parameters: serde_json::json!({}) }];
        let prompt = build(&PromptInputs {
            agent_id: "main",
            agent_name: None,
            workspace: &ws,
            model: "mock/echo",
            tools: &tools,
            per_file_max: 100,
            total_max: 130,
            timezone: Some("Europe/Berlin"),
            channel: "webchat",
            extra: Some("Answer in French."),
        });
        assert!(prompt.contains("### SOUL.md\nBe kind."));
        assert!(prompt.contains("[AGENTS.md was cut to its first 100 characters of about 500"));
        assert!(prompt.contains("- read: Read a file"));
        assert!(prompt.contains("model=mock/echo | channel=webchat"));
        assert!(prompt.contains("user time zone: Europe/Berlin"));
        assert!(prompt.ends_with("## Additional Instructions\nAnswer in French.\n"));
    }
}
