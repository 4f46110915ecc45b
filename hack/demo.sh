#!/usr/bin/env bash
# tierguard's main job on an embedded default: start the local cluster (a real node) with tierguard installed by
# `helm install` of its chart, as pods of the image built here from the Dockerfile (building Kubernetes from
# source and the image on first use), then show the cluster refusing a bad manifest. The cluster stays up
# afterwards: `hack/local-cluster.sh down` stops it.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
"$repo/hack/python-deps.sh"
TIERGUARD_PREREQS=cluster "$repo/hack/ci-prereqs.sh"
"$repo/hack/local-cluster.sh" up
eval "$("$repo/hack/local-cluster.sh" env)"
kubectl apply -f examples/namespaces.yaml
echo
echo "\$ kubectl apply -f examples/bad-pod.yaml"
if kubectl apply -f examples/bad-pod.yaml; then
  echo "demo: UNEXPECTED: the bad manifest was admitted" >&2
  exit 1
fi
echo
echo "demo: refused as expected. Try more: eval \"\$(hack/local-cluster.sh env)\"; kubectl apply -f examples/"
