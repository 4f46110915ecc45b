# shellcheck shell=bash
# The node of the local cluster (sourced by hack/local-cluster.sh, which defines state, bin_dir, log, die,
# start, stop, running, wait_for, issue_cert and write_kubeconfig): containerd with its own root, state and
# socket, CNI bridge networking on a bridge created here, the kubelet, kube-proxy (iptables) and
# kube-scheduler. Facts it rests on: docs/local-cluster.md ("The node").
#
# What `up` changes on the host is recorded under $state/host before it is changed, and `node_cleanup`
# undoes exactly that: the bridge and its route, the two sysctls, the iptables chains that did not exist
# before, the kubelet's fixed host directories that did not exist before, mounts under $state, the pods'
# cgroups. It never touches what it did not create.
# shellcheck disable=SC2154 # state, bin_dir, kubeconfig and friends come from hack/local-cluster.sh

node_name=${TIERGUARD_NODE_NAME:-tierguard-node}
bridge=${TIERGUARD_NODE_BRIDGE:-tg-br0}
# The pods' subnet; its first address is the bridge's, the node's and the API server's.
pod_cidr=${TIERGUARD_POD_CIDR:-10.244.0.0/24}
service_cidr=${TIERGUARD_SERVICE_CIDR:-10.96.0.0/16}
node_ip=${pod_cidr%.*}.1
kubernetes_service_ip=${service_cidr%.*.*}.0.1
# Directories the kubelet or the CNI plugins create at fixed host paths whatever their configuration says.
fixed_host_dirs=(/var/lib/kubelet /var/lib/cni /etc/cni /var/log/containers /var/log/pods /run/containerd
  /var/run/netns /opt/cni)
sysctls=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables)

containerd_sock() { echo "$state/containerd/containerd.sock"; }
ctr_() { ctr --address "$(containerd_sock)" --namespace k8s.io "$@"; }

