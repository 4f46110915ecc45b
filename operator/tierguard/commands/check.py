"""``tierguard check``: manifests judged offline, as the webhook would judge them at admission."""

from __future__ import annotations

import click

from tierguard.commands.options import (
    exit_status,
    filename_option,
    load_policy_option,
    namespace_tier_option,
    output_option,
    parse_namespace_tiers,
    policy_option,
    read_input,
    write_report,
)
from tierguard.engine.objects import placed_in
from tierguard.engine.offline import judge_documents
from tierguard.render import render_results


@click.command()
@filename_option("A manifest file, a directory (recursively *.yaml, *.yml, *.json) or - for stdin. Repeatable.")
@policy_option("A TierPolicy document (default: SPEC's defaults).")
@output_option(["text", "json"])
@namespace_tier_option("Declare a namespace's tier without a Namespace object. Repeatable.")
@click.option("-n", "--namespace", "namespace", metavar="NS", default=None,
              help="Place objects that name no namespace in NS, as `kubectl apply -n NS` does (default: default).")
def check(paths: tuple[str, ...], policy_path: str | None, output: str, namespace_tiers: tuple[str, ...],
          namespace: str | None) -> int:
    """Check manifests against the tier policy, offline, as the webhook would at admission.

    Exit status: 0 nothing denied, 1 at least one denial, 2 unreadable input or invalid policy.
    """
    policy = load_policy_option(policy_path)
    namespace_labels = parse_namespace_tiers(namespace_tiers, policy)
    objects = read_input(paths)
    documents = [(placed_in(o.obj, namespace) if namespace else o.obj, o.source) for o in objects]
    results = judge_documents(documents, policy, namespace_labels=namespace_labels)
    write_report(render_results(results, output))
    return exit_status(all(r.decision.allowed for r in results))
