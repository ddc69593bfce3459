//! The agent over WebSocket: `chat.send` and its `chat`/`agent` event streams, `agent` with its
//! two responses, history, abort, queueing, idempotency, retries and fallbacks against fake
//! providers with injected faults, tools, sessions, and transcripts that survive `kill -9`.

use serde_json::{Value, json};
use std::time::Duration;

use crate::support::fake_llm::{DEFAULT_PIECES, FakeLlm, Flavor, Reply};
use crate::support::*;

const KEY: &str = "mock-key";

/// A config whose default model is `mock/echo` on `fake` (plus `extra` merged in).
fn config(fake: &FakeLlm, extra: Value) -> Value {
    let mut c = json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
        "models": {"providers": {"mock": {"baseUrl": fake.base_url(), "apiKey": KEY, "api": "openai-completions",
                                          "models": [{"id": "echo", "contextWindow": 32768}]}}},
        "agents": {"defaults": {"model": "mock/echo"}}
    });
    merge(&mut c, extra);
    c
}

fn start(fake: &FakeLlm) -> Gw {
    Gw::builder().config(config(fake, json!({}))).start()
}

fn is_terminal_chat(f: &Value, run_id: &str) -> bool {
    f["event"] == "chat"
        && f["payload"]["runId"] == run_id
        && ["final", "aborted", "error"].contains(&f["payload"]["state"].as_str().unwrap_or(""))
}

/// Sends `chat.send` and returns the ack and every frame up to the run's terminal chat event.
async fn chat(c: &mut Client, session: &str, message: &str) -> (Value, Vec<Value>) {
    let run_id = format!("run-{}", uuid());
    let ack = c.call("chat.send", json!({"sessionKey": session, "message": message, "idempotencyKey": run_id})).await;
    let frames = c.collect_until(WAIT, |f| is_terminal_chat(f, &run_id)).await;
    (ack, frames)
}

fn uuid() -> String {
    format!("{:x}{:x}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

fn of_run<'a>(frames: &'a [Value], event: &str, run_id: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["event"] == event && f["payload"]["runId"] == run_id).collect()
}

#[test]
fn chat_send_streams_deltas_then_the_final_answer_and_keeps_the_transcript() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = Gw::builder().config(config(&fake, json!({}))).start_with(|home| {
        let ws = home.join(".openclaw/workspace");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("SOUL.md"), "Always answer like a lighthouse keeper.").unwrap();
    });
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let (ack, frames) = chat(&mut c, "main", "Hello there").await;
        let run_id = ack["runId"].as_str().unwrap().to_string();
        assert_eq!(ack["status"], "started");
        assert!(run_id.starts_with("run-"), "runId is the idempotency key: {ack}");

        let chats = of_run(&frames, "chat", &run_id);
        assert_eq!(chats[0]["payload"]["state"], "status");
        assert_eq!(chats[0]["payload"]["phase"], "preparing_workspace");
        assert_eq!(chats[0]["payload"]["sessionKey"], "agent:main:main", "main is canonicalised");
        let deltas: Vec<&Value> = chats.iter().copied().filter(|f| f["payload"]["state"] == "delta").collect();
        assert!(!deltas.is_empty());
        let joined: String = deltas.iter().map(|d| d["payload"]["deltaText"].as_str().unwrap()).collect();
        assert_eq!(joined, "Hello from the mock model.", "deltas add up to the answer");
        let last = chats.last().unwrap();
        assert_eq!(last["payload"]["state"], "final");
        assert_eq!(last["payload"]["stopReason"], "stop");
        assert_eq!(last["payload"]["message"]["content"][0]["text"], "Hello from the mock model.");

        let agents = of_run(&frames, "agent", &run_id);
        let streams: Vec<&str> = agents.iter().map(|a| a["payload"]["stream"].as_str().unwrap()).collect();
        assert!(streams.contains(&"run_status") && streams.contains(&"assistant") && streams.contains(&"usage"), "{streams:?}");
        let phases: Vec<&str> = agents
            .iter()
            .filter(|a| a["payload"]["stream"] == "lifecycle")
            .map(|a| a["payload"]["data"]["phase"].as_str().unwrap())
            .collect();
        assert_eq!(phases, vec!["start", "model", "end"]);
        let model = agents.iter().find(|a| a["payload"]["data"]["phase"] == "model").unwrap();
        assert_eq!(model["payload"]["data"], json!({"phase": "model", "provider": "mock", "model": "echo"}));
        let usage = agents.iter().find(|a| a["payload"]["stream"] == "usage").unwrap();
        assert_eq!(usage["payload"]["data"]["outputTokens"], 6);
        let seqs: Vec<u64> = agents.iter().map(|a| a["payload"]["seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "per-run seq increases: {seqs:?}");

        // What the model was sent.
        let req = &fake.requests()[0];
        assert_eq!(req.header("authorization"), Some("Bearer mock-key"));
        assert_eq!(req.body["stream"], true);
        assert_eq!(req.body["model"], "echo");
        assert_eq!(req.last_user_text(), "Hello there");
        let system = req.body["messages"][0]["content"].as_str().unwrap();
        assert!(system.contains("Always answer like a lighthouse keeper."), "workspace files reach the prompt");
        assert!(req.body["tools"].as_array().unwrap().iter().any(|t| t["function"]["name"] == "read"));

        let history = c.call("chat.history", json!({"sessionKey": "main"})).await;
        let msgs = history["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[0]["role"].as_str(), msgs[0]["content"].as_str()), (Some("user"), Some("Hello there")));
        assert_eq!(msgs[1]["content"][0]["text"], "Hello from the mock model.");
        assert_eq!(msgs[1]["__openclaw"]["seq"], 2);
        assert_eq!(history["sessionInfo"]["hasActiveRun"], false);

        let dir = gw.state_dir().join("agents/main/sessions");
        let transcript = std::fs::read_dir(&dir).unwrap().flatten().find(|e| e.file_name().to_string_lossy().ends_with(".jsonl")).unwrap();
        let lines = std::fs::read_to_string(transcript.path()).unwrap();
        assert_eq!(lines.lines().count(), 3, "header, user, assistant: {lines}");
        assert!(lines.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
        // The index's end-of-run bookkeeping is written a moment later, batched.
        let deadline = std::time::Instant::now() + WAIT;
        let index = loop {
            // Absent until that first batch lands; replaced whole (a rename) when it does.
            let index: Value = match std::fs::read_to_string(dir.join("sessions.json")) {
                Ok(text) => serde_json::from_str(&text).unwrap(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
                Err(e) => panic!("sessions.json: {e}"),
            };
            if index["agent:main:main"]["status"] == "done" || std::time::Instant::now() > deadline {
                break index;
            }
            smol::Timer::after(Duration::from_millis(50)).await;
        };
        assert_eq!(index["agent:main:main"]["status"], "done");
        assert_eq!(index["agent:main:main"]["outputTokens"], 6);
    });
}

#[test]
fn a_repeated_idempotency_key_does_not_start_a_second_run() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::slow(&["slow", " answer"], Duration::from_millis(300)));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let params = json!({"sessionKey": "main", "message": "once", "idempotencyKey": "same-key"});
        assert_eq!(c.call("chat.send", params.clone()).await["status"], "started");
        assert_eq!(c.call("chat.send", params.clone()).await["status"], "in_flight");
        c.collect_until(WAIT, |f| is_terminal_chat(f, "same-key")).await;
        assert_eq!(c.call("chat.send", params).await, json!({"runId": "same-key", "status": "ok"}));
        assert_eq!(fake.count(), 1, "the model was called once");
    });
}

