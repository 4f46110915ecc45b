"""hack/docker/runc-capfilter, on its own: a spec asking for a capability outside the wrapper's bounding set comes
out without it, everything else untouched, and the real runc runs with the same arguments."""

from __future__ import annotations

import copy
import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
WRAPPER = REPO / "hack" / "docker" / "runc-capfilter"

ALL_DOCKER = ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_BPF"]


def load_wrapper() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("runc_capfilter", str(WRAPPER))
    spec = importlib.util.spec_from_loader("runc_capfilter", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


capfilter = load_wrapper()


def privileged_spec() -> dict[str, object]:
    """The parts of a Docker --privileged config.json that matter here, plus fields that must stay untouched."""
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "args": ["/sbin/init"],
            "env": ["container=docker"],
            "capabilities": {name: list(ALL_DOCKER) for name in ("bounding", "effective", "inheritable",
                                                                   "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}],
        },
        "linux": {"maskedPaths": [], "readonlyPaths": []},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    }


def test_bounding_names_reads_the_capbnd_mask() -> None:
    # This VM's mask: every capability up to CAP_CHECKPOINT_RESTORE (40) but CAP_SYS_RESOURCE (24).
    names = capfilter.bounding_names("Name:\tx\nCapBnd:\t000001fffeffffff\n")
    assert "CAP_SYS_RESOURCE" not in names
    assert {"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_TIME", "CAP_CHECKPOINT_RESTORE"} <= names
    assert len(names) == 40


def test_create_drops_only_the_missing_capability_from_the_bundle(tmp_path: Path) -> None:
    spec = privileged_spec()
    (tmp_path / "config.json").write_text(json.dumps(spec))
    allowed = frozenset(ALL_DOCKER) - {"CAP_SYS_RESOURCE"}
    capfilter.rewrite_for(["--root", "/run/x", "--log", "l.json", "create", "--bundle", str(tmp_path), "id1"],
                          allowed)
    written = json.loads((tmp_path / "config.json").read_text())
    expected = copy.deepcopy(spec)
    for names in expected["process"]["capabilities"].values():  # type: ignore[index]
        names.remove("CAP_SYS_RESOURCE")
    assert written == expected


def test_a_spec_within_the_set_is_not_rewritten(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(privileged_spec(), indent=1))
    before = config.stat().st_mtime_ns, config.read_text()
    capfilter.rewrite_for(["run", "-b", str(tmp_path), "id1"], frozenset(ALL_DOCKER))
    assert (config.stat().st_mtime_ns, config.read_text()) == before


def test_exec_filters_its_process_file(tmp_path: Path) -> None:
    process = privileged_spec()["process"]
    file = tmp_path / "process.json"
    file.write_text(json.dumps(process))
    capfilter.rewrite_for(["--root", "/r", "exec", "--process", str(file), "--detach", "id1"],
                          frozenset({"CAP_CHOWN"}))
    written = json.loads(file.read_text())
    assert all(names == ["CAP_CHOWN"] for names in written["capabilities"].values())
    assert written["args"] == ["/sbin/init"] and written["rlimits"] == process["rlimits"]  # type: ignore[index]


def test_other_commands_pass_through(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(privileged_spec()))
    before = config.read_text()
    capfilter.rewrite_for(["--root", str(tmp_path), "delete", "--force", "id1"], frozenset())
    capfilter.rewrite_for(["state", "id1"], frozenset())
    assert config.read_text() == before


def test_the_program_filters_by_its_own_bounding_set_and_runs_the_real_runc(tmp_path: Path) -> None:
    """End to end: run under a bounding set without CAP_SYS_TIME (setpriv drops it), with a stand-in runc that
    records its arguments; the bundle loses CAP_SYS_TIME only, and the stand-in gets the arguments unchanged."""
    spec = privileged_spec()
    (tmp_path / "config.json").write_text(json.dumps(spec))
    recorded = tmp_path / "args.json"
    fake = tmp_path / "runc"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(recorded)!r}, 'w'))\n")
    fake.chmod(0o755)
    args = ["--root", "/run/docker/runtime-runc/moby", "create", "--bundle", str(tmp_path), "--pid-file", "p", "c1"]
    subprocess.run(["setpriv", "--bounding-set", "-sys_time", sys.executable, str(WRAPPER), *args],
                   env={"TIERGUARD_REAL_RUNC": str(fake), "PATH": "/usr/bin:/bin"}, check=True, timeout=30)
    assert json.loads(recorded.read_text()) == args
    written = json.loads((tmp_path / "config.json").read_text())
    for names in written["process"]["capabilities"].values():
        assert "CAP_SYS_TIME" not in names
        assert "CAP_SYS_ADMIN" in names and "CAP_CHOWN" in names
    assert written["process"]["rlimits"] == spec["process"]["rlimits"]  # type: ignore[index]
    assert written["mounts"] == spec["mounts"]
