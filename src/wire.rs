//! Reading the typed payloads of other services (model providers, chat APIs) out of parsed JSON.
//!
//! Each payload type has a hand-written `read(&Value)` built from these accessors instead of a
//! serde `Deserialize` derive: a derive instantiates serde's visitor machinery once per type and
//! per field type, which measured tens of KB of the binary for the upstream payloads alone, while
//! a reader is a handful of calls into the few functions below. The rules are serde's, so the
//! payloads read as before: unknown fields are ignored; an optional field that is absent or
//! `null` is `None`; a required one that is absent is an error naming it (`missing field `id``,
//! serde's wording, which tests and logs rely on); a field of the wrong type is an error naming
//! the field, what came and what was expected.

use serde_json::{Map, Value};
use std::fmt;

/// Why a payload could not be read: a missing field or a field of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

impl WireError {
    /// A payload that reads but breaks a rule of its own (say, none of three alternatives).
    pub fn new(why: impl Into<String>) -> WireError {
        WireError(why.into())
    }

    fn missing(key: &str) -> WireError {
        WireError(format!("missing field `{key}`"))
    }

    /// `value` is not what the reader expected (`expected` reads like "a string").
    pub fn invalid(key: &str, value: &Value, expected: &str) -> WireError {
        let came = match value {
            Value::Null => "null".to_string(),
            Value::Bool(b) => format!("boolean `{b}`"),
            Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
            Value::Number(n) => format!("integer `{n}`"),
            Value::String(_) => "a string".to_string(),
            Value::Array(_) => "a sequence".to_string(),
            Value::Object(_) => "a map".to_string(),
        };
        if key.is_empty() {
            WireError(format!("invalid type: {came}, expected {expected}"))
        } else {
            WireError(format!("invalid type for `{key}`: {came}, expected {expected}"))
        }
    }
}

/// A JSON object being read; `get`-style accessors per field type.
#[derive(Debug, Clone, Copy)]
pub struct Obj<'a>(&'a Map<String, Value>);

/// `value` as an object (a payload, or a field that holds one).
pub fn object(value: &Value) -> Result<Obj<'_>, WireError> {
    match value {
        Value::Object(map) => Ok(Obj(map)),
        other => Err(WireError::invalid("", other, "a map")),
    }
}

/// An object already taken apart (to move a field out of it first).
pub fn object_of(map: &Map<String, Value>) -> Obj<'_> {
    Obj(map)
}

impl<'a> Obj<'a> {
    /// The field, unless it is absent or `null`.
    pub fn get(self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// The field, which must be present.
    pub fn required(self, key: &str) -> Result<&'a Value, WireError> {
        self.0.get(key).ok_or_else(|| WireError::missing(key))
    }

    /// Reads an optional field with `read`, naming the field when it is of the wrong type.
    fn optional<T>(self, key: &str, expected: &str, read: impl Fn(&'a Value) -> Option<T>) -> Result<Option<T>, WireError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => read(v).map(Some).ok_or_else(|| WireError::invalid(key, v, expected)),
        }
    }

    fn must<T>(self, key: &str, expected: &str, read: impl Fn(&'a Value) -> Option<T>) -> Result<T, WireError> {
        let v = self.required(key)?;
        read(v).ok_or_else(|| WireError::invalid(key, v, expected))
    }

    pub fn str(self, key: &str) -> Result<&'a str, WireError> {
        self.must(key, "a string", Value::as_str)
    }