#[test]
fn a_message_during_a_run_waits_its_turn_and_runs_next() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::slow(&["first", " answer"], Duration::from_millis(200)));
    fake.push(Reply::text(&["second answer"]));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        c.call("chat.send", json!({"sessionKey": "main", "message": "one", "idempotencyKey": "q1"})).await;
        c.call("chat.send", json!({"sessionKey": "main", "message": "two", "idempotencyKey": "q2"})).await;
        let frames = c.collect_until(WAIT, |f| is_terminal_chat(f, "q2")).await;
        let ends: Vec<&str> = frames
            .iter()
            .filter(|f| f["event"] == "chat" && f["payload"]["state"] == "final")
            .map(|f| f["payload"]["runId"].as_str().unwrap())
            .collect();
        assert_eq!(ends, vec!["q1", "q2"], "one run at a time per session, in order");
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 2);
        let second = reqs[1].body["messages"].as_array().unwrap();
        let texts: Vec<String> = second.iter().skip(1).map(|m| m["content"].as_str().unwrap_or("").to_string()).collect();
        assert_eq!(texts, vec!["one", "first answer", "two"], "the second run sees the first exchange");
    });
}

#[test]
fn chat_abort_stops_the_run_and_saves_the_partial_answer_marked_aborted() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::slow(&["partial", " words", " never", " finished"], Duration::from_millis(400)));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        c.call("chat.send", json!({"sessionKey": "main", "message": "talk slowly", "idempotencyKey": "ab1"})).await;
        c.collect_until(WAIT, |f| f["event"] == "chat" && f["payload"]["state"] == "delta").await;
        let res = c.call("chat.abort", json!({"sessionKey": "main"})).await;
        assert_eq!(res, json!({"ok": true, "aborted": true, "runIds": ["ab1"]}));
        let frames = c.collect_until(WAIT, |f| is_terminal_chat(f, "ab1")).await;
        let end = frames.last().unwrap();
        assert_eq!(end["payload"]["state"], "aborted");
        assert!(end["payload"]["message"]["content"][0]["text"].as_str().unwrap().starts_with("partial"));
        let history = c.call("chat.history", json!({"sessionKey": "main"})).await;
        let last = history["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["stopReason"], "aborted");
        assert!(last["content"][0]["text"].as_str().unwrap().starts_with("partial"));
        let res = c.call("chat.abort", json!({"sessionKey": "main"})).await;
        assert_eq!(res["aborted"], false, "nothing left to abort");
    });
}

#[test]
fn agent_answers_accepted_then_the_result_on_the_same_request_id() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let id = c.send_request("agent", json!({"message": "Say hi", "idempotencyKey": "ag-1"})).await;
        let first = c.response(&id).await;
        assert_eq!(first["ok"], true);
        assert_eq!(first["payload"]["status"], "accepted");
        assert_eq!(first["payload"]["runId"], "ag-1");
        assert!(first["payload"]["acceptedAt"].as_u64().is_some());
        let second = c.response(&id).await;
        assert_eq!(second["ok"], true, "{second}");
        assert_eq!(second["payload"]["status"], "ok");
        assert_eq!(second["payload"]["result"]["payloads"][0]["text"], "Hello from the mock model.");
        assert_eq!(second["payload"]["result"]["meta"]["agentMeta"]["sessionKey"], "agent:main:explicit:ag-1");
        let waited = c.call("agent.wait", json!({"runId": "ag-1", "timeoutMs": 1000})).await;
        assert_eq!(waited["status"], "ok");
        assert!(waited["endedAt"].as_u64() >= waited["startedAt"].as_u64());
        let unknown = c.call("agent.wait", json!({"runId": "never", "timeoutMs": 200})).await;
        assert_eq!(unknown, json!({"runId": "never", "status": "timeout"}));
    });
}

#[test]
fn a_failed_agent_run_answers_with_an_error_and_its_summary() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some("another-key"));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let id = c.send_request("agent", json!({"message": "hi", "idempotencyKey": "ag-err"})).await;
        assert_eq!(c.response(&id).await["payload"]["status"], "accepted");
        let fin = c.response(&id).await;
        assert_eq!(fin["ok"], false);
        assert_eq!(fin["error"]["code"], "UNAVAILABLE");
        assert!(fin["error"]["message"].as_str().unwrap().contains("Incorrect API key provided"), "{fin}");
        assert_eq!(fin["payload"]["status"], "error");
        assert_eq!(fake.count(), 1, "an auth failure is not retried");
    });
}

#[test]
fn rate_limits_are_retried_after_retry_after_and_server_errors_with_backoff() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::rate_limited("1"));
    fake.push(Reply::status(503, "upstream overloaded"));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let started = std::time::Instant::now();
        let (_, frames) = chat(&mut c, "main", "hi").await;
        assert_eq!(frames.last().unwrap()["payload"]["state"], "final");
        assert_eq!(fake.count(), 3, "429, 503, then success");
        assert!(started.elapsed() >= Duration::from_millis(1000), "Retry-After: 1 was honoured");
    });
}

