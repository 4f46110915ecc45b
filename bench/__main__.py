"""tierguard's benchmarks: ``python -m bench [--quick | --smoke] [--kubeconfig PATH]``.

Runs every part in one process tree, prints a markdown table, and as its very last line one JSON object with
every figure (``null`` where one could not be measured, the reason on stderr). Figures that compare are
ratios against baselines measured in the same run, repetition by repetition, interleaved; the table shows the
median and the range over repetitions. See bench/README.md for what each figure means.

  part 1  webhook server side: tierguard vs the plain-aiohttp floor vs kopf's no-op admission path
  part 2  engine alone: evaluate() per second per review body
  part 3  index scale (needs an API server: --kubeconfig)
  part 4  through the API server (needs an API server: --kubeconfig)
  part 5  tierguard check objects/s vs PyYAML's C loader parsing the same files
  part 6  peers offline: tierguard check vs gator test vs kyverno apply on the same trees (not a default part:
          builds the peers from the Go module proxy the first time, about 12 minutes, then about 3 per run)
  part 7  peers through the API server: no webhook, the floor, tierguard, Kyverno's admission controller and
          Gatekeeper's webhook on the kind cluster, one at a time for one namespace (not a default part: needs
          --kubeconfig, and builds the peers and their images the first time)
  part 8  the fleet offline: a tier's published sets, their bytes, CPU and hub requests (issue 28)
  part 9  the share of the real-world Pods and pod templates in tests/ the webhook's matchConditions skip
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import check, engine, skip, webhook
from bench.peers.apiserver import Plan7
from bench.util import REPO, Figures, note


@dataclass(frozen=True)
class Plan:
    name: str
    webhook: webhook.WebhookPlan
    engine_evaluations: int
    engine_repetitions: int
    check_objects: int
    check_repetitions: int
    index_secrets: int
    index_namespaces: int
    api_pods: int
    ready_timeout: float = 600.0
    peer_sizes: tuple[int, ...] = (1000, 10000)
    peer_repetitions: int = 3
    peer_build: bool = True
    fleet_values: int = 100_000
    admission: Plan7 = field(default_factory=Plan7)


PLANS = {
    "full": Plan("full", webhook.WebhookPlan(repetitions=3, throughput_seconds=8, latency_seconds=15),
                 engine_evaluations=3000, engine_repetitions=3, check_objects=10000, check_repetitions=3,
                 index_secrets=100_000, index_namespaces=5000, api_pods=200,
                 admission=Plan7(rounds=6, fixed=400, saturated=600)),
    "quick": Plan("quick", webhook.WebhookPlan(repetitions=2, throughput_seconds=3, latency_seconds=5),
                  engine_evaluations=1500, engine_repetitions=2, check_objects=10000, check_repetitions=2,
                  index_secrets=10_000, index_namespaces=500, api_pods=50, ready_timeout=240.0,
                  peer_repetitions=1, fleet_values=100_000),
    "smoke": Plan("smoke", webhook.WebhookPlan(repetitions=1, throughput_seconds=1, latency_seconds=0.5,
                                               namespaces=40, secrets=400),
                  engine_evaluations=20, engine_repetitions=1, check_objects=60, check_repetitions=1,
                  index_secrets=0, index_namespaces=0, api_pods=0, peer_sizes=(100,), peer_repetitions=1,
                  peer_build=False, fleet_values=500,
                  admission=Plan7(rounds=1, fixed=10, saturated=10, build=False)),
}

# key -> (source figure, unit, target text, predicate on the median)
Target = tuple[str, str, str, Callable[[float], bool] | None]
KEYS: dict[str, Target] = {
    "p50_ms": ("tierguard_p50_ms", "ms", "", None),
    "p99_ms": ("tierguard_p99_ms", "ms", "", None),
    "floor_p99_ms": ("floor_p99_ms", "ms", "", None),
    "p99_ratio": ("p99_ratio", "x", "<= 1.2", lambda v: v <= 1.2),
    "throughput_rps": ("tierguard_rps", "reviews/s", "", None),
    "noop_throughput_rps": ("kopf_rps", "reviews/s", "", None),
    "throughput_ratio": ("throughput_ratio", "x", ">= 2.0", lambda v: v >= 2.0),
    "floor_throughput_rps": ("floor_rps", "reviews/s", "", None),
    "floor_throughput_ratio": ("floor_throughput_ratio", "x", ">= 0.70", lambda v: v >= 0.70),
    "cpu_us_per_review": ("tierguard_cpu_us", "us", "", None),
    "engine_evals_per_s": ("engine_pods_per_s", "evals/s", ">= 20000", lambda v: v >= 20000),
    "index_100k_rss_mb": ("index_rss_mb", "MB", "<= 200", lambda v: v <= 200),
    "index_100k_ready_s": ("index_ready_s", "s", "", None),
    "index_ready_ratio": ("index_ready_ratio", "x", "<= 1.5", lambda v: v <= 1.5),
    "apiserver_overhead_ratio": ("apiserver_overhead_ratio", "x", "<= 1.3", lambda v: v <= 1.3),
    "check_objects_per_s": ("check_objects_per_s", "objects/s", ">= 5000", lambda v: v >= 5000),
    "check_parse_ratio": ("check_parse_ratio", "x", "<= 2.0", lambda v: v <= 2.0),
    "peer_check_ratio_kyverno": ("peer_check_ratio_kyverno", "x", "", None),
    "peer_check_ratio_gator": ("peer_check_ratio_gator", "x", "", None),
    "peer_admission_ratio_kyverno": ("peer_admission_ratio_kyverno", "x", "", None),
    "peer_admission_ratio_gatekeeper": ("peer_admission_ratio_gatekeeper", "x", "", None),
    "fleet_published_kb": ("fleet_published_kb", "KB", "", None),
    "fleet_publish_cpu_ratio": ("fleet_publish_cpu_ratio", "x", "", None),
    "fleet_read_cpu_ratio": ("fleet_read_cpu_ratio", "x", "", None),
    "fleet_hub_requests_read": ("fleet_hub_requests_read", "requests", "", None),
    "fleet_hub_requests_publish": ("fleet_hub_requests_publish", "requests", "", None),
    "skipped_share": ("skipped_share", "share", "", None),
}
EXTRA: dict[str, Target] = {
    "noop_p99_ms": ("kopf_p99_ms", "ms", "", None),
    "floor_p50_ms": ("floor_p50_ms", "ms", "", None),
    "noop_cpu_us_per_review": ("kopf_cpu_us", "us", "", None),
    "floor_cpu_us_per_review": ("floor_cpu_us", "us", "", None),
    "cpu_floor_ratio": ("cpu_floor_ratio", "x", "", None),
    "cpu_noop_ratio": ("cpu_noop_ratio", "x", "", None),
    "engine_secret_evals_per_s": ("engine_secrets_per_s", "evals/s", "", None),
    "engine_deployment_evals_per_s": ("engine_deployments_per_s", "evals/s", "", None),
    "index_list_s": ("index_list_s", "s", "", None),
    "index_rss_not_ready_mb": ("index_rss_not_ready_mb", "MB", "", None),
    "apiserver_floor_overhead_ratio": ("apiserver_floor_overhead_ratio", "x", "", None),
    "apiserver_vs_floor_ratio": ("apiserver_vs_floor_ratio", "x", "", None),
    "apiserver_skipped_overhead_ratio": ("apiserver_skipped_overhead_ratio", "x", "~1.0 (as no webhook)", None),
    "rolebinding_cpu_us_per_review": ("tierguard_cpu_us_rolebindings", "us", "", None),
    "rolebinding_cpu_floor_ratio": ("rolebinding_cpu_floor_ratio", "x", "", None),
    "connect_cpu_us_per_review": ("tierguard_cpu_us_pods-exec", "us", "", None),
    "connect_cpu_floor_ratio": ("connect_cpu_floor_ratio", "x", "", None),
    "engine_rolebinding_evals_per_s": ("engine_rolebindings_per_s", "evals/s", "", None),
    "engine_connect_evals_per_s": ("engine_pods-exec_per_s", "evals/s", "", None),
    "fleet_objects": ("fleet_objects", "objects", "", None),
    "fleet_lookup_us": ("fleet_lookup_us", "us", "", None),
    "fleet_seen_within_s": ("fleet_seen_within_s", "s", "", None),
    "fleet_rotation_published_kb": ("fleet_rotation_published_kb", "KB", "", None),
    "fleet_rotation_lookup_us": ("fleet_rotation_lookup_us", "us", "", None),
}
PARTS_OF = {"p50_ms": 1, "p99_ms": 1, "floor_p99_ms": 1, "p99_ratio": 1, "throughput_rps": 1,
            "noop_throughput_rps": 1, "throughput_ratio": 1, "floor_throughput_rps": 1,
            "floor_throughput_ratio": 1, "cpu_us_per_review": 1, "engine_evals_per_s": 2,
            "index_100k_rss_mb": 3, "index_100k_ready_s": 3, "index_ready_ratio": 3,
            "apiserver_overhead_ratio": 4, "check_objects_per_s": 5, "check_parse_ratio": 5,
            "peer_check_ratio_kyverno": 6, "peer_check_ratio_gator": 6, "peer_admission_ratio_kyverno": 7,
            "peer_admission_ratio_gatekeeper": 7, "fleet_published_kb": 8,
            "fleet_publish_cpu_ratio": 8, "fleet_read_cpu_ratio": 8, "fleet_hub_requests_read": 8,
            "fleet_hub_requests_publish": 8, "skipped_share": 9}


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _run_part(part: int, label: str, action: Callable[[], None], figures: Figures) -> None:
    started = time.perf_counter()
    try:
        action()
    except Exception as error:  # a part that breaks leaves its figures null, with why
        reason = f"part {part} ({label}) failed: {type(error).__name__}: {str(error)[:300]}"
        note(reason)
        for key, part_of in PARTS_OF.items():
            if part_of == part:
                figures.missing(KEYS[key][0], reason)
    note(f"part {part} ({label}) took {time.perf_counter() - started:.1f}s")


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="plan",
                      help="fewer repetitions and shorter runs (under 3 minutes)")
    size.add_argument("--smoke", action="store_const", const="smoke", dest="plan",
                      help="the smallest run, for the unit test: shape only, figures meaningless")
    parser.add_argument("--parts", default="1,2,3,4,5,8,9",
                        help="comma-separated part numbers (default: 1 to 5, 8 and 9; parts 6 and 7, the peers, only "
                             "on request: minutes, and a build of them the first time)")
    parser.add_argument("--kubeconfig", type=Path, help="an API server for parts 3 and 4 (hack/local-cluster.sh)")
    parser.add_argument("--host-address", help="part 4: where the API server reaches this host, for the floor server "
                                               "(default: $TIERGUARD_E2E_HOST_ADDRESS, else the local kind cluster's "
                                               "Docker network gateway, hack/local-cluster.sh host-address)")
    parser.add_argument("--kind-cluster", default=os.environ.get("TIERGUARD_KIND_CLUSTER", "tierguard"),
                        help="part 7: the kind cluster of --kubeconfig, to load the peers' images into and read their "
                             "containers' cgroups on its node (default: $TIERGUARD_KIND_CLUSTER, else tierguard)")
    options = parser.parse_args(argv)
    plan = PLANS[options.plan or "full"]
    parts = {int(p) for p in options.parts.split(",") if p.strip()}
    figures = Figures()
    started = time.perf_counter()

    if 2 in parts:
        _run_part(2, "engine", lambda: engine.run(plan.engine_evaluations, plan.engine_repetitions,
                                                  plan.webhook.namespaces, plan.webhook.secrets, figures), figures)
    if 1 in parts:
        _run_part(1, "webhook server", lambda: webhook.run(plan.webhook, figures), figures)
        figures.ratio("p99_ratio", "tierguard_p99_ms", "floor_p99_ms")
        figures.ratio("throughput_ratio", "tierguard_rps", "kopf_rps")
        figures.ratio("floor_throughput_ratio", "tierguard_rps", "floor_rps")
        # The same two comparisons from server CPU per review (floor's / tierguard's): what the throughput
        # ratios would be on idle cores, steadier than them when other processes share the machine.
        figures.ratio("cpu_floor_ratio", "floor_cpu_us", "tierguard_cpu_us")
        figures.ratio("cpu_noop_ratio", "kopf_cpu_us", "tierguard_cpu_us")
        # People's access, each review alone: floor CPU / tierguard CPU, as cpu_floor_ratio for the mix.
        figures.ratio("rolebinding_cpu_floor_ratio", "floor_cpu_us_rolebindings", "tierguard_cpu_us_rolebindings")
        figures.ratio("connect_cpu_floor_ratio", "floor_cpu_us_pods-exec", "tierguard_cpu_us_pods-exec")
    if 5 in parts:
        _run_part(5, "tierguard check", lambda: check.run(plan.check_objects, plan.check_repetitions, figures),
                  figures)
    if 8 in parts:
        from bench import fleet  # noqa: PLC0415

        _run_part(8, "fleet offline", lambda: fleet.run(plan.fleet_values, plan.engine_repetitions, figures), figures)
    if 9 in parts:
        _run_part(9, "skipped share", lambda: skip.run(figures), figures)
    failed = False
    if 6 in parts:
        from bench import peers  # noqa: PLC0415 - part 6 only

        def _peers() -> None:
            nonlocal failed
            try:
                peers.run(plan.peer_sizes, plan.peer_repetitions, figures, build=plan.peer_build)
            except peers.Disagreement:
                failed = True  # the tools judge differently: loud, and the exit status says so
                raise

        _run_part(6, "peers offline", _peers, figures)
    if 7 in parts:
        if options.kubeconfig is None:
            reason = ("part 7 needs the local kind cluster: hack/local-cluster.sh up (tierguard judging the sidecar "
                      "in its webhook: see bench/README.md), then --kubeconfig .local-cluster/kubeconfig")
            for key in ("peer_admission_ratio_kyverno", "peer_admission_ratio_gatekeeper"):
                figures.missing(KEYS[key][0], reason)
        else:
            from bench.peers import apiserver  # noqa: PLC0415 - needs a cluster

            _run_part(7, "peers through the API server", lambda: apiserver.run(
                options.kubeconfig, options.kind_cluster, plan.admission, figures, options.host_address), figures)
    if parts & {3, 4}:
        if options.kubeconfig is None or plan.index_secrets == 0:
            reason = ("parts 3 and 4 need a Kubernetes API server: start one with hack/local-cluster.sh up "
                      "and pass --kubeconfig .local-cluster/kubeconfig")
            for key in ("index_100k_rss_mb", "index_100k_ready_s", "index_ready_ratio", "apiserver_overhead_ratio"):
                figures.missing(KEYS[key][0], reason)
        else:
            from bench.cluster import apiserver_overhead, index_scale  # noqa: PLC0415 - needs a cluster

            if 3 in parts:
                _run_part(3, "index scale", lambda: index_scale(
                    options.kubeconfig, plan.index_secrets, plan.index_namespaces, figures,
                    repetitions=plan.webhook.repetitions, ready_timeout=plan.ready_timeout), figures)
            if 4 in parts:
                _run_part(4, "through the API server", lambda: apiserver_overhead(
                    options.kubeconfig, plan.api_pods, figures, address=options.host_address), figures)

    report: dict[str, object] = {}
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\n### tierguard bench ({plan.name}): commit {_commit()}, {when}, {_cpu_model()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}\n")
    print("| figure | median | range over repetitions | target | met |")
    print("|---|---|---|---|---|")
    for key, (source, unit, target, met) in {**KEYS, **EXTRA}.items():
        median = figures.median(source)
        span = figures.span(source)
        report[key] = None if median is None else round(median, 4)
        if median is None and key in KEYS:
            note(f"{key} is null: {figures.reasons.get(source, 'not measured in this run (see the notes above)')}")
        ok = "" if met is None or median is None else ("yes" if met(median) else "**no**")
        spread = "" if span is None else f"{_fmt(span[0])} to {_fmt(span[1])}"
        print(f"| `{key}` ({unit}) | {_fmt(median)} | {spread} | {target} | {ok} |")
    if 6 in parts:
        _peer_table(figures, report)
    if 7 in parts:
        _admission_table(figures, report)
    report["mode"] = plan.name
    report["commit"] = _commit()
    report["seconds"] = round(time.perf_counter() - started, 1)
    print()
    print(json.dumps(report), flush=True)
    return 1 if failed else 0


def _peer_table(figures: Figures, report: dict[str, object]) -> None:
    """Part 6's per tool and tree figures: a table of their own, and the same medians in the JSON line."""
    from bench import peers  # noqa: PLC0415 - part 6 only

    pinned = peers.versions()
    labels = sorted({name.rsplit("_", 1)[1] for name in figures.values if name.startswith("peer_objects_")},
                    key=lambda label: figures.median(f"peer_objects_{label}") or 0)
    print(f"\n#### part 6, peers offline (gator {pinned.get('gator')}, Kyverno CLI {pinned.get('kyverno')}; "
          "medians, range over repetitions)\n")
    print("| tool | objects | violations | CPU s | wall s | peak RSS MB | CPU / tierguard's |")
    print("|---|---|---|---|---|---|---|")
    for label in labels:
        for tool in peers.TOOLS:
            key = f"{tool}_{label}"
            if f"peer_cpu_s_{key}" not in figures.values:
                continue
            cells = []
            for figure in (f"peer_cpu_s_{key}", f"peer_wall_s_{key}", f"peer_rss_mb_{key}"):
                median, span = figures.median(figure), figures.span(figure)
                report[figure] = None if median is None else round(median, 4)
                cells.append(f"{_fmt(median)}" + ("" if span is None else f" ({_fmt(span[0])} to {_fmt(span[1])})"))
            ratio = figures.median(f"peer_check_ratio_{key}")
            if ratio is not None:
                report[f"peer_check_ratio_{key}"] = round(ratio, 4)
            objects, violations = (int(figures.median(f"peer_{what}_{label}") or 0)
                                   for what in ("objects", "violations"))
            print(f"| {tool} | {objects:,} | {violations:,} | {' | '.join(cells)} | "
                  f"{'' if ratio is None else _fmt(ratio)} |")
        report[f"peer_violations_{label}"] = figures.median(f"peer_violations_{label}")


