#!/usr/bin/env bash
# Regenerates charts/tierguard/README.md (helm-docs) and values.schema.json from the annotated values.yaml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." && exec python3 -m tests.chart.chart_docs "$(hack/build-tools.sh helm-docs)" "$@"
