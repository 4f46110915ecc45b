"""What every command shares: exit codes, the one user-facing error type, the common options and their parsing,
and writing a report to stdout. Commands import from here, never from the root group that registers them."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Any, TypeVar

import click

from tierguard.errors import ManifestError, PolicyError
from tierguard.manifests import SourcedObject, read_manifests
from tierguard.policy import DEFAULT_POLICY, TierPolicy, load_policy_file


class ExitStatus(IntEnum):
    """SPEC's exit statuses, for every command."""

    OK = 0
    """Nothing denied (parity: no gap)."""
    DENIED = 1
    """At least one violation whose action is deny (parity: a gap)."""
    ERROR = 2
    """Unreadable input, an invalid policy, no cluster, or bad usage."""


class Failure(click.ClickException):
    """An error the user can fix: printed as one line, exit status 2."""

    exit_code = ExitStatus.ERROR

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def exit_status(allowed: bool) -> ExitStatus:
    return ExitStatus.OK if allowed else ExitStatus.DENIED


# --- options ----------------------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def filename_option(help_text: str) -> Callable[[F], F]:
    return click.option("-f", "--filename", "paths", multiple=True, metavar="PATH", help=help_text)


def policy_option(help_text: str) -> Callable[[F], F]:
    return click.option("--policy", "policy_path", metavar="FILE", help=help_text)


def namespace_tier_option(help_text: str) -> Callable[[F], F]:
    return click.option("--namespace-tier", "namespace_tiers", multiple=True, metavar="NS=TIER", help=help_text)


def output_option(choices: Sequence[str], help_text: str | None = None) -> Callable[[F], F]:
    return click.option("--output", "-o", type=click.Choice(list(choices)), default="text", show_default=True,
                        help=help_text)


def kubeconfig_option() -> Callable[[F], F]:
    return click.option("--kubeconfig", type=click.Path(dir_okay=False),
                        help="Default: $KUBECONFIG or in-cluster config.")


def listing_options() -> Callable[[F], F]:
    """How ``audit``, ``parity`` and ``access`` list a cluster: page size, per-request timeout, progress."""
    from tierguard.kube.pager import DEFAULT_CHUNK_SIZE, DEFAULT_TIMEOUT_S  # noqa: PLC0415

    def decorate(command: F) -> F:
        command = click.option("--quiet", "-q", is_flag=True,
                               help="No progress line and no notes on stderr (errors are still printed).")(command)
        command = click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT_S,
                               show_default=True, metavar="SECONDS",
                               help="Longest wait for one API request (a page, a discovery call).")(command)
        return click.option("--chunk-size", type=click.IntRange(min=1), default=DEFAULT_CHUNK_SIZE,
                            show_default=True, metavar="N",
                            help="Objects per list request, as kubectl's --chunk-size.")(command)

    return decorate


def policy_name_option() -> Callable[[F], F]:
    from tierguard.webhook.settings import RunSettings  # noqa: PLC0415 - only the commands that list a cluster use it

    return click.option("--policy-name", default=RunSettings.policy_name, show_default=True,
                        help="The cluster's TierPolicy to use.")


# --- parsing them -------------------------------------------------------------------------------------------

def load_policy_option(path: str | None) -> TierPolicy:
    """The policy of ``--policy FILE``, SPEC's defaults without it; raises Failure naming the file."""
    if path is None:
        return DEFAULT_POLICY
    try:
        return load_policy_file(path)
    except PolicyError as error:
        raise Failure(f"policy {path}: {error}") from None


def parse_namespace_tiers(values: Sequence[str], policy: TierPolicy) -> dict[str, dict[str, str]]:
    """``--namespace-tier NS=TIER`` values as namespace labels; raises BadParameter (exit 2)."""
    labels: dict[str, dict[str, str]] = {}
    for value in values:
        namespace, sep, tier = value.partition("=")
        if not sep or not namespace or not tier:
            raise click.BadParameter(f"{value!r}: expected NS=TIER", param_hint="--namespace-tier")
        if tier not in policy.tiers:
            raise click.BadParameter(
                f"{value!r}: unknown tier {tier!r} (tiers are: {', '.join(policy.tiers)})",
                param_hint="--namespace-tier",
            )
        labels[namespace] = {policy.tier_label: tier}
    return labels


def read_input(paths: Sequence[str], *, skip_non_objects: bool = False) -> list[SourcedObject]:
    """The objects of ``-f`` paths (stdin without any); raises Failure naming the file and document."""
    # Every object read lives until the report is written, and loading allocates a few containers per YAML node:
    # the cyclic collector would walk the growing heap again and again (40% of ``check``'s CPU on 10k objects).
    # Loading makes no cycles (a loader is disposed with its document), so nothing is left for the collector to
    # find; afterwards the objects read are frozen out of its reach, as ``cluster.py`` does with a listing.
    gc.disable()
    try:
        return read_manifests(list(paths), sys.stdin, skip_non_objects=skip_non_objects)
    except ManifestError as error:
        raise Failure(str(error)) from None
    finally:
        gc.enable()
        gc.freeze()


def write_report(text: str) -> None:
    """Print a rendered report. A reader that went away (``| head``) keeps the verdict, without a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Silence the flush at exit too.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
