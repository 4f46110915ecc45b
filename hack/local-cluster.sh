#!/usr/bin/env bash
# The local cluster of the demo, the e2e tests and CI: a kind cluster with tierguard installed by `helm install` of
# its chart (docs/local-cluster.md). Docker is started when none answers (hack/docker.sh), kind is built from the
# Go module proxy, and the node image is built offline unless TIERGUARD_KIND_NODE_IMAGE names one.
#
# Usage: hack/local-cluster.sh up | down | status | env | host-state
#        hack/local-cluster.sh restart-component apiserver|etcd   a control-plane static pod stopped and started
#        hack/local-cluster.sh node-exec NODE CMD...             a command in a node's container
#        hack/local-cluster.sh host-address                      where the nodes reach this host (kind's gateway)
# Env:   TIERGUARD_LOCAL_CLUSTER_DIR (<repo>/.local-cluster), TIERGUARD_KIND_CLUSTER (tierguard),
#        TIERGUARD_KUBERNETES_VERSION (KUBERNETES_VERSION), TIERGUARD_KIND_NODE_IMAGE, TIERGUARD_KIND_WORKERS (0),
#        TIERGUARD_INSTALL_HOOK (hack/install-tierguard.sh: run after `up`, idempotent, and with `stop` before
#        `down`, with KUBECONFIG, KIND_CLUSTER_NAME and the cached kubectl/helm/kind first on PATH),
#        TIERGUARD_STATIC_POLICIES (unset; 1: 1.36+ starts with tierguard's static namespace rules)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"
state=${TIERGUARD_LOCAL_CLUSTER_DIR:-$repo/.local-cluster}
name=${TIERGUARD_KIND_CLUSTER:-tierguard}
version=${TIERGUARD_KUBERNETES_VERSION:-$KUBERNETES_VERSION}
workers=${TIERGUARD_KIND_WORKERS:-0}
install_hook=${TIERGUARD_INSTALL_HOOK:-$here/install-tierguard.sh}
bin_dir=$(TIERGUARD_KUBERNETES_VERSION=$version "$here/build-binaries.sh" --bin-dir)
kind_bin=$("$here/build-tools.sh" --path kind)
kubeconfig=$state/kubeconfig
# Marks a state dir as ours, so `down` may delete it whole even when it was given by env.
marker=.tierguard-local-cluster

log() { printf 'local-cluster: %s\n' "$*" >&2; }
die() { printf 'local-cluster: ERROR: %s\n' "$*" >&2; exit 1; }

kind_() { "$kind_bin" "$@"; }
kubectl_() { "$bin_dir/kubectl" --kubeconfig "$kubeconfig" "$@"; }
exists() { command -v docker >/dev/null 2>&1 && kind_ get clusters 2>/dev/null | grep -x "$name" >/dev/null; }
apiserver_ready() { [[ $(kubectl_ get --raw /readyz 2>/dev/null) == ok ]]; }
control_plane() { echo "$name-control-plane"; }

# --- what this host needs patched -----------------------------------------------------------------------------
cgroup_v1() { [[ ! -f /sys/fs/cgroup/cgroup.controllers ]]; }

# The kind config: hack/kind/cluster.yaml plus what this run needs (nodes, version-shaped patches, host patches).
# Prints its path.
write_config() {
  local config=$state/kind-config.yaml short=false
  [[ -z $("$here/docker.sh" short-caps) ]] || short=true
  mkdir -p "$state/audit"
  cp "$here/kind/audit-policy.yaml" "$state/audit/policy.yaml"
  write_admission
  {
    # cluster.yaml ends in its containerdConfigPatches list: a host patch continues it.
    sed "s|@NAME@|$name|" "$here/kind/cluster.yaml"
    if $short; then
      # The node's containerd may not lower a container's oom_score_adj without CAP_SYS_RESOURCE; limits hold.
      printf '%s\n' "- |-" '  [plugins."io.containerd.grpc.v1.cri"]' "    restrict_oom_score_adj = true"
    fi
    echo "nodes:"
    echo "- role: control-plane"
    echo "  extraMounts:"
    echo "  - {hostPath: $state/audit, containerPath: /etc/kubernetes/tierguard-audit}"
    echo "  - {hostPath: $state/admission, containerPath: $admission_dir}"
    ! $short || node_mounts
    local i
    for ((i = 0; i < workers; i++)); do
      echo "- role: worker"
      ! $short || { echo "  extraMounts:"; node_mounts; }
    done
    echo "kubeadmConfigPatches:"
    if cgroup_v1; then
      # kubelet >= 1.35 refuses cgroup v1 unless told otherwise (it then only warns).
      printf '%s\n' "- |" "  kind: KubeletConfiguration" "  failCgroupV1: false"
    fi
    audit_patch
  } >"$config"
  echo "$config"
}

