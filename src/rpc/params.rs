//! Validation of request frames and method params with the official wording. The official gateway
//! validates with AJV and joins the errors with "; "; clients and people read those texts, so we
//! produce the same ones: `must have required property 'client'`, `at /client/id: must be equal to
//! one of the allowed values`, `at root: unexpected property 'foo'`.

use serde_json::{Map, Value};

use crate::error::Error;

/// Collects validation errors for one value.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<String>,
}

impl Validator {
    /// Records an error at a JSON-pointer path ("" is the root).
    pub fn error(&mut self, path: &str, message: &str) {
        if path.is_empty() {
            self.errors.push(message.to_string());
        } else {
            self.errors.push(format!("at {path}: {message}"));
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// `Ok` when nothing was recorded, else the errors joined the official way.
    pub fn finish(self) -> Result<(), String> {
        if self.errors.is_empty() { Ok(()) } else { Err(self.errors.join("; ")) }
    }

    /// The value as an object, or an error.
    pub fn object<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            _ => {
                self.error(path, "must be object");
                None
            }
        }
    }

    /// Reports the first missing required key (AJV stops its `required` check there).
    pub fn required(&mut self, m: &Map<String, Value>, path: &str, keys: &[&str]) -> bool {
        match keys.iter().find(|k| !m.contains_key(**k)) {
            Some(k) => {
                self.error(path, &format!("must have required property '{k}'"));
                false
            }
            None => true,
        }
    }

    /// Reports every key that is not allowed (`additionalProperties: false`).
    pub fn no_extra(&mut self, m: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for k in m.keys() {
            if !allowed.contains(&k.as_str()) {
                let at = if path.is_empty() { "root" } else { path };
                self.errors.push(format!("at {at}: unexpected property '{k}'"));
            }
        }
    }

    pub fn string<'a>(&mut self, v: &'a Value, path: &str, min: usize, max: usize) -> Option<&'a str> {
        let Some(s) = v.as_str() else {
            self.error(path, "must be string");
            return None;
        };
        let n = s.chars().count();
        if n < min {
            self.error(path, &format!("must NOT have fewer than {min} characters"));
            return None;
        }
        if n > max {
            self.error(path, &format!("must NOT have more than {max} characters"));
            return None;
        }
        Some(s)
    }

    pub fn integer(&mut self, v: &Value, path: &str, min: i64, max: i64) -> Option<i64> {
        let n = match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => n.as_i64().unwrap_or(i64::MAX),
            Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15) => n.as_f64().unwrap_or(0.0) as i64,
            _ => {
                self.error(path, "must be integer");
                return None;
            }
        };
        if n < min {
            self.error(path, &format!("must be >= {min}"));
            return None;
        }
        if n > max {
            self.error(path, &format!("must be <= {max}"));
            return None;
        }
        Some(n)
    }

    pub fn boolean(&mut self, v: &Value, path: &str) -> Option<bool> {
        let b = v.as_bool();
        if b.is_none() {
            self.error(path, "must be boolean");
        }
        b
    }

    pub fn one_of<'a>(&mut self, v: &'a Value, path: &str, allowed: &[&str]) -> Option<&'a str> {
        match v.as_str() {
            Some(s) if allowed.contains(&s) => Some(s),
            _ => {
                self.error(path, "must be equal to one of the allowed values");
                None
            }
        }
    }

    /// An array of non-empty strings.
    pub fn strings(&mut self, v: &Value, path: &str) -> Option<Vec<String>> {
        let Some(items) = v.as_array() else {
            self.error(path, "must be array");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(s) = self.string(item, &format!("{path}/{i}"), 1, usize::MAX) {
                out.push(s.to_string());
            }
        }
        Some(out)
    }
}

/// Method params as a closed object: `params` absent or `null` is an empty object; anything else
/// must be an object whose keys are all in `allowed`.
pub fn closed<'a>(method: &str, params: &'a Option<Value>, allowed: &[&str]) -> Result<Params<'a>, Error> {
    let map = match params {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err(Error::invalid(format!("invalid {method} params: must be object"))),
    };
    let mut v = Validator::default();
    if let Some(m) = map {
        v.no_extra(m, "", allowed);
    }
    Ok(Params { method: method.to_string(), map, v })
}

