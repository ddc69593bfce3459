//! Reading the config file the way OpenClaw does: JSON5, `$include` (one path or a list, merged
//! in order, siblings override), and `${VAR}` substitution in every string. The result keeps the
//! raw text and each stage, because `config.get` reports them and the reloader hashes them.

use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};

use super::json5;
use crate::limits::{CONFIG_MAX_FILE_BYTES, CONFIG_MAX_INCLUDE_DEPTH};

/// One config file read from disk, with everything derived from it.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    /// The root file's text.
    pub raw: String,
    /// The root file as parsed, before includes and substitution.
    pub parsed: Value,
    /// After `$include` and `${VAR}`.
    pub resolved: Value,
    /// Every included file that was read (for the reloader to watch).
    pub included: Vec<PathBuf>,
    /// Non-fatal findings (unset variables).
    pub warnings: Vec<String>,
    /// Digest of the root file and every included file's bytes: equal digests mean nothing in
    /// the files changed (the reloader's test for "touched but not edited").
    pub fingerprint: String,
}

/// Why a config could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The config file does not exist.
    Missing(PathBuf),
    /// A file exists but is unusable; the message names the file and the reason.
    Invalid(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Missing(p) => write!(f, "config file {} does not exist", p.display()),
            LoadError::Invalid(m) => f.write_str(m),
        }
    }
}

/// Reads `path` and everything it includes.
pub fn read(path: &Path) -> Result<Source, LoadError> {
    let raw = match read_text(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(LoadError::Missing(path.to_path_buf())),
        Err(e) => return Err(LoadError::Invalid(format!("cannot read {}: {e}", path.display()))),
    };
    from_text(path, raw)
}

/// Builds a [`Source`] from text already in memory (`config.set` validates before writing).
pub fn from_text(path: &Path, raw: String) -> Result<Source, LoadError> {
    let parsed = json5::parse(&raw).map_err(|e| LoadError::Invalid(format!("{}: {e}", path.display())))?;
    if !parsed.is_object() {
        return Err(LoadError::Invalid(format!("{}: the config must be a JSON object", path.display())));
    }
    let root_dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    digest.update(raw.as_bytes());
    let mut ctx = IncludeCtx {
        root_dir: canonical_or(&root_dir),
        extra_roots: include_roots(),
        stack: vec![canonical_or(path)],
        included: Vec::new(),
        digest,
    };
    let with_includes = ctx.resolve(parsed.clone(), path, 0)?;
    let fingerprint = crate::encoding::hex(ctx.digest.finish().as_ref());
    let mut warnings = Vec::new();
    let resolved = substitute_env(with_includes, &mut warnings, &|k| std::env::var(k).ok());
    Ok(Source { path: path.to_path_buf(), raw, parsed, resolved, included: ctx.included, warnings, fingerprint })
}

fn read_text(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > CONFIG_MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!("larger than {} bytes", CONFIG_MAX_FILE_BYTES)));
    }
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("not valid UTF-8"))
}

