"""The CLI tests' runner: ``run(*argv, stdin="")`` calls ``tierguard`` in-process and returns (status, out, err),
failing on any traceback."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from tierguard.commands.root import main

Run = tuple[int, str, str]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    def runner(*argv: str, stdin: str = "") -> Run:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    return runner