#[test]
fn a_failing_primary_falls_back_to_the_next_model() {
    let primary = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    for _ in 0..3 {
        primary.push(Reply::status(500, "primary is down"));
    }
    let backup = FakeLlm::start(Flavor::Anthropic, Some("anth-key"));
    let cfg = config(
        &primary,
        json!({"models": {"providers": {"anth": {"baseUrl": backup.base_url(), "apiKey": "anth-key", "api": "anthropic-messages"}}},
               "agents": {"defaults": {"model": {"primary": "mock/echo", "fallbacks": ["anth/claude-test"]}}}}),
    );
    let gw = Gw::builder().config(cfg).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let (ack, frames) = chat(&mut c, "main", "hi").await;
        let run_id = ack["runId"].as_str().unwrap();
        let fallback =
            of_run(&frames, "agent", run_id).into_iter().find(|a| a["payload"]["data"]["phase"] == "fallback_step").expect("fallback step");
        assert_eq!(fallback["payload"]["data"]["fallbackStepFromModel"], "mock/echo");
        assert_eq!(fallback["payload"]["data"]["fallbackStepToModel"], "anth/claude-test");
        assert!(fallback["payload"]["data"]["fallbackStepFromFailureDetail"].as_str().unwrap().contains("primary is down"));
        let end = frames.last().unwrap();
        assert_eq!(end["payload"]["state"], "final");
        assert_eq!(end["payload"]["message"]["content"][0]["text"], DEFAULT_PIECES.concat());
        assert_eq!(primary.count(), 3, "the primary was tried three times");
        let req = &backup.requests()[0];
        assert_eq!(req.header("x-api-key"), Some("anth-key"));
        assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(req.body["model"], "claude-test");
        assert!(req.body["max_tokens"].as_u64().unwrap() > 0);
        assert!(req.body["system"].as_str().unwrap().contains("OpenClaw"));
    });
}

/// Every fault the fakes can inject, against one provider flavor: each ends in a clear error (or
/// a successful retry), never a hang, and the gateway keeps serving.
fn provider_faults(flavor: Flavor) {
    let fake = FakeLlm::start(flavor, Some(KEY));
    let mut cfg = config(&fake, json!({}));
    if flavor == Flavor::Anthropic {
        cfg["models"]["providers"]["mock"]["api"] = json!("anthropic-messages");
    }
    let gw = Gw::builder().config(cfg).env("OPENCLAW_MODEL_IDLE_TIMEOUT_MS", "400").start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;

        // Rate limited with Retry-After: retried, then answered.
        fake.push(Reply::rate_limited("0"));
        let before = fake.count();
        let (_, frames) = chat(&mut c, "limited", "hi").await;
        assert_eq!(frames.last().unwrap()["payload"]["state"], "final");
        assert_eq!(fake.count() - before, 2);

        // A server error on every attempt: the provider's own message, with the status.
        for _ in 0..3 {
            fake.push(Reply::status(500, "the upstream broke"));
        }
        let (_, frames) = chat(&mut c, "broken", "hi").await;
        let end = &frames.last().unwrap()["payload"];
        assert_eq!(end["state"], "error");
        assert_eq!(end["errorMessage"], "mock returned HTTP 500: the upstream broke");
        assert_eq!(end["errorDetail"]["httpStatus"], 500);

        // A stall: every attempt times out, then the run fails with a timeout.
        for _ in 0..3 {
            fake.push(Reply::Stall);
        }
        let (_, frames) = chat(&mut c, "stall", "hi").await;
        let end = &frames.last().unwrap()["payload"];
        assert_eq!(end["state"], "error");
        assert_eq!(end["errorKind"], "timeout", "{end}");

        // A stream cut in the middle: an error, and the words that did arrive are kept.
        fake.push(Reply::CutAfter(vec!["Hel".into(), "lo".into()]));
        let (_, frames) = chat(&mut c, "cut", "hi").await;
        let end = &frames.last().unwrap()["payload"];
        assert_eq!(end["state"], "error");
        assert!(end["errorMessage"].as_str().unwrap().contains("before the model finished"), "{end}");
        let history = c.call("chat.history", json!({"sessionKey": "cut"})).await;
        let last = history["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["stopReason"].as_str(), last["content"][0]["text"].as_str()), (Some("error"), Some("Hello")));

        // Malformed chunks.
        fake.push(Reply::Malformed);
        let (_, frames) = chat(&mut c, "bad", "hi").await;
        let end = &frames.last().unwrap()["payload"];
        assert_eq!(end["state"], "error");
        assert!(end["errorMessage"].as_str().unwrap().contains("unreadable"), "{end}");

        // An error reported inside the stream after some text.
        fake.push(Reply::StreamError("the model crashed".into()));
        let (_, frames) = chat(&mut c, "err", "hi").await;
        let end = &frames.last().unwrap()["payload"];
        assert_eq!(end["state"], "error");
        assert!(end["errorMessage"].as_str().unwrap().contains("the model crashed"), "{end}");

        // The gateway is still fine.
        let (_, frames) = chat(&mut c, "ok", "hi").await;
        assert_eq!(frames.last().unwrap()["payload"]["state"], "final");
    });
}

#[test]
fn openai_provider_faults_end_in_clear_errors_never_a_hang() {
    provider_faults(Flavor::OpenAi);
}

#[test]
fn anthropic_provider_faults_end_in_clear_errors_never_a_hang() {
    provider_faults(Flavor::Anthropic);
}

#[test]
fn runs_across_sessions_are_bounded_by_max_concurrent() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::slow(&["first", " slow", " answer"], Duration::from_millis(300)));
    let gw = Gw::builder().config(config(&fake, json!({"agents": {"defaults": {"maxConcurrent": 1}}}))).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        c.call("chat.send", json!({"sessionKey": "a", "message": "one", "idempotencyKey": "mc-a"})).await;
        c.call("chat.send", json!({"sessionKey": "b", "message": "two", "idempotencyKey": "mc-b"})).await;
        c.collect_until(WAIT, |f| f["event"] == "chat" && f["payload"]["runId"] == "mc-a" && f["payload"]["state"] == "delta").await;
        smol::Timer::after(Duration::from_millis(200)).await;
        assert_eq!(fake.count(), 1, "the second session waits for a free slot");
        let frames = c.collect_until(WAIT, |f| is_terminal_chat(f, "mc-b")).await;
        let ends: Vec<&str> = frames
            .iter()
            .filter(|f| f["event"] == "chat" && f["payload"]["state"] == "final")
            .map(|f| f["payload"]["runId"].as_str().unwrap())
            .collect();
        assert_eq!(ends, vec!["mc-a", "mc-b"]);
        assert_eq!(fake.count(), 2);
    });
}