fn canonical_or(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn include_roots() -> Vec<PathBuf> {
    std::env::var("OPENCLAW_INCLUDE_ROOTS")
        .map(|v| v.split([':', ';']).filter(|s| !s.is_empty()).map(|s| canonical_or(Path::new(s))).collect())
        .unwrap_or_default()
}

struct IncludeCtx {
    root_dir: PathBuf,
    extra_roots: Vec<PathBuf>,
    stack: Vec<PathBuf>,
    included: Vec<PathBuf>,
    digest: ring::digest::Context,
}

impl IncludeCtx {
    /// Replaces every `$include` in `value` (found in `file`) by the included content.
    fn resolve(&mut self, value: Value, file: &Path, depth: usize) -> Result<Value, LoadError> {
        match value {
            Value::Object(mut map) => {
                let include = map.remove("$include");
                let mut siblings = Map::new();
                for (k, v) in map {
                    siblings.insert(k, self.resolve(v, file, depth)?);
                }
                let Some(include) = include else { return Ok(Value::Object(siblings)) };
                let targets: Vec<String> = match include {
                    Value::String(s) => vec![s],
                    Value::Array(items) => items
                        .into_iter()
                        .map(|v| match v {
                            Value::String(s) => Ok(s),
                            _ => Err(LoadError::Invalid(format!("{}: $include entries must be strings", file.display()))),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(LoadError::Invalid(format!("{}: $include must be a path or a list of paths", file.display())));
                    }
                };
                let mut merged = Value::Object(Map::new());
                for target in targets {
                    let included = self.load(&target, file, depth + 1)?;
                    if siblings.is_empty() && merged.as_object().is_some_and(Map::is_empty) && !included.is_object() {
                        merged = included;
                        continue;
                    }
                    if !included.is_object() {
                        return Err(LoadError::Invalid(format!(
                            "{}: included file {target} must hold an object to merge with its siblings",
                            file.display()
                        )));
                    }
                    deep_merge(&mut merged, included);
                }
                if !siblings.is_empty() {
                    deep_merge(&mut merged, Value::Object(siblings));
                }
                Ok(merged)
            }
            Value::Array(items) => Ok(Value::Array(items.into_iter().map(|v| self.resolve(v, file, depth)).collect::<Result<_, _>>()?)),
            other => Ok(other),
        }
    }

    fn load(&mut self, target: &str, from: &Path, depth: usize) -> Result<Value, LoadError> {
        let bad = |why: String| LoadError::Invalid(format!("{}: $include {target:?}: {why}", from.display()));
        if depth > CONFIG_MAX_INCLUDE_DEPTH {
            return Err(bad(format!("nested deeper than {CONFIG_MAX_INCLUDE_DEPTH} levels")));
        }
        if target.is_empty() || target.len() >= 4096 || target.contains('\0') {
            return Err(bad("invalid path".into()));
        }
        let base = from.parent().unwrap_or(Path::new("."));
        let path = base.join(target);
        let canonical = std::fs::canonicalize(&path).map_err(|e| bad(format!("cannot open {}: {e}", path.display())))?;
        let inside = canonical.starts_with(&self.root_dir) || self.extra_roots.iter().any(|r| canonical.starts_with(r));
        if !inside {
            return Err(bad(format!(
                "{} is outside the config directory {} (allow more with OPENCLAW_INCLUDE_ROOTS)",
                canonical.display(),
                self.root_dir.display()
            )));
        }
        if self.stack.contains(&canonical) {
            return Err(bad("circular include".into()));
        }
        let text = read_text(&canonical).map_err(|e| bad(format!("cannot read {}: {e}", canonical.display())))?;
        self.digest.update(canonical.as_os_str().as_encoded_bytes());
        self.digest.update(text.as_bytes());
        let value = json5::parse(&text).map_err(|e| LoadError::Invalid(format!("{}: {e}", canonical.display())))?;
        if !self.included.contains(&canonical) {
            self.included.push(canonical.clone());
        }
        self.stack.push(canonical.clone());
        let resolved = self.resolve(value, &canonical, depth);
        self.stack.pop();
        resolved
    }
}

/// Objects merge key by key (recursively); anything else in `patch` replaces what `base` had.
pub fn deep_merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

/// Replaces `${VAR}` in every string. Unset or empty variables stay literal (with a warning) so
/// the consumer sees the value as unavailable instead of as an empty secret. `$${VAR}` is the
/// escape for a literal `${VAR}`.
pub fn substitute_env(value: Value, warnings: &mut Vec<String>, env: &dyn Fn(&str) -> Option<String>) -> Value {
    match value {
        Value::String(s) if s.contains("${") => Value::String(substitute_str(&s, warnings, env)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| substitute_env(v, warnings, env)).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, substitute_env(v, warnings, env))).collect()),
        other => other,
    }
}

