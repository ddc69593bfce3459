//! The validation toolkit the typed config is built with: walk the parsed JSON once, collect every
//! problem as an [`Issue`] with its key path and what was expected, and hand back typed values.
//! A typo becomes `gateway.prot: unknown key (did you mean "port"?)`, not a silent default.

use serde::Serialize;
use serde_json::{Map, Value};

use super::secret::Secret;

/// One problem in the config, addressed by its dotted key path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// A config value given either literally or as a SecretRef (`{source, provider?, id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretInput {
    Plain(Secret),
    Ref(SecretRef),
}

/// A reference to a secret held outside the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub source: SecretSource,
    pub provider: String,
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Env,
    File,
    Exec,
    Store,
}

/// Collects issues while typed values are read out of a JSON tree.
#[derive(Default)]
pub struct Checker {
    pub issues: Vec<Issue>,
    pub warnings: Vec<String>,
}

impl Checker {
    pub fn issue(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(Issue { path: path.to_string(), message: message.into() });
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// Opens the object at `key` of `parent`. `allowed` lists every key that may appear; any
    /// other key is an issue. A missing key gives an empty object; a non-object is an issue.
    pub fn section<'a>(&mut self, parent: &Section<'a>, key: &str, allowed: &[&str]) -> Section<'a> {
        let path = join(&parent.path, key);
        let value = parent.map.and_then(|m| m.get(key));
        self.object_at(path, value, allowed)
    }

    /// Opens the object at `key` whose keys are free-form names (provider aliases, channel
    /// accounts): only its type is checked here.
    pub fn map<'a>(&mut self, parent: &Section<'a>, key: &str) -> Section<'a> {
        let path = join(&parent.path, key);
        match parent.map.and_then(|m| m.get(key)) {
            None | Some(Value::Null) => Section { path, map: None },
            Some(Value::Object(m)) => Section { path, map: Some(m) },
            Some(other) => {
                self.issue(&path, format!("expected an object, got {}", kind(other)));
                Section { path, map: None }
            }
        }
    }

    /// Opens an object of the official config of which this gateway reads only the keys in
    /// `used`. Other keys are kept and ignored (the official schema is far larger than what we
    /// act on), except near-misses of a used key: `modle` next to `model` is a typo, so it is an
    /// issue.
    pub fn partial_section<'a>(&mut self, parent: &Section<'a>, key: &str, used: &[&str]) -> Section<'a> {
        let path = join(&parent.path, key);
        let value = parent.map.and_then(|m| m.get(key));
        self.partial_object_at(path, value, used)
    }

    /// Like [`Checker::partial_section`] for a value that is already in hand.
    pub fn partial_object_at<'a>(&mut self, path: String, value: Option<&'a Value>, used: &[&str]) -> Section<'a> {
        match value {
            None | Some(Value::Null) => Section { path, map: None },
            Some(Value::Object(m)) => {
                for k in m.keys() {
                    if used.contains(&k.as_str()) {
                        continue;
                    }
                    if let Some(s) = suggest(k, used) {
                        self.issue(&join(&path, k), format!("unknown key (did you mean {s:?}?)"));
                    }
                }
                Section { path, map: Some(m) }
            }
            Some(other) => {
                self.issue(&path, format!("expected an object, got {}", kind(other)));
                Section { path, map: None }
            }
        }
    }

    /// Like [`Checker::section`] for a value that is already in hand (root, map entries).
    pub fn object_at<'a>(&mut self, path: String, value: Option<&'a Value>, allowed: &[&str]) -> Section<'a> {
        let map = match value {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                for k in m.keys() {
                    if !allowed.contains(&k.as_str()) {
                        let hint = suggest(k, allowed).map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default();
                        let expected =
                            if allowed.len() <= 12 { format!("; expected one of: {}", allowed.join(", ")) } else { String::new() };
                        self.issue(&join(&path, k), format!("unknown key{hint}{expected}"));
                    }
                }
                Some(m)
            }
            Some(other) => {
                self.issue(&path, format!("expected an object, got {}", kind(other)));
                None
            }
        };
        Section { path, map }
    }

    pub fn string(&mut self, s: &Section, key: &str) -> Option<String> {
        match s.get(key)? {
            Value::String(v) => Some(v.clone()),
            other => {
                self.issue(&join(&s.path, key), format!("expected a string, got {}", kind(other)));
                None
            }
        }
    }

    /// A non-empty string.
    pub fn text(&mut self, s: &Section, key: &str) -> Option<String> {
        let v = self.string(s, key)?;
        if v.trim().is_empty() {
            self.issue(&join(&s.path, key), "must not be empty");
            return None;
        }
        Some(v)
    }

    pub fn bool(&mut self, s: &Section, key: &str) -> Option<bool> {
        match s.get(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.issue(&join(&s.path, key), format!("expected true or false, got {}", kind(other)));
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub fn int(&mut self, s: &Section, key: &str, min: u64, max: u64) -> Option<u64> {
        let v = s.get(key)?;
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                let got = if v.is_number() { v.to_string() } else { kind(v).to_string() };
                self.issue(&join(&s.path, key), format!("expected an integer from {min} to {max}, got {got}"));
                None
            }
        }
    }

    /// A duration written as OpenClaw writes them (`"30d"`, `"12h"`, `"90m"`, `"45s"`, `"500ms"`,
    /// `"2w"`), or a bare integer of milliseconds.
    pub fn duration(&mut self, s: &Section, key: &str) -> Option<std::time::Duration> {
        let v = s.get(key)?;
        let parsed = match v {
            Value::Number(n) => n.as_u64().map(std::time::Duration::from_millis),
            Value::String(text) => parse_duration(text),
            _ => None,
        };
        if parsed.is_none() {
            self.issue(&join(&s.path, key), format!("expected a duration such as \"30d\", \"12h\" or \"90m\", got {v}"));
        }
        parsed
    }

    /// One of the listed words.
    pub fn one_of<T: Copy>(&mut self, s: &Section, key: &str, choices: &[(&str, T)]) -> Option<T> {
        let v = s.get(key)?;
        if let Some(text) = v.as_str() {
            if let Some((_, t)) = choices.iter().find(|(name, _)| *name == text) {
                return Some(*t);
            }
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        self.issue(&join(&s.path, key), format!("expected one of {}, got {v}", names.join(" | ")));
        None
    }

    pub fn strings(&mut self, s: &Section, key: &str) -> Vec<String> {
        match s.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(v) => out.push(v.clone()),
                        other => self.issue(&format!("{}[{i}]", join(&s.path, key)), format!("expected a string, got {}", kind(other))),
                    }
                }
                out
            }
            Some(other) => {
                self.issue(&join(&s.path, key), format!("expected a list of strings, got {}", kind(other)));
                Vec::new()
            }
        }
    }

    /// A secret: a string, or a SecretRef object. Empty strings count as absent.
    pub fn secret(&mut self, s: &Section, key: &str) -> Option<SecretInput> {
        let path = join(&s.path, key);
        match s.get(key)? {
            Value::String(v) if v.is_empty() => None,
            Value::String(v) if v.chars().count() > crate::limits::AUTH_SECRET_MAX_CHARS => {
                self.issue(&path, format!("longer than {} characters", crate::limits::AUTH_SECRET_MAX_CHARS));
                None
            }
            Value::String(v) => Some(SecretInput::Plain(Secret::new(v.clone()))),
            v @ Value::Object(_) => {
                let r = self.object_at(path.clone(), Some(v), &["source", "provider", "id"]);
                let source = self.one_of(
                    &r,
                    "source",
                    &[
                        ("env", SecretSource::Env),
                        ("file", SecretSource::File),
                        ("exec", SecretSource::Exec),
                        ("store", SecretSource::Store),
                    ],
                );
                let provider = self.string(&r, "provider").unwrap_or_else(|| "default".to_string());
                let id = self.text(&r, "id");
                if r.get("source").is_none() {
                    self.issue(&path, "a SecretRef needs \"source\" (env, file, exec or store)");
                }
                if r.get("id").is_none() {
                    self.issue(&path, "a SecretRef needs \"id\"");
                }
                Some(SecretInput::Ref(SecretRef { source: source?, provider, id: id? }))
            }
            other => {
                self.issue(&path, format!("expected a string or a SecretRef object, got {}", kind(other)));
                None
            }
        }
    }
}

