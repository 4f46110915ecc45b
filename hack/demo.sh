#!/usr/bin/env bash
# tierguard's main job on an embedded default: a kind cluster (Docker started and kind built when missing; the
# node image built offline where kindest/node cannot be pulled) with tierguard installed by `helm install` of its
# chart, as pods of the image built here from the Dockerfile, then the cluster refusing a bad manifest. The
# cluster stays up afterwards: `hack/local-cluster.sh down` deletes it.
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
