#!/usr/bin/env bash
# Builds a kind node image offline, for machines that cannot pull kindest/node (those use kind's own images). What
# `kind build node-image` does, with nothing pulled (docs/local-cluster.md):
#   base  kindest/base's layout: a debootstrap Debian (systemd, runc, CNI plugins, iptables...), the kind module's
#         images/base/files, containerd v2 and crictl from the Go module proxy.
#   node  the base plus kubeadm, kubelet, kubectl (hack/build-binaries.sh), /kind/version, kind's default CNI and
#         storage manifests (from the kind module's source), and every image kubeadm and those manifests name,
#         imported into the node's containerd under exactly those names: the components (Go-built binaries), etcd
#         and coredns (Go modules, at kubeadm's versions), pause (hack/pause/pause.c), local-path-provisioner (Go
#         module) and its helper (a Debian shell), kindnetd (a stand-in: hack/kind/kindnetd).
# Everything is cached by a content key of its inputs: a warm call takes a second.
# Usage: hack/kind/node-image.sh [VERSION] | base   build or reuse the node image of VERSION (KUBERNETES_VERSION) |
#        the base alone; prints its name. Env: TIERGUARD_CACHE (~/.cache/tierguard): Go builds, roots, logs
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
hack=$(cd "$here/.." && pwd)
# shellcheck source=hack/versions.env
source "$hack/versions.env"
cache=${TIERGUARD_CACHE:-$HOME/.cache/tierguard}/kind
work_dir=$cache/work
log_dir=$cache/logs
kind_module=sigs.k8s.io/kind@$KIND_VERSION

log() { printf 'node-image: %s\n' "$*" >&2; }
die() { printf 'node-image: ERROR: %b\n' "$*" >&2; exit 1; }
die_with_log() { # message, log file
  printf 'node-image: ERROR: %s\n--- last 40 lines of %s ---\n' "$1" "$2" >&2
  tail -n 40 "$2" >&2 || true
  exit 1
}
# shellcheck source=hack/lib/go.sh
source "$hack/lib/go.sh"
# shellcheck source=hack/lib/debian.sh
source "$hack/lib/debian.sh"

