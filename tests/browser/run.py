#!/usr/bin/env python3
"""The control panel (panel/) in a real browser: Debian's headless Chromium and chromedriver,
driven by selenium, against the real gateway binary.

    OPENCLAW_BIN=target/release/openclaw python3 tests/browser/run.py [NAME-FILTER ...]

It installs what it needs: chromium and chromium-driver with apt-get (as root, when missing), and
selenium and jsonschema from PyPI into a venv under target/. Every frame the panel sends is
validated against protocol/protocol.schema.json; the JavaScript console must stay free of
errors; a screenshot of each page goes to target/browser-screenshots/.

Environment:
  OPENCLAW_BIN               the gateway binary (default: target/release/openclaw)
  PANEL_SERVED_BY_GATEWAY=0  serve panel/ from a static server (the gateway's own copy is the default)
  PANEL_BASE_PATH            where the panel is served (default / from the gateway, /ui/ from the static server)
  PANEL_CPU_SECONDS          length of the idle-CPU measurement with the panel open (default 60; 0 skips it)
  PANEL_EXPECT_BACKEND=0     skip the device-pairing tests when the gateway lacks that back end (default: fail)
  PANEL_TEST_ECHO=1          echo the gateway's stderr
"""

import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV = ROOT / "target" / "browser-venv"


def bootstrap():
    """Re-runs this script inside the venv, creating it first when needed."""
    py = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not py.exists():
        print(f"==> creating {VENV} (selenium, jsonschema, websockets)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(py), "-c", "import selenium, jsonschema, websockets"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(HERE / "requirements.txt")], check=True)
    os.execv(str(py), [str(py), __file__, *sys.argv[1:]])


def ensure_chromium():
    missing = [pkg for cmd, pkg in (("chromium", "chromium"), ("chromedriver", "chromium-driver")) if not shutil.which(cmd)]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"missing {', '.join(missing)}: install them (apt-get install -y chromium chromium-driver)")
    print(f"==> installing {' '.join(missing)}", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, stdout=subprocess.DEVNULL)


class Skip(Exception):
    """A test that cannot run here, with the reason."""


def main():
    bootstrap()
    ensure_chromium()
    # Selenium must never look for a driver or a browser on the internet: both are Debian's.
    os.environ.setdefault("SE_OFFLINE", "true")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    sys.path.insert(0, str(HERE))
    import suite  # noqa: E402 - after the venv is in place

    binary = os.environ.get("OPENCLAW_BIN") or str(ROOT / "target" / "release" / "openclaw")
    if not Path(binary).exists():
        sys.exit(f"no gateway binary at {binary}: build it (cargo build --release) or set OPENCLAW_BIN")
    filters = sys.argv[1:]
    tests = [t for t in suite.TESTS if not filters or any(f in t.__name__ for f in filters)]
    ctx = suite.Context(os.path.abspath(binary), Skip)
    passed = failed = skipped = 0
    started = time.monotonic()
    try:
        for t in tests:
            t0 = time.monotonic()
            name = t.__name__
            try:
                ctx.before(t)
                t(ctx)
                ctx.after(t)
            except Skip as s:
                skipped += 1
                print(f"SKIP {name}: {s}", flush=True)
                continue
            except Exception:  # noqa: BLE001 - report every failure and go on
                failed += 1
                print(f"FAIL {name} ({time.monotonic() - t0:.1f}s)\n{traceback.format_exc()}", flush=True)
                ctx.failed(t)
                continue
            passed += 1
            print(f"ok   {name} ({time.monotonic() - t0:.1f}s)", flush=True)
    finally:
        ctx.close()
    for line in ctx.report:
        print(line)
    print(f"\nbrowser tests: {time.monotonic() - started:.0f}s, screenshots in {suite.SCREENSHOTS}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