#[test]
fn tool_calls_run_in_the_workspace_and_their_results_go_back_to_the_model() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::tool("call_1", "write", json!({"path": "notes/todo.md", "content": "buy milk"})));
    fake.push(Reply::tool("call_2", "read", json!({"path": "../../../etc/passwd"})));
    fake.push(Reply::text(&["Done."]));
    let gw = start(&fake);
    block_on(async {
        let (mut watcher, _) = Client::connect_with_caps(gw.port, TOKEN, &["operator.read"], &["tool-events"]).await;
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let (ack, frames) = chat(&mut c, "main", "write a note").await;
        let run_id = ack["runId"].as_str().unwrap().to_string();
        assert_eq!(frames.last().unwrap()["payload"]["message"]["content"][0]["text"], "Done.");
        assert!(of_run(&frames, "agent", &run_id).iter().all(|a| a["payload"]["stream"] != "tool"), "no tool events without the cap");

        let seen = watcher.collect_until(WAIT, |f| is_terminal_chat(f, &run_id)).await;
        let tools: Vec<&Value> = of_run(&seen, "agent", &run_id).into_iter().filter(|a| a["payload"]["stream"] == "tool").collect();
        assert_eq!(tools.len(), 4, "start and result for each call: {tools:#?}");
        assert_eq!(tools[0]["payload"]["data"]["phase"], "start");
        assert_eq!(tools[0]["payload"]["data"]["args"]["path"], "notes/todo.md");
        assert_eq!(tools[1]["payload"]["data"]["isError"], false);
        assert_eq!(tools[3]["payload"]["data"]["isError"], true, "traversal is refused");

        let written = std::fs::read_to_string(gw.state_dir().join("workspace/notes/todo.md")).unwrap();
        assert_eq!(written, "buy milk");
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 3);
        let tool_msg = reqs[1].body["messages"].as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap().clone();
        assert_eq!(tool_msg["tool_call_id"], "call_1");
        assert!(tool_msg["content"].as_str().unwrap().starts_with("Wrote 8 bytes"));
        let refused = reqs[2].body["messages"].as_array().unwrap().iter().rev().find(|m| m["role"] == "tool").unwrap().clone();
        assert!(refused["content"].as_str().unwrap().contains("outside the workspace"), "{refused}");

        let history = c.call("chat.history", json!({"sessionKey": "main"})).await;
        let roles: Vec<&str> = history["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, vec!["user", "assistant", "toolResult", "assistant", "toolResult", "assistant"]);
    });
}

#[test]
fn exec_is_off_unless_enabled_with_an_allowlist() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        chat(&mut c, "main", "hi").await;
        let tools: Vec<String> = fake.requests()[0].body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap().to_string())
            .collect();
        assert!(!tools.contains(&"exec".to_string()), "{tools:?}");
    });
    drop(gw);
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::tool("c1", "exec", json!({"command": "echo from-exec"})));
    fake.push(Reply::tool("c2", "exec", json!({"command": "rm -rf /tmp/x"})));
    fake.push(Reply::text(&["ok"]));
    let gw = Gw::builder()
        .config(config(&fake, json!({"tools": {"exec": {"security": "allowlist", "safeBins": ["echo"], "timeoutSec": 5}}})))
        .start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        chat(&mut c, "main", "run it").await;
        let reqs = fake.requests();
        let result =
            |i: usize| reqs[i].body["messages"].as_array().unwrap().iter().rev().find(|m| m["role"] == "tool").unwrap()["content"].clone();
        assert_eq!(result(1), "from-exec\n\n[exit code 0]");
        assert!(result(2).as_str().unwrap().contains("not in tools.exec.safeBins"), "{}", result(2));
    });
}

#[test]
fn anthropic_streams_tool_calls_and_text() {
    let fake = FakeLlm::start(Flavor::Anthropic, Some("anth-key"));
    fake.push(Reply::tool("toolu_1", "time", json!({})));
    fake.push(Reply::text(&["It is ", "late."]));
    let cfg = json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
        "models": {"providers": {"anthropic": {"baseUrl": fake.base_url(), "api": "anthropic-messages"}}},
        "agents": {"defaults": {"model": "anthropic/claude-sonnet-4-5"}}
    });
    // The key comes from the environment, as OpenClaw users usually provide it.
    let gw = Gw::builder().config(cfg).env("ANTHROPIC_API_KEY", "anth-key").start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let (_, frames) = chat(&mut c, "main", "what time is it?").await;
        assert_eq!(frames.last().unwrap()["payload"]["message"]["content"][0]["text"], "It is late.");
        let reqs = fake.requests();
        let second = &reqs[1].body;
        let turns = second["messages"].as_array().unwrap();
        assert_eq!(turns[1]["content"][0], json!({"type": "tool_use", "id": "toolu_1", "name": "time", "input": {}}));
        assert_eq!(turns[2]["content"][0]["type"], "tool_result");
        assert!(turns[2]["content"][0]["content"].as_str().unwrap().contains("\"utc\""));
        assert!(second["tools"].as_array().unwrap().iter().any(|t| t["name"] == "read" && t["input_schema"].is_object()));
    });
}

#[test]
fn providers_are_reached_over_tls() {
    let fake = FakeLlm::start_tls(Flavor::OpenAi, Some(KEY));
    let mut cfg = config(&fake, json!({}));
    cfg["models"]["providers"]["mock"]["baseUrl"] = json!(fake.base_url_with("https").replace("127.0.0.1", "localhost"));
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
    let gw = Gw::builder().config(cfg).env("SSL_CERT_FILE", ca.to_str().unwrap()).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let (_, frames) = chat(&mut c, "main", "over tls").await;
        assert_eq!(frames.last().unwrap()["payload"]["state"], "final");
        assert_eq!(fake.requests()[0].last_user_text(), "over tls");
    });
}

#[test]
fn model_calls_reuse_one_keep_alive_connection_across_tool_rounds_and_turns() {
    let fake = FakeLlm::start_keep_alive(Flavor::OpenAi, Some(KEY), false);
    fake.push(Reply::tool("call_1", "time", json!({})));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        for text in ["what time is it?", "and now?", "thanks"] {
            let (_, frames) = chat(&mut c, "main", text).await;
            assert_eq!(frames.last().unwrap()["payload"]["state"], "final", "{text}: {frames:?}");
        }
    });
    // A tool round and three answers: four model calls.
    assert_eq!(fake.count(), 4);
    assert_eq!(fake.connections(), 1, "every model call after the first reused the connection");
}

