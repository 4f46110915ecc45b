"""``tierguard certs``: a self-signed CA and serving certificate, for running the webhook outside a cluster."""

from __future__ import annotations

from pathlib import Path

import click

from tierguard.commands.options import ExitStatus
from tierguard.webhook.certs import write_certificates


@click.command()
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where to write ca.crt, tls.crt and tls.key.")
@click.option("--host", "hosts", multiple=True, default=["127.0.0.1", "localhost"], show_default=True,
              help="Subject alternative names (DNS names or IPs). Repeatable.")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 3650))
def certs(directory: Path, hosts: tuple[str, ...], days: int) -> int:
    """Write a self-signed CA and a serving certificate for running the webhook outside a cluster."""
    paths = write_certificates(directory, list(hosts), days=days)
    click.echo(f"wrote {paths.ca}, {paths.cert}, {paths.key}")
    return ExitStatus.OK
