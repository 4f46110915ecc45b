#!/usr/bin/env bash
# Installs tierguard into a cluster (hack/local-cluster.sh's hook), idempotent; KUBECONFIG, helm and kubectl given.
#   [start]  the image built from the Dockerfile (hack/build-image.sh) and loaded into the nodes, `helm install` of
#            the chart as users run it (`helm upgrade` to the new image when the release exists), then a wait for
#            the Deployment and for the webhook to answer through its Service
#   stop     delete the webhook configuration (a stopped webhook cannot lock the API server) | status
# Env: TIERGUARD_IMAGE_LOADER  `kind` (kind load into KIND_CLUSTER_NAME; the default when that is set) or `none`
#                              (TIERGUARD_IMAGE, repository:tag, is pullable); TIERGUARD_HELM_ARGS: helm's extra words
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
namespace=${TIERGUARD_NAMESPACE:-tierguard-system}
release=tierguard

log() { printf 'install-tierguard: %s\n' "$*" >&2; }
die() { printf 'install-tierguard: ERROR: %s\n' "$*" >&2; exit 1; }

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

cmd_start() {
  command -v helm >/dev/null || die "helm not on PATH (run through hack/local-cluster.sh)"
  local ref start=$SECONDS
  ref=$(image_on_nodes)
  # shellcheck disable=SC2206 # extra helm arguments are words by design
  local extra=(${TIERGUARD_HELM_ARGS:-})
  # The local cluster's API server calls webhooks with a client certificate (hack/local-cluster.sh): require it.
  local client_ca=${TIERGUARD_LOCAL_CLUSTER_DIR:-/nonexistent}/admission/client-ca.crt
  [[ ! -s $client_ca ]] || extra+=(--set-file "webhook.clientCA=$client_ca")
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

cmd_stop() {
  kubectl version >/dev/null 2>&1 || return 0
  kubectl delete validatingwebhookconfiguration -l app.kubernetes.io/instance="$release" \
    --ignore-not-found >/dev/null || log "could not delete the webhook configuration"
}

cmd_status() {
  local ready
  ready=$(kubectl -n "$namespace" get deploy "$release" -o jsonpath='{.status.readyReplicas}/{.spec.replicas}' 2>/dev/null) ||
    { echo "tierguard: not installed"; return 1; }
  echo "tierguard: deployment $namespace/$release, $ready replicas ready"
  [[ ${ready%/*} == "${ready#*/}" ]]
}

case ${1:-start} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac
