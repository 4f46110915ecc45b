#!/usr/bin/env bash
# Installs tierguard into the local control plane (called by hack/local-cluster.sh up/down):
#   (no argument) | start   generate certs, apply the chart's CRD, start `tierguard run` as a host process, wait
#                           until it is ready, then apply the chart rendered in local mode (webhook -> loopback url)
#   stop                    delete the webhook configuration first (so a stopped webhook cannot lock the API
#                           server), then stop the process
#   status                  whether the process runs and is ready
# Expects KUBECONFIG and helm/kubectl on PATH (local-cluster.sh provides both). Idempotent.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${TIERGUARD_LOCAL_CLUSTER_DIR:-$repo/.local-cluster}/tierguard
namespace=${TIERGUARD_NAMESPACE:-tierguard-system}
python=${TIERGUARD_PYTHON:-python3}
release=tierguard

log() { printf 'install-tierguard: %s\n' "$*" >&2; }
die() { printf 'install-tierguard: ERROR: %s\n' "$*" >&2; exit 1; }

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pid_alive() { [[ -f $state/pid ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null; }
probe() { # path: GET http://127.0.0.1:<metrics_port>/<path>, print the body, fail unless 200
  "$python" -c 'import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode(), end="")
except Exception as error:
    print(getattr(error, "read", lambda: str(error).encode())().decode(), end=""); sys.exit(1)' \
    "http://127.0.0.1:$metrics_port/$1"
}
ready() { [[ -f $state/ports ]] && . "$state/ports" && probe readyz >/dev/null 2>&1; }

render_chart() {
  . "$state/ports"
  helm template "$release" "$repo/charts/tierguard" --namespace "$namespace" \
    --set local.enabled=true \
    --set "webhook.url=https://127.0.0.1:$webhook_port" \
    --set "webhook.caBundle=$(base64 -w0 "$state/certs/ca.crt")"
}

cmd_start() {
  command -v helm >/dev/null || die "helm not on PATH (run through hack/local-cluster.sh)"
  command -v kubectl >/dev/null || die "kubectl not on PATH (run through hack/local-cluster.sh)"
  "$python" -c 'import tierguard.webhook.command' 2>/dev/null \
    || die "tierguard is not installed for $python: run 'pip install -e .[test]' first"
  if pid_alive && ready; then
    log "tierguard already running (pid $(cat "$state/pid"))"
  else
    pid_alive && cmd_stop_process
    mkdir -p "$state"
    "$python" -m tierguard certs --dir "$state/certs" --host 127.0.0.1 --host localhost >/dev/null
    printf 'webhook_port=%s\nmetrics_port=%s\n' "$(free_port)" "$(free_port)" >"$state/ports"
    . "$state/ports"
    kubectl apply -f "$repo/charts/tierguard/crds/" >/dev/null
    kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
    log "starting tierguard run (webhook :$webhook_port, probes :$metrics_port, log $state/tierguard.log)"
    nohup "$python" -m tierguard run --namespace "$namespace" \
      --webhook-addr 127.0.0.1 --webhook-port "$webhook_port" \
      --tls-cert "$state/certs/tls.crt" --tls-key "$state/certs/tls.key" \
      --metrics-addr 127.0.0.1 --metrics-port "$metrics_port" \
      --log-format json >"$state/tierguard.log" 2>&1 </dev/null &
    echo $! >"$state/pid"
    local deadline=$((SECONDS + ${TIERGUARD_READY_TIMEOUT:-90}))
    until ready; do
      if ! pid_alive; then
        tail -n 30 "$state/tierguard.log" >&2 || true
        die "tierguard run exited before becoming ready (log above)"
      fi
      if ((SECONDS > deadline)); then
        tail -n 30 "$state/tierguard.log" >&2 || true
        probe readyz >&2 || true
        die "tierguard run not ready after ${TIERGUARD_READY_TIMEOUT:-90}s"
      fi
      sleep 0.5
    done
  fi
  # Applied only once tierguard answers: with failurePolicy Fail, a webhook nobody serves refuses writes.
  render_chart | kubectl apply -f - >/dev/null
  log "tierguard ready; webhook configuration applied (try: kubectl apply -f examples/bad-pod.yaml)"
}

cmd_stop_process() {
  if pid_alive; then
    local pid; pid=$(cat "$state/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$state/pid"
}

cmd_stop() {
  if [[ -f $state/ports ]] && kubectl version >/dev/null 2>&1; then
    kubectl delete validatingwebhookconfiguration -l app.kubernetes.io/instance="$release" \
      --ignore-not-found >/dev/null || log "could not delete the webhook configuration"
  fi
  cmd_stop_process
  log "tierguard stopped"
}

cmd_status() {
  if pid_alive && ready; then
    . "$state/ports"; echo "tierguard: running (pid $(cat "$state/pid")), ready, webhook https://127.0.0.1:$webhook_port"
  elif pid_alive; then
    echo "tierguard: running (pid $(cat "$state/pid")), NOT ready"; return 1
  else
    echo "tierguard: not running"; return 1
  fi
}

case ${1:-start} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac
