//! The agent's own tools: the current time; `read`, `write` and `ls` confined to the agent's
//! workspace; and `exec`, which exists only when `tools.exec.security` enables it.
//!
//! Confinement: a path is resolved against the workspace, `..` may not climb out, and the real
//! location (after following symlinks) of the path or of its nearest existing parent must be
//! inside the workspace. Writes go to a temporary file that is renamed into place, so a symlink
//! planted at the destination is replaced, never followed.

use serde_json::{Value, json};
use smol::future::FutureExt;
use smol::io::AsyncReadExt;
use std::io::{BufRead, Read};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::Abort;
use super::providers::ToolSpec;
use crate::config::agents::{ExecSecurity, Tools};
use crate::limits::{EXEC_MAX_OUTPUT_BYTES, LS_MAX_ENTRIES, READ_DEFAULT_LINES, READ_MAX_BYTES, WRITE_MAX_BYTES};

/// The built-in tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// The current date and time.
    Time,
    /// Read a text file in the workspace.
    Read,
    /// Create or replace a file in the workspace.
    Write,
    /// List a directory in the workspace.
    Ls,
    /// Run a command (only when the config enables it).
    Exec,
}

impl Tool {
    pub const ALL: [Tool; 5] = [Tool::Time, Tool::Read, Tool::Write, Tool::Ls, Tool::Exec];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Time => "time",
            Tool::Read => "read",
            Tool::Write => "write",
            Tool::Ls => "ls",
            Tool::Exec => "exec",
        }
    }

    pub fn find(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn spec(self) -> ToolSpec {
        let (description, parameters) = match self {
            Tool::Time => (
                "Get the current date and time (local time of the gateway host, and UTC).",
                json!({"type": "object", "properties": {}, "additionalProperties": false}),
            ),
            Tool::Read => (
                "Read a text file from the workspace. Paths are relative to the workspace. Long files are cut; use offset and limit (lines) to page.",
                json!({"type": "object", "properties": {
                    "path": {"type": "string", "description": "File path, relative to the workspace"},
                    "offset": {"type": "integer", "minimum": 1, "description": "First line to read (1-based)"},
                    "limit": {"type": "integer", "minimum": 1, "description": "Number of lines to read"}},
                    "required": ["path"], "additionalProperties": false}),
            ),
            Tool::Write => (
                "Create or overwrite a file in the workspace with the given content. Parent directories are created.",
                json!({"type": "object", "properties": {
                    "path": {"type": "string", "description": "File path, relative to the workspace"},
                    "content": {"type": "string", "description": "The complete new file content"}},
                    "required": ["path", "content"], "additionalProperties": false}),
            ),
            Tool::Ls => (
                "List the entries of a directory in the workspace (directories end with '/').",
                json!({"type": "object", "properties": {
                    "path": {"type": "string", "description": "Directory, relative to the workspace (default: the workspace itself)"}},
                    "additionalProperties": false}),
            ),
            Tool::Exec => (
                "Run a command in the workspace directory and return its output and exit code.",
                json!({"type": "object", "properties": {
                    "command": {"type": "string", "description": "The command line to run"},
                    "timeout": {"type": "integer", "minimum": 1, "description": "Seconds before the command is killed"}},
                    "required": ["command"], "additionalProperties": false}),
            ),
        };
        ToolSpec { name: self.name().to_string(), description: description.to_string(), parameters }
    }
}

/// The tools offered to the model under `cfg`: `exec` only when enabled, then `tools.allow`
/// (when set) and `tools.deny` applied.
pub fn offered(cfg: &Tools) -> Vec<Tool> {
    Tool::ALL
        .into_iter()
        .filter(|t| *t != Tool::Exec || cfg.exec_security != ExecSecurity::Deny)
        .filter(|t| cfg.allow.is_empty() || cfg.allow.iter().any(|a| a == t.name() || a == "*"))
        .filter(|t| !cfg.deny.iter().any(|d| d == t.name()))
        .collect()
}

/// What the tools may touch.
#[derive(Debug, Clone)]
pub struct ToolEnv {
    pub workspace: PathBuf,
    pub exec_security: ExecSecurity,
    pub safe_bins: Vec<String>,
    pub exec_timeout: Duration,
    pub timezone: Option<String>,
}

/// A tool's answer, as the model will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub text: String,
    pub is_error: bool,
}

impl ToolOutput {
    fn ok(text: impl Into<String>) -> ToolOutput {
        ToolOutput { text: text.into(), is_error: false }
    }

