"""Crossplane: a managed or composite resource that has Crossplane write its connection Secret (the endpoint,
user and password of what it provisions) into a namespace of another tier than the one it serves.

Reported as ``secret-replication-cross-tier`` (the rule's facts live in ``replication.py``): the object writes
credentials INTO a namespace. What Crossplane does, from its own source (crossplane/crossplane main at 2d040d2,
crossplane-runtime main at 4e7ed23, both after v2.3.4: ``apis/core/v2/resource_cluster.go`` and
``resource_namespace.go``, ``pkg/xcrd/schemas.go`` and ``crd.go``, ``internal/controller/apiextensions/claim/
connection.go``, ``syncer_ssa.go``, ``composite/composition_render.go``):

- Its kinds have no fixed API group (every provider's managed resources, every definition's composite
  resources and claims), so they are chosen by the field, not by a row of the kinds table
  (``tierguard.kinds.BY_FIELD``): any object carrying ``spec.writeConnectionSecretToRef``.
- A cluster-scoped managed resource (``SecretReference``) or legacy composite resource names the Secret's
  ``name`` and ``namespace``: the namespace is free. The object has no namespace of its own; its tier is the
  tier of the claim it serves: ``spec.claimRef.namespace`` (the claim syncer sets it on the composite) or the
  label ``crossplane.io/claim-namespace`` (set on the composite with the claim's name, and copied onto every
  resource it composes). Refused when the Secret's namespace is of another tier (untiered counts as another),
  enforced in the claim's tier (``Finding.tier``). One serving no claim has no tier to compare: admitted.
  A namespace exempt from tierguard (Crossplane's own ``crossplane-system``, where compositions gather
  connection details with ``writeConnectionSecretsToNamespace``, belongs there) is the platform's: admitted.
- A claim, a namespaced composite resource or a namespaced managed resource (Crossplane v2, ``*.m.<provider>``
  groups) has a ``LocalSecretReference``: a name only, the Secret always lands in its own namespace (the
  claim's copy too: ``LocalConnectionSecretFor``). Nothing crosses a tier there; a ``namespace`` written
  anyway is not in those schemas (the API server prunes it, Crossplane never reads it) and is not judged.
- A ``Composition`` (``apiextensions.crossplane.io``, cluster-scoped; a row of the kinds table) with
  ``spec.writeConnectionSecretsToNamespace`` has Crossplane give every legacy composite resource it composes,
  for a claim of any namespace, a connection Secret in that namespace (``composite/api.go``,
  ``APIConfigurator``): a tiered namespace there gathers the credentials of every tier's claims, so it is
  refused, enforced in that tier. An exempt one (Crossplane's own, as its docs write) is the platform's; an
  untiered one is left to each composite, judged against its claim when Crossplane writes it.
- Crossplane v2's modern composite resources (``spec.crossplane``) have no connection Secret at all, and
  ``publishConnectionDetailsTo`` (v1's alpha external secret stores) is gone from v2: neither is judged.

Refused: a cluster-scoped ``RDSInstance`` labelled ``crossplane.io/claim-namespace: dev`` with
``writeConnectionSecretToRef: {namespace: prod, name: db-conn}``. Allowed: ``namespace: dev-b`` (tier dev).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tierguard.engine.candidate import Candidate
from tierguard.engine.model import Finding, Rule, in_tier
from tierguard.engine.objects import labels_of, mapping_at, mappings_at, str_at
from tierguard.engine.rules import RuleFacts, RuleFamily
from tierguard.engine.secrets import secret_ref
from tierguard.kinds import FIELD_BY_ID, GroupKind

FACTS: tuple[RuleFacts, ...] = ()
"""It owns no rule id: what it finds is ``secret-replication-cross-tier`` (``replication.py``)."""
RULES = frozenset({Rule.SECRET_REPLICATION_CROSS_TIER, Rule.POLICY_INVALID})
FIELD = FIELD_BY_ID["crossplane-connection-secrets"]
COMPOSITION = GroupKind("apiextensions.crossplane.io", "Composition")
KINDS: frozenset[GroupKind] = frozenset({COMPOSITION})
"""Compositions; every other kind is chosen by ``FIELD``, whatever its group."""

CLAIM_NAME = "crossplane.io/claim-name"
CLAIM_NAMESPACE = "crossplane.io/claim-namespace"
AT = "spec.writeConnectionSecretToRef"
PATCH_AND_TRANSFORM = "pt.fn.crossplane.io/"
"""function-patch-and-transform's input group: its ``resources`` are composed resources with a ``base``."""


