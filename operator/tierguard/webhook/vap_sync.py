"""Keeping the API server's ValidatingAdmissionPolicies in step with the TierPolicy in force (``tierguard.vap``
generates them; this module only applies and deletes).

On startup and whenever the replica's policy changes (the TierPolicy watch of ``indexing.py`` swaps it), every
generated object is server-side applied with field manager ``tierguard``, and every other name the generator may
use is deleted. A full re-apply every ``resync_seconds`` repairs objects someone deleted or edited. Every replica
does this: applying the same content with the same field manager is idempotent (an unchanged apply writes
nothing), and two replicas that briefly disagree during a policy change converge once both have read it.
Disabled (``--no-admission-policies``), a replica deletes the objects once, so turning the feature off leaves
nothing enforcing. Failures are logged and retried; they never touch admission or readiness.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.policy import TierPolicy
from tierguard.vap import Options, generate, managed_names
from tierguard.webhook.state import RuntimeState

logger = logging.getLogger("tierguard.vap")

FIELD_MANAGER = "tierguard"


@dataclass(frozen=True)
class SyncSettings:
    enabled: bool = True
    prefix: str = "tierguard"
    owner_cluster_role: str = ""
    """The ClusterRole (the release's) every object is owned by, so uninstalling removes them; empty: none."""
    failure_policy: str = "Ignore"
    resync_seconds: float = 60.0
    poll_seconds: float = 1.0
    """How often the replica's policy is compared with the one last applied (a reference comparison)."""


class AdmissionPolicySync:
    def __init__(self, state: RuntimeState, api_client: Any, settings: SyncSettings) -> None:
        from kubernetes.client import AdmissionregistrationV1Api, RbacAuthorizationV1Api  # noqa: PLC0415

        self.state = state
        self.settings = settings
        # Any: the client's generated signatures type every response as a union the calls below narrow.
        self.api: Any = AdmissionregistrationV1Api(api_client)
        self.rbac: Any = RbacAuthorizationV1Api(api_client)

    async def run(self) -> None:
        if not self.settings.enabled:
            await asyncio.to_thread(self.delete_all)
            return
        applied: TierPolicy | None = None
        last = 0.0
        while True:
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
        role = self.rbac.read_cluster_role(self.settings.owner_cluster_role)
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": role.metadata.name,
                "uid": role.metadata.uid}

    def apply(self, policy: TierPolicy) -> None:
        manifests = generate(policy, self.options())
        for manifest in manifests:
            patch = self._patch(manifest["kind"])
            _drained(patch(manifest["metadata"]["name"], manifest, field_manager=FIELD_MANAGER, force=True,
                  _content_type="application/apply-patch+yaml", _preload_content=False))
        wanted = {(m["kind"], m["metadata"]["name"]) for m in manifests}
        removed = self._delete(lambda kind, name: (kind, name) not in wanted)
        logger.info("ValidatingAdmissionPolicies applied", extra={
            "policies": sorted(n for k, n in wanted if k == "ValidatingAdmissionPolicy"), "deleted": removed})

    def delete_all(self) -> None:
        try:
            removed = self._delete(lambda kind, name: True)
        except Exception as error:
            logger.error("cannot delete the ValidatingAdmissionPolicies",
                         extra={"detail": f"{type(error).__name__}: {str(error)[:300]}"})
            return
        logger.info("ValidatingAdmissionPolicies disabled", extra={"deleted": removed})

    def _delete(self, stale: Callable[[str, str], bool]) -> list[str]:
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        removed = []
        for name in managed_names(self.settings.prefix):
            # The binding first: a policy without its binding enforces nothing, a binding without its policy errs.
            for kind, delete in (("ValidatingAdmissionPolicyBinding",
                                  self.api.delete_validating_admission_policy_binding),
                                 ("ValidatingAdmissionPolicy", self.api.delete_validating_admission_policy)):
                if not stale(kind, name):
                    continue
                try:
                    _drained(delete(name, _preload_content=False))
                    removed.append(f"{kind}/{name}")
                except ApiException as error:
                    if error.status != 404:
                        raise
        return removed

    def _patch(self, kind: str) -> Any:
        if kind == "ValidatingAdmissionPolicy":
            return self.api.patch_validating_admission_policy
        return self.api.patch_validating_admission_policy_binding


def _drained(response: Any) -> None:
    """Read and drop an unparsed response before its connection goes back to the pool (a connection returned
    with its body unread breaks the next request on it)."""
    try:
        response.drain_conn()
    finally:
        response.release_conn()
