#!/usr/bin/env bash
# Builds tierguard's image from the repository's Dockerfile (unchanged) and leaves it as a docker-archive, the
# one form every loader takes (`kind load image-archive`, `ctr images import`, `docker load`). The local kind
# cluster and the GitHub workflow both call this script, so the image they run is built the same way.
#
# Usage: hack/build-image.sh tierguard   build or reuse; prints "<image ref> <archive>" on stdout
#        hack/build-image.sh ref         print the tierguard image ref for the current sources, build nothing
#        hack/build-image.sh binaries NAME FILE...   the Debian base plus static binaries in /usr/local/bin, user
#                                        65534 (bench part 7's peers; buildah only); prints "<ref> <archive>"
#
# Builder (TIERGUARD_IMAGE_BUILDER): `buildah` where installed (no daemon, no registry), on a base made here
# (Debian's Python, debootstrap, as a venv at /usr/local: python:*-slim's layout), else `docker`. PYTHON_IMAGE
# overrides the base. Archives in TIERGUARD_IMAGE_CACHE (~/.cache/tierguard/images), tagged by a hash of every
# input. The build step sees this machine's CA bundle through a mount: none of it reaches a layer.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib/debian.sh
source "$here/lib/debian.sh"
repo=$(cd "$here/.." && pwd)
cache=${TIERGUARD_IMAGE_CACHE:-$HOME/.cache/tierguard/images}
repository=${TIERGUARD_IMAGE_REPOSITORY:-tierguard}
base_name=localhost/tierguard-build/python-base

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { printf 'build-image: ERROR: %b\n' "$*" >&2; exit 1; }

builder() {
  if [[ -n ${TIERGUARD_IMAGE_BUILDER:-} ]]; then
    echo "$TIERGUARD_IMAGE_BUILDER"
  elif command -v buildah >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    echo buildah
  else
    echo docker
  fi
}

buildah_() { buildah --root "$cache/buildah/root" --runroot "$cache/buildah/run" --storage-driver vfs "$@"; }
# `bud` with its CNI configuration kept in the cache: otherwise buildah creates /etc/cni on the host.
bud() { buildah_ bud --isolation chroot --cni-config-dir "$cache/buildah/cni" "$@"; }

# The files `docker build .` sends, as .dockerignore selects them (pyproject.toml, README*, operator/).
context_files() {
  (cd "$repo" && { ls pyproject.toml README* 2>/dev/null; find operator -type f ! -name '*.pyc' \
    ! -path '*/__pycache__/*' ! -path '*.egg-info/*'; } | LC_ALL=C sort)
}
context_hash() { # extra words mixed into the hash...
  local files
  mapfile -t files < <(context_files)
  { printf '%s\n' "$@"; cd "$repo" && sha256sum Dockerfile .dockerignore "${files[@]}"; } | sha256sum | cut -c1-16
}

# --- the base: Debian's Python, when no registry serves python:3.11-slim -------------------------------

base_image_name() { echo "$base_name:$(printf '%s\n' "$debian_suite" python3 python3-venv v2 | sha256sum | cut -c1-12)"; }
base_image() { # prints the base image name, building it into buildah's storage when absent
  local name
  name=$(base_image_name)
  if buildah_ inspect --type image "$name" >/dev/null 2>&1; then
    echo "$name"
    return
  fi
  local work
  work=$(mktemp -d "$cache/base.XXXXXX")
  log "making the Python base from Debian $debian_suite packages (about a minute; log: $cache/base.log)"
  debian_root "$work/rootfs" python3,python3-venv "$cache/base.log"
  # A venv at /usr/local: pip and site-packages where python:*-slim has them, so the Dockerfile's
  # `--prefix /install` + `COPY /install /usr/local` lands where this interpreter looks.
  chroot "$work/rootfs" /usr/bin/python3 -m venv /usr/local >>"$cache/base.log" 2>&1 ||
    die "python3 -m venv /usr/local failed in the base (see $cache/base.log)"
  tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
  rm -rf "$work/rootfs"
  printf 'FROM scratch\nADD rootfs.tar /\nENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD ["python3"]\n' \
    >"$work/Containerfile"
  bud -q -t "$name" -f "$work/Containerfile" "$work" >/dev/null ||
    die "buildah could not make the base image from the debootstrap tree"
  rm -rf "$work"
  echo "$name"
}

