#!/usr/bin/env bash
# Builds from the Go module proxy, or reuses from ~/.cache/tierguard/tools/<name>-<version>/<name>, the tools of
# hack/versions.env (NAME_MODULE, _PACKAGE, _VERSION): kind, helm-docs, the release test's registry, cosign, syft;
# and, only when named (minutes each), the peers: offline (part 6) gator and kyverno (the Kyverno CLI), through
# the API server (part 7) kyverno-admission and kyverno-init (Kyverno's admission controller) and gatekeeper.
# NAME_BUILD=source: built inside the module's downloaded source with GOFLAGS=-mod=mod, for a module whose go.mod
# has replace directives (go install refuses those); the pinned version is then recorded next to the binary.
# Usage: hack/build-tools.sh [NAME...]      build or reuse (default: all but the peers); prints each binary's path
#        hack/build-tools.sh --check NAME   exit 0 when NAME is cached at its pinned version
#        hack/build-tools.sh --path NAME    print NAME's binary path, build nothing
# Env:   TIERGUARD_TOOLS_CACHE              cache root (default ~/.cache/tierguard/tools)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"
cache=${TIERGUARD_TOOLS_CACHE:-$HOME/.cache/tierguard/tools}
all_tools=(kind helm-docs registry cosign syft)
peer_tools=(gator kyverno kyverno-admission kyverno-init gatekeeper)

log() { printf 'build-tools: %s\n' "$*" >&2; }
die() { printf 'build-tools: ERROR: %b\n' "$*" >&2; exit 1; }

field() { # tool, MODULE|PACKAGE|VERSION
  local var
  var=$(tr '[:lower:]-' '[:upper:]_' <<<"$1")_$2
  [[ -n ${!var:-} ]] || die "unknown tool '$1' (known: ${all_tools[*]} ${peer_tools[*]})"
  echo "${!var}"
}
bin_path() { echo "$cache/$1-$(field "$1" VERSION)/$1"; }

source_build() { local var; var=$(tr '[:lower:]-' '[:upper:]_' <<<"$1")_BUILD; [[ ${!var:-} == source ]]; }
stamp() { echo "$(field "$1" MODULE) $(field "$1" VERSION)"; }

# "Cached" means: the binary's embedded build info names the pinned module at the pinned version (a source build
# reports its main module as "(devel)": the stamp written after it was built says which version it is).
have() {
  local bin
  bin=$(bin_path "$1")
  [[ -x $bin ]] || return 1
  if source_build "$1"; then
    [[ -f $bin.built-from && $(cat "$bin.built-from") == "$(stamp "$1")" ]]
    return
  fi
  go version -m "$bin" 2>/dev/null |
    awk -v m="$(field "$1" MODULE)" -v v="$(field "$1" VERSION)" '$1 == "mod" && $2 == m && $3 == v { ok = 1 } END { exit !ok }'
}

build() {
  local tool=$1 pkg version dir logf start
  pkg=$(field "$tool" PACKAGE)
  version=$(field "$tool" VERSION)
  dir=$(dirname "$(bin_path "$tool")")
  logf=$cache/logs/$tool-$version.log
  mkdir -p "$dir" "$cache/logs"
  command -v go >/dev/null 2>&1 || die "Go is not on PATH: $tool is built from source with go install"
  if source_build "$tool"; then
    build_in_source "$tool" "$dir" "$logf"
    return
  fi
  log "building $tool $version (go install $pkg@$version; log: $logf)"
  start=$SECONDS
  # CGO off: static binaries, no C toolchain needed. -trimpath: no build paths in them.
  if ! GOBIN=$dir CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local \
    go install -ldflags "-s -w" "$pkg@$version" >"$logf" 2>&1; then
    printf 'build-tools: ERROR: go install %s@%s failed; last 30 lines of %s:\n' "$pkg" "$version" "$logf" >&2
    tail -n 30 "$logf" >&2
    exit 1
  fi
  have "$tool" || die "the built $(bin_path "$tool") does not report $(field "$tool" MODULE) $version"
  log "built $tool $version in $((SECONDS - start)) s"
}

# go install refuses a module whose go.mod has replace directives; building its package from inside the module's
# own downloaded source (read-only in the module cache: -mod=mod resolves without writing go.sum there) works.
build_in_source() {
  local tool=$1 dir=$2 logf=$3 module version src start
  module=$(field "$tool" MODULE)
  version=$(field "$tool" VERSION)
  start=$SECONDS
  : >"$logf"
  log "building $tool $version from its module source (go mod download $module@$version, then go build" \
    "./$(pkg_rel "$tool") there with GOFLAGS=-mod=mod; log: $logf)"
  src=$(GOTOOLCHAIN=local go mod download -json "$module@$version" 2>>"$logf" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $src && -d $src ]] || die "go mod download $module@$version gave no source directory (log: $logf)"
  # -X: the CLI's version command otherwise reports "(devel)" (no module version without go install).
  if ! (cd "$src" && CGO_ENABLED=0 GOFLAGS="-mod=mod -trimpath" GOTOOLCHAIN=local \
    go build -ldflags "-s -w -X $module/pkg/version.BuildVersion=$version" -o "$dir/$tool" "./$(pkg_rel "$tool")" \
    >>"$logf" 2>&1); then
    printf 'build-tools: ERROR: go build of %s in %s failed; last 30 lines of %s:\n' "$tool" "$src" "$logf" >&2
    tail -n 30 "$logf" >&2
    exit 1
  fi
  stamp "$tool" >"$dir/$tool.built-from"
  log "built $tool $version in $((SECONDS - start)) s"
}
pkg_rel() { local pkg module; pkg=$(field "$1" PACKAGE); module=$(field "$1" MODULE); echo "${pkg#"$module"/}"; }

main() {
  case ${1:-} in
    --check) [[ -n ${2:-} ]] || die "usage: $0 --check NAME"; have "$2"; return ;;
    --path) [[ -n ${2:-} ]] || die "usage: $0 --path NAME"; bin_path "$2"; return ;;
    -*) die "unknown option '$1' (usage: $0 [NAME...] | --check NAME | --path NAME)" ;;
  esac
  local tools=("$@") tool
  ((${#tools[@]})) || tools=("${all_tools[@]}")
  mkdir -p "$cache"
  # One build at a time per cache (a test run and a shell may both call this).
  exec 9>"$cache/.lock"
  flock 9
  for tool in "${tools[@]}"; do
    have "$tool" || build "$tool"
    bin_path "$tool"
  done
}

# On one line, so bash has read all it runs: editing this file during a long build cannot rerun parts of it.
main "$@"; exit
