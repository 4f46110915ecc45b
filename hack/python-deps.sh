#!/usr/bin/env bash
# Installs tierguard and its test dependencies into the Python that runs the tests (editable, so the
# console script and `python -m tierguard` use this checkout). Skips the install when already current.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${TIERGUARD_PYTHON:-python3}
if "$python" -c 'import tierguard.webhook.command, orjson, pytest, hypothesis, mypy, ruff, jsonschema, pre_commit' 2>/dev/null \
  && [[ $("$python" -c 'import tierguard, os; print(os.path.dirname(tierguard.__file__))') == "$repo/operator/tierguard" ]]; then
  exit 0
fi
echo "python-deps: installing tierguard[test] into $("$python" -c 'import sys; print(sys.prefix)')"
"$python" -m pip install --quiet --disable-pip-version-check -e "${repo}[test]"
