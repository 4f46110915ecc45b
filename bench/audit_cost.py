"""The background audit's cost on a real API server (docs/audit.md, "Cost"): the local kind cluster of
``hack/local-cluster.sh``, tierguard as its chart installs it (the release ``tierguard``, two replicas).

    hack/local-cluster.sh up && eval "$(hack/local-cluster.sh env)"     # kubectl and helm on PATH
    python -m bench.audit_cost --kubeconfig .local-cluster/kubeconfig --secrets 10000 --workloads 2000

1. ``helm upgrade --reuse-values --set audit.enabled=true --set audit.interval=I --set
   audit.reports.installCRDs=true`` on the (nearly empty) cluster (the replicas restarted with the interval), the
   TierPolicy in audit mode (so the shared pairs are admitted), then ``tests.e2e.support.bulk create``: N namespaces
   over four tiers, the Secrets, the Deployments, P pairs of Secrets sharing a value across two tiers. Created through
   the running webhook: a replica started on 10k Secrets does not become ready in minutes (kopf's initial listing,
   bench/README.md), so the replicas are not restarted between the two windows (checked: the same pods, no
   container restart).
2. Baseline window: the bench holds the Lease ``tierguard-audit`` itself (renewed every 4 s), so every replica is
   a follower: the webhook, its watches and the audit's event handlers run, no pass. CPU = utime+stime of each
   replica's tierguard process (``/proc/1/stat`` in its container, read with ``kubectl exec``), summed over the
   replicas, over the window.
3. Audit window: the Lease released, a replica takes it, runs a full pass at once and one every I seconds; the
   same CPU figure over the same window, the passes' durations from the replicas' logs, and the reports stored
   (objects and JSON bytes, read back with kubectl). The audit's share at interval I is the difference of the two
   windows; at the chart's default interval (600 s) it scales by I / 600 (between passes nothing changes, nothing
   runs).
Prints one JSON object. Timings only here, never in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
"""Clock ticks a second: the kernel's, the same inside the node's containers."""
NAMESPACE = "tierguard-system"
RELEASE = "tierguard"
SELECTOR = "app.kubernetes.io/name=tierguard"
PROC_PROBE = "print(open('/proc/1/stat').read()); print(open('/proc/1/status').read())"
"""Run in each replica's container: its tierguard process (pid 1), CPU ticks and memory."""
AUDIT_POLICY = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
                "spec": {"enforcement": {"default": "audit"}}}


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True,
                          text=True, check=True, timeout=300)
    return done.stdout


def replicas(kubeconfig: str) -> dict[str, str]:
    """The running replicas: pod name -> uid and container restarts (a change between windows voids them)."""
    items = json.loads(kubectl(kubeconfig, "get", "pods", "-n", NAMESPACE, "-l", SELECTOR, "-o", "json"))["items"]
    found = {pod["metadata"]["name"]: f"{pod['metadata']['uid']}/"
             f"{sum(s.get('restartCount', 0) for s in pod['status'].get('containerStatuses') or [])}"
             for pod in items if not pod["metadata"].get("deletionTimestamp")}
    if not found:
        raise SystemExit(f"no tierguard pods in {NAMESPACE}: install the chart first (hack/local-cluster.sh up)")
    return found


def proc(kubeconfig: str, pod: str) -> tuple[float, int]:
    """(CPU seconds, RSS kB) of the replica's tierguard process."""
    stat, status = kubectl(kubeconfig, "exec", "-n", NAMESPACE, pod, "-c", "tierguard", "--", "python3", "-c",
                           PROC_PROBE).split("\n", 1)
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15 of stat(5))
    rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return cpu, rss


def cpu_seconds(kubeconfig: str, pods: dict[str, str]) -> float:
    return sum(proc(kubeconfig, pod)[0] for pod in pods)


def configure(kubeconfig: str, interval: float) -> None:
    """The release's audit on, every ``interval`` seconds, with the report CRDs it writes (a rollout), then the
    TierPolicy in audit mode."""
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    subprocess.run(["helm", "upgrade", RELEASE, str(REPO / "charts" / "tierguard"), "-n", NAMESPACE,
                    "--reuse-values", "--set", "audit.enabled=true", "--set", f"audit.interval={interval:g}",
                    "--set", "audit.reports.installCRDs=true", "--force-conflicts",  # the TierPolicy: see below
                    "--wait", "--timeout", "15m"], env=env, check=True, timeout=1000, capture_output=True)
    kubectl(kubeconfig, "rollout", "status", f"deployment/{RELEASE}", "-n", NAMESPACE, "--timeout=15m")
    # The upgrade applied the chart's TierPolicy (taking its fields back from an earlier run's apply); now audit.
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(AUDIT_POLICY))


