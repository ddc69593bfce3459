#!/usr/bin/env python3
"""Writes scripts/hot-text.ld: the functions an idle gateway runs and those a conversation adds,
each set placed together at link time.

    scripts/hot-text.py BINARY [OUTPUT]

BINARY is a release artifact before stripping: `scripts/build-release.sh x86_64` leaves it, with
its symbols, in target/x86_64-unknown-linux-musl/release/openclaw (and the stripped copy in dist/).
Then build again, so that the artifacts link with the new list. Needs valgrind (and its
`callgrind_control`).

It runs the gateway under valgrind's callgrind. Three times through what a board's gateway does
before it goes idle: the first start in a fresh home (writing its config), `/health`, an
operator's WebSocket connection with `health` and `status`, and a few seconds of idling. Then
once through a conversation: a gateway with a model provider (a local fake that streams an
answer the way OpenAI's chat completions API does, over TLS as real providers and chat services
are reached, with the test certificates in tests/fixtures/tls) answers two `chat.send` turns and
a direct message from Telegram (a local fake of the Bot API's long polling, also over TLS): the
agent's path, which every channel's messages take, and the most common channel's own code. Each
run is profiled up to its shutdown, which runs once, at the end. The functions that ran are
listed in a linker script that puts their sections together (scripts/build-release.sh passes the
script to the linker): the idle ones in `.text.hot`, ahead of the rest of the code, and those
only the conversation ran in `.text.warm`, after it, so that an idle gateway does not touch them
and one that has talked has them in few pages.

Why: the kernel maps a binary's code into a process 64 KiB at a time around each page it touches
("fault-around"), so start-up code spread over the whole binary makes almost all of it resident.
With the code that runs packed together, the idle resident set is that code plus what it reads.

The script lists section patterns, not addresses: the hash in each Rust symbol becomes `*`, so the
list survives most code changes. A function missing from it (new, renamed) still links, in `.text`
with the rest; only the idle memory grows. Rerun this after large changes; the footprint harness's
idle-RSS gate says when.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
IDLE_RUNS = 3


def ws_connect(port):
    """A minimal WebSocket client (RFC 6455): upgrade, then text frames in and out."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise RuntimeError("the gateway closed the connection during the upgrade")
        head += chunk
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"no upgrade: {head!r}")
    return s


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise RuntimeError("the gateway closed the connection")
        data += chunk
    return data


def ws_recv(s):
    """One message, reassembled from a text frame and its continuations."""
    message = b""
    while True:
        b0, b1 = recv_exact(s, 2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", recv_exact(s, 2))[0]
        elif n == 127:
            n = struct.unpack(">Q", recv_exact(s, 8))[0]
        payload = recv_exact(s, n)
        if b0 & 0x0F in (0x9, 0xA):  # ping / pong between fragments
            continue
        message += payload
        if b0 & 0x80:
            return json.loads(message)


def ws_send(s, obj):
    data = json.dumps(obj).encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    elif len(data) < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", len(data))
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", len(data))
    s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def call(s, rid, method, params):
    ws_send(s, {"type": "req", "id": rid, "method": method, "params": params})
    while True:
        frame = ws_recv(s)
        if frame.get("type") == "res" and frame.get("id") == rid:
            if not frame.get("ok"):
                raise RuntimeError(f"{method} failed: {frame.get('error')}")
            return frame.get("payload")


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"GET {path}: {data[:200]!r}")


TLS_FIXTURES = os.path.join(HERE, "..", "tests", "fixtures", "tls")


