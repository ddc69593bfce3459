//! Every size limit and timeout of the gateway, in one place, so the footprint can be audited.
//!
//! Values that the official gateway advertises or documents keep the official number. A few can
//! be tuned at start-up through environment variables (see [`Tuning`]); the official gateway has
//! the same kind of knob for its handshake timeout (`OPENCLAW_HANDSHAKE_TIMEOUT_MS`).

use std::time::Duration;

/// Default gateway port (`gateway.port`).
pub const DEFAULT_PORT: u16 = 18789;
/// Port of the `--dev` profile; it outranks `gateway.port` as the official dev profile does.
pub const DEV_PORT: u16 = 19001;

// ---- HTTP/1.1 -------------------------------------------------------------------------------

/// Largest request head (request line + headers) we buffer before answering 431.
pub const HTTP_MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header lines a request may carry before we answer 431.
pub const HTTP_MAX_HEADERS: usize = 64;
/// Time a client has, from its first byte, to send the whole request head (408 after).
pub const HTTP_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a fresh connection may stay silent before its first request; then it is closed.
pub const HTTP_FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle keep-alive time between requests (advertised as `Keep-Alive: timeout=5`).
pub const HTTP_KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
/// Time a client has to deliver a whole request body once the head is in (408 after).
pub const HTTP_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Time we wait for a client to accept one response before giving up on the connection.
pub const HTTP_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// After refusing a request whose body is still arriving, how long and how much of it we read
/// and drop before closing, so the client can read the refusal.
pub const HTTP_LINGER_TIME: Duration = Duration::from_secs(2);
pub const HTTP_LINGER_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Largest chunk-size line (hex digits plus extensions) in a chunked body.
pub const HTTP_MAX_CHUNK_LINE: usize = 1024;
/// Most simultaneous TCP connections (HTTP and WebSocket together); more are closed at accept.
/// An idle WebSocket client costs about 11 KiB, so the cap holds the worst case near 45 MiB on
/// a 512 MB Pi (`OPENCLAW_MAX_CONNECTIONS`).
pub const MAX_CONNECTIONS: usize = 4096;
/// Most connections that have not yet sent a complete request head (HTTP) or finished the
/// `connect` handshake (WebSocket): the cheap flood of silent sockets. More are closed at
/// accept; the ones there time out (`HTTP_FIRST_REQUEST_TIMEOUT`, `WS_HANDSHAKE_TIMEOUT`)
/// (`OPENCLAW_MAX_PENDING_CONNECTIONS`).
pub const MAX_PENDING_CONNECTIONS: usize = 256;
/// Pause after `accept` fails (for example EMFILE) so a full fd table cannot spin a core.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// Pause after waiting on the connections' `epoll` fails (it cannot with a valid descriptor), so
/// that a failure that persists does not spin a core either.
pub const EPOLL_ERROR_BACKOFF: Duration = Duration::from_millis(100);

// ---- HTTP client (model providers, chat APIs) ------------------------------------------------

/// Largest response head we accept from an upstream server.
pub const CLIENT_MAX_HEAD_BYTES: usize = 64 * 1024;
/// Bytes read from an upstream socket at a time.
pub const CLIENT_READ_BUFFER: usize = 8 * 1024;
/// Longest chunk-size or trailer line in an upstream chunked body.
pub const CLIENT_MAX_CHUNK_LINE: usize = 4096;
/// How long an idle keep-alive connection to a model provider is kept for the next request. Long
/// enough for the tool rounds of a run and a quick reply; a server that closes sooner is noticed
/// when the connection is taken.
pub const CLIENT_POOL_IDLE: Duration = Duration::from_secs(90);
/// Idle connections kept per server (scheme, host, port): enough for a few sessions answering at
/// once.
pub const CLIENT_POOL_PER_SERVER: usize = 4;
/// Idle connections kept in all (each TLS one holds some KiB of buffers and one descriptor).
pub const CLIENT_POOL_MAX: usize = 8;
/// At most this much of a body's rest is read after the caller is done with it, to reuse the
/// connection; a longer rest closes it.
pub const CLIENT_POOL_DRAIN_BYTES: usize = 16 * 1024;
/// Within this time; a slower rest closes the connection.
pub const CLIENT_POOL_DRAIN_TIME: Duration = Duration::from_secs(2);
/// Largest error body we keep from an upstream (enough for any provider's error JSON).
pub const CLIENT_MAX_ERROR_BODY: usize = 64 * 1024;
/// Longest line in an upstream event stream (one SSE `data:` line carries one JSON chunk).
pub const SSE_MAX_LINE: usize = 1024 * 1024;

