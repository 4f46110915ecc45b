"""Part 2: the engine alone, ``evaluate()`` per second for each review body, single thread, no HTTP.

Counts the engine's request building too (``EvaluationRequest.from_admission_request``), as the webhook pays
it per review; not the JSON parse, which part 1 covers. Per second of this process's CPU time, not of the
wall clock: on a shared machine the wall clock also counts the time other processes held the core.
"""

from __future__ import annotations

import time

from bench import bodies
from bench.util import Figures
from tierguard.engine import EvaluationRequest, evaluate


def run(evaluations: int, repetitions: int, namespaces: int, secrets: int, figures: Figures) -> None:
    context = bodies.live_context(namespaces, secrets)
    policy = bodies.policy()
    reviews = bodies.reviews(namespaces)
    for _ in range(repetitions):
        for name, review in reviews.items():
            request = review["request"]
            for _ in range(min(50, evaluations)):  # warm caches
                evaluate(EvaluationRequest.from_admission_request(request), context, policy,
                         own_namespace="tierguard-system")
            started = time.process_time()
            for _ in range(evaluations):
                decision = evaluate(EvaluationRequest.from_admission_request(request), context, policy,
                                    own_namespace="tierguard-system")
            elapsed = time.process_time() - started
            if not decision.allowed:
                raise RuntimeError(f"the engine denies the bench's {name} review: {decision.denials}")
            figures.add(f"engine_{name}_per_s", evaluations / elapsed)
