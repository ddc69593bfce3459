// The official Node client (@openclaw/gateway-client) against the real `openclaw` binary:
// connect with a token, call `health` and `status`, receive a `tick`, chat with the agent (the
// built-in offline responder: no model is configured) through `chat.send` and its events and
// through `agent` with `expectFinal`, and see `shutdown` when the gateway gets SIGTERM. A wrong
// token must surface the official error. Exits non-zero on failure.
//
// Usage: OPENCLAW_BIN=target/release/openclaw node gateway-client.test.mjs

import { GatewayClient } from "@openclaw/gateway-client";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = process.env.OPENCLAW_BIN;
if (!bin) {
  console.error("set OPENCLAW_BIN to the openclaw binary");
  process.exit(2);
}
const TOKEN = "interop-token-0123456789";
const deadline = setTimeout(() => fail("interop test timed out after 40 s"), 40_000);

const home = mkdtempSync(join(tmpdir(), "openclaw-interop-"));
mkdirSync(join(home, ".openclaw"), { recursive: true });
mkdirSync(join(home, "tmp"), { recursive: true });
writeFileSync(join(home, ".openclaw", "openclaw.json"), JSON.stringify({ gateway: { mode: "local", auth: { mode: "token", token: TOKEN } } }));

const env = { ...process.env, HOME: home, TMPDIR: join(home, "tmp"), OPENCLAW_TICK_INTERVAL_MS: "300" };
for (const k of Object.keys(env)) if (k.startsWith("OPENCLAW_") && k !== "OPENCLAW_TICK_INTERVAL_MS") delete env[k];
const gateway = spawn(bin, ["gateway", "--port", "0"], { env, stdio: ["ignore", "ignore", "pipe"] });
let stderr = "";
const exited = new Promise((resolve) => gateway.on("exit", (code, signal) => resolve({ code, signal })));

function fail(message) {
  console.error(`FAIL: ${message}`);
  console.error(stderr);
  try { gateway.kill("SIGKILL"); } catch {}
  rmSync(home, { recursive: true, force: true });
  process.exit(1);
}

function check(cond, message) {
  if (!cond) fail(message);
  console.log(`ok - ${message}`);
}

const port = await new Promise((resolve) => {
  gateway.stderr.on("data", (chunk) => {
    stderr += chunk.toString();
    const m = stderr.match(/listening on ws:\/\/127\.0\.0\.1:(\d+)/);
    if (m && stderr.includes("[gateway] ready")) resolve(Number(m[1]));
  });
});
const url = `ws://127.0.0.1:${port}`;

// 1. A wrong token is refused with the official details.
{
  const refused = Promise.withResolvers();
  const bad = new GatewayClient({
    url,
    token: "wrong-token",
    onHelloOk: () => refused.reject(new Error("connected with a wrong token")),
    onConnectError: (err) => refused.resolve(err),
    onClose: (code, reason) => refused.resolve({ code, reason }),
  });
  bad.start();
  const err = await refused.promise.catch((e) => fail(e.message));
  bad.stop();
  const text = `${err?.message ?? ""} ${err?.reason ?? ""} ${JSON.stringify(err?.details ?? err?.gatewayError ?? {})}`;
  check(/token mismatch|AUTH_TOKEN_MISMATCH/.test(text), `wrong token refused (${text.trim().slice(0, 120)})`);
}

// 2. The right token: hello, health, status, tick, shutdown.
const hello = Promise.withResolvers();
const tick = Promise.withResolvers();
const shutdown = Promise.withResolvers();
const chatFinal = Promise.withResolvers();
const chatDeltas = [];
const client = new GatewayClient({
  url,
  token: TOKEN,
  onHelloOk: (h) => hello.resolve(h),
  onConnectError: (err) => hello.reject(err),
  onEvent: (ev) => {
    if (ev.event === "tick") tick.resolve(ev);
    if (ev.event === "shutdown") shutdown.resolve(ev);
    if (ev.event === "chat" && ev.payload?.runId === "interop-chat-1") {
      if (ev.payload.state === "delta") chatDeltas.push(ev.payload.deltaText);
      if (["final", "error", "aborted"].includes(ev.payload.state)) chatFinal.resolve(ev);
    }
  },
});
client.start();
const h = await hello.promise.catch((e) => fail(`connect failed: ${e?.message ?? e}`));
check(h.protocol === 4, "hello-ok speaks protocol 4");
check(Array.isArray(h.features?.methods) && h.features.methods.includes("health"), "hello-ok lists health");
check(JSON.stringify(h.auth?.scopes) === JSON.stringify(["operator.admin"]), "default client scopes granted");

const health = await client.request("health", {}).catch((e) => fail(`health failed: ${e?.message ?? e}`));
check(health?.ok === true, "health RPC returns ok");
const status = await client.request("status", {}).catch((e) => fail(`status failed: ${e?.message ?? e}`));
check(typeof status?.runtimeVersion === "string" && status.pid === gateway.pid, "status RPC reports our process");
const unknown = await client.request("no.such.method", {}).then(() => null, (e) => e);
check(unknown && /unknown method: no\.such\.method/.test(unknown.message ?? String(unknown)), "unknown method error surfaces");

const t = await tick.promise;
check(typeof t.payload?.ts === "number" && typeof t.seq === "number", "tick event received");

const ack = await client.request("chat.send", { sessionKey: "main", message: "hello from node", idempotencyKey: "interop-chat-1" })
  .catch((e) => fail(`chat.send failed: ${e?.message ?? e}`));
check(ack?.runId === "interop-chat-1" && ack?.status === "started", "chat.send acknowledges the run");
const final = await chatFinal.promise;
const answer = final.payload?.message?.content?.[0]?.text ?? "";
check(final.payload?.state === "final" && answer.startsWith("[offline]"), "chat final event carries the answer");
check(chatDeltas.join("") === answer, "chat deltas add up to the final answer");
const history = await client.request("chat.history", { sessionKey: "main" }).catch((e) => fail(`chat.history failed: ${e?.message ?? e}`));
check(history?.messages?.length === 2 && history.messages[0].content === "hello from node", "chat.history has both turns");

let acceptedSeen = false;
const agentFinal = await client
  .request("agent", { message: "and from agent", idempotencyKey: "interop-agent-1" }, { expectFinal: true, onAccepted: () => { acceptedSeen = true; } })
  .catch((e) => fail(`agent failed: ${e?.message ?? e}`));
check(agentFinal?.status === "ok" && agentFinal?.result?.payloads?.[0]?.text?.startsWith("[offline]"), "agent with expectFinal gets the result");
check(acceptedSeen, "agent answered accepted first, on the same request id");

gateway.kill("SIGTERM");
const s = await shutdown.promise;
check(s.payload?.reason === "gateway stopping", "shutdown event before the socket closes");
client.stop();
const exit = await exited;
check(exit.code === 0, "gateway exits 0 after SIGTERM");

clearTimeout(deadline);
rmSync(home, { recursive: true, force: true });
console.log("interop: all checks passed");
