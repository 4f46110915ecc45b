"""``--help`` of every command (click's advice for lazily loaded commands): each one loads, and says what it
does and how it exits."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tierguard.commands.root import COMMANDS, LazyCommand, load_command, main


def test_root_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: tierguard [OPTIONS] COMMAND [ARGS]...")
    listed = re.findall(r"^  (\S+)", out.split("Commands:\n", 1)[1], re.MULTILINE)
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: tierguard {command} [OPTIONS]")
    assert "-h, --help" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_root_help_summary_is_the_commands_own(command: str) -> None:
    loaded = load_command(command, COMMANDS[command].target)
    assert loaded.name == command
    assert COMMANDS[command].summary == (loaded.help or "").split("\n\n")[0].replace("\n", " ")


def test_a_command_that_cannot_load_is_an_error_not_a_missing_command(capsys: pytest.CaptureFixture[str],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "run", LazyCommand("tierguard.commands.no_such_module:run", "x"))
    assert main(["run", "--help"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the run command cannot load (ModuleNotFoundError: ")
    assert "No such command" not in err


@pytest.mark.parametrize("command", ["check", "audit", "parity", "access"])
def test_command_help_states_the_exit_status(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    main([command, "--help"])
    assert "Exit status: 0" in capsys.readouterr().out


def test_unknown_command_and_bad_usage_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == 2
    assert "No such command 'nope'" in capsys.readouterr().err
    assert main(["check", "--output", "xml"]) == 2


def test_python_dash_m_is_the_same_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "tierguard", "certs", "--help"], capture_output=True, text=True,
                          check=False, timeout=60)
    assert (done.returncode, done.stdout.splitlines()[0]) == (0, "Usage: tierguard certs [OPTIONS]")
