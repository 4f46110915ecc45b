"""hack/kind/kindnetd/kindnetd.py, kind's kindnetd's offline stand-in: its parts, then the program end to end."""

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "kind" / "kindnetd" / "kindnetd.py"
_spec = importlib.util.spec_from_file_location("kindnetd", SCRIPT)
assert _spec is not None and _spec.loader is not None
kindnetd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kindnetd)


def node(name: str, ips: Sequence[str], cidrs: Sequence[str] = ()) -> dict[str, Any]:
    """A v1 Node as the API serves it, with the fields kindnetd reads and a few it must ignore."""
    spec = {"podCIDR": cidrs[0], "podCIDRs": list(cidrs)} if cidrs else {}
    addresses = [{"type": "InternalIP", "address": ip} for ip in ips] + [{"type": "Hostname", "address": name}]
    return {"metadata": {"name": name, "labels": {}}, "spec": spec, "status": {"addresses": addresses}}


def nodes(*items: dict[str, Any]) -> Any:
    return kindnetd.parse_nodes({"kind": "NodeList", "apiVersion": "v1", "items": list(items)})


CLUSTER = [node("kind-control-plane", ["172.18.0.2"], ["10.244.0.0/24"]),
           node("kind-worker", ["172.18.0.3"], ["10.244.1.0/24"]), node("kind-worker2", ["172.18.0.4"])]  # no CIDR yet
TOKEN = "s3cr3t-token-value"
IP_ADDR = """1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    inet 127.0.0.1/8 scope host lo
12: eth0@if13: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP group default
    inet 172.18.0.2/16 brd 172.18.255.255 scope global eth0
    inet6 fc00:f853:ccd:e793::2/64 scope global nodad
"""


class FakeIp:
    """`ip` for Kindnetd(run=...): records argv, answers `ip addr show` with IP_ADDR, fails on argv in `failing`."""
    def __init__(self, *failing: str) -> None:
        self.calls: list[list[str]] = []
        self.failing = set(failing)

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        out = IP_ADDR if argv == ["ip", "addr", "show"] else ""
        return subprocess.CompletedProcess(argv, 2 if set(argv) & self.failing else 0, out, "RTNETLINK: unreachable")


def daemon(tmp_path: Path, run: FakeIp, host_ip: str = "172.18.0.2", **env: str) -> Any:
    env = {"HOST_IP": host_ip, "KINDNETD_API_SERVER": "http://127.0.0.1:1", "KINDNETD_CNI_DIR": str(tmp_path), **env}
    return kindnetd.Kindnetd(env, run=run)