#[test]
fn anthropic_over_tls_reuses_its_connection_and_an_aborted_stream_is_never_reused() {
    let fake = FakeLlm::start_keep_alive(Flavor::Anthropic, Some("anth-key"), true);
    let cfg = json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
        "models": {"providers": {"anthropic": {"baseUrl": fake.base_url_with("https").replace("127.0.0.1", "localhost"),
                                               "api": "anthropic-messages"}}},
        "agents": {"defaults": {"model": "anthropic/claude-sonnet-4-5"}}
    });
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
    let gw = Gw::builder().config(cfg).env("ANTHROPIC_API_KEY", "anth-key").env("SSL_CERT_FILE", ca.to_str().unwrap()).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        for text in ["one", "two"] {
            let (_, frames) = chat(&mut c, "main", text).await;
            assert_eq!(frames.last().unwrap()["payload"]["state"], "final", "{text}: {frames:?}");
        }
        assert_eq!(fake.connections(), 1, "the second turn reused the TLS connection");
        // An aborted run drops its stream mid-answer: that connection must not serve the next
        // request (its unread events would be taken for the next answer).
        fake.push(Reply::slow(&["partial", " words", " never", " finished"], Duration::from_millis(300)));
        c.call("chat.send", json!({"sessionKey": "main", "message": "talk slowly", "idempotencyKey": "ka-abort"})).await;
        c.collect_until(WAIT, |f| f["event"] == "chat" && f["payload"]["state"] == "delta").await;
        c.call("chat.abort", json!({"sessionKey": "main"})).await;
        c.collect_until(WAIT, |f| is_terminal_chat(f, "ka-abort")).await;
        let (_, frames) = chat(&mut c, "main", "three").await;
        let end = frames.last().unwrap();
        assert_eq!(end["payload"]["state"], "final");
        assert_eq!(end["payload"]["message"]["content"][0]["text"], DEFAULT_PIECES.concat(), "a whole answer of its own");
    });
    assert_eq!(fake.connections(), 2, "a new connection after the aborted stream");
}

#[test]
fn without_a_model_the_offline_responder_answers_and_says_what_it_is() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let (_, frames) = chat(&mut c, "main", "ping").await;
        let text = frames.last().unwrap()["payload"]["message"]["content"][0]["text"].as_str().unwrap().to_string();
        assert!(text.starts_with("[offline]") && text.contains("You said: \"ping\"") && text.contains("agents.defaults.model"), "{text}");
        let models = c.call("models.list", json!({})).await;
        assert_eq!(models["models"][0]["provider"], "offline");
        assert_eq!(models["models"][0]["tags"], json!(["offline"]));
        let agents = c.call("agents.list", json!({})).await;
        assert_eq!(agents["defaultId"], "main");
        assert_eq!(agents["agents"][0]["model"]["primary"], "offline/echo");
    });
}

#[test]
fn models_list_reports_what_is_usable() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = Gw::builder()
        .config(config(&fake, json!({"agents": {"defaults": {"model": {"primary": "mock/echo", "fallbacks": ["openai/gpt-4o"]}}}})))
        .start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let models = c.call("models.list", json!({"view": "configured"})).await;
        let list = models["models"].as_array().unwrap();
        let echo = list.iter().find(|m| m["id"] == "echo").unwrap();
        assert_eq!((echo["available"].as_bool(), echo["contextWindow"].as_u64()), (Some(true), Some(32768)));
        let gpt = list.iter().find(|m| m["id"] == "gpt-4o").unwrap();
        assert_eq!((gpt["available"].as_bool(), gpt["unavailableReason"].as_str()), (Some(false), Some("missing-auth")));
        assert!(!list.iter().any(|m| m["provider"] == "offline"), "a configured model replaces the offline responder");
        let bad = c.request("models.list", json!({"preparedOnly": true, "refresh": true})).await;
        assert_eq!(bad["error"]["code"], "INVALID_REQUEST");
    });
}

#[test]
fn sessions_can_be_listed_patched_reset_and_deleted() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        chat(&mut c, "main", "hi").await;
        chat(&mut c, "side-project", "hello").await;

        let list = c.call("sessions.list", json!({"includeLastMessage": true})).await;
        assert_eq!(list["totalCount"], 2);
        let main = list["sessions"].as_array().unwrap().iter().find(|s| s["key"] == "agent:main:main").unwrap().clone();
        assert_eq!((main["kind"].as_str(), main["status"].as_str()), (Some("direct"), Some("done")));
        assert_eq!(main["lastMessagePreview"], "Hello from the mock model.");
        assert!(main["totalTokens"].as_u64().unwrap() > 0);
        assert_eq!(list["defaults"]["model"], "echo");
        let health = c.call("health", json!({})).await;
        assert_eq!(health["sessions"]["count"], 2, "{health}");
        assert_eq!(health["agents"][0]["sessions"]["recent"].as_array().unwrap().len(), 2);
        let status = c.call("status", json!({})).await;
        assert_eq!((status["sessions"]["count"].as_u64(), status["sessions"]["defaults"]["model"].as_str()), (Some(2), Some("echo")));

        let patched = c.call("sessions.patch", json!({"key": "main", "label": "Kitchen", "model": "mock/echo"})).await;
        assert_eq!(patched["entry"]["label"], "Kitchen");
        assert_eq!(patched["resolved"], json!({"modelProvider": "mock", "model": "echo"}));
        let bad = c.request("sessions.patch", json!({"key": "main", "model": "nowhere/x"})).await;
        assert_eq!(bad["error"]["code"], "INVALID_REQUEST");
        let unsupported = c.request("sessions.patch", json!({"key": "main", "thinkingLevel": "high"})).await;
        assert!(unsupported["error"]["message"].as_str().unwrap().contains("thinkingLevel is not supported"), "{unsupported}");
        let labelled = c.call("sessions.list", json!({"label": "Kitchen"})).await;
        assert_eq!(labelled["count"], 1);

        let before = c.call("chat.history", json!({"sessionKey": "main"})).await["sessionId"].clone();
        let reset = c.call("sessions.reset", json!({"key": "main", "reason": "new"})).await;
        assert_eq!(reset["previousSessionId"], before);
        assert_ne!(reset["entry"]["sessionId"], before);
        assert_eq!(reset["entry"]["label"], "Kitchen", "a reset keeps the label");
        let history = c.call("chat.history", json!({"sessionKey": "main"})).await;
        assert_eq!(history["messages"], json!([]));

        let refused = c.request("sessions.delete", json!({"key": "main"})).await;
        assert!(refused["error"]["message"].as_str().unwrap().contains("cannot delete the main session"));
        let deleted = c.call("sessions.delete", json!({"key": "side-project"})).await;
        assert_eq!(deleted["deleted"], true);
        let archived = deleted["archived"][0].as_str().unwrap().replace('~', gw.home.path().to_str().unwrap());
        assert!(std::path::Path::new(&archived).exists(), "the transcript is kept aside: {archived}");
        let again = c.call("sessions.delete", json!({"key": "side-project"})).await;
        assert_eq!(again["deleted"], false);
        assert_eq!(c.call("sessions.list", json!({})).await["totalCount"], 1);

        let read_only = {
            let (mut r, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
            r.request("sessions.reset", json!({"key": "main"})).await
        };
        assert_eq!(read_only["error"]["code"], "FORBIDDEN", "reset needs operator.admin");
    });
}

