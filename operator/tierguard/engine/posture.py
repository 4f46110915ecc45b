"""A namespace's security posture: which of ``spec.namespaces`` it keeps in force.

Pure readings shared by the rule that refuses a weakened namespace (``rules/posture.py``), the audit that
reports one, and the parity matrix that shows each tier's posture beside its sidecars (``parity.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tierguard.policy import NamespacePosture


@dataclass(frozen=True)
class LabelGap:
    """A required label a namespace lacks, or carries with a value the policy does not list."""

    label: str
    wanted: tuple[str, ...]
    """The values that satisfy it; empty: any value."""
    actual: str | None
    """The namespace's value; None: the label is absent."""

    def phrase(self) -> str:
        """``label pod-security.kubernetes.io/enforce is privileged, not one of baseline, restricted``."""
        wanted = f"one of {', '.join(self.wanted)}" if self.wanted else "any value"
        if self.actual is None:
            return f"label {self.label} is missing (wanted: {wanted})"
        return f"label {self.label} is {self.actual!r}, not {wanted}"


def label_gaps(posture: NamespacePosture, labels: Mapping[str, str]) -> tuple[LabelGap, ...]:
    """Each ``requiredLabels`` entry the labels do not satisfy, in the policy's order."""
    gaps = []
    for label, wanted in posture.required_labels.items():
        actual = labels.get(label)
        if actual is None or (wanted and actual not in wanted):
            gaps.append(LabelGap(label, wanted, actual))
    return tuple(gaps)


def _empty_selector(selector: object) -> bool:
    """``{}`` (or null, which the API server defaults to ``{}``): every pod of the namespace."""
    if selector is None:
        return True
    if not isinstance(selector, Mapping):
        return False
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def denies_all_ingress(network_policy: Mapping[str, Any]) -> bool:
    """A NetworkPolicy that selects every pod of its namespace and admits no ingress: ``podSelector: {}``,
    Ingress among its ``policyTypes`` (absent or empty ``policyTypes`` means Ingress, as the API server defaults
    it: ``len(PolicyTypes) == 0``), and no ``ingress`` rule (``ingress: [{}]`` admits everything)."""
    spec = network_policy.get("spec")
    if not isinstance(spec, Mapping) or not _empty_selector(spec.get("podSelector")):
        return False
    types = spec.get("policyTypes")
    if types and (not isinstance(types, list) or "Ingress" not in types):
        return False
    return not spec.get("ingress")


def keeps_default_deny(network_policies: Iterable[Mapping[str, Any]]) -> bool:
    """Whether any of a namespace's NetworkPolicies denies all ingress."""
    return any(denies_all_ingress(policy) for policy in network_policies)
