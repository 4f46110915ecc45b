"""The parity matrix for people (a table, then each gap) and machines (JSON)."""

from __future__ import annotations

import json
from collections import Counter

from tierguard.audit.parity import ParityReport
from tierguard.engine.rules.sidecars import SidecarState


def render_parity_text(report: ParityReport) -> str:
    if not report.sidecars:
        return "no required sidecars in the policy (spec.sidecars.required): nothing to compare"
    width = max(len("required sidecar"), *(len(s) for s in report.sidecars))
    lines = ["  ".join(["required sidecar".ljust(width), *(t.ljust(9) for t in report.tiers)]).rstrip()]
    for sidecar in report.sidecars:
        cells = []
        for tier in report.tiers:
            covered, total = report.covered(sidecar, tier)
            cells.append(f"{covered}/{total}".ljust(9))
        lines.append("  ".join([sidecar.ljust(width), *cells]).rstrip())
    for gap in report.gaps:
        name = f"{gap.ref.namespace}/{gap.ref.name}" if gap.ref.namespace else gap.ref.name
        lines.append(f"{gap.source} {gap.ref.kind} {name}: {gap.sidecar} {gap.state.value} (tier {gap.tier})")
    verdict = "complete" if report.complete else f"incomplete: {len(report.gaps)} gap(s)"
    lines.append(f"parity {verdict}")
    return "\n".join(lines)


def render_parity_json(report: ParityReport) -> str:
    return json.dumps({
        "sidecars": {
            sidecar: {
                tier: {state.value: report.counts.get((sidecar, tier), Counter())[state] for state in SidecarState}
                for tier in report.tiers
            }
            for sidecar in report.sidecars
        },
        "gaps": [{"object": g.ref.as_dict(), "source": g.source, "tier": g.tier, "sidecar": g.sidecar,
                  "state": g.state.value} for g in report.gaps],
        "complete": report.complete,
    }, indent=2)
