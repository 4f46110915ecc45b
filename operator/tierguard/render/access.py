"""The access matrix for people (a table of subjects x tiers, then each cross-tier reach with its binding, role and
verb) and machines (JSON); ``access_html`` draws the same report as a page."""

from __future__ import annotations

import json
from typing import Any

from tierguard.access import ALL_PATHS, AccessReport, Cell, Grant, Row, Unjudged
from tierguard.engine.reach import Reach

NONE = "-"
ALL = "all"
"""A cell reached by every path (``cluster-admin``) says so in one word."""
CROSSES = "!"
LEGEND = (f"cells: the paths by which the subject reaches that tier's namespaces; {CROSSES}: crosses tiers; "
          f"{ALL}: every path; {NONE}: none")


def cell_text(cell: Cell | None) -> str:
    """``read-secrets,exec``; ``all``; ``!`` first when the cell crosses tiers; ``-`` without reach."""
    if cell is None:
        return NONE
    paths = cell.path_ids()
    text = ALL if paths == ALL_PATHS else ",".join(paths)
    return CROSSES + text if cell.crosses else text


def reach_text(reach: Reach, where: str) -> str:
    """The engine's phrase, with the RBAC grant where the phrase does not show it (``read Secrets``)."""
    phrase = reach.phrase(where)
    return f"{phrase} ({reach.verb} {reach.resource})" if reach.path.id == "read-secrets" else phrase


def grant_header(report: AccessReport, grant: Grant) -> str:
    """``all.yaml#3 RoleBinding payments-prod/debug: User alice (tier dev) reaches tier prod through ClusterRole
    edit``."""
    standing = report.subjects[grant.subject].standing.describe(report.tiers)
    reached = "tier " + grant.crosses[0] if len(grant.crosses) == 1 else "tiers " + ", ".join(grant.crosses)
    return f"{grant.source} {grant.binding}: {grant.subject} ({standing}) reaches {reached} through {grant.role}"


def unjudged_text(item: Unjudged) -> str:
    return f"not judged: {item.source} {item.binding}: {item.reason}"


def verdict(report: AccessReport) -> str:
    crossing = report.crossing
    if not crossing:
        return f"access: no cross-tier reach ({len(report.subjects)} subject(s) reach secret material)"
    subjects = len({grant.subject for grant in crossing})
    return f"access: {len(crossing)} cross-tier reach(es) by {subjects} subject(s)"


def render_access_text(report: AccessReport) -> str:
    lines: list[str] = []
    if report.subjects:
        header = ["subject", "tiers", *report.columns]
        rows = [[str(row.subject), row.standing.describe(report.tiers),
                 *(cell_text(row.cells.get(column)) for column in report.columns)] for row in report.rows()]
        lines.extend(_table(header, rows))
        lines.append(LEGEND)
    else:
        lines.append("no binding grants a path to secret material")
    if report.crossing:
        lines.extend(["", f"cross-tier reach ({len(report.crossing)}):"])
        for grant in report.crossing:
            lines.append(grant_header(report, grant))
            lines.extend(f"  {reach_text(reach, grant.where)}" for reach in grant.paths)
    lines.extend(unjudged_text(item) for item in report.unjudged)
    lines.append(verdict(report))
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]


# --- JSON ------------------------------------------------------------------------------------------------------

def _cell(cell: Cell | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    return {"paths": list(cell.path_ids()), "crosses": cell.crosses, "namespaces": list(cell.namespaces()),
            "everyNamespace": cell.every_namespace}


def _row(report: AccessReport, row: Row) -> dict[str, Any]:
    standing = row.standing
    return {
        "subject": row.subject.as_dict(),
        "tiers": [tier for tier in report.tiers if tier in standing.tiers.tiers],
        "everyTier": standing.tiers.every,
        "everyone": standing.everyone,
        "tiered": standing.tiered,
        "standing": standing.describe(report.tiers),
        "crosses": row.crosses,
        "cells": {column: _cell(row.cells.get(column)) for column in report.columns},
    }


def _grant(grant: Grant) -> dict[str, Any]:
    return {
        "subject": grant.subject.as_dict(),
        "binding": grant.binding.as_dict(),
        "source": grant.source,
        "role": {"kind": grant.role_kind, "name": grant.role_name},
        "namespace": grant.namespace,
        "tier": grant.tier,
        "paths": [{"id": r.path.id, "verb": r.verb, "resource": r.resource, "phrase": reach_text(r, grant.where)}
                  for r in grant.paths],
        "crosses": list(grant.crosses),
    }


def access_document(report: AccessReport) -> dict[str, Any]:
    """The report as plain data: what ``-o json`` prints (README, "tierguard access", documents its shape)."""
    return {
        "tiers": list(report.tiers),
        "columns": list(report.columns),
        "subjects": [_row(report, row) for row in report.rows()],
        "reaches": [_grant(grant) for grant in report.grants],
        "unjudged": [{"binding": u.binding.as_dict(), "source": u.source, "reason": u.reason}
                     for u in report.unjudged],
        "crossTier": len(report.crossing),
        "clean": report.clean,
    }


def render_access_json(report: AccessReport) -> str:
    return json.dumps(access_document(report), indent=2)