class TlsServer:
    """An HTTPS server on a free loopback port, one thread per connection, one request per
    connection (`Connection: close`), with the test certificate for localhost. Subclasses answer
    with `respond(method, path, body) -> (status, content type, bytes)`."""

    def __init__(self):
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(os.path.join(TLS_FIXTURES, "server.pem"), os.path.join(TLS_FIXTURES, "server.key"))
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, raw):
        with raw:
            raw.settimeout(120)
            try:
                conn = self.tls.wrap_socket(raw, server_side=True)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, body = data.split(b"\r\n\r\n", 1)
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in header_lines:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    body += chunk
                method, path, _ = request_line.split(" ", 2)
                status, content_type, payload = self.respond(method, path, body)
                conn.sendall(f"HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
                             f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
            except (OSError, ssl.SSLError, ValueError):
                return

    def close(self):
        self.closed = True
        self.server.close()


class FakeModel(TlsServer):
    """An OpenAI-compatible provider: every `POST …/chat/completions` gets a short answer,
    streamed as server-sent events (the gateway always asks for a stream)."""

    def respond(self, method, path, body):
        words = ["Hello", " from", " the", " fake", " model."]
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        events = []
        for i, word in enumerate(words):
            delta = {"role": "assistant", "content": word} if i == 0 else {"content": word}
            events.append({"id": "chatcmpl-hot", "object": "chat.completion.chunk", "created": 1, "model": "echo",
                           "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        events.append({"id": "chatcmpl-hot", "object": "chat.completion.chunk", "created": 1, "model": "echo",
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage})
        sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return 200, "text/event-stream", sse.encode()


class FakeTelegram(TlsServer):
    """The Telegram Bot API methods the channel calls (`POST /bot<token>/<method>` with a JSON
    body, as the channel sends them): one direct message waits in `getUpdates`; `sendMessage`
    records the answers."""

    BOT = {"id": 7000001, "is_bot": True, "first_name": "Hot Text", "username": "hot_text_bot"}

    def __init__(self):
        self.pending = [{"update_id": 1, "message": {
            "message_id": 10, "date": int(time.time()), "text": "hello from telegram",
            "from": {"id": 42, "is_bot": False, "first_name": "Alice", "username": "alice"},
            "chat": {"id": 42, "type": "private", "first_name": "Alice", "username": "alice"}}}]
        self.sent = []  # appended by the server's threads, read by the workload
        super().__init__()

    def respond(self, method, path, body):
        name = path.rsplit("/", 1)[-1].lower()
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        ok = lambda result: (200, "application/json", json.dumps({"ok": True, "result": result}).encode())
        if name == "getme":
            return ok(self.BOT)
        if name == "getupdates":
            offset = int(params.get("offset") or 0)
            deadline = time.time() + min(float(params.get("timeout") or 0), 2.0)
            while True:
                ready = [u for u in self.pending if u["update_id"] >= offset]
                if ready or time.time() >= deadline or self.closed:
                    return ok(ready)
                time.sleep(0.05)
        if name == "sendmessage":
            self.sent.append(str(params.get("text", "")))
            message = {"message_id": 100 + len(self.sent), "date": int(time.time()), "from": self.BOT,
                       "chat": {"id": int(params.get("chat_id") or 42), "type": "private"},
                       "text": params.get("text", "")}
            return ok(message)
        if name == "sendchataction":
            return ok(True)
        missing = {"ok": False, "error_code": 404, "description": "Not Found"}
        return 404, "application/json", json.dumps(missing).encode()


def start_under_callgrind(binary, out_file, home, extra_args, extra_env=None):
    """Starts the gateway under callgrind in `home` and waits until it is ready; returns the
    process and its port."""
    # None of this machine's own settings: a board has no OPENCLAW_ overrides and, usually, no
    # certificate variables (a machine that sets SSL_CERT_DIR would have the profile read a
    # directory of certificates, which no board does).
    machine_only = ("SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_") and k not in machine_only}
    env.update({"HOME": home, "TMPDIR": home, **(extra_env or {})})
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", "--demangle=no",
           "--compress-strings=no", "--compress-pos=no", binary, "--dev", "gateway", *extra_args, "--port", "0"]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in proc.stderr), daemon=True).start()
    deadline = time.time() + 120
    port = None
    while not (port and any(l.endswith("[gateway] ready") for l in lines)):
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("the gateway did not start under valgrind:\n" + "\n".join(lines[-20:]))
        for l in lines:
            m = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", l)
            if m:
                port = int(m.group(1))
        time.sleep(0.05)
    return proc, port


def stop(proc):
    """SIGTERM, as a service manager stops the gateway; callgrind writes its profile on exit."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()


def dump_before_shutdown(proc, home, out_file):
    """Writes the profile so far to `<out_file>.1`. The shutdown that follows runs once, at the
    end; its functions in either list would spread the ones a running gateway uses over more pages.
    callgrind_control finds the process through pipes valgrind made in its TMPDIR, and it exits 0
    even when it failed, hence the wait for the file."""
    subprocess.run(["callgrind_control", "--dump=before-shutdown", str(proc.pid)], env=dict(os.environ, TMPDIR=home),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    deadline = time.time() + 60
    while not os.path.exists(out_file + ".1"):
        if time.time() > deadline:
            raise RuntimeError("callgrind_control did not dump the gateway's profile")
        time.sleep(0.1)


def operator(port, token, rid, scopes):
    """An operator's WebSocket connection, past the challenge and `connect`."""
    s = ws_connect(port)
    challenge = ws_recv(s)
    if challenge.get("event") != "connect.challenge":
        raise RuntimeError(f"no challenge: {challenge}")
    call(s, rid, "connect", {"minProtocol": 4, "maxProtocol": 4, "role": "operator", "scopes": scopes,
                             "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
                             "auth": {"token": token}})
    return s


