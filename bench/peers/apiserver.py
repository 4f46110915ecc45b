"""Part 7: tierguard and its peers through the same API server (``--parts 7 --kubeconfig``, the local kind cluster
with tierguard installed by its chart, the sidecar rule judged by its webhook: see bench/README.md).

Five arms for one tiered namespace, ``bench-peers``: no webhook, the do-nothing floor (``bench.serve floor`` on
this host), tierguard, Kyverno's admission controller, Gatekeeper's webhook; only the chosen arm's webhook is
registered for the namespace (``manifests.ARM_LABEL``). Each verdict is checked before anything is timed
(``verdicts.check``). Then rounds, the arms' order rotated from one round to the next; per arm a fixed-rate batch
(open loop) and a saturated batch (closed loop) of dry-run creations of the same admitted Pod, the server's CPU
and RSS read from its containers' cgroups around them (``usage.py``). Figures, each within a round:
``apiserver_overhead_ratio_<server>`` (saturated wall time / no webhook's), ``admission_added_p50_ms_<server>``
and ``_p99_`` (fixed rate, over no webhook's), ``admission_cpu_us_per_review_<server>``,
``admission_idle_cpu_ms_per_s_<server>`` (its CPU rate while other arms ran, subtracted from the first),
``admission_rss_mb_<server>`` (per pod), ``peer_admission_ratio_<peer>`` = the peer's added p50 / tierguard's,
and ``peer_admission_cpu_ratio_<peer>`` = the peer's CPU per review / tierguard's.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.peers import deploy, latency, load, manifests, usage, verdicts
from bench.util import Figures, note, stop

NAMESPACE = "bench-peers"
SETTLE_S = 1.5
"""After relabelling the namespace: the API server's namespace informer and the servers' caches see it."""
SERVED = {"tierguard": ("tierguard-system", "tierguard-"), "kyverno": ("kyverno", "kyverno-admission-controller-"),
          "gatekeeper": ("gatekeeper-system", "gatekeeper-controller-manager-")}
"""Where each server's pods run (namespace, pod name prefix), for their cgroups."""


@dataclass(frozen=True)
class Plan7:
    rounds: int = 4
    rate: float = 40.0
    fixed: int = 200
    saturated: int = 300
    concurrency: int = 8
    build: bool = True


def _client(kubeconfig: Path) -> Any:
    from kubernetes import client, config  # noqa: PLC0415

    api_client = config.new_client_from_config(str(kubeconfig))  # type: ignore[no-untyped-call]
    return client, api_client


class Arms:
    """Switches the namespace between servers; narrows tierguard's webhooks away and puts them back."""

    def __init__(self, kubeconfig: Path) -> None:
        client, api_client = _client(kubeconfig)
        self.core = client.CoreV1Api(api_client)
        self.admission = client.AdmissionregistrationV1Api(api_client)
        self.api_client = api_client
        self.saved: dict[str, list[dict[str, Any]]] = {}

    def prepare(self) -> None:
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        try:
            self.core.create_namespace({"metadata": {"name": NAMESPACE, "labels": {
                "tierguard.io/tier": "dev", manifests.ARM_LABEL: "none"}}})
        except ApiException as error:
            if error.status != 409:
                raise
        for config in self.admission.list_validating_webhook_configuration().items:
            if any("tierguard.io" in (w.name or "") and "bench" not in (w.name or "") for w in config.webhooks or []):
                body = self.api_client.sanitize_for_serialization(config)
                self.saved[body["metadata"]["name"]] = body["webhooks"]
                body["webhooks"] = manifests.narrow_away(body["webhooks"])
                self.admission.replace_validating_webhook_configuration(body["metadata"]["name"], body)
        if not self.saved:
            raise RuntimeError("no tierguard ValidatingWebhookConfiguration in the cluster (hack/local-cluster.sh up)")

    def choose(self, server: str) -> None:
        self.core.patch_namespace(NAMESPACE, {"metadata": {"labels": {manifests.ARM_LABEL: server}}})
        time.sleep(SETTLE_S)

    def restore(self) -> None:
        for name, webhooks in self.saved.items():
            body = self.api_client.sanitize_for_serialization(
                self.admission.read_validating_webhook_configuration(name))
            body["webhooks"] = webhooks
            self.admission.replace_validating_webhook_configuration(name, body)


def _verify(creator: load.Creator, arms: Arms, server: str, seconds: float = 120) -> None:
    """``verdicts.check`` for ``server``, tried again while its policy may still be loading."""
    arms.choose(server)
    deadline = time.monotonic() + seconds
    while True:
        try:
            verdicts.check(server, creator.create(_body(sidecar=False)), creator.create(_body(sidecar=True)))
            note(f"part 7: {server}: " + ("the Pod without the sidecar refused by its webhook, the one with it "
                                          "admitted" if server in verdicts.WEBHOOKS else "both Pods admitted"))
            return
        except verdicts.Mismatch:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)


def _body(sidecar: bool) -> bytes:
    return json.dumps(load.pod("bench-verdict", sidecar=sidecar)).encode()


def _usage(node: str, servers: list[str]) -> dict[str, usage.Usage]:
    """Every running server's containers' usage now (one ``crictl stats`` of the node)."""
    text = usage.sample(node)
    return {server: usage.parse(text, *SERVED[server]) for server in servers if server in SERVED}