fn substitute_str(s: &str, warnings: &mut Vec<String>, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((before, after)) = rest.split_once("${") {
        // `$${VAR}` → literal `${VAR}`.
        if let Some(kept) = before.strip_suffix('$') {
            out.push_str(kept);
            match after.split_once('}') {
                Some((inner, tail)) => {
                    out.push_str("${");
                    out.push_str(inner);
                    out.push('}');
                    rest = tail;
                }
                None => {
                    out.push_str("${");
                    out.push_str(after);
                    rest = "";
                }
            }
            continue;
        }
        out.push_str(before);
        match after.split_once('}') {
            Some((name, tail)) if is_env_name(name) => {
                match env(name).filter(|v| !v.is_empty()) {
                    Some(v) => out.push_str(&v),
                    None => {
                        let w = format!("config references ${{{name}}} but {name} is not set");
                        if !warnings.contains(&w) {
                            warnings.push(w);
                        }
                        out.push_str("${");
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = tail;
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z' | b'_')) && bytes.all(|b| matches!(b, b'A'..=b'Z' | b'0'..=b'9' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(k: &str) -> Option<String> {
        match k {
            "TOKEN" => Some("t0k".into()),
            "BASE" => Some("http://x".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_variables_and_keeps_unset_ones_literal() {
        let mut w = Vec::new();
        let v = substitute_env(
            json!({"a": "${TOKEN}", "b": "${BASE}/v1", "c": ["${NOPE}", "$${TOKEN}", "${lower}", "${EMPTY}"], "n": 5}),
            &mut w,
            &env,
        );
        assert_eq!(v, json!({"a": "t0k", "b": "http://x/v1", "c": ["${NOPE}", "${TOKEN}", "${lower}", "${EMPTY}"], "n": 5}));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("NOPE"));
    }

    #[test]
    fn deep_merge_merges_objects_and_replaces_the_rest() {
        let mut base = json!({"a": {"x": 1, "y": [1]}, "b": 1});
        deep_merge(&mut base, json!({"a": {"y": [2], "z": true}, "c": null}));
        assert_eq!(base, json!({"a": {"x": 1, "y": [2], "z": true}, "b": 1, "c": null}));
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oc-load-{name}-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn includes_merge_in_order_and_siblings_override() {
        let d = tmpdir("inc");
        std::fs::write(d.join("a.json5"), "{gateway: {port: 1, bind: 'lan'}}").unwrap();
        std::fs::write(d.join("b.json5"), "{gateway: {port: 2}, logging: {level: 'debug'}}").unwrap();
        std::fs::write(d.join("main.json"), r#"{"$include": ["a.json5", "b.json5"], "gateway": {"mode": "local"}}"#).unwrap();
        let s = read(&d.join("main.json")).unwrap();
        assert_eq!(s.resolved, json!({"gateway": {"port": 2, "bind": "lan", "mode": "local"}, "logging": {"level": "debug"}}));
        assert_eq!(s.included.len(), 2);
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn nested_section_include_replaces_the_object() {
        let d = tmpdir("sect");
        std::fs::write(d.join("gw.json5"), "{mode: 'local', port: 7}").unwrap();
        std::fs::write(d.join("main.json"), r#"{"gateway": {"$include": "./gw.json5"}}"#).unwrap();
        let s = read(&d.join("main.json")).unwrap();
        assert_eq!(s.resolved, json!({"gateway": {"mode": "local", "port": 7}}));
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn refuses_cycles_escapes_and_missing_files() {
        let d = tmpdir("bad");
        std::fs::write(d.join("a.json"), r#"{"$include": "b.json"}"#).unwrap();
        std::fs::write(d.join("b.json"), r#"{"$include": "a.json"}"#).unwrap();
        let e = read(&d.join("a.json")).unwrap_err().to_string();
        assert!(e.contains("circular"), "{e}");
        std::fs::write(d.join("c.json"), r#"{"$include": "/etc/hostname"}"#).unwrap();
        let e = read(&d.join("c.json")).unwrap_err().to_string();
        assert!(e.contains("outside the config directory"), "{e}");
        std::fs::write(d.join("m.json"), r#"{"$include": "nope.json"}"#).unwrap();
        let e = read(&d.join("m.json")).unwrap_err().to_string();
        assert!(e.contains("nope.json") && e.contains("m.json"), "{e}");
        assert_eq!(read(&d.join("absent.json")).unwrap_err(), LoadError::Missing(d.join("absent.json")));
        std::fs::write(d.join("syntax.json"), "{gateway: {port: }").unwrap();
        let e = read(&d.join("syntax.json")).unwrap_err().to_string();
        assert!(e.contains("syntax.json") && e.contains("line 1"), "{e}");
        std::fs::remove_dir_all(d).ok();
    }
}
