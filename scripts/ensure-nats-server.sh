#!/usr/bin/env bash
# Prints the path of a nats-server >= 2.10, fetching Debian 13's package into a
# git-ignored project-local cache when none is available. Idempotent.
# Order: nats-server on PATH (if >= 2.10), $WOODS_NATS_SERVER, cached copy, fetch.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/nats-server"
MIN_MAJOR=2; MIN_MINOR=10

version_ok() { # $1 = binary
  local v; v="$("$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)" || return 1
  [ -n "$v" ] || return 1
  local major minor; major="${v%%.*}"; minor="$(echo "$v" | cut -d. -f2)"
  [ "$major" -gt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

if command -v nats-server >/dev/null 2>&1 && version_ok "$(command -v nats-server)"; then
  command -v nats-server; exit 0
fi
if [ -n "${WOODS_NATS_SERVER:-}" ]; then
  if version_ok "$WOODS_NATS_SERVER"; then echo "$WOODS_NATS_SERVER"; exit 0; fi
  echo "woods: \$WOODS_NATS_SERVER=$WOODS_NATS_SERVER is not a nats-server >= 2.10" >&2; exit 1
fi
if [ -x "$CACHE/usr/sbin/nats-server" ] && version_ok "$CACHE/usr/sbin/nats-server"; then
  echo "$CACHE/usr/sbin/nats-server"; exit 0
fi

fail() {
  cat >&2 <<MSG
woods: no nats-server >= 2.10 found ($1).
  Install one and put it on PATH (e.g. Debian 13: apt-get install nats-server, or a release
  binary from the NATS project), or point WOODS_NATS_SERVER at the binary.
MSG
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get is not available to fetch Debian 13's package"
# Reuse the mirror this machine is already configured with; never hard-code a registry host.
MIRROR=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  MIRROR="$(grep -E '^URIs:' "$f" | grep -v security | head -1 | awk '{print $2}')"
  [ -n "$MIRROR" ] && break
done
if [ -z "$MIRROR" ] && [ -f /etc/apt/sources.list ]; then
  MIRROR="$(grep -E '^deb ' /etc/apt/sources.list | grep -v security | head -1 | awk '{print $2}')"
fi
[ -n "$MIRROR" ] || fail "no Debian mirror configured in /etc/apt"

WORK="$CACHE.work"; rm -rf "$WORK"; mkdir -p "$WORK/lists/partial" "$WORK/archives/partial"
echo "deb [trusted=yes] $MIRROR trixie main" > "$WORK/sources.list"
APT_OPTS=(-o "Dir::Etc::sourcelist=$WORK/sources.list" -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$WORK/lists" -o "Dir::Cache::archives=$WORK/archives"
  -o "APT::Get::List-Cleanup=0" -o "Debug::NoLocking=1")
echo "woods: fetching nats-server from Debian 13 (trixie) into $CACHE" >&2
apt-get "${APT_OPTS[@]}" update >"$WORK/update.log" 2>&1 || fail "apt-get update for trixie failed, see $WORK/update.log"
( cd "$WORK" && apt-get "${APT_OPTS[@]}" download nats-server >"$WORK/download.log" 2>&1 ) \
  || fail "apt-get download nats-server failed, see $WORK/download.log"
DEB="$(ls "$WORK"/nats-server_*.deb | head -1)"
rm -rf "$CACHE"; mkdir -p "$CACHE"; dpkg -x "$DEB" "$CACHE"; rm -rf "$WORK"
version_ok "$CACHE/usr/sbin/nats-server" || fail "fetched package has no usable nats-server"
echo "$CACHE/usr/sbin/nats-server"
