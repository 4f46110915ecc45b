#!/usr/bin/env bash
# Regenerates charts/tierguard/templates/_skip-conditions.tpl (the webhook's matchConditions that skip Pods and
# pod templates tierguard is certain to admit) from operator/tierguard/vap/skip.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=python3
[[ -x .venv/bin/python ]] && python=.venv/bin/python
PYTHONPATH=operator exec "$python" -m tierguard.vap.skip > charts/tierguard/templates/_skip-conditions.tpl