# Without CAP_SYS_RESOURCE, systemd in the node cannot start containerd with its unit's OOMScoreAdjust=-999.
node_mounts() {
  echo "  - {hostPath: $here/kind/containerd-oom.conf, containerPath: /etc/systemd/system/containerd.service.d/90-tierguard-oom.conf, readOnly: true}"
}

# The API server's AdmissionConfiguration, in <state>/admission (mounted into the control plane):
# - webhooks are called with a client certificate (kubeConfigFile, users matched by the Service's DNS name: `*.svc`
#   is any Service) that a CA of this state dir signed; hack/install-tierguard.sh sets the chart's
#   webhook.clientCA to it, so tierguard answers the API server and no other client (docs/helm.md);
# - on 1.36+, static admission policies (feature gate ManifestBasedAdmissionControlConfig: alpha in 1.36, on from
#   1.37): the ValidatingAdmissionPolicy plugin reads <state>/admission/static before the API server serves
#   anything. Empty unless TIERGUARD_STATIC_POLICIES=1, which has `tierguard admission-policies --static` write
#   the namespace rules there first (tests/e2e/test_static_admission.py).
admission_dir=/etc/kubernetes/tierguard-admission
at_least_1_36() { [[ $(printf '%s\n' v1.36.0 "$version" | sort -V | head -n 1) == v1.36.0 ]]; }
write_admission() {
  local dir=$state/admission
  mkdir -p "$dir/static"
  if [[ ! -s $dir/client.crt ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -keyout "$dir/client-ca.key" \
      -out "$dir/client-ca.crt" -subj /CN=tierguard-local-apiserver-client-ca 2>/dev/null &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/client.key" \
        -subj /CN=kube-apiserver 2>/dev/null |
      openssl x509 -req -CA "$dir/client-ca.crt" -CAkey "$dir/client-ca.key" -CAcreateserial -days 3650 \
        -extfile <(echo extendedKeyUsage=clientAuth) -out "$dir/client.crt" 2>/dev/null ||
      die "could not make the API server's client certificate for webhooks (openssl)"
  fi
  printf '%s\n' "apiVersion: v1" "kind: Config" "users:" "- name: '*.svc'" "  user:" \
    "    client-certificate: $admission_dir/client.crt" "    client-key: $admission_dir/client.key" \
    >"$dir/webhooks.kubeconfig"
  {
    printf '%s\n' "apiVersion: apiserver.config.k8s.io/v1" "kind: AdmissionConfiguration" "plugins:" \
      "- name: ValidatingAdmissionWebhook" "  configuration:" "    apiVersion: apiserver.config.k8s.io/v1" \
      "    kind: WebhookAdmissionConfiguration" "    kubeConfigFile: $admission_dir/webhooks.kubeconfig"
    ! at_least_1_36 || printf '%s\n' "- name: ValidatingAdmissionPolicy" "  configuration:" \
      "    apiVersion: apiserver.config.k8s.io/v1" "    kind: ValidatingAdmissionPolicyConfiguration" \
      "    staticManifestsDir: $admission_dir/static"
  } >"$dir/config.yaml"
  [[ ${TIERGUARD_STATIC_POLICIES:-} == 1 ]] || return 0
  at_least_1_36 || { log "TIERGUARD_STATIC_POLICIES ignored: $version < 1.36"; return 0; }
  PYTHONPATH=$repo/operator "${TIERGUARD_PYTHON:-python3}" -m tierguard admission-policies \
    --static "$dir/static" || die "tierguard admission-policies --static failed"
}

# The API server's audit log of the writes tierguard's ValidatingAdmissionPolicies judge, written to
# <state>/audit/audit.log (tests/e2e/test_admission_policies.py reads it), and the AdmissionConfiguration
# above. kubeadm's v1beta4 (kind uses it from 1.36) has extraArgs as a list, appended to with a JSON patch;
# v1beta3 a map, merged.
audit_patch() {
  local dir=/etc/kubernetes/tierguard-audit arg v1beta4=false
  local args=("audit-policy-file: $dir/policy.yaml" "audit-log-path: $dir/audit.log" 'audit-log-maxsize: "100"'
    'audit-log-maxbackup: "1"')
  ! at_least_1_36 || v1beta4=true
  args+=("admission-control-config-file: $admission_dir/config.yaml")
  [[ $version != v1.36.* ]] || args+=("feature-gates: ManifestBasedAdmissionControlConfig=true")
  printf '%s\n' "- |" "  kind: ClusterConfiguration" "  apiServer:"
  $v1beta4 || { echo "    extraArgs:"; printf '      %s\n' "${args[@]}"; }
  echo "    extraVolumes:"
  echo "    - {name: tierguard-audit, hostPath: $dir, mountPath: $dir, pathType: DirectoryOrCreate}"
  echo "    - {name: tierguard-admission, hostPath: $admission_dir, mountPath: $admission_dir, readOnly: true}"
  $v1beta4 || return 0
  printf '%s\n' "kubeadmConfigPatchesJSON6902:" "- group: kubeadm.k8s.io" "  version: v1beta4" \
    "  kind: ClusterConfiguration" "  patch: |"
  for arg in "${args[@]}"; do
    echo "    - {op: add, path: /apiServer/extraArgs/-, value: {name: ${arg%%: *}, value: ${arg#*: }}}"
  done
}

node_image() {
  if [[ -n ${TIERGUARD_KIND_NODE_IMAGE:-} ]]; then echo "$TIERGUARD_KIND_NODE_IMAGE"; else "$here/kind/node-image.sh" "$version"; fi
}

# --- whose cluster runs under this name -------------------------------------------------------------------------
# The state dir a running cluster was started from: the host side of its audit mount (none: not made here).
owner_dir() {
  docker inspect -f '{{range .Mounts}}{{if eq .Destination "/etc/kubernetes/tierguard-audit"}}{{.Source}}{{end}}{{end}}' \
    "$(control_plane)" 2>/dev/null | sed 's#/audit$##' || true
}

# none: no cluster of this name; ours: started from this state dir; gone: from a state dir that no longer exists
# (a removed clone, a machine restored with Docker's data), so nobody else uses it; other: another live state dir
# (a second checkout); foreign: not started by this script.
ownership() {
  exists || { echo none; return; }
  local owner
  owner=$(owner_dir)
  if [[ -z $owner ]]; then echo foreign
  elif [[ ! -e $owner/$marker ]]; then echo gone
  elif [[ $(realpath -m "$owner") == "$(realpath -m "$state")" ]]; then echo ours
  else echo other; fi
}

# Deleting another checkout's cluster (a helper's clone once did) or a user's own pulls it from under them.
refuse_foreign() {
  local owner
  owner=$(owner_dir)
  [[ -n $owner ]] || die "a kind cluster named $name runs that this script did not start: delete it yourself" \
    "(kind delete cluster --name $name) or set TIERGUARD_KIND_CLUSTER to another name"
  die "kind cluster $name runs from another state dir, $owner: use or stop it there" \
    "(TIERGUARD_LOCAL_CLUSTER_DIR=$owner $0 down), or set TIERGUARD_KIND_CLUSTER to another name"
}

# --- the tierguard hook -----------------------------------------------------------------------------------------
run_install_hook() { # args...
  [[ -x $install_hook ]] || return 0
  log "running $install_hook $*"
  KUBECONFIG=$kubeconfig PATH=$bin_dir:$(dirname "$kind_bin"):$PATH TIERGUARD_LOCAL_CLUSTER_DIR=$state \
    KIND_CLUSTER_NAME=$name TIERGUARD_IMAGE_LOADER=${TIERGUARD_IMAGE_LOADER:-kind} "$install_hook" "$@"
}

# --- commands ---------------------------------------------------------------------------------------------------
cmd_up() {
  local t0=$SECONDS
  "$here/docker.sh" || die "no Docker engine (see above)"
  "$here/build-tools.sh" kind >/dev/null || die "could not build kind (see above)"
  TIERGUARD_KUBERNETES_VERSION=$version "$here/build-binaries.sh" >/dev/null ||
    die "could not build or find kubectl and helm (see above)"
  case $(ownership) in
    none) ;;
    ours) [[ -s $kubeconfig ]] || kind_ get kubeconfig --name "$name" >"$kubeconfig" ;;
    gone) log "kind cluster $name was started from $(owner_dir), which is gone: replacing it"
      kind_ delete cluster --name "$name" >&2 ;;
    *) refuse_foreign ;;
  esac
  if exists && apiserver_ready; then
    log "kind cluster $name already running"
  else
    ! exists || kind_ delete cluster --name "$name" >&2
    local image config
    image=$(node_image) || die "no node image for Kubernetes $version (see above)"
    mkdir -p "$state/logs"
    touch "$state/$marker"
    config=$(write_config)
    log "creating kind cluster $name ($version, $((workers + 1)) node(s), image $image)"
    kind_ create cluster --name "$name" --image "$image" --config "$config" --kubeconfig "$kubeconfig" \
      --wait 3m >&2 || {
      kind_ export logs "$state/logs/kind" --name "$name" >/dev/null 2>&1 || true
      die "kind create cluster failed (node logs in $state/logs/kind)"
    }
    echo "$version" >"$state/version"
    log "cluster ready in $((SECONDS - t0)) s"
  fi
  run_install_hook || die "hack/install-tierguard.sh failed (the cluster stays up)"
  cat <<EOF
