//! `POST /v1/responses` (the OpenResponses API): the same agent run as chat completions, with
//! the Responses request shape (`input` as a string or items, `instructions`, flat function
//! tools, `previous_response_id`) and its named SSE events, each with a `sequence_number`.

use serde_json::{Map, Value, json};
use smol::channel::{Receiver, Sender};
use std::sync::Arc;

use super::openai::{
    Conversation, Delivery, bad_request, build_run, deliver, failure_response, failure_status, parse_tools, request_agent, request_session,
    split_turns, stream_through,
};
use super::{Api, json_body};
use crate::agent::message::{Message, ToolCall};
use crate::agent::{EventKind, Origin, Outcome, RunEvent, RunStatus, SessionKey};
use crate::config::Config;
use crate::net::sse;

fn text_of(content: &Value, at: &str) -> Result<String, String> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut out = String::new();
            for (i, p) in parts.iter().enumerate() {
                match p["type"].as_str() {
                    Some("input_text" | "output_text" | "text") => out.push_str(p["text"].as_str().unwrap_or("")),
                    Some(other) => return Err(format!("{at}[{i}]: {other} is not supported by this gateway; send text")),
                    None => return Err(format!("{at}[{i}]: a content part needs a \"type\"")),
                }
            }
            Ok(out)
        }
        Value::Null => Ok(String::new()),
        _ => Err(format!("{at}: content must be a string or a list of parts")),
    }
}

/// Reads `input` (a string or a list of items) and `instructions`.
pub fn parse_input(body: &Map<String, Value>) -> Result<Conversation, String> {
    let mut system: Vec<String> = Vec::new();
    if let Some(i) = body.get("instructions").and_then(Value::as_str).filter(|s| !s.trim().is_empty()) {
        system.push(i.to_string());
    }
    let mut turns: Vec<Message> = Vec::new();
    match body.get("input") {
        Some(Value::String(s)) => turns.push(Message::user(s.clone())),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("input[{i}]");
                match item["type"].as_str().unwrap_or("message") {
                    "message" => {
                        let text = text_of(&item["content"], &format!("{at}.content"))?;
                        match item["role"].as_str() {
                            Some("user") => turns.push(Message::User { text }),
                            Some("assistant") => turns.push(Message::Assistant { text, tool_calls: Vec::new() }),
                            Some("system" | "developer") => system.push(text),
                            _ => return Err(format!("{at}.role must be user, assistant, system or developer")),
                        }
                    }
                    "function_call" => {
                        let call_id = item["call_id"].as_str().ok_or_else(|| format!("{at}.call_id is required"))?;
                        let name = item["name"].as_str().ok_or_else(|| format!("{at}.name is required"))?;
                        let args = item["arguments"].as_str().unwrap_or("{}");
                        let call = ToolCall {
                            id: call_id.to_string(),
                            name: name.to_string(),
                            arguments: serde_json::from_str(args).unwrap_or_else(|_| json!({"__invalid_arguments": args})),
                        };
                        // Consecutive calls belong to one assistant turn.
                        match turns.last_mut() {
                            Some(Message::Assistant { tool_calls, .. }) => tool_calls.push(call),
                            _ => turns.push(Message::Assistant { text: String::new(), tool_calls: vec![call] }),
                        }
                    }
                    "function_call_output" => {
                        let call_id = item["call_id"].as_str().ok_or_else(|| format!("{at}.call_id is required"))?;
                        let text = match &item["output"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let name = turns
                            .iter()
                            .rev()
                            .find_map(|t| match t {
                                Message::Assistant { tool_calls, .. } => {
                                    tool_calls.iter().find(|c| c.id == call_id).map(|c| c.name.clone())
                                }
                                _ => None,
                            })
                            .unwrap_or_default();
                        turns.push(Message::ToolResult { call_id: call_id.to_string(), name, text, is_error: false });
                    }
                    "reasoning" | "item_reference" => {}
                    other => return Err(format!("{at}: items of type {other:?} are not supported by this gateway")),
                }
            }
        }
        None => return Err("input: Invalid input: expected string or array, received undefined".into()),
        Some(_) => return Err("input: Invalid input: expected string or array".into()),
    }
    split_turns(system, turns)
        .map_err(|e| if e.starts_with("Missing user message") { "input must contain a user message".into() } else { e })
}