def run(kubeconfig: Path, kind_cluster: str, plan: Plan7, figures: Figures, host_address: str | None) -> None:
    from bench import cluster as part4  # noqa: PLC0415 - its floor server, and where the API server reaches us

    cluster = deploy.Cluster(kubeconfig, kind_cluster)
    address = host_address or part4.host_address()
    servers = ["none", "floor", "tierguard"]
    for name, peer in deploy.PEERS.items():
        started = time.perf_counter()
        try:
            deploy.install(cluster, peer, plan.build)
            servers.append(name)
            note(f"part 7: {name} installed in {time.perf_counter() - started:.0f}s")
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
            reason = f"{name} could not be built or run here: {str(error)[:600]}"
            note(f"part 7: {reason}")
            for figure in (f"peer_admission_ratio_{name}", f"apiserver_overhead_ratio_{name}"):
                figures.missing(figure, reason)
    node = f"{kind_cluster}-control-plane"
    arms = Arms(kubeconfig)
    with tempfile.TemporaryDirectory(prefix="tierguard-bench-peers-floor-") as tmp:
        floor, url = part4._start_floor(Path(tmp) / "certs", address)
        creator = load.Creator(kubeconfig, NAMESPACE, max(plan.concurrency, 16))
        try:
            ca = base64.b64encode((Path(tmp) / "certs" / "ca.crt").read_bytes()).decode()
            cluster.apply([manifests.floor_webhook(url, ca)])
            arms.prepare()
            for server in servers:
                _verify(creator, arms, server)
            for round_index in range(plan.rounds):
                shift = round_index % len(servers)
                _round(creator, arms, servers[shift:] + servers[:shift], plan, (node, figures))
                note(f"part 7: round {round_index + 1} of {plan.rounds} done")
        finally:
            creator.close()
            arms.choose("none")
            arms.restore()
            arms.admission.delete_validating_webhook_configuration(manifests.FLOOR_CONFIG)
            stop(floor)


def _round(creator: load.Creator, arms: Arms, order: list[str], plan: Plan7, into: tuple[str, Figures]) -> None:
    """One round: every arm in ``order``; ``into`` is the kind node to read cgroups on and the figures."""
    node, figures = into
    fixed: dict[str, load.Batch] = {}
    full: dict[str, load.Batch] = {}
    spans: dict[str, tuple[dict[str, usage.Usage], dict[str, usage.Usage], float]] = {}
    body = load.pod("bench-peer")
    for server in order:
        arms.choose(server)
        load.saturated(creator, body, 10, 2)  # warm: connections, caches
        before, started = _usage(node, order), time.perf_counter()
        fixed[server] = load.fixed_rate(creator, body, plan.rate, plan.fixed, workers=16)
        full[server] = load.saturated(creator, body, plan.saturated, plan.concurrency)
        spans[server] = (before, _usage(node, order), time.perf_counter() - started)
        figures.add(f"admission_saturated_rps_{server}", plan.saturated / full[server].wall_s)
    _cpu(spans, plan.fixed + plan.saturated, figures)
    none = fixed["none"].latencies
    figures.add("admission_p50_ms_none", latency.percentile(none, 50) * 1000)
    figures.add("admission_p99_ms_none", latency.percentile(none, 99) * 1000)
    added = {}
    for server in order:
        if server == "none":
            continue
        added[server] = latency.added_ms(fixed[server].latencies, none, 50)
        figures.add(f"admission_added_p50_ms_{server}", added[server])
        figures.add(f"admission_added_p99_ms_{server}", latency.added_ms(fixed[server].latencies, none, 99))
        figures.add(f"apiserver_overhead_ratio_{server}", full[server].wall_s / full["none"].wall_s)
    for peer in deploy.PEERS:
        if peer in added:
            ratio = latency.peer_ratio(added[peer], added["tierguard"])
            if ratio is None:
                note(f"part 7: tierguard added {added['tierguard']:.2f} ms at p50 this round: no "
                     f"peer_admission_ratio_{peer} for it")
            else:
                figures.add(f"peer_admission_ratio_{peer}", ratio)


def _cpu(spans: dict[str, tuple[dict[str, usage.Usage], dict[str, usage.Usage], float]], reviews: int,
         figures: Figures) -> None:
    """Per server: CPU per review net of its idle rate (measured while the other arms ran), RSS per pod."""
    per_review: dict[str, float] = {}
    for server in SERVED:
        if server not in spans:
            continue
        before, after, busy_s = spans[server]
        idle_ns = sum(a[server].cpu_ns - b[server].cpu_ns for arm, (b, a, _) in spans.items() if arm != server)
        idle_s = sum(seconds for arm, (_, _, seconds) in spans.items() if arm != server)
        per_review[server] = latency.cpu_us_per_review(
            after[server].cpu_ns - before[server].cpu_ns, busy_s, idle_ns, idle_s, reviews)
        figures.add(f"admission_cpu_us_per_review_{server}", per_review[server])
        figures.add(f"admission_idle_cpu_ms_per_s_{server}", idle_ns / 1e6 / idle_s)
        figures.add(f"admission_rss_mb_{server}", after[server].rss_bytes / 2**20 / after[server].containers)
    for peer in deploy.PEERS:
        if peer in per_review and per_review.get("tierguard", 0) > 0:
            figures.add(f"peer_admission_cpu_ratio_{peer}", per_review[peer] / per_review["tierguard"])