# --- tierguard ----------------------------------------------------------------------------------------
# pip in the build stage reaches PyPI through this machine's TLS proxy, whose CA only the host bundle has.
ca_mounts() {
  local bundle=${TIERGUARD_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
  [[ -f $bundle ]] || return 0
  printf '[global]\ncert = /run/tierguard-build/ca.crt\n' >"$cache/pip.conf"
  printf '%s\n' -v "$bundle:/run/tierguard-build/ca.crt:ro" -v "$cache/pip.conf:/etc/pip.conf:ro"
}

build_tierguard() {
  local kind base tag ref archive
  kind=$(builder)
  case $kind in
    buildah) base=${PYTHON_IMAGE:-$(base_image)} ;;
    docker) base=${PYTHON_IMAGE:-} ;;
    *) die "TIERGUARD_IMAGE_BUILDER must be docker or buildah, not '$kind'" ;;
  esac
  tag=dev-$(context_hash "$kind" "$base")
  ref=$repository:$tag
  archive=$cache/tierguard-$tag.tar
  if [[ -s $archive ]]; then
    echo "$ref $archive"
    return
  fi
  local args=(--build-arg "VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$repo/operator/tierguard/__init__.py")"
    --build-arg "REVISION=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)")
  [[ -z $base ]] || args+=(--build-arg "PYTHON_IMAGE=$base")
  log "building $ref with $kind (log: $cache/tierguard-build.log)"
  local start=$SECONDS
  if [[ $kind == docker ]]; then
    docker build -t "$ref" "${args[@]}" "$repo" >"$cache/tierguard-build.log" 2>&1 ||
      die "docker build failed (last lines of $cache/tierguard-build.log):\n$(tail -n 30 "$cache/tierguard-build.log")"
    docker save -o "$archive.tmp" "$ref"
  else
    local mounts
    mapfile -t mounts < <(ca_mounts)
    bud --pull=false "${mounts[@]}" -t "$ref" "${args[@]}" "$repo" \
      >"$cache/tierguard-build.log" 2>&1 ||
      die "buildah bud failed (last lines of $cache/tierguard-build.log):\n$(tail -n 30 "$cache/tierguard-build.log")"
    rm -f "$archive.tmp"
    buildah_ push -q "$ref" "docker-archive:$archive.tmp:docker.io/library/$ref" >/dev/null
    buildah_ rmi "$ref" >/dev/null 2>&1 || true
  fi
  mv -f "$archive.tmp" "$archive"
  log "built $ref in $((SECONDS - start)) s"
  echo "$ref $archive"
}

# Static binaries on the base (their Go builds need nothing of it): tagged by the binaries' hash.
build_binaries() { # name, files...
  local name=$1 work ref archive
  shift
  [[ $(builder) == buildah ]] || die "binaries: buildah is needed (the base is made by debootstrap for buildah)"
  ref=tierguard-bench/$name:$(sha256sum "$@" | sha256sum | cut -c1-16)
  archive=$cache/bench-$name-${ref##*:}.tar
  if [[ ! -s $archive ]]; then
    work=$(mktemp -d "$cache/bin.XXXXXX")
    cp "$@" "$work/"
    { echo "FROM $(base_image)"; for f in "$@"; do echo "COPY $(basename "$f") /usr/local/bin/"; done; echo "USER 65534"; } \
      >"$work/Containerfile"
    bud --pull=false -q -t "$ref" -f "$work/Containerfile" "$work" >"$cache/bench-$name.log" 2>&1 ||
      die "buildah bud of $ref failed (see $cache/bench-$name.log)"
    buildah_ push -q "$ref" "docker-archive:$archive.tmp:docker.io/$ref" >/dev/null && mv -f "$archive.tmp" "$archive"
    buildah_ rmi "$ref" >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
  echo "docker.io/$ref $archive"
}

main() {
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9
  case ${1:-} in
    tierguard) build_tierguard ;;
    binaries) shift; (($# >= 2)) || die "usage: $0 binaries NAME FILE..."; build_binaries "$@" ;;
    ref)
      local kind base
      kind=$(builder)
      base=${PYTHON_IMAGE:-}
      [[ $kind == docker || -n $base ]] || base=$(base_image_name)
      echo "$repository:dev-$(context_hash "$kind" "$base")"
      ;;
    *) die "usage: $0 tierguard|ref" ;;
  esac
}

main "$@"; exit