node_require() {
  local missing=() cmd
  [[ $(id -u) == 0 ]] || die "the node needs root (it creates a bridge, iptables rules and cgroups); TIERGUARD_LOCAL_CLUSTER_MODE=host runs without one"
  for cmd in containerd containerd-shim-runc-v2 ctr runc iptables iptables-save ip buildah debootstrap; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  [[ -x /usr/lib/cni/bridge ]] || missing+=(/usr/lib/cni/bridge)
  ((${#missing[@]} == 0)) ||
    die "missing ${missing[*]}: run hack/ci-prereqs.sh (Debian: containerd runc containernetworking-plugins iptables iproute2 buildah debootstrap)"
  ((${#state} < 70)) || die "state dir $state is too long for containerd's socket path: set TIERGUARD_LOCAL_CLUSTER_DIR to a shorter one"
}

# --- the host as found, so that down can restore it --------------------------------------------------
# The kubelet and kube-proxy program IPv6 as well as IPv4 where the host has it.
ipt_families=(iptables ip6tables)
iptables_chains() { # family, table: the chain names it has, one per line
  "$1-save" -t "$2" 2>/dev/null | sed -n 's/^:\([^ ]*\) .*/\1/p' | LC_ALL=C sort
}

node_record_host() {
  local host=$state/host t d s
  mkdir -p "$host"
  for s in "${sysctls[@]}"; do
    sysctl -n "$s" >"$host/$s" 2>/dev/null || rm -f "$host/$s"
  done
  local f
  for f in "${ipt_families[@]}"; do
    for t in filter nat mangle; do iptables_chains "$f" "$t" >"$host/chains.$f.$t"; done
  done
  : >"$host/dirs"
  for d in "${fixed_host_dirs[@]}"; do [[ -e $d ]] && echo "$d" >>"$host/dirs"; done
  : >"$host/netns"
  for d in /var/run/netns/*; do [[ -e $d ]] && echo "$d" >>"$host/netns"; done
  true
}

kill_pod_processes() { # SIGKILL every process in the kubepods cgroups (all controllers), until none is left
  local i procs
  for ((i = 0; i < 20; i++)); do
    procs=$(find /sys/fs/cgroup/*/kubepods* /sys/fs/cgroup/kubepods* -name cgroup.procs -exec cat {} + 2>/dev/null |
      sort -u || true) # a pattern that matches nothing makes find fail: no cgroup, no process
    [[ -n $procs ]] || return 0
    # shellcheck disable=SC2086 # one pid a word
    kill -KILL $procs 2>/dev/null || true
    sleep 0.2
  done
}

# --- networking ------------------------------------------------------------------------------------------
node_network_up() {
  if ip link show "$bridge" >/dev/null 2>&1; then
    die "a network interface named $bridge already exists: not ours to take (set TIERGUARD_NODE_BRIDGE, or '$0 down' a previous cluster)"
  fi
  ip link add "$bridge" type bridge
  touch "$state/host/bridge"
  ip addr add "$node_ip/${pod_cidr#*/}" dev "$bridge"
  ip link set "$bridge" up
  # Service traffic never leaves through the machine's own interface, even before kube-proxy's rules exist.
  ip route add "$service_cidr" dev "$bridge"
  # kube-proxy's DNAT must see pod-to-Service traffic that stays on the bridge.
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
  mkdir -p "$state/cni/net.d" "$state/cni/ipam"
  cat >"$state/cni/net.d/10-tierguard.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "tierguard-local",
  "plugins": [
    {
      "type": "bridge", "bridge": "$bridge", "isGateway": true, "isDefaultGateway": false, "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$state/cni/ipam",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]],
        "routes": [{"dst": "$service_cidr"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
}

# --- certificates ----------------------------------------------------------------------------------------
node_pki() {
  local client='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
  issue_cert kube-scheduler "/CN=system:kube-scheduler" "$client"
  issue_cert kube-proxy "/CN=system:kube-proxy" "$client"
  issue_cert kubelet "/O=system:nodes/CN=system:node:$node_name" "$client"
  issue_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
  issue_cert kubelet-serving "/CN=$node_name" \
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:$node_ip,DNS:$node_name\n"
}

# --- containerd ------------------------------------------------------------------------------------------
node_containerd() { # pause image ref
  mkdir -p "$state/containerd"
  cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
[grpc]
  address = "$(containerd_sock)"
[ttrpc]
  address = "$(containerd_sock).ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$1"
  # The kubelet gives its own pods oom_score_adj -998, which needs CAP_SYS_RESOURCE; without it every sandbox
  # fails to start. Restricting the value to the runtime's own keeps limits enforced.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
  # Per-registry hosts (read at every pull): the local registry of the release test path speaks plain HTTP.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$state/containerd/certs.d"
EOF
  node_registry_hosts
  # containerd is not in bin_dir: it is Debian's, started through `start` with an absolute path.
  start_abs containerd "$(command -v containerd)" --config "$state/containerd/config.toml"
  wait_for containerd ctr_ version
}

# hack/local-registry.sh's address, pulled over plain HTTP like a user's in-cluster registry without TLS.
# Registries without a directory here keep containerd's defaults (HTTPS).
node_registry_hosts() {
  local registry=${TIERGUARD_LOCAL_REGISTRY:-127.0.0.1:5050}
  mkdir -p "$state/containerd/certs.d/$registry"
  printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' \
    "$registry" "$registry" >"$state/containerd/certs.d/$registry/hosts.toml"
}

node_import() { # archive...
  local archive
  for archive in "$@"; do
    ctr_ images import --no-unpack=false "$archive" >/dev/null 2>"$state/logs/image-import.log" ||
      die_with_log "could not import $archive into the node's containerd" image-import
  done
}

# --- kubelet, kube-proxy, scheduler ----------------------------------------------------------------------
node_kubelet() {
  local pki=$state/pki
  write_kubeconfig "$state/kubelet.kubeconfig" kubelet "$server"
  mkdir -p "$state/kubelet" "$state/pod-logs"
  cat >"$state/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$(containerd_sock)
# cgroup v1 here: the kubelet only warns with this. containerd 1.6 does not report its cgroup driver.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
podLogsDir: $state/pod-logs
# Imported images are the only images: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
serializeImagePulls: false
# An image imported with ctr and the same image pulled from the local registry (tests/e2e/test_release.py)
# share one image id. Under the default (NeverVerifyPreloadedImages) the kubelet's pull record for that id then
# names only the registry's repository, and it refuses the imported name without a fresh pull from docker.io,
# which fails here. No pull credentials exist on this node, so there is nothing to verify.
imagePullCredentialsVerificationPolicy: NeverVerify
resolvConf: /etc/resolv.conf
maxPods: 60
# Secret and ConfigMap volumes are refreshed on each pod sync: every 10 s instead of the default minute, so a
# rotated webhook certificate reaches the pods in seconds (the e2e rotation tests wait for it; kind keeps the
# default and they wait longer there). Tens of pods at most on this node: the extra syncs cost little.
syncFrequency: 10s
EOF
  start kubelet --config="$state/kubelet-config.yaml" --kubeconfig="$state/kubelet.kubeconfig" \
    --root-dir="$state/kubelet" --node-ip="$node_ip" --hostname-override="$node_name"
  wait_for kubelet node_ready
}
node_ready() {
  [[ $(kubectl_ get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

node_proxy() { # metrics port
  write_kubeconfig "$state/kube-proxy.kubeconfig" kube-proxy "$server"
  cat >"$state/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $state/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $pod_cidr
hostnameOverride: $node_name
nodePortAddresses: ["$node_ip/32"]
conntrack: {maxPerCore: 0}
metricsBindAddress: 127.0.0.1:$1
healthzBindAddress: ""
EOF
  start kube-proxy --config="$state/kube-proxy-config.yaml"
  wait_for kube-proxy proxy_programmed
}
proxy_programmed() { iptables-save -t nat 2>/dev/null | grep -q -- "-A KUBE-SERVICES .*$kubernetes_service_ip/32"; }

node_scheduler() {
  write_kubeconfig "$state/kube-scheduler.kubeconfig" kube-scheduler "$server"
  start kube-scheduler --kubeconfig="$state/kube-scheduler.kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port="$1" \
    --authentication-kubeconfig="$state/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$state/kube-scheduler.kubeconfig"
  wait_for kube-scheduler scheduler_healthy "$1"
}
scheduler_healthy() {
  python3 -c 'import ssl, sys, urllib.request
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
sys.exit(urllib.request.urlopen(f"https://127.0.0.1:{sys.argv[1]}/healthz", context=ctx, timeout=2).read() != b"ok")' "$1"
}

# --- teardown --------------------------------------------------------------------------------------------
# Pods first, while the kubelet runs: it stops their containers, tears down their network namespaces through
# CNI and unmounts their volumes. Controllers are stopped before, so nothing recreates them.
node_drain() {
  running kubelet && running kube-apiserver || return 0
  stop_together kube-scheduler kube-controller-manager
  kubectl_ delete validatingwebhookconfigurations,mutatingwebhookconfigurations --all --wait=false >/dev/null 2>&1 || true
  kubectl_ delete pods --all --all-namespaces --grace-period=1 --timeout=60s >/dev/null 2>&1 ||
    log "some pods did not stop within 60 s; their containers are killed below"
  # The API objects are gone; wait (briefly) until the kubelet has stopped every container too.
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)) && ctr_ tasks list 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING" { found = 1 } END { exit !found }'; do
    sleep 0.3
  done
}

node_cleanup() {
  local host=$state/host t c d s m
  # Whatever the kubelet left running: kill the tasks through containerd, then containerd and its shims.
  if running containerd; then
    for c in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
    sleep 0.5
    for c in $(ctr_ containers list -q 2>/dev/null); do
      ctr_ tasks delete -f "$c" >/dev/null 2>&1 || true
      ctr_ containers delete "$c" >/dev/null 2>&1 || true
    done
  fi
  stop containerd
  # Containers outlive a killed containerd and shim: every process left in the pods' cgroups goes.
  kill_pod_processes
  local shims=()
  mapfile -t shims < <(pgrep -f "containerd-shim-runc-v2 .*-address $(containerd_sock)" || true)
  ((${#shims[@]} == 0)) || { kill -KILL "${shims[@]}" 2>/dev/null || true; sleep 0.3; }
  # The pods' network namespaces that CNI never tore down (those that did not exist before up); removing one
  # removes its end of the veth pair, and so the other end on our bridge.
  if [[ -d /var/run/netns ]]; then
    for m in /var/run/netns/cni-*; do
      [[ -e $m ]] || continue
      grep -qx -- "$m" "$host/netns" 2>/dev/null && continue
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
      rm -f "$m" 2>/dev/null || true
    done
  fi
  if ip link show "$bridge" >/dev/null 2>&1; then
    local veth
    for veth in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
      ip link del "$veth" 2>/dev/null || true
    done
  fi
  # Mounts under the state dir, deepest first.
  awk -v prefix="$state/" 'index($2, prefix) == 1 { print $2 }' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # The pods' cgroups (v1: one tree per controller), deepest first.
  for d in /sys/fs/cgroup/*/kubepods* /sys/fs/cgroup/kubepods*; do
    [[ -d $d ]] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # iptables chains that were not there before up: kube-proxy's own cleanup, then whatever remains.
  if [[ -f $host/chains.iptables.nat ]]; then
    [[ ! -x $bin_dir/kube-proxy ]] || "$bin_dir/kube-proxy" --cleanup >/dev/null 2>&1 || true
    local f
    for f in "${ipt_families[@]}"; do
      command -v "$f" >/dev/null 2>&1 || continue
      for t in filter nat mangle; do remove_added_chains "$f" "$t" "$host/chains.$f.$t"; done
    done
  fi
  if [[ -e $host/bridge ]]; then
    ip route del "$service_cidr" dev "$bridge" 2>/dev/null || true
    ip link del "$bridge" 2>/dev/null || true
    rm -f "$host/bridge"
  fi
  for s in "${sysctls[@]}"; do
    if [[ -f $host/$s ]]; then sysctl -qw "$s=$(cat "$host/$s")" 2>/dev/null || true; fi
  done
  if [[ -f $host/dirs ]]; then
    for d in "${fixed_host_dirs[@]}"; do
      grep -qx -- "$d" "$host/dirs" || { [[ -e $d ]] && rm -rf "$d"; } || true
    done
  fi
}

remove_added_chains() { # family, table, file listing the chains that existed before up
  [[ -f $3 ]] || return 0
  local added rule c
  added=$(LC_ALL=C comm -13 "$3" <(iptables_chains "$1" "$2"))
  [[ -n $added ]] || return 0
  # Rules jumping to an added chain go first (from any chain), then the added chains themselves.
  while read -r rule; do
    # shellcheck disable=SC2086 # the rule is iptables-save's words
    "$1" -t "$2" ${rule/-A/-D} 2>/dev/null || true
  done < <("$1-save" -t "$2" | grep '^-A' | grep -E -- "-j ($(paste -sd'|' <<<"$added"))( |$)" || true)
  for c in $added; do "$1" -t "$2" -F "$c" 2>/dev/null || true; done
  for c in $added; do "$1" -t "$2" -X "$c" 2>/dev/null || true; done
}