    fn err(text: impl Into<String>) -> ToolOutput {
        ToolOutput { text: text.into(), is_error: true }
    }
}

/// Runs `tool` with the model's `args`. Never fails: problems become an error output the model
/// can read and react to.
pub async fn run(tool: Tool, args: &Value, env: &ToolEnv, abort: &Abort) -> ToolOutput {
    if let Some(raw) = args.get("__invalid_arguments") {
        return ToolOutput::err(format!("the arguments were not a valid JSON object: {raw}"));
    }
    match tool {
        Tool::Time => ToolOutput::ok(time(env)),
        Tool::Read | Tool::Write | Tool::Ls => {
            let (tool, args, env) = (tool, args.clone(), env.clone());
            smol::unblock(move || match tool {
                Tool::Read => read(&env, &args),
                Tool::Write => write(&env, &args),
                _ => ls(&env, &args),
            })
            .await
            .unwrap_or_else(ToolOutput::err)
        }
        Tool::Exec => exec(env, args, abort).await.unwrap_or_else(ToolOutput::err),
    }
}

fn time(env: &ToolEnv) -> String {
    let now = crate::clock::now_ms();
    let local = crate::clock::local(now);
    let weekday =
        ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"][(local.day_number().rem_euclid(7)) as usize];
    let mut v = json!({"local": local.rfc3339(false), "utc": crate::clock::utc(now).rfc3339(true), "weekday": weekday, "unixMs": now});
    if let Some(tz) = &env.timezone {
        v["userTimezone"] = json!(tz);
    }
    v.to_string()
}

fn str_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, String> {
    args.get(key).and_then(Value::as_str).ok_or_else(|| format!("missing required string argument \"{key}\""))
}

/// Resolves `requested` inside `workspace`, refusing anything that lands outside it.
pub fn resolve_path(workspace: &Path, requested: &str) -> Result<PathBuf, String> {
    if requested.trim().is_empty() {
        return Err("the path is empty".into());
    }
    if requested.contains('\0') {
        return Err("the path contains a NUL byte".into());
    }
    let ws_real = workspace.canonicalize().map_err(|e| format!("workspace {} is not available: {e}", workspace.display()))?;
    let req = Path::new(requested);
    let joined = if req.is_absolute() {
        // An absolute path is accepted when it names something inside the workspace, under
        // either its configured or its real location.
        let rebased = req.strip_prefix(workspace).ok().map(|rest| ws_real.join(rest));
        rebased.unwrap_or_else(|| req.to_path_buf())
    } else {
        ws_real.join(req)
    };
    let mut norm = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::RootDir => norm.push("/"),
            Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                norm.pop();
            }
            Component::Normal(part) => norm.push(part),
        }
    }
    if !norm.starts_with(&ws_real) {
        return Err(format!("{requested} is outside the workspace; only paths inside {} are allowed", workspace.display()));
    }
    // Follow symlinks on the part that exists: it must stay inside.
    let mut probe = norm.clone();
    let mut missing = Vec::new();
    loop {
        match probe.canonicalize() {
            Ok(real) => {
                if !real.starts_with(&ws_real) {
                    return Err(format!("{requested} leads outside the workspace through a symbolic link"));
                }
                let mut out = real;
                for part in missing.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(_) => {
                let Some(name) = probe.file_name().map(|n| n.to_os_string()) else {
                    return Err(format!("{requested} cannot be resolved"));
                };
                missing.push(name);
                probe.pop();
            }
        }
    }
}

