#!/usr/bin/env bash
# Builds tierguard's image from the repository's Dockerfile (unchanged) and leaves it as a docker-archive, the
# one form every loader takes (`kind load image-archive`, `ctr images import`, `docker load`). The local kind
# cluster and the GitHub workflow both call this script, so the image they run is built the same way.
#
# Usage: hack/build-image.sh tierguard   build or reuse; prints "<image ref> <archive>" on stdout
#        hack/build-image.sh ref         print the tierguard image ref for the current sources, build nothing
#
# Builder (TIERGUARD_IMAGE_BUILDER): `buildah` where it is installed (Debian's package, vfs storage and chroot
# isolation: no daemon, no registry: hack/ci-prereqs.sh installs it), else `docker`. With no registry
# reachable, buildah builds on a base image made here: Debian's own Python from its packages (debootstrap),
# as a venv at /usr/local so the layout is that of python:*-slim. PYTHON_IMAGE overrides the base for either
# builder (default for docker: the Dockerfile's python:3.11-slim).
#
# Cache: archives in TIERGUARD_IMAGE_CACHE (default ~/.cache/tierguard/images), named by a hash of every
# input (Dockerfile, build context, base), so an unchanged tree rebuilds nothing. The image tag is that hash.
# Package downloads during the build go through this machine's CA bundle, mounted for the build step only:
# nothing of it reaches an image layer. Nothing is written inside the repository.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${TIERGUARD_IMAGE_CACHE:-$HOME/.cache/tierguard/images}
repository=${TIERGUARD_IMAGE_REPOSITORY:-tierguard}
debian_suite=bookworm
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
debian_mirror() {
  local uri
  uri=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  [[ -n $uri ]] || uri=$(awk '$1 == "deb" && $2 ~ /^http/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  echo "${uri:-http://deb.debian.org/debian}"
}

base_image_name() { echo "$base_name:$(printf '%s\n' "$debian_suite" python3 python3-venv v2 | sha256sum | cut -c1-12)"; }
base_image() { # prints the base image name, building it into buildah's storage when absent
  local name
  name=$(base_image_name)
  if buildah_ inspect --type image "$name" >/dev/null 2>&1; then
    echo "$name"
    return
  fi
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (Debian: apt-get install -y debootstrap)"
  local work
  work=$(mktemp -d "$cache/base.XXXXXX")
  log "making the Python base from Debian $debian_suite packages (about a minute; log: $cache/base.log)"
  if ! debootstrap --variant=minbase --include=python3,python3-venv "$debian_suite" "$work/rootfs" \
    "$(debian_mirror)" >"$cache/base.log" 2>&1; then
    rm -rf "$work"
    die "debootstrap failed (last lines of $cache/base.log):\n$(tail -n 20 "$cache/base.log")"
  fi
  # A venv at /usr/local: pip and site-packages where python:*-slim has them, so the Dockerfile's
  # `--prefix /install` + `COPY /install /usr/local` lands where this interpreter looks.
  chroot "$work/rootfs" /usr/bin/python3 -m venv /usr/local >>"$cache/base.log" 2>&1 ||
    die "python3 -m venv /usr/local failed in the base (see $cache/base.log)"
  rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* \
    "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/locale/*
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

main() {
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9
  case ${1:-} in
    tierguard) build_tierguard ;;
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
