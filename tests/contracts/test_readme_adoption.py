"""The README's "Adopting tierguard" guide stays valid: every YAML snippet of that section is a policy the real
loader accepts (a TierPolicy document, or chart values whose ``policy`` is the TierPolicy's spec), and the
steps go from audit, through warn, to enforce, tier by tier."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierguard.policy import EnforcementMode, TierPolicy, load_policy

README = Path(__file__).parents[2] / "README.md"
SECTION = "## Adopting tierguard"
_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def section() -> str:
    text = README.read_text()
    assert text.count(SECTION) == 1, f"README.md has no single {SECTION!r} section"
    body = text.split(SECTION, 1)[1]
    return body.split("\n## ", 1)[0]


def snippets() -> list[Any]:
    return [yaml.safe_load(block) for block in _BLOCK.findall(section())]


def as_policy(snippet: Any) -> TierPolicy:
    """A TierPolicy document as ``--policy`` reads it; chart values as the chart renders them (``policy`` is the
    spec, over SPEC's defaults, which are the chart's)."""
    if isinstance(snippet, dict) and snippet.get("kind") == "TierPolicy":
        return load_policy(snippet)
    assert isinstance(snippet, dict) and set(snippet) == {"policy"}, f"not a TierPolicy nor policy values: {snippet}"
    return load_policy({"spec": snippet["policy"]})


SNIPPETS = snippets()


def test_the_section_comes_after_the_install_section() -> None:
    text = README.read_text()
    assert text.index("## Installing in a cluster") < text.index(SECTION)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet-{i}" for i in range(len(SNIPPETS))])
def test_every_snippet_loads(snippet: Any) -> None:
    as_policy(snippet)


def test_the_steps_go_from_audit_through_warn_to_enforce() -> None:
    policies = [as_policy(s) for s in SNIPPETS]
    assert len(policies) >= 5
    modes = [(p.enforcement.default, dict(p.enforcement.per_tier)) for p in policies]
    assert modes[0] == (EnforcementMode.AUDIT, {})
    assert (EnforcementMode.AUDIT, {"dev": EnforcementMode.WARN}) in modes
    assert (EnforcementMode.AUDIT, {"dev": EnforcementMode.ENFORCE, "qa": EnforcementMode.WARN}) in modes
    assert (EnforcementMode.ENFORCE, {}) in modes
    preview = [p for p, s in zip(policies, SNIPPETS, strict=True) if s.get("kind") == "TierPolicy"]
    assert preview and all(p.name != "default" for p in preview)  # a preview never replaces the enforced policy
    assert all(p.required_sidecars for p in preview)  # previewed with the whole policy, sidecars included


def test_the_guide_names_the_tools_to_read_the_reports() -> None:
    text = section()
    for command in ("kubectl get policyreports -A", "tierguard audit", "tierguard parity -o html", "perTier"):
        assert command in text
