"""Interop: the official `openclaw` CLI (npm, pinned in official-cli/package.json) against our
gateway, as a user of the official CLI would run it.

Our gateway (OPENCLAW_BIN) starts on a fresh home with only OPENCLAW_GATEWAY_TOKEN in its
environment (`--dev gateway --allow-unconfigured`, the origin document's dev quick start), and the
official CLI, with the same environment, runs the commands of the quick start and the status
pages. Each must exit 0 with its usual output, and the gateway must never answer one of them with
an unknown method. Exits non-zero on the first mismatch.

Environment: OPENCLAW_BIN (our binary), OFFICIAL_NODE (a Node >= 24.16) and OFFICIAL_CLI (the
package's openclaw.mjs).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOKEN = "interop-cli-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(name, cond, detail=""):
    if not cond:
        sys.exit(f"FAIL {name}: {detail}")
    print(f"ok   {name}")


def environment(home, port):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    tmp = os.path.join(home, "tmp")
    os.makedirs(tmp, exist_ok=True)
    env.update(HOME=home, TMPDIR=tmp, OPENCLAW_GATEWAY_TOKEN=TOKEN, OPENCLAW_GATEWAY_PORT=str(port),
               # The official CLI would otherwise ask the npm registry for updates and look for
               # gateways over Bonjour; the test talks to loopback only.
               OPENCLAW_OFFLINE="1", OPENCLAW_NO_AUTO_UPDATE="1", OPENCLAW_DISABLE_BONJOUR="1", NO_COLOR="1")
    return env


def start_gateway(env):
    proc = subprocess.Popen([os.environ["OPENCLAW_BIN"], "--dev", "gateway", "--allow-unconfigured"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    ready = threading.Event()

    def pump():
        for line in proc.stderr:
            lines.append(line.rstrip())
            if line.rstrip().endswith("[gateway] ready"):
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(15):
        proc.kill()
        sys.exit("the gateway did not start:\n" + "\n".join(lines))
    return proc, lines


def official(env, *args, timeout=120):
    cmd = [os.environ["OFFICIAL_NODE"], os.environ["OFFICIAL_CLI"], "--dev", *args]
    started = time.time()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"     openclaw --dev {' '.join(args)}: exit {r.returncode} in {time.time() - started:.1f} s")
    return r.returncode, r.stdout, r.stderr


def main():
    home = tempfile.mkdtemp(prefix="openclaw-official-cli-")
    port = free_port()
    env = environment(home, port)
    proc, lines = start_gateway(env)
    try:
        run(home, port, env)
        unknown = [line for line in lines if "unknown method" in line]
        check("no command met an unknown method", not unknown, "\n".join(unknown))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        # The official CLI fills its home with caches (about 26 MB a run); CI machines are shared.
        shutil.rmtree(home, ignore_errors=True)
    print("official CLI: all checks passed")


def run(home, port, env):
    with open(os.path.join(home, ".openclaw-dev", "openclaw.json")) as f:
        cfg = json.load(f)
    check("the dev config names the mode and keeps the user's token", cfg["gateway"]["auth"] == {"mode": "token"}, cfg)

    code, out, err = official(env, "gateway", "status")
    check("gateway status", code == 0 and "Connectivity probe: ok" in out and f"ws://127.0.0.1:{port}" in out, out + err)

    code, out, err = official(env, "gateway", "status", "--deep", "--json")
    v = json.loads(out) if code == 0 else {}
    check("gateway status --deep --json", v.get("rpc", {}).get("ok") is True and v["gateway"]["port"] == port, out + err)

    code, out, err = official(env, "status")
    gateway_row = next((line for line in out.splitlines() if "│ Gateway " in line), "")
    check("status", code == 0 and "reachable" in gateway_row and "unreachable" not in gateway_row, out + err)

    code, out, err = official(env, "status", "--deep")
    heartbeat_row = next((line for line in out.splitlines() if "Last heartbeat" in line), "")
    check("status --deep", code == 0 and "none" in heartbeat_row and re.search(r"│ Gateway\s+│ reachable", out), out + err)

    code, out, err = official(env, "health", "--json")
    check("health --json", code == 0 and json.loads(out).get("ok") is True, out + err)

    code, out, err = official(env, "logs", "--limit", "5")
    check("logs --limit 5", code == 0 and out.startswith("Log file: "), out + err)

    code, out, err = official(env, "channels", "status", "--probe")
    check("channels status --probe", code == 0 and "Gateway reachable." in out, out + err)

    code, out, err = official(env, "secrets", "reload")
    check("secrets reload", code == 0 and "Secrets reloaded." in out, out + err)

    code, out, err = official(env, "gateway", "call", "health")
    body = out.split("\n", 1)[1] if "\n" in out else ""
    check("gateway call health", code == 0 and out.startswith("Gateway call: health") and json.loads(body).get("ok") is True,
          out + err)

    code, out, err = official(env, "agent", "-m", "hello")
    check("agent -m hello", code == 0 and "[offline]" in out and 'You said: "hello"' in out, out + err)


if __name__ == "__main__":
    main()
