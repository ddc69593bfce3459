#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ (cargo-fuzz, nightly) for SECONDS each, stopping at the first
# crash with the path of its reproducer. Short runs in CI, long ones by hand:
#
#   scripts/fuzz.sh                    # every target, 60 s each
#   scripts/fuzz.sh 3600               # an hour each
#   scripts/fuzz.sh 600 gateway_rpc    # chosen targets only
#
# Environment: FUZZ_JOBS (targets run at once, one core each; default 1), FUZZ_SANITIZER
# (default none: the targets hunt panics, and a sanitizer halves the executions; "address" for
# the unsafe code and ring's C), FUZZ_TOOLCHAIN (default nightly).
#
# Each target starts from its committed seeds (fuzz/corpus/<target>, read only) plus what earlier
# runs found (fuzz/target/work/<target>, kept between runs). A crash leaves its input in
# fuzz/artifacts/<target>/ and the whole log in fuzz/target/logs/<target>.log: minimise the input
# with `cargo +nightly fuzz tmin <target> <file>`, copy it to fuzz/regressions/<target>/ (cargo
# test replays that folder), and fix the bug. The executions of every target are summed up in
# fuzz/target/fuzz-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
jobs=${FUZZ_JOBS:-1}
sanitizer=${FUZZ_SANITIZER:-none}
toolchain=${FUZZ_TOOLCHAIN:-nightly}
fuzz=(cargo "+$toolchain" fuzz)

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <("${fuzz[@]}" list)
fi

# The entry points write their files under a scratch directory; memory-backed when there is one,
# because the channel journal fsyncs every append.
scratch_base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch_base=/dev/shm
export OPENCLAW_FUZZ_DIR
OPENCLAW_FUZZ_DIR=$(mktemp -d "$scratch_base/openclaw-fuzz.XXXXXX")
dicts=$(mktemp -d)
logs=fuzz/target/logs
mkdir -p "$logs"
pids=()
# Job control: each target runs in its own process group, so a crash elsewhere can stop it whole.
set -m
cleanup() {
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  rm -rf "$OPENCLAW_FUZZ_DIR" "$dicts"
}
trap cleanup EXIT

# Which dictionaries (fuzz/dict) help which target; libFuzzer takes one file, so they are joined.
dict_for() {
  case "$1" in
    http_request | http_response) echo http ;;
    gateway_http) echo http json ;;
    gateway_rpc) echo json gateway config ;;
    json5) echo json json5 ;;
    config) echo json json5 config ;;
    sse) echo sse ;;
    chat_payloads) echo json chat ;;
    model_stream) echo json model sse ;;
    transcript | session_index | channel_journal) echo json files ;;
  esac
}

started=$(date +%s)
echo "building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
"${fuzz[@]}" build --sanitizer "$sanitizer"
echo "built in $(( $(date +%s) - started )) s"

summary=fuzz/target/fuzz-summary.txt
: > "$summary"

run_one() {
  local t=$1 log="$logs/$1.log"
  mkdir -p "fuzz/target/work/$t" "fuzz/artifacts/$t"
  local args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=60 -rss_limit_mb=2048
              -artifact_prefix="$PWD/fuzz/artifacts/$t/")
  local names
  names=$(dict_for "$t")
  if [ -n "$names" ]; then
    for n in $names; do cat "fuzz/dict/$n.dict"; done > "$dicts/$t.dict"
    args+=(-dict="$dicts/$t.dict")
  fi
  if "${fuzz[@]}" run --sanitizer "$sanitizer" "$t" "$PWD/fuzz/target/work/$t" "$PWD/fuzz/corpus/$t" -- "${args[@]}" >"$log" 2>&1; then
    local runs
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    printf '%-16s %12s executions in %s s\n' "$t" "${runs:-?}" "$seconds" | tee -a "$summary"
    return 0
  fi
  echo "== $t FAILED; the end of its log:"
  tail -n 60 "$log"
  local unit
  unit=$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/Test unit written to //')
  echo "== reproducer: ${unit:-none written (see the log above)}"
  [ -n "$unit" ] && echo "== replay it with: cargo +$toolchain fuzz run --sanitizer $sanitizer $t $unit"
  return 1
}

failed=0
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    if ! wait -n; then failed=1; break 2; fi
  done
  run_one "$t" &
  pids+=($!)
done
while [ "$failed" = 0 ] && [ "$(jobs -rp | wc -l)" -gt 0 ]; do
  if ! wait -n; then failed=1; fi
done
if [ "$failed" != 0 ]; then
  echo "fuzzing found a crash (see above)"
  exit 1
fi
echo "all ${#targets[@]} targets ran $seconds s each without a crash in $(( $(date +%s) - started )) s:"
cat "$summary"
