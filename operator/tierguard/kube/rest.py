"""The one REST client: plain JSON requests through the kubernetes client's ApiClient (its auth, TLS and timeouts),
without its generated models (importing those loads some 300 classes, 30 MB of a replica's memory). Everything
tierguard asks of the API server goes through here, by path: pages of lists (``pager.py``), watch streams
(``transport.py``), Leases, reports, Secrets, admission policies; ``describe`` turns a failure into one line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tierguard.kube.config import NoCredentials

METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
"""``accept`` of a list that returns each object's metadata only (names, labels, resourceVersion)."""


class HttpError(Exception):
    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {body[:300]}")
        self.status, self.reason, self.body = status, reason, body


class Expired(HttpError):
    """410 Gone: a continue token or resourceVersion older than the API server keeps. List again from the start."""

    def __init__(self, body: str = "", reason: str = "Gone") -> None:
        super().__init__(410, reason, body)


def _raise_for(status: int, reason: str, body: str) -> None:
    if status == 410:
        raise Expired(body, reason)
    raise HttpError(status, reason, body)


def request(api_client: Any, method: str, path: str, *, query: Sequence[tuple[str, Any]] = (),
            body: Mapping[str, Any] | None = None, timeout: float | None = 30.0,
            content_type: str = "application/json", accept: str = "application/json") -> bytes:
    """The response body of ``method path``; raises HttpError for a status outside 2xx (Expired for 410).
    ``content_type``: ``application/apply-patch+yaml`` for a server-side apply (the client sends the body as JSON,
    valid YAML). ``accept``: ``METADATA_ONLY`` for a list of the objects' metadata alone."""
    headers = {"Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type
    method_, url, headers_, body_, post = api_client.param_serialize(
        method, path, query_params=list(query), header_params=headers,
        body=json.loads(json.dumps(body)) if body is not None else None, auth_settings=["BearerToken"])
    response = api_client.call_api(method_, url, headers_, body_, post, _request_timeout=timeout)
    data: bytes = response.read() or b""
    if not 200 <= int(response.status) < 300:
        _raise_for(int(response.status), str(response.reason or ""), data.decode(errors="replace"))
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
        _raise_for(int(response.status), str(response.reason or ""), data.decode(errors="replace"))
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


def get_json_or_none(api_client: Any, path: str, *, timeout: float | None) -> Mapping[str, Any] | None:
    """``GET path`` decoded, or None when it answers 404 (the object, or its API, is not there)."""
    try:
        found: Mapping[str, Any] = request_json(api_client, "GET", path, timeout=timeout)
    except HttpError as error:
        if error.status == 404:
            return None
        raise
    return found


def not_found_object(error: HttpError) -> bool:
    """404 for an object that does not exist (a Status naming it), not for an API that is not served."""
    try:
        status = json.loads(error.body)
    except ValueError:
        return False
    return error.status == 404 and isinstance(status, Mapping) and status.get("kind") == "Status" \
        and isinstance(status.get("details"), Mapping) and "name" in status["details"]


def describe(error: Exception, timeout: float | None) -> str:
    """One line about ``error``: the HTTP status and the API server's message, the transport's failure, or why no
    credentials could be loaded. Never the request's headers (a token)."""
    import urllib3  # noqa: PLC0415

    if isinstance(error, NoCredentials):
        error = error.cause
    reason = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) else error
    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # before timeouts: urllib3 derives it from one
        return f"cannot connect: {str(reason).partition(': ')[2] or type(reason).__name__}"
    if isinstance(reason, urllib3.exceptions.TimeoutError) or isinstance(error, TimeoutError):
        return f"no answer within {timeout:g}s (--timeout)" if timeout else "timed out"
    status = getattr(error, "status", None)
    if isinstance(status, int):
        message = ""
        try:
            body = json.loads(getattr(error, "body", None) or "{}")
            message = str(body.get("message") or "") if isinstance(body, Mapping) else ""
        except (TypeError, ValueError):
            pass
        text = f"HTTP {status} {getattr(error, 'reason', '') or ''}".rstrip()
        return f"{text}: {message[:300]}" if message else text
    detail = " ".join(str(reason).split())[:300]
    return f"{type(reason).__name__}: {detail}" if detail else type(reason).__name__
