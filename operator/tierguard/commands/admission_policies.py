"""``tierguard admission-policies``: the ValidatingAdmissionPolicies of a TierPolicy, printed, or written as the
API server's static manifests (``--static DIR``). The manifests come from ``tierguard.vap`` (pure); this writes
them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click
import yaml

from tierguard.commands.options import Failure, load_policy_option, policy_option, write_report
from tierguard.vap import Options, generate
from tierguard.vap.static import FILE_NAME, generate_static
from tierguard.webhook.settings import AdmissionPolicySettings, RunSettings


@click.command("admission-policies")
@policy_option("A TierPolicy document (default: SPEC's defaults). Give the one the cluster uses.")
@click.option("--static", "static_dir", metavar="DIR",
              help=f"Write the namespace rules as static manifests to DIR/{FILE_NAME} (DIR created if absent; "
                   "- for stdout): the API server's staticManifestsDir (Kubernetes 1.36+, feature gate "
                   "ManifestBasedAdmissionControlConfig; docs/rules.md, \"Static admission policies\").")
@click.option("--prefix", default=AdmissionPolicySettings.prefix, show_default=True,
              help="Names: PREFIX-namespaces-deny, ... (static: PREFIX-namespaces-deny.static.k8s.io, ...).")
@click.option("--namespace", default=RunSettings.namespace, show_default=True,
              help="tierguard's own namespace: always exempt, as in the webhook.")
@click.option("--failure-policy", type=click.Choice(["Fail", "Ignore"]), default=None,
              help="When an expression cannot be evaluated. Default: Fail for --static (the rules must hold with "
                   f"nothing else running), {AdmissionPolicySettings.failure_policy} otherwise (as tierguard "
                   "applies them).")
def admission_policies(*, policy_path: str | None, static_dir: str | None, prefix: str, namespace: str,
                       failure_policy: str | None) -> int:
    """Print the ValidatingAdmissionPolicies of a TierPolicy, or write its namespace rules as static manifests.

    Without --static, prints (YAML) the policies and bindings that `tierguard run` keeps in the cluster. With
    --static DIR, writes the namespace rules (namespace-tier-unknown, namespace-tier-changed) in the form the API
    server loads from files before it serves anything, and which cannot be deleted through its API.

    Exit status: 0 written, 2 invalid policy, unwritable DIR or bad usage.
    """
    policy = load_policy_option(policy_path)
    if static_dir is None:
        options = Options(prefix=prefix, own_namespace=namespace,
                          failure_policy=failure_policy or AdmissionPolicySettings.failure_policy)
        write_report(_yaml(generate(policy, options)))
        return 0
    options = Options(prefix=prefix, own_namespace=namespace, failure_policy=failure_policy or "Fail")
    try:
        manifests = generate_static(policy, options)
    except ValueError as error:
        raise Failure(f"the API server would refuse these static manifests: {error}") from None
    source = policy_path or "SPEC's default TierPolicy"
    text = (f"# The namespace rules of {source} as static ValidatingAdmissionPolicies, written by `tierguard "
            f"admission-policies --static`.\n# Regenerate with it when the TierPolicy changes; do not edit.\n"
            + _yaml(manifests))
    if static_dir == "-":
        write_report(text)
        return 0
    target = _write(Path(static_dir), text)
    names = ", ".join(m["metadata"]["name"] for m in manifests if m["kind"] == "ValidatingAdmissionPolicy")
    click.echo(f"wrote {target}: {names}", err=True)
    return 0


def _yaml(manifests: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(manifests, sort_keys=False, width=1 << 16)


def _write(directory: Path, text: str) -> Path:
    """Replaces DIR/FILE_NAME whole: a running API server rereads the directory when it changes, and must never
    read half a file (the temporary file's name ends in .tmp, which it does not read)."""
    target = directory / FILE_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{FILE_NAME}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise Failure(f"cannot write {target}: {error.strerror or error}") from None
    return target