key_of() { sha256sum | cut -c1-12; } # stdin: every input of a thing, in order
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Builds `packages` of `module@version` into a cache dir and prints it; the wrapper module (hack/lib/go.sh)
# publishes any local replaces of the module's go.mod.
go_programs() { # module, version, tags, ldflags, packages...
  local module=$1 version=$2 tags=$3 ld=$4
  shift 4
  local out
  out=$cache/go/$(printf '%s\n' "$module" "$version" "$tags" "$ld" "$@" | key_of)
  if [[ -f $out/.done ]]; then
    echo "$out"
    return
  fi
  local json gomod wrapper logf=$log_dir/${module////_}-$version.log
  log "building $* at $version (log: $logf)"
  json=$(mod_download "$module@$version")
  gomod=$(json_field GoMod <<<"$json")
  require_go "$(awk '$1 == "go" { print $2; exit }' "$gomod")"
  wrapper=$work_dir/$(basename "$module")-$version
  write_wrapper "$wrapper" "$module" "$version" "$gomod" . "$version"
  mkdir -p "$out"
  go_build "$wrapper" "$logf" "-s -w $ld" "$tags" "$out/" "$@"
  touch "$out/.done"
  echo "$out"
}

kind_module_dir() {
  local json
  json=$(mod_download "$kind_module")
  json_field Dir <<<"$json"
}


# An image of a debootstrap tree with the given packages; prints its name.
debian_image() { # name, packages (comma-separated)
  local name
  name=tierguard.local/kind-$1:$(printf '%s\n' "$debian_suite" "$2" v1 | key_of)
  if have_image "$name"; then
    echo "$name"
    return
  fi
  local root
  root=$(mktemp -d "$work_dir/rootfs.XXXXXX")
  log "making $name from Debian $debian_suite packages (log: $log_dir/debootstrap-$1.log)"
  debian_root "$root" "$2" "$log_dir/debootstrap-$1.log"
  tar -C "$root" --numeric-owner -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$name" >/dev/null || die "docker import of the $1 root file system failed"
  rm -rf "$root"
  echo "$name"
}

# docker build of a context dir holding a Dockerfile; no network: nothing is pulled.
build_context() { # name, context dir
  docker build --network none -q -t "$1" "$2" >/dev/null 2>"$log_dir/docker-build.log" ||
    die_with_log "docker build of $1 failed" "$log_dir/docker-build.log"
}

# An image of `files` (copied to dest) on `from`, with an entrypoint; rebuilt when any input changes.
program_image() { # name, from, dest dir, entrypoint JSON, files...
  local name=$1 from=$2 dest=$3 entrypoint=$4
  shift 4
  local key
  key=$({ printf '%s\n' "$from" "$dest" "$entrypoint"; (($# == 0)) || sha256sum "$@" | cut -c1-64; } | key_of)
  if [[ $(docker image inspect -f '{{ index .Config.Labels "tierguard.key" }}' "$name" 2>/dev/null) == "$key" ]]; then
    return
  fi
  local ctx f
  ctx=$(mktemp -d "$work_dir/ctx.XXXXXX")
  for f in "$@"; do cp -p "$f" "$ctx/"; done
  {
    echo "FROM $from"
    for f in "$@"; do echo "COPY $(basename "$f") $dest/$(basename "$f")"; done
    echo "LABEL tierguard.key=$key"
    echo "ENTRYPOINT $entrypoint"
  } >"$ctx/Dockerfile"
  build_context "$name" "$ctx"
  rm -rf "$ctx"
  log "built $name"
}

tools_base() { debian_image tools iptables,nftables,iproute2,conntrack,python3,ca-certificates; }

# The kubeadm image list for a version, from the kubeadm just built (kind reads the same list).
kubeadm_images() { "$1/kubeadm" config images list --kubernetes-version "$2" 2>/dev/null; }

component_images() { # kubernetes bin dir, version
  local bin=$1 version=$2 image repo tag tools
  tools=$(tools_base)
  while read -r image; do
    repo=${image%:*} tag=${image##*:}
    case ${repo##*/} in
      kube-apiserver | kube-controller-manager | kube-scheduler)
        program_image "$image" scratch /usr/local/bin "[\"/usr/local/bin/${repo##*/}\"]" "$bin/${repo##*/}" ;;
      kube-proxy)
        program_image "$image" "$tools" /usr/local/bin '["/usr/local/bin/kube-proxy"]' "$bin/kube-proxy" ;;
      etcd)
        local etcd_version=v${tag%-*} dir
        dir=$(go_programs go.etcd.io/etcd/server/v3 "$etcd_version" "" "" go.etcd.io/etcd/server/v3)
        # go names a /v3 module's binary after the element before it.
        [[ -f $dir/etcd ]] || cp "$dir/server" "$dir/etcd"
        program_image "$image" scratch /usr/local/bin '["/usr/local/bin/etcd"]' "$dir/etcd" ;;
      coredns)
        local dir
        dir=$(go_programs github.com/coredns/coredns "$tag" "" "" github.com/coredns/coredns)
        program_image "$image" scratch / '["/coredns"]' "$dir/coredns" ;;
      pause) pause_image "$image" ;;
      *) die "kubeadm names an image this builder does not know: $image" ;;
    esac
    echo "$image"
  done < <(kubeadm_images "$bin" "$version")
}

pause_image() { # name
  local dir=$cache/pause
  mkdir -p "$dir"
  if [[ ! -x $dir/pause || $hack/pause/pause.c -nt $dir/pause ]]; then
    command -v cc >/dev/null 2>&1 || die "a C compiler is needed for the pause image (Debian: apt-get install -y gcc libc6-dev)"
    cc -static -Os -o "$dir/pause" "$hack/pause/pause.c" || die "could not compile hack/pause/pause.c statically"
  fi
  program_image "$1" scratch / '["/pause"]' "$dir/pause"
}

# kind's default CNI and storage manifests and their image names, from the kind module's own Go source: the
# constants of pkg/build/nodeimage, compiled into a small program that prints them.
kind_manifests() { # output dir: writes default-cni.yaml, default-storage.yaml, images (one a line)
  local src out=$1 prog
  src=$(kind_module_dir)/pkg/build/nodeimage
  prog=$work_dir/kind-manifests
  rm -rf "$prog"
  mkdir -p "$prog"
  sed 's/^package nodeimage$/package main/' "$src/const_cni.go" >"$prog/const_cni.go"
  sed 's/^package nodeimage$/package main/' "$src/const_storage.go" >"$prog/const_storage.go"
  cat >"$prog/main.go" <<'GO'
package main

import ("os"; "path/filepath"; "strings")

func main() {
	images := strings.Join(append(append([]string{}, defaultCNIImages...), defaultStorageImages...), "\n") + "\n"
	for name, text := range map[string]string{"default-cni.yaml": defaultCNIManifest,
		"default-storage.yaml": defaultStorageManifest, "images": images} {
		if err := os.WriteFile(filepath.Join(os.Args[1], name), []byte(text), 0o644); err != nil { panic(err) }
	}
}
GO
  printf 'module tierguard.local/kind-manifests\n\ngo 1.22\n' >"$prog/go.mod"
  mkdir -p "$out"
  (cd "$prog" && GOTOOLCHAIN=local go run . "$out") >"$log_dir/kind-manifests.log" 2>&1 ||
    die_with_log "could not read kind's manifests from $src" "$log_dir/kind-manifests.log"
}

kind_images() { # manifests dir: builds kindnetd and local-path images under kind's names, prints them
  local image tools dir
  tools=$(tools_base)
  while read -r image; do
    case $image in
      */kindnetd:*)
        program_image "$image" "$tools" /usr/local/bin '["/usr/local/bin/kindnetd.py"]' "$here/kindnetd/kindnetd.py" ;;
      */local-path-provisioner:*)
        dir=$(go_programs github.com/rancher/local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" "" "" \
          github.com/rancher/local-path-provisioner)
        program_image "$image" scratch /usr/local/bin '["/usr/local/bin/local-path-provisioner"]' \
          "$dir/local-path-provisioner" ;;
      */local-path-helper:*)
        # The helper runs `sh` with mkdir and rm in a pod: a Debian shell is what it needs.
        program_image "$image" "$tools" / '["/bin/sh"]' ;;
      *) die "kind's manifests name an image this builder does not know: $image" ;;
    esac
    echo "$image"
  done <"$1/images"
}