Use it with:
  eval "\$($0 env)"
Stop it with: $0 down
EOF
}

cmd_down() {
  case $(ownership) in ours | gone | none) ;; *) refuse_foreign ;; esac
  if exists; then
    apiserver_ready && { run_install_hook stop || log "hack/install-tierguard.sh stop failed; deleting anyway"; }
    kind_ delete cluster --name "$name" >&2
  else
    log "no kind cluster $name"
  fi
  if [[ -e $state/$marker ]]; then
    rm -rf "$state"
    log "removed $state"
  elif [[ -d $state ]]; then
    log "left $state in place: it was not created by this script"
  fi
}

cmd_status() {
  exists || { echo "kind cluster $name: not running"; return 1; }
  docker ps --filter "label=io.x-k8s.kind.cluster=$name" --format '{{.Names}}  {{.Status}}'
  apiserver_ready || { echo "API server: not ready"; return 1; }
  printf '%-12s %s\n' server "$(kubectl_ config view -o jsonpath='{.clusters[0].cluster.server}')" \
    version "$(cat "$state/version" 2>/dev/null)" kubeconfig "$kubeconfig"
}

# What `up` leaves on the host, for comparing before `up` with after `down` (tests/e2e/conftest.py does):
# this cluster's containers and volumes, and the state dir.
cmd_host_state() {
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    docker ps -a --filter "label=io.x-k8s.kind.cluster=$name" --format 'container {{.Names}}'
    docker volume ls --filter "label=io.x-k8s.kind.cluster=$name" --format 'volume {{.Name}}'
  fi
  [[ ! -e $state/$marker ]] || echo "dir $state"
}

