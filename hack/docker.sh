#!/usr/bin/env bash
# A Docker engine for kind: one that answers is used as it is; otherwise (root, Debian) docker.io is installed when
# missing and dockerd started. Only where the host's capability bounding set is short (detected) is
# hack/docker/runc-capfilter registered as its default runtime, a workaround (docs/local-cluster.md).
# Usage: hack/docker.sh [short-caps]   ensure an engine answers | print the capabilities the bounding set lacks
# Env:   TIERGUARD_CACHE (~/.cache/tierguard): the wrapper's copy and dockerd's log
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${TIERGUARD_CACHE:-$HOME/.cache/tierguard}
runtime_name=tierguard-capfilter

log() { printf 'docker: %s\n' "$*" >&2; }
die() { printf 'docker: ERROR: %b\n' "$*" >&2; exit 1; }

# Capabilities up to the kernel's last one that the bounding set lacks (Docker asks for all it knows).
short_caps() {
  local last mask bit
  last=$(cat /proc/sys/kernel/cap_last_cap)
  mask=$(awk '$1 == "CapBnd:" { print $2 }' /proc/self/status)
  for ((bit = 0; bit <= last; bit++)); do
    (((16#$mask >> bit) & 1)) || echo "$bit"
  done
}

engine_answers() { command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; }

install_docker() {
  command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "no Docker engine and no apt-get to install one: install Docker first"
  [[ $(id -u) == 0 ]] || die "no Docker engine: run as root to install Debian's docker.io, or start Docker yourself"
  log "installing Debian's docker.io"
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null || die "apt-get install docker.io failed"
}

start_dockerd() {
  [[ $(id -u) == 0 ]] || die "dockerd is installed but not running: start it (as root) or run this as root"
  local args=() caps
  caps=$(short_caps)
  if [[ -n $caps ]]; then
    mkdir -p "$cache/bin"
    install -m 0755 "$here/docker/runc-capfilter" "$cache/bin/runc-capfilter"
    args+=(--add-runtime "$runtime_name=$cache/bin/runc-capfilter" --default-runtime "$runtime_name")
    log "this host's bounding set lacks capabilities $(tr '\n' ' ' <<<"$caps")- registering $runtime_name as the default runtime"
  fi
  mkdir -p "$cache/logs"
  log "starting dockerd (log: $cache/logs/dockerd.log)"
  # Its own session and no inherited descriptors: a caller capturing our output is not held open by it.
  setsid nohup dockerd "${args[@]}" </dev/null >>"$cache/logs/dockerd.log" 2>&1 &
  local deadline=$((SECONDS + 60))
  until engine_answers; do
    ((SECONDS < deadline)) || die "dockerd did not answer within 60 s:\n$(tail -n 30 "$cache/logs/dockerd.log")"
    sleep 0.5
  done
}

main() {
  case ${1:-} in
    short-caps) short_caps; return ;;
    "") ;;
    *) die "usage: $0 [short-caps]" ;;
  esac
  if engine_answers; then
    return 0
  fi
  install_docker
  start_dockerd
  log "dockerd answers ($(docker version --format '{{.Server.Version}}'))"
}

main "$@"; exit
