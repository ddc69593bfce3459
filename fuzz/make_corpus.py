#!/usr/bin/env python3
"""Writes the committed seed corpus, fuzz/corpus/<target>/, from the frames and payloads the
tests use (tests/support/fake_*.rs, tests/integration/*.rs) and the frames the real gateway was
seen to exchange (../shared/reference/openclaw-observed.md). Each seed starts with the steering
bytes its entry point in src/fuzz.rs reads. Run it again after changing a seed; the files are
named by content, so unchanged seeds keep their names.

    python3 fuzz/make_corpus.py
"""

import hashlib
import json
import os
import re
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")

seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, []).append(bytes(data))


def j(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ---- http_request: [limit selector, read-size seed count, seeds..., request bytes] -------------
BEARER = "Authorization: Bearer test-token\r\n"
requests = [
    b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET /health HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET /health HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    b"GET /health HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n",
    b"POST /hooks/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer guess\r\nContent-Length: 0\r\n\r\n",
    ("GET /v1/models?limit=2&x HTTP/1.1\r\nHost: x\r\n" + BEARER + "Connection: close\r\n\r\n").encode(),
    ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + BEARER + "Content-Type: application/json\r\nContent-Length: 63\r\n\r\n"
     + '{"model":"openclaw","messages":[{"role":"user","content":"hi"}]}'[:63]).encode(),
    b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    b"POST /a?x=1&y HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\nGET /c HTTP/1.0\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"POST /whatsapp/webhook HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /whatsapp/webhook?hub.mode=subscribe&hub.verify_token=vt&hub.challenge=42 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /tools/invoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"tool\":\"time\"}\r\n0\r\n\r\n",
    b"GET * HTTP/1.1\r\n\r\n",
]
for i, r in enumerate(requests):
    add("http_request", bytes([4, 0]) + r)
    if i % 3 == 0:
        add("http_request", bytes([3, 2, 0, 6]) + r)  # read in pieces of 1 and 7 bytes

