"""The engine's input: one object to judge, built from a manifest, an AdmissionReview or a cluster scan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.model import Malformed, ObjectRef
from tierguard.engine.objects import object_ref
from tierguard.engine.podspec import PodSite, pod_site
from tierguard.engine.review import AdmissionRequest, Operation
from tierguard.engine.secrets import SecretView
from tierguard.kinds import connect_of

OPERATIONS: frozenset[str] = frozenset(get_args(Operation))


# Slotted, not frozen: made once or more per review, and a frozen dataclass's __init__ sets each field through
# object.__setattr__ (about 0.5 us apiece). Nothing assigns to it after construction all the same.
@dataclass(slots=True)
class UserInfo:
    username: str = ""
    groups: tuple[str, ...] = ()


# Slotted, not frozen: made once or more per review, and a frozen dataclass's __init__ sets each field through
# object.__setattr__ (about 0.5 us apiece). Nothing assigns to it after construction all the same.
@dataclass(slots=True)
class EvaluationRequest:
    obj: Mapping[str, Any]
    old: Mapping[str, Any] | None = None
    operation: str = "CREATE"
    user: UserInfo | None = None
    namespace: str | None = None
    """The request's namespace, when the caller knows it better than the object does."""
    subresource: str = ""
    name: str = ""
    """``request.name``: what a CONNECT opens a session into (its body, the options, has no metadata)."""
    dry_run: bool = False
    standing: bool = False
    """The object as it stands in a cluster, read by an audit, not a change being admitted: checks of what runs
    (a running pod's mesh redirection, a namespace's default-deny NetworkPolicy) look only then."""
    _views: list[tuple[Fingerprinter, SecretView | Malformed]] = field(default_factory=list, init=False, repr=False,
                                                                       compare=False)
    """The object's SecretView per fingerprinter: HMAC every value once per request (see ``secret_view``)."""
    _pod_site: list[PodSite | Malformed | None] = field(default_factory=list, init=False, repr=False, compare=False)

    def ref(self) -> ObjectRef:
        """What the request is about: the object's reference, or for a CONNECT (``pods/exec``) the object it opens
        a session into, named by the request (``Pod payments-prod/api``), not by the options body."""
        if self.operation == "CONNECT":
            target = connect_of(self.obj.get("apiVersion"), self.obj.get("kind"))
            if target is not None:
                info, _ = target
                return ObjectRef(info.api_version, info.kind, self.namespace if info.namespaced else None, self.name)
        return object_ref(self.obj, self.namespace)

    def pod_site(self) -> PodSite | None:
        """The object's pod spec (``podspec.pod_site``), found on the first call only: the workload, volume and
        sidecar rules all walk it, and a PodSite keeps what its walkers found. Raises Malformed."""
        if not self._pod_site:
            try:
                self._pod_site.append(pod_site(self.obj))
            except Malformed as error:
                self._pod_site.append(error)
        found = self._pod_site[0]
        if isinstance(found, Malformed):
            raise found
        return found

    def secret_view(self, fingerprinter: Fingerprinter, namespace: str | None = None) -> SecretView:
        """The object (a Secret or SealedSecret) as a SecretView, built on the first call only: the rules that
        judge a Secret and the webhook that remembers an admitted one share it. Raises Malformed."""
        found = next((view for key, view in self._views if key is fingerprinter), None)
        if found is None:
            try:
                found = SecretView.from_object(self.obj, fingerprinter, namespace or self.namespace)
            except Malformed as error:
                found = error
            self._views.append((fingerprinter, found))
        if isinstance(found, Malformed):
            raise found
        return found

    @classmethod
    def from_manifest(cls, obj: Mapping[str, Any], *, standing: bool = False) -> EvaluationRequest:
        """An object read from a file or listed from a cluster: judged as if it were being created (and, listed
        by an audit, as it stands: ``standing``)."""
        return cls(obj=obj, standing=standing)

    @classmethod
    def with_secret_view(cls, obj: Mapping[str, Any], fingerprinter: Fingerprinter,
                         view: SecretView | Malformed, *, standing: bool = False) -> EvaluationRequest:
        """A listed Secret already reduced to its view (``engine/projection.py``): ``obj`` holds no data, so
        the rules get the view made with ``fingerprinter`` before the values were dropped."""
        request = cls(obj=obj, standing=standing)
        request._views.append((fingerprinter, view))
        return request

    @classmethod
    def from_admission_request(cls, request: AdmissionRequest) -> EvaluationRequest:
        """From the ``request`` of an AdmissionReview v1; raises Malformed naming the broken field. Every field
        is checked despite its declared type: the review is untrusted JSON."""
        # type(...) is dict first: a parsed review holds dicts, and the Mapping ABC check costs several times more.
        if type(request) is not dict and not isinstance(request, Mapping):
            raise Malformed("request", "missing or not an object")
        operation = request.get("operation")
        if not isinstance(operation, str) or operation not in OPERATIONS:  # a list or a map is unhashable
            got = repr(operation[:40]) if isinstance(operation, str) else f"a {type(operation).__name__}"
            raise Malformed("request.operation", f"expected one of {sorted(OPERATIONS)}, got {got}")
        obj = request.get("object")
        old = request.get("oldObject")
        if operation == "DELETE":
            obj = old
        if type(obj) is not dict and not isinstance(obj, Mapping):
            raise Malformed("request.object", "missing or not an object")
        if old is not None and type(old) is not dict and not isinstance(old, Mapping):
            raise Malformed("request.oldObject", "not an object")
        user = request.get("userInfo")
        user_info = None
        if type(user) is dict or isinstance(user, Mapping):
            groups = user.get("groups") or []
            user_info = UserInfo(
                username=str(user.get("username") or ""),
                groups=tuple(map(str, groups)) if isinstance(groups, list) else (),
            )
        namespace = request.get("namespace")
        name = request.get("name")
        return cls(
            obj=obj,
            old=old,
            operation=str(operation),
            user=user_info,
            namespace=namespace if isinstance(namespace, str) and namespace else None,
            subresource=str(request.get("subResource") or ""),
            name=name if isinstance(name, str) else "",
            dry_run=bool(request.get("dryRun")),
        )
