"""Who can reach which tier's secret material, and by what path: the model of ``tierguard access``.

Every RoleBinding and ClusterRoleBinding is read as RBAC's authorizer reads it: its role's rules (an aggregated
ClusterRole as the aggregation controller fills it, built-in roles known without a cluster) give the reach paths
of SPEC's "Reach" (``engine/reach.py``), in the binding's namespace, or in every namespace for a
ClusterRoleBinding, to each of its subjects. A subject's tiers are SPEC's "Subjects" (``engine/subjects.py``):
people by ``spec.subjects``, ServiceAccounts by their namespace; a group every subject is in
(``system:authenticated``, ``system:serviceaccounts``, ``system:unauthenticated``) is *everyone*.

A reach *crosses tiers* exactly when ``rbac-cross-tier-subject`` refuses the binding for that subject: both read
subjects and decide crossing by ``engine/binding_subjects.py``. A tiered subject crosses into a tier it does not
belong to, everyone into every tier it reaches (it lets every tier's subjects in), and a ServiceAccount of an
untiered namespace into the tier of a namespace whose RoleBinding binds it (it belongs to no tier, so not to that
one; through a ClusterRoleBinding it crosses nothing, as platform controllers live there). Untiered people are
listed, since their reach is a fact, but never cross: SPEC judges only tiered ones. Namespaces that are untiered
or exempt form the ``untiered`` column, which no reach crosses into.

The matrix: subjects x (the policy's tiers, then ``untiered``); a cell holds the reaches by which the subject
reaches that tier's namespaces. Pure: objects (or any Context) in, a report out; every renderer
(``render/access.py``, ``render/access_html.py``) draws this one report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tierguard.engine.binding_subjects import Standing, Subject, binding_subject
from tierguard.engine.context import Context, OfflineContext
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.model import Malformed, ObjectRef
from tierguard.engine.objects import mapping_at, mappings_at, object_ref, str_at
from tierguard.engine.projection import Projected
from tierguard.engine.reach import PATHS, Reach, reach_of
from tierguard.engine.rules.rbac import cluster_role_rules
from tierguard.engine.tiers import is_exempt, tier_from_labels
from tierguard.kinds import row_of
from tierguard.policy import TierPolicy

UNTIERED = "untiered"
"""The last column: namespaces of no tier (unlabelled, unknown tier, exempt)."""
EVERY_NAMESPACE = "every namespace"
BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})
LISTED_KINDS = ("Namespace", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
"""What ``tierguard access`` lists of a cluster: tiers, roles and bindings (never a Secret)."""
ALL_PATHS = tuple(dict.fromkeys(path.id for path in PATHS))
"""Every path id, in the order messages name them."""
_KIND_ORDER = {"User": 0, "Group": 1, "ServiceAccount": 2}


@dataclass(frozen=True)
class Grant:
    """What one binding gives one subject: the reach paths of its role, where, and which tiers that crosses."""

    subject: Subject
    binding: ObjectRef
    source: str
    role_kind: str
    role_name: str
    namespace: str | None
    """The binding's namespace; None for a ClusterRoleBinding (every namespace)."""
    tier: str | None
    """That namespace's tier; None when it has none (untiered, exempt) or for every namespace."""
    paths: tuple[Reach, ...]
    crosses: tuple[str, ...]
    """The tiers reached that the subject may not reach, in the policy's order."""

    @property
    def where(self) -> str:
        return self.namespace if self.namespace is not None else EVERY_NAMESPACE

    @property
    def role(self) -> str:
        return f"{self.role_kind} {self.role_name}"

    def columns(self, tiers: tuple[str, ...]) -> tuple[str, ...]:
        """The matrix columns this grant reaches: its namespace's tier (or ``untiered``), or every column."""
        if self.namespace is None:
            return (*tiers, UNTIERED)
        return (self.tier or UNTIERED,)


@dataclass(frozen=True)
class Unjudged:
    """A binding whose reach could not be read: its role is unknown, or the binding is malformed."""

    binding: ObjectRef
    source: str
    reason: str


@dataclass
class Cell:
    """One subject's reach into one column's namespaces."""

    grants: list[Grant] = field(default_factory=list)
    crosses: bool = False

    def path_ids(self) -> tuple[str, ...]:
        """The paths, each once, in ``PATHS`` order."""
        found = {reach.path.id for grant in self.grants for reach in grant.paths}
        return tuple(path for path in ALL_PATHS if path in found)

    @property
    def every_namespace(self) -> bool:
        return any(grant.namespace is None for grant in self.grants)

    def namespaces(self) -> tuple[str, ...]:
        """The namespaces reached through RoleBindings, sorted (``every_namespace`` says the rest)."""
        return tuple(sorted({grant.namespace for grant in self.grants if grant.namespace is not None}))


@dataclass
class Row:
    subject: Subject
    standing: Standing
    cells: dict[str, Cell] = field(default_factory=dict)
    """column -> the subject's reach there; a column it does not reach has no cell."""

    @property
    def crosses(self) -> bool:
        return any(cell.crosses for cell in self.cells.values())


