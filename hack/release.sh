#!/usr/bin/env bash
# Publishes a tierguard release to an OCI registry: the one script the release workflow
# (.github/workflows/release.yml) and the local release test (tests/e2e/test_release.py) both run.
#
#   1. image: build, tag <version>, push          (--builder local: hack/build-image.sh + skopeo, linux/amd64;
#                                                  --builder buildx: docker buildx, every --platforms)
#   2. sign the image by digest with cosign       (--sign keyless | <cosign key file> | none)
#   3. attest the image's SBOM (syft, SPDX JSON) and a SLSA provenance predicate, both signed like the image
#   4. package the chart: version and appVersion = <version>, the image pinned by digest in its values and its
#      artifacthub.io/images annotation, the links pointed at --source-url; `helm lint --strict`
#   5. `helm push` the chart to <registry>/charts and sign it by digest
# Writes <out>/release.json: {"version", "image", "digest", "chart", "chart_digest", ...}.
#
# Usage: hack/release.sh --registry REG [options]
#          --registry REG        image REG/tierguard, chart oci://REG/charts/tierguard (e.g. ghcr.io/acme)
#          --version V           must equal tierguard.__version__ (a tag vV); default: that version
#          --builder B           local (default) or buildx
#          --platforms LIST      buildx platforms (default linux/amd64,linux/arm64); local builds linux/amd64
#          --sign MODE           keyless (OIDC: the workflow), a cosign private key file (COSIGN_PASSWORD in
#                                the environment), or none (default: none)
#          --sbom MODE           syft (default) or none
#          --plain-http          the registry speaks HTTP (the local test registry)
#          --source-url URL      the repository's URL (chart links, image label; default: git remote origin)
#          --out DIR             packaged chart, SBOM, provenance, release.json (default: a new temp dir)
#        hack/release.sh package-chart --image REPO:TAG@DIGEST --out DIR [--source-url URL] [--version V]
#          step 4 only, for an image already pushed (tests/chart/test_release_metadata.py runs it offline)
# Tools: helm (hack/build-binaries.sh's cache or PATH); cosign, syft (PATH, else hack/build-tools.sh's cache);
# skopeo for the local builder (Debian: apt-get install skopeo). TIERGUARD_COSIGN, TIERGUARD_SYFT,
# TIERGUARD_HELM, TIERGUARD_SKOPEO override each.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
python=${TIERGUARD_PYTHON:-python3}

log() { printf 'release: %s\n' "$*" >&2; }
die() { printf 'release: ERROR: %b\n' "$*" >&2; exit 1; }
run_logged() { # what, log file, command...: run it, its output to the log; on failure the log's tail
  local what=$1 logf=$2
  shift 2
  if ! "$@" >"$logf" 2>&1; then
    die "$what failed ($*); last lines of $logf:\n$(tail -n 25 "$logf")"
  fi
}

source_version() { sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$repo/operator/tierguard/__init__.py"; }

# A tool: its override variable, else PATH, else the cache of hack/build-tools.sh (built there if absent).
tool() { # name
  local var
  var=TIERGUARD_$(tr '[:lower:]' '[:upper:]' <<<"$1")
  if [[ -n ${!var:-} ]]; then echo "${!var}"; return; fi
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return; fi
  case $1 in
    helm)
      local bin_dir
      bin_dir=$("$here/build-binaries.sh" --bin-dir)
      [[ -x $bin_dir/helm ]] || die "no helm: run hack/build-binaries.sh or put helm on PATH"
      echo "$bin_dir/helm" ;;
    cosign | syft) "$here/build-tools.sh" "$1" || die "could not build $1 (hack/build-tools.sh $1, error above)" ;;
    *) die "$1 is not installed${2:+ ($2)}" ;;
  esac
}

