"""``session-cross-tier``: a session into a pod by a subject of another tier: ``kubectl exec``, ``attach`` or
``port-forward`` (the API server's CONNECT of ``pods/exec``, ``pods/attach``, ``pods/portforward``), or adding
an ephemeral container (``kubectl debug``: an UPDATE of ``pods/ephemeralcontainers``). A session reads what the
pod mounts, so it reaches its namespace's Secrets as surely as a binding that reads them.

The requester's tiers are SPEC's (``engine/subjects.py``): a user's and each group's by ``spec.subjects``, a
ServiceAccount's by its namespace; ``platform`` subjects, ``system:masters`` and ServiceAccounts of exempt
namespaces (tierguard's own included) act in every tier. An untiered requester is not judged, nor is a pod in an
untiered or exempt namespace (the engine skips those), nor a request without a user (``tierguard check``).

Refused, with ``subjects.perTier: {dev: {groups: [team-*-dev]}}``: ``kubectl exec -n payments-prod api`` by
user bob of group ``team-payments-dev``; ``kubectl debug -n payments-prod api --image=busybox`` by him (a new
ephemeral container). Allowed: his exec into a pod of ``payments-dev``; an update of the pod's ephemeral
containers that adds none; exec by a ``platform`` group, ``system:masters`` or a user no entry names.

Break-glass is by group: a CONNECT carries no object to annotate with a reason, so a member of
``exemptions.breakGlass.groups`` is admitted with a warning (``member of break-glass group <g>``), logged and
counted like any break-glass.
"""

from __future__ import annotations

from collections.abc import Iterator

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.objects import mapping_at, objects_at, str_at
from tierguard.engine.rules import RuleFacts, RuleFamily, owned
from tierguard.engine.subjects import requester_name
from tierguard.kinds import connect_kinds, connect_of, group_kinds

FACTS = (
    RuleFacts(Rule.SESSION_CROSS_TIER,
              "An exec, attach or port-forward into a pod, or an ephemeral container added to it, by a subject of "
              "another tier.",
              break_glass_by_group=True),
)
RULES = owned(FACTS)
KINDS = connect_kinds("PodExecOptions", "PodAttachOptions", "PodPortForwardOptions") | group_kinds("Pod")

ADVICE = "a subject may open sessions only into pods of its own tiers"
_ACTIONS = {"exec": "exec into", "attach": "attach to", "portforward": "port-forward to"}
"""How a message names each CONNECT subresource's session."""
EPHEMERAL = "ephemeralcontainers"
REQUESTER_PATH = "request.userInfo"
"""Where a CONNECT's fault lies: nothing in its options body, only who sent it."""


def check(subject: Candidate) -> Iterator[Finding]:
    user = subject.request.user
    if user is None:  # offline: no one is opening anything
        return
    session = _session(subject)
    if session is None:
        return
    action, path = session
    tiers = subject.requester_tiers(user)
    if not tiers.tiered or tiers.may_reach(subject.tier):
        return
    yield Finding(
        Rule.SESSION_CROSS_TIER,
        f"{action} {subject.ref} ({in_tier(subject.tier)}) by {requester_name(user.username)} "
        f"({tiers.describe(subject.policy.tiers)}): "
        f"{ADVICE}",
        path,
    )


def _session(subject: Candidate) -> tuple[str, str] | None:
    """What session the request opens, as a message names it, and the path at fault; None: not a session."""
    request = subject.request
    if request.operation == "CONNECT":
        target = connect_of(subject.obj.get("apiVersion"), subject.obj.get("kind"))
        if target is None:
            return None
        action = _ACTIONS.get(target[1].subresource, f"{target[1].subresource} into")
        container = str_at(subject.obj, "container", "container")  # a string when given: the body is read as sent
        return (f"{action} container {container} of" if container else action), REQUESTER_PATH
    if request.operation == "UPDATE" and request.subresource == EPHEMERAL and subject.kind == "Pod":
        added = _added_ephemeral(subject)
        if not added:
            return None
        names, index = added
        plural = "s" if len(names) > 1 else ""
        return (f"adding ephemeral container{plural} {', '.join(names)} to",
                f"spec.ephemeralContainers[{index}]")
    return None


def _added_ephemeral(subject: Candidate) -> tuple[list[str], int] | None:
    """The names of the ephemeral containers the update adds, and the index of the first; None: it adds none."""
    path = "spec.ephemeralContainers"
    new = objects_at(mapping_at(subject.obj, "spec", "spec"), "ephemeralContainers", path)
    old_spec = mapping_at(subject.old, "spec", "oldObject.spec") if subject.old is not None else {}
    before = {str_at(container, "name", f"oldObject.{path}[{index}].name")
              for index, container in enumerate(objects_at(old_spec, "ephemeralContainers", f"oldObject.{path}"))}
    added = [(index, str_at(container, "name", f"{path}[{index}].name", required=True))
             for index, container in enumerate(new)]
    names = [name for _, name in added if name not in before]
    if not names:
        return None
    return names, next(index for index, name in added if name not in before)


FAMILY = RuleFamily("sessions", KINDS, RULES, check, FACTS)
