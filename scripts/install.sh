#!/bin/sh
# Installs openclaw on this machine (a Raspberry Pi or any Linux box) from the binaries next to
# this script (what scripts/build-release.sh puts in dist/), then runs `openclaw setup`.
#
#   sh install.sh                  install for this user into ~/.local/bin
#   sh install.sh --prefix DIR     install into DIR/bin
#   sh install.sh --system         install into /usr/local/bin (asks for root via sudo)
#   sh install.sh --from DIR       take the binaries from DIR
#   sh install.sh --no-setup       do not run `openclaw setup`
#
# Root is never requested unless --system is given.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
from="$here"
prefix=""
system=0
run_setup=1

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --from) from="$2"; shift 2 ;;
    --from=*) from="${1#--from=}"; shift ;;
    --system) system=1; shift ;;
    --no-setup) run_setup=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# Which binary fits this board. ARMv6 boards (Pi Zero, Pi 1) must not get the ARMv7 binary: it
# would crash with "Illegal instruction".
machine=$(uname -m)
cpuinfo="${OPENCLAW_CPUINFO:-/proc/cpuinfo}"
cpu_arch=""
if [ -r "$cpuinfo" ]; then
  cpu_arch=$(sed -n 's/^CPU architecture[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p' "$cpuinfo" | head -n 1)
fi
case "$machine" in
  aarch64|arm64) candidates="aarch64-unknown-linux-musl" ;;
  x86_64|amd64) candidates="x86_64-unknown-linux-musl" ;;
  armv7l|armv7*|armv8l)
    if [ "$cpu_arch" = "6" ]; then
      candidates="arm-unknown-linux-musleabihf"
    else
      candidates="armv7-unknown-linux-musleabihf armv7-unknown-linux-gnueabihf"
    fi ;;
  armv6l|armv6*) candidates="arm-unknown-linux-musleabihf" ;;
  *) die "no openclaw build for machine type '$machine'" ;;
esac

binary=""
for t in $candidates; do
  if [ -f "$from/openclaw-$t" ]; then binary="$from/openclaw-$t"; target="$t"; break; fi
done
if [ -z "$binary" ]; then
  case "$candidates" in
    arm-unknown-linux-musleabihf)
      die "this is an ARMv6 board ($machine); it needs openclaw-arm-unknown-linux-musleabihf, which is not in $from.
Build it on another machine with: cross build --release --target arm-unknown-linux-musleabihf
(the ARMv7 binary would not run here)." ;;
    *) die "no binary for this machine ($machine) in $from; expected one of: $(echo $candidates | sed 's/\([^ ]*\)/openclaw-\1/g')" ;;
  esac
fi

if [ "$system" = 1 ]; then
  bindir="${prefix:-/usr/local}/bin"
  if [ "$(id -u)" = 0 ]; then as_root=""; else as_root="sudo"; fi
else
  bindir="${prefix:-$HOME/.local}/bin"
  as_root=""
fi

say "Installing $target for $machine into $bindir"
$as_root mkdir -p "$bindir"
# Copy then rename, so a running gateway keeps its old file and never sees half a binary.
$as_root cp "$binary" "$bindir/.openclaw.new"
$as_root chmod 755 "$bindir/.openclaw.new"
$as_root mv -f "$bindir/.openclaw.new" "$bindir/openclaw"
"$bindir/openclaw" --version

if [ "$run_setup" = 1 ]; then
  say ""
  "$bindir/openclaw" setup
fi

say ""
case ":$PATH:" in
  *":$bindir:"*) ;;
  *) say "Note: $bindir is not on your PATH. Add it, for example: echo 'export PATH=\"$bindir:\$PATH\"' >> ~/.profile" ;;
esac
say "To run the gateway as a service that starts at boot:"
say "  $bindir/openclaw gateway install"
say "  sudo loginctl enable-linger $(id -un)     # keep it running when you log out"
say "Check it with: openclaw gateway status"