# ---- http_response: [mode, read-size seed count, seeds..., response bytes] ---------------------
responses = [
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=1\r\n, world\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxx",
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 429 Too Many Requests\r\nretry-after-ms: 150\r\nretry-after: 1\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1a\r\ndata: {\"choices\":[]}\n\n\r\n e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 68\r\n\r\n"
    b"{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":\"requests\"}}",
]
for r in responses:
    add("http_response", bytes([0, 0]) + r)
    add("http_response", bytes([4, 1, 2]) + r)
for url in ["https://api.openai.com/v1", "http://[::1]:8080/x/?a=1", "HTTP://localhost", "wss://gateway.discord.gg",
            "http://127.0.0.1:11434/v1#frag", "http://u:p@host/", "http://host:99999/"]:
    add("http_response", bytes([8]) + url.encode())

# ---- gateway_rpc ----------------------------------------------------------------------------------
methods_src = open(os.path.join(ROOT, "src/gateway/methods/mod.rs")).read()
table = methods_src[methods_src.index("const METHODS"):methods_src.index("];", methods_src.index("const METHODS"))]
METHODS = re.findall(r'\("([a-z.\-]+)", Scope::', table)
TOKEN = "fuzz-gateway-token-5f2c8e1a"


def req(method, params=None, id="1:60b4d761-209a-4906-9fc7-d4aef55bf540"):
    frame = {"type": "req", "id": id, "method": method}
    if params is not None:
        frame["params"] = params
    return j(frame)


def call(method, params, id="r1", mode=3):
    """A structured request: [mode, method index, id, 0xff, params JSON]."""
    body = b"" if params is None else j(params).encode()
    add("gateway_rpc", bytes([mode, METHODS.index(method)]) + id.encode() + b"\xff" + body)


connect = {"minProtocol": 4, "maxProtocol": 4,
           "client": {"id": "cli", "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux", "mode": "cli",
                      "instanceId": "598c4033-a3ff-47b5-a7a2-7528fa70ef00"},
           "caps": [], "auth": {"token": "reftoken123"}, "role": "operator", "scopes": ["operator.read"]}
raw_frames = [
    req("health"),
    req("health", {"pad": "x" * 64}),
    req("status", {"includeChannelSummary": False}),
    req("logs.tail", {"limit": 2, "maxBytes": 250000}),
    req("channels.status", {"probe": True, "timeoutMs": 100}),
    req("sessions.list", {"bogusParam": 1}),
    req("chat.send", {"message": "x"}),
    req("connect", connect),
    req("no.such.method"),
    '{"type":"req","method":"health"}',
    '{"type":"res","id":"zz","ok":true,"payload":{}}',
    '{"type":"event","event":"foo"}',
    "[1,2,3]",
    "this is {not json",
    '{"type":"req","id":"","method":"x"}',
    '{"type":"req","id":"2","method":"status","params":{"a":1},"traceparent":"00-x"}',
]
for f in raw_frames:
    add("gateway_rpc", b"\x00" + f.encode())
add("gateway_rpc", b"\x02" + req("health").encode())
calls = [
    ("health", None), ("health", {"probe": True}), ("status", {}), ("system-presence", {}), ("last-heartbeat", {}),
    ("logs.tail", {"limit": 5}), ("logs.tail", {"cursor": 10, "limit": 1, "maxBytes": 100}),
    ("config.get", {}),
    ("config.set", {"raw": "{gateway: {mode: 'local'}, // comment\n agents: {defaults: {model: 'offline/echo'}},}"}),
    ("config.patch", {"raw": '{"session": {"dmScope": "per-peer"}}', "baseHash": "hmac-sha256:v1:x"}),
    ("config.apply", {"raw": "{gateway: {mode: 'local', reload: {mode: 'hot'}}}", "restartDelayMs": 0}),
    ("secrets.reload", {}),
    ("channels.status", {"probe": False, "channel": "telegram"}), ("channels.start", {"channel": "telegram"}),
    ("channels.stop", {"channel": "discord"}), ("channels.pairing.list", {"channel": "telegram"}),
    ("channels.pairing.approve", {"channel": "telegram", "code": "ABCD1234"}),
    ("channels.pairing.dismiss", {"channel": "whatsapp", "code": "X"}),
    ("send", {"to": "123", "message": "hi", "channel": "telegram", "idempotencyKey": "k1"}),
    ("chat.send", {"sessionKey": "main", "message": "hello there", "idempotencyKey": "c1"}),
    ("chat.send", {"sessionKey": "agent:main:telegram:direct:42", "message": "hi", "idempotencyKey": "c2", "timeoutMs": 1}),
    ("chat.history", {"sessionKey": "main", "limit": 10}), ("chat.abort", {"sessionKey": "main"}),
    ("chat.inject", {"sessionKey": "main", "message": "note", "label": "x"}),
    ("agent", {"message": "hi there", "agentId": "main", "deliver": False, "timeout": 600, "idempotencyKey": "a1"}),
    ("agent.wait", {"runId": "r", "timeoutMs": 10}), ("wake", {"mode": "now", "text": "ping"}),
    ("wake", {"mode": "next-heartbeat", "text": "later", "sessionKey": "main"}),
    ("sessions.list", {"limit": 2, "offset": 0, "search": "ma", "sortBy": "lastInteractionAt", "includeLastMessage": True}),
    ("sessions.reset", {"key": "main"}), ("sessions.delete", {"key": "agent:main:explicit:r1", "deleteTranscript": True}),
    ("sessions.patch", {"key": "main", "label": "Kitchen", "model": "offline/echo"}),
    ("models.list", {}), ("agents.list", {}),
]
for i, (m, p) in enumerate(calls):
    call(m, p, id=f"r{i}")
call("health", None, id="1:ü", mode=5)
call("config.set", {"raw": "{}"}, id="r", mode=5)
add("gateway_rpc", b"\x06" + req("connect", connect).encode())
add("gateway_rpc", b"\x06" + req("connect", dict(connect, minProtocol=1, maxProtocol=3)).encode())
add("gateway_rpc", b"\x06" + req("connect", {k: v for k, v in connect.items() if k != "client"}).encode())
add("gateway_rpc", b"\x06" + req("connect", dict(connect, foo=1)).encode())
add("gateway_rpc", b"\x06" + req("health", {}).encode())
add("gateway_rpc", b"\x0e" + req("connect", dict(connect, auth={"token": "wrong"})).encode())
add("gateway_rpc", b'\x06{"type":"event","event":"hello"}')


def ws_frame(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04"):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


hello = req("connect", dict(connect, auth={"token": TOKEN})).encode()
add("gateway_rpc", b"\x07" + ws_frame(1, hello))
add("gateway_rpc", b"\x07" + ws_frame(1, hello[:40], fin=False) + ws_frame(0, hello[40:]))
add("gateway_rpc", b"\x07" + ws_frame(9, b"ping") + ws_frame(8, b"\x03\xe8bye"))
add("gateway_rpc", b"\x07" + ws_frame(2, b"\xff\xfe"))
add("gateway_rpc", b"\x07\x81\xff\x7f\xff\xff\xff\xff\xff\xff\xff")

# ---- gateway_http: [mode, path index (high bit: GET), body] or [0, raw request] ------------------
HTTP_PATHS = ["/v1/chat/completions", "/v1/responses", "/v1/models", "/v1/models/offline/echo", "/tools/invoke",
              "/hooks/wake", "/hooks/agent", "/hooks/other", "/whatsapp/webhook", "/health", "/ready", "/startup", "/"]


def http_call(path, body, get=False, mode=1, query=None):
    pick = HTTP_PATHS.index(path) | (0x80 if get else 0)
    head = bytes([mode | (4 if query is not None else 0), pick])
    if query is not None:
        head += query.encode() + b"\xff"
    add("gateway_http", head + (body if isinstance(body, bytes) else j(body).encode()))


tools = [{"type": "function", "function": {"name": "lookup", "description": "find", "parameters": {"type": "object"}}}]
http_call("/v1/chat/completions", {"model": "openclaw", "messages": [{"role": "system", "content": "be brief"},
                                                                    {"role": "user", "content": "hi"}]})
http_call("/v1/chat/completions", {"model": "openclaw/main", "stream": True, "user": "bob",
                                   "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
http_call("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
http_call("/v1/chat/completions", {"model": "openclaw", "tools": tools, "messages": [
    {"role": "user", "content": "find x"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "found"}]})
http_call("/v1/chat/completions", {"model": "openclaw"}, mode=9)
http_call("/v1/responses", {})
http_call("/v1/responses", {"model": "openclaw", "input": "hi", "instructions": "be brief"})
http_call("/v1/responses", {"model": "openclaw", "input": "x", "previous_response_id": "resp_unknown"})
http_call("/v1/responses", {"model": "openclaw", "input": "hi", "stream": True})
http_call("/v1/responses", {"model": "openclaw", "input": [{"role": "user", "content": [{"type": "input_text", "text": "find x"}]},
                                                           {"type": "function_call_output", "call_id": "c1", "output": "ok"}],
                            "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}], "stream": True})
http_call("/v1/models", b"", get=True)
http_call("/v1/models/offline/echo", b"", get=True)
http_call("/tools/invoke", {"tool": "time", "args": {}})
http_call("/tools/invoke", {"name": "ls", "args": {"path": "."}})
http_call("/tools/invoke", {"tool": "read", "args": {"path": "../../etc/hostname"}})
http_call("/tools/invoke", {"tool": "exec", "args": {"command": "true"}})
http_call("/tools/invoke", {"tool": "sessions_list", "agentId": "main"})
http_call("/hooks/wake", {"text": "the package arrived"})
http_call("/hooks/wake", {"text": "x", "mode": "next-heartbeat"})
http_call("/hooks/agent", {"message": "summarise my day", "name": "calendar"})
http_call("/hooks/agent", {"message": "and now wait", "waitForCompletion": True})
http_call("/hooks/agent", {"message": "x", "channel": "telegram", "to": "42", "sessionKey": "mine"})
http_call("/hooks/wake", {"text": "x"}, query="token=abc")
http_call("/hooks/other", {})
http_call("/whatsapp/webhook", wa_notification_seed := {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [
    {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "123"},
                                    "contacts": [{"wa_id": "15550001", "profile": {"name": "Ann"}}],
                                    "messages": [{"from": "15550001", "id": "wamid.1", "type": "text", "text": {"body": "hi"}}]}}]}]})
http_call("/whatsapp/webhook", b"", get=True, query="hub.mode=subscribe&hub.verify_token=fuzz-verify-token&hub.challenge=42")
http_call("/whatsapp/webhook", b"", get=True, query="hub.mode=subscribe&hub.verify_token=nope&hub.challenge=42")
http_call("/health", b"", get=True)
http_call("/ready", b"", get=True)
http_call("/startup", b"", get=True)
http_call("/", b"", get=True)
for r in requests[:12]:
    add("gateway_http", b"\x00" + r)

# ---- json5 and config -----------------------------------------------------------------------------
json5_docs = [
    "{gateway: {auth: {token: 'abc123secret'}}, // abc123secret again\n}",
    "{\n  // comment\n  a: 1, b: 'two', c: [1, 2, 3,], d: {e: null, f: true, g: false},\n  h: 0x1F, i: .5, j: +1, k: 5.,\n}",
    '{"a": "line \\\n continued", "u": "\\u00e9\\ud83d\\ude00", "x": "\\x41", z: \'q"q\'}',
    "/* block */ [1e3, -0, -9223372036854775808, 18446744073709551615, 1.5e-7]",
    "\ufeff{}",
    "{a: Infinity}",
    "{a: NaN}",
    "{ $include: './extra.json5', gateway: {port: 18790} }",
    '{"nested": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}',
    "{a: 1 b: 2}",
    "{'\\u0061b': 1, _c$: 2, \\u0061: 3}",
    '"just a string"',
    "012",
    "{a: '\\0', b: '\\01'}",
]
for d in json5_docs:
    add("json5", d)

configs = [
    {"gateway": {"mode": "local", "port": 18790, "bind": "lan", "auth": {"mode": "token", "token": "abc",
                 "rateLimit": {"maxAttempts": 3, "exemptLoopback": False}},
                 "controlUi": {"allowedOrigins": ["http://x"]}, "reload": {"mode": "hot"},
                 "http": {"endpoints": {"chatCompletions": {"enabled": True}}}}},
    {"gateway": {"mode": "local", "bind": "custom", "customBindHost": "192.168.1.5"}},
    {"logging": {"level": "debug", "file": "~/oc.log", "consoleLevel": "warn", "maxFileBytes": 4096}},
    {"secrets": {"providers": {"vault": {"source": "file", "path": "/nonexistent/vault.json"}}},
     "gateway": {"auth": {"token": {"source": "file", "provider": "vault", "id": "/gateway/token"}}}},
    {"gateway": {"auth": {"password": "${GW_PASSWORD}"}}},
    {"models": {"providers": {"mock": {"baseUrl": "http://127.0.0.1:9/v1", "apiKey": "mk", "api": "openai-completions",
                                       "models": [{"id": "echo", "contextWindow": 4096, "maxTokens": 77}]},
                              "g": {"api": "google-generative-ai", "baseUrl": "https://x"}}},
     "agents": {"defaults": {"model": "mock/echo", "models": {"mock/echo": {"alias": "fast"}}}}},
    {"agents": {"defaults": {"workspace": "~/ws", "maxConcurrent": 2, "timeoutSeconds": 60},
                "list": [{"id": "main", "default": True}, {"id": "work", "model": {"primary": "anthropic/claude-sonnet-4-5"}}]}},
    {"tools": {"exec": {"security": "allowlist", "safeBins": ["date", "uptime"], "timeoutSec": 5}, "deny": ["write"]}},
    {"hooks": {"enabled": True, "token": "hooktoken456", "path": "/hooks"}},
    {"channels": {"telegram": {"botToken": "123:abc", "dmPolicy": "open", "allowFrom": ["*"], "groupPolicy": "allowlist",
                               "groups": {"-100": {"requireMention": False}}, "textChunkLimit": 4000}}},
    {"channels": {"discord": {"token": "t", "dmPolicy": "pairing", "groupPolicy": "open"},
                  "whatsapp": {"accessToken": "EAAB", "phoneNumberId": "123", "appSecret": "s", "verifyToken": "vt",
                               "webhookPath": "/whatsapp/webhook", "graphRoot": "http://127.0.0.1:9"}}},
    {"session": {"dmScope": "per-channel-peer", "maintenance": {"mode": "enforce", "pruneAfter": "30d", "maxEntries": 500}}},
    {"gateway": {"mode": "remote", "tls": {"enabled": True}}, "unknownSection": {"x": 1}, "wizard": {}},
]
for c in configs:
    add("config", b"\x00" + j(c).encode())
add("config", b"\x00" + json5_docs[0].encode())
add("config", b"\x01{ $include: './extra.json5', gateway: {port: 18790} }\xff{gateway: {mode: 'local', bind: 'loopback'}}")
add("config", b"\x01{ $include: ['./extra.json5', './missing.json5'] }\xff{agents: {defaults: {model: 'offline/echo'}}}")
add("config", b"\x01{ gateway: { $include: '../../etc/passwd' } }\xff{}")
add("config", b"\x00{gateway: {port: 'x', bind: 7, auth: {mode: 'none'}}, logging: {level: 'loud'}}")

# ---- sse and model_stream -------------------------------------------------------------------------
sse_streams = [
    b": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: x\rdata: y\r\rdata: [DONE]\n\n",
    b"data: last",
    b"event: only-a-name\n",
    b"data: " + b"x" * 100 + b"\n" + b"data: " + b"y" * 100 + b"\n\n",
    b"id: 7\nretry: 10\ndata:no-space\n\n:comment\n\n",
]
for s in sse_streams:
    add("sse", bytes([200, 0]) + s)
    add("sse", bytes([5, 16, 2, 0, 2]) + s)


def openai_chunk(delta, finish=None):
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def data(v):
    return "data: " + (v if isinstance(v, str) else j(v)) + "\n\n"


def event(name, v):
    return "event: " + name + "\n" + data(v)


openai_text = (data(openai_chunk({"role": "assistant", "content": ""}))
               + "".join(data(openai_chunk({"content": p})) for p in ["Hello", " from", " the", " mock"])
               + data(openai_chunk({}, "stop"))
               + data({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16,
                                 "prompt_tokens_details": {"cached_tokens": 2}}})
               + data("[DONE]"))
args = j({"path": "."})
openai_tools = (data(openai_chunk({"role": "assistant", "content": ""}))
                + data(openai_chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                     "function": {"name": "ls", "arguments": ""}}]}))
                + data(openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[:5]}}]}))
                + data(openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[5:]}}]}))
                + data(openai_chunk({}, "tool_calls")) + data("[DONE]"))