fn read(env: &ToolEnv, args: &Value) -> Result<ToolOutput, String> {
    let requested = str_arg(args, "path")?;
    let path = resolve_path(&env.workspace, requested)?;
    let offset = args.get("offset").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
    let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(READ_DEFAULT_LINES as u64).max(1) as usize;
    // Non-blocking open, so a FIFO or device cannot hold a worker thread; it is refused below.
    let file = std::os::unix::fs::OpenOptionsExt::custom_flags(std::fs::OpenOptions::new().read(true), libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| format!("cannot read {requested}: {e}"))?;
    let kind = file.metadata().map_err(|e| format!("cannot read {requested}: {e}"))?.file_type();
    if kind.is_dir() {
        return Err(format!("{requested} is a directory; use ls"));
    }
    if !kind.is_file() {
        return Err(format!("{requested} is not a regular file"));
    }
    let mut reader = std::io::BufReader::new(file);
    if reader.fill_buf().map(|b| b.iter().take(8192).any(|c| *c == 0)).unwrap_or(false) {
        return Err(format!("{requested} is a binary file"));
    }
    let mut out = String::new();
    let mut line_no = 0usize;
    let mut shown = 0usize;
    let mut cut = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        // Lines are read with a bound, so one enormous line cannot exhaust memory.
        let n = reader
            .by_ref()
            .take(READ_MAX_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read {requested}: {e}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line_no < offset {
            continue;
        }
        if shown >= limit || out.len() + line.len() > READ_MAX_BYTES {
            cut = true;
            break;
        }
        out.push_str(&String::from_utf8_lossy(&line));
        shown += 1;
    }
    if cut {
        let last = offset + shown - 1;
        out.push_str(&format!("\n[output cut at line {last}; read on with offset={}]", last + 1));
    } else if shown == 0 && line_no > 0 {
        return Err(format!("{requested} has only {line_no} lines"));
    }
    Ok(ToolOutput::ok(out))
}

fn write(env: &ToolEnv, args: &Value) -> Result<ToolOutput, String> {
    let requested = str_arg(args, "path")?;
    let content = str_arg(args, "content")?;
    if content.len() > WRITE_MAX_BYTES {
        return Err(format!("content is {} bytes; the limit is {WRITE_MAX_BYTES}", content.len()));
    }
    let path = resolve_path(&env.workspace, requested)?;
    if path.is_dir() {
        return Err(format!("{requested} is a directory"));
    }
    let parent = path.parent().ok_or_else(|| format!("{requested} has no parent directory"))?;
    std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    // The parent was created after the check; make sure no symlink race moved it outside.
    let parent_real = parent.canonicalize().map_err(|e| format!("cannot write {requested}: {e}"))?;
    if !parent_real.starts_with(env.workspace.canonicalize().map_err(|e| e.to_string())?) {
        return Err(format!("{requested} leads outside the workspace"));
    }
    crate::fsutil::write_atomic(&parent_real.join(path.file_name().unwrap_or_default()), content.as_bytes(), 0o644)
        .map_err(|e| format!("cannot write {requested}: {e}"))?;
    Ok(ToolOutput::ok(format!("Wrote {} bytes to {requested}", content.len())))
}

fn ls(env: &ToolEnv, args: &Value) -> Result<ToolOutput, String> {
    let requested = args.get("path").and_then(Value::as_str).unwrap_or(".");
    let path = resolve_path(&env.workspace, requested)?;
    let read = std::fs::read_dir(&path).map_err(|e| format!("cannot list {requested}: {e}"))?;
    let mut names = Vec::new();
    let mut more = 0usize;
    for entry in read.flatten() {
        if names.len() >= LS_MAX_ENTRIES {
            more += 1;
            continue;
        }
        let mut name = entry.file_name().to_string_lossy().into_owned();
        match entry.file_type() {
            Ok(t) if t.is_dir() => name.push('/'),
            Ok(t) if t.is_symlink() => name.push('@'),
            _ => {}
        }
        names.push(name);
    }
    names.sort();
    let mut text = if names.is_empty() { "(empty directory)".to_string() } else { names.join("\n") };
    if more > 0 {
        text.push_str(&format!("\n[{more} more entries not shown]"));
    }
    Ok(ToolOutput::ok(text))
}

/// Splits a command line into words for allowlist mode, where no shell runs it: quotes group,
/// and shell syntax (pipes, redirects, `;`, `$`, backticks…) is refused rather than silently
/// passed as arguments.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => cur.push(chars.next().unwrap_or('\\')),
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                cur.push(chars.next().unwrap_or('\\'));
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, ';' | '|' | '&' | '<' | '>' | '$' | '`' | '(' | ')' | '*' | '?' | '~' | '\n') => {
                return Err(format!(
                    "shell syntax ({c:?}) is not allowed: tools.exec.security is \"allowlist\", so commands run without a shell"
                ));
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote in the command".into());
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

/// Environment variables a command keeps; everything else (API keys, gateway tokens) is dropped.
const EXEC_ENV_KEEP: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "TZ", "TMPDIR", "SHELL"];