node_packages=systemd,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz
node_packages+=,e2fsprogs,bash,ca-certificates,curl,jq,procps,runc,containernetworking-plugins
base_image() {
  local debian files containerd crictl key name
  debian=$(debian_image node-debian "$node_packages")
  files=$(kind_module_dir)/images/base/files
  containerd=$(go_programs github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" \
    "no_aufs no_zfs no_btrfs no_devmapper" "-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2)
  crictl=$(go_programs sigs.k8s.io/cri-tools "$CRICTL_VERSION" "" "" sigs.k8s.io/cri-tools/cmd/crictl)
  key=$({ echo "$debian $KIND_VERSION $CONTAINERD_VERSION $CRICTL_VERSION"; sha256sum "$here/base.Dockerfile"; } | key_of)
  name=tierguard.local/kind-base:$key
  if have_image "$name"; then
    echo "$name"
    return
  fi
  local ctx
  ctx=$(mktemp -d "$work_dir/base.XXXXXX")
  cp -r "$files" "$ctx/files"
  chmod -R u+w "$ctx/files"
  mkdir -p "$ctx/bin"
  cp "$containerd"/containerd "$containerd"/ctr "$containerd"/containerd-shim-runc-v2 "$crictl"/crictl "$ctx/bin/"
  cp "$here/base.Dockerfile" "$ctx/Dockerfile"
  log "building $name (kind's base layout)"
  docker build --network none -q --build-arg "DEBIAN=$debian" -t "$name" "$ctx" >/dev/null \
    2>"$log_dir/base-build.log" || die_with_log "docker build of the kind base failed" "$log_dir/base-build.log"
  rm -rf "$ctx"
  echo "$name"
}

inputs_key() { # version: everything a node image is made of
  {
    echo "$1"
    grep -E '^(KIND|CONTAINERD|CRICTL|LOCAL_PATH_PROVISIONER)_' "$hack/versions.env" # the node's pins only
    # Code, not comments: a reworded comment rebuilds nothing.
    grep -hv '^[[:space:]]*#' "$here/node-image.sh" "$hack/lib/go.sh" "$hack/lib/debian.sh"
    sha256sum "$here/base.Dockerfile" "$here/kindnetd/kindnetd.py" "$hack/pause/pause.c" | cut -c1-64
  } | key_of
}
node_name() { echo "tierguard.local/kind-node:$1-$(inputs_key "$1")"; }