/// `POST /v1/responses`.
pub async fn create(api: &Arc<Api>, req: crate::net::http::Request, cfg: Arc<Config>) -> crate::net::http::Response {
    let body = match json_body(&req) {
        Ok(b) => b,
        Err(e) => return bad_request(&e),
    };
    let model_name = match body.get("model") {
        Some(Value::String(m)) => m.clone(),
        None => return bad_request("model: Invalid input: expected string, received undefined"),
        Some(_) => return bad_request("model: Invalid input: expected string"),
    };
    let agent_id = match request_agent(&req, &cfg, &model_name) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let (conversation, client_tools) = match parse_input(&body).and_then(|c| Ok((c, parse_tools(&body, true)?))) {
        Ok(parsed) => parsed,
        Err(e) => return bad_request(&e),
    };
    let previous = body.get("previous_response_id").and_then(Value::as_str).filter(|s| !s.is_empty());
    let session = match previous {
        Some(prev) => match api.response_session(prev).map(|k| SessionKey::parse(&k, &agent_id, None)) {
            Some(Ok(k)) => (k, true),
            Some(Err(e)) => return bad_request(&e),
            None => return bad_request(&format!("previous_response_id {prev:?} is not known to this gateway")),
        },
        None => {
            let user = body.get("user").and_then(Value::as_str);
            match request_session(&cfg, &agent_id, req.head.header("x-openclaw-session-key"), user, "openresponses", "openresponses-user") {
                Ok(s) => s,
                Err(e) => return bad_request(&e),
            }
        }
    };
    let run = build_run(&req, &cfg, Origin::Responses, session, conversation, client_tools);
    let meta = Meta {
        id: format!("resp_{}", run.run_id),
        created_at: crate::clock::now_ms() / 1000,
        model: model_name,
        previous: previous.map(str::to_string),
    };
    api.remember_response(&meta.id, &run.key.to_string());
    match deliver(&api.gw, run, body.get("stream").and_then(Value::as_bool).unwrap_or(false)).await {
        Err(resp) => resp,
        Ok(Delivery::Stream(events)) => stream_through(|tx| stream_response(events, tx, meta)),
        Ok(Delivery::Done(o)) => final_response(&o, &meta),
    }
}

struct Meta {
    id: String,
    created_at: u64,
    model: String,
    previous: Option<String>,
}

impl Meta {
    fn response(&self, status: &str, output: Vec<Value>, usage: Value, error: Value) -> Value {
        json!({"id": self.id, "object": "response", "created_at": self.created_at, "status": status, "model": self.model,
               "output": output, "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "usage": usage,
               "error": error, "incomplete_details": null, "previous_response_id": self.previous, "metadata": {}})
    }
}

fn usage_json(o: &Outcome) -> Value {
    let input = o.usage.input + o.usage.cache_read + o.usage.cache_write;
    json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": o.usage.cache_read, "cache_write_tokens": o.usage.cache_write},
           "output_tokens": o.usage.output, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input + o.usage.output})
}

