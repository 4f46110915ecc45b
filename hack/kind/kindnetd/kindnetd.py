#!/usr/bin/env python3
"""A stand-in for kind's kindnetd, for kind clusters that run offline.

Why it exists: kind's default CNI manifest (sigs.k8s.io/kind pkg/build/nodeimage/const_cni.go) runs the DaemonSet
`kindnet` with the image docker.io/kindest/kindnetd, whose source we would build ourselves, but it is not served to
this machine: the Go module proxy refuses both sigs.k8s.io/kind/images/kindnetd and github.com/aojea/kindnet
(`go list -m -versions github.com/aojea/kindnet` -> "403 Forbidden ... This module version is not available.").
This program honours the same contract with the Python 3.11 standard library and iproute2 only, so it runs in a
plain Debian bookworm image under the manifest's DaemonSet unchanged: hostNetwork, not privileged, capabilities
NET_RAW and NET_ADMIN, ServiceAccount `kindnet`, env HOST_IP / POD_IP / POD_SUBNET, the hostPath /etc/cni/net.d.

What it does, like kindnetd:
  * every KINDNETD_RESYNC_SECONDS (10) it lists the nodes (GET /api/v1/nodes, as the ServiceAccount; it polls,
    as kind's first kindnetd did, rather than watching);
  * its own node is the one whose status.addresses has HOST_IP as an InternalIP; once that node's spec.podCIDRs
    (or the legacy spec.podCIDR) is set it writes /etc/cni/net.d/10-kindnet.conflist in kindnetd's shape
    (cniVersion 0.3.1, `ptp` without ipMasq, host-local IPAM in /run/cni-ipam-state with one range per pod CIDR
    and a default route per IP family, the interface MTU, then `portmap`), atomically (a temporary file in the same
    directory, with an extension CNI does not load, then a rename) and only when the content changes;
  * for every other node it keeps a route to each of its pod CIDRs via its InternalIP of the same IP family
    (`ip route replace CIDR via IP`), and removes the routes it added for nodes or CIDRs that went away.

What it does not do, unlike kindnetd:
  * no masquerading (POD_SUBNET is read only to be logged): these clusters have no outside network to reach, and
    traffic between pods, nodes and Services stays on the kind Docker network, where the routes above deliver it
    with the pod addresses unchanged, so there is nothing to SNAT;
  * no NetworkPolicy enforcement (kindnetd's nftables policies), no NRI plugin (/var/run/nri is left unused),
    no DNS cache, no NAT64, no fast path; its RBAC for pods, namespaces and networkpolicies goes unused.

It keeps going on errors (they are logged and retried on the next round), logs one line per change to stdout and
never the token, and exits 0 on SIGTERM.

Env (the KINDNETD_* ones exist for tests and odd setups):
  HOST_IP                   this node's InternalIP (downward API status.hostIP); required
  POD_IP, POD_SUBNET        logged only
  KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT   the API server, in cluster
  KINDNETD_API_SERVER       API base URL instead (http://... talks plain HTTP)
  KINDNETD_TOKEN_FILE       bearer token, re-read for each request (default: the ServiceAccount's)
  KINDNETD_CA_FILE          CA bundle for https (default: the ServiceAccount's)
  KINDNETD_CNI_DIR          where 10-kindnet.conflist goes (default /etc/cni/net.d)
  KINDNETD_MTU              the ptp MTU; unset: the MTU of the interface holding HOST_IP, else 1500
  KINDNETD_RESYNC_SECONDS   seconds between rounds (default 10)
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
CONFLIST_NAME = "10-kindnet.conflist"
DEFAULT_CNI_DIR = "/etc/cni/net.d"
DEFAULT_MTU = 1500
DEFAULT_RESYNC_SECONDS = 10.0
IPAM_DATA_DIR = "/run/cni-ipam-state"
DEFAULT_ROUTES = {4: "0.0.0.0/0", 6: "::/0"}
REQUEST_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_SECONDS = 10.0

log = logging.getLogger("kindnetd")

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Node:
    """The parts of a v1 Node this program uses."""

    name: str
    internal_ips: tuple[str, ...]
    pod_cidrs: tuple[str, ...]


@dataclass(frozen=True, order=True)
class Route:
    """A route to another node's pod CIDR via that node's InternalIP."""

    dst: str
    via: str
    node: str = field(default="", compare=False)


# ---------------------------------------------------------------------------------------------------------------
# Pure functions


def ip_family(address: str) -> int:
    """4 or 6 for an IP address; ValueError if it is not one."""
    return ipaddress.ip_address(address).version


def cidr_family(cidr: str) -> int:
    """4 or 6 for a CIDR; ValueError if it is not one."""
    return ipaddress.ip_network(cidr, strict=False).version


def same_ip(a: str, b: str) -> bool:
    """Whether two strings name the same IP address (IPv6 has many spellings); False if either is no address."""
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def _str_list(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str) and item] if isinstance(value, list) else []


def parse_node(obj: object) -> Node | None:
    """A Node from one item of a NodeList as decoded JSON; None when it has no name."""
    if not isinstance(obj, dict):
        return None
    metadata = obj.get("metadata")
    spec = obj.get("spec")
    status = obj.get("status")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        return None
    pod_cidrs: list[str] = []
    if isinstance(spec, dict):
        pod_cidrs = _str_list(spec.get("podCIDRs"))
        legacy = spec.get("podCIDR")
        if not pod_cidrs and isinstance(legacy, str) and legacy:
            pod_cidrs = [legacy]
    internal_ips: list[str] = []
    addresses = status.get("addresses") if isinstance(status, dict) else None
    if isinstance(addresses, list):
        for address in addresses:
            if isinstance(address, dict) and address.get("type") == "InternalIP":
                value = address.get("address")
                if isinstance(value, str) and value:
                    internal_ips.append(value)
    return Node(name=name, internal_ips=tuple(internal_ips), pod_cidrs=tuple(pod_cidrs))


def parse_node_list(obj: object) -> list[Node]:
    """The nodes of a decoded v1 NodeList; ValueError if it is not one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("items"), list):
        raise ValueError("the API answer is not a NodeList")
    nodes = (parse_node(item) for item in obj["items"])
    return [node for node in nodes if node is not None]