    pub fn opt_str(self, key: &str) -> Result<Option<&'a str>, WireError> {
        self.optional(key, "a string", Value::as_str)
    }

    /// An optional string field, owned (absent and `null` are `None`).
    pub fn opt_string(self, key: &str) -> Result<Option<String>, WireError> {
        Ok(self.opt_str(key)?.map(str::to_string))
    }

    pub fn u64(self, key: &str) -> Result<u64, WireError> {
        self.must(key, "an unsigned integer", Value::as_u64)
    }

    pub fn opt_u64(self, key: &str) -> Result<Option<u64>, WireError> {
        self.optional(key, "an unsigned integer", Value::as_u64)
    }

    pub fn i64(self, key: &str) -> Result<i64, WireError> {
        self.must(key, "an integer", Value::as_i64)
    }

    pub fn opt_i64(self, key: &str) -> Result<Option<i64>, WireError> {
        self.optional(key, "an integer", Value::as_i64)
    }

    pub fn f64(self, key: &str) -> Result<f64, WireError> {
        self.must(key, "a number", Value::as_f64)
    }

    pub fn opt_bool(self, key: &str) -> Result<Option<bool>, WireError> {
        self.optional(key, "a boolean", Value::as_bool)
    }

    /// A boolean field that is `false` when absent or `null`.
    pub fn flag(self, key: &str) -> Result<bool, WireError> {
        Ok(self.opt_bool(key)?.unwrap_or(false))
    }

    pub fn obj(self, key: &str) -> Result<Obj<'a>, WireError> {
        self.must(key, "a map", |v| v.as_object().map(Obj))
    }

    pub fn opt_obj(self, key: &str) -> Result<Option<Obj<'a>>, WireError> {
        self.optional(key, "a map", |v| v.as_object().map(Obj))
    }

    /// A list field that is empty when absent or `null`.
    pub fn list(self, key: &str) -> Result<&'a [Value], WireError> {
        Ok(self.optional(key, "a sequence", |v| v.as_array().map(Vec::as_slice))?.unwrap_or(&[]))
    }

    /// A list field that must be present (it may be empty).
    pub fn required_list(self, key: &str) -> Result<&'a [Value], WireError> {
        self.must(key, "a sequence", |v| v.as_array().map(Vec::as_slice))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_read_by_serde_rules_and_errors_name_the_field() {
        let v = json!({"s": "x", "n": 7, "neg": -1, "f": 1.5, "b": true, "o": {"k": 1}, "l": [1, 2], "null": null});
        let o = object(&v).unwrap();
        assert_eq!(o.str("s").unwrap(), "x");
        assert_eq!(o.u64("n").unwrap(), 7);
        assert_eq!(o.i64("neg").unwrap(), -1);
        assert_eq!(o.f64("f").unwrap(), 1.5);
        assert!(o.flag("b").unwrap());
        assert_eq!(o.obj("o").unwrap().u64("k").unwrap(), 1);
        assert_eq!(o.list("l").unwrap().len(), 2);
        // Absent and null read as None / false / empty for optional fields.
        for key in ["absent", "null"] {
            assert_eq!(o.opt_str(key).unwrap(), None);
            assert_eq!(o.opt_u64(key).unwrap(), None);
            assert!(!o.flag(key).unwrap());
            assert!(o.list(key).unwrap().is_empty());
            assert!(o.opt_obj(key).unwrap().is_none());
        }
        assert_eq!(o.str("absent").unwrap_err().to_string(), "missing field `absent`");
        assert_eq!(o.required_list("absent").unwrap_err().to_string(), "missing field `absent`");
        assert_eq!(o.str("null").unwrap_err().to_string(), "invalid type for `null`: null, expected a string");
        assert_eq!(o.str("n").unwrap_err().to_string(), "invalid type for `n`: integer `7`, expected a string");
        assert_eq!(o.u64("neg").unwrap_err().to_string(), "invalid type for `neg`: integer `-1`, expected an unsigned integer");
        assert_eq!(o.opt_u64("f").unwrap_err().to_string(), "invalid type for `f`: floating point `1.5`, expected an unsigned integer");
        assert_eq!(o.flag("s").unwrap_err().to_string(), "invalid type for `s`: a string, expected a boolean");
        assert_eq!(o.list("o").unwrap_err().to_string(), "invalid type for `o`: a map, expected a sequence");
        assert_eq!(o.obj("l").unwrap_err().to_string(), "invalid type for `l`: a sequence, expected a map");
        assert_eq!(object(&json!([1])).unwrap_err().to_string(), "invalid type: a sequence, expected a map");
    }
}
