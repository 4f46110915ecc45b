#!/usr/bin/env bash
# The release test's OCI registry: the CNCF distribution registry (hack/build-tools.sh), plain HTTP, access log
# on, at the address where the kind nodes reach this host, so both use one name; `start` gives each node's
# containerd a hosts.toml for it (/etc/containerd/certs.d: hack/kind/cluster.yaml).
#
# Usage: hack/local-registry.sh start|stop|status [DIR]   start (or find) it, printing host:port | stop it |
#        exit 0 when it answers /v2/. DIR (<local cluster dir>/registry) holds its storage and registry.log.
# Env:   TIERGUARD_LOCAL_REGISTRY   host:port to listen on (default <host address>:5050)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
python=${TIERGUARD_PYTHON:-python3}

log() { printf 'local-registry: %s\n' "$*" >&2; }
die() { printf 'local-registry: ERROR: %b\n' "$*" >&2; exit 1; }

# Ours only: a recycled pid is not ours unless it runs `registry serve` on our config.
pid_alive() {
  local pid
  pid=$(cat "$dir/pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"registry serve $dir/config.yml"* ]]
}
answers() {
  "$python" -c 'import sys, urllib.request
urllib.request.urlopen(f"http://{sys.argv[1]}/v2/", timeout=2).read()' "$(cat "$dir/address")" 2>/dev/null
}

cmd_start() {
  if pid_alive && answers; then
    cat "$dir/address"
    return
  fi
  pid_alive && cmd_stop
  local bin
  bin=$("$here/build-tools.sh" registry) || die "could not build the registry (hack/build-tools.sh registry, error above)"
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<CONF
# Written by hack/local-registry.sh.
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $address
CONF
  echo "$address" >"$dir/address"
  trust_on_nodes
  # No tracing exporter: there is no collector, and the registry would retry one.
  OTEL_TRACES_EXPORTER=none nohup "$bin" serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  local deadline=$((SECONDS + 30))
  until answers; do
    pid_alive || die "the registry exited at start; last lines of $dir/registry.log:\n$(tail -n 15 "$dir/registry.log")"
    ((SECONDS < deadline)) || die "the registry does not answer on http://$address/v2/ after 30 s (log: $dir/registry.log)"
    sleep 0.3
  done
  log "registry $address up (storage $dir/data, log $dir/registry.log)"
  echo "$address"
}

# Each kind node's containerd: plain HTTP for this registry's name.
trust_on_nodes() {
  local node
  for node in $(docker ps --filter "label=io.x-k8s.kind.cluster=${TIERGUARD_KIND_CLUSTER:-tierguard}" --format '{{.Names}}'); do
    docker exec -i "$node" sh -c "mkdir -p '/etc/containerd/certs.d/$address' && cat >'/etc/containerd/certs.d/$address/hosts.toml'" <<TOML ||
server = "http://$address"
[host."http://$address"]
  capabilities = ["pull", "resolve"]
TOML
      die "could not give node $node a hosts.toml for $address"
  done
}

cmd_stop() {
  if pid_alive; then
    local pid
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_alive || break; sleep 0.1; done
    if pid_alive; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$dir/pid"
}

address=${TIERGUARD_LOCAL_REGISTRY:-}
[[ -n $address || ${1:-} != start ]] || address=$("$here/local-cluster.sh" host-address):5050 ||
  die "no address for the registry: set TIERGUARD_LOCAL_REGISTRY or start the kind cluster"
dir=${2:-${TIERGUARD_LOCAL_CLUSTER_DIR:-$repo/.local-cluster}/registry}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) pid_alive && answers ;;
  *) die "usage: $0 start|stop|status [DIR]" ;;
esac