fn zero_usage() -> Value {
    json!({"input_tokens": 0, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0}, "output_tokens": 0,
           "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0})
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    let content = if status == "in_progress" { json!([]) } else { json!([{"type": "output_text", "text": text, "annotations": []}]) };
    let mut item = json!({"type": "message", "id": id, "role": "assistant", "content": content, "status": status});
    if status == "completed" {
        item["phase"] = json!("final_answer");
    }
    item
}

fn call_item(call: &ToolCall, id: &str, status: &str) -> Value {
    let arguments = if status == "in_progress" { String::new() } else { call.arguments.to_string() };
    json!({"type": "function_call", "id": id, "call_id": call.id, "name": call.name, "arguments": arguments, "status": status})
}

fn output_items(o: &Outcome, message_id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if !o.text.is_empty() || o.client_tool_calls.is_empty() {
        out.push(message_item(message_id, &o.text, "completed"));
    }
    for (i, c) in o.client_tool_calls.iter().enumerate() {
        out.push(call_item(c, &format!("fc_{}_{i}", o.run_id), "completed"));
    }
    out
}

/// The error object of a failed response, with the official code names.
fn error_object(o: &Outcome) -> Value {
    let (status, _, message, _) = failure_status(o);
    let code = match status {
        429 => "rate_limit_exceeded",
        400 => "invalid_prompt",
        _ => "server_error",
    };
    json!({"code": code, "message": message})
}

fn final_response(o: &Arc<Outcome>, meta: &Meta) -> crate::net::http::Response {
    if o.status != RunStatus::Ok {
        return failure_response(o);
    }
    let output = output_items(o, &format!("msg_{}", o.run_id));
    crate::net::http::Response::json(200, &meta.response("completed", output, usage_json(o), Value::Null))
}

/// Writes named events with increasing `sequence_number`s.
struct EventWriter {
    tx: Sender<Vec<u8>>,
    seq: u64,
}

impl EventWriter {
    async fn send(&mut self, kind: &str, mut data: Value) -> bool {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        self.tx.send(sse::encode(Some(kind), &data.to_string())).await.is_ok()
    }
}

/// Turns the run's events into the Responses event sequence: `response.created`,
/// `response.in_progress`, the message item with its text deltas, function-call items, then
/// `response.completed` (or `response.failed`), then `data: [DONE]`.
async fn stream_response(events: Receiver<Arc<RunEvent>>, tx: Sender<Vec<u8>>, meta: Meta) {
    let mut w = EventWriter { tx: tx.clone(), seq: 0 };
    let pending = meta.response("in_progress", Vec::new(), zero_usage(), Value::Null);
    if !w.send("response.created", json!({"response": pending})).await
        || !w.send("response.in_progress", json!({"response": pending})).await
    {
        return;
    }
    let mut message_id: Option<String> = None;
    let outcome = match relay_deltas(&events, &mut w, &mut message_id).await {
        Relayed::Gone => return,
        Relayed::Ended(outcome) => outcome,
    };
    let Some(o) = outcome.clone().filter(|o| o.status == RunStatus::Ok) else {
        let error = match &outcome {
            Some(o) => error_object(o),
            None => json!({"code": "server_error", "message": "the run was aborted"}),
        };
        let failed = meta.response("failed", Vec::new(), zero_usage(), error);
        w.send("response.failed", json!({"response": failed})).await;
        let _ = tx.send(sse::encode(None, "[DONE]")).await;
        return;
    };
    if !complete_items(&mut w, &o, message_id).await {
        return;
    }
    let done = meta.response("completed", output_items(&o, &format!("msg_{}", o.run_id)), usage_json(&o), Value::Null);
    if w.send("response.completed", json!({"response": done})).await {
        let _ = tx.send(sse::encode(None, "[DONE]")).await;
    }
}

/// How the relay of a run's text ended.
enum Relayed {
    /// The client is gone; nothing more is sent.
    Gone,
    /// The run ended with this outcome, or its events stopped without one (`None`).
    Ended(Option<Arc<Outcome>>),
}

/// Passes the run's text on as `response.output_text.delta` events, opening the message item
/// before the first; `message_id` holds that item's id once it is open.
async fn relay_deltas(events: &Receiver<Arc<RunEvent>>, w: &mut EventWriter, message_id: &mut Option<String>) -> Relayed {
    while let Ok(ev) = events.recv().await {
        match &ev.kind {
            EventKind::Assistant { delta, .. } => {
                let id = match message_id {
                    Some(id) => id.clone(),
                    None => {
                        let id = format!("msg_{}", ev.run_id);
                        if !open_message(w, &id).await {
                            return Relayed::Gone;
                        }
                        *message_id = Some(id.clone());
                        id
                    }
                };
                let d = json!({"item_id": id, "output_index": 0, "content_index": 0, "delta": delta, "logprobs": []});
                if !w.send("response.output_text.delta", d).await {
                    return Relayed::Gone;
                }
            }
            EventKind::End(o) => return Relayed::Ended(Some(o.clone())),
            _ => {}
        }
    }
    Relayed::Ended(None)
}

/// The items of a successful run, completed: the message (when it has text, or when there is
/// nothing else), then one function-call item per client tool call. False when the client is gone.
async fn complete_items(w: &mut EventWriter, o: &Outcome, message_id: Option<String>) -> bool {
    let mut index = 0;
    if !o.text.is_empty() || o.client_tool_calls.is_empty() {
        let id = match message_id {
            Some(id) => id,
            None => {
                let id = format!("msg_{}", o.run_id);
                if !open_message(w, &id).await {
                    return false;
                }
                id
            }
        };
        let part = json!({"type": "output_text", "text": o.text, "annotations": []});
        let steps = [
            ("response.output_text.done", json!({"item_id": id, "output_index": 0, "content_index": 0, "text": o.text, "logprobs": []})),
            ("response.content_part.done", json!({"item_id": id, "output_index": 0, "content_index": 0, "part": part})),
            ("response.output_item.done", json!({"output_index": 0, "item": message_item(&id, &o.text, "completed")})),
        ];
        for (kind, data) in steps {
            if !w.send(kind, data).await {
                return false;
            }
        }
        index = 1;
    }
    for (i, c) in o.client_tool_calls.iter().enumerate() {
        let id = format!("fc_{}_{i}", o.run_id);
        let out_index = index + i;
        let args = c.arguments.to_string();
        let steps = [
            ("response.output_item.added", json!({"output_index": out_index, "item": call_item(c, &id, "in_progress")})),
            ("response.function_call_arguments.delta", json!({"item_id": id, "output_index": out_index, "delta": args})),
            ("response.function_call_arguments.done", json!({"item_id": id, "output_index": out_index, "arguments": args, "name": c.name})),
            ("response.output_item.done", json!({"output_index": out_index, "item": call_item(c, &id, "completed")})),
        ];
        for (kind, data) in steps {
            if !w.send(kind, data).await {
                return false;
            }
        }
    }
    true
}

async fn open_message(w: &mut EventWriter, id: &str) -> bool {
    w.send("response.output_item.added", json!({"output_index": 0, "item": message_item(id, "", "in_progress")})).await
        && w.send(
            "response.content_part.added",
            json!({"item_id": id, "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn input_items_become_a_conversation() {
        let c = parse_input(&body(json!({"instructions": "be brief", "input": "hi"}))).unwrap();
        assert_eq!((c.system, c.input), (vec!["be brief".to_string()], vec![Message::user("hi")]));
        let c = parse_input(&body(json!({"input": [
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "function_call", "call_id": "c1", "name": "get", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": {"temp": 18}},
        ]})))
        .unwrap();
        assert_eq!(c.history.len(), 2);
        assert_eq!(
            c.input,
            vec![Message::ToolResult { call_id: "c1".into(), name: "get".into(), text: "{\"temp\":18}".into(), is_error: false }]
        );
        assert!(parse_input(&body(json!({}))).unwrap_err().starts_with("input: Invalid input"));
        assert!(parse_input(&body(json!({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}))).is_err());
    }
}