openai_streams = [
    openai_text, openai_tools,
    data(openai_chunk({"content": "partial"})),
    data(openai_chunk({"role": "assistant"})) + 'data: {"choices": [oops\n\n',
    data(openai_chunk({"content": "partial"})) + data({"error": {"message": "boom", "type": "server_error"}}),
    data(openai_chunk({"content": "x"}, "length")),
    data(openai_chunk({"tool_calls": [{"index": 3, "function": {"name": "read", "arguments": "{bad"}}]}, "stop")),
]
anthropic_start = (event("message_start", {"type": "message_start", "message": {"id": "msg_fake", "type": "message",
                   "role": "assistant", "content": [], "model": "m", "stop_reason": None,
                   "usage": {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 3}}})
                   + event("content_block_start", {"type": "content_block_start", "index": 0,
                                                    "content_block": {"type": "text", "text": ""}})
                   + event("ping", {"type": "ping"}))
anthropic_text = (anthropic_start
                  + "".join(event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                          "delta": {"type": "text_delta", "text": p}}) for p in ["Hello", " there"])
                  + event("content_block_stop", {"type": "content_block_stop", "index": 0})
                  + event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                            "usage": {"output_tokens": 6}})
                  + event("message_stop", {"type": "message_stop"}))
anthropic_tools = (anthropic_start
                   + event("content_block_start", {"type": "content_block_start", "index": 1,
                                                    "content_block": {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}})
                   + "".join(event("content_block_delta", {"type": "content_block_delta", "index": 1,
                                                           "delta": {"type": "input_json_delta", "partial_json": p}})
                             for p in [args[:5], args[5:]])
                   + event("content_block_stop", {"type": "content_block_stop", "index": 1})
                   + event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}})
                   + event("message_stop", {"type": "message_stop"}))
