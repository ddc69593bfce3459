#!/usr/bin/env bash
# Builds static release binaries for every target this machine can build, checks that each is a
# static ELF of the right architecture, copies them to dist/ with install.sh, and prints sizes.
#
#   scripts/build-release.sh            all targets below
#   scripts/build-release.sh aarch64    only targets whose name contains "aarch64"
#
# Needs: rustup, and (installed here when missing and we are root) clang, llvm, and the armhf
# cross gcc. Targets whose Rust standard library or C toolchain cannot be installed are skipped
# with a message.
#
# The musl targets (aarch64, armv7, ARMv6, and x86_64 so that what CI measures is what the boards
# run) are built with nightly `-Zbuild-std`: rustup here has no standard library for the 32-bit
# ARM ones, and rebuilding std with `-Cpanic=immediate-abort` leaves out the panic formatting
# machinery (SIZE_PROFILE below; the figures are in the README).
# The C side (musl's libc and crt objects, libunwind, ring's C) comes from zig through
# cargo-zigbuild, both PyPI packages installed into a venv under target/. The script installs
# nightly with rust-src when missing. `cargo build --release` on stable is untouched by this.
#
#   OPENCLAW_STABLE=1      build every target with stable instead (32-bit musl ARM then skipped
#                          when rustup has no standard library for it; panics print a message)
#   OPENCLAW_DIST=dir      write the binaries there instead of dist/
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
dist="${OPENCLAW_DIST:-dist}"
nightly="${OPENCLAW_NIGHTLY:-nightly}"
# Pinned so that a release build is reproducible; zig supplies musl 1.2.5 for every musl target.
zig_pkgs=(cargo-zigbuild==0.24.1 ziglang==0.17.1)
# The nightly profile for the release artifacts: std rebuilt for the target with the profile's
# opt-level "z" and LTO, and panics compiled to an immediate abort (no message: nothing can run
# after such an abort). -Clink-self-contained=no: rustc must not look for musl's crt objects in a
# sysroot that has none; zig's linker supplies them. Three more cuts of formatting machinery and
# speed-for-size trades, measured on aarch64 (README, "Why nightly"): std's `optimize_for_size`
# (smaller sort and string routines), `-Zlocation-detail=none` (no file/line strings for panics
# that print nothing anyway) and `-Zfmt-debug=shallow` (a derived `Debug` prints only the type or
# variant name; the gateway's messages and logs print values with `Display`).
SIZE_PROFILE=(-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)
# -Cforce-unwind-tables=no: with nothing that unwinds (immediate abort), the .eh_frame tables that
# say how to unwind each function are dead weight: 406,528 bytes (15 %) on aarch64.
SIZE_RUSTFLAGS="-Clink-self-contained=no -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=shallow -Cforce-unwind-tables=no"
# The functions an idle gateway runs go first, together (scripts/hot-text.ld, written by
# scripts/hot-text.py): the kernel maps code 64 KiB around each page touched, so start-up code
# spread over the binary made almost all of it resident. OPENCLAW_HOT_TEXT=0 links without it.
hot_text=""
if [ "${OPENCLAW_HOT_TEXT:-1}" != 0 ]; then
  hot_text="$PWD/scripts/hot-text.ld"
  SIZE_RUSTFLAGS="$SIZE_RUSTFLAGS -Clink-arg=-Wl,-T,$hot_text"
fi

targets=(
  x86_64-unknown-linux-musl        # PCs, x86 servers
  aarch64-unknown-linux-musl       # Raspberry Pi 3/4/5 and Zero 2 with a 64-bit kernel
  armv7-unknown-linux-gnueabihf    # 32-bit Raspberry Pi OS on Pi 2/3/4 (static glibc)
  armv7-unknown-linux-musleabihf   # same boards, musl (nightly build-std)
  arm-unknown-linux-musleabihf     # ARMv6: Pi Zero / Pi 1 (nightly build-std)
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

# The ARM architecture version a binary is built for must match the board class it is named for:
# an ARMv7 instruction in the ARMv6 build would crash a Pi Zero / Pi 1 with SIGILL.
check_arm_arch() { # path target
  local want arch
  case "$2" in
    arm-*) want=v6 ;;
    armv7-*) want=v7 ;;
    *) return 0 ;;
  esac
  arch=$(readelf -A "$1" | sed -n 's/^ *Tag_CPU_arch: *//p')
  case "$arch" in "$want"|"$want"[A-Z]*) echo "  Tag_CPU_arch: $arch" ;; *) echo "  Tag_CPU_arch is '$arch', want $want"; return 1 ;; esac
}

# Which way a target is built: "nightly" (build-std through zig) or "stable" (rustup's std).
build_mode() {
  [ -n "${OPENCLAW_STABLE:-}" ] && { echo stable; return; }
  case "$1" in *-linux-musl*) echo nightly ;; *) echo stable ;; esac
}

