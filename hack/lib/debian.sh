# shellcheck shell=bash
# Debian root file systems made with debootstrap from the mirror this machine's apt uses (hack/build-image.sh,
# hack/kind/node-image.sh). The sourcing script defines `die`.
debian_suite=bookworm

debian_mirror() {
  local uri
  uri=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
  [[ -n $uri ]] || uri=$(awk '$1 == "deb" && $2 ~ /^http/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
  echo "${uri:-http://deb.debian.org/debian}"
}

# A minbase tree of the suite with `packages` in `dir`, without package caches and documentation.
debian_root() { # dir, packages (comma-separated), log file
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (Debian: apt-get install -y debootstrap)"
  if ! debootstrap --variant=minbase --include="$2" "$debian_suite" "$1" "$(debian_mirror)" >"$3" 2>&1; then
    rm -rf "$1"
    die "debootstrap failed (last lines of $3):\n$(tail -n 20 "$3")"
  fi
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/* \
    "$1"/usr/share/locale/* "$1"/var/log/*
}
