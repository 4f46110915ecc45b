"""What ``audit``, ``parity`` and ``access`` share against a live cluster (``audit/listing.py``): connect, choose the
policy, list every kind (or the few asked for) in pages with the progress line on stderr, and turn every failure
into one line (exit 2). ``audit`` and ``parity`` also take several clusters (``--cluster NAME=KUBECONFIG``),
listed one after the other with one fingerprint key, so values compare across them without leaving memory."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from tierguard.audit.listing import cluster_policy, connect, list_cluster, listed_kinds
from tierguard.audit.progress import Progress
from tierguard.commands.options import Failure
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.projection import Projected
from tierguard.errors import ClusterUnreadable, PolicyError
from tierguard.kinds import BY_FIELD
from tierguard.kube.pager import ListOptions
from tierguard.policy import TierPolicy, load_policy_file

CLUSTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""A cluster's name on the command line: a DNS label, as a fleet member's (so the two can be the same), and
never a '/' (a parity column is ``cluster/tier``)."""

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ClusterSpec:
    """One ``--cluster NAME=KUBECONFIG[#CONTEXT]``: how findings and columns name it, and how to reach it."""

    name: str
    kubeconfig: str | None
    """None: the usual precedence ($KUBECONFIG, in-cluster, ~/.kube/config)."""
    context: str | None = None


def cluster_option() -> Callable[[F], F]:
    return click.option(
        "--cluster", "clusters", multiple=True, metavar="NAME=KUBECONFIG[#CONTEXT]",
        help="Several clusters judged as one (repeatable, instead of --kubeconfig): NAME names the cluster in "
             "findings and columns; '#CONTEXT' picks a kubeconfig context (NAME=#CONTEXT: the default kubeconfig's).")


def parse_clusters(values: Sequence[str], kubeconfig: str | None) -> tuple[ClusterSpec, ...]:
    """``--cluster`` values, checked: raises BadParameter (exit 2) naming the value and what is wrong."""
    if values and kubeconfig:
        raise click.BadParameter("--kubeconfig and --cluster exclude each other: give the kubeconfig as "
                                 "--cluster NAME=KUBECONFIG", param_hint="--cluster")
    specs: list[ClusterSpec] = []
    for value in values:
        name, sep, where = value.partition("=")
        path, context = kubeconfig_and_context(where)
        if not sep or not name or not (path or context):
            raise click.BadParameter(f"{value!r}: expected NAME=KUBECONFIG or NAME=KUBECONFIG#CONTEXT",
                                     param_hint="--cluster")
        if not CLUSTER_NAME.match(name):
            raise click.BadParameter(f"{value!r}: the name {name!r} is not a DNS label (lower case, digits, '-')",
                                     param_hint="--cluster")
        if any(spec.name == name for spec in specs):
            raise click.BadParameter(f"{value!r}: the name {name!r} is given twice", param_hint="--cluster")
        specs.append(ClusterSpec(name, path, context))
    return tuple(specs)


def kubeconfig_and_context(value: str) -> tuple[str | None, str | None]:
    """``KUBECONFIG[#CONTEXT]`` (either part may be empty: None, the default)."""
    path, _, context = value.rpartition("#") if "#" in value else (value, "", "")
    return path or None, context or None


@dataclass(frozen=True)
class ClusterListing:
    policy: TierPolicy
    objects: list[Projected]
    fingerprinter: Fingerprinter
    """The key the listing's Secrets were fingerprinted with: the engine must judge them with it."""


def read_clusters(specs: Sequence[ClusterSpec], *, policy_path: str | None, policy_name: str, chunk_size: int,
                  timeout: float, quiet: bool, kinds: Sequence[str] | None = None) -> list[tuple[str, ClusterListing]]:
    """Each cluster's name and listing, listed in turn with one fingerprint key (``read_cluster``); its policy is
    the file's, else its own TierPolicy. Raises Failure naming the cluster that failed."""
    fingerprinter = Fingerprinter.random()
    listings = []
    for spec in specs:
        try:
            listing = read_cluster(kubeconfig=spec.kubeconfig, context=spec.context, policy_path=policy_path,
                                   policy_name=policy_name, chunk_size=chunk_size, timeout=timeout, quiet=quiet,
                                   kinds=kinds, fingerprinter=fingerprinter)
        except Failure as failure:
            raise Failure(f"cluster {spec.name}: {failure.message}") from None
        listings.append((spec.name, listing))
    return listings


def read_cluster(*, kubeconfig: str | None, policy_path: str | None, policy_name: str, chunk_size: int,
                 timeout: float, quiet: bool, kinds: Sequence[str] | None = None, context: str | None = None,
                 fingerprinter: Fingerprinter | None = None) -> ClusterListing:
    """The policy (the file's, else the cluster's) and every listed object (of ``kinds`` only, when given: kind
    names of the kinds table), fingerprinted with ``fingerprinter`` (a new random key by default); raises
    Failure."""
    progress = Progress.for_stderr(quiet=quiet)
    fingerprinter = fingerprinter or Fingerprinter.random()
    try:
        client = connect(kubeconfig, timeout, context=context)
        policy = load_policy_file(policy_path) if policy_path else cluster_policy(client, policy_name, timeout)
        # Every kind (kinds None) includes those judged by a field whatever their group (Crossplane's).
        objects = list(list_cluster(client, fingerprinter, ListOptions(chunk_size, timeout), progress,
                                    listed_kinds(kinds), fields=BY_FIELD if kinds is None else ()))
    except PolicyError as error:
        progress.abandon()
        raise Failure(f"policy {policy_path or policy_name}: {error}") from None
    except ClusterUnreadable as error:
        progress.abandon()
        raise Failure(str(error)) from None
    except KeyboardInterrupt:
        progress.abandon()
        raise
    progress.finish()
    # Every listed object lives until the report is written: the cyclic collector need not walk them again
    # each time judging allocates (a third of the judging time at 20k objects).
    gc.freeze()
    return ClusterListing(policy, objects, fingerprinter)