nightly_ready=""
setup_nightly() {
  [ -n "$nightly_ready" ] && return 0
  if ! rustup component list --toolchain "$nightly" --installed 2>/dev/null | grep -q '^rust-src'; then
    rustup toolchain install "$nightly" --profile minimal --component rust-src >/dev/null || return 1
  fi
  if ! "$target_dir/zig-venv/bin/cargo-zigbuild" --version 2>/dev/null | grep -q "${zig_pkgs[0]#*==}"; then
    python3 -m venv "$target_dir/zig-venv" || return 1
    "$target_dir/zig-venv/bin/pip" install -q --disable-pip-version-check "${zig_pkgs[@]}" || return 1
  fi
  nightly_ready=1
}

build_target() { # target mode
  if [ "$2" = nightly ]; then
    # Linked with its symbols and stripped after (strip_to below): the profile's `strip = true`
    # would change every crate's symbol hashes, and scripts/hot-text.py reads the functions an
    # idle gateway runs off this very build's symbols.
    PATH="$target_dir/zig-venv/bin:$PATH" RUSTFLAGS="$SIZE_RUSTFLAGS" CARGO_PROFILE_RELEASE_STRIP=false \
      cargo "+$nightly" zigbuild --release --locked --target "$1" "${SIZE_PROFILE[@]}"
  else
    cargo build --release --locked --target "$1"
  fi
}

# A copy without symbols and other sections that are not loaded, by the toolchain's llvm-objcopy
# (every architecture); the loaded segments keep their addresses.
strip_to() { # unstripped copy
  local objcopy
  objcopy="$(rustc "+$nightly" --print sysroot)/lib/rustlib/$(rustc "+$nightly" -vV | sed -n 's/^host: //p')/bin/rust-objcopy"
  "$objcopy" --strip-all "$1" "$2"
}

need_pkg readelf binutils || { echo "readelf (binutils) is required"; exit 1; }
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
mkdir -p "$dist"
cp scripts/install.sh "$dist/install.sh"
built=()
printf '%-34s %12s  %s\n' target bytes result > "$dist/SIZES.txt"
for t in "${targets[@]}"; do
  case "$t" in *"$filter"*) ;; *) continue ;; esac
  mode=$(build_mode "$t")
  echo "==> $t ($mode)"
  if [ "$mode" = nightly ]; then
    if ! setup_nightly; then
      echo "  build failed: cannot install $nightly with rust-src, or cargo-zigbuild"
      printf '%-34s %12s  %s\n' "$t" - "build failed (no nightly toolchain)" >> "$dist/SIZES.txt"
      continue
    fi
  elif ! rustup target add "$t" >/dev/null 2>&1; then
    echo "  skipped: rustup cannot install the standard library for $t here"
    printf '%-34s %12s  %s\n' "$t" - "skipped (no rust-std)" >> "$dist/SIZES.txt"
    continue
  fi
  case "$t" in
    aarch64-unknown-linux-musl) need_pkg clang clang; need_pkg llvm-ar llvm ;;
    armv7-unknown-linux-gnueabihf)
      need_pkg arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf
      [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dev-armhf-cross >/dev/null 2>&1 || true ;;
  esac
  started=$(date +%s)
  if ! build_target "$t" "$mode" >"$dist/build-$t.log" 2>&1; then
    echo "  build failed (see $dist/build-$t.log)"
    printf '%-34s %12s  %s\n' "$t" - "build failed" >> "$dist/SIZES.txt"
    continue
  fi
  echo "  built in $(( $(date +%s) - started )) s"
  bin="$target_dir/$t/release/openclaw"
  if ! check_static "$bin" "$t" || ! check_arm_arch "$bin" "$t"; then
    printf '%-34s %12s  %s\n' "$t" - "wrong binary" >> "$dist/SIZES.txt"
    exit 1
  fi
  if [ "$mode" = nightly ]; then
    if [ -n "$hot_text" ] && ! readelf -SW "$bin" | grep -q ' \.text\.hot '; then
      echo "  no .text.hot section: the linker did not apply scripts/hot-text.ld"
      exit 1
    fi
    strip_to "$bin" "$dist/openclaw-$t" || { echo "  cannot strip $bin"; exit 1; }
  else
    cp "$bin" "$dist/openclaw-$t"
  fi
  size=$(wc -c < "$dist/openclaw-$t" | tr -d ' ')
  printf '%-34s %12s  %s\n' "$t" "$size" "ok, $mode ($(awk "BEGIN{printf \"%.2f\", $size/1048576}") MiB)" >> "$dist/SIZES.txt"
  built+=("$t")
done
echo
cat "$dist/SIZES.txt"
[ "${#built[@]}" -gt 0 ] || { echo "nothing was built"; exit 1; }