#[test]
fn sessions_changed_events_follow_session_activity() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let (_, frames) = chat(&mut c, "main", "hi").await;
        let changes: Vec<&Value> = frames.iter().filter(|f| f["event"] == "sessions.changed").collect();
        assert_eq!(changes[0]["payload"]["reason"], "created");
        assert_eq!(changes[0]["payload"]["sessionKey"], "agent:main:main");
        assert_eq!(changes[1]["payload"]["session"]["status"], "running");
        c.call("sessions.patch", json!({"key": "main", "label": "x"})).await;
        let ev = c.event("sessions.changed", WAIT).await.unwrap();
        assert!(["activity", "patched"].contains(&ev["payload"]["reason"].as_str().unwrap()));
    });
}

#[test]
fn chat_history_pages_back_and_catches_up_with_a_cursor() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        chat(&mut c, "main", "one").await;
        chat(&mut c, "main", "two").await;
        let page = c.call("chat.history", json!({"sessionKey": "main", "limit": 2})).await;
        assert_eq!(page["messages"][0]["content"], "two");
        assert_eq!(
            (page["hasMore"].as_bool(), page["nextOffset"].as_u64(), page["totalMessages"].as_u64()),
            (Some(true), Some(2), Some(4))
        );
        let older = c.call("chat.history", json!({"sessionKey": "main", "limit": 2, "offset": 2})).await;
        assert_eq!(older["messages"][0]["content"], "one");
        assert_eq!(older["hasMore"], false);

        let cursor = page["deltaCursor"].as_str().unwrap().to_string();
        let none = c.call("chat.history", json!({"sessionKey": "main", "cursor": cursor})).await;
        assert_eq!((none["kind"].as_str(), none["messages"].as_array().unwrap().len()), (Some("delta"), 0));
        chat(&mut c, "main", "three").await;
        let delta = c.call("chat.history", json!({"sessionKey": "main", "cursor": cursor})).await;
        assert_eq!(delta["kind"], "delta");
        assert_eq!(delta["messages"].as_array().unwrap().len(), 2);
        assert_eq!(delta["messages"][0]["content"], "three");
        c.call("sessions.reset", json!({"key": "main"})).await;
        let reset = c.call("chat.history", json!({"sessionKey": "main", "cursor": delta["deltaCursor"]})).await;
        assert_eq!(reset, json!({"kind": "reset"}));
        let garbage = c.call("chat.history", json!({"sessionKey": "main", "cursor": "!!"})).await;
        assert_eq!(garbage, json!({"kind": "reset"}));
    });
}

#[test]
fn chat_inject_adds_a_note_without_a_model_run() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let res = c.call("chat.inject", json!({"sessionKey": "main", "message": "Reminder: water the plants", "label": "cron"})).await;
        assert_eq!(res["ok"], true);
        let ev = c.event("chat", WAIT).await.unwrap();
        assert_eq!(ev["payload"]["state"], "final");
        assert_eq!(ev["payload"]["message"]["content"][0]["text"], "Reminder: water the plants");
        let history = c.call("chat.history", json!({"sessionKey": "main"})).await;
        assert_eq!(history["messages"][0]["label"], "cron");
        assert_eq!(fake.count(), 0);
        let (mut w, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let refused = w.request("chat.inject", json!({"sessionKey": "main", "message": "x"})).await;
        assert_eq!(refused["error"]["code"], "FORBIDDEN");
    });
}

#[test]
fn bad_requests_get_the_official_validation_errors() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let r = c.request("chat.send", json!({"sessionKey": "main", "message": "x"})).await;
        assert_eq!(r["error"]["message"], "invalid chat.send params: must have required property 'idempotencyKey'");
        let r = c.request("chat.send", json!({"sessionKey": "main", "message": "x", "idempotencyKey": "k", "bogus": 1})).await;
        assert_eq!(r["error"]["message"], "invalid chat.send params: at root: unexpected property 'bogus'");
        let r = c.request("chat.send", json!({"sessionKey": "main", "message": "x", "idempotencyKey": "k", "agentId": "ghost"})).await;
        assert_eq!(r["error"]["code"], "INVALID_REQUEST");
        assert_eq!(r["error"]["details"], json!({"code": "UNKNOWN_AGENT_ID", "agentId": "ghost"}));
        let r = c.request("chat.send", json!({"sessionKey": "agent:bad key:x", "message": "x", "idempotencyKey": "k"})).await;
        assert!(r["error"]["message"].as_str().unwrap().contains("invalid session key"));
        let r = c.request("chat.send", json!({"sessionKey": "main", "message": "   ", "idempotencyKey": "k"})).await;
        assert_eq!(r["error"]["message"], "message must not be empty");
        let r = c.request("agent", json!({"message": "x", "idempotencyKey": "k", "deliver": true})).await;
        assert!(r["error"]["message"].as_str().unwrap().contains("no delivery target"));
        let r = c.request("wake", json!({"mode": "later", "text": "x"})).await;
        assert_eq!(r["error"]["message"], "invalid wake params: at /mode: must be equal to one of the allowed values");
        let (mut reader, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let r = reader.request("chat.send", json!({"sessionKey": "main", "message": "x", "idempotencyKey": "k"})).await;
        assert_eq!(r["error"]["message"], "missing scope: operator.write");
    });
}

