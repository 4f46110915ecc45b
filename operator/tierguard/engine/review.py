"""The AdmissionReview v1 wire format (``admission.k8s.io/v1``), as far as tierguard reads or writes it.

A review arrives as untrusted JSON: these types say what the API server sends, not what a body holds, so every
reader still checks each field it uses (``EvaluationRequest.from_admission_request``, ``AdmissionService``).
Fields tierguard never reads (``options``, ``requestKind``, ...) are left out. Types only: no code runs here.
"""

# No ``from __future__ import annotations``: with it, a TypedDict cannot see NotRequired at runtime and reports
# every key as required (the tests compare answers to ``__required_keys__``).
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]

KubeObject = Mapping[str, Any]
"""An object's body as JSON: arbitrary beyond its kind and metadata, which the engine reads field by field."""


class GroupVersionKind(TypedDict):
    group: str
    version: str
    kind: str


class GroupVersionResource(TypedDict):
    group: str
    version: str
    resource: str


class ReviewUser(TypedDict, total=False):
    """``request.userInfo``: who sent the request (``extra`` and ``uid`` are not read)."""

    username: str
    groups: list[str]


class AdmissionRequest(TypedDict, total=False):
    """``request``: the object under review. ``object`` is null on DELETE, ``oldObject`` on CREATE."""

    uid: str
    kind: GroupVersionKind
    resource: GroupVersionResource
    subResource: str
    name: str
    namespace: str | None
    operation: Operation
    userInfo: ReviewUser
    object: KubeObject | None
    oldObject: KubeObject | None
    dryRun: bool


class AdmissionReview(TypedDict, total=False):
    """What the API server posts: ``request`` set, ``response`` absent."""

    apiVersion: str
    kind: str
    request: AdmissionRequest


class ResponseStatus(TypedDict):
    """A denial's reason: kubectl prints ``Error from server (<reason>): <message>``."""

    code: int
    message: str
    reason: str


class AdmissionResponse(TypedDict):
    uid: str  # the request's: the API server drops an answer whose uid does not match
    allowed: bool
    status: NotRequired[ResponseStatus]
    warnings: NotRequired[list[str]]


class AdmissionReviewAnswer(TypedDict):
    """What the webhook answers: the review's apiVersion and kind, ``response`` instead of ``request``."""

    apiVersion: str
    kind: str
    response: AdmissionResponse
