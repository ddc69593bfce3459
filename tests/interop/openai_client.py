"""Interop: the official `openai` Python package as a real client of the gateway's
OpenAI-compatible API (`/v1/models`, `/v1/chat/completions` plain and streaming, with tools, and
`/v1/responses` plain and streaming, through the SDK's own stream helpers, which are strict
about event order and fields).

The gateway (OPENCLAW_BIN) runs in a temporary home against a small fake upstream model served
here, so the answers are known. Exits non-zero on the first mismatch.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
from openai import OpenAI

TOKEN = "interop-token-0123456789"
REPLY = "Hello from the mock model."


class Upstream(BaseHTTPRequestHandler):
    """A fake OpenAI-compatible model: a tool call when asked about the weather and a tool is
    offered, a sentence about the tool result when one comes back, otherwise REPLY."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path == "/v1/chat/completions", self.path
        assert body.get("stream") is True
        messages = body["messages"]
        last = messages[-1]
        tools = [t["function"]["name"] for t in body.get("tools", [])]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

        def chunk(delta, finish=None):
            c = {"id": "up", "object": "chat.completion.chunk", "created": 1, "model": body["model"],
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            self.wfile.write(f"data: {json.dumps(c)}\n\n".encode())
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        if last["role"] == "tool":
            for piece in ["The tool said: ", last["content"]]:
                chunk({"content": piece})
            chunk({}, "stop")
        elif "get_weather" in tools and "weather" in str(last.get("content", "")):
            chunk({"tool_calls": [{"index": 0, "id": "call_w", "type": "function",
                                   "function": {"name": "get_weather", "arguments": ""}}]})
            for part in ['{"city":', '"Oslo"}']:
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
            chunk({}, "tool_calls")
        else:
            for piece in ["Hello", " from", " the", " mock", " model", "."]:
                chunk({"content": piece})
            chunk({}, "stop")
        usage = {"id": "up", "object": "chat.completion.chunk", "created": 1, "model": body["model"], "choices": [],
                 "usage": {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16}}
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()
        self.close_connection = True


def start_gateway(home, upstream_port):
    os.makedirs(os.path.join(home, ".openclaw"))
    config = {
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN},
                    "http": {"endpoints": {"chatCompletions": {"enabled": True}, "responses": {"enabled": True}}}},
        "models": {"providers": {"mock": {"baseUrl": f"http://127.0.0.1:{upstream_port}/v1", "apiKey": "k",
                                          "models": [{"id": "echo"}]}}},
        "agents": {"defaults": {"model": "mock/echo"}},
    }
    with open(os.path.join(home, ".openclaw", "openclaw.json"), "w") as f:
        json.dump(config, f)
    env = dict(os.environ, HOME=home, TMPDIR=home)
    env.pop("OPENCLAW_GATEWAY_TOKEN", None)
    proc = subprocess.Popen([os.environ["OPENCLAW_BIN"], "gateway", "--port", "0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = None
    deadline = time.time() + 15
    for line in proc.stderr:
        m = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
        if line.rstrip().endswith("[gateway] ready"):
            break
        if time.time() > deadline:
            break
    if port is None:
        proc.kill()
        sys.exit("the gateway did not start")
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, port


def check(name, cond, detail=""):
    if not cond:
        sys.exit(f"FAIL {name}: {detail}")
    print(f"ok   {name}")


def main():
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    home = tempfile.mkdtemp(prefix="openclaw-py-interop-")
    proc, port = start_gateway(home, upstream.server_address[1])
    try:
        run(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
    print(f"openai {openai.__version__}: all checks passed")


def run(port):
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=TOKEN, max_retries=0, timeout=30)
    weather = [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
                                                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                                "required": ["city"]}}}]

    ids = [m.id for m in client.models.list()]
    check("models.list", ids[:2] == ["openclaw", "openclaw/default"], ids)
    check("models.retrieve", client.models.retrieve("openclaw/default").id == "openclaw/default")

    r = client.chat.completions.create(model="openclaw", messages=[{"role": "user", "content": "hi"}])
    check("chat.completions", r.choices[0].message.content == REPLY and r.choices[0].finish_reason == "stop", r)
    check("chat.completions usage", r.usage.completion_tokens == 6, r.usage)

    stream = client.chat.completions.create(model="openclaw", messages=[{"role": "user", "content": "hi"}], stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check("chat.completions stream", text == REPLY, text)
    check("chat.completions stream usage", chunks[-1].usage is not None and chunks[-1].choices == [], chunks[-1])

    with client.chat.completions.stream(model="openclaw", messages=[{"role": "user", "content": "hi"}]) as s:
        final = s.get_final_completion()
    check("chat.completions.stream helper", final.choices[0].message.content == REPLY, final)

    ask = [{"role": "user", "content": "what is the weather in Oslo?"}]
    r = client.chat.completions.create(model="openclaw", messages=ask, tools=weather)
    call = r.choices[0].message.tool_calls[0] if r.choices[0].message.tool_calls else None
    check("tool call", r.choices[0].finish_reason == "tool_calls" and call is not None and call.function.name == "get_weather", r)
    check("tool call arguments", json.loads(call.function.arguments) == {"city": "Oslo"}, call)
    follow = ask + [r.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    r = client.chat.completions.create(model="openclaw", messages=follow, tools=weather)
    check("tool result continues", r.choices[0].message.content == "The tool said: sunny", r)

    with client.chat.completions.stream(model="openclaw", messages=ask, tools=weather) as s:
        final = s.get_final_completion()
    streamed_call = final.choices[0].message.tool_calls[0]
    check("streamed tool call", streamed_call.id == "call_w" and json.loads(streamed_call.function.arguments) == {"city": "Oslo"},
          final)

    r = client.responses.create(model="openclaw", input="hi", instructions="be brief")
    check("responses", r.status == "completed" and r.output_text == REPLY, r)
    r2 = client.responses.create(model="openclaw", input="again", previous_response_id=r.id)
    check("responses previous_response_id", r2.output_text == REPLY, r2)

    with client.responses.stream(model="openclaw", input="hi") as s:
        kinds = [e.type for e in s]
        final = s.get_final_response()
    check("responses.stream helper", final.output_text == REPLY and kinds[0] == "response.created"
          and kinds[-1] == "response.completed", kinds)

    r = client.responses.create(model="openclaw", input="what is the weather?",
                                tools=[{"type": "function", "name": "get_weather", "parameters": weather[0]["function"]["parameters"]}])
    fc = [o for o in r.output if o.type == "function_call"]
    check("responses function_call", len(fc) == 1 and json.loads(fc[0].arguments) == {"city": "Oslo"}, r)

    try:
        OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list()
        check("wrong key refused", False, "no error")
    except openai.AuthenticationError as e:
        check("wrong key refused", e.status_code == 401)
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        check("unknown model refused", False, "no error")
    except openai.BadRequestError as e:
        check("unknown model refused", "not an agent" in str(e), e)


if __name__ == "__main__":
    main()
