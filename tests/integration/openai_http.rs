//! The OpenAI-compatible HTTP API on the gateway port: `/v1/models`, `/v1/chat/completions`
//! (JSON and SSE), `/v1/responses` (JSON and named events), auth, errors, caller-side tools and
//! sessions, against a fake provider.

use serde_json::{Value, json};
use std::time::Duration;

use crate::support::fake_llm::{FakeLlm, Flavor, Reply};
use crate::support::*;

const KEY: &str = "mock-key";

fn gateway(fake: &FakeLlm) -> Gw {
    Gw::builder()
        .config(json!({
            "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN},
                        "http": {"endpoints": {"chatCompletions": {"enabled": true}, "responses": {"enabled": true}}}},
            "models": {"providers": {"mock": {"baseUrl": fake.base_url(), "apiKey": KEY, "models": [{"id": "echo"}]}}},
            "agents": {"defaults": {"model": "mock/echo"}, "entries": {"main": {}, "helper": {"name": "Helper"}}}
        }))
        .start()
}

async fn post(port: u16, path: &str, body: Value) -> HttpResponse {
    http_post(port, path, &[("Authorization", BEARER)], &body.to_string()).await
}

#[test]
fn the_api_needs_the_gateway_secret() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = gateway(&fake);
    block_on(async {
        let body = json!({"messages": [{"role": "user", "content": "hi"}]}).to_string();
        for headers in [vec![], vec![("Authorization", "Bearer wrong")], vec![("Authorization", "Basic abc")]] {
            let r = http_post(gw.port, "/v1/chat/completions", &headers, &body).await;
            assert_eq!(r.status, 401);
            assert_eq!(r.json(), json!({"error": {"message": "Unauthorized", "type": "unauthorized"}}));
        }
        let r = http_get(gw.port, "/v1/models").await;
        assert_eq!(r.status, 401);
        // Refused on its head: a 10 MB body that never comes is not waited for.
        let mut conn = HttpConn::open(gw.port).await;
        conn.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{")
            .await;
        let r = conn.response(false).await.expect("an answer before the body");
        assert_eq!(r.status, 401);
        // A failed secret ends even a bodiless keep-alive connection: each guess costs a new one.
        let mut conn = HttpConn::open(gw.port).await;
        let guess = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer guess\r\nContent-Length: 0\r\n\r\n";
        conn.send(guess).await;
        assert_eq!(conn.response(false).await.expect("refused").status, 401);
        // (the server drains what it is sent while it closes, so this write still lands)
        conn.send(guess).await;
        let started = std::time::Instant::now();
        assert!(conn.response(false).await.is_none(), "a second guess on the same connection is not answered");
        assert!(started.elapsed() < Duration::from_secs(5), "closed, not just silent");
        assert_eq!(fake.count(), 0);
    });
}

#[test]
fn models_lists_the_agents_as_openai_models() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = gateway(&fake);
    block_on(async {
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {BEARER}\r\nConnection: close\r\n\r\n");
        let r = http_raw(gw.port, get("/v1/models").as_bytes()).await;
        assert_eq!(r.status, 200);
        let ids: Vec<String> = r.json()["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids, vec!["openclaw", "openclaw/default", "openclaw/main", "openclaw/helper"]);
        assert_eq!(
            r.json()["data"][0],
            json!({"id": "openclaw", "object": "model", "created": 0, "owned_by": "openclaw", "permission": []})
        );
        let r = http_raw(gw.port, get("/v1/models/openclaw%2Fhelper").as_bytes()).await;
        assert_eq!((r.status, r.json()["id"].as_str()), (200, Some("openclaw/helper")));
        let r = http_raw(gw.port, get("/v1/models/gpt-4o").as_bytes()).await;
        assert_eq!(r.status, 404);
        assert_eq!(r.json()["error"]["code"], "model_not_found");
    });
}

