"""The ``tierguard`` command. Every command is a thin shell: read input, call the engine, render, exit.

Exit status: 0 nothing denied, 1 something denied, 2 unreadable input, invalid policy or bad usage. No command
lets a traceback reach the user.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from tierguard import __version__
from tierguard.engine import EvaluationRequest, OfflineContext, evaluate, object_ref
from tierguard.engine.fingerprints import Fingerprinter
from tierguard.manifests import ManifestError, read_manifests
from tierguard.policy import DEFAULT_POLICY, PolicyError, TierPolicy, load_policy_file
from tierguard.report import Result, emit

EXIT_OK, EXIT_DENIED, EXIT_ERROR = 0, 1, 2


class Failure(click.ClickException):
    """An error the user can fix: printed as one line, exit status 2."""

    exit_code = EXIT_ERROR

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def load_policy_option(path: str | None) -> TierPolicy:
    if path is None:
        return DEFAULT_POLICY
    try:
        return load_policy_file(path)
    except PolicyError as error:
        raise Failure(f"policy {path}: {error}") from None


def parse_namespace_tiers(values: Sequence[str], policy: TierPolicy) -> dict[str, dict[str, str]]:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tierguard")
def cli() -> None:
    """Tier isolation and security-sidecar parity for Kubernetes."""


@cli.command()
@click.option("-f", "--filename", "paths", multiple=True, metavar="PATH",
              help="A manifest file, a directory (recursively *.yaml, *.yml, *.json) or - for stdin. Repeatable.")
@click.option("--policy", "policy_path", metavar="FILE", help="A TierPolicy document (default: SPEC's defaults).")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--namespace-tier", "namespace_tiers", multiple=True, metavar="NS=TIER",
              help="Declare a namespace's tier without a Namespace object. Repeatable.")
def check(paths: tuple[str, ...], policy_path: str | None, output: str, namespace_tiers: tuple[str, ...]) -> None:
    """Check manifests against the tier policy, offline, as the webhook would at admission.

    Exit status: 0 nothing denied, 1 at least one denial, 2 unreadable input or invalid policy.
    """
    policy = load_policy_option(policy_path)
    extra_namespaces = parse_namespace_tiers(namespace_tiers, policy)
    try:
        objects = read_manifests(list(paths), sys.stdin)
    except ManifestError as error:
        raise Failure(str(error)) from None
    context = OfflineContext.from_objects((o.obj for o in objects), Fingerprinter.random(), extra_namespaces)
    results = [
        Result(object_ref(o.obj), o.source, evaluate(EvaluationRequest.from_manifest(o.obj), context, policy))
        for o in objects
    ]
    raise SystemExit(emit(results, output))


def _register_optional_commands() -> None:
    """Commands whose dependencies (kopf, the kubernetes client) load only when they run."""
    try:
        from tierguard.audit.command import audit, parity  # noqa: PLC0415 - keeps `check` free of the client
        from tierguard.webhook.command import certs, run  # noqa: PLC0415 - and of kopf's
    except ImportError:
        return
    cli.add_command(run)
    cli.add_command(certs)
    cli.add_command(audit)
    cli.add_command(parity)


def main(argv: Sequence[str] | None = None) -> int:
    _register_optional_commands()
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="tierguard", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        error.show()
        return EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_ERROR
    except SystemExit as done:
        return int(done.code) if isinstance(done.code, int) else EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
