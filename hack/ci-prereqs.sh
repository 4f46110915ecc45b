#!/usr/bin/env bash
# Installs and builds everything the local cluster (hack/local-cluster.sh) needs on a fresh machine, and fails
# loudly when something is missing. Go must be preinstalled (the binaries are built with it). In node mode (the
# default) also Debian's containerd, runc, CNI plugins, iptables, buildah, skopeo and debootstrap, the node's
# images (hack/build-image.sh), and the release tools of tests/e2e/test_release.py (hack/build-tools.sh: the
# distribution registry, cosign, syft). Idempotent: on a machine that has them, it only checks the caches (seconds).
# TIERGUARD_PREREQS=cluster (hack/demo.sh) installs only what the cluster and tierguard need: not the tests'
# chromium, skopeo and release tools, which take most of a cold install.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() {
  printf '\nci-prereqs: FAILED: %s\n' "$*" >&2
  exit 1
}

# System tools: openssl (certificates), flock (one build at a time), python3 with pip (kubectl and helm
# come from PyPI), chromium (the parity page's browser test). Debian package names.
missing=()
test_tools=true
if [[ ${TIERGUARD_PREREQS:-all} == cluster ]]; then test_tools=false; fi
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
# Headless Chromium renders the parity page in tests/cli/test_parity_page_browser.py.
if $test_tools && ! command -v chromium >/dev/null 2>&1; then missing+=(chromium); fi
node_mode=false
[[ ${TIERGUARD_LOCAL_CLUSTER_MODE:-node} == host ]] || node_mode=true
if $node_mode; then
  command -v containerd >/dev/null 2>&1 || missing+=(containerd)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
  # Pushes the image's docker-archive to a registry (hack/release.sh, the local release test).
  if $test_tools && ! command -v skopeo >/dev/null 2>&1; then missing+=(skopeo); fi
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v cc >/dev/null 2>&1 || missing+=(gcc)
  [[ -e /usr/lib/x86_64-linux-gnu/libc.a || -e /usr/lib/aarch64-linux-gnu/libc.a ]] || missing+=(libc6-dev)
fi
if ((${#missing[@]})); then
  command -v apt-get >/dev/null 2>&1 || fail "missing ${missing[*]} and no apt-get to install them"
  [[ $(id -u) == 0 ]] || fail "missing ${missing[*]}: run as root or install them first"
  echo "ci-prereqs: installing ${missing[*]}"
  apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" || fail "apt-get install ${missing[*]} failed"
fi

command -v go >/dev/null 2>&1 || fail "Go is not on PATH: the control plane is built from source and needs Go >= 1.26"
echo "ci-prereqs: $(go version)"

start=$SECONDS
bin_dir=$("$here/build-binaries.sh") || fail "hack/build-binaries.sh failed (its error is above)"
"$here/build-binaries.sh" --check || fail "binaries in $bin_dir do not report the pinned versions"
echo "ci-prereqs: control-plane binaries ready in $bin_dir ($((SECONDS - start)) s)"

if $node_mode; then
  start=$SECONDS
  "$here/build-image.sh" pause >/dev/null || fail "could not build the node's pause image"
  "$here/build-image.sh" tierguard >/dev/null || fail "could not build tierguard's image from the Dockerfile"
  echo "ci-prereqs: node images ready ($((SECONDS - start)) s)"
fi
if $node_mode && $test_tools; then
  start=$SECONDS
  # Cold: registry 334 s, cosign 771 s, syft 348 s on 2 shared cores (docs/release.md); cached after.
  "$here/build-tools.sh" >/dev/null || fail "hack/build-tools.sh failed (its error is above)"
  echo "ci-prereqs: release tools ready ($((SECONDS - start)) s)"
fi
