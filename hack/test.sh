#!/usr/bin/env bash
# The test command (README, .ci/run): lint, type-check, then every test, e2e included. The e2e tests start the
# local control plane with tierguard installed (hack/local-cluster.sh up; a cold first run builds Kubernetes
# from source), or use the cluster named by TIERGUARD_E2E_KUBECONFIG. Extra arguments go to pytest.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
python=${TIERGUARD_PYTHON:-python3}
"$repo/hack/python-deps.sh"
echo "== ruff"
"$python" -m ruff check operator tests bench
echo "== mypy --strict"
"$python" -m mypy
echo "== pytest"
exec "$python" -m pytest "$@"