// ---- HTTP APIs on the gateway port -----------------------------------------------------------

/// Largest body of `/v1/chat/completions` and `/v1/responses` (official 20 MB).
pub const V1_MAX_BODY_BYTES: usize = 20 * 1024 * 1024;
/// Largest body of `/tools/invoke` (official 2 MB).
pub const TOOLS_INVOKE_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Largest webhook body (official 256 KiB).
pub const HOOKS_MAX_BODY_BYTES: usize = 256 * 1024;
/// Failed hook-token attempts per client per window, and the lockout after (official 20/60 s).
pub const HOOKS_RATE_MAX_ATTEMPTS: u32 = 20;
pub const HOOKS_RATE_WINDOW: Duration = Duration::from_secs(60);
pub const HOOKS_RATE_LOCKOUT: Duration = Duration::from_secs(60);
/// Longest `/hooks/agent` with `waitForCompletion` holds the request.
pub const HOOK_COMPLETION_WAIT_MAX: Duration = Duration::from_secs(600);
/// `/v1/responses` ids remembered for `previous_response_id`.
pub const RESPONSES_REMEMBERED: usize = 1024;
/// Events buffered between a run and a streaming HTTP response (the run waits when it is full).
/// Small, since each event can carry the answer so far.
pub const HTTP_STREAM_QUEUE: usize = 8;

// ---- WebSocket protocol ---------------------------------------------------------------------

/// Protocol version we speak (hello-ok `protocol`).
pub const PROTOCOL_VERSION: u64 = 4;
/// Oldest protocol a probe (`client.mode = "probe"`) or node client may announce.
pub const MIN_PROBE_PROTOCOL_VERSION: u64 = 3;
/// `policy.maxPayload`: largest frame after hello (close 1009 above it).
pub const WS_MAX_PAYLOAD: usize = 26_214_400;
/// `policy.maxBufferedBytes` default: a client whose outbound queue grows past this is dropped.
pub const WS_MAX_BUFFERED_BYTES: usize = 52_428_800;
/// Largest frame before `connect` succeeds (close 1009 above it).
pub const WS_PREAUTH_MAX_PAYLOAD: usize = 65_536;
/// tungstenite reads the socket in chunks of this size, into a buffer allocated with this
/// capacity for every connection. Its default (128 KiB) would cost more than the rest of an idle
/// client together; requests are small, and a large frame is still read whole, a chunk at a time
/// (measured: 4 KiB → 1 KiB took an idle client from 12.8 to 9.8 KiB, throughput unchanged).
/// 16 bytes short of 1 KiB because the release builds' `malloc` (Zig's) puts a 16-byte header
/// before each block and rounds up to a power of two: 1,024 bytes would take a 2 KiB block.
pub const WS_READ_CHUNK: usize = 1024 - 16;
/// Outbound messages longer than this go out as several frames (see `rpc::connection`).
pub const WS_FRAGMENT_BYTES: usize = 16 * 1024;
/// The same for the handshake's messages, `hello-ok` above all: a frame of this payload, its
/// 4-byte header and `malloc`'s 16-byte header fill a 1 KiB block, so the write buffer an idle
/// client keeps is 1 KiB instead of the 4 KiB a whole `hello-ok` (about 3 KB) would take.
pub const WS_HANDSHAKE_FRAGMENT_BYTES: usize = 1024 - 16 - 4;
/// Most bytes tungstenite may hold unsent for one connection (a frame being written plus the
/// pongs it answers pings with). Writes are fragmented at [`WS_FRAGMENT_BYTES`], so a reading
/// peer never gets near it; a peer that pings and never reads is closed when it is reached.
pub const WS_WRITE_BUFFER_MAX: usize = 64 * 1024;
/// Bytes queued for all WebSocket clients together. Each client may queue up to the official
/// `maxBufferedBytes` (50 MiB) alone, but twenty clients that stop reading must not take a
/// 512 MB board down: past this total the clients with the most queued are closed first
/// (1008 "slow consumer") (`OPENCLAW_MAX_BUFFERED_BYTES_TOTAL`).
pub const WS_TOTAL_BUFFERED_BYTES: usize = 32 * 1024 * 1024;
/// Bytes a queued outbound item is charged on top of its payload (queue slot, frame envelope).
pub const WS_QUEUE_ITEM_OVERHEAD: usize = 64;
/// Time from the upgrade to a successful `connect` (close 1000 after, like the official gateway).
pub const WS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Interval of the `tick` event (`policy.tickIntervalMs`).
pub const WS_TICK_INTERVAL: Duration = Duration::from_secs(30);
/// Interval of the periodic `health` event.
pub const WS_HEALTH_INTERVAL: Duration = Duration::from_secs(60);
/// After a channel's state moves, how long further changes are gathered into the same `health`
/// event (a start is followed within milliseconds by the connection, or its failure).
pub const WS_HEALTH_CHANGE_SETTLE: Duration = Duration::from_millis(250);
/// Least time between two `health` events sent for changes, so a flapping channel cannot flood
/// the clients.
pub const WS_HEALTH_CHANGE_GAP: Duration = Duration::from_secs(1);
/// Interval of WebSocket pings after hello; a client that has not answered the previous ping by
/// the next one is disconnected.
pub const WS_PING_INTERVAL: Duration = Duration::from_secs(25);
/// Time a closing connection gets to flush its last frames (shutdown event, close frame).
pub const WS_CLOSE_GRACE: Duration = Duration::from_millis(1000);
/// Time one outbound frame may take to reach the socket before the client counts as stuck.
pub const WS_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Pings a client may send in a burst, and how fast that allowance refills. Clients ping every
/// few seconds at most; a flood of pings costs the gateway a read and a pong each while the
/// peer need not read anything, so past this the connection is closed (1008).
pub const WS_PEER_PING_BURST: u32 = 64;
pub const WS_PEER_PINGS_PER_SECOND: u32 = 4;