def _admission_table(figures: Figures, report: dict[str, object]) -> None:
    """Part 7's per server figures: a table of their own, and the same medians in the JSON line."""
    from bench.peers import deploy, manifests  # noqa: PLC0415 - part 7 only

    pinned = deploy.pinned()
    print(f"\n#### part 7, through the API server (Kyverno {pinned.get('KYVERNO_ADMISSION_VERSION')}, Gatekeeper "
          f"{pinned.get('GATEKEEPER_VERSION')}; medians, range over rounds)\n")
    columns = ("admission_added_p50_ms", "admission_added_p99_ms", "apiserver_overhead_ratio",
               "admission_saturated_rps", "admission_cpu_us_per_review", "admission_idle_cpu_ms_per_s",
               "admission_rss_mb")
    print("| server | added p50 ms | added p99 ms | saturated time / none's | saturated creations/s | CPU us per "
          "review | idle CPU ms/s | RSS MB per pod |")
    print("|---|---|---|---|---|---|---|---|")
    for key in ("admission_p50_ms_none", "admission_p99_ms_none", "peer_admission_cpu_ratio_kyverno",
                "peer_admission_cpu_ratio_gatekeeper"):
        median = figures.median(key)
        report[key] = None if median is None else round(median, 4)
    for server in manifests.SERVERS:
        cells = []
        for column in columns:
            figure = f"{column}_{server}"
            median, span = figures.median(figure), figures.span(figure)
            if median is not None:
                report[figure] = round(median, 4)
            cells.append(_fmt(median) + ("" if span is None else f" ({_fmt(span[0])} to {_fmt(span[1])})"))
        print(f"| {server} | {' | '.join(cells)} |")


if __name__ == "__main__":
    sys.exit(main())