build_node() { # version
  local version=$1 name bin base manifests images=() container
  name=$(node_name "$version")
  if have_image "$name"; then
    echo "$name"
    return
  fi
  local start=$SECONDS
  bin=$(TIERGUARD_KUBERNETES_VERSION=$version "$hack/build-binaries.sh") || die "could not build Kubernetes $version"
  base=$(base_image)
  manifests=$work_dir/manifests-$version
  kind_manifests "$manifests"
  # Through a file: a failed build stops here (a process substitution would hide its status).
  { component_images "$bin" "$version" && kind_images "$manifests"; } >"$work_dir/images-$version" ||
    die "could not build the images of the $version node (see above)"
  mapfile -t images <"$work_dir/images-$version"
  ((${#images[@]} >= 9)) || die "fewer images than a node needs: ${images[*]}"
  container=tierguard-node-build-$$
  log "assembling $name from $base with ${#images[@]} images"
  docker run -d --name "$container" --entrypoint sleep --security-opt seccomp=unconfined --privileged \
    --tmpfs /run --tmpfs /tmp "$base" infinity >/dev/null || die "could not start the build container"
  trap 'docker rm -f -v "$container" >/dev/null 2>&1 || true' EXIT
  local b
  for b in kubeadm kubelet kubectl; do
    docker cp "$bin/$b" "$container:/usr/bin/$b" >/dev/null
  done
  docker exec "$container" sh -c "chown root:root /usr/bin/kube*; chmod 0755 /usr/bin/kube*; mkdir -p /kind/manifests; echo $version >/kind/version"
  docker cp "$manifests/default-cni.yaml" "$container:/kind/manifests/default-cni.yaml" >/dev/null
  docker cp "$manifests/default-storage.yaml" "$container:/kind/manifests/default-storage.yaml" >/dev/null
  # containerd runs in the build container only long enough to import the images (as kind's build does).
  docker exec -d "$container" sh -c 'containerd >/tmp/containerd.log 2>&1'
  local i
  for ((i = 0; i < 100; i++)); do
    docker exec "$container" ctr version >/dev/null 2>&1 && break
    sleep 0.2
  done
  docker save "${images[@]}" | docker exec -i "$container" ctr -n k8s.io images import --all-platforms --digests \
    --snapshotter overlayfs - >"$log_dir/import.log" 2>&1 || die_with_log "importing the images into the node failed" \
    "$log_dir/import.log"
  # kind's containerd config names its own sandbox image: the pause image goes under that name too.
  local sandbox pause
  sandbox=$(docker exec "$container" sed -n 's/^ *sandbox_image = "\(.*\)"/\1/p' /etc/containerd/config.toml)
  pause=$(printf '%s\n' "${images[@]}" | grep '/pause:')
  [[ -z $sandbox || $sandbox == "$pause" ]] || docker exec "$container" ctr -n k8s.io images tag "$pause" "$sandbox" >/dev/null
  # Its /tmp (containerd's log) is a tmpfs: not committed.
  docker exec "$container" sh -c 'pkill containerd; while pgrep -x containerd >/dev/null; do sleep 0.1; done; rm -rf /var/log/*'
  docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
    --change "LABEL tierguard.kubernetes-version=$version" "$container" "$name" >/dev/null ||
    die "docker commit of the node image failed"
  docker rm -f -v "$container" >/dev/null
  trap - EXIT
  # Older builds of this version's node (other inputs) go: each is about 2 GB.
  docker images --format '{{.Repository}}:{{.Tag}}' "${name%:*}" | grep "^${name%:*}:$version-" | grep -vx "$name" |
    xargs -r docker rmi >/dev/null 2>&1 || true
  log "built $name in $((SECONDS - start)) s"
  echo "$name"
}

main() {
  mkdir -p "$work_dir" "$log_dir"
  command -v docker >/dev/null 2>&1 || die "docker is needed (hack/docker.sh installs and starts it)"
  case ${1:-} in
    base) base_image; return ;;
    v*) ;;
    "") set -- "$KUBERNETES_VERSION" ;;
    *) die "usage: $0 [VERSION] | base" ;;
  esac
  # A warm lookup never waits for another version's build.
  local name
  name=$(node_name "$1")
  if have_image "$name"; then
    echo "$name"
    return
  fi
  # Kubernetes itself builds under its own per-version lock: two versions compile side by side.
  TIERGUARD_KUBERNETES_VERSION=$1 "$hack/build-binaries.sh" >/dev/null || die "could not build Kubernetes $1"
  exec 9>"$cache/.lock"
  flock 9
  build_node "$1"
}

main "$@"; exit
