#!/usr/bin/env bash
# Installs tierguard into a cluster (called by hack/local-cluster.sh up/down, and by the kind workflow):
#   (no argument) | start   in-cluster (the default): build the image from the Dockerfile (hack/build-image.sh),
#                           load it into the cluster's nodes, then `helm install` the chart as the README tells
#                           users (`helm upgrade` with the new image when the release exists), wait for the
#                           Deployment and for the webhook to answer through its Service.
#                           host mode (TIERGUARD_LOCAL_CLUSTER_MODE=host): generate certs, apply the CRD, start
#                           `tierguard run` as a host process, then the chart rendered in local mode.
#   stop                    delete the webhook configuration first (so a stopped webhook cannot lock the API
#                           server); in host mode also stop the process
#   status                  whether tierguard runs and is ready
# Expects KUBECONFIG and helm/kubectl on PATH (local-cluster.sh provides both). Idempotent.
# Env: TIERGUARD_IMAGE_LOADER   how the image reaches the nodes: `kind` (kind load, cluster KIND_CLUSTER_NAME;
#                               the default when KIND_CLUSTER_NAME is set, as hack/local-cluster.sh sets it),
#                               or `none` (TIERGUARD_IMAGE names an image the nodes can pull)
#      TIERGUARD_IMAGE          with `none`: the image as repository:tag
#      TIERGUARD_HELM_ARGS      extra arguments for helm install/upgrade (word-split)
#      TIERGUARD_RUN_ARGS       host mode: extra arguments for `tierguard run` (word-split), e.g. --audit-interval 60
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${TIERGUARD_LOCAL_CLUSTER_DIR:-$repo/.local-cluster}/tierguard
namespace=${TIERGUARD_NAMESPACE:-tierguard-system}
python=${TIERGUARD_PYTHON:-python3}
release=tierguard

log() { printf 'install-tierguard: %s\n' "$*" >&2; }
die() { printf 'install-tierguard: ERROR: %s\n' "$*" >&2; exit 1; }

# Two distinct free loopback ports: both sockets are held open until both are known.
free_ports() {
  "$python" -c 'import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))'
}
# Our process only: a recycled pid is not ours unless its command line is `tierguard run` with our certs.
pid_alive() {
  local pid
  pid=$(cat "$state/pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"tierguard run"*"$state/certs/"* ]]
}
load_ports() { # sets webhook_port and metrics_port from $state/ports
  webhook_port=$(sed -n 's/^webhook_port=//p' "$state/ports" 2>/dev/null)
  metrics_port=$(sed -n 's/^metrics_port=//p' "$state/ports" 2>/dev/null)
  [[ -n $webhook_port && -n $metrics_port ]]
}
probe() { # path: GET http://127.0.0.1:<metrics_port>/<path>, print the body, fail unless 200
  "$python" -c 'import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode(), end="")
except Exception as error:
    print(getattr(error, "read", lambda: str(error).encode())().decode(), end=""); sys.exit(1)' \
    "http://127.0.0.1:$metrics_port/$1"
}
ready() { load_ports && probe readyz >/dev/null 2>&1; }

render_chart() {
  load_ports
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
    local ports
    read -r -a ports < <(free_ports)
    printf 'webhook_port=%s\nmetrics_port=%s\n' "${ports[0]}" "${ports[1]}" >"$state/ports"
    load_ports
    kubectl apply -f "$repo/charts/tierguard/crds/" >/dev/null
    kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
    log "starting tierguard run (webhook :$webhook_port, probes :$metrics_port, log $state/tierguard.log)"
    # shellcheck disable=SC2086 # extra run arguments are words by design
    nohup "$python" -m tierguard run --namespace "$namespace" \
      --webhook-addr 127.0.0.1 --webhook-port "$webhook_port" \
      --tls-cert "$state/certs/tls.crt" --tls-key "$state/certs/tls.key" \
      --metrics-addr 127.0.0.1 --metrics-port "$metrics_port" \
      --log-format json --shutdown-linger 3 ${TIERGUARD_RUN_ARGS:-} >"$state/tierguard.log" 2>&1 </dev/null &
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
    for _ in $(seq 1 50); do pid_alive || break; sleep 0.1; done
    # Still ours after 5 s (its linger is 3 s): only then SIGKILL (the pid is checked again, so no unrelated
    # process is hit).
    if pid_alive; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$state/pid"
}

cmd_stop() {
  if [[ -f $state/ports ]] && kubectl version >/dev/null 2>&1; then
    kubectl delete validatingwebhookconfiguration -l app.kubernetes.io/instance="$release" \
      --ignore-not-found >/dev/null || log "could not delete the webhook configuration"
  fi
  cmd_stop_process
  # The host process's admission policies have no owner to be collected with: a stopped tierguard leaves none.
  if [[ -f $state/ports ]] && kubectl version >/dev/null 2>&1; then
    kubectl delete validatingadmissionpolicybindings,validatingadmissionpolicies \
      -l app.kubernetes.io/managed-by=tierguard --ignore-not-found >/dev/null \
      || log "could not delete the ValidatingAdmissionPolicies"
  fi
  log "tierguard stopped"
}

cmd_status() {
  if pid_alive && ready; then
    load_ports; echo "tierguard: running (pid $(cat "$state/pid")), ready, webhook https://127.0.0.1:$webhook_port"
  elif pid_alive; then
    echo "tierguard: running (pid $(cat "$state/pid")), NOT ready"; return 1
  else
    echo "tierguard: not running"; return 1
  fi
}

# --- in-cluster: the image on the nodes, the chart by helm ---------------------------------------------
loader() {
  if [[ -n ${TIERGUARD_IMAGE_LOADER:-} ]]; then echo "$TIERGUARD_IMAGE_LOADER"
  elif [[ -n ${KIND_CLUSTER_NAME:-} ]]; then echo kind
  else die "no image loader: set KIND_CLUSTER_NAME (kind) or TIERGUARD_IMAGE_LOADER=none with TIERGUARD_IMAGE"
  fi
}

image_on_nodes() { # prints repository:tag of the image the nodes now have
  local how ref archive
  how=$(loader)
  if [[ $how == none ]]; then
    [[ -n ${TIERGUARD_IMAGE:-} ]] || die "TIERGUARD_IMAGE_LOADER=none needs TIERGUARD_IMAGE=repository:tag"
    echo "$TIERGUARD_IMAGE"
    return
  fi
  read -r ref archive < <("$here/build-image.sh" tierguard) || die "could not build the image (see above)"
  case $how in
    kind)
      log "loading $ref into kind cluster ${KIND_CLUSTER_NAME:-kind}"
      kind load image-archive "$archive" --name "${KIND_CLUSTER_NAME:-kind}" >&2 || die "kind load image-archive failed" ;;
    *) die "TIERGUARD_IMAGE_LOADER must be kind or none, not '$how'" ;;
  esac
  echo "$ref"
}

