"""The ValidatingAdmissionPolicy sync logs what it changed, and keeps quiet when a periodic re-apply changed nothing
(issue 27, item 6: "applied" every minute was noise)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from tierguard.kube import rest
from tierguard.policy import DEFAULT_POLICY
from tierguard.webhook.settings import AdmissionPolicySettings
from tierguard.webhook.state import RuntimeState
from tierguard.webhook.vap_sync import AdmissionPolicySync


class FakeServer:
    """Server-side apply as the API server answers it: the resourceVersion moves only when the content changes."""

    def __init__(self) -> None:
        self.stored: dict[str, tuple[str, int]] = {}
        self.counter = 0

    def request_json(self, _client: Any, method: str, path: str, *, body: Mapping[str, Any] | None = None,
                     **_: Any) -> Any:
        assert method == "PATCH" and body is not None
        content = repr(body)
        if self.stored.get(path, ("", 0))[0] != content:
            self.counter += 1
            self.stored[path] = (content, self.counter)
        return {"metadata": {"resourceVersion": str(self.stored[path][1])}}

    def request(self, _client: Any, method: str, path: str, **_: Any) -> bytes:
        assert method == "DELETE"
        if path not in self.stored:
            raise rest.HttpError(404, "Not Found", "{}")
        del self.stored[path]
        return b"{}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    fake = FakeServer()
    monkeypatch.setattr(rest, "request_json", fake.request_json)
    monkeypatch.setattr(rest, "request", fake.request)
    return fake


def applied_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "ValidatingAdmissionPolicies applied"]


def test_only_applies_that_change_something_are_logged(server: FakeServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    sync = AdmissionPolicySync(RuntimeState(own_namespace="tierguard-system"), object(),
                               AdmissionPolicySettings())
    caplog.set_level(logging.INFO, logger="tierguard.vap")

    sync.apply(DEFAULT_POLICY)
    first = applied_lines(caplog)
    assert len(first) == 1 and first[0].__dict__["changed"], "the first apply writes every object and says so"
    assert server.stored, "the generated objects were applied"

    caplog.clear()
    sync.apply(DEFAULT_POLICY)
    assert applied_lines(caplog) == [], "a re-apply that changed nothing must not log at info"

    path, (content, _) = next(iter(server.stored.items()))
    server.stored[path] = (content + " edited by someone", 0)  # drifted: the next apply repairs it
    caplog.clear()
    sync.apply(DEFAULT_POLICY)
    repaired = applied_lines(caplog)
    assert len(repaired) == 1 and len(repaired[0].__dict__["changed"]) == 1, repaired


def test_a_draining_replica_writes_nothing_more(server: FakeServer) -> None:
    """A terminating replica may hold an older view than its successors (after `helm uninstall`, the defaults): it
    must not delete what they applied. Draining, the loop ends without a write; not draining, it writes."""
    state = RuntimeState(own_namespace="tierguard-system")
    state.use_policy(None)
    state.draining = True
    server.stored["/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/tierguard-workloads-deny"] = (
        "applied by a successor", 1)
    before = dict(server.stored)
    asyncio.run(asyncio.wait_for(AdmissionPolicySync(state, object(), AdmissionPolicySettings()).run(), timeout=5))
    assert server.stored == before

    state.draining = False

    async def one_round() -> None:
        task = asyncio.create_task(AdmissionPolicySync(state, object(), AdmissionPolicySettings()).run())
        await asyncio.sleep(0.5)
        task.cancel()

    asyncio.run(one_round())
    assert server.stored != before  # the defaults applied: the successor's sidecar policy deleted as stale