def check(subject: Candidate) -> Iterator[Finding]:
    if subject.namespace is not None:
        return  # a LocalSecretReference: the Secret lands in the object's own namespace
    spec = mapping_at(subject.obj, "spec", "spec")
    if subject.kind == COMPOSITION.kind and not FIELD.carried_by(subject.obj):
        yield from _gathered(subject, spec)
        return
    ref = mapping_at(spec, "writeConnectionSecretToRef", AT)
    namespace = str_at(ref, "namespace", f"{AT}.namespace")
    name = str_at(ref, "name", f"{AT}.name")
    if not namespace or subject.is_exempt(namespace):
        return
    for claim_namespace, claim_name, how in served_claims(subject.obj, spec):
        if subject.is_exempt(claim_namespace):
            continue
        tier = subject.tier_of(claim_namespace)
        if tier is None or not subject.is_other_tier(namespace, tier):
            continue  # a claim of an untiered namespace is not judged, as no object of one is (SPEC)
        claim = f"claim {claim_namespace}/{claim_name}" if claim_name else f"a claim in namespace {claim_namespace}"
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{subject.ref} serves {claim} ({in_tier(tier)}; {how}) and has Crossplane write its connection "
            f"details, credentials of tier {tier}, into Secret {namespace}/{name or '?'} "
            f"({in_tier(subject.tier_of(namespace))}); set {AT}.namespace to a namespace of tier {tier} (Crossplane "
            f"copies the details into the claim's own namespace for it)",
            f"{AT}.namespace",
            tier=tier,
            related=(secret_ref(namespace, name),) if name else (),
        )


def _gathered(subject: Candidate, spec: Mapping[str, Any]) -> Iterator[Finding]:
    """A Composition's fixed namespaces for connection Secrets: ``writeConnectionSecretsToNamespace`` (its
    composites'), and a composed resource's ``base`` naming one no patch replaces (``spec.resources[]``, or a
    function-patch-and-transform step's ``input.resources[]``)."""
    field = "spec.writeConnectionSecretsToNamespace"
    yield from _gathered_into(subject, str_at(spec, "writeConnectionSecretsToNamespace", field), field,
                              "every composite resource it composes")
    inputs = [(mapping_at(step, "input", f"{at}.input"), f"{at}.input")
              for step, at in mappings_at(spec, "pipeline", "spec.pipeline")]
    # Only function-patch-and-transform's input is known; another function's `resources` may be anything.
    steps = [(given, at) for given, at in inputs if str(given.get("apiVersion", "")).startswith(PATCH_AND_TRANSFORM)]
    for holder, at in [(spec, "spec"), *steps]:
        for resource, path in mappings_at(holder, "resources", f"{at}.resources"):
            patched = any(str_at(patch, "toFieldPath", f"{p}.toFieldPath") == f"{AT}.namespace"
                          for patch, p in mappings_at(resource, "patches", f"{path}.patches"))
            base = mapping_at(mapping_at(resource, "base", f"{path}.base"), "spec", f"{path}.base.spec")
            ref_at = f"{path}.base.{AT}"
            ref = mapping_at(base, "writeConnectionSecretToRef", ref_at)
            namespace = str_at(ref, "namespace", f"{ref_at}.namespace")
            if not patched:
                yield from _gathered_into(subject, namespace, f"{ref_at}.namespace",
                                          f"every {str_at(resource, 'name', f'{path}.name') or 'resource'} it composes")


def _gathered_into(subject: Candidate, namespace: str, field: str, what: str) -> Iterator[Finding]:
    tier = subject.tier_of(namespace) if namespace and not subject.is_exempt(namespace) else None
    if tier is not None:
        yield Finding(
            Rule.SECRET_REPLICATION_CROSS_TIER,
            f"{subject.ref} (cluster-scoped) has Crossplane write the connection details of {what}, for claims "
            f"of any tier, into namespace {namespace} (tier {tier}) by {field}; gather them in Crossplane's own "
            f"namespace (exempt), from which Crossplane copies them into each claim's namespace",
            field,
            tier=tier,
        )


def served_claims(obj: Mapping[str, Any], spec: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The claims a cluster-scoped object serves, as (namespace, name, which field says so): a legacy composite's
    ``spec.claimRef``, and the labels Crossplane puts on the composite and copies onto what it composes. Both
    are read (they agree when Crossplane wrote them): each gives the object a tier."""
    served: list[tuple[str, str, str]] = []
    claim_ref = mapping_at(spec, "claimRef", "spec.claimRef")
    namespace = str_at(claim_ref, "namespace", "spec.claimRef.namespace")
    if namespace:
        served.append((namespace, str_at(claim_ref, "name", "spec.claimRef.name"), "spec.claimRef"))
    labels = labels_of(obj)
    labelled = labels.get(CLAIM_NAMESPACE, "").strip()
    if labelled and labelled != namespace:
        served.append((labelled, labels.get(CLAIM_NAME, ""), f"its label {CLAIM_NAMESPACE}"))
    return served


FAMILY = RuleFamily("crossplane", KINDS, RULES, check, FACTS, fields=(FIELD,))
