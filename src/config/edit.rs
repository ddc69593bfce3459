//! Editing a config document by key path, as `openclaw config get|set|unset` and the config RPCs
//! do: dotted paths with `[n]` list indexes and `["key.with.dots"]`, and RFC 7386 merge patches.

use serde_json::{Map, Value};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parses `gateway.auth.token`, `agents.list[0].id` or `channels.telegram.groups["-100"]`.
pub fn parse_path(text: &str) -> Result<Vec<Step>, String> {
    let bad = |why: &str| format!("invalid config path {text:?}: {why}");
    let mut steps = Vec::new();
    let mut chars = text.chars().peekable();
    let mut key = String::new();
    // Whether the current key may be empty because a bracket just closed (`a[0].b`).
    let mut after_bracket = false;
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if key.is_empty() && !after_bracket {
                    return Err(bad("empty key"));
                }
                if !key.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut key)));
                }
                after_bracket = false;
                if chars.peek().is_none() {
                    return Err(bad("ends with a dot"));
                }
            }
            '[' => {
                if !key.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut key)));
                }
                if chars.peek() == Some(&'"') {
                    chars.next();
                    let mut quoted = String::new();
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => quoted.push(chars.next().ok_or_else(|| bad("unfinished escape"))?),
                            Some(ch) => quoted.push(ch),
                            None => return Err(bad("unclosed quote")),
                        }
                    }
                    if chars.next() != Some(']') {
                        return Err(bad("expected ] after the quoted key"));
                    }
                    steps.push(Step::Key(quoted));
                } else {
                    let mut digits = String::new();
                    loop {
                        match chars.next() {
                            Some(']') => break,
                            Some(d) if d.is_ascii_digit() => digits.push(d),
                            _ => return Err(bad("a list index is a number in brackets, like [0]")),
                        }
                    }
                    steps.push(Step::Index(digits.parse().map_err(|_| bad("list index too large"))?));
                }
                after_bracket = true;
            }
            ']' => return Err(bad("unexpected ]")),
            other => {
                if after_bracket && key.is_empty() && !steps.is_empty() {
                    return Err(bad("expected . or [ after ]"));
                }
                key.push(other);
            }
        }
    }
    if !key.is_empty() {
        steps.push(Step::Key(key));
    }
    if steps.is_empty() {
        return Err(bad("empty path"));
    }
    Ok(steps)
}

/// The path written back in the dotted form (keys with dots or brackets quoted).
pub fn display(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(k) if k.contains(['.', '[', ']', '"']) || k.is_empty() => {
                out.push_str(&format!("[{}]", serde_json::to_string(k).unwrap_or_default()))
            }
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
        }
    }
    out
}

/// The value at `path`, if there is one.
pub fn get<'a>(value: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.as_object()?.get(k),
        Step::Index(i) => v.as_array()?.get(*i),
    })
}

/// The merge patch that sets `path` to `value`, or removes it when `value` is `None`. Merge
/// patches address object keys only, so a path through a list item is refused with what to do.
pub fn patch_for(path: &[Step], value: Option<Value>) -> Result<Value, String> {
    let mut patch = value.unwrap_or(Value::Null);
    for step in path.iter().rev() {
        match step {
            Step::Key(k) => {
                let mut m = Map::new();
                m.insert(k.clone(), patch);
                patch = Value::Object(m);
            }
            Step::Index(_) => {
                let keys: Vec<Step> = path.iter().take_while(|s| matches!(s, Step::Key(_))).cloned().collect();
                let whole = display(&keys);
                return Err(format!("a single list item cannot be changed; set the whole list instead: config set {whole} '[…]'"));
            }
        }
    }
    Ok(patch)
}

/// RFC 7386: objects merge recursively, `null` removes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let Value::Object(t) = target else { return };
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge_patch(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other,
    }
}

/// Paths of lists in `current` that `patch` would shorten or remove without being listed in
/// `allowed` (the config RPCs ask for that confirmation in `replacePaths`).
pub fn shrinking_lists(prefix: &str, current: &Value, patch: &Value, allowed: &[String], out: &mut Vec<String>) {
    let (Value::Object(cur), Value::Object(p)) = (current, patch) else { return };
    for (k, pv) in p {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        let Some(cv) = cur.get(k) else { continue };
        match (cv, pv) {
            (Value::Array(old), Value::Array(new)) if new.len() < old.len() && !allowed.contains(&path) => out.push(path),
            (Value::Array(old), Value::Null) if !old.is_empty() && !allowed.contains(&path) => out.push(path),
            (Value::Object(_), Value::Object(_)) => shrinking_lists(&path, cv, pv, allowed, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse_keys_indexes_and_quoted_keys() {
        let p = parse_path("agents.list[0].id").unwrap();
        assert_eq!(p, vec![Step::Key("agents".into()), Step::Key("list".into()), Step::Index(0), Step::Key("id".into())]);
        let p = parse_path(r#"channels.telegram.groups["-100.5"].requireMention"#).unwrap();
        assert_eq!(p[3], Step::Key("-100.5".into()));
        assert_eq!(display(&p), r#"channels.telegram.groups["-100.5"].requireMention"#);
        for bad in ["", ".", "a..b", "a.", "a[x]", "a[0", "a]", r#"a["x"#, "a[0]b"] {
            assert!(parse_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn get_and_patch_follow_the_path() {
        let doc = json!({"gateway": {"port": 1, "origins": ["a", "b"]}});
        assert_eq!(get(&doc, &parse_path("gateway.port").unwrap()), Some(&json!(1)));
        assert_eq!(get(&doc, &parse_path("gateway.origins[1]").unwrap()), Some(&json!("b")));
        assert_eq!(get(&doc, &parse_path("gateway.nope").unwrap()), None);
        assert_eq!(patch_for(&parse_path("a.b").unwrap(), Some(json!(2))).unwrap(), json!({"a": {"b": 2}}));
        assert_eq!(patch_for(&parse_path("a.b").unwrap(), None).unwrap(), json!({"a": {"b": null}}));
        let e = patch_for(&parse_path("gateway.origins[0]").unwrap(), Some(json!("x"))).unwrap_err();
        assert!(e.contains("config set gateway.origins"), "{e}");
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = json!({"a": {"b": 1, "c": [1, 2]}, "d": 1});
        merge_patch(&mut t, json!({"a": {"b": null, "c": [3], "e": {"f": 1}}, "d": "x"}));
        assert_eq!(t, json!({"a": {"c": [3], "e": {"f": 1}}, "d": "x"}));
    }

    #[test]
    fn shrinking_a_list_needs_confirmation() {
        let cur = json!({"gateway": {"controlUi": {"allowedOrigins": ["a", "b"]}}, "x": [1]});
        let mut out = Vec::new();
        shrinking_lists("", &cur, &json!({"gateway": {"controlUi": {"allowedOrigins": ["a"]}}, "x": null}), &[], &mut out);
        assert_eq!(out, vec!["gateway.controlUi.allowedOrigins".to_string(), "x".to_string()]);
        let mut out = Vec::new();
        shrinking_lists("", &cur, &json!({"gateway": {"controlUi": {"allowedOrigins": ["a", "b", "c"]}}}), &[], &mut out);
        assert!(out.is_empty(), "growing is fine");
        let mut out = Vec::new();
        shrinking_lists("", &cur, &json!({"x": []}), &["x".to_string()], &mut out);
        assert!(out.is_empty(), "listed paths may shrink");
    }
}
