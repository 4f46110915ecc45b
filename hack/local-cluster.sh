#!/usr/bin/env bash
# A real, local Kubernetes cluster for e2e tests, the demo and CI, without Docker, registries or release
# downloads. Two modes (TIERGUARD_LOCAL_CLUSTER_MODE):
#   node (default)  a one-node cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and a
#                   node of containerd (Debian's, with its own root and socket under the state dir), kubelet,
#                   kube-proxy (iptables) and CNI bridge networking on a bridge made here (hack/local-node.sh).
#                   Pods run from images built here (hack/build-image.sh) and imported into containerd; the
#                   install hook helm-installs the chart. Needs root. API server at https://<node ip>:6443.
#   host            the control plane alone, on free 127.0.0.1 ports: no scheduler and no kubelet, so Pods
#                   stay Pending; the install hook runs `tierguard run` as a host process (a fast inner loop).
#
# Usage: hack/local-cluster.sh up       build or reuse binaries (hack/build-binaries.sh), start, wait for ready
#        hack/local-cluster.sh down     stop exactly what `up` started, remove the state dir
#        hack/local-cluster.sh status   what runs; exit 0 when the control plane is up and ready
#        hack/local-cluster.sh env      `export` lines for eval: KUBECONFIG and PATH with the cached kubectl/helm
#        hack/local-cluster.sh host-state  what a node's `up` changes on this host, one fact a line (for tests)
#        hack/local-cluster.sh restart-component apiserver|etcd   stop one and start it again (fault tests)
#
# Env:   TIERGUARD_LOCAL_CLUSTER_DIR    state dir: certs, etcd data, pid files, logs, kubeconfig
#                                       (default <repo>/.local-cluster)
#        TIERGUARD_K8S_CACHE            binary cache root (see hack/build-binaries.sh)
#        TIERGUARD_APISERVER_PORT       fixed port for kube-apiserver (default: a free one)
#        TIERGUARD_LOCAL_CLUSTER_TIMEOUT  seconds to wait for each component (default 90)
#        TIERGUARD_INSTALL_HOOK         the tierguard install hook below (default hack/install-tierguard.sh)
#        TIERGUARD_LOCAL_CLUSTER_MODE   node (default) or host; `down` and `status` use the mode `up` recorded
#        TIERGUARD_POD_CIDR, TIERGUARD_SERVICE_CIDR, TIERGUARD_NODE_BRIDGE   node networking (defaults
#                                       10.244.0.0/24, 10.96.0.0/16, tg-br0)
#
# Hook for installing tierguard itself: when hack/install-tierguard.sh exists and is executable, `up` runs it
# (no argument) once the cluster is ready, also when it was already running, so it must be idempotent;
# `down` runs `hack/install-tierguard.sh stop` before it stops the API server. Both get KUBECONFIG,
# TIERGUARD_LOCAL_CLUSTER_DIR, TIERGUARD_LOCAL_CLUSTER_MODE and the cached kubectl/helm first on PATH.
# shellcheck disable=SC2329,SC2317 # probes and abort_up are called indirectly (wait_for, the EXIT trap)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${TIERGUARD_LOCAL_CLUSTER_DIR:-$repo/.local-cluster}
timeout=${TIERGUARD_LOCAL_CLUSTER_TIMEOUT:-90}
install_hook=${TIERGUARD_INSTALL_HOOK:-$here/install-tierguard.sh}
bin_dir=$("$here/build-binaries.sh" --bin-dir)
kubeconfig=$state/kubeconfig
# Marks a state dir as ours, so `down` may delete it whole even when it was given by env.
marker=.tierguard-local-cluster
# The mode of a running cluster is the one its `up` recorded; a new one takes the variable's.
set_mode() { # node|host
  mode=$1
  case $mode in
    node) components=(etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy) ;;
    host) components=(etcd kube-apiserver kube-controller-manager) ;;
    *) printf 'local-cluster: ERROR: TIERGUARD_LOCAL_CLUSTER_MODE must be node or host, not %s\n' "$mode" >&2; exit 2 ;;
  esac
}
set_mode "$(cat "$state/mode" 2>/dev/null || echo "${TIERGUARD_LOCAL_CLUSTER_MODE:-node}")"

