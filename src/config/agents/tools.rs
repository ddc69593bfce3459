//! `tools` (what the agent may do) and `gateway.tools` (what `/tools/invoke` may call).

use std::time::Duration;

use crate::config::check::{Checker, Section};
use crate::limits;

/// `tools.exec.security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecSecurity {
    /// No `exec` tool at all (our default: there is no one to approve commands on a headless board).
    Deny,
    /// Only binaries named in `tools.exec.safeBins`, run without a shell.
    Allowlist,
    /// Any command, through `sh -c`.
    Full,
}

/// `tools.*`.
#[derive(Debug, Clone)]
pub struct Tools {
    pub exec_security: ExecSecurity,
    pub exec_safe_bins: Vec<String>,
    pub exec_timeout: Duration,
    /// When non-empty, only these tools are offered to the model.
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            exec_security: ExecSecurity::Deny,
            exec_safe_bins: Vec::new(),
            exec_timeout: limits::EXEC_DEFAULT_TIMEOUT,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

/// `tools`.
pub(in crate::config) fn tools(c: &mut Checker, root: &Section) -> Tools {
    let t = c.partial_section(root, "tools", &["exec", "allow", "deny"]);
    let e = c.partial_section(&t, "exec", &["security", "safeBins", "timeoutSec"]);
    let base = Tools::default();
    let tools = Tools {
        exec_security: c
            .one_of(&e, "security", &[("deny", ExecSecurity::Deny), ("allowlist", ExecSecurity::Allowlist), ("full", ExecSecurity::Full)])
            .unwrap_or(base.exec_security),
        exec_safe_bins: c.strings(&e, "safeBins"),
        exec_timeout: c.int(&e, "timeoutSec", 1, 86_400).map(Duration::from_secs).unwrap_or(base.exec_timeout),
        allow: c.strings(&t, "allow"),
        deny: c.strings(&t, "deny"),
    };
    for (i, bin) in tools.exec_safe_bins.iter().enumerate() {
        if bin.is_empty() || bin.contains(char::is_whitespace) {
            c.issue(&format!("{}[{i}]", e.child_path("safeBins")), format!("expected a program name or path, got {bin:?}"));
        }
    }
    if tools.exec_security == ExecSecurity::Allowlist && tools.exec_safe_bins.is_empty() {
        c.warn("tools.exec.security is \"allowlist\" but tools.exec.safeBins is empty, so the exec tool can run nothing");
    }
    tools
}

/// `gateway.tools.{allow, deny}`: changes to the `/tools/invoke` deny list.
#[derive(Debug, Clone, Default)]
pub struct HttpTools {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

pub(in crate::config) fn http_tools(c: &mut Checker, gateway: &Section) -> HttpTools {
    let t = c.partial_section(gateway, "tools", &["allow", "deny"]);
    HttpTools { allow: c.strings(&t, "allow"), deny: c.strings(&t, "deny") }
}
