"""The examples stay true: every ``$ tierguard ...`` in their READMEs gives exactly the output and exit status
shown there, and each example's good/bad variants give the documented rule ids."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from tierguard.commands.root import main
from tierguard.policy import load_policy_file

EXAMPLES = Path(__file__).parents[2] / "examples"
READMES = sorted(EXAMPLES.rglob("README.md"))
_BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Walkthrough:
    readme: Path
    argv: tuple[str, ...]
    output: str
    exit_code: int

    def __str__(self) -> str:
        return f"{self.readme.parent.name}: tierguard {' '.join(self.argv)}"


def walkthroughs(readme: Path) -> list[Walkthrough]:
    """Each ``$ tierguard`` line, the lines after it up to ``$ echo $?``, and the status shown after that."""
    found = []
    for block in _BLOCK.findall(readme.read_text()):
        lines = block.splitlines()
        index = 0
        while index < len(lines):
            line = lines[index]
            index += 1
            if not line.startswith("$ tierguard "):
                continue
            output = []
            while not lines[index].startswith("$ "):
                output.append(lines[index])
                index += 1
            assert lines[index] == "$ echo $?", f"{readme}: show the exit status after `{line}`"
            found.append(Walkthrough(readme, tuple(shlex.split(line)[2:]), "\n".join(output), int(lines[index + 1])))
            index += 2
    return found


WALKTHROUGHS = [w for readme in READMES for w in walkthroughs(readme)]


def test_every_readme_has_a_walkthrough() -> None:
    assert {r.parent.name for r in READMES} == {"examples", "istio-app", "istio-ambient", "vault-app", "reflector",
                                                  "access"}
    for readme in READMES:
        assert walkthroughs(readme), readme


@pytest.mark.parametrize("walkthrough", WALKTHROUGHS, ids=[str(w) for w in WALKTHROUGHS])
def test_readme_walkthrough(walkthrough: Walkthrough, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(walkthrough.readme.parent)
    code = main(list(walkthrough.argv))
    out, err = capsys.readouterr()
    assert (out + err).rstrip("\n") == walkthrough.output
    assert code == walkthrough.exit_code


RULE = re.compile(r": \[([a-z-]+)\] ")

# (example directory, arguments, exit status, {(rule, object)}): the facts each README promises.
EXPECTED = [
    ("istio-app", "--policy policy.yaml -f namespaces.yaml -f good/", 0, set()),
    ("istio-app", "--policy policy.yaml -f namespaces.yaml -f bad/", 1,
     {("sidecar-injection-disabled", "Deployment shop-prod/web"),
      ("sidecar-missing", "CronJob shop-reports/nightly-report")}),
    ("istio-ambient", "--policy policy.yaml -f namespaces.yaml -f good/", 0, set()),
    ("istio-ambient", "--policy policy.yaml -f namespaces.yaml -f bad/", 1,
     {("sidecar-injection-disabled", "Deployment shop-dev/legacy"),
      ("sidecar-missing", "DaemonSet shop-dev/node-agent"), ("sidecar-missing", "Job shop-batch/reindex")}),
    ("vault-app", "--policy policy.yaml -f namespaces.yaml -f good/", 0, set()),
    ("vault-app", "--policy policy.yaml -f namespaces.yaml -f bad/", 1,
     {("workload-secret-cross-tier", "Deployment payments-dev/payments")}),
    ("reflector", "-f namespaces.yaml -f good/", 0, set()),
    ("reflector", "-f namespaces.yaml -f bad/", 1,
     {("secret-replication-cross-tier", "Secret billing-prod/db-credentials"),
      ("secret-replication-cross-tier", "Secret billing-dev/db-credentials"),
      ("workload-secret-cross-tier", "Deployment billing-dev/billing")}),
    ("", "-f namespaces.yaml -f bad-pod.yaml", 1, {("secret-replication-cross-tier", "Secret demo-dev/db")}),
    ("", "-f bad-pod.yaml --namespace-tier demo-dev=dev", 1,
     {("secret-replication-cross-tier", "Secret demo-dev/db")}),
    ("", "-f bad-pod.yaml", 0, set()),
    ("", "-f namespaces.yaml -f policy.yaml", 0, set()),
]


@pytest.mark.parametrize("row", EXPECTED, ids=[f"{d or 'examples'}: {a}" for d, a, _, _ in EXPECTED])
def test_example_rules(row: tuple[str, str, int, set[tuple[str, str]]], capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    directory, args, exit_code, expected = row
    monkeypatch.chdir(EXAMPLES / directory)
    code = main(["check", *shlex.split(args)])
    out, _ = capsys.readouterr()
    found = set()
    for line in out.splitlines()[:-1]:
        match = RULE.search(line)
        assert match, line
        found.add((match.group(1), line.split("#", 1)[1].split(" ", 1)[1].split(":", 1)[0]))
    assert (code, found) == (exit_code, expected)


def test_bad_pod_is_refused_by_the_default_policy_with_the_demo_namespaces(
        capsys: pytest.CaptureFixture[str]) -> None:
    """hack/demo.sh applies namespaces.yaml, then bad-pod.yaml, and expects a refusal."""
    code = main(["check", "-f", str(EXAMPLES / "namespaces.yaml"), "-f", str(EXAMPLES / "bad-pod.yaml")])
    assert code == 1 and "[secret-replication-cross-tier]" in capsys.readouterr().out


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("policy.yaml")), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_policies_load(path: Path) -> None:
    policy = load_policy_file(path)
    assert policy.name != "default"  # applying an example must never replace the policy the webhook enforces