#[test]
fn chat_completions_answers_with_the_agent() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = gateway(&fake);
    block_on(async {
        let r = post(
            gw.port,
            "/v1/chat/completions",
            json!({"model": "openclaw", "messages": [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "hi"}]}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.json();
        assert!(body["id"].as_str().unwrap().starts_with("chatcmpl_"));
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], "openclaw");
        assert_eq!(body["choices"][0]["message"], json!({"role": "assistant", "content": "Hello from the mock model."}));
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        assert_eq!(body["usage"]["completion_tokens"], 6);
        let req = &fake.requests()[0];
        assert!(req.body["messages"][0]["content"].as_str().unwrap().ends_with("Answer in one word.\n"), "system messages join the prompt");
        assert_eq!(req.last_user_text(), "hi");

        // Stateless: a second call carries its own history and starts a new session.
        let r = post(
            gw.port,
            "/v1/chat/completions",
            json!({"model": "openclaw/helper", "messages": [
            {"role": "user", "content": "one"}, {"role": "assistant", "content": "uno"}, {"role": "user", "content": "two"}]}),
        )
        .await;
        assert_eq!(r.status, 200);
        let msgs = fake.requests()[1].body["messages"].as_array().unwrap().clone();
        let texts: Vec<&str> = msgs.iter().skip(1).map(|m| m["content"].as_str().unwrap()).collect();
        assert_eq!(texts, vec!["one", "uno", "two"]);
        assert!(msgs[0]["content"].as_str().unwrap().starts_with("You are Helper"), "the helper agent answered");
    });
}

#[test]
fn chat_completions_streams_chunks_and_ends_with_done() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = gateway(&fake);
    block_on(async {
        let r = post(
            gw.port,
            "/v1/chat/completions",
            json!({"stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("text/event-stream; charset=utf-8"));
        assert_eq!(r.header("Cache-Control"), Some("no-cache"));
        let events = r.sse();
        assert!(events.iter().all(|(name, _)| name.is_none()), "chat completions use data: lines only");
        assert_eq!(events.last().unwrap().1, "[DONE]");
        let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|(_, d)| serde_json::from_str(d).unwrap()).collect();
        assert_eq!(chunks[0]["choices"][0]["delta"], json!({"role": "assistant"}));
        let id = chunks[0]["id"].as_str().unwrap();
        assert!(chunks.iter().all(|c| c["id"] == id && c["object"] == "chat.completion.chunk"));
        let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(text, "Hello from the mock model.");
        let finish = chunks.iter().find(|c| !c["choices"][0]["finish_reason"].is_null()).unwrap();
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        let usage = chunks.last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 6);
    });
}

#[test]
fn bad_requests_get_openai_error_objects() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = gateway(&fake);
    block_on(async {
        let r = http_post(gw.port, "/v1/chat/completions", &[("Authorization", BEARER)], "{bad").await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
        assert!(r.json()["error"]["message"].as_str().unwrap().starts_with("invalid JSON body"));
        let r = post(gw.port, "/v1/chat/completions", json!({})).await;
        assert_eq!(r.json(), json!({"error": {"message": "Missing user message in `messages`.", "type": "invalid_request_error"}}));
        let r = post(gw.port, "/v1/chat/completions", json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})).await;
        assert_eq!(r.status, 400);
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("not an agent"));
        let r =
            post(gw.port, "/v1/chat/completions", json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})).await;
        assert_eq!(r.status, 400);
        let r =
            http_raw(gw.port, format!("GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: {BEARER}\r\n\r\n").as_bytes()).await;
        assert_eq!((r.status, r.header("Allow")), (405, Some("POST")));
        let big = format!("{{\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}", "x".repeat(21 * 1024 * 1024));
        let r = http_post(gw.port, "/v1/chat/completions", &[("Authorization", BEARER)], &big).await;
        assert_eq!(r.status, 413);
        // Within the body limit but past the run's input limit: refused before the model, no session.
        let r = post(
            gw.port,
            "/v1/chat/completions",
            json!({"user": "huge", "messages": [{"role": "user", "content": "x".repeat(1_000_001)}]}),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("the limit is 1000000"), "{}", r.text());
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        assert_eq!(c.call("sessions.list", json!({"search": "huge"})).await["count"], 0);
        assert_eq!(fake.count(), 0);
    });
}

#[test]
fn model_failures_map_to_http_errors_or_in_band_stream_errors() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some("a-different-key"));
    let gw = gateway(&fake);
    block_on(async {
        let msgs = json!([{"role": "user", "content": "hi"}]);
        let r = post(gw.port, "/v1/chat/completions", json!({"messages": msgs})).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"]["type"], "authentication_error");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("Incorrect API key provided"));
        assert_eq!(r.header("x-should-retry"), Some("false"));

        let r = post(gw.port, "/v1/chat/completions", json!({"messages": msgs, "stream": true})).await;
        assert_eq!(r.status, 200, "a stream has begun before the model answers");
        let events = r.sse();
        assert_eq!(events.len(), 3, "{events:?}");
        let err: Value = serde_json::from_str(&events[1].1).unwrap();
        assert_eq!(err["error"]["type"], "authentication_error");
        assert_eq!(events[2].1, "[DONE]");
    });
}

