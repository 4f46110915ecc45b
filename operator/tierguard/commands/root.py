"""The ``tierguard`` group and ``main()``, the console script's entry point.

Subcommands are loaded by name, as click's documentation shows ("Lazily Loading Subcommands"): the group maps
each name to ``module:attribute`` and imports that module only when the command runs (or its help is shown),
so ``tierguard check`` never imports kopf, the kubernetes client or aiohttp, and ``tierguard --help`` imports
no command. A command whose module cannot be imported says so (exit 2), never "No such command".

Exit status (``options.ExitStatus``): 0 nothing denied, 1 something denied, 2 unreadable input, invalid
policy or bad usage. No command lets a traceback reach the user.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click

from tierguard import __version__
from tierguard.commands.options import ExitStatus, Failure


@dataclass(frozen=True)
class LazyCommand:
    target: str
    """``module:attribute`` of the click command."""
    summary: str
    """What ``tierguard --help`` lists, without importing the module; a test keeps it the command's own."""


COMMANDS: Mapping[str, LazyCommand] = {
    "check": LazyCommand("tierguard.commands.check:check",
                         "Check manifests against the tier policy, offline, as the webhook would at admission."),
    "run": LazyCommand("tierguard.commands.run:run",
                       "Serve admission reviews for the cluster in the current kubeconfig (or in-cluster config)."),
    "certs": LazyCommand("tierguard.commands.certs:certs",
                         "Write a self-signed CA and a serving certificate for running the webhook outside a cluster."),
    "audit": LazyCommand("tierguard.commands.audit:audit",
                         "Audit what already runs: every object the webhook would judge, as if it were applied now."),
    "parity": LazyCommand("tierguard.commands.parity:parity",
                          "Security-service parity: which tiers' workloads run every required sidecar."),
    "access": LazyCommand("tierguard.commands.access:access",
                          "Who can reach which tier's secrets: subjects x tiers, by binding, role and verb."),
    "admission-policies": LazyCommand("tierguard.commands.admission_policies:admission_policies",
                                      "Print the ValidatingAdmissionPolicies of a TierPolicy, or write its namespace "
                                      "rules as static manifests."),
}
"""Command name -> where its click command is, in the order ``--help`` lists them."""


class LazyGroup(click.Group):
    """A group whose commands are imported on first use; its own ``--help`` imports none of them."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, LazyCommand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy_commands, *(name for name in super().list_commands(ctx) if name not in self.lazy_commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self.lazy_commands.get(cmd_name)
        if lazy is None:
            return super().get_command(ctx, cmd_name)
        return load_command(cmd_name, lazy.target)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, lazy.summary) for name, lazy in self.lazy_commands.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def load_command(name: str, target: str) -> click.Command:
    """Import a command's module. A broken install says so in one line (exit 2), never "No such command"."""
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise Failure(f"the {name} command cannot load ({type(error).__name__}: {error}); reinstall tierguard "
                      f"with its dependencies") from None
    command = getattr(module, attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tierguard")
def cli() -> None:
    """Tier isolation and security-sidecar parity for Kubernetes."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status (commands return it; click's own errors are status 2)."""
    try:
        status = cli.main(args=list(argv) if argv is not None else None, prog_name="tierguard",
                          standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        error.show()
        return int(ExitStatus.ERROR)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return int(ExitStatus.ERROR)
    except SystemExit as done:  # a library's exit, not a command's: commands return their status
        return int(done.code) if isinstance(done.code, int) else int(ExitStatus.ERROR)
    return int(status) if isinstance(status, int) else int(ExitStatus.OK)


if __name__ == "__main__":
    sys.exit(main())
