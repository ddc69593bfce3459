#!/usr/bin/env bash
# Builds static release binaries for every target this machine can build, checks that each is a
# static ELF of the right architecture, copies them to dist/ with install.sh, and prints sizes.
#
#   scripts/build-release.sh            all targets below
#   scripts/build-release.sh aarch64    only targets whose name contains "aarch64"
#
# Needs: rustup, and (installed here when missing and we are root) clang, llvm, and the armhf
# cross gcc. Targets whose Rust standard library or C toolchain cannot be installed are skipped
# with a message; that is expected for the 32-bit musl ARM targets on some rustup mirrors.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(
  x86_64-unknown-linux-musl        # PCs, x86 servers
  aarch64-unknown-linux-musl       # Raspberry Pi 3/4/5 and Zero 2 with a 64-bit kernel
  armv7-unknown-linux-gnueabihf    # 32-bit Raspberry Pi OS on Pi 2/3/4 (static glibc)
  armv7-unknown-linux-musleabihf   # same boards, musl (when rustup has it)
  arm-unknown-linux-musleabihf     # ARMv6: Pi Zero / Pi 1 (when rustup has it)
)
filter="${1:-}"

need_pkg() { # command package
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1
    fi
  fi
  command -v "$1" >/dev/null 2>&1
}

# ELF checks without `file`: class, machine, and no program interpreter / no shared libraries.
expect_machine() {
  case "$1" in
    x86_64-*) echo "X86-64" ;;
    aarch64-*) echo "AArch64" ;;
    arm*) echo "ARM" ;;
  esac
}

check_static() { # path target
  local hdr machine want
  hdr=$(readelf -h "$1")
  machine=$(printf '%s\n' "$hdr" | sed -n 's/^ *Machine: *//p')
  want=$(expect_machine "$2")
  case "$machine" in *"$want"*) ;; *) echo "  wrong architecture: $machine (want $want)"; return 1 ;; esac
  if readelf -l "$1" | grep -q 'Requesting program interpreter'; then echo "  dynamically linked (has an interpreter)"; return 1; fi
  if readelf -d "$1" 2>/dev/null | grep -q '(NEEDED)'; then echo "  needs shared libraries"; return 1; fi
  echo "  static ELF, $machine"
}

need_pkg readelf binutils || { echo "readelf (binutils) is required"; exit 1; }
mkdir -p dist
cp scripts/install.sh dist/install.sh
built=()
printf '%-34s %12s  %s\n' target bytes result > dist/SIZES.txt
for t in "${targets[@]}"; do
  case "$t" in *"$filter"*) ;; *) continue ;; esac
  echo "==> $t"
  if ! rustup target add "$t" >/dev/null 2>&1; then
    echo "  skipped: rustup cannot install the standard library for $t here"
    printf '%-34s %12s  %s\n' "$t" - "skipped (no rust-std)" >> dist/SIZES.txt
    continue
  fi
  case "$t" in
    aarch64-unknown-linux-musl) need_pkg clang clang; need_pkg llvm-ar llvm ;;
    armv7-unknown-linux-gnueabihf)
      need_pkg arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf
      [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dev-armhf-cross >/dev/null 2>&1 || true ;;
  esac
  if ! cargo build --release --locked --target "$t" >"dist/build-$t.log" 2>&1; then
    echo "  build failed (see dist/build-$t.log)"
    printf '%-34s %12s  %s\n' "$t" - "build failed" >> dist/SIZES.txt
    continue
  fi
  bin="target/$t/release/openclaw"
  if ! check_static "$bin" "$t"; then
    printf '%-34s %12s  %s\n' "$t" - "not static" >> dist/SIZES.txt
    exit 1
  fi
  cp "$bin" "dist/openclaw-$t"
  size=$(wc -c < "$bin" | tr -d ' ')
  printf '%-34s %12s  %s\n' "$t" "$size" "ok ($(awk "BEGIN{printf \"%.2f\", $size/1048576}") MiB)" >> dist/SIZES.txt
  built+=("$t")
done
echo
cat dist/SIZES.txt
[ "${#built[@]}" -gt 0 ] || { echo "nothing was built"; exit 1; }