def is_own(node: Node, host_ip: str) -> bool:
    return any(same_ip(address, host_ip) for address in node.internal_ips)


def find_own_node(nodes: Iterable[Node], host_ip: str) -> Node | None:
    """The node whose InternalIPs include HOST_IP."""
    return next((node for node in nodes if is_own(node, host_ip)), None)


def build_conflist(pod_cidrs: Sequence[str], mtu: int) -> dict[str, object]:
    """kindnetd's CNI config for these pod CIDRs: one host-local range per CIDR and a default route per family."""
    if not pod_cidrs:
        raise ValueError("no pod CIDRs")
    families = {cidr_family(cidr) for cidr in pod_cidrs}
    return {
        "cniVersion": "0.3.1",
        "name": "kindnet",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "dataDir": IPAM_DATA_DIR,
                    "routes": [{"dst": DEFAULT_ROUTES[family]} for family in (4, 6) if family in families],
                    "ranges": [[{"subnet": cidr}] for cidr in pod_cidrs],
                },
                "mtu": mtu,
            },
            {
                "type": "portmap",
                "capabilities": {"portMappings": True},
            },
        ],
    }


def render_conflist(pod_cidrs: Sequence[str], mtu: int) -> str:
    return json.dumps(build_conflist(pod_cidrs, mtu), indent=2) + "\n"


def plan_routes(nodes: Iterable[Node], host_ip: str) -> list[Route]:
    """A route per pod CIDR of every node but this one, via that node's first InternalIP of the CIDR's family.

    Nodes without pod CIDRs, CIDRs without an InternalIP of their family, and invalid values are left out; a CIDR
    claimed twice goes to the first node claiming it.
    """
    routes: list[Route] = []
    seen: set[str] = set()
    for node in nodes:
        if is_own(node, host_ip):
            continue
        for cidr in node.pod_cidrs:
            try:
                family = cidr_family(cidr)
            except ValueError:
                continue
            via = next((ip for ip in node.internal_ips if _family_or_zero(ip) == family), None)
            if via is None or cidr in seen:
                continue
            seen.add(cidr)
            routes.append(Route(dst=cidr, via=via, node=node.name))
    return routes


def _family_or_zero(address: str) -> int:
    try:
        return ip_family(address)
    except ValueError:
        return 0


def route_replace_argv(route: Route) -> list[str]:
    return ["ip", "route", "replace", route.dst, "via", route.via]


def route_delete_argv(route: Route) -> list[str]:
    return ["ip", "route", "del", route.dst, "via", route.via]


def interface_mtu(addr_output: str, link_output: str, host_ip: str) -> int | None:
    """The MTU of the interface holding host_ip, from `ip -o addr show` and `ip -o link show`; None if not found."""
    index = None
    for line in addr_output.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("inet", "inet6") and same_ip(fields[3].split("/")[0], host_ip):
            index = fields[0]
            break
    if index is None:
        return None
    for line in link_output.splitlines():
        fields = line.split()
        if fields and fields[0] == index and "mtu" in fields[:-1]:
            try:
                return int(fields[fields.index("mtu") + 1])
            except ValueError:
                return None
    return None


