//! The wire protocol v4: frames, error shapes and the official error texts. Inbound frames are
//! validated here with the same messages the official gateway sends (AJV style: `must have
//! required property 'id'; at root: unexpected property 'ok'`); outbound frames are built here.

use serde::Serialize;
use serde_json::{Map, Value};

use super::params::Validator;
pub use crate::error::{ErrorCode, ErrorShape};
pub use crate::gateway::hub::StateVersion;

/// A request frame from a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: String,
    pub method: String,
    pub params: Option<Value>,
}

/// What a text frame turned out to be.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    Request(Request),
    /// A JSON value that is not a valid request frame. `id` is the frame's id when it has a
    /// usable one (the error response is addressed to it, else to `"invalid"`).
    Invalid {
        id: Option<String>,
        message: String,
        is_request: bool,
    },
    /// Not JSON at all.
    NotJson,
}

const REQUEST_KEYS: &[&str] = &["type", "id", "method", "params", "traceparent"];

/// Parses and validates one inbound text frame against `RequestFrame`.
pub fn parse_inbound(text: &str) -> Inbound {
    let value = match serde_json::from_str::<Value>(text) {
        Ok(v) => v,
        // Valid JSON nested deeper than serde's limit (128): the frame is refused, but on its
        // own id when one can be read, so the client is not left waiting for an answer.
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            return Inbound::Invalid { id: top_level_id(text), message: "nested deeper than 128 levels".into(), is_request: true };
        }
        Err(_) => return Inbound::NotJson,
    };
    let Value::Object(map) = value else {
        return Inbound::Invalid { id: None, message: "must be object".into(), is_request: false };
    };
    let mut v = Validator::default();
    // AJV reports the first missing required property, then unknown ones, then property errors.
    v.required(&map, "", &["type", "id", "method"]);
    v.no_extra(&map, "", REQUEST_KEYS);
    if let Some(t) = map.get("type") {
        if t.as_str() != Some("req") {
            v.error("/type", "must be equal to constant");
        }
    }
    let id = map.get("id").and_then(|i| v.string(i, "/id", 1, usize::MAX)).map(str::to_string);
    let method = map.get("method").and_then(|m| v.string(m, "/method", 1, usize::MAX)).map(str::to_string);
    if let Some(tp) = map.get("traceparent") {
        v.string(tp, "/traceparent", 0, 128);
    }
    let is_request = map.get("type").and_then(Value::as_str) == Some("req");
    match (v.finish(), id, method) {
        (Ok(()), Some(id), Some(method)) => Inbound::Request(Request { id, method, params: map_params(map) }),
        (Err(message), id, _) => Inbound::Invalid { id, message, is_request },
        (Ok(()), id, _) => Inbound::Invalid { id, message: "invalid request frame".into(), is_request },
    }
}

