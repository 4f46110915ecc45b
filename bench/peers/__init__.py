"""Part 6: tierguard against its peers offline, Kyverno's CLI and Gatekeeper's gator, on the same trees.

The same generated tree (bench/peers/tree.py) at each size, an equivalent policy per tool (bench/peers/policies:
the istio-proxy sidecar required in every Pod and pod template of a tiered namespace). Before anything is timed,
each tool runs once on each tree and its violations are compared object by object with the ones the tree was
built with: a tool that disagrees stops the part (``Disagreement``), since figures of tools that do not judge
the same way compare nothing. Then repetitions, each tool in its own process, the order rotated from one
repetition to the next (interleaved: a burst of load from elsewhere lands on every tool): CPU seconds (the
child's user + system from wait4's rusage), wall seconds and peak RSS. ``peer_check_ratio_<peer>`` is the
peer's CPU over tierguard's in the same repetition on the largest tree; the median over repetitions is reported.

The peers come from hack/build-tools.sh (built from the Go module proxy at the versions in hack/versions.env,
cached under ~/.cache/tierguard/tools). A peer that cannot be built has null figures, the reason on stderr.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.peers import tools
from bench.peers.tree import ObjectId, Tree, generate
from bench.util import REPO, Figures, note

PEERS = ("gator", "kyverno")
TOOLS = ("tierguard", "gator", "kyverno", "kyverno_cel")
"""Table order; kyverno_cel is the Kyverno CLI with the CEL ValidatingPolicy, on the small tree only."""
BUILD_TOOLS = REPO / "hack" / "build-tools.sh"


class Disagreement(RuntimeError):
    """A tool's violations are not the tree's: the run stops before timing anything."""


@dataclass(frozen=True)
class Sample:
    cpu_s: float
    wall_s: float
    rss_mb: float
    exit_code: int


def versions() -> dict[str, str]:
    """The pinned versions (hack/versions.env), for the table's heading."""
    pinned: dict[str, str] = {}
    for line in (REPO / "hack" / "versions.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key in ("GATOR_VERSION", "KYVERNO_VERSION"):
            pinned[key.split("_")[0].lower()] = value.strip()
    return pinned


def peer_binary(name: str, build: bool) -> Path:
    """The cached binary of ``name``, built first when ``build`` (minutes); raises with the reason."""
    argv = [str(BUILD_TOOLS), name] if build else [str(BUILD_TOOLS), "--path", name]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"hack/build-tools.sh {name} failed: {result.stderr.strip()[-600:]}")
    path = Path(result.stdout.strip().splitlines()[-1])
    if not build and subprocess.run([str(BUILD_TOOLS), "--check", name], check=False).returncode != 0:
        raise RuntimeError(f"{name} is not built (the smoke run builds nothing): hack/build-tools.sh {name}")
    return path


def measure(argv: list[str], out: Path) -> Sample:
    """Run ``argv`` alone, stdout to ``out``; its own rusage (wait4), not the sum over every child so far."""
    with out.open("wb") as stdout, out.with_suffix(".stderr").open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Sample(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024, process.returncode)


def _judge(tool: tools.Tool, tree: Tree, out: Path) -> tuple[Sample, set[ObjectId]]:
    sample = measure(tool.argv(tree), out)
    if sample.exit_code not in tool.exit_codes:
        stderr = out.with_suffix(".stderr").read_text(errors="replace").strip()
        raise RuntimeError(f"{tool.name} exited {sample.exit_code} on {tree.objects} objects: {stderr[-400:]}")
    return sample, tool.violations(out.read_text())


def reconcile(tool: tools.Tool, tree: Tree, found: set[ObjectId]) -> None:
    """Raise ``Disagreement`` naming the first objects a tool judges differently from the tree's construction."""
    extra, missed = sorted(found - tree.expected), sorted(tree.expected - found)
    if extra or missed:
        raise Disagreement(f"{tool.name} disagrees on {tree.objects} objects: {len(tree.expected)} violate by "
                           f"construction, it flags {len(found)}; wrongly flagged {extra[:3]}, missed {missed[:3]}")


def run(sizes: tuple[int, ...], repetitions: int, figures: Figures, build: bool = True) -> None:
    available = [tools.tierguard()]
    for name in PEERS:
        try:
            binary = peer_binary(name, build)
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            note(f"part 6: {name} left out, its figures null: {error}")
            figures.missing(f"peer_check_ratio_{name}", f"{name} unavailable: {str(error)[:300]}")
            continue
        if name == "gator":
            available.append(tools.gator(binary))
        else:
            available += [tools.kyverno(binary), tools.kyverno(binary, cel=True)]
    with tempfile.TemporaryDirectory(prefix="tierguard-bench-peers-") as tmp:
        trees = [generate(Path(tmp) / f"t{size}", size) for size in sizes]
        for tree in trees:  # every verdict checked before any figure is taken
            for tool in _on(available, tree):
                _, found = _judge(tool, tree, Path(tmp) / f"{tool.name}-{tree.objects}.out")
                reconcile(tool, tree, found)
                note(f"part 6: {tool.name} flags the {len(found)} violations of {tree.objects} objects, "
                     "object by object as built")
        for rep in range(repetitions):
            order = available[rep % len(available):] + available[:rep % len(available)]
            for tree in trees:
                for tool in _on(order, tree):
                    sample, found = _judge(tool, tree, Path(tmp) / f"{tool.name}-{tree.objects}.out")
                    reconcile(tool, tree, found)
                    key = f"{tool.name}_{tree_label(tree)}"
                    figures.add(f"peer_cpu_s_{key}", sample.cpu_s)
                    figures.add(f"peer_wall_s_{key}", sample.wall_s)
                    figures.add(f"peer_rss_mb_{key}", sample.rss_mb)
        for tree in trees:
            figures.add(f"peer_objects_{tree_label(tree)}", tree.objects)
            figures.add(f"peer_violations_{tree_label(tree)}", len(tree.expected))
    largest = tree_label(trees[-1])
    for tool in available[1:]:
        for tree in trees:
            label = tree_label(tree)
            figures.ratio(f"peer_check_ratio_{tool.name}_{label}", f"peer_cpu_s_{tool.name}_{label}",
                          f"peer_cpu_s_tierguard_{label}")
        if tool.name in PEERS:
            figures.ratio(f"peer_check_ratio_{tool.name}", f"peer_cpu_s_{tool.name}_{largest}",
                          f"peer_cpu_s_tierguard_{largest}")


def _on(available: list[tools.Tool], tree: Tree) -> list[tools.Tool]:
    return [tool for tool in available if tool.max_objects is None or tree.objects <= tool.max_objects]


def tree_label(tree: Tree) -> str:
    return f"{round(tree.objects / 1000)}k" if tree.objects >= 1000 else str(tree.objects)
