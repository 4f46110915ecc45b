"""Plain JSON requests through the kubernetes client's ApiClient (its auth, TLS and timeouts), without its
generated models: the audit reads and writes Leases and reports as dicts and lists by path, the webhook's
watches list and stream by path (``webhook/informer.py``), and both ask here where a kind is served."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tierguard.kinds import KindInfo


class HttpError(Exception):
    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {body[:300]}")
        self.status, self.reason, self.body = status, reason, body


def request(api_client: Any, method: str, path: str, *, query: Sequence[tuple[str, Any]] = (),
            body: Mapping[str, Any] | None = None, timeout: float | None = 30.0,
            content_type: str = "application/json") -> bytes:
    """The response body of ``method path``; raises HttpError for a status outside 2xx. ``content_type``:
    ``application/apply-patch+yaml`` for a server-side apply (the client sends the body as JSON, valid YAML)."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    method_, url, headers_, body_, post = api_client.param_serialize(
        method, path, query_params=list(query), header_params=headers,
        body=json.loads(json.dumps(body)) if body is not None else None, auth_settings=["BearerToken"])
    response = api_client.call_api(method_, url, headers_, body_, post, _request_timeout=timeout)
    data: bytes = response.read() or b""
    if not 200 <= int(response.status) < 300:
        raise HttpError(int(response.status), str(response.reason or ""), data.decode(errors="replace"))
    return data


def open_stream(api_client: Any, path: str, *, query: Sequence[tuple[str, Any]] = (),
                timeout: tuple[float, float]) -> Any:
    """The unread urllib3 response of ``GET path`` (a watch), once its status is 2xx; raises HttpError (having
    read the body) otherwise. ``timeout`` is (connect, read): the read timeout bounds the wait for each chunk."""
    method_, url, headers_, body_, post = api_client.param_serialize(
        "GET", path, query_params=list(query), header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"])
    response = api_client.call_api(method_, url, headers_, body_, post, _request_timeout=timeout)
    if not 200 <= int(response.status) < 300:
        data: bytes = response.read() or b""
        raise HttpError(int(response.status), str(response.reason or ""), data.decode(errors="replace"))
    return response.response


def stream_lines(response: Any) -> Iterable[bytes]:
    """The newline-delimited lines of a streamed response, as they arrive."""
    pending = bytearray()
    for chunk in response.stream(amt=None, decode_content=True):
        pending += chunk
        end = pending.rfind(b"\n")
        if end < 0:
            continue
        complete, pending = bytes(pending[:end]), pending[end + 1:]
        yield from (line for line in complete.split(b"\n") if line.strip())
    if pending.strip():
        yield bytes(pending)


def request_json(api_client: Any, method: str, path: str, **options: Any) -> Any:
    return json.loads(request(api_client, method, path, **options) or b"null")


def not_found_object(error: HttpError) -> bool:
    """404 for an object that does not exist (a Status naming it), not for an API that is not served."""
    try:
        status = json.loads(error.body)
    except ValueError:
        return False
    return error.status == 404 and isinstance(status, Mapping) and status.get("kind") == "Status" \
        and isinstance(status.get("details"), Mapping) and "name" in status["details"]


@dataclass(frozen=True)
class Served:
    info: KindInfo
    group_version: str

    def path(self, namespace: str | None) -> str:
        base = "/api/v1" if self.info.group == "" else f"/apis/{self.group_version}"
        where = f"/namespaces/{namespace}" if namespace is not None and self.info.namespaced else ""
        return f"{base}{where}/{self.info.resource}"


def resolve_served(api_client: Any, kinds: Iterable[KindInfo], timeout: float) -> list[Served]:
    """The kinds the API server serves now, with the version to list (a custom resource's preferred one)."""
    served: list[Served] = []
    groups: dict[str, str | None] = {}
    for info in kinds:
        if info.builtin:
            served.append(Served(info, info.version if info.group == "" else f"{info.group}/{info.version}"))
            continue
        if info.group not in groups:
            try:
                found = request_json(api_client, "GET", f"/apis/{info.group}", timeout=timeout)
                preferred = (found.get("preferredVersion") or {}).get("groupVersion")
                groups[info.group] = str(preferred) if preferred else None
            except HttpError as error:
                if error.status != 404:
                    raise
                groups[info.group] = None
        group_version = groups[info.group]
        if group_version is not None:
            served.append(Served(info, group_version))
    return served