// ---- Auth -----------------------------------------------------------------------------------

/// Failed shared-secret attempts per client IP inside [`AUTH_RATE_WINDOW`] before a lockout.
pub const AUTH_RATE_MAX_ATTEMPTS: u32 = 10;
/// Window over which failed attempts are counted.
pub const AUTH_RATE_WINDOW: Duration = Duration::from_secs(60);
/// Lockout after too many failures.
pub const AUTH_RATE_LOCKOUT: Duration = Duration::from_secs(300);
/// Most client IPs the rate limiter remembers; the oldest entry is evicted beyond this.
pub const AUTH_RATE_MAX_TRACKED: usize = 4096;
/// Every refused credential is answered after this delay, so guessing is slow even from
/// loopback (the official gateway answers a wrong token after about 260 ms).
pub const AUTH_FAILURE_DELAY: Duration = Duration::from_millis(250);
/// Largest token or password we compare (the official bound is 4096 code points).
pub const AUTH_SECRET_MAX_CHARS: usize = 4096;
/// Allowed clock skew for a device proof's `signedAt`.
pub const DEVICE_SIGNATURE_SKEW_MS: u64 = 120_000;
/// Largest runtime-token file a client command reads (the gateway writes 48 characters).
pub const RUNTIME_TOKEN_MAX_BYTES: usize = 1024;

// ---- Start-up and shutdown ------------------------------------------------------------------

/// Attempts to bind a busy port before reporting EADDRINUSE.
pub const BIND_RETRY_ATTEMPTS: u32 = 15;
/// Pause between bind attempts.
pub const BIND_RETRY_DELAY: Duration = Duration::from_millis(200);
/// Time `--force` waits for the old gateway to let go of the port before SIGKILL.
pub const FORCE_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Time between the shutdown broadcast and process exit at most.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_millis(1500);

// ---- Config and files -----------------------------------------------------------------------

/// How often the reloader stats the config file and its includes (`OPENCLAW_CONFIG_POLL_MS`).
pub const CONFIG_POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Largest config file (and each `$include`d file) we read.
pub const CONFIG_MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// Deepest `$include` nesting.
pub const CONFIG_MAX_INCLUDE_DEPTH: usize = 10;
/// Largest secret file read through a `file` secret provider (`secrets.providers.<alias>.path`).
pub const SECRET_FILE_MAX_BYTES: u64 = 1024 * 1024;
/// Deepest nesting of objects and arrays inside one JSON5 document.
pub const JSON5_MAX_DEPTH: usize = 128;