/// A JSON object at a known path (or an absent one).
pub struct Section<'a> {
    pub path: String,
    pub map: Option<&'a Map<String, Value>>,
}

impl<'a> Section<'a> {
    pub fn root(value: &'a Value) -> Section<'a> {
        Section { path: String::new(), map: value.as_object() }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn child_path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The closest allowed key within a small edit distance, for "did you mean" hints.
pub fn suggest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let limit = (key.len() / 3).clamp(1, 3);
    allowed
        .iter()
        .map(|a| (edit_distance(&key.to_ascii_lowercase(), &a.to_ascii_lowercase()), *a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// Edit distance where swapping two neighbouring letters counts as one edit ("prot" → "port").
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// `"<number><unit>"` with unit `ms`, `s`, `m`, `h`, `d` or `w`.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let ms_per = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms_per).map(std::time::Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_are_reported_with_a_suggestion() {
        let v = json!({"gateway": {"prot": 1, "mode": "local"}});
        let mut c = Checker::default();
        let root = Section::root(&v);
        let g = c.section(&root, "gateway", &["mode", "port", "bind"]);
        assert_eq!(c.string(&g, "mode").as_deref(), Some("local"));
        assert_eq!(c.issues.len(), 1);
        assert_eq!(c.issues[0].path, "gateway.prot");
        assert!(c.issues[0].message.contains("did you mean \"port\""), "{}", c.issues[0]);
        assert!(c.issues[0].message.contains("expected one of: mode, port, bind"));
    }

    #[test]
    fn type_errors_say_what_was_expected() {
        let v = json!({"port": "x", "on": 1, "mode": "nope", "list": [1, "a"], "big": 70000});
        let mut c = Checker::default();
        let s = Section::root(&v);
        assert_eq!(c.int(&s, "port", 1, 65535), None);
        assert_eq!(c.bool(&s, "on"), None);
        assert_eq!(c.one_of(&s, "mode", &[("a", 1), ("b", 2)]), None);
        assert_eq!(c.strings(&s, "list"), vec!["a".to_string()]);
        assert_eq!(c.int(&s, "big", 1, 65535), None);
        let text: Vec<String> = c.issues.iter().map(|i| i.to_string()).collect();
        assert_eq!(text[0], "port: expected an integer from 1 to 65535, got a string");
        assert_eq!(text[1], "on: expected true or false, got a number");
        assert_eq!(text[2], "mode: expected one of a | b, got \"nope\"");
        assert_eq!(text[3], "list[0]: expected a string, got a number");
        assert_eq!(text[4], "big: expected an integer from 1 to 65535, got 70000");
    }

    #[test]
    fn secrets_accept_strings_and_refs() {
        let v = json!({"a": "s3cret", "b": {"source": "env", "id": "TOKEN"}, "c": {"source": "vault", "id": "x"}, "d": ""});
        let mut c = Checker::default();
        let s = Section::root(&v);
        assert!(matches!(c.secret(&s, "a"), Some(SecretInput::Plain(p)) if p.expose() == "s3cret"));
        assert!(
            matches!(c.secret(&s, "b"), Some(SecretInput::Ref(r)) if r.source == SecretSource::Env && r.id == "TOKEN" && r.provider == "default")
        );
        assert_eq!(c.secret(&s, "c"), None);
        assert_eq!(c.secret(&s, "d"), None);
        assert_eq!(c.issues.len(), 1, "{:?}", c.issues);
    }

    #[test]
    fn partial_sections_keep_unknown_keys_but_flag_near_misses() {
        let v = json!({"agents": {"defaults": {"modle": "x", "heartbeat": {}, "workspace": "~/w"}}});
        let mut c = Checker::default();
        let root = Section::root(&v);
        let a = c.partial_section(&root, "agents", &["defaults"]);
        let d = c.partial_section(&a, "defaults", &["model", "workspace"]);
        assert_eq!(c.string(&d, "workspace").as_deref(), Some("~/w"));
        assert_eq!(c.issues.len(), 1, "{:?}", c.issues);
        assert_eq!(c.issues[0].to_string(), "agents.defaults.modle: unknown key (did you mean \"model\"?)");
    }

    #[test]
    fn suggestions_need_a_close_match() {
        assert_eq!(suggest("gatway", &["gateway", "logging"]), Some("gateway"));
        assert_eq!(suggest("zzz", &["gateway", "logging"]), None);
    }

    #[test]
    fn durations_take_openclaw_units() {
        assert_eq!(parse_duration("30d"), Some(std::time::Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("90m"), Some(std::time::Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(std::time::Duration::from_millis(500)));
        assert_eq!(parse_duration("2w"), Some(std::time::Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration("30"), None, "a string needs its unit");
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration("5y"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }
}
