"""The Dockerfile's install steps, performed without Docker (there is no engine here or in CI).

The build stage copies pyproject.toml, README* and operator/ and turns them into a wheel; the final stage
installs it on a clean interpreter, as a non-root user, with `tierguard run` as the entrypoint. This test does
the same in a temporary directory: copy exactly what the Dockerfile copies, build the wheel, install it into
a fresh virtualenv and run the entrypoint's --help. To stay fast and offline-friendly the virtualenv sees this
interpreter's site-packages for the dependencies (a ``.pth`` file, ``--no-deps``) and the wheel is
built without build isolation when setuptools and wheel are importable here; otherwise pip fetches them (and
reuses its cache).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from .helm import REPO

DOCKERFILE = REPO / "Dockerfile"
PIP_TIMEOUT_S = 300


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in text.splitlines() if line.strip()]


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction, args in dockerfile_instructions():
        if instruction == "FROM":
            result.append([])
        if result:
            result[-1].append((instruction, args))
    return result


def test_dockerfile_shape() -> None:
    build, final = stages()
    args = dict(arg.split("=", 1) for kind, arg in dockerfile_instructions() if kind == "ARG" and "=" in arg)
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert build[0] == ("FROM", "${PYTHON_IMAGE} AS build")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")
    final_text = " ".join(f"{kind} {args}" for kind, args in final)
    # No compilers or package managers in the image that runs.
    for forbidden in ("apt-get", "gcc", "build-essential", "apk ", "pip install"):
        assert forbidden not in final_text, forbidden
    assert ("COPY", "--from=build /install /usr/local") in final
    users = [args for kind, args in final if kind == "USER"]
    assert users and re.fullmatch(r"65532(:65532)?", users[-1]), users
    assert final[-1] == ("ENTRYPOINT", '["tierguard", "run"]')
    labels = " ".join(args for kind, args in final if kind == "LABEL")
    for label in ("org.opencontainers.image.source", "org.opencontainers.image.version"):
        assert label in labels


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!operator/"} <= set(lines)


def copied_sources(build: list[tuple[str, str]]) -> list[str]:
    """The source patterns of the build stage's COPY instructions (not --from)."""
    sources: list[str] = []
    for kind, args in build:
        if kind == "COPY" and not args.startswith("--from"):
            *srcs, _dest = shlex.split(args)
            sources += srcs
    return sources


def run(*cmd: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([str(part) for part in cmd], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=PIP_TIMEOUT_S, check=False)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return proc


def can_build_offline() -> bool:
    """This interpreter has the build backend pyproject.toml asks for (setuptools>=68, wheel)."""
    if not all(importlib.util.find_spec(name) for name in ("setuptools", "wheel")):
        return False
    major = int(importlib.metadata.version("setuptools").split(".")[0])
    return major >= 68


def test_image_install_steps(tmp_path: Path) -> None:
    build, _final = stages()
    context = tmp_path / "src"
    context.mkdir()
    # COPY pyproject.toml README* ./  and  COPY operator/ operator/
    for pattern in copied_sources(build):
        for source in sorted(REPO.glob(pattern.rstrip("/"))):
            target = context / source.relative_to(REPO)
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns(
                    "__pycache__", "*.pyc", "*.egg-info"))
            else:
                shutil.copy2(source, target)
    assert (context / "pyproject.toml").is_file() and (context / "operator" / "tierguard").is_dir()

    # RUN pip wheel --wheel-dir /wheels .   (tierguard's own wheel; dependencies come from this interpreter)
    wheels = tmp_path / "wheels"
    isolation = ["--no-build-isolation"] if can_build_offline() else []
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--wheel-dir", wheels, ".", cwd=context)
    (wheel,) = wheels.glob("tierguard-*.whl")

    # The final stage: install on a clean interpreter (a fresh venv standing in for /usr/local).
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    # The dependencies (and pip) are those of the interpreter running the tests, wherever it keeps them (a
    # virtualenv's site-packages is not the base interpreter's "system" site-packages): a .pth file adds them
    # after the venv's own site-packages, so tierguard itself still comes from the fresh install.
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", wheel)
    origin = run(python, "-c", "import tierguard; print(tierguard.__file__)").stdout.strip()
    assert Path(origin).is_relative_to(venv), f"tierguard imported from {origin}, not from the fresh install"

    # ENTRYPOINT ["tierguard", "run"]: the console script exists and the command answers --help.
    tierguard = venv / "bin" / "tierguard"
    assert tierguard.is_file()
    assert "check" in run(tierguard, "--help").stdout
    help_run = subprocess.run([str(tierguard), "run", "--help"], capture_output=True, text=True, timeout=60,
                              check=False)
    assert help_run.returncode == 0, help_run.stderr
    for flag in ("--namespace", "--tls-cert", "--metrics-port", "--hmac-secret", "--log-format"):
        assert flag in help_run.stdout, flag
