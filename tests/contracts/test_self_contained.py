"""The repository reads nothing outside itself: no file under operator/, tests/, hack/, charts/ or bench/ names a
path of the machine it was written on (the workspace above the checkout, a sibling ``shared`` directory).

Fixtures from elsewhere are vendored under tests/fixtures/ with their source and licence.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TREES = ("operator", "tests", "hack", "charts", "bench")
SKIPPED_DIRS = {"__pycache__", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
# Built from parts so that this file does not match itself.
OUTSIDE = tuple(dict.fromkeys((
    "/" + "work/", ".." + "/shared", "/" + "shared/fixtures", str(REPO.parent).rstrip("/") + "/")))


def tree_files() -> list[Path]:
    found = []
    for tree in TREES:
        for path in sorted((REPO / tree).rglob("*")):
            if path.is_file() and not SKIPPED_DIRS & set(path.relative_to(REPO).parts):
                found.append(path)
    return found


def test_the_trees_exist() -> None:
    assert all((REPO / tree).is_dir() for tree in TREES)
    assert any(path.name == "cronjob.yaml" for path in tree_files()), "the vendored Istio fixtures are missing"


def test_no_reference_outside_the_repository() -> None:
    offenders = []
    for path in tree_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary: nothing to read a path from
        offenders += [f"{path.relative_to(REPO)} names {needle!r}" for needle in OUTSIDE if needle in text]
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)
