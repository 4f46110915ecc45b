#!/usr/bin/env bash
# Builds from the Go module proxy, or reuses from ~/.cache/tierguard/tools/<name>-<version>/<name>, the tools of
# hack/versions.env (NAME_MODULE, _PACKAGE, _VERSION): kind, helm-docs, the release test's registry, cosign, syft.
# Usage: hack/build-tools.sh [NAME...]      build or reuse (default: all); prints each binary's path on stdout
#        hack/build-tools.sh --check NAME   exit 0 when NAME is cached at its pinned version
#        hack/build-tools.sh --path NAME    print NAME's binary path, build nothing
# Env:   TIERGUARD_TOOLS_CACHE              cache root (default ~/.cache/tierguard/tools)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"
cache=${TIERGUARD_TOOLS_CACHE:-$HOME/.cache/tierguard/tools}
all_tools=(kind helm-docs registry cosign syft)

log() { printf 'build-tools: %s\n' "$*" >&2; }
die() { printf 'build-tools: ERROR: %b\n' "$*" >&2; exit 1; }

field() { # tool, MODULE|PACKAGE|VERSION
  local var
  var=$(tr '[:lower:]-' '[:upper:]_' <<<"$1")_$2
  [[ -n ${!var:-} ]] || die "unknown tool '$1' (known: ${all_tools[*]})"
  echo "${!var}"
}
bin_path() { echo "$cache/$1-$(field "$1" VERSION)/$1"; }

# "Cached" means: the binary's embedded build info names the pinned module at the pinned version.
have() {
  local bin
  bin=$(bin_path "$1")
  [[ -x $bin ]] || return 1
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
