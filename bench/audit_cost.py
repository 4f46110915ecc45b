"""The background audit's cost on a real API server (docs/audit.md, "Cost"): the host-mode local control plane of
``hack/local-cluster.sh``, tierguard as its host process.

    TIERGUARD_LOCAL_CLUSTER_MODE=host hack/local-cluster.sh up
    python -m bench.audit_cost --kubeconfig .local-cluster/kubeconfig --secrets 10000 --workloads 2000

1. ``tierguard run --audit-interval I`` started on the (nearly empty) cluster, the TierPolicy in audit mode (so
   the shared pairs are admitted), then ``tests.e2e.bulk create``: N namespaces over four tiers, the Secrets,
   the Deployments, P pairs of Secrets sharing a value across two tiers. Created through the running webhook:
   a ``tierguard run`` started on 10k Secrets does not become ready in minutes (kopf's initial listing,
   bench/README.md), so the process is not restarted between the two windows.
2. Baseline window: the bench holds the Lease ``tierguard-audit`` itself (renewed every 4 s), so tierguard is a
   follower: the webhook, its watches and the audit's event handlers run, no pass. CPU = ``/proc/<pid>/stat``
   utime+stime over the window.
3. Audit window: the Lease released, tierguard takes it, runs a full pass at once and one every I seconds; the
   same CPU figure over the same window, the passes' durations from its log, and the reports stored (objects and
   JSON bytes, read back with kubectl). The audit's share at interval I is the difference of the two windows; at
   the chart's default interval (600 s) it scales by I / 600 (between passes nothing changes, nothing runs).
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
AUDIT_POLICY = {"apiVersion": "tierguard.io/v1alpha1", "kind": "TierPolicy", "metadata": {"name": "default"},
                "spec": {"enforcement": {"default": "audit"}}}


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True,
                          text=True, check=True, timeout=300)
    return done.stdout


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15 of stat(5))


def state_dir() -> Path:
    return Path(os.environ.get("TIERGUARD_LOCAL_CLUSTER_DIR", REPO / ".local-cluster")) / "tierguard"


def restart(kubeconfig: str, run_args: str) -> int:
    pid_file = state_dir() / "pid"
    if pid_file.is_file():
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, 15)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
        except ProcessLookupError:
            pass
    env = {"TIERGUARD_READY_TIMEOUT": "900", **os.environ, "TIERGUARD_RUN_ARGS": run_args, "KUBECONFIG": kubeconfig}
    subprocess.run([str(REPO / "hack" / "install-tierguard.sh"), "start"], env=env, check=True, timeout=1000,
                   capture_output=True)
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(AUDIT_POLICY))  # start re-applies the chart's
    return int(pid_file.read_text())


def passes() -> list[dict[str, Any]]:
    found = []
    for line in (state_dir() / "tierguard.log").read_text().splitlines():
        if '"audit pass done"' in line:
            found.append(json.loads(line))
    return found


def window(pid: int, seconds: float) -> float:
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


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
                        help="measure the running host process again (started and filled by an earlier run)")
    args = parser.parse_args()
    out: dict[str, Any] = {"interval_s": args.interval, "window_s": args.window}
    if args.measure_only:
        pid = int((state_dir() / "pid").read_text())
    else:
        pid = restart(args.kubeconfig, f"--audit-interval {args.interval:g}")
        created = subprocess.run(
            [sys.executable, "-m", "tests.e2e.bulk", "create", "--kubeconfig", args.kubeconfig, "--run-id",
             args.run_id, "--namespaces", str(args.namespaces), "--secrets", str(args.secrets), "--workloads",
             str(args.workloads), "--shared", str(args.shared), "--deadline-s", "3600"],
            capture_output=True, text=True, check=True, cwd=REPO)
        out["created"] = json.loads(created.stdout.strip().splitlines()[-1])
    stop = threading.Event()
    holder = threading.Thread(target=hold_lease, args=(args.kubeconfig, stop), daemon=True)
    holder.start()
    time.sleep(30)  # tierguard sees the bench's record change and stops leading; creation's events settle
    out["cpu_follower"] = window(pid, args.window)
    seen = len(passes())
    stop.set()
    holder.join()
    out["cpu_audit"] = window(pid, args.window)
    during = passes()[seen:]
    out["passes_in_window"] = [{k: p.get(k) for k in ("pass", "objects", "scopes", "findings", "seconds")}
                               for p in during]
    out["audit_share_at_interval"] = out["cpu_audit"] - out["cpu_follower"]
    out["audit_share_at_600s"] = out["audit_share_at_interval"] * args.interval / 600
    out["rss_kb"] = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                             if line.startswith("VmRSS:")))
    out["reports"] = reports(args.kubeconfig)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
