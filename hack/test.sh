#!/usr/bin/env bash
# The test command (README, .ci/run): install what is missing (for the Kubernetes version under test:
# TIERGUARD_KUBERNETES_VERSION, else the newest tested), lint, type-check, then every test, e2e included.
# The e2e tests start the local cluster with tierguard installed by its chart (hack/local-cluster.sh up; a cold
# first run builds Kubernetes from source and the image from the Dockerfile), or use the cluster named by
# TIERGUARD_E2E_KUBECONFIG. Extra arguments go to pytest.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
python=${TIERGUARD_PYTHON:-python3}
"$repo/hack/python-deps.sh"
TIERGUARD_PREREQS=${TIERGUARD_PREREQS:-tests} "$repo/hack/ci-prereqs.sh"
echo "== ruff"
"$python" -m ruff check operator tests bench
echo "== mypy --strict"
"$python" -m mypy
echo "== pytest"
exec "$python" -m pytest "$@"
