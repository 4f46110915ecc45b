"""Run a command with stderr on a pseudo-terminal and collect what it draws there (progress lines only appear
when stderr is a terminal). Shared by the CLI tests and the e2e audit test."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import IO


def run_with_stderr_on_a_terminal(command: Sequence[str], env: Mapping[str, str], timeout: float
                                  ) -> tuple[int, str, str]:
    """(exit status, stdout, what stderr drew on the terminal), within ``timeout`` seconds. Stdout goes to a file,
    not a pipe nobody reads while the terminal is drained: a large report would fill the pipe and block."""
    controller, terminal = pty.openpty()
    with tempfile.TemporaryFile() as output:
        return _drain(command, env, timeout, controller=controller, terminal=terminal, output=output)


def _drain(command: Sequence[str], env: Mapping[str, str], timeout: float, *, controller: int, terminal: int,
           output: IO[bytes]) -> tuple[int, str, str]:
    try:
        process = subprocess.Popen(list(command), stdout=output, stderr=terminal, stdin=subprocess.DEVNULL,
                                   env=dict(env))
        os.close(terminal)
        terminal = -1
        seen = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the terminal closed: every writer exited
                    break
                if not chunk:
                    break
                seen += chunk
            elif process.poll() is not None:
                break
        process.wait(timeout=timeout)
        output.seek(0)
        return process.returncode, output.read().decode(), seen.decode()
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
