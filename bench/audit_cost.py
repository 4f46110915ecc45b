"""The background audit's cost on a real API server (docs/audit.md, "Cost"): the host-mode local control plane of
``hack/local-cluster.sh``, tierguard as its host process, restarted with and without the audit.

    TIERGUARD_LOCAL_CLUSTER_MODE=host hack/local-cluster.sh up
    python -m bench.audit_cost --kubeconfig .local-cluster/kubeconfig --secrets 10000 --workloads 2000

1. The TierPolicy in audit mode (so the shared pairs are admitted), then ``tests.e2e.bulk create``: N namespaces
   over four tiers, the Secrets, the Deployments, and P pairs of Secrets sharing a value across two tiers.
2. ``tierguard run --no-audit``: its CPU (``/proc/<pid>/stat`` utime+stime) over a window with no changes.
3. ``tierguard run --audit-interval I``: after its first full pass, its CPU over the same window (several full
   passes at the short interval I), the passes' durations from its log, and the reports stored (objects and
   JSON bytes, read back with kubectl). The audit's share at interval I is the difference of the two windows;
   at the chart's default interval it scales with I / default (between passes nothing changes, nothing runs).
Prints one JSON object. Timings only here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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
    parser.add_argument("--skip-create", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {"interval_s": args.interval, "window_s": args.window}
    restart(args.kubeconfig, "--no-audit")
    if not args.skip_create:
        created = subprocess.run(
            [sys.executable, "-m", "tests.e2e.bulk", "create", "--kubeconfig", args.kubeconfig, "--run-id",
             args.run_id, "--namespaces", str(args.namespaces), "--secrets", str(args.secrets), "--workloads",
             str(args.workloads), "--shared", str(args.shared), "--deadline-s", "3600"],
            capture_output=True, text=True, check=True, cwd=REPO)
        out["created"] = json.loads(created.stdout.strip().splitlines()[-1])
    pid = restart(args.kubeconfig, "--no-audit")
    time.sleep(30)  # the initial listing and its collection settle
    out["cpu_no_audit"] = window(pid, args.window)
    pid = restart(args.kubeconfig, f"--audit-interval {args.interval:g}")
    deadline = time.monotonic() + 600
    while not [p for p in passes() if p.get("pass") == "full"] and time.monotonic() < deadline:
        time.sleep(1)
    first = [p for p in passes() if p.get("pass") == "full"]
    out["first_full_pass"] = first[0] if first else None
    time.sleep(5)
    seen = len(passes())
    out["cpu_audit"] = window(pid, args.window)
    during = passes()[seen:]
    out["passes_in_window"] = [{k: p.get(k) for k in ("pass", "objects", "scopes", "findings", "seconds")}
                               for p in during]
    out["audit_share_at_interval"] = out["cpu_audit"] - out["cpu_no_audit"]
    out["audit_share_at_600s"] = out["audit_share_at_interval"] * args.interval / 600
    out["rss_kb"] = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                             if line.startswith("VmRSS:")))
    out["reports"] = reports(args.kubeconfig)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