/// Method params that ignore unknown keys (the official `health` does).
pub fn open<'a>(method: &str, params: &'a Option<Value>) -> Result<Params<'a>, Error> {
    match params {
        None | Some(Value::Null) => Ok(Params { method: method.to_string(), map: None, v: Validator::default() }),
        Some(Value::Object(m)) => Ok(Params { method: method.to_string(), map: Some(m), v: Validator::default() }),
        Some(_) => Err(Error::invalid(format!("invalid {method} params: must be object"))),
    }
}

/// Typed access to one method's params; errors accumulate and are reported together by
/// [`Params::done`].
pub struct Params<'a> {
    method: String,
    map: Option<&'a Map<String, Value>>,
    v: Validator,
}

impl<'a> Params<'a> {
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key))
    }

    pub fn require(&mut self, keys: &[&str]) {
        let empty = Map::new();
        let m = self.map.unwrap_or(&empty);
        self.v.required(m, "", keys);
    }

    pub fn opt_bool(&mut self, key: &str) -> Option<bool> {
        let v = self.raw(key)?;
        self.v.boolean(v, &format!("/{key}"))
    }

    pub fn opt_int(&mut self, key: &str, min: i64, max: i64) -> Option<i64> {
        let v = self.raw(key)?;
        self.v.integer(v, &format!("/{key}"), min, max)
    }

    pub fn opt_str(&mut self, key: &str, min: usize, max: usize) -> Option<String> {
        let v = self.raw(key)?;
        self.v.string(v, &format!("/{key}"), min, max).map(str::to_string)
    }

    /// A required string. When it is missing or invalid the error is recorded and an empty string
    /// stands in: [`Params::done`] then fails, so the stand-in is never used. (List the key in
    /// [`Params::require`] too, which reports a missing key the official way.)
    pub fn req_str(&mut self, key: &str, min: usize, max: usize) -> String {
        self.opt_str(key, min, max).unwrap_or_default()
    }

    /// A value from a closed set (`must be equal to one of the allowed values` otherwise).
    pub fn choice<T: Copy>(&mut self, key: &str, choices: &[(&str, T)]) -> Option<T> {
        let v = self.raw(key)?;
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let picked = self.v.one_of(v, &format!("/{key}"), &names)?;
        choices.iter().find(|(n, _)| *n == picked).map(|(_, t)| *t)
    }

    pub fn validator(&mut self) -> &mut Validator {
        &mut self.v
    }

    /// `invalid <method> params: <errors>` when anything was wrong.
    pub fn done(self) -> Result<(), Error> {
        let method = self.method;
        self.v.finish().map_err(|e| Error::invalid(format!("invalid {method} params: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn closed_params_reject_unknown_keys_with_the_official_text() {
        let params = Some(json!({"bogusParam": 1}));
        let p = closed("sessions.list", &params, &["limit"]).unwrap();
        let e = p.done().unwrap_err();
        assert_eq!(e.to_string(), "invalid sessions.list params: at root: unexpected property 'bogusParam'");
    }

    #[test]
    fn typed_reads_report_bounds() {
        let params = Some(json!({"limit": 0, "maxBytes": "x", "cursor": 5}));
        let mut p = closed("logs.tail", &params, &["limit", "maxBytes", "cursor"]).unwrap();
        assert_eq!(p.opt_int("cursor", 0, i64::MAX), Some(5));
        assert_eq!(p.opt_int("limit", 1, 5000), None);
        assert_eq!(p.opt_int("maxBytes", 1, 1_000_000), None);
        let e = p.done().unwrap_err();
        assert_eq!(e.to_string(), "invalid logs.tail params: at /limit: must be >= 1; at /maxBytes: must be integer");
    }

    #[test]
    fn non_object_params_are_refused_and_null_is_empty() {
        assert!(closed("x", &Some(json!([1])), &[]).is_err());
        assert!(closed("x", &Some(Value::Null), &[]).unwrap().done().is_ok());
        assert!(open("health", &Some(json!({"pad": "y"}))).unwrap().done().is_ok());
    }
}
