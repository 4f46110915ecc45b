"""Bounding the value oracle (issue 27): how many answers about shared values one person gets.

A ``secret-value-shared`` answer tells its requester that another tier holds the value they wrote, so anyone who
may create Secrets in dev could test guesses of a prod credential one write at a time. The answer itself names
only the other tier (``Violation.shown_to_requester``); this module bounds how often it can be had: each user
gets ``limit`` such answers per ``window_s`` seconds, on this replica. Beyond that, every Secret write of theirs
that carries values is refused with a message that says nothing of other tiers, so a refusal no longer tells a
match from a miss. Every answer and every cut-off is recorded for the platform team (``Record``: the log line, a
metric and a Kubernetes Event in tierguard's namespace, ``webhook/events.py``).

Counted per replica: with N replicas a person gets at most N * ``limit`` answers per window. Members of the
exempt groups (``system:masters`` by default: who may read every Secret learns nothing from an answer) are
counted in the records but never cut off; add a GitOps controller's group there, or its retries of one shared
value would soon refuse every Secret it writes.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

LIMITED_MESSAGE = ("tierguard: too many refused Secret writes from you recently; Secret writes with values are "
                   "refused for a while (ask your platform team)")
"""What a user beyond the limit reads: nothing of other tiers, the same for every write."""

MAX_USERS = 10_000
"""Users tracked at most (the least recently seen are forgotten first): memory stays bounded."""


@dataclass(frozen=True)
class Record:
    """One event for the platform team: full references, never a value."""

    reason: str
    """``SharedValueFound`` (an answer given) or ``SharedValueLimited`` (a write refused beyond the limit)."""
    user: str
    obj: str
    """The Secret written (namespace/name)."""
    message: str
    related: tuple[str, str, str] | None = None
    """``(apiVersion, kind, name)`` of a cluster-scoped object the event is about besides the replica (the
    TierPolicy a replica refuses, ``policy_status.py``); None for the shared-value records."""


class AnswerBudget:
    """Per user, the times of the shared-value answers given within the window."""

    def __init__(self, limit: int, window_s: float, exempt_groups: tuple[str, ...] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self.exempt_groups = frozenset(exempt_groups)
        self._answers: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, user: str) -> deque[float]:
        answers = self._answers.get(user)
        if answers is None:
            return deque()
        horizon = self._clock() - self.window_s
        while answers and answers[0] <= horizon:
            answers.popleft()
        if not answers:
            del self._answers[user]
        return answers

    def exempt(self, groups: tuple[str, ...]) -> bool:
        return not self.exempt_groups.isdisjoint(groups)

    def exhausted(self, user: str) -> bool:
        return len(self._recent(user)) >= self.limit

    def spend(self, user: str) -> int:
        """Count one answer given to ``user``; returns how many they had within the window, this one included."""
        answers = self._recent(user)
        if user not in self._answers:
            self._answers[user] = answers
        self._answers.move_to_end(user)
        answers.append(self._clock())
        while len(self._answers) > MAX_USERS:
            self._answers.popitem(last=False)
        return len(answers)