#[test]
fn wake_now_runs_a_turn_and_next_heartbeat_waits_for_the_next_message() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let r = c.call("wake", json!({"mode": "now", "text": "the door bell rang"})).await;
        assert_eq!((r["ok"].as_bool(), r["eventOutcome"].as_str()), (Some(true), Some("queued")));
        let run_id = r["runId"].as_str().unwrap().to_string();
        c.collect_until(WAIT, |f| is_terminal_chat(f, &run_id)).await;
        assert!(fake.requests()[0].last_user_text().contains("System event: the door bell rang"));

        let r = c.call("wake", json!({"mode": "next-heartbeat", "text": "mail arrived"})).await;
        assert!(r.get("runId").is_none());
        assert_eq!(fake.count(), 1, "nothing runs yet");
        chat(&mut c, "main", "anything new?").await;
        let text = fake.requests()[1].last_user_text();
        assert!(text.starts_with("System event: mail arrived") && text.ends_with("anything new?"), "{text}");
    });
}

#[test]
fn a_hot_config_change_switches_the_model_for_the_next_run() {
    let a = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let b = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    b.push(Reply::text(&["from b"]));
    let gw = start(&a);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        chat(&mut c, "main", "first").await;
        let path = gw.state_dir().join("openclaw.json");
        let mut cfg = config(&a, json!({}));
        cfg["models"]["providers"]["mock"]["baseUrl"] = json!(b.base_url());
        std::fs::write(&path, cfg.to_string()).unwrap();
        c.event("config.changed", WAIT).await.expect("config.changed");
        let (_, frames) = chat(&mut c, "main", "second").await;
        assert_eq!(frames.last().unwrap()["payload"]["message"]["content"][0]["text"], "from b");
        assert_eq!((a.count(), b.count()), (1, 1));
        assert!(gw.lines().iter().all(|l| !l.contains("restarting in-process")), "applied without a restart");
    });
}

#[test]
fn a_gateway_stop_aborts_runs_and_saves_the_partial_answer() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::slow(&["half", " an", " answer", " and", " more"], Duration::from_millis(400)));
    let mut gw = start(&fake);
    let home = gw.home.clone();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        c.call("chat.send", json!({"sessionKey": "main", "message": "go", "idempotencyKey": "stop-1"})).await;
        c.collect_until(WAIT, |f| f["event"] == "chat" && f["payload"]["state"] == "delta").await;
        gw.signal(libc::SIGTERM);
        let frames = c.collect_until(WAIT, |f| is_terminal_chat(f, "stop-1")).await;
        assert_eq!(frames.last().unwrap()["payload"]["state"], "aborted");
    });
    assert_eq!(gw.wait_exit(WAIT), Some(0));
    let dir = home.path().join(".openclaw/agents/main/sessions");
    let transcript = std::fs::read_dir(&dir).unwrap().flatten().find(|e| e.file_name().to_string_lossy().ends_with(".jsonl")).unwrap();
    let last: Value = serde_json::from_str(std::fs::read_to_string(transcript.path()).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["message"]["stopReason"], "aborted");
    assert!(last["message"]["content"][0]["text"].as_str().unwrap().starts_with("half"));
}

#[test]
fn a_kill_9_mid_run_loses_nothing_that_was_written() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = start(&fake);
    let home = gw.home.clone();
    let cfg = config(&fake, json!({}));
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        chat(&mut c, "main", "remember me").await;
        fake.push(Reply::slow(&["never", " finished"], Duration::from_secs(5)));
        c.call("chat.send", json!({"sessionKey": "main", "message": "are you there?", "idempotencyKey": "k9"})).await;
        c.collect_until(WAIT, |f| f["event"] == "chat" && f["payload"]["state"] == "delta").await;
    });
    // The run's crash marker is written in the background; kill once it is on disk.
    let index = home.path().join(".openclaw/agents/main/sessions/sessions.json");
    let deadline = std::time::Instant::now() + WAIT;
    while !std::fs::read_to_string(&index).unwrap_or_default().contains("\"running\"") {
        assert!(std::time::Instant::now() < deadline, "the run's status never reached the index");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut gw = gw;
    gw.signal(libc::SIGKILL);
    gw.wait_exit(WAIT).expect("killed");
    drop(gw);

    // A torn line, as if the kill had landed in the middle of an append.
    let dir = home.path().join(".openclaw/agents/main/sessions");
    let transcript =
        std::fs::read_dir(&dir).unwrap().flatten().find(|e| e.file_name().to_string_lossy().ends_with(".jsonl")).unwrap().path();
    let mut f = std::fs::OpenOptions::new().append(true).open(&transcript).unwrap();
    std::io::Write::write_all(&mut f, b"{\"type\":\"message\",\"id\":\"torn\",\"message\":{\"role\":\"assis").unwrap();
    drop(f);

    let gw = Gw::builder().home(home.clone()).config(cfg).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let history = c.call("chat.history", json!({"sessionKey": "main"})).await;
        let texts: Vec<String> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                m["content"].as_str().map(str::to_string).unwrap_or_else(|| m["content"][0]["text"].as_str().unwrap_or("").to_string())
            })
            .collect();
        assert_eq!(texts, vec!["remember me", "Hello from the mock model.", "are you there?"], "everything before the kill survived");
        let list = c.call("sessions.list", json!({})).await;
        let main = &list["sessions"][0];
        assert_eq!(main["status"], "failed");
        assert!(main["lastRunError"].as_str().unwrap().contains("interrupted"));

        let (_, frames) = chat(&mut c, "main", "back again").await;
        assert_eq!(frames.last().unwrap()["payload"]["state"], "final");
        let history = c.call("chat.history", json!({"sessionKey": "main"})).await;
        let msgs = history["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 5);
        let seqs: Vec<u64> = msgs.iter().map(|m| m["__openclaw"]["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5], "numbering continues after the crash");
        let last_request = fake.requests().last().unwrap().clone();
        let roles: Vec<&str> = last_request.body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, vec!["system", "user", "assistant", "user", "user"], "the interrupted turn is history, not a torn line");
    });
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(!text.contains("\"torn\""), "the torn line was cut off");
    assert!(text.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()), "every line parses");
}

#[test]
fn a_message_beyond_the_history_window_still_reaches_the_model_and_a_larger_one_is_refused() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let (_, frames) = chat(&mut c, "main", "first").await;
        assert_eq!(frames.last().unwrap()["payload"]["state"], "final");
        // 2.7 MB of UTF-8: more than the transcript end read back for history.
        let big = "€".repeat(900_000);
        let (ack, frames) = chat(&mut c, "main", &big).await;
        assert_eq!(ack["status"], "started");
        assert_eq!(frames.last().unwrap()["payload"]["state"], "final", "{:?}", frames.last());
        let asked = fake.requests().last().unwrap().last_user_text();
        assert_eq!(asked.chars().count(), 900_000, "the model got the whole message");
        // The next turn numbers its lines after the big one.
        let (_, frames) = chat(&mut c, "main", "after").await;
        assert_eq!(frames.last().unwrap()["payload"]["state"], "final");
        let history = c.call("chat.history", json!({"sessionKey": "main", "limit": 2})).await;
        let seqs: Vec<u64> = history["messages"].as_array().unwrap().iter().filter_map(|m| m["__openclaw"]["seq"].as_u64()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

        let res =
            c.request("chat.send", json!({"sessionKey": "main", "message": "x".repeat(1_000_001), "idempotencyKey": "too-big"})).await;
        assert_eq!(res["ok"], false);
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
        assert_eq!(fake.count(), 3, "nothing was sent to the model");
    });
}

