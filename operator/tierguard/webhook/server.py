"""The HTTPS admission endpoint: kopf's WebhookServer (TLS, certificate reload on file change) serving
tierguard's own callback instead of kopf's handler dispatch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import kopf

from tierguard.webhook.admission import AdmissionService


class TierguardWebhookServer(kopf.WebhookServer):
    def __init__(self, service: AdmissionService, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        # kopf passes its own dispatcher as ``fn``; answering with tierguard's keeps one code path for every
        # request and makes unknown paths deny instead of allow.
        async for client_config in super().__call__(cast(kopf.WebhookFn, self.service)):
            yield client_config
