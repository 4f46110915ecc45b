"""Plain JSON requests through the kubernetes client's ApiClient (its auth, TLS and timeouts), without its
generated models: the audit reads and writes Leases and reports as dicts, and lists by path."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


class HttpError(Exception):
    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {body[:300]}")
        self.status, self.reason, self.body = status, reason, body


def request(api_client: Any, method: str, path: str, *, query: Sequence[tuple[str, Any]] = (),
            body: Mapping[str, Any] | None = None, timeout: float | None = 30.0) -> bytes:
    """The response body of ``method path``; raises HttpError for a status outside 2xx."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    method_, url, headers_, body_, post = api_client.param_serialize(
        method, path, query_params=list(query), header_params=headers,
        body=json.loads(json.dumps(body)) if body is not None else None, auth_settings=["BearerToken"])
    response = api_client.call_api(method_, url, headers_, body_, post, _request_timeout=timeout)
    data: bytes = response.read() or b""
    if not 200 <= int(response.status) < 300:
        raise HttpError(int(response.status), str(response.reason or ""), data.decode(errors="replace"))
    return data


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