#[test]
fn caller_tools_come_back_as_tool_calls_and_results_continue_the_turn() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::tool("call_w", "get_weather", json!({"city": "Oslo"})));
    fake.push(Reply::text(&["It is sunny in Oslo."]));
    let gw = gateway(&fake);
    block_on(async {
        let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
                                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
        let first = json!([{"role": "user", "content": "weather in Oslo?"}]);
        let r = post(gw.port, "/v1/chat/completions", json!({"messages": first, "tools": tools})).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.json();
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        let call = body["choices"][0]["message"]["tool_calls"][0].clone();
        assert_eq!(
            call,
            json!({"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}})
        );
        assert_eq!(body["choices"][0]["message"]["content"], Value::Null);
        let offered = fake.requests()[0].body["tools"].as_array().unwrap().clone();
        assert!(offered.iter().any(|t| t["function"]["name"] == "get_weather") && offered.iter().any(|t| t["function"]["name"] == "read"));

        let second = json!([
            {"role": "user", "content": "weather in Oslo?"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_w", "content": "{\"sky\":\"clear\"}"}]);
        let r = post(gw.port, "/v1/chat/completions", json!({"messages": second, "tools": tools, "stream": true})).await;
        let text: String = r
            .sse()
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .filter_map(|(_, d)| serde_json::from_str::<Value>(d).unwrap()["choices"][0]["delta"]["content"].as_str().map(str::to_string))
            .collect();
        assert_eq!(text, "It is sunny in Oslo.");
        let sent = fake.requests()[1].body["messages"].as_array().unwrap().clone();
        assert_eq!(sent.last().unwrap(), &json!({"role": "tool", "tool_call_id": "call_w", "content": "{\"sky\":\"clear\"}"}));
    });
}

#[test]
fn a_user_gets_a_stable_session_that_keeps_the_conversation() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = gateway(&fake);
    block_on(async {
        for q in ["first question", "second question"] {
            let r = post(gw.port, "/v1/chat/completions", json!({"user": "bob", "messages": [{"role": "user", "content": q}]})).await;
            assert_eq!(r.status, 200);
        }
        let second = fake.requests()[1].body["messages"].as_array().unwrap().clone();
        let texts: Vec<&str> = second.iter().skip(1).map(|m| m["content"].as_str().unwrap()).collect();
        assert_eq!(texts, vec!["first question", "Hello from the mock model.", "second question"]);
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let list = c.call("sessions.list", json!({"search": "bob"})).await;
        assert_eq!(list["sessions"][0]["key"], "agent:main:openai-user:bob");
    });
}

#[test]
fn a_client_that_leaves_a_stream_aborts_the_run() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::slow(&["one", " two", " three", " four", " five"], Duration::from_millis(300)));
    let gw = gateway(&fake);
    block_on(async {
        let body = json!({"stream": true, "user": "leaver", "messages": [{"role": "user", "content": "count"}]}).to_string();
        let mut conn = HttpConn::open(gw.port).await;
        conn.send(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: {BEARER}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
        let mut first = [0u8; 256];
        smol::io::AsyncReadExt::read(&mut conn.stream, &mut first).await.unwrap();
        drop(conn);
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let list = c.call("sessions.list", json!({"search": "leaver"})).await;
            if list["sessions"][0]["status"] == "aborted" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the run was not aborted: {list}");
            smol::Timer::after(Duration::from_millis(50)).await;
        }
    });
}