/// In allowlist mode every argument that could name a file must name one inside the workspace,
/// as for the file tools: an allowed `cat` still cannot read `/etc`. Checked is the word, or the
/// value of `--opt=value` and of `-Xvalue`. A value is refused when it has a `..` component, or
/// contains `/` without starting at something in the workspace (`if=/x`, `@/x`, a script with a
/// path in it), or names something (a symlink, say) that leads out. Words without `/` that name
/// nothing in the workspace are plain words. This errs on the side of refusing.
fn check_exec_arg(workspace: &Path, word: &str) -> Result<(), String> {
    let value = if let Some(rest) = word.strip_prefix("--") {
        match rest.split_once('=') {
            Some((_, v)) => v,
            None => return Ok(()),
        }
    } else if let Some(rest) = word.strip_prefix('-') {
        let mut chars = rest.chars();
        chars.next();
        chars.as_str()
    } else {
        word
    };
    if value.is_empty() {
        return Ok(());
    }
    let refuse = |why: &str| {
        Err(format!("argument {word:?} {why}; with tools.exec.security \"allowlist\", arguments may only name files inside the workspace"))
    };
    let path = Path::new(value);
    if path.components().any(|c| c == Component::ParentDir) {
        return refuse("uses \"..\"");
    }
    let in_workspace = |p: &Path| workspace.join(p).symlink_metadata().is_ok();
    if !value.contains('/') && !in_workspace(path) {
        return Ok(());
    }
    if path.is_relative() && !path.components().next().is_some_and(|first| in_workspace(Path::new(first.as_os_str()))) {
        return refuse("is not a path inside the workspace");
    }
    resolve_path(workspace, value).map(|_| ()).map_err(|e| format!("argument {word:?}: {e}"))
}

/// The command as `tools.exec.security` allows it: a listed program with workspace-only
/// arguments, or the whole line through `/bin/sh`; in the workspace, with a minimal environment.
fn exec_command(env: &ToolEnv, line: &str) -> Result<std::process::Command, String> {
    let mut cmd = match env.exec_security {
        ExecSecurity::Deny => return Err("exec is disabled (tools.exec.security is \"deny\")".into()),
        ExecSecurity::Allowlist => {
            let words = split_command(line)?;
            let Some((program, args)) = words.split_first() else { return Err("the command is empty".to_string()) };
            // Exactly as listed: a bare name runs from PATH, a path runs only that file, so a
            // program the model wrote into the workspace (`./grep`) never matches `grep`.
            if !env.safe_bins.iter().any(|b| b == program) {
                return Err(format!(
                    "{program} is not in tools.exec.safeBins ({}); add it there to allow it",
                    if env.safe_bins.is_empty() { "empty".to_string() } else { env.safe_bins.join(", ") }
                ));
            }
            for word in args {
                check_exec_arg(&env.workspace, word)?;
            }
            let mut c = std::process::Command::new(program);
            c.args(args);
            c
        }
        ExecSecurity::Full => {
            let mut c = std::process::Command::new("/bin/sh");
            c.arg("-c").arg(line);
            c
        }
    };
    cmd.current_dir(&env.workspace).env_clear();
    for key in EXEC_ENV_KEEP {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    Ok(cmd)
}

async fn exec(env: &ToolEnv, args: &Value, abort: &Abort) -> Result<ToolOutput, String> {
    let line = str_arg(args, "command")?;
    let mut cmd = exec_command(env, line)?;
    let timeout = args.get("timeout").and_then(Value::as_u64).map(Duration::from_secs).unwrap_or(env.exec_timeout).min(env.exec_timeout);
    // Its own process group, so a timeout or an abort kills whatever it started too.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut cmd = smol::process::Command::from(cmd);
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {line:?}: {e}"))?;
    let pid = child.id() as i32;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let (out, err) = smol::future::zip(capture(stdout), capture(stderr)).await;
        let status = child.status().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((out, err, status))
    };
    enum End {
        Done(Result<(Captured, Captured, std::process::ExitStatus), String>),
        TimedOut,
        Aborted,
    }
    let end = async { End::Done(work.await) }
        .or(async {
            smol::Timer::after(timeout).await;
            End::TimedOut
        })
        .or(async {
            abort.wait().await;
            End::Aborted
        })
        .await;
    let (out, err, status) = match end {
        End::Done(r) => r?,
        End::TimedOut | End::Aborted => {
            // SAFETY: kill(2) with a negative pid signals the process group we created above.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
            return Err(if matches!(end, End::TimedOut) {
                format!("the command was killed after {} s (tools.exec.timeoutSec)", timeout.as_secs())
            } else {
                "the command was stopped because the run was aborted".to_string()
            });
        }
    };
    let mut text = out.text();
    if !err.bytes.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("[stderr]\n");
        text.push_str(&err.text());
    }
    let code = status.code().map(|c| c.to_string()).unwrap_or_else(|| "killed by a signal".into());
    text.push_str(&format!("\n[exit code {code}]"));
    Ok(ToolOutput { text, is_error: !status.success() })
}

