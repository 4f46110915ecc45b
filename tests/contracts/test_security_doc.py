"""docs/security.md stays true to the suite: every test it names as ``tests/...py::test_name`` exists (a module-level
``def test_name`` in that file), so a test renamed or removed fails here until the threat model is updated. The
page is linked from the README and docs/architecture.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "security.md"
_REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(test_\w+)")


def references() -> list[tuple[str, str]]:
    return sorted(set(_REFERENCE.findall(PAGE.read_text())))


REFERENCES = references()


def test_the_page_names_tests() -> None:
    assert len(REFERENCES) >= 40, REFERENCES
    text = PAGE.read_text()
    for section in ("## Assets", "## Attackers", "## Trust boundaries", "## Known gaps"):
        assert section in text, section


@pytest.mark.parametrize(("path", "name"), REFERENCES, ids=[f"{p}::{n}" for p, n in REFERENCES])
def test_every_named_test_exists(path: str, name: str) -> None:
    source = REPO / path
    assert source.is_file(), f"docs/security.md names {path}, which does not exist"
    defined = re.search(rf"^(async )?def {name}\(", source.read_text(), re.MULTILINE)
    assert defined, f"docs/security.md names {path}::{name}, which is not a test there"


def test_the_page_is_linked() -> None:
    assert "docs/security.md" in (REPO / "README.md").read_text()
    assert "security.md" in (REPO / "docs" / "architecture.md").read_text()