log() { printf 'local-cluster: %s\n' "$*" >&2; }
die() { printf 'local-cluster: ERROR: %s\n' "$*" >&2; exit 1; }
die_with_log() { # message, component
  printf 'local-cluster: ERROR: %s\n--- last 40 lines of %s ---\n' "$1" "$state/logs/$2.log" >&2
  tail -n 40 "$state/logs/$2.log" >&2 || true
  exit 1
}

# --- processes -------------------------------------------------------------------------------------------
# The pid of a component when it runs; a recycled pid is not ours unless its command line names our state dir.
pid_of() {
  local pid
  pid=$(cat "$state/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"$state/"* ]] || return 1
  echo "$pid"
}
running() { pid_of "$1" >/dev/null; }

start() { # component, args...: a binary of bin_dir
  start_abs "$1" "$bin_dir/$1" "${@:2}"
}
start_abs() { # component, executable, args...
  local name=$1 exe=$2
  shift 2
  # stdin/stdout/stderr detached, so a caller capturing our output (pytest) is not held open by the daemons;
  # a session of its own, so a signal to the caller's process group (timeout(1), Ctrl-C) cannot kill half the
  # cluster: only `down` stops it.
  printf '%s\0' "$exe" "$@" >"$state/$name.cmd" # what restart-component runs again
  setsid nohup "$exe" "$@" </dev/null >>"$state/logs/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
  log "started $name (pid $!)"
}

stop() { # component
  local pid i
  pid=$(pid_of "$1") || { rm -f "$state/$1.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1 (pid $pid) did not exit within 15 s of SIGTERM: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$state/$1.pid"
  log "stopped $1 (pid $pid)"
}
# Stops the components in parallel and waits for those stops only: a bare `wait` would also wait for the
# daemons this shell started itself (a failed `up` stops its own children) and never return.
stop_together() { # component...
  local c pids=()
  for c in "$@"; do
    stop "$c" &
    pids+=($!)
  done
  wait "${pids[@]}"
}
stop_all() { # in reverse start order: no controller or API server outlives what it talks to
  local i
  if [[ $mode == node ]]; then
    node_drain
    # Independent pairs stop together (each takes a second or two to exit on SIGTERM); the order between
    # the groups holds: the node before the API server, etcd last.
    stop_together kube-scheduler kube-controller-manager
    stop_together kube-proxy kubelet
    stop_together kube-apiserver containerd
    stop etcd
    node_cleanup
    return
  fi
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do stop "${components[i]}"; done
}

# Waits until "$2..." succeeds; dies with the component's log tail when it exits or the time runs out.
# A process this script just started: alive unless gone or a zombie. Not `running`, whose command-line check
# can see the forked shell before it has exec'd the component (setsid, nohup) and call it dead.
started_alive() { # pid
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

wait_for() { # component, command...
  local name=$1 deadline=$((SECONDS + timeout)) pid
  shift
  pid=$(cat "$state/$name.pid" 2>/dev/null) || die "no pid file for $name"
  until "$@" >/dev/null 2>&1; do
    started_alive "$pid" || die_with_log "$name exited during start-up" "$name"
    ((SECONDS < deadline)) || die_with_log "$name not ready after ${timeout} s" "$name"
    sleep 0.3
  done
}

# --- ports -----------------------------------------------------------------------------------------------
free_ports() { # count: prints that many distinct free loopback ports
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
port_free() {
  python3 -c 'import socket,sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# --- certificates ----------------------------------------------------------------------------------------
issue_cert() { # name, subject, extensions (openssl -extfile lines)
  local pki=$state/pki
  openssl req -new -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 365 \
    -sha256 -extfile <(printf '%b' "$3") -out "$pki/$1.crt" 2>/dev/null
  rm -f "$pki/$1.csr"
}

make_pki() { # extra subjectAltName entries of the API server's certificate
  local pki=$state/pki
  command -v openssl >/dev/null 2>&1 || die "openssl is not installed (Debian: apt-get install -y openssl)"
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -sha256 -subj "/CN=tierguard-local-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  local client='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
  issue_cert apiserver "/CN=kube-apiserver" \
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1'"$1"'\n'
  issue_cert admin "/O=system:masters/CN=tierguard-local-admin" "$client"
  issue_cert kube-controller-manager "/CN=system:kube-controller-manager" "$client"
  # ServiceAccount token signing key pair
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  chmod 600 "$pki"/*.key
}

write_kubeconfig() { # file, client cert name, server
  local pki=$state/pki
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tierguard-local
  cluster:
    server: $3
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 <"$pki/$2.crt")
    client-key-data: $(base64 -w0 <"$pki/$2.key")
contexts:
- name: tierguard-local
  context: {cluster: tierguard-local, user: $2}
current-context: tierguard-local
EOF
  chmod 600 "$1"
}

# --- readiness probes ------------------------------------------------------------------------------------
kubectl_() { "$bin_dir/kubectl" --kubeconfig "$kubeconfig" "$@"; }
# shellcheck source=hack/local-node.sh
source "$here/local-node.sh"
etcd_healthy() { # port
  local reply
  reply=$({ printf 'GET /health HTTP/1.0\r\n\r\n' >&3 && cat <&3; } 3<>"/dev/tcp/127.0.0.1/$1") || return 1
  [[ $reply == *'"health":"true"'* ]]
}
apiserver_ready() { [[ $(kubectl_ get --raw /readyz 2>/dev/null) == ok ]]; }
# The controller-manager has no serving port here; its first visible work is the default ServiceAccount.
controllers_working() { kubectl_ get serviceaccount default --namespace default; }

# --- the tierguard hook (a later issue provides hack/install-tierguard.sh) -------------------------------
run_install_hook() { # args...
  [[ -x $install_hook ]] || return 0
  log "running $install_hook $*"
  KUBECONFIG=$kubeconfig PATH=$bin_dir:$PATH TIERGUARD_LOCAL_CLUSTER_DIR=$state TIERGUARD_LOCAL_CLUSTER_MODE=$mode \
    "$install_hook" "$@"
}
install_tierguard() { run_install_hook || die "hack/install-tierguard.sh failed (the control plane stays up)"; }
uninstall_tierguard() {
  running kube-apiserver || return 0
  run_install_hook stop || log "hack/install-tierguard.sh stop failed; stopping the control plane anyway"
}

abort_up() {
  stop_all
  log "start-up failed: stopped what it started; logs stay in $state/logs until '$0 down'"
}

# --- commands --------------------------------------------------------------------------------------------
cmd_up() {
  local c n=0
  for c in "${components[@]}"; do running "$c" && n=$((n + 1)); done
  if ((n == ${#components[@]})) && apiserver_ready; then
    log "already running ($mode mode)"
    cmd_status
    install_tierguard
    return 0
  fi
  if ((n > 0)); then
    log "a previous cluster is only partly running: stopping it and starting fresh"
    cmd_down
  fi
  set_mode "${TIERGUARD_LOCAL_CLUSTER_MODE:-node}"
  [[ $mode != node ]] || node_require

  local t0=$SECONDS
  "$here/build-binaries.sh" >/dev/null || die "could not build or find the control-plane binaries (see above)"
  local t1=$SECONDS

  local etcd_port etcd_peer_port api_port scheduler_port proxy_metrics_port api_addr
  read -r etcd_port etcd_peer_port api_port scheduler_port proxy_metrics_port < <(free_ports 5)
  if [[ $mode == node ]]; then
    api_addr=$node_ip api_port=6443
  else
    api_addr=127.0.0.1
  fi
  if [[ -n ${TIERGUARD_APISERVER_PORT:-} ]]; then
    api_port=$TIERGUARD_APISERVER_PORT
    [[ $mode == node ]] || port_free "$api_port" ||
      die "port 127.0.0.1:$api_port (TIERGUARD_APISERVER_PORT) is in use: free it or unset the variable"
  fi

  # A failed start stops what it started; the state dir stays for its logs until `down`.
  trap 'rc=$?; ((rc == 0)) || abort_up' EXIT
  mkdir -p "$state/logs"
  touch "$state/$marker"
  echo "$mode" >"$state/mode"
  rm -rf "$state/etcd-data" "$state/pki"
  if [[ $mode == node ]]; then
    node_record_host
    node_network_up
    make_pki ",IP:$node_ip,IP:$kubernetes_service_ip"
    node_pki
  else
    make_pki ""
  fi
  local pki=$state/pki
  server=https://$api_addr:$api_port
  echo "$server" >"$state/server"
  write_kubeconfig "$kubeconfig" admin "$server"
  write_kubeconfig "$state/kube-controller-manager.kubeconfig" kube-controller-manager "$server"

  # The node's images are built (or taken from the cache) while the control plane starts.
  local images_pid=""
  if [[ $mode == node ]]; then
    { "$here/build-image.sh" pause && "$here/build-image.sh" tierguard; } >"$state/images" 2>"$state/logs/build-image.log" &
    images_pid=$!
  fi

  start etcd --name=default --data-dir="$state/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="default=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync=true # a throwaway test cluster: durability is not worth the disk waits
  wait_for etcd etcd_healthy "$etcd_port"

  # shellcheck disable=SC2054 # the commas are inside flag values
  local api_args=(--etcd-servers="http://127.0.0.1:$etcd_port"
    --bind-address="$api_addr" --advertise-address="$api_addr" --secure-port="$api_port"
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key"
    --client-ca-file="$pki/ca.crt" --authorization-mode=Node,RBAC --allow-privileged=true
    --service-account-issuer=https://kubernetes.default.svc.cluster.local
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key"
    --cert-dir="$pki/apiserver-generated"
    --audit-policy-file="$state/audit-policy.yaml" --audit-log-path="$state/logs/audit.log"
    --audit-log-maxsize=100 --audit-log-maxbackup=1)
  # An audit log of the writes tierguard's ValidatingAdmissionPolicies judge, at Metadata level: where the API
  # server records what a binding with the Audit action found (tests/e2e/test_admission_policies.py).
  cat >"$state/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
    verbs: [create, update, patch]
    resources:
      - {group: "", resources: [namespaces, pods, replicationcontrollers]}
      - {group: apps, resources: [deployments, statefulsets, daemonsets, replicasets]}
      - {group: batch, resources: [jobs, cronjobs]}
  - level: None
POLICY
  if [[ $mode == node ]]; then
    api_args+=(--service-cluster-ip-range="$service_cidr"
      --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt"
      --kubelet-client-key="$pki/apiserver-kubelet-client.key"
      --kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=InternalIP)
  else
    # The only address is loopback, which the Endpoints API refuses.
    api_args+=(--service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none)
  fi
  start kube-apiserver "${api_args[@]}"
  wait_for kube-apiserver apiserver_ready

  start kube-controller-manager --kubeconfig="$state/kube-controller-manager.kubeconfig" \
    --secure-port=0 --leader-elect=false \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --controllers='*'
  wait_for kube-controller-manager controllers_working

  if [[ $mode == node ]]; then
    node_scheduler "$scheduler_port"
    wait "$images_pid" || die_with_log "could not build the node's images" build-image
    local pause_ref pause_archive tierguard_ref tierguard_archive
    { read -r pause_ref pause_archive && read -r tierguard_ref tierguard_archive; } <"$state/images"
    node_containerd "$pause_ref"
    node_import "$pause_archive" "$tierguard_archive"
    echo "$tierguard_ref" >"$state/tierguard-image"
    node_kubelet
    node_proxy "$proxy_metrics_port"
  fi

  trap - EXIT
  log "cluster ready at $server in $((SECONDS - t0)) s ($mode mode; binaries $((t1 - t0)) s, start $((SECONDS - t1)) s)"
  install_tierguard
  cat <<EOF
Use it with:
  eval "\$($0 env)"
or:
  export KUBECONFIG=$kubeconfig
  export PATH=$bin_dir:\$PATH
Stop it with: $0 down
EOF
}

cmd_down() {
  if [[ ! -d $state ]]; then
    log "nothing to stop ($state does not exist)"
    return 0
  fi
  uninstall_tierguard
  stop_all
  if [[ -e $state/$marker ]]; then
    rm -rf "$state"
    log "removed $state"
  else
    log "left $state in place: it was not created by this script"
  fi
}

cmd_status() {
  local c pid ok=0
  for c in "${components[@]}"; do
    if pid=$(pid_of "$c"); then
      printf '%-24s running (pid %s)\n' "$c" "$pid"
    else
      printf '%-24s not running\n' "$c"
      ok=1
    fi
  done
  if running kube-apiserver && apiserver_ready; then
    printf '%-24s %s (readyz: ok)\n' "server" "$(cat "$state/server" 2>/dev/null || echo '?')"
    printf '%-24s %s\n' "version" "$(kubectl_ version -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -n 1)"
    printf '%-24s %s\n' "kubeconfig" "$kubeconfig"
  else
    ok=1
  fi
  printf '%-24s %s\n' "binaries" "$bin_dir"
  return $ok
}

# What a node's `up` changes on this host, one fact a line, for comparing before `up` with after `down`
# (tests/e2e/conftest.py does). Processes are matched by name, whoever started them.
cmd_host_state() {
  ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print "link " $2 }'
  ip route show table all 2>/dev/null | sed 's/^/route /'
  local f t
  for f in "${ipt_families[@]}"; do
    command -v "$f-save" >/dev/null 2>&1 || continue
    for t in filter nat mangle; do iptables_chains "$f" "$t" | sed "s/^/chain $f $t /"; done
  done
  awk '{ print "mount " $2 }' /proc/self/mounts
  local d
  for d in /sys/fs/cgroup/*/kubepods* /sys/fs/cgroup/kubepods*; do [[ -d $d ]] && echo "cgroup $d"; done
  for d in "${fixed_host_dirs[@]}"; do [[ -e $d ]] && echo "dir $d"; done
  for f in "${sysctls[@]}"; do echo "sysctl $f=$(sysctl -n "$f" 2>/dev/null)"; done
  # Processes of this cluster: their command lines name its state dir (the pods' processes are in the kubepods
  # cgroups above). Another cluster on the machine, with another state dir, is not this one's business.
  local name
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy containerd \
    containerd-shim-runc-v2; do
    pgrep -f "^[^ ]*$name .*$state/" >/dev/null && echo "process $name"
  done
  true
}

cmd_env() {
  [[ -f $kubeconfig ]] || log "no kubeconfig yet: run '$0 up' first"
  printf 'export KUBECONFIG=%q\n' "$kubeconfig"
  # shellcheck disable=SC2016 # $PATH is for the caller's eval to expand
  printf 'export PATH=%q:"$PATH"\n' "$bin_dir"
}

# A fault for tests: stop one control-plane process (SIGTERM, as a rolling upgrade of it would) and start it
# again with the same arguments; returns once the API server answers /readyz again.
cmd_restart_component() { # apiserver|etcd
  local c argv=()
  case ${1:-} in
    apiserver) c=kube-apiserver ;;
    etcd) c=etcd ;;
    *) echo "usage: $0 restart-component apiserver|etcd" >&2; return 2 ;;
  esac
  running "$c" && [[ -f $state/$c.cmd ]] || die "$c is not running here"
  mapfile -d '' argv <"$state/$c.cmd"
  stop "$c"
  start_abs "$c" "${argv[@]}"
  wait_for "$c" apiserver_ready
}

main() {
  case ${1:-} in
    restart-component) cmd_restart_component "${2:-}" ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    host-state) cmd_host_state ;;
    *) echo "usage: $0 up|down|status|env|host-state|restart-component apiserver|etcd" >&2; return 2 ;;
  esac
}

# On one line, so bash has read all it runs: editing this file while `up` waits cannot rerun parts of it.
main "$@"; exit
