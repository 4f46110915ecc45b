"""The HTTPS admission endpoint: kopf's WebhookServer (TLS, certificate reload on file change) serving
tierguard's own callback instead of kopf's handler dispatch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp.web
import kopf

from tierguard.webhook.admission import AdmissionService

MAX_REVIEW_BYTES = 16 * 1024 * 1024
"""An UPDATE of a 1.5 MiB object carries it twice, base64 inflates Secret data by a third: aiohttp's default
1 MiB body limit would answer 413 and, with failurePolicy Fail, refuse legitimate large objects."""


class TierguardWebhookServer(kopf.WebhookServer):
    def __init__(self, service: AdmissionService, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        # kopf passes its own dispatcher as ``fn``; answering with tierguard's keeps one code path for every
        # request and makes unknown paths deny instead of allow.
        async for client_config in super().__call__(cast(kopf.WebhookFn, self.service)):
            yield client_config

    @staticmethod
    async def _serve(fn: kopf.WebhookFn, request: aiohttp.web.Request) -> aiohttp.web.Response:
        # kopf builds the aiohttp application itself; the body limit can only be raised per request.
        request._client_max_size = MAX_REVIEW_BYTES
        response: aiohttp.web.Response = await kopf.WebhookServer._serve(fn, request)
        return response