// ---- Logging --------------------------------------------------------------------------------

/// Default `logging.maxFileBytes`. The official default is 100 MiB; on a Raspberry Pi `/tmp` is
/// often RAM (tmpfs), so we keep the file at 10 MiB plus one rotated copy.
pub const LOG_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Dated log files older than this are removed at start-up and at midnight.
pub const LOG_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// `logs.tail` default line limit and its maximum.
pub const LOGS_TAIL_DEFAULT_LIMIT: u64 = 500;
pub const LOGS_TAIL_MAX_LIMIT: u64 = 5000;
/// `logs.tail` default byte budget and its maximum.
pub const LOGS_TAIL_DEFAULT_MAX_BYTES: u64 = 250_000;
pub const LOGS_TAIL_MAX_BYTES: u64 = 1_000_000;

// ---- Agent ----------------------------------------------------------------------------------

/// Longest a run may take by default (`agents.defaults.timeoutSeconds`, official 48 h).
pub const AGENT_RUN_TIMEOUT: Duration = Duration::from_secs(172_800);
/// Per-file cap on workspace files injected into the system prompt (`bootstrapMaxChars`).
pub const BOOTSTRAP_MAX_CHARS: usize = 20_000;
/// Cap on all injected workspace files together (`bootstrapTotalMaxChars`).
pub const BOOTSTRAP_TOTAL_MAX_CHARS: usize = 60_000;
/// Default `tools.exec.timeoutSec` (official value).
pub const EXEC_DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// Output kept from a command (stdout and stderr share it); the rest is counted, not kept.
pub const EXEC_MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Entries `ls` shows at most.
pub const LS_MAX_ENTRIES: usize = 500;
/// Lines `read` returns when the model gives no limit.
pub const READ_DEFAULT_LINES: usize = 2000;
/// Bytes `read` returns at most per call.
pub const READ_MAX_BYTES: usize = 50 * 1024;
/// Largest file `write` creates.
pub const WRITE_MAX_BYTES: usize = 1024 * 1024;
/// A tool result longer than this is cut before it goes to the model and the transcript.
pub const TOOL_RESULT_MAX_CHARS: usize = 64 * 1024;
/// A run's input (the new user message or tool results) at most, in characters: more than any
/// model's context holds, and it keeps every transcript line far below what is read back.
pub const RUN_INPUT_MAX_CHARS: usize = 1_000_000;
/// A model's answer in one run at most; a runaway model is stopped here.
pub const RUN_TEXT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Arguments of one streamed tool call at most, and tool calls in one model turn at most (with
/// the answer cap, this keeps every transcript line far below what is read back).
pub const TOOL_CALL_ARGS_MAX_BYTES: usize = 256 * 1024;
pub const TOOL_CALLS_PER_TURN_MAX: usize = 32;
/// How long a streaming HTTP reader may hold up a run that is already ending (aborted or timed
/// out); until then a slow reader only slows the run down.
pub const OBSERVER_GRACE: Duration = Duration::from_secs(2);
/// Model turns with tool calls per run before the run stops.
pub const AGENT_MAX_TOOL_STEPS: usize = 16;
/// Messages that may wait behind a session's active run (the official queue `cap`).
pub const AGENT_LANE_QUEUE_MAX: usize = 20;
/// The pause a caller is told to wait when a session's queue is full.
pub const AGENT_LANE_FULL_RETRY_MS: u64 = 2000;
/// The pause a caller is told to wait when the gateway is stopping or restarting
/// (`retryAfterMs` over WebSocket, `Retry-After` over HTTP).
pub const SHUTDOWN_RETRY_AFTER_MS: u64 = 1000;
/// Finished runs remembered for idempotency keys and `agent.wait`: at most this many, for at
/// most this long (each holds its answer's text).
pub const AGENT_FINISHED_RUNS_KEPT: usize = 256;
pub const AGENT_FINISHED_RUNS_TTL: Duration = Duration::from_secs(600);
/// `agent.wait` callers waiting for runs not submitted yet.
pub const AGENT_WAITERS_MAX: usize = 1024;
/// Transcript lines and bytes read to build a run's history (the model sees what fits its
/// context out of these); a long conversation costs no more memory than this.
pub const HISTORY_MAX_LINES: usize = 400;
pub const HISTORY_MAX_BYTES: u64 = 2 * 1024 * 1024;
/// Time runs get at shutdown to save their partial answers after being aborted.
pub const AGENT_SHUTDOWN_BUDGET: Duration = Duration::from_millis(1000);
/// Agent notices (run and session events) waiting for the hub; a run waits when it is full.
/// The queues between tasks are arrays allocated and touched when they are made, so every slot
/// is resident for the life of the process whether used or not (96 bytes a notice: 1,024 slots
/// were 96 KiB of an idle gateway's memory). Their readers only translate and pass on, so a few
/// dozen slots absorb any burst; beyond that the writer waits, which is the back-pressure wanted.
pub const AGENT_NOTICE_QUEUE: usize = 64;
/// Commands (submit, abort, wait, finished) waiting for the agent's scheduler task; a caller
/// beyond this waits its turn. Kept small for the reason [`AGENT_NOTICE_QUEUE`] gives.
pub const AGENT_SCHEDULER_QUEUE: usize = 32;
/// `agent.wait` without `timeoutMs` (official default).
pub const AGENT_WAIT_DEFAULT: Duration = Duration::from_secs(30);
/// Longest the `agent` method waits for its run's end before answering `timeout`.
pub const AGENT_FINAL_WAIT_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// System events (`wake` with `next-heartbeat`) kept per session for its next turn.
pub const SYSTEM_EVENTS_PER_SESSION: usize = 20;
/// Sessions with pending system events at most.
pub const SYSTEM_EVENTS_SESSIONS: usize = 1024;
/// `chat.history` messages by default.
pub const CHAT_HISTORY_DEFAULT_LIMIT: usize = 200;
/// Transcript bytes `chat.history` reads at most (older messages then count as `hasMore`).
pub const CHAT_HISTORY_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Messages a `chat.history` delta returns before it answers `reset` instead (official value).
pub const CHAT_HISTORY_DELTA_MAX: usize = 200;
/// Default `maxChars` per message in `chat.history`.
pub const CHAT_HISTORY_MESSAGE_MAX_CHARS: usize = 200_000;
/// `sessions.list` page size by default (official value).
pub const SESSIONS_LIST_DEFAULT_LIMIT: usize = 100;
/// Streamed text is passed on at most this often (the first words at once).
pub const DELTA_FLUSH_INTERVAL: Duration = Duration::from_millis(50);

// ---- Model providers ------------------------------------------------------------------------

/// DNS, TCP and TLS handshake to a provider.
pub const MODEL_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest silence from a cloud provider before a call counts as stalled (official value).
pub const MODEL_IDLE_TIMEOUT_CLOUD: Duration = Duration::from_secs(120);
/// The same for self-hosted servers (slow hardware takes longer to the first token).
pub const MODEL_IDLE_TIMEOUT_LOCAL: Duration = Duration::from_secs(300);
/// Calls per model before falling back (the first try and two retries).
pub const MODEL_MAX_ATTEMPTS: u32 = 3;
/// First retry delay; doubled for each further retry.
pub const MODEL_RETRY_BASE: Duration = Duration::from_millis(500);
/// A `Retry-After` longer than this fails the call (and falls back) instead of holding the run.
pub const MODEL_RETRY_AFTER_MAX: Duration = Duration::from_secs(60);
/// Context window assumed for a model whose config does not give one.
pub const MODEL_DEFAULT_CONTEXT_WINDOW: u32 = 128_000;
/// Output tokens asked for when the config does not say.
pub const MODEL_DEFAULT_MAX_TOKENS: u32 = 4096;

/// A count from the environment variable `name`, else `default` (also for a value that is not a
/// positive number).
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.trim().parse::<usize>().ok()).filter(|&v| v > 0).unwrap_or(default)
}

