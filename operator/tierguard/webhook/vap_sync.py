"""Keeping the API server's ValidatingAdmissionPolicies in step with the TierPolicy in force (``tierguard.vap``
generates them; this module only applies and deletes).

On startup and whenever the replica's policy changes (the TierPolicy watch of ``indexing.py`` swaps it), every
generated object is server-side applied with field manager ``tierguard``, and every other name the generator may
use is deleted. A full re-apply every ``resync_seconds`` repairs objects someone deleted or edited. Every replica
does this: applying the same content with the same field manager is idempotent (an unchanged apply writes
nothing), and two replicas that briefly disagree during a policy change converge once both have read it.
Disabled (``--no-admission-policies``), a replica deletes the objects once, so turning the feature off leaves
nothing enforcing. Failures are logged and retried; they never touch admission or readiness. A draining replica
(the pod is terminating) writes nothing more: its successors own the objects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from tierguard.policy import TierPolicy
from tierguard.vap import Options, generate, managed_names
from tierguard.webhook.settings import AdmissionPolicySettings
from tierguard.webhook.state import RuntimeState

logger = logging.getLogger("tierguard.vap")

FIELD_MANAGER = "tierguard"


class AdmissionPolicySync:
    def __init__(self, state: RuntimeState, api_client: Any, settings: AdmissionPolicySettings) -> None:
        # Plain REST (kube/rest.py), not the client's generated API classes: those load some 300 model
        # classes, 30 MB of every replica's memory.
        self.state = state
        self.settings = settings
        self.api_client = api_client
        self._versions: dict[tuple[str, str], str] = {}
        """Each applied object's resourceVersion as last answered: an apply that changed nothing keeps it."""

    async def run(self) -> None:
        if not self.settings.enabled:
            await asyncio.to_thread(self.delete_all)
            return
        applied: TierPolicy | None = None
        last = 0.0
        while True:
            if self.state.draining:
                # A terminating replica's view may be older than its successors' (a `helm uninstall` deleted its
                # TierPolicy, so it holds the defaults, while a new install's replicas enforce another): writing
                # from it would delete the policies they just applied. CI saw exactly that, a release's lingering
                # replicas deleting the next install's sidecar policy for a second.
                return
            policy = self.state.policy
            due = time.monotonic() - last >= self.settings.resync_seconds
            if policy is not None and (policy is not applied or due):
                try:
                    await asyncio.to_thread(self.apply, policy)
                    applied, last = policy, time.monotonic()
                except Exception as error:  # retried next poll; admission is unaffected
                    logger.error("cannot apply the ValidatingAdmissionPolicies",
                                 extra={"detail": f"{type(error).__name__}: {str(error)[:300]}"})
                    last = time.monotonic()
                    applied = None if policy is not applied else applied
                    await asyncio.sleep(min(self.settings.resync_seconds, 10.0))
            await asyncio.sleep(self.settings.poll_seconds)

    def options(self) -> Options:
        return Options(prefix=self.settings.prefix, own_namespace=self.state.own_namespace,
                       failure_policy=self.settings.failure_policy, owner=self._owner())

    def _owner(self) -> Mapping[str, str] | None:
        if not self.settings.owner_cluster_role:
            return None
        from tierguard.kube.rest import request_json  # noqa: PLC0415

        role = request_json(self.api_client, "GET",
                            f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{self.settings.owner_cluster_role}")
        metadata = role.get("metadata") or {}
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": str(metadata.get("name")),
                "uid": str(metadata.get("uid"))}

    def apply(self, policy: TierPolicy) -> None:
        """Apply every generated object and delete the stale ones; logged only when something changed (the
        periodic re-apply of unchanged objects is silent)."""
        from tierguard.kube.rest import request_json  # noqa: PLC0415

        manifests = generate(policy, self.options())
        changed = []
        for manifest in manifests:
            key = (str(manifest["kind"]), str(manifest["metadata"]["name"]))
            answer = request_json(self.api_client, "PATCH", _path(*key),
                                  query=[("fieldManager", FIELD_MANAGER), ("force", "true")], body=manifest,
                                  content_type="application/apply-patch+yaml")
            version = str(((answer or {}).get("metadata") or {}).get("resourceVersion") or "")
            if self._versions.get(key) != version or not version:
                changed.append(f"{key[0]}/{key[1]}")
            self._versions[key] = version
        wanted = {(m["kind"], m["metadata"]["name"]) for m in manifests}
        removed = self._delete(lambda kind, name: (kind, name) not in wanted)
        self._versions = {key: version for key, version in self._versions.items() if key in wanted}
        if changed or removed:
            logger.info("ValidatingAdmissionPolicies applied", extra={"changed": changed, "deleted": removed})
        else:
            logger.debug("ValidatingAdmissionPolicies unchanged", extra={"objects": len(manifests)})

    def delete_all(self) -> None:
        try:
            removed = self._delete(lambda kind, name: True)
        except Exception as error:
            logger.error("cannot delete the ValidatingAdmissionPolicies",
                         extra={"detail": f"{type(error).__name__}: {str(error)[:300]}"})
            return
        logger.info("ValidatingAdmissionPolicies disabled", extra={"deleted": removed})

    def _delete(self, stale: Callable[[str, str], bool]) -> list[str]:
        from tierguard.kube.rest import HttpError, request  # noqa: PLC0415

        removed = []
        for name in managed_names(self.settings.prefix):
            # The binding first: a policy without its binding enforces nothing, a binding without its policy errs.
            for kind in ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"):
                if not stale(kind, name):
                    continue
                try:
                    request(self.api_client, "DELETE", _path(kind, name))
                    removed.append(f"{kind}/{name}")
                except HttpError as error:
                    if error.status != 404:
                        raise
        return removed


def _path(kind: str, name: str) -> str:
    plural = "validatingadmissionpolicies" if kind == "ValidatingAdmissionPolicy" else \
        "validatingadmissionpolicybindings"
    return f"/apis/admissionregistration.k8s.io/v1/{plural}/{name}"
