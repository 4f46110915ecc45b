"""Import contracts: the engine is pure (ARCHITECTURE's one rule), ``tierguard check`` loads no shell library of
the webhook or the cluster, no module of the package imports itself in a loop, directly or through a
function-local import, no subpackage either (through any of its modules), and only ``kube/`` imports the
kubernetes client."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import tierguard

FORBIDDEN = ("kopf", "kubernetes", "aiohttp", "click", "prometheus_client")
PACKAGE = Path(tierguard.__file__).parent
PURE_MODULES = [*sorted((PACKAGE / "engine").rglob("*.py")), *sorted((PACKAGE / "vap").rglob("*.py")),
                *(PACKAGE / name for name in ("policy.py", "errors.py", "kinds.py"))]
WEBHOOK_AND_CLUSTER = ("kopf", "kubernetes", "aiohttp")


def imports(path: Path) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at module level or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in imports(path):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif node.module and node.level == 0:
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


# --- tierguard check stays light --------------------------------------------------------------------------------

RUN_COMMAND = """
import json, sys
from tierguard.commands.root import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in WATCHED if m in sys.modules)}), file=sys.stderr)
""".replace("WATCHED", repr(WEBHOOK_AND_CLUSTER))


def loaded_by(*argv: str, stdin: str = "") -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, "-c", RUN_COMMAND, *argv], input=stdin, capture_output=True, text=True,
                          check=False, timeout=60)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], report["loaded"]


POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: dev}\nspec: {containers: [{name: a, image: b}]}\n"


def test_check_imports_no_kopf_kubernetes_or_aiohttp() -> None:
    assert loaded_by("check", stdin=POD) == (0, [])
    assert loaded_by("check", "-o", "json", stdin=POD) == (0, [])
    assert loaded_by("check", "--help") == (0, [])
    assert loaded_by("--help") == (0, [])  # the root help lists commands without loading them


def test_the_probe_can_see_them() -> None:
    """Not vacuous: the same probe sees kopf once `run` is asked for (its help imports the webhook)."""
    code, loaded = loaded_by("run", "--help")
    assert code == 0 and "kopf" in loaded


# --- no import cycles -------------------------------------------------------------------------------------------

def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def targets(node: ast.Import | ast.ImportFrom, importer: str) -> set[str]:
    """The package's modules an import statement loads (``from pkg import mod`` names the module mod)."""
    found = set()
    if isinstance(node, ast.Import):
        found = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:
            package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        for alias in node.names:
            found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {name for name in found if name in MODULES}


def import_graph() -> dict[str, set[str]]:
    return {name: set().union(*(targets(node, name) for node in imports(path))) - {name}
            for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for successor in sorted(graph[node]):
            if state.get(successor) == "open":
                return [*stack[stack.index(successor):], successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_function_local_imports() -> None:
    graph = import_graph()
    assert "tierguard.engine.model" in graph["tierguard.engine.rules.gateway"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    local = ast.parse("def f():\n    from tierguard.policy import load_policy\n")
    assert any(isinstance(node, ast.ImportFrom) for node in ast.walk(local))


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


# --- no package cycle -------------------------------------------------------------------------------------------

def package_of(module: str) -> str:
    """The node a module belongs to: its top-level subpackage of tierguard, or itself if a top-level module."""
    parts = module.split(".")
    return ".".join(parts[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Imports between the subpackages of tierguard (a top-level module is its own node); the root package's
    ``__init__`` (the version) is no node."""
    packages: dict[str, set[str]] = {}
    for module, imported in graph.items():
        if module == PACKAGE.name:
            continue
        source = package_of(module)
        packages.setdefault(source, set()).update(
            package_of(target) for target in imported if target != PACKAGE.name and package_of(target) != source)
    return packages


def test_the_package_graph_is_between_subpackages() -> None:
    graph = package_graph({"tierguard.a.x": {"tierguard.b.y", "tierguard.a.z"}, "tierguard.a.z": set(),
                           "tierguard.b.y": {"tierguard.c"}, "tierguard.c": set(), "tierguard": {"tierguard.c"}})
    assert graph == {"tierguard.a": {"tierguard.b"}, "tierguard.b": {"tierguard.c"}, "tierguard.c": set()}


def test_no_package_cycle() -> None:
    """A package that imports another is built on it: neither may need the other back (``audit`` once imported the
    webhook's state and metrics while the webhook imported the audit; ``render`` the parity model of ``audit``)."""
    cycle = find_cycle(package_graph(import_graph()))
    assert cycle is None, " -> ".join(cycle or [])


def test_only_kube_imports_the_kubernetes_client() -> None:
    """Every request to the API server goes through ``kube/`` (one loader, one REST client, one pager)."""
    outside = {name for name, path in MODULES.items()
               if not name.startswith(f"{PACKAGE.name}.kube") and "kubernetes" in imported_roots(path)}
    assert outside == set()