#[test]
fn a_busy_session_takes_turns_with_the_others_for_the_free_slots() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    fake.push(Reply::slow(&["first", " slow", " answer"], Duration::from_millis(300)));
    let gw = Gw::builder().config(config(&fake, json!({"agents": {"defaults": {"maxConcurrent": 1}}}))).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        for (session, message, id) in [("a", "a1", "fair-a1"), ("a", "a2", "fair-a2"), ("a", "a3", "fair-a3"), ("b", "b1", "fair-b1")] {
            c.call("chat.send", json!({"sessionKey": session, "message": message, "idempotencyKey": id})).await;
        }
        c.collect_until(WAIT, |f| is_terminal_chat(f, "fair-a3")).await;
        let order: Vec<String> = fake.requests().iter().map(|r| r.last_user_text()).collect();
        assert_eq!(order, ["a1", "b1", "a2", "a3"], "b waits behind a's first run only");
    });
}

#[test]
fn a_turn_with_too_many_tool_calls_is_stopped_with_an_error() {
    let fake = FakeLlm::start(Flavor::Anthropic, Some(KEY));
    let calls = (0..33).map(|i| (format!("toolu_{i}"), "time".to_string(), json!({}))).collect();
    fake.push(Reply::Tools(calls));
    let cfg = config(&fake, json!({"models": {"providers": {"mock": {"api": "anthropic-messages"}}}}));
    let gw = Gw::builder().config(cfg).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let (_, frames) = chat(&mut c, "main", "call everything").await;
        let end = &frames.last().unwrap()["payload"];
        assert_eq!(end["state"], "error", "{end}");
        assert!(end["errorMessage"].as_str().unwrap().contains("more than 32 tool calls"), "{end}");
        assert_eq!(fake.count(), 1, "no tool ran and the model was not called again");
    });
}

/// Messages acknowledged while they waited behind the session's active run survive a `kill -9`:
/// after the restart each one runs, in order, exactly once; the run that was in flight keeps its
/// input in the history and is marked interrupted.
#[test]
fn acknowledged_messages_waiting_in_the_queue_survive_a_kill_9() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some(KEY));
    let gw = start(&fake);
    let home = gw.home.clone();
    let cfg = config(&fake, json!({}));
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        fake.push(Reply::slow(&["still", " thinking"], Duration::from_secs(30)));
        let ack = c.call("chat.send", json!({"sessionKey": "main", "message": "first", "idempotencyKey": "q-0"})).await;
        assert_eq!(ack["status"], "started");
        c.collect_until(WAIT, |f| f["event"] == "chat" && f["payload"]["state"] == "delta").await;
        for i in 1..=5 {
            let ack = c
                .call("chat.send", json!({"sessionKey": "main", "message": format!("queued {i}"), "idempotencyKey": format!("q-{i}")}))
                .await;
            assert_eq!(ack["status"], "started", "acknowledged while waiting");
        }
        // An `agent` run and a hook-style run in another session, queued the same way.
        fake.push(Reply::slow(&["busy"], Duration::from_secs(30)));
        c.call("chat.send", json!({"sessionKey": "other", "message": "other first", "idempotencyKey": "o-0"})).await;
        c.collect_until(WAIT, |f| f["event"] == "chat" && f["payload"]["runId"] == "o-0" && f["payload"]["state"] == "delta").await;
        let r = c.request("agent", json!({"message": "agent queued", "sessionKey": "other", "idempotencyKey": "a-1"})).await;
        assert_eq!(r["payload"]["status"], "accepted");
    });
    let mut gw = gw;
    gw.signal(libc::SIGKILL);
    gw.wait_exit(WAIT).expect("killed");
    drop(gw);
    let before = fake.count();

    let gw = Gw::builder().home(home.clone()).config(cfg).start();
    assert!(gw.wait_line("resumed 6 message(s) acknowledged before the last stop", WAIT).is_some(), "{:?}", gw.lines());
    // Each owed message reaches the model once.
    assert!(fake.wait_for(before + 6, WAIT), "{} requests", fake.count() - before);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let deadline = std::time::Instant::now() + WAIT;
        let texts = loop {
            let history = c.call("chat.history", json!({"sessionKey": "main"})).await;
            let texts: Vec<String> = history["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    m["content"].as_str().map(str::to_string).unwrap_or_else(|| m["content"][0]["text"].as_str().unwrap_or("").to_string())
                })
                .collect();
            if texts.len() >= 11 || std::time::Instant::now() > deadline {
                break texts;
            }
            smol::Timer::after(Duration::from_millis(100)).await;
        };
        let mut expected = vec!["first".to_string()];
        for i in 1..=5 {
            expected.push(format!("queued {i}"));
            expected.push("Hello from the mock model.".to_string());
        }
        assert_eq!(texts, expected, "the interrupted run keeps its input; each queued message ran once, in order");
        let other = c.call("chat.history", json!({"sessionKey": "other"})).await;
        let users: Vec<&str> =
            other["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "user").filter_map(|m| m["content"].as_str()).collect();
        assert_eq!(users, ["other first", "agent queued"]);
    });
    let seen: Vec<String> = fake.requests().iter().skip(before).map(|r| r.last_user_text()).collect();
    assert_eq!(seen.iter().filter(|t| t.as_str() == "queued 1").count(), 1, "{seen:?}");
    // Everything owed was settled: another restart resumes nothing.
    let mut gw = gw;
    gw.signal(libc::SIGTERM);
    gw.wait_exit(WAIT);
    let count = fake.count();
    let gw = Gw::builder().home(home).config(config(&fake, json!({}))).start();
    std::thread::sleep(Duration::from_millis(500));
    assert!(!gw.lines().iter().any(|l| l.contains("resumed")), "{:?}", gw.lines());
    assert_eq!(fake.count(), count);
}
