"""Helpers for e2e tests of tierguard installed in a cluster (by hack/local-cluster.sh up, or by helm).

Everything goes through kubectl, so the same tests run against the local kind cluster and any other.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from .kube import Cluster

TIER_LABEL = "tierguard.io/tier"
NAMESPACE = os.environ.get("TIERGUARD_E2E_NAMESPACE", "tierguard-system")
SELECTOR = "app.kubernetes.io/name=tierguard"
RELOAD_TIMEOUT_S = 45.0
T = TypeVar("T")


def secret_value() -> str:
    """A distinctive value that the log check can grep for."""
    return f"tg-e2e-planted-{uuid.uuid4().hex}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(namespace: str, name: str, value: str, **annotations: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "data": {"password": b64(value)}}


def apply(cluster: Cluster, manifest: Mapping[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return cluster.apply(manifest, *args, check=False)


def refused(result: subprocess.CompletedProcess[str], rule: str) -> bool:
    """Refused with the rule's id, by tierguard's webhook (``admission webhook ... denied the request``) or by its
    ValidatingAdmissionPolicies, which the API server evaluates before the webhook (``... denied request:``)."""
    by = "denied the request" in result.stderr or "denied request: [" in result.stderr
    return result.returncode != 0 and by and f"[{rule}]" in result.stderr


def assert_refused(result: subprocess.CompletedProcess[str], rule: str) -> None:
    assert refused(result, rule), f"expected a [{rule}] denial, got exit {result.returncode}:\n{result.stderr}"


def assert_admitted(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"expected admission, got:\n{result.stderr}"


def eventually(check: Callable[[], T], timeout: float = RELOAD_TIMEOUT_S, interval: float = 1.0) -> T:
    """Retry ``check`` until it returns without AssertionError (policy reloads take a few seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def current_policy(cluster: Cluster) -> dict[str, Any] | None:
    got = cluster.kubectl("get", "tierpolicies.tierguard.io", "default", "-o", "json", check=False)
    if got.returncode != 0:
        return None
    document: dict[str, Any] = json.loads(got.stdout)
    return {"apiVersion": document["apiVersion"], "kind": document["kind"], "metadata": {"name": "default"},
            "spec": document.get("spec", {})}


def whoami(cluster: Cluster) -> str:
    """The user name the API server gives the tests' own kubectl (``kubectl auth whoami``)."""
    review = json.loads(cluster.kubectl("auth", "whoami", "-o", "json").stdout)
    username: str = review["status"]["userInfo"]["username"]
    return username


def with_tests_as_platform(cluster: Cluster, spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec``, and when it gives people tiers (``subjects.perTier``), the tests' own user among the ``platform``
    users: namespace-tier-assignment then holds every TierPolicy write to the platform, and a kind cluster's admin
    is in ``kubeadm:cluster-admins``, not ``system:masters``, so without it the previous policy could not be put
    back (nor tiered namespaces made by the fixtures)."""
    subjects = spec.get("subjects")
    if not isinstance(subjects, Mapping) or not subjects.get("perTier"):
        return dict(spec)
    platform = dict(subjects.get("platform") or {})
    me = whoami(cluster)
    users = list(platform.get("users") or [])
    platform["users"] = users if me in users else [*users, me]
    return {**spec, "subjects": {**subjects, "platform": platform}}


@contextmanager
def policy(cluster: Cluster, spec: Mapping[str, Any]) -> Iterator[None]:
    """Enforce a TierPolicy ``default`` with ``spec`` for the block, then put the previous one back. With people's
    tiers in ``spec``, the tests' own user is platform (``with_tests_as_platform``)."""
    previous = current_policy(cluster)
    manifest = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
                "spec": with_tests_as_platform(cluster, spec)}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    try:
        yield
    finally:
        # The webhook judges TierPolicy writes: after a fault it may answer not ready for a while. A restore that
        # never lands would leave this block's policy enforced for every later test, so it is retried, then fails.
        def restored() -> None:
            if previous is None:
                done = cluster.kubectl("delete", "tierpolicies.tierguard.io", "default", "--ignore-not-found",
                                       check=False)
            else:
                done = cluster.kubectl("replace", "-f", "-", input=json.dumps(previous), check=False)
            assert done.returncode == 0, f"the previous TierPolicy was not put back: {done.stderr.strip()}"

        eventually(restored, timeout=RELOAD_TIMEOUT_S, interval=2.0)


def tierguard_logs(cluster: Cluster) -> str:
    """Everything tierguard's pods logged."""
    return cluster.kubectl("logs", "-n", NAMESPACE, "-l", SELECTOR, "--tail=-1", "--all-containers",
                           "--prefix").stdout


def webhook_client_config(cluster: Cluster) -> dict[str, Any]:
    """The clientConfig tierguard's chart installed (its Service)."""
    configs = cluster.get_json("validatingwebhookconfigurations", "-l", SELECTOR)["items"]
    assert configs, "no ValidatingWebhookConfiguration labelled app.kubernetes.io/name=tierguard"
    client: dict[str, Any] = configs[0]["webhooks"][0]["clientConfig"]
    return client


@contextmanager
def registered_webhook(cluster: Cluster, marker: str, client_config: Mapping[str, Any],
                       resource: str) -> Iterator[None]:
    """A ValidatingWebhookConfiguration named ``marker`` sending CREATEs of ``resource`` (core group) in
    namespaces labelled ``marker=yes`` to ``client_config``; deleted afterwards, even on failure."""
    config = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
              "metadata": {"name": marker},
              "webhooks": [{"name": f"{marker}.tierguard.io", "clientConfig": dict(client_config),
                            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": [resource],
                                       "operations": ["CREATE"]}],
                            "namespaceSelector": {"matchLabels": {marker: "yes"}},
                            "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Fail",
                            "timeoutSeconds": 5}]}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(config))
    try:
        yield
    finally:
        cluster.kubectl("delete", "validatingwebhookconfiguration", marker, "--ignore-not-found", check=False)