def run_conversation(binary, out_file):
    """Two `chat.send` turns and a Telegram direct message, answered by the fake model. The
    profile up to the end of the conversation is in `<out_file>.1`."""
    home = tempfile.mkdtemp(prefix="openclaw-hot-text-")
    model = FakeModel()
    telegram = FakeTelegram()
    token = "hot-text-token"
    config = {"gateway": {"mode": "local", "auth": {"mode": "token", "token": token}},
              "channels": {"telegram": {"botToken": "7000001:hot-text", "apiRoot": f"https://localhost:{telegram.port}",
                                        "dmPolicy": "open", "allowFrom": ["*"]}},
              "models": {"providers": {"fake": {"baseUrl": f"https://localhost:{model.port}/v1", "apiKey": "k",
                                                "api": "openai-completions",
                                                "models": [{"id": "echo", "contextWindow": 32768}]}}},
              "agents": {"defaults": {"model": "fake/echo"}}}
    os.makedirs(os.path.join(home, ".openclaw-dev"))
    with open(os.path.join(home, ".openclaw-dev", "openclaw.json"), "w") as f:
        json.dump(config, f)
    proc = None
    try:
        # As on a board: the system bundle, and the fakes' CA beside it.
        trust = {"NODE_EXTRA_CA_CERTS": os.path.join(TLS_FIXTURES, "ca.pem")}
        proc, port = start_under_callgrind(binary, out_file, home, [], trust)
        s = operator(port, token, "1", ["operator.read", "operator.write"])
        for turn, text in enumerate(["hello", "and again"], start=2):
            run_id = f"hot-text-{turn}"
            call(s, str(turn), "chat.send", {"sessionKey": "main", "message": text, "idempotencyKey": run_id})
            deadline = time.time() + 120
            while True:
                if time.time() > deadline:
                    raise RuntimeError(f"no final chat event for turn {turn}")
                frame = ws_recv(s)
                payload = frame.get("payload") or {}
                if frame.get("event") == "chat" and payload.get("runId") == run_id:
                    if payload.get("state") == "error":
                        raise RuntimeError(f"the turn failed: {payload}")
                    if payload.get("state") == "final":
                        break
        deadline = time.time() + 120
        while not telegram.sent:  # the Telegram message, answered through the same agent
            if time.time() > deadline:
                raise RuntimeError("the Telegram message was not answered")
            time.sleep(0.1)
        s.close()
        dump_before_shutdown(proc, home, out_file)
        stop(proc)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        model.close()
        telegram.close()
        shutil.rmtree(home, ignore_errors=True)


def run_idle(binary, out_file):
    """The first start in a fresh home, `/health`, an operator's `health` and `status`, idling.
    The profile up to the end of the idling is in `<out_file>.1` (the shutdown's in `out_file`)."""
    home = tempfile.mkdtemp(prefix="openclaw-hot-text-")
    proc = None
    try:
        proc, port = start_under_callgrind(binary, out_file, home, ["--allow-unconfigured"])
        with open(os.path.join(home, ".openclaw-dev", "openclaw.json")) as f:
            token = json.load(f)["gateway"]["auth"]["token"]
        http_get(port, "/health")
        s = operator(port, token, "1", ["operator.read"])
        call(s, "2", "health", {})
        call(s, "3", "status", {})
        s.close()
        time.sleep(6)  # the timers an idle gateway runs
        dump_before_shutdown(proc, home, out_file)
        stop(proc)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        shutil.rmtree(home, ignore_errors=True)


def functions_that_ran(callgrind_out):
    names = set()
    with open(callgrind_out, errors="replace") as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                names.add(line.split("=", 1)[1].strip())
    return names


def with_aliases(names, binary):
    """The names plus every other name at the same address: valgrind reports one of them (`memcpy`),
    while the section may carry another (zig's `.text.compiler_rt.memcpy.memcpyFast`)."""
    by_address, address_of = {}, {}
    listing = subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            by_address.setdefault(parts[0], []).append(parts[2])
            address_of[parts[2]] = parts[0]
    out = set(names)
    for name in names:
        out.update(by_address.get(address_of.get(name), []))
    return out


def section_patterns(names, binary):
    """The section patterns of the functions `names` (valgrind's), their aliases included."""
    return {p for p in map(section_pattern, with_aliases(names, binary)) if p}