@dataclass
class AccessReport:
    tiers: tuple[str, ...]
    subjects: dict[Subject, Row] = field(default_factory=dict)
    grants: list[Grant] = field(default_factory=list)
    """Every grant with a path, in input order (bindings, then their subjects)."""
    unjudged: list[Unjudged] = field(default_factory=list)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.tiers, UNTIERED)

    def rows(self) -> list[Row]:
        """Users, groups, then ServiceAccounts, each by namespace and name."""
        return [self.subjects[s] for s in sorted(self.subjects, key=_row_order)]

    @property
    def crossing(self) -> list[Grant]:
        return [grant for grant in self.grants if grant.crosses]

    @property
    def clean(self) -> bool:
        """No reach crosses tiers: the exit status's verdict."""
        return not self.crossing

    def add(self, grant: Grant, standing: Standing) -> None:
        self.grants.append(grant)
        row = self.subjects.setdefault(grant.subject, Row(grant.subject, standing))
        for column in grant.columns(self.tiers):
            cell = row.cells.setdefault(column, Cell())
            cell.grants.append(grant)
            cell.crosses = cell.crosses or column in grant.crosses


def _row_order(subject: Subject) -> tuple[int, str, str]:
    return _KIND_ORDER[subject.kind], subject.namespace or "", subject.name


# --- reading bindings ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Reader:
    """What reading a binding needs: the context (namespaces, roles) and the policy (tiers, subjects)."""

    context: Context
    policy: TierPolicy
    own_namespace: str | None

    def tier_of(self, namespace: str) -> str | None:
        """A namespace's tier; an exempt one has none here, as the engine judges nothing in it."""
        if is_exempt(namespace, self.policy, self.own_namespace):
            return None
        view = self.context.namespace(namespace)
        return tier_from_labels(view.labels, self.policy) if view is not None else None

    def exempt(self, namespace: str) -> bool:
        return is_exempt(namespace, self.policy, self.own_namespace)

    def subject(self, entry: Mapping[str, Any], path: str, binding: ObjectRef) -> tuple[Subject, Standing]:
        return binding_subject(entry, path, binding.namespace, policy=self.policy, tier_of=self.tier_of,
                               exempt=self.exempt)

    def rules(self, binding: ObjectRef, role_kind: str, role_name: str) -> tuple[Reach, ...] | None:
        if role_kind == "ClusterRole":
            rules = cluster_role_rules(self.context, role_name)
        elif role_kind == "Role" and binding.kind == "RoleBinding":
            rules = self.context.role_rules("Role", binding.namespace, role_name)
        else:
            expected = "ClusterRole" if binding.kind == "ClusterRoleBinding" else "Role or ClusterRole"
            raise Malformed("roleRef.kind", f"expected {expected}, got {role_kind!r}")
        return None if rules is None else reach_of(rules)

    def read(self, obj: Mapping[str, Any], source: str, report: AccessReport) -> None:
        binding = object_ref(obj)
        try:
            role_ref = mapping_at(obj, "roleRef", "roleRef")
            role_kind = str_at(role_ref, "kind", "roleRef.kind", required=True)
            role_name = str_at(role_ref, "name", "roleRef.name", required=True)
            paths = self.rules(binding, role_kind, role_name)
            subjects = [self.subject(entry, path, binding) for entry, path in mappings_at(obj, "subjects", "subjects")]
        except Malformed as error:
            report.unjudged.append(Unjudged(binding, source, f"malformed: {error}"))
            return
        if paths is None:
            role = f"Role {binding.namespace}/{role_name}" if role_kind == "Role" else f"ClusterRole {role_name}"
            report.unjudged.append(Unjudged(binding, source, f"{role} is unknown (not in the input or the cluster)"))
            return
        if not paths:
            return
        namespace = binding.namespace if binding.kind == "RoleBinding" else None
        tier = self.tier_of(namespace) if namespace is not None else None
        for subject, standing in subjects:
            crosses = standing.crosses(cluster_wide=namespace is None, tier=tier, order=self.policy.tiers)
            report.add(Grant(subject, binding, source, role_kind, role_name, namespace, tier, paths, crosses),
                       standing)


def is_binding(obj: Mapping[str, Any]) -> bool:
    row = row_of(obj.get("apiVersion"), obj.get("kind"))
    return row is not None and row.kind in BINDING_KINDS


def access_in_context(bindings: Iterable[tuple[Mapping[str, Any], str]], context: Context, policy: TierPolicy, *,
                      own_namespace: str | None = None) -> AccessReport:
    """The report of ``bindings`` ((object, source) pairs; other kinds are ignored) against any Context: the
    offline one of ``access_report``, or a live one."""
    reader = _Reader(context, policy, own_namespace)
    report = AccessReport(policy.tiers)
    for obj, source in bindings:
        if is_binding(obj):
            reader.read(obj, source, report)
    return report


def access_report(objects: Iterable[tuple[Mapping[str, Any] | Projected, str]], policy: TierPolicy, *,
                  own_namespace: str | None = None,
                  namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
                  fingerprinter: Fingerprinter | None = None) -> AccessReport:
    """``objects`` are (object, source) pairs, from manifests or a cluster listing; all of them are context
    (namespaces, roles), the bindings among them are read. ``namespace_labels``: ``--namespace-tier``."""
    listed = [(item.obj if isinstance(item, Projected) else item, source, item) for item, source in objects]
    context = OfflineContext.from_objects((item for _, _, item in listed), fingerprinter or Fingerprinter.random(),
                                          namespace_labels)
    return access_in_context(((obj, source) for obj, source, _ in listed), context, policy,
                             own_namespace=own_namespace)