cmd_env() {
  [[ -f $kubeconfig ]] || log "no kubeconfig yet: run '$0 up' first"
  printf 'export KUBECONFIG=%q\n' "$kubeconfig"
  printf 'export KIND_CLUSTER_NAME=%q\n' "$name"
  # shellcheck disable=SC2016 # $PATH is for the caller's eval to expand
  printf 'export PATH=%q:%q:"$PATH"\n' "$bin_dir" "$(dirname "$kind_bin")"
}

# A fault for tests: a control-plane static pod stopped (its manifest moved away, as an upgrade of it does) and
# started again; returns once the API server answers /readyz again.
cmd_restart_component() { # apiserver|etcd
  local manifest node deadline
  case ${1:-} in
    apiserver) manifest=kube-apiserver.yaml ;;
    etcd) manifest=etcd.yaml ;;
    *) echo "usage: $0 restart-component apiserver|etcd" >&2; return 2 ;;
  esac
  node=$(control_plane)
  exists || die "kind cluster $name is not running"
  docker exec "$node" mv "/etc/kubernetes/manifests/$manifest" "/etc/kubernetes/$manifest.stopped"
  # The kubelet stops the pod's containers once the manifest is gone.
  deadline=$((SECONDS + 120))
  while docker exec "$node" crictl ps -q --name "${manifest%.yaml}" 2>/dev/null | grep . >/dev/null; do
    ((SECONDS < deadline)) || die "${manifest%.yaml} still runs 120 s after its manifest was removed"
    sleep 0.5
  done
  docker exec "$node" mv "/etc/kubernetes/$manifest.stopped" "/etc/kubernetes/manifests/$manifest"
  deadline=$((SECONDS + 180))
  until apiserver_ready; do
    ((SECONDS < deadline)) || die "the API server is not ready 180 s after ${manifest%.yaml} was started again"
    sleep 0.5
  done
}

cmd_host_address() {
  local gateway
  gateway=$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' 2>/dev/null) ||
    die "no Docker network named kind (is the cluster up?)"
  gateway=$(tr ' ' '\n' <<<"$gateway" | grep -m 1 '^[0-9.]*$') || die "kind's network has no IPv4 gateway"
  echo "$gateway"
}

cmd_node_exec() { # node, command...
  [[ $# -ge 2 ]] || { echo "usage: $0 node-exec NODE CMD..." >&2; return 2; }
  local node=$1
  shift
  [[ $node == "$name"-* ]] || node=$name-$node
  docker exec -i "$node" "$@"
}

main() {
  case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    host-state) cmd_host_state ;;
    restart-component) cmd_restart_component "${2:-}" ;;
    node-exec) shift; cmd_node_exec "$@" ;;
    host-address) cmd_host_address ;;
    *) echo "usage: $0 up|down|status|env|host-state|restart-component apiserver|etcd|node-exec NODE CMD..." >&2; return 2 ;;
  esac
}

# On one line, so bash has read all it runs: editing this file while `up` waits cannot rerun parts of it.
main "$@"; exit