def previous_idle_patterns(path):
    """The idle patterns of the list being replaced (none when there is none)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return set()
    hot = text.split(".text.hot :", 1)[1].split("INSERT", 1)[0] if ".text.hot :" in text else ""
    return set(re.findall(r"\*\(\.text\.(\S+) \.text\.unlikely\.", hot))


def still_present(patterns, binary):
    """Those of `patterns` that some function of `binary` still has. A function seen running in an
    idle gateway by an earlier profile stays in the list: some run only when the threads happen to
    meet in a certain order (a parked thread's waker dropped while another holds it), which a
    profile under valgrind, fifty times slower, may not see every time."""
    listing = subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout
    present = {section_pattern(parts[2]) for parts in map(str.split, listing.splitlines()) if len(parts) == 3 and parts[1] in "tTwW"}
    return patterns & present


def section_pattern(symbol):
    """A function's symbol as a pattern, with what changes between builds as `*`.

    A Rust (v0) symbol names each crate with a disambiguator, a hash of the crate's version, features
    and compiler (`Cs9dubBuN6axB_`), and refers back to earlier parts of itself by offset (`B1e_`),
    which moves when a disambiguator's length does; LTO adds `.llvm.<hash>` to the functions it makes
    local, and a number to local copies. The names themselves stay.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.$]*", symbol):
        return None  # valgrind's placeholders ("0x1234", "(below main)") and odd names
    if symbol.startswith("_R"):
        # A crate root is `Cs<disambiguator>_` then the crate name's length; a back reference is
        # `B<offset>_`, a few base-62 digits. Should either pattern also match inside an identifier,
        # the result still matches this symbol, only more loosely.
        symbol = re.sub(r"Cs[0-9A-Za-z]+_(?=[0-9])", "Cs*_", symbol)
        symbol = re.sub(r"B[0-9A-Za-z]{0,4}_", "B*_", symbol)
        symbol = re.sub(r"(\.llvm)?\.[0-9]+$", "*", symbol)  # numbered copies of local functions
        # A generic function's symbol ends with the crate that instantiated it; LTO keeps one of the
        # copies several crates made, and which one can change from build to build.
        tail = re.search(r"(B\*_|Cs\*_([0-9]+)([A-Za-z0-9_]+))$", symbol)
        if tail and (tail.group(2) is None or int(tail.group(2)) == len(tail.group(3))):
            symbol = symbol[: tail.start(1)] + "*"
    else:
        symbol = re.sub(r"17h[0-9a-f]{16}E", "17h*E", symbol)  # legacy mangling: the hash at the end
    return re.sub(r"\*+", "*", symbol)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    output = sys.argv[2] if len(sys.argv) == 3 else os.path.join(HERE, "hot-text.ld")
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is required (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        # Which functions an idle gateway runs varies a little from run to run (what the timers
        # and the threads happen to do while it is watched); one missing from the list costs a
        # 64 KiB window of resident code elsewhere, so the list is the union of a few runs.
        idle_names = set()
        for run in range(IDLE_RUNS):
            idle_out = os.path.join(tmp, f"idle-{run}.out")
            run_idle(binary, idle_out)
            idle_names |= functions_that_ran(idle_out + ".1")
        talk_out = os.path.join(tmp, "conversation.out")
        run_conversation(binary, talk_out)
        idle = section_patterns(idle_names, binary) | still_present(previous_idle_patterns(output), binary)
        talk = section_patterns(functions_that_ran(talk_out + ".1"), binary) - idle
    with open(output, "w") as f:
        f.write("/* Written by scripts/hot-text.py: the functions an idle gateway runs, together at the start of\n")
        f.write("   the code, and those a conversation adds, together at its end, so that few of the binary's\n")
        f.write("   pages become resident. Regenerate; do not edit. */\n")
        # The conversation's functions go after the rest of the code, not between it and the idle
        # ones: the start of `.text` (the C start-up code) runs at every start, and there it shares
        # a 64 KiB window with the idle functions' end.
        for section, where, patterns in ((".text.hot", "BEFORE", idle), (".text.warm", "AFTER", talk)):
            f.write(f"SECTIONS {{\n  {section} : {{\n")
            for p in sorted(patterns):
                # A function the compiler thinks cold (`#[cold]`, or only reached from a panic path)
                # sits in `.text.unlikely.<symbol>`; some of those run at start-up too.
                f.write(f"    *(.text.{p} .text.unlikely.{p})\n")
            f.write(f"  }}\n}}\nINSERT {where} .text;\n")
    print(f"{len(idle)} idle functions, {len(talk)} more in a conversation -> {output}")


if __name__ == "__main__":
    main()