/// The agent's inbox of acknowledged runs is rewritten with only the unfinished ones past this
/// size.
pub const INBOX_COMPACT_BYTES: u64 = 1024 * 1024;
/// Longest inbox line read back (a run's input is bounded by [`RUN_INPUT_MAX_CHARS`]).
pub const INBOX_LINE_MAX_BYTES: usize = 8 * 1024 * 1024;

/// A channel journal is rewritten with only its unfinished entries past this size.
pub const JOURNAL_COMPACT_BYTES: u64 = 256 * 1024;
/// Longest journal line read back (an inbound message is bounded well below this).
pub const JOURNAL_LINE_MAX_BYTES: usize = 1024 * 1024;
/// Message ids remembered per channel to recognise redeliveries (Telegram, Discord resumes,
/// WhatsApp webhook retries) after they were answered.
pub const JOURNAL_SEEN_IDS: usize = 2000;
/// Longest inbound message text taken from a service (longer text is cut, with a notice).
pub const CHANNEL_TEXT_MAX_CHARS: usize = 32_000;
/// A pairing code is valid this long (official: 1 hour).
pub const PAIRING_CODE_TTL: Duration = Duration::from_secs(3600);
/// Pending pairing requests per channel (official: 3).
pub const PAIRING_PENDING_MAX: usize = 3;
/// Telegram `getUpdates` long-poll timeout (seconds on the wire).
pub const TELEGRAM_POLL_TIMEOUT: Duration = Duration::from_secs(30);
/// A long poll that has not answered this long after its timeout is stalled: the watchdog drops
/// it and reconnects.
pub const CHANNEL_STALL_GRACE: Duration = Duration::from_secs(15);
/// Reconnect backoff: first delay and cap (exponential with jitter in between).
pub const CHANNEL_BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const CHANNEL_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A connection that stayed up this long resets the backoff.
pub const CHANNEL_HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// A running channel that has not been connected for this long despite its reconnects is stuck:
/// the watchdog stops its pings, so the service manager restarts the gateway (the channel
/// journals mean nothing is lost) (`OPENCLAW_CHANNEL_RECOVERY_BUDGET_MS`).
pub const CHANNEL_RECOVERY_BUDGET: Duration = Duration::from_secs(600);
/// `STATUS=` refresh for the service manager when no watchdog sets a faster pace.
pub const NOTIFY_STATUS_INTERVAL: Duration = Duration::from_secs(10);
/// Longest the watchdog waits for the hub and the run scheduler to answer its round trip.
pub const WATCHDOG_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts for one outbound message (the first try included) before it is given up.
pub const CHANNEL_SEND_ATTEMPTS: u32 = 5;
/// First retry delay for outbound messages (doubles per attempt; `retry_after` wins).
pub const CHANNEL_SEND_RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest `retry_after` honoured for one outbound retry.
pub const CHANNEL_RETRY_AFTER_MAX: Duration = Duration::from_secs(60);
/// Timeouts for one request to a chat service's HTTP API.
pub const CHANNEL_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const CHANNEL_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest HTTP response body read from a chat service (a full page of 100 Telegram updates
/// fits comfortably).
pub const CHANNEL_RESPONSE_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Largest WhatsApp webhook body accepted.
pub const WHATSAPP_WEBHOOK_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest Discord gateway message accepted.
pub const DISCORD_MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// Most inbound messages of one channel processed at once (each waits for its agent run).
pub const CHANNEL_CONCURRENT_MESSAGES: usize = 16;
/// Commands (start, stop, reconcile) waiting for the channel registry's owner task; a caller
/// beyond this waits its turn.
pub const CHANNEL_REGISTRY_QUEUE: usize = 16;
/// Remembered `send` idempotency keys (5 minutes each, as the official dedupe cache).
pub const SEND_DEDUPE_ENTRIES: usize = 1000;
pub const SEND_DEDUPE_TTL: Duration = Duration::from_secs(300);
/// Bounds on the heartbeat interval a Discord gateway asks for in Hello (Discord sends 41.25 s);
/// a value outside them is a protocol error, not something to trust.
pub const DISCORD_HEARTBEAT_MIN: Duration = Duration::from_millis(50);
pub const DISCORD_HEARTBEAT_MAX: Duration = Duration::from_secs(300);
/// Time one payload may take to go out on the Discord gateway before the connection counts as
/// lost (a peer that stopped reading must not hang the receiver).
pub const DISCORD_GATEWAY_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Discord DM channels remembered (one per user the bot wrote to by user id); beyond this one is
/// forgotten and opened again when needed.
pub const DISCORD_DM_CHANNELS_CACHED: usize = 256;
/// Pause before the next Discord REST request when an answer says its rate-limit bucket is empty
/// without saying for how long (`X-RateLimit-Reset-After` missing).
pub const DISCORD_BUCKET_RESET_DEFAULT: Duration = Duration::from_secs(1);

// Limits of the event hub, the executor, reload, the session store and the CLI.

/// Items a drained client outbox keeps room for; a burst beyond this is given back to the
/// allocator, so an idle client costs little after a busy moment.
pub const HUB_OUTBOX_KEEP: usize = 8;
/// Hub commands queued at most; broadcasters wait when the hub falls this far behind. Kept small
/// for the reason [`AGENT_NOTICE_QUEUE`] gives (64 bytes a command).
pub const HUB_QUEUE: usize = 64;
/// Sessions one connection may watch with `sessions.messages.subscribe` at once; past this the
/// one watched longest is dropped (the Control UI watches the session it shows, and a few panes).
pub const HUB_WATCHED_SESSIONS: usize = 32;
/// Most threads that run tasks, the main thread included (a Pi has four cores).
pub const EXECUTOR_MAX_THREADS: usize = 4;
/// `restartExpectedMs` announced with a restart's `shutdown` event.
pub const RESTART_EXPECTED_MS: u64 = 1000;
/// Time a changed config file must stay unchanged before it is read (editors write in several
/// steps).
pub const RELOAD_SETTLE: Duration = Duration::from_millis(50);
/// Longest wait for a config file that keeps changing before reading it anyway.
pub const RELOAD_SETTLE_MAX: Duration = Duration::from_secs(2);
/// Longest a `channels.status` probe may take per channel when the caller gives no `timeoutMs`.
pub const CHANNEL_PROBE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Official limit for control-plane writes (`config.set`, `config.patch`, `config.apply`): 30 per
/// 60 s per method.
pub const CONFIG_WRITES_PER_MINUTE: usize = 30;
/// Characters of the user's message the offline provider echoes back.
pub const OFFLINE_ECHO_CHARS: usize = 200;
/// Longest session key accepted (the official `chat.send` bound).
pub const SESSION_KEY_MAX_CHARS: usize = 512;
/// Largest session index (`sessions.json`) read.
pub const SESSION_INDEX_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Longest transcript line read back to find the last sequence number (every line this gateway
/// writes is smaller: run inputs, answers and tool results are capped well below it).
pub const TRANSCRIPT_LINE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Bytes examined per step when searching a transcript backwards for the end of its last
/// complete line.
pub const TRANSCRIPT_SCAN_BLOCK: u64 = 16 * 1024;
/// Characters of the last message kept in the session index for session lists.
pub const SESSION_PREVIEW_CHARS: usize = 120;
/// Most recently updated sessions kept per agent in the store's summary (health output).
pub const SESSION_SUMMARY_RECENT: usize = 5;
/// Delay of batched session-index writes (`Store::update_soon`): updates within it cost one write.
pub const SESSION_INDEX_FLUSH_DELAY: Duration = Duration::from_millis(1000);
/// `openclaw agent`'s run timeout when none is given, in seconds (the official CLI's default).
pub const AGENT_CLI_TIMEOUT_SECS: u64 = 600;
/// systemd's watchdog timeout (`WatchdogSec=`), in seconds; the gateway pings at half of it.
pub const SYSTEMD_WATCHDOG_SEC: u32 = 60;

/// Paired devices kept in `<stateDir>/devices/paired.json`; approving one more is refused.
pub const DEVICES_PAIRED_MAX: usize = 64;
/// Device pairing requests waiting at once; a new one pushes out the oldest.
pub const DEVICES_PENDING_MAX: usize = 32;
/// How long a device pairing request waits for approval (the official 5 minutes).
pub const DEVICES_PENDING_TTL_MS: u64 = 300_000;
/// Largest paired-device file read at start (64 records are far below it).
pub const DEVICES_FILE_MAX_BYTES: u64 = 1 << 20;
/// How long a dashboard bootstrap token (`openclaw dashboard`) stays usable: the official 10 minutes.
pub const BOOTSTRAP_TOKEN_TTL_MS: u64 = 600_000;
/// Bootstrap tokens outstanding at once; issuing one more first drops the oldest.
pub const BOOTSTRAP_TOKENS_MAX: usize = 32;
/// Longest bootstrap token a `connect` may present (the official bound is printable ASCII).
pub const BOOTSTRAP_TOKEN_MAX_CHARS: usize = 256;
/// Largest bootstrap record file read (a record is under 200 bytes).
pub const BOOTSTRAP_FILE_MAX_BYTES: u64 = 4096;
