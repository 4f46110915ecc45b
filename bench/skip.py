"""Part 9: the share of a realistic mix the webhook never sees (``skipped_share``).

The mix: every Pod and pod template among the real-world manifests vendored under tests/ (``tests/corpus``: the
projects' own docs and samples, Istio ambient's; ``tests/fixtures``: Istio's injector test data, before and after
injection), each judged by the matchCondition the chart ships for its kind (``vap/skip.py``), evaluated with
cel-python when it is installed (the test extras), else by ``engine/pod_reads.reads_nothing``, which
tests/vap/test_skip_conditions.py holds equal to it. What the skipped requests cost through the API server is
part 4's ``apiserver_skipped_overhead_ratio``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from bench.util import REPO, Figures, note
from tierguard.engine.pod_reads import reads_nothing
from tierguard.engine.podspec import POD_SPEC_PATHS
from tierguard.kinds import group_kinds, row_of
from tierguard.vap.skip import may_be_refused

POD_KINDS = group_kinds(*POD_SPEC_PATHS)
SOURCES = (REPO / "tests" / "corpus", REPO / "tests" / "fixtures")


def workloads(roots: tuple[Path, ...] = SOURCES) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(file, object) for every Pod and pod-template object (of the judged groups) in the YAML files under
    ``roots`` (Istio's ``.injected`` files too), in path order."""
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or not path.name.endswith((".yaml", ".yml", ".yaml.injected")):
                continue
            try:
                documents = list(yaml.safe_load_all(path.read_text()))
            except yaml.YAMLError:
                continue
            for document in documents:
                row = row_of(document.get("apiVersion"), document.get("kind")) if isinstance(document, dict) else None
                if row is not None and row.key in POD_KINDS:  # not Volcano's Job: the webhook never sees it
                    yield str(path.relative_to(REPO)), document


def _skipper() -> Callable[[Mapping[str, Any]], bool]:
    try:
        import celpy  # noqa: PLC0415 - a test extra
    except ImportError:
        note("part 9: cel-python is not installed: the skip is read by pod_reads.reads_nothing")
        return reads_nothing
    environment = celpy.Environment()
    programs = {kind: environment.program(environment.compile(may_be_refused(kind))) for kind in POD_SPEC_PATHS}

    def skipped(obj: Mapping[str, Any]) -> bool:
        return not bool(programs[str(obj["kind"])].evaluate({"object": celpy.json_to_cel(obj)}))
    return skipped


def run(figures: Figures) -> None:
    skipped = _skipper()
    found = list(workloads())
    if not found:
        figures.missing("skipped_share", "no Pod or pod template under tests/corpus or tests/fixtures")
        return
    sent = [f"{path} {obj['kind']} {obj.get('metadata', {}).get('name', '')}" for path, obj in found
            if not skipped(obj)]
    note(f"part 9: {len(found) - len(sent)} of {len(found)} Pods and pod templates skipped; sent: {', '.join(sent)}")
    figures.add("skipped_share", (len(found) - len(sent)) / len(found))
