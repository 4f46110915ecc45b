#!/usr/bin/env python3
"""A stand-in for kind's kindnetd, for kind clusters that run offline (docs/local-cluster.md).

Why: kindnetd's Go source is not served here (`go list -m -versions github.com/aojea/kindnet` -> "403 Forbidden ...
This module version is not available."); this runs under kind's DaemonSet unchanged, on Python and iproute2.
What: every resync it lists the nodes; once its own (HOST_IP an InternalIP) has spec.podCIDRs it writes
10-kindnet.conflist (ptp without ipMasq, host-local with a range per CIDR and a default route per family, the MTU,
portmap), atomically and only on change; for every other node it keeps `ip route replace CIDR via IP` (same family)
and deletes the routes it added when their node or CIDR goes. Errors are logged (the token never) and retried.
Like kindnetd's masquerade agent, traffic from the pods to outside POD_SUBNET (another kind cluster's API server on
the kind network, say) leaves with the node's address: one nat POSTROUTING rule per subnet, checked every round.
Not done: NetworkPolicy, NRI, DNS cache, NAT64.
Env: HOST_IP; POD_IP (logged); POD_SUBNET (the cluster's pod CIDRs, comma-separated: not masqueraded among them);
KINDNETD_API_SERVER (else KUBERNETES_SERVICE_HOST/PORT), KINDNETD_TOKEN_FILE,
KINDNETD_CA_FILE (the ServiceAccount's); KINDNETD_CNI_DIR (/etc/cni/net.d); KINDNETD_MTU (else HOST_IP's interface's,
else 1500); KINDNETD_RESYNC_SECONDS (10). SIGTERM exits 0.
"""

import contextlib
import ipaddress
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SA = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULTS = {"KINDNETD_TOKEN_FILE": f"{SA}/token", "KINDNETD_CA_FILE": f"{SA}/ca.crt", "KUBERNETES_SERVICE_PORT": "443",
            "KINDNETD_CNI_DIR": "/etc/cni/net.d", "KINDNETD_RESYNC_SECONDS": "10"}
STOP = {signal.SIGTERM, signal.SIGINT}
Node = tuple[str, list[str], list[str]]  # name, InternalIPs, pod CIDRs