# The API server reaches the webhook once the Service has endpoints and kube-proxy has programmed them; a
# server-side dry run of a tiered Namespace is the first request that proves the whole path.
webhook_answers() {
  kubectl create namespace "tierguard-probe-$RANDOM" --dry-run=server -o name >/dev/null 2>&1 &&
    printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: tierguard-probe, labels: {tierguard.io/tier: dev}}\n' |
      kubectl apply --dry-run=server -f - >/dev/null 2>&1
}

cmd_start_in_cluster() {
  command -v helm >/dev/null || die "helm not on PATH (run through hack/local-cluster.sh)"
  local ref start=$SECONDS
  ref=$(image_on_nodes)
  # shellcheck disable=SC2206 # extra helm arguments are words by design
  local extra=(${TIERGUARD_HELM_ARGS:-})
  if helm status "$release" --namespace "$namespace" >/dev/null 2>&1; then
    log "upgrading the $release release to $ref"
    kubectl apply --server-side -f "$repo/charts/tierguard/crds/" >/dev/null
    helm upgrade "$release" "$repo/charts/tierguard" --namespace "$namespace" --reuse-values \
      --set "image.repository=${ref%:*}" --set "image.tag=${ref##*:}" "${extra[@]}" --wait --timeout 5m >&2 ||
      die "helm upgrade failed"
  else
    log "helm install $release with $ref"
    helm install "$release" "$repo/charts/tierguard" --namespace "$namespace" --create-namespace \
      --set "image.repository=${ref%:*}" --set "image.tag=${ref##*:}" "${extra[@]}" --wait --timeout 5m >&2 || {
      kubectl -n "$namespace" get pods -o wide >&2 || true
      kubectl -n "$namespace" logs -l app.kubernetes.io/name=tierguard --tail=30 --prefix >&2 || true
      die "helm install failed"
    }
  fi
  local deadline=$((SECONDS + 60))
  until webhook_answers; do
    ((SECONDS < deadline)) || die "the webhook does not answer through its Service 60 s after the install"
    sleep 0.5
  done
  log "tierguard ready in $((SECONDS - start)) s: $(kubectl -n "$namespace" get deploy "$release" -o jsonpath='{.status.readyReplicas}') replicas of $ref (try: kubectl apply -f examples/bad-pod.yaml)"
}

cmd_stop_in_cluster() {
  kubectl version >/dev/null 2>&1 || return 0
  kubectl delete validatingwebhookconfiguration -l app.kubernetes.io/instance="$release" \
    --ignore-not-found >/dev/null || log "could not delete the webhook configuration"
}

cmd_status_in_cluster() {
  local ready
  ready=$(kubectl -n "$namespace" get deploy "$release" -o jsonpath='{.status.readyReplicas}/{.spec.replicas}' 2>/dev/null) ||
    { echo "tierguard: not installed"; return 1; }
  echo "tierguard: deployment $namespace/$release, $ready replicas ready"
  [[ ${ready%/*} == "${ready#*/}" ]]
}

if [[ ${TIERGUARD_LOCAL_CLUSTER_MODE:-node} == host ]]; then
  case ${1:-start} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) die "usage: $0 [start|stop|status]" ;;
  esac
else
  case ${1:-start} in
    start) cmd_start_in_cluster ;;
    stop) cmd_stop_in_cluster ;;
    status) cmd_status_in_cluster ;;
    *) die "usage: $0 [start|stop|status]" ;;
  esac
fi
