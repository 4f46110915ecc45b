#!/usr/bin/env bash
# The GitHub Action's shell step (action.yml), and nothing else: install tierguard at the action's ref, run
# `tierguard check` with the action's inputs, write the report, and decide the job's status.
#
# Inputs (environment): INPUT_PATHS (whitespace-separated, default .), INPUT_POLICY, INPUT_NAMESPACE_TIERS
# (whitespace-separated NS=TIER), INPUT_OUTPUT (text|json|sarif, default sarif), INPUT_SARIF_FILE (default
# tierguard.sarif), INPUT_FAIL_ON (deny|none, default deny). TIERGUARD_ACTION_INSTALL=false skips the install
# (tests, or a job that installed tierguard already); TIERGUARD (default: tierguard) is the command run.
# Outputs: exit-code and report, appended to $GITHUB_OUTPUT when set.
# Exit status: 0, or 1 when something is denied and fail-on is deny, or 2 on unreadable input, an invalid policy
# or a bad input (always, whatever fail-on says: a check that did not run must not pass).
set -euo pipefail
action_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
output=${INPUT_OUTPUT:-sarif}
fail_on=${INPUT_FAIL_ON:-deny}
report_file=${INPUT_SARIF_FILE:-tierguard.sarif}

fail_usage() { echo "::error title=tierguard::$1" >&2; exit 2; }
case $output in text | json | sarif) ;; *) fail_usage "output must be text, json or sarif, not '$output'" ;; esac
case $fail_on in deny | none) ;; *) fail_usage "fail-on must be deny or none, not '$fail_on'" ;; esac

if [[ ${TIERGUARD_ACTION_INSTALL:-true} == true ]]; then
  python -m pip install --quiet --disable-pip-version-check "$action_dir"
fi
tierguard=${TIERGUARD:-tierguard}
# helpUri links of the SARIF rules point at this action's own docs/rules.md, at the ref that ran.
if [[ -z ${TIERGUARD_RULES_URL:-} && -n ${TIERGUARD_ACTION_REPOSITORY:-} && -n ${TIERGUARD_ACTION_REF:-} ]]; then
  export TIERGUARD_RULES_URL="${GITHUB_SERVER_URL:-https://github.com}/$TIERGUARD_ACTION_REPOSITORY/blob/$TIERGUARD_ACTION_REF/docs/rules.md"
fi

args=(check)
read -r -d '' -a paths <<<"${INPUT_PATHS:-.}" || true
for path in "${paths[@]}"; do args+=(-f "$path"); done
[[ -n ${INPUT_POLICY:-} ]] && args+=(--policy "$INPUT_POLICY")
read -r -d '' -a tiers <<<"${INPUT_NAMESPACE_TIERS:-}" || true
for tier in "${tiers[@]}"; do args+=(--namespace-tier "$tier"); done

# The findings, for people, in the job's log; then the report in the format asked for.
set +e
"$tierguard" "${args[@]}"
code=$?
if [[ $code -ne 2 && $output != text ]]; then
  "$tierguard" "${args[@]}" -o "$output" >"$report_file"
  code=$?
fi
set -e
report=""
[[ $output != text && $code -ne 2 ]] && report=$report_file
if [[ -n ${GITHUB_OUTPUT:-} ]]; then
  { echo "exit-code=$code"; echo "report=$report"; } >>"$GITHUB_OUTPUT"
fi
if [[ $code -eq 2 ]]; then
  echo "::error title=tierguard::tierguard check could not run (exit 2): see the message above" >&2
  exit 2
fi
if [[ $code -eq 1 ]]; then
  if [[ $fail_on == none ]]; then
    echo "::warning title=tierguard::some objects would be denied (fail-on: none, so the job passes)"
    exit 0
  fi
  echo "::error title=tierguard::some objects would be denied at admission"
  exit 1
fi
exit 0
