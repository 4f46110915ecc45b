"""hack/kind/kindnetd/kindnetd.py, the offline stand-in for kind's kindnetd: the CNI config it writes, the node it
takes for its own, the routes it plans, the atomic write-on-change, and the program end to end against a fake API
server with a fake `ip`."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "hack" / "kind" / "kindnetd" / "kindnetd.py"


def load_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("kindnetd", str(SCRIPT))
    spec = importlib.util.spec_from_loader("kindnetd", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kindnetd"] = module  # dataclasses look their module up while the script is executing
    loader.exec_module(module)
    return module


kindnetd = load_script()


def node(name: str, ips: Sequence[str], cidrs: Sequence[str] = (), legacy: str | None = None) -> dict[str, Any]:
    """A v1 Node as the API serves it, with the fields kindnetd reads and a few it must ignore."""
    spec: dict[str, Any] = {"providerID": f"kind://docker/kind/{name}"}
    if cidrs:
        spec["podCIDR"] = cidrs[0]
        spec["podCIDRs"] = list(cidrs)
    if legacy is not None:
        spec["podCIDR"] = legacy
    addresses = [{"type": "InternalIP", "address": ip} for ip in ips] + [{"type": "Hostname", "address": name}]
    return {"metadata": {"name": name, "labels": {}}, "spec": spec, "status": {"addresses": addresses}}


def node_list(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": list(nodes)}


CLUSTER = node_list(
    node("kind-control-plane", ["172.18.0.2"], ["10.244.0.0/24"]),
    node("kind-worker", ["172.18.0.3"], ["10.244.1.0/24"]),
    node("kind-worker2", ["172.18.0.4"]),  # no podCIDR yet
)


# --- the CNI config ---------------------------------------------------------------------------------------------


def test_conflist_for_one_ipv4_cidr_is_kindnets() -> None:
    assert json.loads(kindnetd.render_conflist(["10.244.1.0/24"], 1500)) == {
        "cniVersion": "0.3.1",
        "name": "kindnet",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "dataDir": "/run/cni-ipam-state",
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "ranges": [[{"subnet": "10.244.1.0/24"}]],
                },
                "mtu": 1500,
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def test_conflist_for_dual_stack_has_a_range_per_cidr_and_both_default_routes() -> None:
    conflist = json.loads(kindnetd.render_conflist(["10.244.1.0/24", "fd00:10:244:1::/64"], 1400))
    ptp = conflist["plugins"][0]
    assert ptp["type"] == "ptp" and ptp["mtu"] == 1400 and ptp["ipMasq"] is False
    assert ptp["ipam"]["ranges"] == [[{"subnet": "10.244.1.0/24"}], [{"subnet": "fd00:10:244:1::/64"}]]
    assert ptp["ipam"]["routes"] == [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
    assert conflist["plugins"][1] == {"type": "portmap", "capabilities": {"portMappings": True}}


def test_conflist_for_ipv6_only_routes_ipv6_only() -> None:
    ipam = json.loads(kindnetd.render_conflist(["fd00:10:244:1::/64"], 1500))["plugins"][0]["ipam"]
    assert ipam["routes"] == [{"dst": "::/0"}]
    assert ipam["ranges"] == [[{"subnet": "fd00:10:244:1::/64"}]]


def test_conflist_refuses_no_or_bad_cidrs() -> None:
    with pytest.raises(ValueError):
        kindnetd.render_conflist([], 1500)
    with pytest.raises(ValueError):
        kindnetd.render_conflist(["10.244.1.0/33"], 1500)


# --- nodes and routes -------------------------------------------------------------------------------------------


def test_own_node_is_the_one_with_host_ip_as_internal_ip() -> None:
    nodes = kindnetd.parse_node_list(CLUSTER)
    own = kindnetd.find_own_node(nodes, "172.18.0.3")
    assert own is not None and own.name == "kind-worker" and own.pod_cidrs == ("10.244.1.0/24",)
    assert kindnetd.find_own_node(nodes, "172.18.0.9") is None
    # Only an InternalIP counts, not an ExternalIP equal to HOST_IP.
    external = node("n1", [], ["10.244.5.0/24"])
    external["status"]["addresses"].append({"type": "ExternalIP", "address": "172.18.0.9"})
    assert kindnetd.find_own_node(kindnetd.parse_node_list(node_list(external)), "172.18.0.9") is None


def test_own_node_matches_any_spelling_of_an_ipv6_host_ip() -> None:
    nodes = kindnetd.parse_node_list(node_list(node("v6", ["fc00:f853:ccd:e793:0:0:0:3"], ["fd00:10:244:1::/64"])))
    own = kindnetd.find_own_node(nodes, "fc00:f853:ccd:e793::3")
    assert own is not None and own.name == "v6"


def test_legacy_pod_cidr_is_used_when_pod_cidrs_is_missing() -> None:
    (parsed,) = kindnetd.parse_node_list(node_list(node("old", ["172.18.0.5"], legacy="10.244.7.0/24")))
    assert parsed.pod_cidrs == ("10.244.7.0/24",)


def test_route_plan_covers_other_nodes_only_and_only_with_pod_cidrs() -> None:
    nodes = kindnetd.parse_node_list(CLUSTER)
    plan = kindnetd.plan_routes(nodes, "172.18.0.2")
    assert [(route.dst, route.via, route.node) for route in plan] == [("10.244.1.0/24", "172.18.0.3", "kind-worker")]
    assert kindnetd.route_replace_argv(plan[0]) == ["ip", "route", "replace", "10.244.1.0/24", "via", "172.18.0.3"]
    # From the worker's side: the control plane only; worker2 has no podCIDR, and no route to its own CIDR.
    plan = kindnetd.plan_routes(nodes, "172.18.0.3")
    assert [(route.dst, route.via) for route in plan] == [("10.244.0.0/24", "172.18.0.2")]


def test_route_plan_pairs_each_cidr_with_an_internal_ip_of_its_family() -> None:
    nodes = kindnetd.parse_node_list(node_list(
        node("cp", ["172.18.0.2", "fc00::2"], ["10.244.0.0/24", "fd00:10:244::/64"]),
        node("w1", ["fc00::3", "172.18.0.3"], ["10.244.1.0/24", "fd00:10:244:1::/64"]),
        node("w2", ["172.18.0.4"], ["10.244.2.0/24", "fd00:10:244:2::/64"]),  # no IPv6 InternalIP
    ))
    plan = kindnetd.plan_routes(nodes, "172.18.0.2")
    assert [(route.dst, route.via) for route in plan] == [
        ("10.244.1.0/24", "172.18.0.3"),
        ("fd00:10:244:1::/64", "fc00::3"),
        ("10.244.2.0/24", "172.18.0.4"),
    ]


# --- the MTU ----------------------------------------------------------------------------------------------------

IP_ADDR = (
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
    "1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever\n"
    "12: eth0    inet 172.18.0.3/16 brd 172.18.255.255 scope global eth0\\       valid_lft forever\n"
    "12: eth0    inet6 fc00:f853:ccd:e793::3/64 scope global nodad \\       valid_lft forever\n"
)
IP_LINK = (
    "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\"
    "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
    "12: eth0@if13: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT group default"
    "\\    link/ether 02:42:ac:12:00:03 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n"
)


def test_mtu_is_the_one_of_the_interface_holding_host_ip() -> None:
    assert kindnetd.interface_mtu(IP_ADDR, IP_LINK, "172.18.0.3") == 1450
    assert kindnetd.interface_mtu(IP_ADDR, IP_LINK, "fc00:f853:ccd:e793:0::3") == 1450
    assert kindnetd.interface_mtu(IP_ADDR, IP_LINK, "127.0.0.1") == 65536
    assert kindnetd.interface_mtu(IP_ADDR, IP_LINK, "172.18.0.9") is None
    assert kindnetd.interface_mtu("", "", "172.18.0.3") is None


# --- writing the file -------------------------------------------------------------------------------------------


def test_write_is_atomic_and_only_on_change(tmp_path: Path) -> None:
    path = tmp_path / "net.d" / "10-kindnet.conflist"
    content = kindnetd.render_conflist(["10.244.1.0/24"], 1500)
    assert kindnetd.write_if_changed(path, content) is True
    assert path.read_text() == content
    assert path.stat().st_mode & 0o777 == 0o644
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # an old mtime, so a rewrite could not go unseen
    before = path.stat()

    assert kindnetd.write_if_changed(path, content) is False
    after = path.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)

    changed = kindnetd.render_conflist(["10.244.1.0/24", "fd00:10:244:1::/64"], 1500)
    assert kindnetd.write_if_changed(path, changed) is True
    assert path.read_text() == changed
    assert path.stat().st_ino != before.st_ino  # a new file renamed over the old one, not rewritten in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["10-kindnet.conflist"]  # no temporary file left


# --- the reconciler ---------------------------------------------------------------------------------------------


class FakeIp:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.failing = failing or set()

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        code = 2 if set(argv) & self.failing else 0
        return subprocess.CompletedProcess(list(argv), code, "", "RTNETLINK answers: Network is unreachable")


def test_reconciler_writes_config_routes_and_logs_only_changes(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kindnetd")
    fake = FakeIp()
    conflist = tmp_path / "10-kindnet.conflist"
    reconciler = kindnetd.Reconciler("172.18.0.2", conflist, 1500, run=fake)
    nodes = kindnetd.parse_node_list(CLUSTER)

    reconciler.sync(nodes)
    assert json.loads(conflist.read_text())["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]
    assert fake.calls == [["ip", "route", "replace", "10.244.1.0/24", "via", "172.18.0.3"]]
    first = len(caplog.records)
    assert first > 0

    reconciler.sync(nodes)  # nothing changed: the route is refreshed, nothing is logged
    assert fake.calls[-1] == ["ip", "route", "replace", "10.244.1.0/24", "via", "172.18.0.3"]
    assert len(caplog.records) == first

    # kind-worker goes away, kind-worker2 gets a CIDR: a route for it, and the one to kind-worker is deleted.
    fake.calls.clear()
    reconciler.sync(kindnetd.parse_node_list(node_list(
        node("kind-control-plane", ["172.18.0.2"], ["10.244.0.0/24"]),
        node("kind-worker2", ["172.18.0.4"], ["10.244.2.0/24"]),
    )))
    assert fake.calls == [
        ["ip", "route", "replace", "10.244.2.0/24", "via", "172.18.0.4"],
        ["ip", "route", "del", "10.244.1.0/24", "via", "172.18.0.3"],
    ]
    messages = [record.getMessage() for record in caplog.records[first:]]
    assert any("10.244.2.0/24 via 172.18.0.4" in m for m in messages)
    assert any("removed route 10.244.1.0/24" in m for m in messages)


def test_reconciler_keeps_going_when_ip_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeIp(failing={"10.244.1.0/24"})
    reconciler = kindnetd.Reconciler("172.18.0.2", tmp_path / "10-kindnet.conflist", 1500, run=fake)
    nodes = kindnetd.parse_node_list(node_list(
        node("kind-control-plane", ["172.18.0.2"], ["10.244.0.0/24"]),
        node("kind-worker", ["172.18.0.3"], ["10.244.1.0/24"]),
        node("kind-worker2", ["172.18.0.4"], ["10.244.2.0/24"]),
    ))
    reconciler.sync(nodes)
    assert [call[3] for call in fake.calls] == ["10.244.1.0/24", "10.244.2.0/24"]
    assert any("Network is unreachable" in record.getMessage() for record in caplog.records)
    fake.failing.clear()
    reconciler.sync(nodes)  # retried on the next round
    assert {route.dst for route in reconciler.routes} == {"10.244.1.0/24", "10.244.2.0/24"}


def test_configuration_from_env(tmp_path: Path) -> None:
    config = kindnetd.Config.from_env({"HOST_IP": "172.18.0.2", "KUBERNETES_SERVICE_HOST": "fd00:10:96::1",
                                       "KUBERNETES_SERVICE_PORT": "443"})
    assert config.api_server == "https://[fd00:10:96::1]:443"
    assert str(config.token_file) == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert str(config.ca_file) == "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    assert str(config.cni_dir) == "/etc/cni/net.d"
    assert (config.mtu, config.resync_seconds) == (None, 10.0)
    with pytest.raises(ValueError, match="HOST_IP"):
        kindnetd.Config.from_env({"KINDNETD_API_SERVER": "http://127.0.0.1:1"})


# --- end to end -------------------------------------------------------------------------------------------------

TOKEN = "s3cr3t-token-value"


class FakeApi(BaseHTTPRequestHandler):
    """GET /api/v1/nodes with the bearer token; the first request fails, as an API server not ready yet would."""

    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        if type(self).requests == 1:
            self.answer(503, {"kind": "Status", "message": "not ready"})
        elif self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.answer(401, {"kind": "Status", "message": "Unauthorized"})
        elif self.path == "/api/v1/nodes":
            self.answer(200, CLUSTER)
        else:
            self.answer(404, {"kind": "Status", "message": "not found"})

    def answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[str]:
    FakeApi.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fake_ip(bin_dir: Path, record: Path) -> None:
    """An `ip` that records its argv (a JSON list a line) and answers `-o addr` / `-o link` like a kind node."""
    bin_dir.mkdir()
    program = bin_dir / "ip"
    program.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(record)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if sys.argv[1:3] == ['-o', 'addr']:\n"
        "    print('12: eth0    inet 172.18.0.2/16 brd 172.18.255.255 scope global eth0\\\\       valid_lft forever')\n"
        "if sys.argv[1:3] == ['-o', 'link']:\n"
        "    print('12: eth0@if13: <BROADCAST,UP> mtu 1450 qdisc noqueue state UP')\n"
    )
    program.chmod(0o755)


def test_script_is_an_executable_python3_program() -> None:
    assert os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text().splitlines()[0] == "#!/usr/bin/env python3"


def test_the_program_writes_the_conflist_adds_routes_and_stops_on_sigterm(tmp_path: Path, api_server: str) -> None:
    cni_dir = tmp_path / "net.d"
    record = tmp_path / "ip-calls"
    fake_ip(tmp_path / "bin", record)
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    env = {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOST_IP": "172.18.0.2",
        "POD_IP": "172.18.0.2",
        "POD_SUBNET": "10.244.0.0/16",
        "KINDNETD_API_SERVER": api_server,
        "KINDNETD_TOKEN_FILE": str(token),
        "KINDNETD_CA_FILE": str(tmp_path / "no-ca.crt"),
        "KINDNETD_CNI_DIR": str(cni_dir),
        "KINDNETD_RESYNC_SECONDS": "0.2",
    }
    process = subprocess.Popen([sys.executable, str(SCRIPT)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    conflist = cni_dir / "10-kindnet.conflist"
    want = ["route", "replace", "10.244.1.0/24", "via", "172.18.0.3"]
    try:
        deadline = time.monotonic() + 20
        calls: list[list[str]] = []
        while time.monotonic() < deadline:
            calls = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
            if conflist.exists() and want in calls and FakeApi.requests >= 3:
                break
            assert process.poll() is None, process.communicate()[0]
            time.sleep(0.05)
        assert conflist.exists(), "no conflist written"
        ptp = json.loads(conflist.read_text())["plugins"][0]
        assert ptp["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]
        assert ptp["mtu"] == 1450  # from the fake `ip -o link` for the interface holding HOST_IP
        assert want in calls
        routes = [call for call in calls if call[:1] == ["route"]]
        assert all(call[2] == "10.244.1.0/24" for call in routes)  # not its own CIDR, nothing for kind-worker2
        assert FakeApi.requests >= 3  # it went on after the first answer, a 503
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=5)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0, output
    assert "HTTP 503" in output
    assert "10.244.1.0/24 via 172.18.0.3" in output
    assert TOKEN not in output
    assert output.count("wrote ") == 1  # rewritten only on change, across many rounds
