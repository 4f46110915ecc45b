"""Running helm on charts/tierguard and reading what it renders. No pytest policy here (see conftest.py).

helm is found as: TIERGUARD_HELM, else the cache of hack/build-binaries.sh (the pinned Helm 4), else ``helm``
on PATH. TIERGUARD_HELM3 optionally names a Helm 3 binary; the lint tests then run with both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "tierguard"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
BUILD_BINARIES = REPO / "hack" / "build-binaries.sh"

HELM_TIMEOUT_S = 120
RELEASE = "tg"
NAMESPACE = "tierguard-system"

Doc = dict[str, Any]


class HelmError(AssertionError):
    """helm exited non-zero where success was expected."""


def cache_helm() -> Path | None:
    """The helm that hack/build-binaries.sh keeps in its cache, if it is there (nothing is built here)."""
    if not os.access(BUILD_BINARIES, os.X_OK):
        return None
    try:
        out = subprocess.run([str(BUILD_BINARIES), "--bin-dir"], capture_output=True, text=True, check=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    candidate = Path(out.stdout.strip()) / "helm"
    return candidate if os.access(candidate, os.X_OK) else None


def find_helm() -> Path | None:
    if explicit := os.environ.get("TIERGUARD_HELM"):
        return Path(explicit)
    if cached := cache_helm():
        return cached
    found = shutil.which("helm")
    return Path(found) if found else None


def extra_helms() -> list[Path]:
    """Further helm binaries the compatibility tests also use (TIERGUARD_HELM3)."""
    extra = os.environ.get("TIERGUARD_HELM3")
    return [Path(extra)] if extra else []


@dataclass(frozen=True)
class Helm:
    path: Path
    env: Mapping[str, str] | None = None
    """Environment for helm (KUBECONFIG for --dry-run=server); None: this process's, without KUBECONFIG."""

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(self.env) if self.env is not None else {**os.environ}
        if self.env is None:
            # Offline renders must never reach a cluster by accident.
            env.pop("KUBECONFIG", None)
            env["KUBECONFIG"] = os.devnull
        proc = subprocess.run([str(self.path), *args], capture_output=True, text=True, env=env,
                              timeout=HELM_TIMEOUT_S, check=False)
        if check and proc.returncode != 0:
            raise HelmError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
        return proc

    def version(self) -> str:
        return self.run("version", "--template", "{{.Version}}").stdout.strip()

    def template_args(self, *, values_files: Iterable[Path] = (), sets: Mapping[str, str] | None = None,
                      set_strings: Mapping[str, str] | None = None, namespace: str = NAMESPACE,
                      release: str = RELEASE, extra: Sequence[str] = ()) -> list[str]:
        args = ["template", release, str(CHART), "--namespace", namespace]
        for path in values_files:
            args += ["--values", str(path)]
        for key, value in (sets or {}).items():
            args += ["--set", f"{key}={value}"]
        for key, value in (set_strings or {}).items():
            args += ["--set-string", f"{key}={value}"]
        return [*args, *extra]

    def template(self, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """``helm template``; check=False: the caller looks at the exit status."""
        return self.run(*self.template_args(**kwargs), check=False)

    def render(self, **kwargs: Any) -> list[Doc]:
        """The objects ``helm template`` renders (must succeed)."""
        return parse(self.run(*self.template_args(**kwargs)).stdout)


# libyaml's loader when PyYAML has it: rendered manifests are long and the pure-Python loader is slow.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(manifest: str) -> list[Doc]:
    return [doc for doc in yaml.load_all(manifest, Loader=_Loader) if doc]


@cache
def _cached_render(helm: Helm, key: tuple[Any, ...]) -> tuple[Doc, ...]:
    values_files, sets, namespace, extra = key
    return tuple(helm.render(values_files=values_files, sets=dict(sets), namespace=namespace, extra=extra))


def render_cached(helm: Helm, *, values_files: Sequence[Path] = (), sets: Mapping[str, str] | None = None,
                  namespace: str = NAMESPACE, extra: Sequence[str] = ()) -> list[Doc]:
    """``Helm.render`` memoised per argument set (the certificates in it are then fixed for the session)."""
    key = (tuple(values_files), tuple(sorted((sets or {}).items())), namespace, tuple(extra))
    return list(_cached_render(helm, key))


def kinds(docs: Iterable[Doc]) -> list[str]:
    return [doc["kind"] for doc in docs]


def only(docs: Iterable[Doc], kind: str, name: str | None = None) -> Doc:
    """The one object of this kind (and name); fails when there is none or several."""
    found = [doc for doc in docs if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected exactly one {kind} {name or ''}, found {len(found)}: {kinds(docs)}"
    return found[0]


def all_of(docs: Iterable[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]