def passes(kubeconfig: str, pods: dict[str, str]) -> list[dict[str, Any]]:
    found = []
    for pod in pods:
        for line in kubectl(kubeconfig, "logs", "-n", NAMESPACE, pod, "-c", "tierguard", "--tail=-1").splitlines():
            if '"audit pass done"' in line:
                found.append(json.loads(line))
    return found


def window(kubeconfig: str, pods: dict[str, str], seconds: float) -> float:
    before, started = cpu_seconds(kubeconfig, pods), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(kubeconfig, pods) - before) / (time.monotonic() - started)


def reports(kubeconfig: str) -> dict[str, Any]:
    objects, total = 0, 0
    for kind in ("policyreports.wgpolicyk8s.io", "clusterpolicyreports.wgpolicyk8s.io"):
        items = json.loads(kubectl(kubeconfig, "get", kind, "-A", "-l", "app.kubernetes.io/managed-by=tierguard",
                                   "-o", "json"))["items"]
        objects += len(items)
        for item in items:
            item["metadata"].pop("managedFields", None)
            total += len(json.dumps(item, separators=(",", ":")))
    return {"objects": objects, "bytes": total}


def hold_lease(kubeconfig: str, stop: threading.Event) -> None:
    """Keep the Lease in the bench's name until ``stop``; then release it (empty holder)."""
    def write(holder: str | None) -> None:
        lease = json.loads(kubectl(kubeconfig, "get", "lease", "tierguard-audit", "-n", "tierguard-system",
                                   "-o", "json"))
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        lease["spec"].update({"holderIdentity": holder, "renewTime": now, "leaseDurationSeconds": 15})
        kubectl(kubeconfig, "replace", "-f", "-", stdin=json.dumps(lease))

    while not stop.is_set():
        with contextlib.suppress(subprocess.CalledProcessError):  # a conflict with tierguard's renewal
            write("bench-holds-the-lease")
        stop.wait(4)
    write(None)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_cost")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--run-id", default="cost")
    parser.add_argument("--namespaces", type=int, default=500)
    parser.add_argument("--secrets", type=int, default=10000)
    parser.add_argument("--workloads", type=int, default=2000)
    parser.add_argument("--shared", type=int, default=50)
    parser.add_argument("--interval", type=float, default=60)
    parser.add_argument("--window", type=float, default=300)
    parser.add_argument("--measure-only", action="store_true",
                        help="measure the running replicas again (configured and filled by an earlier run)")
    args = parser.parse_args()
    out: dict[str, Any] = {"interval_s": args.interval, "window_s": args.window}
    if not args.measure_only:
        configure(args.kubeconfig, args.interval)
        created = subprocess.run(
            [sys.executable, "-m", "tests.e2e.support.bulk", "create", "--kubeconfig", args.kubeconfig, "--run-id",
             args.run_id, "--namespaces", str(args.namespaces), "--secrets", str(args.secrets), "--workloads",
             str(args.workloads), "--shared", str(args.shared), "--deadline-s", "3600"],
            capture_output=True, text=True, check=True, cwd=REPO)
        out["created"] = json.loads(created.stdout.strip().splitlines()[-1])
    pods = replicas(args.kubeconfig)
    stop = threading.Event()
    holder = threading.Thread(target=hold_lease, args=(args.kubeconfig, stop), daemon=True)
    holder.start()
    time.sleep(30)  # tierguard sees the bench's record change and stops leading; creation's events settle
    out["cpu_follower"] = window(args.kubeconfig, pods, args.window)
    seen = len(passes(args.kubeconfig, pods))
    stop.set()
    holder.join()
    out["cpu_audit"] = window(args.kubeconfig, pods, args.window)
    if replicas(args.kubeconfig) != pods:
        raise SystemExit(f"the replicas changed during the windows (a restart): {pods} -> {replicas(args.kubeconfig)}")
    during = passes(args.kubeconfig, pods)[seen:]
    out["passes_in_window"] = [{k: p.get(k) for k in ("pass", "objects", "scopes", "findings", "seconds")}
                               for p in during]
    out["audit_share_at_interval"] = out["cpu_audit"] - out["cpu_follower"]
    out["audit_share_at_600s"] = out["audit_share_at_interval"] * args.interval / 600
    out["rss_kb"] = {pod: proc(args.kubeconfig, pod)[1] for pod in pods}
    out["reports"] = reports(args.kubeconfig)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