/// The string value of the top-level `"id"` key of a JSON object, read without building the
/// value (so without recursion): other values are skipped by counting brackets.
fn top_level_id(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(bytes, i);
        let key_end = string_end(bytes, i)?;
        let key: String = serde_json::from_str(text.get(i..key_end)?).ok()?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(bytes, i + 1);
        let value_end = value_end(bytes, i)?;
        if key == "id" {
            return serde_json::from_str::<String>(text.get(i..value_end)?).ok().filter(|id| !id.is_empty());
        }
        i = skip_ws(bytes, value_end);
        match bytes.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The index just past the JSON string that starts at `i`.
fn string_end(bytes: &[u8], i: usize) -> Option<usize> {
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match bytes.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The index just past the JSON value that starts at `i`, found by counting brackets.
fn value_end(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i)? {
        b'"' => string_end(bytes, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match bytes.get(j)? {
                    b'"' => {
                        j = string_end(bytes, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while bytes.get(j).is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace()) {
                j += 1;
            }
            Some(j)
        }
    }
}

fn map_params(mut map: Map<String, Value>) -> Option<Value> {
    map.remove("params")
}

/// `{"type":"res","id":…,"ok":true,"payload":…}`.
pub fn response_ok(id: &str, payload: &Value) -> String {
    format!(r#"{{"type":"res","id":{},"ok":true,"payload":{}}}"#, json_str(id), payload)
}

/// `{"type":"res","id":…,"ok":false,"error":…}`.
pub fn response_err(id: &str, error: &ErrorShape) -> String {
    format!(r#"{{"type":"res","id":{},"ok":false,"error":{}}}"#, json_str(id), to_json(error))
}

/// A failed response that still carries a payload (the final `agent` response does).
pub fn response_err_with_payload(id: &str, payload: &Value, error: &ErrorShape) -> String {
    format!(r#"{{"type":"res","id":{},"ok":false,"payload":{},"error":{}}}"#, json_str(id), payload, to_json(error))
}

/// An event frame; `payload` is already JSON text so a broadcast serialises it only once.
pub fn event_frame(event: &str, payload: &str, seq: Option<u64>, state_version: Option<StateVersion>) -> String {
    let mut out = String::with_capacity(payload.len() + event.len() + 64);
    out.push_str(r#"{"type":"event","event":"#);
    out.push_str(&json_str(event));
    out.push_str(r#","payload":"#);
    out.push_str(payload);
    if let Some(seq) = seq {
        out.push_str(&format!(r#","seq":{seq}"#));
    }
    if let Some(sv) = state_version {
        out.push_str(&format!(r#","stateVersion":{{"presence":{},"health":{}}}"#, sv.presence, sv.health));
    }
    out.push('}');
    out
}

pub fn json_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

pub fn to_json<T: Serialize>(v: &T) -> String {
    // Our frame types contain only strings, numbers and JSON values, which always serialise.
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_nested_past_the_limit_is_refused_on_its_own_id() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let text = format!(r#"{{"type":"req","params":{{"a":{deep},"s":"}}]\"x"}},"id":"deep-1","method":"health"}}"#);
        match parse_inbound(&text) {
            Inbound::Invalid { id, message, .. } => {
                assert_eq!(id.as_deref(), Some("deep-1"));
                assert!(message.contains("nested deeper"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let no_id = format!(r#"{{"type":"req","params":{deep}}}"#);
        assert!(matches!(parse_inbound(&no_id), Inbound::Invalid { id: None, .. }));
        assert_eq!(parse_inbound("{\"id\": \"x\", oops"), Inbound::NotJson, "broken JSON stays unanswered, as officially");
        assert_eq!(top_level_id(r#"{"a": [1, {"id": "inner"}], "id": "outer"}"#).as_deref(), Some("outer"));
        assert_eq!(top_level_id(r#"{"id": 5}"#), None);
        assert_eq!(top_level_id("[1]"), None);
    }
    use serde_json::json;

    fn invalid(text: &str) -> (Option<String>, String) {
        match parse_inbound(text) {
            Inbound::Invalid { id, message, .. } => (id, message),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn valid_requests_parse() {
        let r = parse_inbound(r#"{"type":"req","id":"1:x","method":"health"}"#);
        assert_eq!(r, Inbound::Request(Request { id: "1:x".into(), method: "health".into(), params: None }));
        let r = parse_inbound(r#"{"type":"req","id":"2","method":"status","params":{"a":1},"traceparent":"00-x"}"#);
        assert!(matches!(r, Inbound::Request(Request { params: Some(_), .. })));
    }

    #[test]
    fn invalid_frames_get_the_official_messages() {
        assert_eq!(
            invalid(r#"{"type":"res","id":"zz","ok":true,"payload":{}}"#),
            (
                Some("zz".into()),
                "must have required property 'method'; at root: unexpected property 'ok'; at root: unexpected property 'payload'; at /type: must be equal to constant".into()
            )
        );
        assert_eq!(
            invalid(r#"{"type":"event","event":"foo"}"#),
            (None, "must have required property 'id'; at root: unexpected property 'event'; at /type: must be equal to constant".into())
        );
        assert_eq!(invalid("[1,2,3]"), (None, "must be object".into()));
        assert_eq!(invalid(r#"{"type":"req","method":"health"}"#).1, "must have required property 'id'");
        assert_eq!(invalid(r#"{"type":"req","id":"","method":"x"}"#).1, "at /id: must NOT have fewer than 1 characters");
        assert_eq!(parse_inbound("this is {not json"), Inbound::NotJson);
    }

    #[test]
    fn frames_serialise_as_expected() {
        assert_eq!(response_ok("a\"b", &json!({"ok": true})), r#"{"type":"res","id":"a\"b","ok":true,"payload":{"ok":true}}"#);
        let e = ErrorShape::unknown_method("no.such.method");
        assert_eq!(
            response_err("r1", &e),
            r#"{"type":"res","id":"r1","ok":false,"error":{"code":"INVALID_REQUEST","message":"unknown method: no.such.method"}}"#
        );
        assert_eq!(event_frame("tick", r#"{"ts":1}"#, Some(3), None), r#"{"type":"event","event":"tick","payload":{"ts":1},"seq":3}"#);
        let sv = StateVersion { presence: 1, health: 6 };
        assert!(event_frame("health", "{}", Some(1), Some(sv)).ends_with(r#""stateVersion":{"presence":1,"health":6}}"#));
        let m = ErrorShape::missing_scope("operator.admin");
        assert_eq!(
            to_json(&m),
            r#"{"code":"FORBIDDEN","message":"missing scope: operator.admin","details":{"code":"MISSING_SCOPE","missingScope":"operator.admin","requiredScopes":["operator.admin"]}}"#
        );
    }
}