def net(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:  # an IP address (as a /32 or /128) or a CIDR; None if it is neither
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def parse_nodes(node_list: Any) -> list[Node]:
    """The nodes of a decoded v1 NodeList (legacy spec.podCIDR when spec.podCIDRs is missing)."""
    nodes = []
    for item in node_list["items"]:
        spec, addresses = item.get("spec") or {}, (item.get("status") or {}).get("addresses") or []
        ips = [a["address"] for a in addresses if a.get("type") == "InternalIP" and net(a.get("address") or "")]
        cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
        nodes.append((item["metadata"]["name"], ips, cidrs))
    return nodes


def own_node(nodes: list[Node], host_ip: str) -> Node | None:
    return next((node for node in nodes if net(host_ip) in map(net, node[1])), None)


def render_conflist(pod_cidrs: list[str], mtu: int) -> str:
    families = {ipaddress.ip_network(cidr, strict=False).version for cidr in pod_cidrs}
    routes = [{"dst": dst} for family, dst in ((4, "0.0.0.0/0"), (6, "::/0")) if family in families]
    ipam = {"type": "host-local", "dataDir": "/run/cni-ipam-state", "routes": routes,
            "ranges": [[{"subnet": cidr}] for cidr in pod_cidrs]}
    plugins = [{"type": "ptp", "ipMasq": False, "ipam": ipam, "mtu": mtu},
               {"type": "portmap", "capabilities": {"portMappings": True}}]
    return json.dumps({"cniVersion": "0.3.1", "name": "kindnet", "plugins": plugins}, indent=2) + "\n"


def plan_routes(nodes: list[Node], host_ip: str) -> dict[str, tuple[str, str]]:
    """{pod CIDR: (via, node)} for the other nodes, via their first InternalIP of its family; first claim wins."""
    plan: dict[str, tuple[str, str]] = {}
    for name, ips, cidrs in (node for node in nodes if net(host_ip) not in map(net, node[1])):
        for cidr in filter(net, cidrs):
            if via := next((ip for ip in ips if (":" in ip) == (":" in cidr)), None):  # ":" is in IPv6 only
                plan.setdefault(cidr, (via, name))
    return plan


def write_if_changed(path: Path, content: str) -> bool:
    """Unless path holds content, write a `.temp` file (CNI loads none) and rename it to path; whether it did."""
    if path.exists() and path.read_text() == content:
        return False
    (temp := path.parent / f".{path.name}.temp").parent.mkdir(parents=True, exist_ok=True)
    temp.write_text(content)
    temp.chmod(0o644)
    temp.replace(path)
    return True


class Kindnetd:
    """The settings, from the environment (ValueError if one is missing or bad), and the rounds."""
    def __init__(self, environ: Mapping[str, str], run: Callable[[list[str]], subprocess.CompletedProcess[str]] =
                 lambda argv: subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)) -> None:
        env = DEFAULTS | {name: value for name, value in environ.items() if value}
        host, self.host_ip, self.run = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("HOST_IP", ""), run
        server = host and f"https://{f'[{host}]' if ':' in host else host}:{env['KUBERNETES_SERVICE_PORT']}"
        self.api = env.get("KINDNETD_API_SERVER", server).rstrip("/")
        self.token_file, self.ca_file = env["KINDNETD_TOKEN_FILE"], env["KINDNETD_CA_FILE"]
        self.conflist = Path(env["KINDNETD_CNI_DIR"], "10-kindnet.conflist")
        self.mtu, self.resync = int(env.get("KINDNETD_MTU", 0)), float(env["KINDNETD_RESYNC_SECONDS"])
        if "/" in self.host_ip or not net(self.host_ip) or not self.api or self.mtu < 0 or not self.resync > 0:
            raise ValueError("needs HOST_IP (an IP), KINDNETD_API_SERVER or KUBERNETES_SERVICE_HOST, positive numbers")
        self.routes: dict[str, str] = {}  # the routes this process added: pod CIDR -> via
        self.pod_subnets = [cidr for cidr in env.get("POD_SUBNET", "").split(",") if net(cidr.strip())]
        self.masquerading: set[str] = set()  # the subnets whose rule was found or added
        self.mtu = self.mtu or self.interface_mtu() or 1500

    def interface_mtu(self) -> int | None:
        mtu = None  # that of the interface holding HOST_IP, from `ip addr show`
        with contextlib.suppress(OSError, ValueError, subprocess.SubprocessError):
            for f in (line.split() for line in self.run(["ip", "addr", "show"]).stdout.splitlines()):
                if "mtu" in f[:-1]:
                    mtu = int(f[f.index("mtu") + 1])
                elif f[:1] in (["inet"], ["inet6"]) and net(f[1].split("/")[0]) == net(self.host_ip):
                    return mtu
        return None

    def ip(self, *args: str) -> bool:
        if code := (result := self.run(["ip", "route", *args])).returncode:
            logging.error("ip route %s: exit %d: %s", " ".join(args), code, (result.stderr or "").strip())
        return not code

    def masquerade(self) -> None:
        """Each pod subnet's rule: from the subnet to anywhere outside it, the node's address (added when missing)."""
        for cidr in (cidr.strip() for cidr in self.pod_subnets):
            tool = "ip6tables" if ipaddress.ip_network(cidr, strict=False).version == 6 else "iptables"
            rule = ["POSTROUTING", "-s", cidr, "!", "-d", cidr, "-m", "comment", "--comment",
                    "kindnetd: pods to outside the cluster", "-j", "MASQUERADE"]
            if self.run([tool, "-t", "nat", "-C", *rule]).returncode == 0:
                self.masquerading.add(cidr)
                continue
            if code := (result := self.run([tool, "-t", "nat", "-A", *rule])).returncode:
                logging.error("%s -t nat -A POSTROUTING: exit %d: %s", tool, code, (result.stderr or "").strip())
                continue
            logging.info("masquerading traffic from %s to outside it", cidr)
            self.masquerading.add(cidr)

    def list_nodes(self) -> list[Node]:
        """GET /api/v1/nodes as the ServiceAccount, reading the token (never logged) afresh."""
        request = urllib.request.Request(self.api + "/api/v1/nodes", headers={"Accept": "application/json"})
        if not (token := Path(self.token_file).read_text().strip()).isprintable():  # else http.client quotes it
            raise ValueError(f"{self.token_file} does not hold a token")
        request.add_unredirected_header("Authorization", f"Bearer {token}")
        context = ssl.create_default_context(cafile=self.ca_file) if self.api.startswith("https:") else None
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return parse_nodes(json.load(response))

    def sync(self, nodes: list[Node]) -> None:
        """This node's CNI config, the masquerade rules, then routes to the others; logs changes only."""
        self.masquerade()
        name, _, cidrs = own_node(nodes, self.host_ip) or ("", [], [])
        if cidrs and write_if_changed(self.conflist, render_conflist(cidrs, self.mtu)):
            logging.info("wrote %s: node %s, podCIDRs %s, mtu %d", self.conflist, name, ",".join(cidrs), self.mtu)
        for dst, (via, node) in (plan := plan_routes(nodes, self.host_ip)).items():
            if self.ip("replace", dst, "via", via) and self.routes.get(dst) != via:
                logging.info("route %s via %s (node %s)", dst, via, node)
                self.routes[dst] = via
        for dst in [dst for dst in self.routes if dst not in plan]:  # a failed replacement keeps the old on the books
            if self.ip("del", dst, "via", via := self.routes.pop(dst)):
                logging.info("removed route %s via %s (no node has it any more)", dst, via)


def main() -> int:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s kindnetd %(message)s")
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP)  # held for sigtimedwait (an Event set by a handler can deadlock)
    try:
        kindnetd = Kindnetd(os.environ)
    except ValueError as error:
        logging.error("bad configuration: %s", error)
        return 1
    logging.info("hostIP %s, podIP %s, podSubnet %s (masqueraded to outside it), API %s, mtu %d", kindnetd.host_ip,
                 os.environ.get("POD_IP"), os.environ.get("POD_SUBNET"), kindnetd.api, kindnetd.mtu)
    while True:
        try:
            kindnetd.sync(kindnetd.list_nodes())
        except Exception as error:
            logging.error("round failed, retrying: %s: %s", type(error).__name__, error)
        if signal.sigtimedwait(STOP, kindnetd.resync):
            logging.info("stopping on signal")
            return 0


if __name__ == "__main__":
    sys.exit(main())
