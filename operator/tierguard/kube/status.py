"""Writing a custom resource's ``status`` subresource: one JSON merge patch, without a resourceVersion.

No resourceVersion, so a write never fails on a conflict: the status is a function of the object's spec that
every replica computes alike (``webhook/policy_status.py``), so the last write of any of them is right; a write
computed from an older generation is replaced on the next watch event. A merge patch replaces ``conditions``
whole (JSON merge patch replaces lists) and removes a field sent as null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from tierguard.kube.rest import HttpError, request


class StatusGone(Exception):
    """The object is gone (404), or its CRD serves no status subresource yet (a CRD not upgraded)."""


class StatusApi(Protocol):
    def patch_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Merge ``status`` into the cluster-scoped object ``name``'s status; raises StatusGone on 404."""


class KubeStatusApi:
    """The status of one cluster-scoped custom resource kind, by its collection path
    (``/apis/tierguard.io/v1alpha1/tierpolicies``)."""

    def __init__(self, api_client: Any, collection: str, timeout_s: float = 10.0) -> None:
        self.api_client, self.collection, self.timeout_s = api_client, collection, timeout_s

    def patch_status(self, name: str, status: Mapping[str, Any]) -> None:
        try:
            request(self.api_client, "PATCH", f"{self.collection}/{name}/status", body={"status": status},
                    timeout=self.timeout_s, content_type="application/merge-patch+json")
        except HttpError as error:
            if error.status == 404:
                raise StatusGone(name) from None
            raise