anthropic_streams = [
    anthropic_text, anthropic_tools, anthropic_start,
    anthropic_start + event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    event("content_block_delta", {"type": "content_block_delta", "index": 9, "delta": {"type": "text_delta", "text": "x"}}),
    data({"type": "message_stop"}),
]
for s in openai_streams:
    add("model_stream", b"\x00\x00" + s.encode())
for s in anthropic_streams:
    add("model_stream", b"\x01\x00" + s.encode())
add("model_stream", b"\x00\x02\x03\x00" + openai_tools.encode())
add("model_stream", b"\x01\x02\x03\x00" + anthropic_tools.encode())
errors = [
    (12, j({"error": {"message": "Rate limit reached", "type": "requests"}})),
    (23, j({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
    (2, j({"error": {"message": "This model's maximum context length is 8192 tokens", "code": "context_length_exceeded"}})),
    (14, j({"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}})),
    (5, ""), (17, "<html>bad gateway</html>"),
]
for which, body in errors:
    add("model_stream", bytes([which]) + body.encode())

# ---- chat_payloads: [reader, knobs, payload] ------------------------------------------------------
def tg_update(update_id, chat, user_id, text, **extra):
    frm = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "username": f"user{user_id}"}
    message = {"message_id": update_id + 100, "from": frm, "chat": chat, "date": 1795476243, "text": text}
    message.update(extra)
    return {"update_id": update_id, "message": message}


private = {"id": 42, "type": "private", "first_name": "User42", "username": "user42"}
group = {"id": -100, "type": "supergroup", "title": "Group -100"}
tg = [
    {"ok": True, "result": [tg_update(5, private, 42, "hello")]},
    {"ok": True, "result": [tg_update(6, group, 7, "hi @fuzz_bot", message_thread_id=3, is_topic_message=True,
                                      entities=[{"type": "mention", "offset": 3, "length": 9}]),
                            tg_update(7, group, 8, "yes", reply_to_message={"from": {"id": 1}}),
                            {"update_id": 8, "message": {"message_id": 1, "from": {"id": 7}, "chat": {"id": 7, "type": "private"}}},
                            {"update_id": 9, "edited_message": {}}]},
    {"ok": True, "result": []},
    {"ok": True, "result": {"id": 1, "is_bot": True, "username": "fuzz_bot"}},
    {"ok": False, "error_code": 409, "description": "Conflict: terminated by other getUpdates request"},
    {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}},
    {"ok": True, "result": [tg_update(9223372036854775806, private, 42, "big ids")]},
    {"ok": True, "result": [tg_update(10, private, 42, "photo caption", caption="a caption")]},
]
for i, body in enumerate(tg):
    add("chat_payloads", bytes([0, 0x01 | (0x10 if i % 2 else 0)]) + j(body).encode())
add("chat_payloads", bytes([1, 0x0b]) + j(tg[5]).encode())

BOT_ID = "900000000000000001"


def dc_user(uid):
    return {"id": uid, "username": f"user{uid}", "global_name": f"User {uid}", "discriminator": "0"}


def dc_message(mid, channel, guild, author, content, mentions=()):
    d = {"id": mid, "channel_id": channel, "type": 0, "content": content, "author": author, "mentions": list(mentions),
         "timestamp": "2026-11-23T23:25:25.463000+00:00"}
    if guild:
        d["guild_id"] = guild
    return d


def dispatch(t, s, d):
    return j({"op": 0, "t": t, "s": s, "d": d})


hello_frame = j({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
ready = {"v": 10, "user": {"id": BOT_ID, "username": "fuzzbot", "bot": True}, "session_id": "5e551001" * 4,
         "session_type": "normal", "resume_gateway_url": "wss://gateway-us-east1-b.discord.gg", "guilds": [],
         "private_channels": [], "application": {"id": BOT_ID, "flags": 0}}
connection = "\n".join([
    hello_frame,
    dispatch("READY", 1, ready),
    dispatch("MESSAGE_CREATE", 2, dc_message("1001", "444", None, dc_user("222"), "hi there")),
    dispatch("MESSAGE_CREATE", 3, dc_message("1002", "444", "333", dc_user("222"), f"<@{BOT_ID}> yo", [{"id": BOT_ID}])),
    j({"op": 11, "d": None}),
    j({"op": 1, "d": None}),
    dispatch("MESSAGE_CREATE", 4, dc_message("1003", "444", "333", dict(dc_user("223"), bot=True), "from a bot")),
    dispatch("GUILD_CREATE", 5, {"id": "333"}),
])
add("chat_payloads", bytes([2, 0x03]) + connection.encode())
add("chat_payloads", bytes([3, 0x0f]) + "\n".join([
    hello_frame, dispatch("RESUMED", 5, {}),
    dispatch("MESSAGE_CREATE", 6, dict(dc_message("1004", "444", "333", dc_user("222"), "<@!900000000000000001> legacy"), type=19)),
    j({"op": 7, "d": None}),
]).encode())
add("chat_payloads", bytes([2, 0x01]) + "\n".join([j({"op": 10, "d": {"heartbeat_interval": 1e300}}), j({"op": 9, "d": False})]).encode())
add("chat_payloads", bytes([2, 0x01]) + dispatch("MESSAGE_CREATE", 18446744073709551615, dc_message("9", "1", None, dc_user("2"), "max seq")).encode())
rest_errors = [
    {"message": "Invalid Form Body", "code": 50035,
     "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}},
    {"message": "Missing Access", "code": 50001},
    {"message": "You are being rate limited.", "retry_after": 0.25, "global": False},
]
for i, e in enumerate(rest_errors):
    add("chat_payloads", bytes([4, 0]) + (4004 + i).to_bytes(2, "little") + ["0.250", "channel:123", "user:42"][i].encode() + b"\xff" + j(e).encode())
add("chat_payloads", bytes([4, 0]) + (4014).to_bytes(2, "little") + b"<@!42>\xff"
    + j({"sessionId": "abc", "seq": 42, "resumeUrl": "wss://gateway-us-east1-b.discord.gg", "botId": "900", "botName": "bot"}).encode())


def wa_notification(messages, phone="123", contacts=None):
    value = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550009999", "phone_number_id": phone},
             "messages": messages}
    if contacts is not None:
        value["contacts"] = contacts
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"value": value, "field": "messages"}]}]}


wa = [
    wa_notification([{"from": "15550001", "id": "wamid.1", "timestamp": "1795476243", "type": "text", "text": {"body": "hi"}},
                     {"from": "15550001", "id": "wamid.2", "type": "image", "image": {}}],
                    contacts=[{"wa_id": "15550001", "profile": {"name": "Ann"}}]),
    wa_notification([{"from": "15550002", "id": "wamid.3", "type": "text", "text": {"body": "other number"}}], phone="999"),
    {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": "123"}, "statuses": [{"id": "wamid.9", "status": "delivered"}]}}]}]},
]
for i, body in enumerate(wa):
    add("chat_payloads", bytes([5, 0x01 | (0x08 if i else 0)]) + j(body).encode())
add("chat_payloads", bytes([6, 0x11]) + b"sha256=dc46983557fea127b43af721467eb9b3fde2338fe3e14f51952aa8478c13d355\xffbody")
add("chat_payloads", bytes([7, 0]) + b"subscribe\xfffuzz-verify-token\xff42")
add("chat_payloads", bytes([7, 0]) + b"unsubscribe\xffnope\xff")

# ---- transcript, session_index, channel_journal ---------------------------------------------------
header = {"type": "session", "version": 3, "id": "5b1c0f3e-1111-4222-8333-944445555666", "key": "agent:main:main",
          "agentId": "main", "timestamp": "2026-11-23T23:25:25.463Z", "cwd": "/w"}


def line(seq, role, text, parent=None):
    return {"type": "message", "id": f"{seq:08x}", "parentId": parent, "seq": seq, "timestamp": "2026-11-23T23:25:26.000Z",
            "message": {"role": role, "content": text}, "runId": "r1"}


transcript_lines = [j(header), j(line(1, "user", "hi")), j(line(2, "assistant", [{"type": "text", "text": "hello"}], "00000001"))]
transcript_files = [
    "\n".join(transcript_lines) + "\n",
    "\n".join(transcript_lines) + '\n{"type": "message", "seq": 3, "text": "half a li',
    '{"type":"sess',
    "",
    "\n\n\n",
    j(header) + "\nnot json\n" + j(line(18446744073709551615, "user", "max")) + "\n",
    j(header) + "\n" + j(line(2, "user", "y" * 300)) + "\n" + j(line(3, "user", "z")) + "\n",
]
for i, f in enumerate(transcript_files):
    add("transcript", bytes([100, 5, 4]) + f.encode())
    add("transcript", bytes([0, 2, 2]) + f.encode())

entry = {"sessionId": "5b1c0f3e-1111-4222-8333-944445555666", "createdAt": 1795476243000, "updatedAt": 1795476325000,
         "label": "Kitchen", "status": "running", "inputTokens": 10, "outputTokens": 6, "totalTokens": 16,
         "sessionFile": "t.jsonl", "lastMessagePreview": "hello"}
indexes = [
    {"agent:main:main": entry},
    {"agent:main:main": entry, "agent:main:telegram:direct:42": dict(entry, sessionId="b", sessionFile=None, status="done", updatedAt=1),
     "agent:main:discord:group:99": dict(entry, sessionId="c", modelOverride="offline/echo", updatedAt=2)},
    {"agent:main:main": dict(entry, sessionFile="../../../outside.jsonl")},
    {"agent:main:main": dict(entry, sessionId="../../x", sessionFile=None)},
    {"main": entry, "agent:work:main": entry, "agent:main:": entry},
]
for idx in indexes:
    text = json.dumps(idx, indent=2).encode()
    add("session_index", len(text).to_bytes(2, "little") + text + transcript_files[0].encode())
add("session_index", (20).to_bytes(2, "little") + b'{"agent:main:main": {' + transcript_files[0].encode())
add("session_index", (0).to_bytes(2, "little") + transcript_files[0].encode())
add("session_index", (2).to_bytes(2, "little") + b"{}" + transcript_files[6].encode())


def inbound(mid, cursor=None, **kw):
    m = {"id": mid, "chat": "42", "sender": "7", "senderLabel": "u", "group": False, "mentioned": False, "text": f"hello {mid}",
         "replyTo": None, "receivedAt": 1}
    if cursor:
        m["cursor"] = cursor
    m.update(kw)
    return m


journal = "\n".join([
    j({"op": "seen", "ids": ["0", "1"]}),
    j({"op": "in", "msg": inbound("2", "c2")}),
    j({"op": "in", "msg": inbound("3", "c3", group=True, mentioned=True, replyTo="9")}),
    j({"op": "reply", "id": "2", "text": "answer"}),
    j({"op": "sent", "id": "2", "chunk": 0}),
    j({"op": "done", "id": "3", "result": "delivered"}),
    j({"op": "cursor", "value": "c4"}),
]) + "\n"
journals = [
    journal,
    journal + '{"op":"in","msg":{"id":"4","chat":"4',
    journal + j({"op": "sent", "id": "2", "chunk": 3}) + "\n",
    j({"op": "in", "msg": inbound("")}) + "\n" + j({"op": "in", "msg": inbound("2")}) + "\n" + j({"op": "in", "msg": inbound("2")}) + "\n",
    "",
    "garbage\n\n{}\n[]\n",
]
for i, f in enumerate(journals):
    add("channel_journal", bytes([i * 5 % 16]) + f.encode())
    add("channel_journal", bytes([15]) + f.encode())

# ---- write ----------------------------------------------------------------------------------------
for target, items in sorted(seeds.items()):
    d = os.path.join(CORPUS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for data in items:
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{target}: {len(items)} seeds, {sum(len(x) for x in items)} bytes")
