#!/usr/bin/env bash
# Installs and builds what the local kind cluster and the tests need on a fresh machine (Go must be there), failing
# loudly: Debian packages, Docker (hack/docker.sh), kind, the node image of every tested Kubernetes version,
# tierguard's image, the release tools, helm-docs. Idempotent: warm, it only checks the caches (seconds).
# TIERGUARD_PREREQS chooses how much:
#   all (default)  every tested Kubernetes version and the test tools;
#   tests          (hack/test.sh) the version under test (TIERGUARD_KUBERNETES_VERSION, else the newest) and the
#                  test tools;
#   cluster        (hack/demo.sh) only what the default cluster and tierguard need;
#   node-images    (.ci/run, beside the tests) the node images of every tested version, nothing else: the other
#                  tools are there already.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"

fail() {
  printf '\nci-prereqs: FAILED: %s\n' "$*" >&2
  exit 1
}

# System tools, by Debian package name.
mode=${TIERGUARD_PREREQS:-all}
case $mode in
  all | tests | cluster | node-images) ;;
  *) fail "TIERGUARD_PREREQS=$mode: expected all, tests, cluster or node-images" ;;
esac
missing=()
test_tools=true
if [[ $mode == cluster || $mode == node-images ]]; then test_tools=false; fi
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
[[ -e /usr/lib/x86_64-linux-gnu/libc.a || -e /usr/lib/aarch64-linux-gnu/libc.a ]] || missing+=(libc6-dev)
if $test_tools; then
  # Headless Chromium renders the parity page in tests/cli/test_parity_page_browser.py.
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # Pushes the image's docker-archive to a registry (hack/release.sh, the local release test).
  command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
fi
if ((${#missing[@]})); then
  command -v apt-get >/dev/null 2>&1 || fail "missing ${missing[*]} and no apt-get to install them"
  [[ $(id -u) == 0 ]] || fail "missing ${missing[*]}: run as root or install them first"
  echo "ci-prereqs: installing ${missing[*]}"
  apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" || fail "apt-get install ${missing[*]} failed"
fi

command -v go >/dev/null 2>&1 || fail "Go is not on PATH: kind, Kubernetes and the node images are built from source and need Go >= 1.26"
echo "ci-prereqs: $(go version)"

"$here/docker.sh" || fail "no Docker engine (hack/docker.sh, its error is above)"
"$here/build-tools.sh" kind >/dev/null || fail "could not build kind (hack/build-tools.sh, its error is above)"

case $mode in
  all | node-images) IFS=, read -r -a versions <<<"$KUBERNETES_VERSIONS" ;;
  tests) versions=("${TIERGUARD_KUBERNETES_VERSION:-$KUBERNETES_VERSION}") ;;
  cluster) versions=("$KUBERNETES_VERSION") ;;
esac
for version in "${versions[@]}"; do
  start=$SECONDS
  TIERGUARD_KUBERNETES_VERSION=$version "$here/build-binaries.sh" >/dev/null ||
    fail "hack/build-binaries.sh failed for $version (its error is above)"
  if [[ -z ${TIERGUARD_KIND_NODE_IMAGE:-} ]]; then
    "$here/kind/node-image.sh" "$version" >/dev/null || fail "could not build the kind node image of $version"
  fi
  echo "ci-prereqs: Kubernetes $version ready ($((SECONDS - start)) s)"
done
[[ $mode == node-images ]] && exit 0

start=$SECONDS
"$here/build-image.sh" tierguard >/dev/null || fail "could not build tierguard's image from the Dockerfile"
echo "ci-prereqs: tierguard image ready ($((SECONDS - start)) s)"
if $test_tools; then
  start=$SECONDS
  # Cold: registry 334 s, cosign 771 s, syft 348 s (docs/release.md), helm-docs 13 s on 2 shared cores; cached after.
  "$here/build-tools.sh" >/dev/null || fail "hack/build-tools.sh failed (its error is above)"
  echo "ci-prereqs: release tools and helm-docs ready ($((SECONDS - start)) s)"
fi