# --- options -------------------------------------------------------------------------------------------
registry="" version="" builder=local platforms=linux/amd64,linux/arm64 sign=none sbom=syft plain_http=false
source_url="" out="" image_ref=""
parse() {
  while (($#)); do
    case $1 in
      --registry) registry=${2%/}; shift ;;
      --version) version=${2#v}; shift ;;
      --builder) builder=$2; shift ;;
      --platforms) platforms=$2; shift ;;
      --sign) sign=$2; shift ;;
      --sbom) sbom=$2; shift ;;
      --plain-http) plain_http=true ;;
      --source-url) source_url=${2%/}; shift ;;
      --out) out=$2; shift ;;
      --image) image_ref=$2; shift ;;
      *) die "unknown argument '$1' (see the usage at the top of $0)" ;;
    esac
    shift
  done
  local want
  want=$(source_version)
  [[ -n $want ]] || die "no __version__ in operator/tierguard/__init__.py"
  version=${version:-$want}
  [[ $version == "$want" ]] ||
    die "version $version is not tierguard's version $want (operator/tierguard/__init__.py): tag v$want, or bump the source first"
  if [[ -z $source_url ]]; then
    source_url=$(git -C "$repo" remote get-url origin 2>/dev/null || true)
    source_url=${source_url%.git}
    [[ $source_url == git@github.com:* ]] && source_url=https://github.com/${source_url#git@github.com:}
    # A clone of a local path (CI's clean clone, a fork on disk) has no URL to link: keep the chart's own links.
    if [[ -n $source_url && $source_url != https://* && $source_url != http://* ]]; then
      log "origin $source_url is not a web URL: the chart's home is used (pass --source-url to set it)"
      source_url=""
    fi
  fi
  [[ -n $source_url ]] || source_url=$(sed -n 's/^home: *//p' "$repo/charts/tierguard/Chart.yaml")
  [[ -z $source_url || $source_url == https://* || $source_url == http://* ]] ||
    die "--source-url $source_url is not an http(s) URL (helm lint --strict refuses it in the chart's links)"
  [[ -z $out ]] && out=$(mktemp -d "${TMPDIR:-/tmp}/tierguard-release.XXXXXX")
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  mkdir -p "$out/logs"
}

insecure_cosign=() skopeo_tls=() helm_http=()
registry_flags() {
  if $plain_http; then
    insecure_cosign=(--allow-http-registry --allow-insecure-registry)
    skopeo_tls=(--dest-tls-verify=false)
    helm_http=(--plain-http)
    export SYFT_REGISTRY_INSECURE_USE_HTTP=true
  fi
}

# --- 1. the image ----------------------------------------------------------------------------------------
revision() { git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown; }

push_image_local() { # prints the digest
  local skopeo ref archive
  skopeo=$(tool skopeo "Debian: apt-get install -y skopeo")
  read -r ref archive < <("$here/build-image.sh" tierguard) || die "hack/build-image.sh tierguard failed (above)"
  log "pushing $ref (linux/amd64) as $registry/tierguard:$version"
  # OCI manifests, as buildx pushes them; the digest is that of the manifest in the registry.
  run_logged "skopeo copy" "$out/logs/push-image.log" "$skopeo" copy --format oci "${skopeo_tls[@]}" \
    --digestfile "$out/image.digest" "docker-archive:$archive" "docker://$registry/tierguard:$version"
  cat "$out/image.digest"
}

push_image_buildx() { # prints the digest
  command -v docker >/dev/null 2>&1 || die "--builder buildx needs docker with buildx"
  log "building and pushing $registry/tierguard:$version for $platforms with docker buildx"
  # BuildKit's own SLSA provenance (mode=max) goes into the image index as well; the SBOM is syft's (step 3).
  run_logged "docker buildx build" "$out/logs/push-image.log" docker buildx build --platform "$platforms" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$(revision)" --build-arg "SOURCE=$source_url" \
    --provenance=mode=max --sbom=false --tag "$registry/tierguard:$version" \
    --metadata-file "$out/buildx-metadata.json" --push "$repo"
  "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' \
    "$out/buildx-metadata.json"
}

# --- 2, 3. signatures and attestations -------------------------------------------------------------------
cosign_key_args() {
  case $sign in
    keyless) ;;  # Fulcio certificate from the workflow's OIDC token, Rekor transparency log
    # A key pair, no transparency log: nothing public is reachable from the local test path.
    *) printf '%s\n' --key "$sign" --use-signing-config=false --tlog-upload=false ;;
  esac
}

sign_ref() { # ref@digest, what
  [[ $sign == none ]] && return 0
  local cosign args
  cosign=$(tool cosign)
  mapfile -t args < <(cosign_key_args)
  log "signing $2 $1 ($sign)"
  run_logged "cosign sign of $2" "$out/logs/sign-$2.log" "$cosign" sign --yes "${args[@]}" "${insecure_cosign[@]}" "$1"
}

attest_ref() { # ref@digest, predicate type, predicate file, what
  [[ $sign == none ]] && return 0
  local cosign args
  cosign=$(tool cosign)
  mapfile -t args < <(cosign_key_args)
  log "attesting the $4 of $1"
  run_logged "cosign attest of the $4" "$out/logs/attest-$4.log" "$cosign" attest --yes "${args[@]}" \
    "${insecure_cosign[@]}" --type "$2" --predicate "$3" "$1"
}

sbom() { # ref@digest
  [[ $sbom == none ]] && { log "no SBOM (--sbom none)"; return 0; }
  [[ $sbom == syft ]] || die "--sbom must be syft or none, not '$sbom'"
  local syft
  syft=$(tool syft)
  log "SBOM of $1 (syft, SPDX JSON)"
  run_logged "syft scan" "$out/logs/sbom.log" "$syft" scan "registry:$1" -o "spdx-json=$out/sbom.spdx.json"
  attest_ref "$1" spdxjson "$out/sbom.spdx.json" sbom
}

provenance() { # ref@digest, digest
  local builder_id
  if [[ -n ${GITHUB_RUN_ID:-} ]]; then
    builder_id="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/$GITHUB_RUN_ID"
  else
    builder_id="local:$(hostname)/hack/release.sh"
  fi
  # SLSA provenance v1 (https://slsa.dev/provenance/v1): what was built from which commit, by what.
  "$python" - "$out/provenance.json" "$source_url" "$(revision)" "$version" "$builder" "$platforms" \
    "$builder_id" <<'PY'
import datetime, json, sys
path, source, revision, version, builder, platforms, builder_id = sys.argv[1:]
json.dump({
    "buildDefinition": {
        "buildType": "https://github.com/tierguard/tierguard/hack/release.sh@v1",
        "externalParameters": {"version": version, "builder": builder,
                               "platforms": platforms if builder == "buildx" else "linux/amd64"},
        "resolvedDependencies": [{"uri": f"git+{source}", "digest": {"gitCommit": revision}}],
    },
    "runDetails": {"builder": {"id": builder_id},
                   "metadata": {"startedOn": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}},
}, open(path, "w"), indent=2)
PY
  attest_ref "$1" slsaprovenance1 "$out/provenance.json" provenance
}

# --- 4. the chart ------------------------------------------------------------------------------------------
package_chart() { # image repository:tag@digest; prints the packaged chart's path
  local image=$1 helm src
  [[ $image == *:*@sha256:* ]] || die "the chart's image must be repository:tag@sha256:..., not '$image'"
  helm=$(tool helm)
  src=$out/chart/tierguard
  rm -rf "$out/chart"
  mkdir -p "$out/chart"
  cp -R "$repo/charts/tierguard" "$src"
  "$python" - "$src" "$image" "$version" "$source_url" <<'PY' || die "could not pin the image in the chart copy (above)"
import re, sys
from pathlib import Path
import yaml
src, image, version, source_url = Path(sys.argv[1]), *sys.argv[2:]
name_tag, digest = image.split("@", 1)
repository, tag = name_tag.rsplit(":", 1)
chart_file = src / "Chart.yaml"
chart = yaml.safe_load(chart_file.read_text())
for key in ("version", "appVersion"):
    if str(chart[key]) != version:
        sys.exit(f"charts/tierguard/Chart.yaml {key} is {chart[key]}, not the release version {version}")
text = chart_file.read_text()
# The image the released chart deploys, for Artifact Hub: the one in the values below.
images = yaml.safe_load(chart["annotations"]["artifacthub.io/images"])
if len(images) != 1:
    sys.exit(f"artifacthub.io/images lists {len(images)} images; hack/release.sh pins exactly one")
text, n = re.subn(r"(?m)^(      image: ).*$", lambda m: m.group(1) + image, text, count=1)
if source_url:
    text = text.replace("https://github.com/OWNER/tierguard", source_url)
chart_file.write_text(text)
# values.yaml keeps its comments (helm show values): only the image block's keys change.
values_file = src / "values.yaml"
values = values_file.read_text()
block = re.search(r"(?ms)^image:\n(?:(?:  .*)?\n)+", values)
if block is None:
    sys.exit("no image: block in charts/tierguard/values.yaml")
new = block.group(0)
for key, value in (("repository", repository), ("tag", tag), ("digest", digest)):
    new, n = re.subn(rf"(?m)^  {key}: .*$", f"  {key}: {value!r}".replace("'", '"'), new, count=1)
    if n != 1:
        sys.exit(f"no image.{key} in charts/tierguard/values.yaml")
values_file.write_text(values[: block.start()] + new + values[block.end():])
check = yaml.safe_load(values_file.read_text())["image"]
assert (check["repository"], check["tag"], check["digest"]) == (repository, tag, digest), check
PY
  run_logged "helm lint --strict of the release chart" "$out/logs/chart-lint.log" "$helm" lint --strict "$src"
  run_logged "helm package" "$out/logs/chart-package.log" "$helm" package "$src" --version "$version" \
    --app-version "$version" --destination "$out"
  echo "$out/tierguard-$version.tgz"
}

# --- 5. the chart to the registry ------------------------------------------------------------------------
push_chart() { # packaged chart; prints the chart's digest
  local helm digest
  helm=$(tool helm)
  log "pushing the chart to oci://$registry/charts"
  run_logged "helm push" "$out/logs/chart-push.log" "$helm" push "$1" "oci://$registry/charts" "${helm_http[@]}"
  digest=$(sed -n 's/^Digest: \(sha256:[0-9a-f]\{64\}\)$/\1/p' "$out/logs/chart-push.log" | head -n 1)
  [[ -n $digest ]] || die "helm push printed no digest (log: $out/logs/chart-push.log)"
  echo "$digest"
}

write_summary() { # digest, chart digest
  "$python" - "$out/release.json" <<PY
import json, sys
json.dump({"version": "$version", "registry": "$registry", "image": "$registry/tierguard:$version@$1",
           "digest": "$1", "chart": "oci://$registry/charts/tierguard", "chart_digest": "$2",
           "chart_ref": "$registry/charts/tierguard:$version@$2", "signed": "$sign", "sbom": "$sbom",
           "builder": "$builder"}, open(sys.argv[1], "w"), indent=2)
PY
}

main() {
  if [[ ${1:-} == package-chart ]]; then
    shift
    parse "$@"
    [[ -n $image_ref ]] || die "package-chart needs --image repository:tag@sha256:..."
    package_chart "$image_ref"
    return
  fi
  parse "$@"
  [[ -n $registry ]] || die "--registry is required (e.g. ghcr.io/<owner>, or the local registry's host:port)"
  registry_flags
  local start=$SECONDS digest ref chart chart_digest
  case $builder in
    local) digest=$(push_image_local) ;;
    buildx) digest=$(push_image_buildx) ;;
    *) die "--builder must be local or buildx, not '$builder'" ;;
  esac
  [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "no image digest after the push (got '$digest')"
  ref=$registry/tierguard@$digest
  log "image $registry/tierguard:$version is $digest"
  sign_ref "$ref" image
  sbom "$ref"
  provenance "$ref"
  chart=$(package_chart "$registry/tierguard:$version@$digest")
  chart_digest=$(push_chart "$chart")
  sign_ref "$registry/charts/tierguard@$chart_digest" chart
  write_summary "$digest" "$chart_digest"
  log "released $version in $((SECONDS - start)) s: image $ref, chart oci://$registry/charts/tierguard:$version ($chart_digest)"
  echo "$out/release.json"
}

# On one line, so bash has read all it runs: editing this file during a release cannot rerun parts of it.
main "$@"; exit