/// Output kept from one pipe: the first bytes up to the limit, and how much was dropped.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    dropped: usize,
}

impl Captured {
    fn text(&self) -> String {
        let mut t = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.dropped > 0 {
            t.push_str(&format!("\n[{} more bytes of output not shown]", self.dropped));
        }
        t
    }
}

async fn capture(pipe: Option<impl smol::io::AsyncRead + Unpin>) -> Captured {
    let mut c = Captured::default();
    let Some(mut pipe) = pipe else { return c };
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = (EXEC_MAX_OUTPUT_BYTES / 2).saturating_sub(c.bytes.len());
        c.bytes.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
        c.dropped += n.saturating_sub(room);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> ToolEnv {
        let ws = std::env::temp_dir().join(format!("oc-tools-{}", crate::ids::uuid()));
        std::fs::create_dir_all(ws.join("notes")).unwrap();
        ToolEnv {
            workspace: ws,
            exec_security: ExecSecurity::Deny,
            safe_bins: Vec::new(),
            exec_timeout: Duration::from_secs(5),
            timezone: None,
        }
    }

    fn call(tool: Tool, args: Value, env: &ToolEnv) -> ToolOutput {
        let (abort, _handle) = Abort::new();
        smol::block_on(run(tool, &args, env, &abort))
    }

    #[test]
    fn write_read_and_ls_inside_the_workspace() {
        let e = env();
        let w = call(Tool::Write, json!({"path": "notes/todo.md", "content": "one\ntwo\nthree\n"}), &e);
        assert!(!w.is_error, "{w:?}");
        assert_eq!(call(Tool::Read, json!({"path": "notes/todo.md"}), &e).text, "one\ntwo\nthree\n");
        let paged = call(Tool::Read, json!({"path": "notes/todo.md", "offset": 2, "limit": 1}), &e);
        assert_eq!(paged.text, "two\n\n[output cut at line 2; read on with offset=3]");
        assert_eq!(call(Tool::Ls, json!({}), &e).text, "notes/");
        assert!(call(Tool::Write, json!({"path": "deep/er/x.txt", "content": "x"}), &e).text.starts_with("Wrote 1 bytes"));
    }

    #[test]
    fn traversal_and_symlink_escapes_are_refused() {
        let e = env();
        for bad in ["../outside.txt", "notes/../../x", "/etc/passwd"] {
            let out = call(Tool::Read, json!({"path": bad}), &e);
            assert!(out.is_error && out.text.contains("outside the workspace"), "{bad}: {out:?}");
        }
        let outside = std::env::temp_dir().join(format!("oc-outside-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "s3cret").unwrap();
        std::os::unix::fs::symlink(&outside, e.workspace.join("link")).unwrap();
        let out = call(Tool::Read, json!({"path": "link/secret"}), &e);
        assert!(out.is_error && out.text.contains("symbolic link"), "{out:?}");
        let out = call(Tool::Write, json!({"path": "link/new", "content": "x"}), &e);
        assert!(out.is_error, "{out:?}");
        assert!(!outside.join("new").exists());
        // A symlink at the destination is replaced, not written through.
        std::os::unix::fs::symlink(outside.join("secret"), e.workspace.join("trap")).unwrap();
        let out = call(Tool::Write, json!({"path": "trap", "content": "overwritten?"}), &e);
        assert!(out.is_error, "writing to a symlink that points outside is refused: {out:?}");
        assert_eq!(std::fs::read_to_string(outside.join("secret")).unwrap(), "s3cret");
    }

    #[test]
    fn bad_arguments_become_readable_errors() {
        let e = env();
        assert_eq!(call(Tool::Read, json!({}), &e).text, "missing required string argument \"path\"");
        assert!(call(Tool::Read, json!({"__invalid_arguments": "{"}), &e).text.contains("not a valid JSON object"));
        assert!(call(Tool::Read, json!({"path": "notes"}), &e).text.contains("is a directory"));
        let fifo = std::ffi::CString::new(e.workspace.join("pipe").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(call(Tool::Read, json!({"path": "pipe"}), &e).text.contains("not a regular file"), "a FIFO does not block the read");
        std::fs::write(e.workspace.join("bin"), [0u8, 1, 2]).unwrap();
        assert!(call(Tool::Read, json!({"path": "bin"}), &e).text.contains("binary"));
    }

    #[test]
    fn exec_honours_the_policy() {
        let mut e = env();
        assert!(call(Tool::Exec, json!({"command": "echo hi"}), &e).text.contains("disabled"));
        e.exec_security = ExecSecurity::Allowlist;
        e.safe_bins = vec!["echo".into()];
        let out = call(Tool::Exec, json!({"command": "echo 'hello world'"}), &e);
        assert_eq!(out.text, "hello world\n\n[exit code 0]");
        assert!(call(Tool::Exec, json!({"command": "echo hi; rm -rf /"}), &e).text.contains("shell syntax"));
        assert!(call(Tool::Exec, json!({"command": "cat /etc/passwd"}), &e).text.contains("not in tools.exec.safeBins"));
        // A program of the same name elsewhere is not the allowed one.
        std::fs::write(e.workspace.join("echo"), "#!/bin/sh\necho pwned\n").unwrap();
        assert!(call(Tool::Exec, json!({"command": "./echo hi"}), &e).text.contains("not in tools.exec.safeBins"));
        assert!(call(Tool::Exec, json!({"command": "/tmp/echo hi"}), &e).text.contains("not in tools.exec.safeBins"));
        // Arguments that name paths stay inside the workspace.
        e.safe_bins.push("cat".into());
        std::fs::write(e.workspace.join("note.txt"), "inside").unwrap();
        assert_eq!(call(Tool::Exec, json!({"command": "cat ./note.txt"}), &e).text, "inside\n[exit code 0]");
        std::os::unix::fs::symlink("/etc/passwd", e.workspace.join("link")).unwrap();
        std::fs::create_dir(e.workspace.join("d")).unwrap();
        for escape in [
            "cat /etc/passwd",
            "cat ../../etc/passwd",
            "cat d/../../x",
            "cat --file=/etc/passwd",
            "cat -f/etc/passwd",
            "cat ..",
            "cat link",
            "cat -olink",
            "cat if=/etc/passwd",
            "cat @/etc/passwd",
            "cat '1r /etc/passwd'",
        ] {
            let out = call(Tool::Exec, json!({"command": escape}), &e);
            assert!(
                out.is_error && (out.text.contains("outside the workspace") || out.text.contains("only name files")),
                "{escape}: {out:?}"
            );
        }
        assert!(call(Tool::Exec, json!({"command": "cat -n ./d/../note.txt"}), &e).is_error, "`..` is refused even inside");
        assert_eq!(call(Tool::Exec, json!({"command": "cat -n note.txt"}), &e).text, "     1\tinside\n[exit code 0]");
        e.exec_security = ExecSecurity::Full;
        e.exec_timeout = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let out = call(Tool::Exec, json!({"command": "sleep 30; echo never"}), &e);
        assert!(out.is_error && out.text.contains("killed after 1 s"), "{out:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // cargo sets CARGO_PKG_NAME for the test process; the command must not see it.
        assert!(std::env::var("CARGO_PKG_NAME").is_ok());
        let out = call(Tool::Exec, json!({"command": "echo \"[$CARGO_PKG_NAME]\"; exit 3"}), &e);
        assert_eq!(out.text, "[]\n\n[exit code 3]", "the gateway's environment is not passed on: {out:?}");
        assert!(out.is_error);
    }

    #[test]
    fn offered_tools_follow_the_config() {
        let mut cfg = Tools::default();
        assert_eq!(offered(&cfg), vec![Tool::Time, Tool::Read, Tool::Write, Tool::Ls]);
        cfg.exec_security = ExecSecurity::Allowlist;
        cfg.deny = vec!["write".into()];
        assert_eq!(offered(&cfg), vec![Tool::Time, Tool::Read, Tool::Ls, Tool::Exec]);
        cfg.allow = vec!["read".into()];
        assert_eq!(offered(&cfg), vec![Tool::Read]);
    }

    #[test]
    fn command_splitting() {
        assert_eq!(split_command(r#"grep -n "a b" 'c d' e\ f"#).unwrap(), vec!["grep", "-n", "a b", "c d", "e f"]);
        assert!(split_command("ls | wc").is_err());
        assert!(split_command("echo 'open").is_err());
        assert!(split_command("   ").is_err());
    }
}
