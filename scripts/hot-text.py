#!/usr/bin/env python3
"""Writes scripts/hot-text.ld: the functions an idle gateway runs, placed together at link time.

    scripts/hot-text.py BINARY [OUTPUT]

BINARY is a release artifact before stripping: `scripts/build-release.sh x86_64` leaves it, with
its symbols, in target/x86_64-unknown-linux-musl/release/openclaw (and the stripped copy in dist/).
Then build again, so that the artifacts link with the new list. Needs valgrind.

It runs under valgrind's callgrind through what a board's gateway does before it goes idle:
the first start in a fresh home (writing its config), `/health`, an operator's WebSocket
connection with `health` and `status`, and a few seconds of idling. Every function that ran is
listed in a linker script that puts its section into one output section, `.text.hot`, ahead of
the rest of the code (scripts/build-release.sh passes it to the linker).

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
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


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


def run_workload(binary, out_file):
    home = tempfile.mkdtemp(prefix="openclaw-hot-text-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    env.update({"HOME": home, "TMPDIR": home})
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", "--demangle=no",
           "--compress-strings=no", "--compress-pos=no", binary, "--dev", "gateway", "--allow-unconfigured",
           "--port", "0"]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in proc.stderr), daemon=True).start()
    try:
        deadline = time.time() + 120
        port = None
        while not (port and any(l.endswith("[gateway] ready") for l in lines)):
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("the gateway did not start under valgrind:\n" + "\n".join(lines[-20:]))
            for l in lines:
                m = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", l)
                if m:
                    port = int(m.group(1))
            time.sleep(0.05)
        with open(os.path.join(home, ".openclaw-dev", "openclaw.json")) as f:
            token = json.load(f)["gateway"]["auth"]["token"]
        http_get(port, "/health")
        s = ws_connect(port)
        challenge = ws_recv(s)
        if challenge.get("event") != "connect.challenge":
            raise RuntimeError(f"no challenge: {challenge}")
        call(s, "1", "connect", {"minProtocol": 4, "maxProtocol": 4, "role": "operator",
                                 "scopes": ["operator.read"],
                                 "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
                                 "auth": {"token": token}})
        call(s, "2", "health", {})
        call(s, "3", "status", {})
        s.close()
        time.sleep(6)  # the timers an idle gateway runs
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    finally:
        if proc.poll() is None:
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
        out_file = os.path.join(tmp, "callgrind.out")
        run_workload(binary, out_file)
        names = with_aliases(functions_that_ran(out_file), binary)
    patterns = sorted({p for p in map(section_pattern, names) if p})
    with open(output, "w") as f:
        f.write("/* Written by scripts/hot-text.py: the functions an idle gateway runs, together at the start\n")
        f.write("   of the code so that few of the binary's pages become resident. Regenerate; do not edit. */\n")
        f.write("SECTIONS {\n  .text.hot : {\n")
        for p in patterns:
            # A function the compiler thinks cold (`#[cold]`, or only reached from a panic path)
            # sits in `.text.unlikely.<symbol>`; some of those run at start-up too.
            f.write(f"    *(.text.{p} .text.unlikely.{p})\n")
        f.write("  }\n}\nINSERT BEFORE .text;\n")
    print(f"{len(patterns)} functions -> {output}")


if __name__ == "__main__":
    main()
