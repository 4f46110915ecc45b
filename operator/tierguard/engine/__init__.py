"""The pure policy engine: plain data in, a Decision out.

``evaluate()`` (``evaluation.py``) judges one object against a Context; ``OfflineRun`` / ``judge_documents``
(``offline.py``) judge a set of documents with each other as context. The engine never does I/O and never
imports kopf, the kubernetes client, aiohttp or click: the webhook, the commands and the audit are thin shells
around it. This module only gathers the names the shells use.
"""

from __future__ import annotations

from tierguard.engine.context import Context, OfflineContext, SecretView
from tierguard.engine.evaluation import RULE_FAMILIES, evaluate, judged_kinds, sidecar_parity
from tierguard.engine.model import Decision
from tierguard.engine.objects import object_ref
from tierguard.engine.offline import OfflineRun, Result, judge_documents
from tierguard.engine.request import EvaluationRequest, UserInfo

__all__ = [
    "RULE_FAMILIES",
    "Context",
    "Decision",
    "EvaluationRequest",
    "OfflineContext",
    "OfflineRun",
    "Result",
    "SecretView",
    "UserInfo",
    "evaluate",
    "judge_documents",
    "judged_kinds",
    "object_ref",
    "sidecar_parity",
]
