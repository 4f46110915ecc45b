"""A report API whose CRD is absent: skipped with one warning, found again when its CRDs are installed later (no
restart), and let go of (one warning, no crash) when they are deleted; the background audit asks again every
``RECHECK_S`` and then writes every scope's report."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from tierguard.render.policyreport import OPENREPORTS, WGPOLICYK8S
from tierguard.webhook.background_audit import audit as background
from tierguard.webhook.background_audit.report_writer import ApiMissing, KubernetesReportsApi, NotFound, ReportWriter

from .test_background import world
from .test_report_writer import FakeReports, reports_of, secret

__all__ = ["world"]  # the fixture, imported for pytest

NOT_SERVED = "wgpolicyk8s.io/v1alpha2 is not served"


def not_served_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if NOT_SERVED in r.getMessage() and r.levelno == logging.WARNING]


def test_crds_installed_later_are_found_by_a_recheck_and_the_absence_is_warned_of_once(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "tierguard.reports")
    api = FakeReports(missing=("wgpolicyk8s",))
    writer = ReportWriter(api, [WGPOLICYK8S, OPENREPORTS])
    writer.resync()
    desired = reports_of([secret("dev"), secret("prod")])
    for _ in range(3):  # passes and rechecks while the CRD is absent: nothing written, one warning
        writer.sync(desired, ["dev", "prod", None])
        assert writer.recheck() == ()
    assert writer.missing == (WGPOLICYK8S,)
    assert not [key for key in api.objects if key[0] == "wgpolicyk8s"]
    assert len(not_served_warnings(caplog)) == 1

    api.missing = ()  # the CRDs are installed
    assert writer.recheck() == (WGPOLICYK8S,)
    assert not writer.missing
    assert any("wgpolicyk8s.io/v1alpha2 is served now" in r.getMessage() for r in caplog.records)
    writer.sync(desired, ["dev", "prod", None])
    assert api.objects[("wgpolicyk8s", "dev")]["kind"] == "PolicyReport"
    assert ("wgpolicyk8s", "prod") in api.objects
    assert len(not_served_warnings(caplog)) == 1


def test_a_recheck_learns_the_reports_an_earlier_writer_left() -> None:
    api = FakeReports()
    desired = reports_of([secret("dev"), secret("prod")])
    ReportWriter(api, [WGPOLICYK8S]).sync(desired, ["dev", "prod"])  # another replica wrote them
    writer = ReportWriter(api, [WGPOLICYK8S])
    api.missing = ("wgpolicyk8s",)  # this one started while discovery did not serve the API yet
    writer.resync()
    api.missing = ()
    assert writer.recheck() == (WGPOLICYK8S,)
    api.calls.clear()
    writer.sync(desired, ["dev", "prod"])
    assert api.calls == []  # known: not created a second time


def test_a_recheck_failing_otherwise_keeps_the_api_missing() -> None:
    api = FakeReports(missing=("wgpolicyk8s",))
    writer = ReportWriter(api, [WGPOLICYK8S])
    writer.resync()

    def refused(_: Any) -> Any:
        raise ConnectionError("the API server does not answer")

    api.list_owned = refused  # type: ignore[method-assign,assignment]
    assert writer.recheck() == ()
    assert writer.missing == (WGPOLICYK8S,)


def test_deleted_crds_stop_the_writes_with_one_warning_and_their_return_gets_the_reports_again(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "tierguard.reports")
    api = FakeReports()
    writer = ReportWriter(api, [WGPOLICYK8S, OPENREPORTS])
    writer.resync()
    desired = reports_of([secret("dev"), secret("prod")])
    writer.sync(desired, ["dev", "prod"])
    assert ("wgpolicyk8s", "dev") in api.objects

    api.missing = ("wgpolicyk8s",)  # the CRDs are deleted, and every report of theirs with them
    api.objects = {key: value for key, value in api.objects.items() if key[0] != "wgpolicyk8s"}
    changed = reports_of([secret("dev"), secret("prod"), secret("dev", "other"), secret("prod", "other")])
    for _ in range(3):
        writer.sync(changed, ["dev", "prod"])
    assert writer.missing == (WGPOLICYK8S,)
    assert len(not_served_warnings(caplog)) == 1
    assert [r for r in api.objects["openreports", "dev"]["results"]]  # the other API is still written

    api.missing = ()  # installed again: the same content as before their deletion is written again
    assert writer.recheck() == (WGPOLICYK8S,)
    writer.sync(desired, ["dev", "prod"])
    assert ("wgpolicyk8s", "dev") in api.objects and ("wgpolicyk8s", "prod") in api.objects


class Response:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.reason, self.data = status, "", json.dumps(body).encode()

    def read(self) -> bytes:
        return self.data


class ApiClient:
    """Answers every request with one status and body (the kubernetes client's two calls ``rest.request`` uses)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.response = Response(status, body)

    def param_serialize(self, method: str, path: str, **_: Any) -> tuple[Any, ...]:
        return method, path, {}, None, []

    def call_api(self, *_: Any, **__: Any) -> Response:
        return self.response


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
            "message": message, **({"details": details} if details else {})}


@pytest.mark.parametrize(("code", "body", "expected"), [
    (404, status(404, "NotFound", "the server could not find the requested resource"), ApiMissing),
    (405, status(405, "MethodNotAllowed", "create not allowed while custom resource definition is terminating"),
     ApiMissing),
    (404, status(404, "NotFound", 'policyreports "tierguard" not found', {"name": "tierguard"}), NotFound),
])
def test_the_api_server_answers_tell_an_absent_api_from_an_absent_report(
        code: int, body: dict[str, Any], expected: type[Exception]) -> None:
    reports = KubernetesReportsApi(ApiClient(code, body))
    with pytest.raises(expected):
        reports.create(WGPOLICYK8S, "dev", {"metadata": {"name": "tierguard"}})


async def wait_for(check: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached in time")


def wgpolicyk8s_scopes(reports: FakeReports) -> Sequence[str | None]:
    return sorted((scope or "" for name, scope in reports.objects if name == "wgpolicyk8s"))


def test_the_background_audit_writes_crds_installed_after_it_started_without_waiting_for_a_full_pass(
        world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "RECHECK_S", 0.1)
    world.reports.missing = ("wgpolicyk8s",)

    async def scenario() -> None:
        world.audit.set_leader(True)
        task = asyncio.create_task(world.audit.run())
        try:
            await wait_for(lambda: world.audit.passes["full"] == 1)
            await asyncio.sleep(0.3)  # rechecks find nothing yet
            assert world.audit.passes["full"] == 1
            assert wgpolicyk8s_scopes(world.reports) == []
            assert ("openreports", "dev") in world.reports.objects
            world.reports.missing = ()  # the CRDs are installed
            # "": the cluster report, which names the holders that dev's and prod's reports redact.
            await wait_for(lambda: wgpolicyk8s_scopes(world.reports) == ["", "dev", "prod"])
            assert world.audit.passes["full"] == 2
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())
