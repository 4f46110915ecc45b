"""The engine is pure: it imports no kopf, kubernetes client, aiohttp or click (ARCHITECTURE's one contract)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tierguard

FORBIDDEN = ("kopf", "kubernetes", "aiohttp", "click", "prometheus_client")
PACKAGE = Path(tierguard.__file__).parent
PURE_MODULES = [*sorted((PACKAGE / "engine").rglob("*.py")), PACKAGE / "policy.py"]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_engine_sources_import_no_shell_library() -> None:
    offenders = {str(p.relative_to(PACKAGE)): sorted(imported_roots(p) & set(FORBIDDEN)) for p in PURE_MODULES}
    assert not {k: v for k, v in offenders.items() if v}


def test_importing_the_engine_loads_no_shell_library() -> None:
    code = ("import sys, tierguard.engine, tierguard.policy; "
            f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_check_command_does_not_import_kopf() -> None:
    code = "import sys, tierguard.cli, tierguard.manifests, tierguard.report; print('kopf' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