def write_if_changed(path: Path, content: str) -> bool:
    """Write content to path atomically, unless it already holds exactly that; whether it wrote.

    The temporary file is in the same directory and ends in `.temp`, which CNI runtimes do not load.
    """
    try:
        if path.read_text() == content:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".temp")
    try:
        with os.fdopen(fd, "w") as file:
            os.fchmod(file.fileno(), 0o644)
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True


# ---------------------------------------------------------------------------------------------------------------
# Configuration and the API server


@dataclass(frozen=True)
class Config:
    host_ip: str
    pod_ip: str
    pod_subnet: str
    api_server: str
    token_file: Path
    ca_file: Path
    cni_dir: Path
    mtu: int | None
    resync_seconds: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        api_server = env.get("KINDNETD_API_SERVER", "")
        if not api_server:
            host = env.get("KUBERNETES_SERVICE_HOST", "")
            port = env.get("KUBERNETES_SERVICE_PORT", "443")
            if not host:
                raise ValueError("neither KINDNETD_API_SERVER nor KUBERNETES_SERVICE_HOST is set")
            api_server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        mtu_text = env.get("KINDNETD_MTU", "")
        mtu = int(mtu_text) if mtu_text else None
        if mtu is not None and mtu <= 0:
            raise ValueError(f"KINDNETD_MTU must be positive, not {mtu}")
        resync = float(env.get("KINDNETD_RESYNC_SECONDS", "") or DEFAULT_RESYNC_SECONDS)
        if not resync > 0:  # also NaN
            raise ValueError(f"KINDNETD_RESYNC_SECONDS must be positive, not {resync}")
        host_ip = env.get("HOST_IP", "")
        if not host_ip:
            raise ValueError("HOST_IP is not set (the downward API's status.hostIP)")
        ip_family(host_ip)  # ValueError when it is not an address
        return cls(
            host_ip=host_ip,
            pod_ip=env.get("POD_IP", ""),
            pod_subnet=env.get("POD_SUBNET", ""),
            api_server=api_server.rstrip("/"),
            token_file=Path(env.get("KINDNETD_TOKEN_FILE", "") or f"{SERVICE_ACCOUNT_DIR}/token"),
            ca_file=Path(env.get("KINDNETD_CA_FILE", "") or f"{SERVICE_ACCOUNT_DIR}/ca.crt"),
            cni_dir=Path(env.get("KINDNETD_CNI_DIR", "") or DEFAULT_CNI_DIR),
            mtu=mtu,
            resync_seconds=resync,
        )


class ApiError(Exception):
    """A failed API request, described without headers or the token."""