#[test]
fn responses_answers_in_the_responses_shape() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = gateway(&fake);
    block_on(async {
        let r = post(gw.port, "/v1/responses", json!({})).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"]["message"], "model: Invalid input: expected string, received undefined");

        let r = post(gw.port, "/v1/responses", json!({"model": "openclaw", "input": "hi", "instructions": "be brief"})).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.json();
        assert!(body["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!((body["object"].as_str(), body["status"].as_str()), (Some("response"), Some("completed")));
        let item = &body["output"][0];
        assert_eq!((item["type"].as_str(), item["role"].as_str()), (Some("message"), Some("assistant")));
        assert_eq!(item["content"][0], json!({"type": "output_text", "text": "Hello from the mock model.", "annotations": []}));
        assert_eq!(body["usage"]["output_tokens"], 6);

        // previous_response_id continues the same session.
        let r =
            post(gw.port, "/v1/responses", json!({"model": "openclaw", "input": "and again", "previous_response_id": body["id"]})).await;
        assert_eq!(r.status, 200);
        let sent = fake.requests()[1].body["messages"].as_array().unwrap().clone();
        let texts: Vec<&str> = sent.iter().skip(1).map(|m| m["content"].as_str().unwrap()).collect();
        assert_eq!(texts, vec!["hi", "Hello from the mock model.", "and again"]);
        let r = post(gw.port, "/v1/responses", json!({"model": "openclaw", "input": "x", "previous_response_id": "resp_unknown"})).await;
        assert_eq!(r.status, 400);
    });
}

#[test]
fn responses_streams_the_named_events_in_order() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = gateway(&fake);
    block_on(async {
        let r = post(gw.port, "/v1/responses", json!({"model": "openclaw", "input": "hi", "stream": true})).await;
        assert_eq!(r.status, 200);
        let events = r.sse();
        assert_eq!(events.last().unwrap(), &(None, "[DONE]".to_string()));
        let named: Vec<(String, Value)> =
            events[..events.len() - 1].iter().map(|(e, d)| (e.clone().expect("named event"), serde_json::from_str(d).unwrap())).collect();
        let kinds: Vec<&str> = named.iter().map(|(k, _)| k.as_str()).collect();
        let deltas = kinds.iter().filter(|k| **k == "response.output_text.delta").count();
        assert!(deltas >= 1);
        let mut expected = vec!["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"];
        expected.extend(std::iter::repeat_n("response.output_text.delta", deltas));
        expected.extend(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]);
        assert_eq!(kinds, expected);
        for (i, (kind, data)) in named.iter().enumerate() {
            assert_eq!(data["type"], kind.as_str(), "the data names its event");
            assert_eq!(data["sequence_number"], i, "sequence numbers count from 0");
        }
        let text: String =
            named.iter().filter(|(k, _)| k == "response.output_text.delta").map(|(_, d)| d["delta"].as_str().unwrap()).collect();
        assert_eq!(text, "Hello from the mock model.");
        assert!(named.iter().filter(|(k, _)| k.starts_with("response.output_text.")).all(|(_, d)| d["logprobs"] == json!([])));
        let done = &named.last().unwrap().1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello from the mock model.");
    });
}

#[test]
fn responses_returns_function_calls_and_reports_failures() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::tool("call_9", "lookup", json!({"q": "x"})));
    fake.push(Reply::status(400, "bad request upstream"));
    let gw = gateway(&fake);
    block_on(async {
        let tools =
            json!([{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]);
        let r = post(gw.port, "/v1/responses", json!({"model": "openclaw", "input": "find x", "tools": tools, "stream": true})).await;
        let named: Vec<(String, Value)> =
            r.sse().into_iter().filter(|(e, _)| e.is_some()).map(|(e, d)| (e.unwrap(), serde_json::from_str(&d).unwrap())).collect();
        let call = named.iter().find(|(k, _)| k == "response.function_call_arguments.done").expect("function call events");
        assert_eq!((call.1["name"].as_str(), call.1["arguments"].as_str()), (Some("lookup"), Some("{\"q\":\"x\"}")));
        let done = &named.last().unwrap().1["response"];
        assert_eq!(done["output"][0]["type"], "function_call");
        assert_eq!(done["output"][0]["call_id"], "call_9");

        let r = post(gw.port, "/v1/responses", json!({"model": "openclaw", "input": "fail", "stream": true})).await;
        let named: Vec<(Option<String>, String)> = r.sse();
        let failed = named.iter().find(|(k, _)| k.as_deref() == Some("response.failed")).expect("response.failed");
        let data: Value = serde_json::from_str(&failed.1).unwrap();
        assert_eq!(data["response"]["status"], "failed");
        assert!(data["response"]["error"]["message"].as_str().unwrap().contains("bad request upstream"));
    });
}
