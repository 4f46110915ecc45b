"""What the matrix commands (``parity``, ``access``) share: one report drawn from either manifests or the
cluster. Their options (only the help texts differ), and reading their input either way: ``-f`` files with
``--policy`` (else SPEC's defaults) and ``--namespace-tier``, or without ``-f`` a cluster listing
(``cluster.py``) with its policy and the key its Secrets were fingerprinted with."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import click

from tierguard.commands.cluster import ClusterListing, cluster_option, parse_clusters, read_cluster, read_clusters
from tierguard.commands.options import (
    filename_option,
    kubeconfig_option,
    listing_options,
    load_policy_option,
    namespace_tier_option,
    output_option,
    parse_namespace_tiers,
    policy_name_option,
    policy_option,
    read_input,
)
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.engine.projection import Projected
from tierguard.policy import TierPolicy


@dataclass(frozen=True)
class MatrixSource:
    """Where a matrix command reads from: its input options as given."""

    paths: tuple[str, ...]
    namespace_tiers: tuple[str, ...]
    kubeconfig: str | None
    policy_path: str | None
    policy_name: str
    chunk_size: int
    timeout: float
    quiet: bool
    clusters: tuple[str, ...] = ()
    """``--cluster NAME=KUBECONFIG`` values (a command taking several clusters: ``several_clusters``)."""


class MatrixCommand(Protocol):
    """A matrix command's body: its source and ``--output`` in, the exit status out."""

    def __call__(self, *, source: MatrixSource, output: str) -> int: ...


def matrix_command(outputs: Iterable[str], *, filename: str, policy: str, output: str,
                   several_clusters: bool = False) -> Callable[[MatrixCommand], click.Command]:
    """The click command of a matrix command's body, with every option in the order ``--help`` lists them:
    ``filename``, ``policy`` and ``output`` are the help texts of the options of those names, ``outputs`` the
    formats of ``--output``; ``several_clusters``: it offers ``--cluster`` too. The body receives the input
    options as one ``source``."""
    options = (
        filename_option(filename),
        namespace_tier_option("With -f: declare a namespace's tier. Repeatable."),
        kubeconfig_option(),
        *((cluster_option(),) if several_clusters else ()),
        policy_option(policy),
        policy_name_option(),
        output_option(list(outputs), output),
        listing_options(),
    )

    def decorate(body: MatrixCommand) -> click.Command:
        # ``wraps`` keeps the body's name and docstring: click takes the command's name and help from them.
        @functools.wraps(body)
        def bundled(*, paths: tuple[str, ...], namespace_tiers: tuple[str, ...], kubeconfig: str | None,
                    policy_path: str | None, policy_name: str, output: str, chunk_size: int, timeout: float,
                    quiet: bool, clusters: tuple[str, ...] = ()) -> int:
            if clusters and paths:
                raise click.BadParameter("-f reads manifests, --cluster lists clusters: give one or the other",
                                         param_hint="--cluster")
            source = MatrixSource(paths, namespace_tiers, kubeconfig, policy_path, policy_name, chunk_size, timeout,
                                  quiet, clusters)
            return body(source=source, output=output)

        command: Callable[..., int] = bundled
        for option in reversed(options):  # as if stacked top to bottom: --help keeps this order
            command = option(command)
        return click.command()(command)

    return decorate


@dataclass(frozen=True)
class MatrixInput:
    """What a matrix report is built from (the keyword arguments of ``parity_report`` and ``access_report``)."""

    objects: list[tuple[Mapping[str, Any] | Projected, str]]
    """Every object with its source: ``file#document``, or ``cluster``."""
    policy: TierPolicy
    namespace_labels: dict[str, dict[str, str]] | None
    """``--namespace-tier``'s labels, offline only (a cluster's namespaces carry their own)."""
    fingerprinter: Fingerprinter | None
    """The key a listing's Secrets were fingerprinted with; None offline (the report makes its own)."""


def read_matrix_input(source: MatrixSource, *, kinds: Sequence[str] | None = None) -> MatrixInput:
    """The objects of the ``-f`` paths, else of the cluster (only ``kinds``, kind names of the kinds table, when
    given); raises Failure (or BadParameter for ``--namespace-tier``), exit 2."""
    if source.paths:
        policy = load_policy_option(source.policy_path)
        labels = parse_namespace_tiers(source.namespace_tiers, policy)
        return MatrixInput([(o.obj, o.source) for o in read_input(source.paths)], policy, labels, None)
    listing = read_cluster(kubeconfig=source.kubeconfig, policy_path=source.policy_path,
                           policy_name=source.policy_name, chunk_size=source.chunk_size, timeout=source.timeout,
                           quiet=source.quiet, kinds=kinds)
    return _cluster_input(listing, "cluster")


def read_cluster_inputs(source: MatrixSource, *, kinds: Sequence[str] | None = None) -> list[tuple[str, MatrixInput]]:
    """With ``--cluster``: each cluster's input, by its name, every cluster listed with one fingerprint key;
    raises Failure naming the cluster (or BadParameter for the option)."""
    specs = parse_clusters(source.clusters, source.kubeconfig)
    listings = read_clusters(specs, policy_path=source.policy_path, policy_name=source.policy_name,
                             chunk_size=source.chunk_size, timeout=source.timeout, quiet=source.quiet, kinds=kinds)
    return [(name, _cluster_input(listing, f"cluster {name}")) for name, listing in listings]


def _cluster_input(listing: ClusterListing, source: str) -> MatrixInput:
    return MatrixInput([(o, source) for o in listing.objects], listing.policy, None, listing.fingerprinter)