def get_json(config: Config, path: str) -> object:
    """GET path from the API server as the ServiceAccount; the token and CA are read afresh for each request."""
    url = config.api_server + path
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        token = config.token_file.read_text().strip()
    except OSError as error:
        raise ApiError(f"cannot read the token file {config.token_file}: {error.strerror}") from None
    request.add_unredirected_header("Authorization", f"Bearer {token}")
    context = None
    if url.startswith("https:"):
        try:
            context = ssl.create_default_context(cafile=str(config.ca_file))
        except (OSError, ssl.SSLError) as error:
            raise ApiError(f"cannot load the CA file {config.ca_file}: {error}") from None
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS, context=context) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        raise ApiError(f"GET {path}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise ApiError(f"GET {path}: {error.reason}") from None
    except (OSError, ValueError) as error:  # timeouts, resets, a malformed URL
        raise ApiError(f"GET {path}: {error}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise ApiError(f"GET {path}: the answer is not JSON") from None


# ---------------------------------------------------------------------------------------------------------------
# The reconciler and the loop


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False)


def detect_mtu(host_ip: str, run: Runner = run_command) -> int | None:
    """The MTU of the interface holding host_ip, asking `ip`; None (logged) when that fails."""
    try:
        addrs = run(["ip", "-o", "addr", "show"])
        links = run(["ip", "-o", "link", "show"])
    except (OSError, subprocess.SubprocessError) as error:
        log.info("cannot read interfaces for the MTU: %s", error)
        return None
    if addrs.returncode != 0 or links.returncode != 0:
        log.info("cannot read interfaces for the MTU: ip exited %d/%d", addrs.returncode, links.returncode)
        return None
    return interface_mtu(addrs.stdout, links.stdout, host_ip)


class Reconciler:
    """Applies one node list at a time: the CNI config for this node, routes to the others. Logs changes only."""

    def __init__(self, host_ip: str, conflist_path: Path, mtu: int, run: Runner = run_command) -> None:
        self.host_ip = host_ip
        self.conflist_path = conflist_path
        self.mtu = mtu
        self.run = run
        self.routes: set[Route] = set()
        self._last_note = ""

    def note(self, message: str) -> None:
        """Log a state message once, not on every round it stays true."""
        if message != self._last_note:
            log.info("%s", message)
            self._last_note = message

    def sync(self, nodes: Sequence[Node]) -> None:
        own = find_own_node(nodes, self.host_ip)
        if own is None:
            self.note(f"no node has InternalIP {self.host_ip} yet")
        elif not own.pod_cidrs:
            self.note(f"node {own.name} has no podCIDR yet")
        else:
            self.note(f"this is node {own.name}, podCIDRs {','.join(own.pod_cidrs)}")
            try:
                if write_if_changed(self.conflist_path, render_conflist(own.pod_cidrs, self.mtu)):
                    log.info("wrote %s: podCIDRs %s, mtu %d", self.conflist_path, ",".join(own.pod_cidrs), self.mtu)
            except (OSError, ValueError) as error:
                log.error("cannot write %s: %s", self.conflist_path, error)
        self.sync_routes(plan_routes(nodes, self.host_ip))

    def sync_routes(self, wanted: Sequence[Route]) -> None:
        """Replace every wanted route (cheap and idempotent, and it repairs a route deleted behind our back); then
        delete the routes this process added that no longer have a node, unless a new route for their CIDR is still
        pending (then they stay on the books, to be deleted or replaced later)."""
        for route in wanted:
            if not self._ip(route_replace_argv(route)):
                continue
            if route not in self.routes:
                log.info("route %s via %s (node %s)", route.dst, route.via, route.node)
            self.routes = {known for known in self.routes if known.dst != route.dst} | {route}
        wanted_dsts = {route.dst for route in wanted}
        for route in sorted(self.routes - set(wanted)):
            if route.dst in wanted_dsts:
                continue
            self.routes.discard(route)
            if self._ip(route_delete_argv(route)):
                log.info("removed route %s via %s (no node has %s any more)", route.dst, route.via, route.dst)

    def _ip(self, argv: Sequence[str]) -> bool:
        try:
            result = self.run(argv)
        except (OSError, subprocess.SubprocessError) as error:
            log.error("%s: %s", " ".join(argv), error)
            return False
        if result.returncode != 0:
            log.error("%s: exit %d: %s", " ".join(argv), result.returncode, (result.stderr or "").strip())
            return False
        return True


class Stopper:
    """SIGTERM and SIGINT set `stopping` and cut short the sleep between rounds.

    The handler only sets a flag (no locks, no exceptions in the middle of a write); the wakeup fd makes the
    select() in sleep() return at once. An API request or `ip` in flight finishes first (they have timeouts).
    """

    def __init__(self) -> None:
        self.stopping = False
        self._read, write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write)
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def sleep(self, seconds: float) -> None:
        if not self.stopping:
            select.select([self._read], [], [], seconds)


def main(env: Mapping[str, str] = os.environ) -> int:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s kindnetd %(message)s")
    try:
        config = Config.from_env(env)
    except ValueError as error:
        log.error("bad configuration: %s", error)
        return 1
    stopper = Stopper()

    log.info("hostIP %s, podIP %s, podSubnet %s (no masquerading), API %s", config.host_ip, config.pod_ip,
             config.pod_subnet, config.api_server)
    if config.pod_ip and not same_ip(config.pod_ip, config.host_ip):
        log.info("POD_IP differs from HOST_IP: kindnetd expects hostNetwork: true")
    mtu = config.mtu
    if mtu is None:
        mtu = detect_mtu(config.host_ip)
        log.info("mtu %s", f"{mtu} (the interface holding {config.host_ip})" if mtu else f"{DEFAULT_MTU} (default)")
        mtu = mtu or DEFAULT_MTU
    reconciler = Reconciler(config.host_ip, config.cni_dir / CONFLIST_NAME, mtu)

    while not stopper.stopping:
        try:
            nodes = parse_node_list(get_json(config, "/api/v1/nodes"))
        except (ApiError, ValueError) as error:
            log.error("listing nodes failed, retrying in %gs: %s", config.resync_seconds, error)
        else:
            if not stopper.stopping:
                reconciler.sync(nodes)
        stopper.sleep(config.resync_seconds)
    log.info("stopping on signal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