def test_conflist_is_kindnets_single_and_dual_stack() -> None:
    ptp = {"type": "ptp", "ipMasq": False, "ipam": {"type": "host-local", "dataDir": "/run/cni-ipam-state",
           "routes": [{"dst": "0.0.0.0/0"}], "ranges": [[{"subnet": "10.244.1.0/24"}]]}, "mtu": 1500}
    want = {"cniVersion": "0.3.1", "name": "kindnet",
            "plugins": [ptp, {"type": "portmap", "capabilities": {"portMappings": True}}]}
    assert kindnetd.render_conflist(["10.244.1.0/24"], 1500) == json.dumps(want, indent=2) + "\n"  # byte for byte
    dual = json.loads(kindnetd.render_conflist(["10.244.1.0/24", "fd00:10:244:1::/64"], 1400))
    assert dual["plugins"][0]["mtu"] == 1400 and dual["plugins"][1] == want["plugins"][1]
    assert dual["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.1.0/24"}], [{"subnet": "fd00:10:244:1::/64"}]]
    assert dual["plugins"][0]["ipam"]["routes"] == [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
    ipam = json.loads(kindnetd.render_conflist(["fd00:10:244:1::/64"], 1500))["plugins"][0]["ipam"]
    assert (ipam["routes"], ipam["ranges"]) == ([{"dst": "::/0"}], [[{"subnet": "fd00:10:244:1::/64"}]])
    with pytest.raises(ValueError):
        kindnetd.render_conflist(["10.244.1.0/33"], 1500)


def test_own_node_is_the_one_with_host_ip_as_internal_ip() -> None:
    assert kindnetd.own_node(nodes(*CLUSTER), "172.18.0.3") == ("kind-worker", ["172.18.0.3"], ["10.244.1.0/24"])
    assert kindnetd.own_node(nodes(*CLUSTER), "172.18.0.9") is None
    external = node("n1", [], ["10.244.5.0/24"])  # only an InternalIP counts, not an ExternalIP equal to HOST_IP
    external["status"]["addresses"].append({"type": "ExternalIP", "address": "172.18.0.9"})
    assert kindnetd.own_node(nodes(external), "172.18.0.9") is None
    v6 = nodes(node("v6", ["fc00:f853:ccd:e793:0:0:0:3"], ["fd00:10:244:1::/64"]))
    assert kindnetd.own_node(v6, "fc00:f853:ccd:e793::3") == v6[0]  # any spelling of an IPv6 HOST_IP
    del (old := node("old", ["172.18.0.5"], ["10.244.7.0/24"]))["spec"]["podCIDRs"]  # the legacy spec.podCIDR counts
    assert nodes(old) == [("old", ["172.18.0.5"], ["10.244.7.0/24"])]


def test_route_plan_covers_other_nodes_with_pod_cidrs_via_an_internal_ip_of_the_family() -> None:
    plan = kindnetd.plan_routes
    assert plan(nodes(*CLUSTER), "172.18.0.2") == {"10.244.1.0/24": ("172.18.0.3", "kind-worker")}
    # From the worker's side: the control plane only; worker2 has no podCIDR, and no route to its own CIDR.
    assert plan(nodes(*CLUSTER), "172.18.0.3") == {"10.244.0.0/24": ("172.18.0.2", "kind-control-plane")}
    dual = plan(nodes(node("cp", ["172.18.0.2", "fc00::2"], ["10.244.0.0/24", "fd00:10:244::/64"]),
                      node("w1", ["fc00::3", "172.18.0.3"], ["10.244.1.0/24", "fd00:10:244:1::/64"]),
                      node("w2", ["172.18.0.4"], ["10.244.2.0/24", "fd00:10:244:2::/64"])), "172.18.0.2")  # w2: no v6
    assert {dst: via for dst, (via, _) in dual.items()} == {
        "10.244.1.0/24": "172.18.0.3", "fd00:10:244:1::/64": "fc00::3", "10.244.2.0/24": "172.18.0.4"}


def test_mtu_is_the_one_of_the_interface_holding_host_ip(tmp_path: Path) -> None:
    for host_ip, mtu in ("172.18.0.2", 1450), ("fc00:f853:ccd:e793:0::2", 1450), ("127.0.0.1", 65536), ("::9", 1500):
        assert daemon(tmp_path, FakeIp(), host_ip).mtu == mtu  # ::9: no such interface, the default
    fake = FakeIp()
    assert daemon(tmp_path, fake, KINDNETD_MTU="1400").mtu == 1400 and fake.calls == []


def test_write_is_atomic_and_only_on_change(tmp_path: Path) -> None:
    path, content = tmp_path / "net.d" / "10-kindnet.conflist", kindnetd.render_conflist(["10.244.1.0/24"], 1500)
    assert kindnetd.write_if_changed(path, content) is True
    assert path.read_text() == content and path.stat().st_mode & 0o777 == 0o644
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # an old mtime, so a rewrite could not go unseen
    before = path.stat()
    assert kindnetd.write_if_changed(path, content) is False
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == (before.st_mtime_ns, before.st_ino)
    changed = kindnetd.render_conflist(["10.244.1.0/24", "fd00:10:244:1::/64"], 1500)
    assert kindnetd.write_if_changed(path, changed) is True and path.read_text() == changed
    assert path.stat().st_ino != before.st_ino  # a new file renamed over the old one, not rewritten in place
    assert [p.name for p in path.parent.iterdir()] == ["10-kindnet.conflist"]  # no temporary file left


def test_sync_writes_config_and_routes_removes_stale_ones_logs_changes_only_and_survives_ip_failures(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    kd = daemon(tmp_path, fake := FakeIp(), KINDNETD_MTU="1500")
    kd.sync(nodes(*CLUSTER))
    ipam = json.loads((tmp_path / "10-kindnet.conflist").read_text())["plugins"][0]["ipam"]
    assert ipam["ranges"] == [[{"subnet": "10.244.0.0/24"}]]
    assert fake.calls == [["ip", "route", "replace", "10.244.1.0/24", "via", "172.18.0.3"]]
    first = len(caplog.records)
    kd.sync(nodes(*CLUSTER))  # nothing changed: the route is refreshed, nothing is logged
    assert fake.calls[-1] == fake.calls[0] and len(caplog.records) == first > 0
    fake.calls.clear()  # kind-worker goes away, kind-worker2 gets a CIDR: a route for it, kind-worker's is deleted
    kd.sync(nodes(CLUSTER[0], worker2 := node("kind-worker2", ["172.18.0.4"], ["10.244.2.0/24"])))
    assert fake.calls == [["ip", "route", "replace", "10.244.2.0/24", "via", "172.18.0.4"],
                          ["ip", "route", "del", "10.244.1.0/24", "via", "172.18.0.3"]]
    messages = " | ".join(record.getMessage() for record in caplog.records[first:])
    assert "10.244.2.0/24 via 172.18.0.4" in messages and "removed route 10.244.1.0/24" in messages
    fake.failing, fake.calls = {"10.244.3.0/24"}, []  # a failing `ip` is logged, the next one still runs
    kd.sync(cluster := nodes(CLUSTER[0], node("w3", ["172.18.0.5"], ["10.244.3.0/24"]), worker2))
    assert [call[3] for call in fake.calls] == ["10.244.3.0/24", "10.244.2.0/24"] and "RTNETLINK" in caplog.text
    fake.failing.clear()
    kd.sync(cluster)  # and it is retried on the next round
    assert kd.routes == {"10.244.2.0/24": "172.18.0.4", "10.244.3.0/24": "172.18.0.5"}


def test_pod_traffic_to_outside_the_pod_subnet_is_masqueraded_once_per_subnet(tmp_path: Path) -> None:
    """Another kind cluster's API server, on the kind network, answers the node's address, not a pod's (a pod
    address of its own pod subnet, which it routes to its own pods)."""
    class Iptables(FakeIp):
        def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
            missing = argv[:1] in (["iptables"], ["ip6tables"]) and "-C" in argv and argv not in self.added
            if argv[:1] != ["ip"] and "-A" in argv:
                self.added.append([part if part != "-A" else "-C" for part in argv])
            self.calls.append(argv)
            return subprocess.CompletedProcess(argv, 1 if missing else 0, "", "")

    fake = Iptables()
    fake.added = []  # type: ignore[attr-defined]
    kd = daemon(tmp_path, fake, KINDNETD_MTU="1500", POD_SUBNET="10.244.0.0/16,fd00:10:244::/56")
    kd.sync(nodes(*CLUSTER))
    rule = ["POSTROUTING", "-s", "10.244.0.0/16", "!", "-d", "10.244.0.0/16", "-m", "comment", "--comment",
            "kindnetd: pods to outside the cluster", "-j", "MASQUERADE"]
    assert ["iptables", "-t", "nat", "-A", *rule] in fake.calls
    assert any(call[:4] == ["ip6tables", "-t", "nat", "-A"] and "fd00:10:244::/56" in call for call in fake.calls)
    fake.calls.clear()
    kd.sync(nodes(*CLUSTER))  # found: not added twice
    assert not [call for call in fake.calls if "-A" in call]
    assert kd.masquerading == {"10.244.0.0/16", "fd00:10:244::/56"}


def test_settings_from_env() -> None:
    kd = kindnetd.Kindnetd({"HOST_IP": "172.18.0.2", "KUBERNETES_SERVICE_HOST": "fd00:10:96::1"}, run=FakeIp())
    assert kd.api == "https://[fd00:10:96::1]:443"
    assert (kd.token_file, kd.ca_file) == ("/var/run/secrets/kubernetes.io/serviceaccount/token",
                                           "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
    assert (str(kd.conflist), kd.mtu, kd.resync) == ("/etc/cni/net.d/10-kindnet.conflist", 1450, 10.0)
    with pytest.raises(ValueError, match="HOST_IP"):
        kindnetd.Kindnetd({"KINDNETD_API_SERVER": "http://127.0.0.1:1"}, run=FakeIp())
    result = subprocess.run([sys.executable, str(SCRIPT)], env={"KINDNETD_API_SERVER": "http://127.0.0.1:1"},
                            capture_output=True, text=True, timeout=20, check=False)
    assert result.returncode == 1 and "bad configuration" in result.stdout


class FakeApi(BaseHTTPRequestHandler):
    """GET /api/v1/nodes with the bearer token; the first request fails, as an API server not ready yet would."""
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        code, body = ((503, {"kind": "Status"}) if type(self).requests == 1 else
                      (401, {"kind": "Status"}) if self.headers.get("Authorization") != f"Bearer {TOKEN}" else
                      (200, {"kind": "NodeList", "items": CLUSTER}) if self.path == "/api/v1/nodes" else (404, {}))
        self.send_response(code)
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())


def test_the_program_writes_the_conflist_adds_routes_and_stops_on_sigterm(tmp_path: Path) -> None:
    assert os.access(SCRIPT, os.X_OK) and SCRIPT.read_text().startswith("#!/usr/bin/env python3\n")
    (bin_dir := tmp_path / "bin").mkdir()
    (ip := bin_dir / "ip").write_text(  # an `ip` that records its argv (a JSON list a line), answers `ip addr show`
        f"#!{sys.executable}\nimport json, sys\nwith open({str(tmp_path / 'ip-calls')!r}, 'a') as f:\n"
        f"    f.write(json.dumps(sys.argv[1:]) + '\\n')\nif sys.argv[1:] == ['addr', 'show']:\n"
        f"    print({IP_ADDR!r})\n")
    ip.chmod(0o755)
    for tool in ("iptables", "ip6tables"):  # never the host's: the rule it adds goes to a file
        (fake_tool := bin_dir / tool).write_text(
            f"#!{sys.executable}\nimport json, sys\nwith open({str(tmp_path / 'iptables-calls')!r}, 'a') as f:\n"
            f"    f.write(json.dumps(sys.argv[1:]) + '\\n')\nsys.exit(1 if '-C' in sys.argv else 0)\n")
        fake_tool.chmod(0o755)
    (token := tmp_path / "token").write_text(TOKEN + "\n")
    server, FakeApi.requests = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi), 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOST_IP": "172.18.0.2", "POD_IP": "172.18.0.2",
           "POD_SUBNET": "10.244.0.0/16", "KINDNETD_API_SERVER": f"http://127.0.0.1:{server.server_address[1]}",
           "KINDNETD_TOKEN_FILE": str(token), "KINDNETD_CA_FILE": str(tmp_path / "no-ca.crt"),
           "KINDNETD_CNI_DIR": str(tmp_path / "net.d"), "KINDNETD_RESYNC_SECONDS": "0.2"}
    process = subprocess.Popen([sys.executable, str(SCRIPT)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    conflist, record = tmp_path / "net.d" / "10-kindnet.conflist", tmp_path / "ip-calls"
    want, deadline = ["route", "replace", "10.244.1.0/24", "via", "172.18.0.3"], time.monotonic() + 20
    calls: list[list[str]] = []
    try:
        while not (conflist.exists() and want in calls and FakeApi.requests >= 3):  # 3: it went on after the 503
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, f"no conflist or route in time; `ip` calls: {calls}"
            time.sleep(0.05)
            calls = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        ptp = json.loads(conflist.read_text())["plugins"][0]
        assert ptp["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]
        assert ptp["mtu"] == 1450  # from the fake `ip addr show`, for the interface holding HOST_IP
        assert all(call[2] == "10.244.1.0/24" for call in calls if call[:1] == ["route"])  # not its own, nor worker2's
        masquerade = [json.loads(line) for line in (tmp_path / "iptables-calls").read_text().splitlines()]
        assert masquerade[1][:9] == \
            ["-t", "nat", "-A", "POSTROUTING", "-s", "10.244.0.0/16", "!", "-d", "10.244.0.0/16"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=5)[0]  # a TimeoutExpired fails the test
        finally:
            process.kill()  # a no-op once it has exited
            server.shutdown()
            server.server_close()
    assert process.returncode == 0, output
    assert "503" in output and "10.244.1.0/24 via 172.18.0.3" in output and "stopping on signal" in output
    assert TOKEN not in output and output.count("wrote ") == 1  # the conflist is rewritten only on change
