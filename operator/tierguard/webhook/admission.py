"""Answering AdmissionReviews: parse, build the engine's request, evaluate, render; and bound how many answers
about shared values one user gets (``value_oracle.py``).

This is a direct callback for the webhook server, not kopf's admission dispatch: kopf's dispatch deep-copies
every object and answers "allowed" for a path that names no handler. Here an unknown path, a broken review, a
replica that is not ready or an internal error each give a denial with a clear message (fail closed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from tierguard.engine import EvaluationRequest, evaluate, object_ref
from tierguard.engine.model import Decision, Malformed, Rule
from tierguard.engine.posture import denies_all_ingress
from tierguard.engine.review import AdmissionResponse, AdmissionReview, AdmissionReviewAnswer
from tierguard.webhook.live_context import LiveContext
from tierguard.webhook.metrics import Metrics
from tierguard.webhook.routes import ROUTES_BY_ID
from tierguard.webhook.state import RuntimeState
from tierguard.webhook.value_oracle import LIMITED_MESSAGE, AnswerBudget, Record

logger = logging.getLogger("tierguard.admission")

NAMESPACE_WAIT_SECONDS = 2.0
"""How long a request may wait for its namespace to reach the index (a namespace created just before)."""
MAX_WARNING_LENGTH = 120
"""kubectl prints warnings on one line each; longer ones are cut with an ellipsis."""


def _response(review: AdmissionReview, uid: str, allowed: bool, *, code: int = 200, message: str = "",
              warnings: list[str] | None = None) -> AdmissionReviewAnswer:
    payload: AdmissionResponse = {"uid": uid, "allowed": allowed}
    if not allowed:
        # The reason is what kubectl prints in "Error from server (Forbidden): ...".
        payload["status"] = {"code": code, "message": message, "reason": _REASONS.get(code, "Forbidden")}
    if warnings:
        payload["warnings"] = warnings
    return {
        "apiVersion": review.get("apiVersion") or "admission.k8s.io/v1",
        "kind": review.get("kind") or "AdmissionReview",
        "response": payload,
    }


_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 500: "InternalError", 503: "ServiceUnavailable"}


def _short(text: str) -> str:
    return text if len(text) <= MAX_WARNING_LENGTH else text[: MAX_WARNING_LENGTH - 3] + "..."


@dataclass(frozen=True)
class _Exchange:
    """One review being answered: what every response and metric needs to name."""

    review: AdmissionReview
    uid: str
    kind: str
    operation: str


class AdmissionService:
    """The webhook callback: ``await service(review, webhook=<path id>)`` returns the AdmissionReview answer."""

    def __init__(self, state: RuntimeState, metrics: Metrics, budget: AnswerBudget | None = None,
                 record: Callable[[Record], None] | None = None) -> None:
        self.state = state
        self.metrics = metrics
        self.budget = budget
        """Shared-value answers per user (``value_oracle.py``); None: unbounded (tests, bench)."""
        self.record = record
        """Where platform records go (Events in tierguard's namespace); None: logs and metrics only."""

    async def __call__(self, review: object, *, webhook: str | None = None) -> AdmissionReviewAnswer:
        started = time.perf_counter()
        try:
            route = ROUTES_BY_ID.get(webhook or "")
            if route is not None and route.namespaced is not False:
                await self._await_namespace(review)
            return self.answer(review, webhook)
        finally:
            self.metrics.duration.observe(time.perf_counter() - started)

    async def _await_namespace(self, review: object) -> None:
        """Give the watch a moment to index a namespace created (or labelled) just before this request.

        The API server called this webhook because the namespace carries a tier label; if the index does not
        show that yet, judging now would treat the object as untiered and admit it.
        """
        context = self.state.context
        request = review.get("request") if isinstance(review, Mapping) else None
        namespace = request.get("namespace") if isinstance(request, Mapping) else None
        if context is None or not isinstance(namespace, str) or not namespace or self.state.policy is None:
            return
        label = self.state.policy.tier_label
        deadline = time.monotonic() + NAMESPACE_WAIT_SECONDS
        while time.monotonic() < deadline:
            view = context.namespace(namespace)
            if view is not None and label in view.labels:
                return
            await asyncio.sleep(0.05)

    def answer(self, body: object, webhook: str | None) -> AdmissionReviewAnswer:
        """The answer to ``body``, the parsed JSON of a request: a review, or anything else when it is broken."""
        if not isinstance(body, Mapping):
            return _response({}, "", False, code=400, message="tierguard: the AdmissionReview is not a JSON object")
        review = cast(AdmissionReview, body)  # its fields are checked as they are read
        request = review.get("request")
        uid = request.get("uid") if isinstance(request, Mapping) else None
        if not isinstance(request, Mapping) or not isinstance(uid, str) or not uid:
            return self._refuse(_Exchange(review, "", "-", "-"), 400,
                                "tierguard: the AdmissionReview has no request.uid; cannot answer it")
        kind_info = request.get("kind")
        kind = str(kind_info.get("kind", "-")) if isinstance(kind_info, Mapping) else "-"
        exchange = _Exchange(review, uid, kind, str(request.get("operation") or "-"))
        route = ROUTES_BY_ID.get(webhook or "")
        if route is None:
            return self._refuse(exchange, 404,
                                f"tierguard: no admission handler at path /{webhook or ''}; denied so that a "
                                f"misrouted webhook fails closed (check the webhook configuration's paths)")
        if not route.sends(kind):
            return self._refuse(exchange, 400,
                                f"tierguard: handler /{route.id} judges {route.kind}, not {kind}; "
                                f"the webhook configuration routes this resource to the wrong path")
        reason = self.state.not_ready_reason()
        if reason is not None:
            return self._refuse(exchange, 503, f"tierguard is not ready: {reason}; retry in a few seconds")
        try:
            evaluation = EvaluationRequest.from_admission_request(request)
        except Malformed as error:
            return self._refuse(exchange, 400, f"[{Rule.POLICY_INVALID}] {error}")
        if evaluation.namespace and route.namespaced is not False and self.state.context is not None:
            # The API server sends only namespaces that carry the tier label (the chart's namespaceSelector): an
            # index that lacks the namespace, or shows it without the label, is behind, and judging now would
            # admit the object as untiered. Fail closed like any other not-ready answer.
            view = self.state.context.namespace(evaluation.namespace)
            if view is None:
                return self._refuse(exchange, 503, f"tierguard is not ready: namespace {evaluation.namespace} is "
                                                   f"not in its index yet; retry in a few seconds")
            if self.state.policy is not None and self.state.policy.tier_label not in view.labels:
                return self._refuse(exchange, 503, f"tierguard is not ready: its index shows namespace "
                                                   f"{evaluation.namespace} without the tier label "
                                                   f"{self.state.policy.tier_label} yet; retry in a few seconds")
        if evaluation.operation not in route.operations:
            return self._count(exchange, _response(review, uid, True), "allowed")
        if self._over_budget(evaluation):
            return self._refuse(exchange, 403, LIMITED_MESSAGE)
        try:
            decision = self._evaluate(evaluation)
        except Exception:
            # Any engine fault must deny, never allow; the traceback names code, not values.
            self.metrics.internal_errors.labels("engine").inc()
            logger.exception("engine failure on %s", evaluation.ref())
            return self._refuse(exchange, 500,
                                "tierguard: internal error while evaluating; denied to fail closed (see its logs)")
        return self._render(exchange, evaluation, decision)

    def _evaluate(self, evaluation: EvaluationRequest) -> Decision:
        state = self.state
        assert state.context is not None and state.policy is not None  # guaranteed by readiness
        return evaluate(evaluation, state.context, state.policy, own_namespace=state.own_namespace)

    def _render(self, exchange: _Exchange, evaluation: EvaluationRequest, decision: Decision) -> AdmissionReviewAnswer:
        review, uid = exchange.review, exchange.uid
        for family in decision.internal_errors:
            # Denied as policy-invalid with a message saying so; counted and logged apart from users' mistakes.
            self.metrics.internal_errors.labels(family).inc()
            logger.error("internal error in a rule family", extra={"family": family, "object": str(evaluation.ref())})
        for violation in decision.violations:
            self.metrics.violations.labels(violation.rule.value, violation.action.value).inc()
        if decision.violations:
            ref = evaluation.ref()  # a CONNECT's: the pod it opens a session into
            user = evaluation.user.username if evaluation.user else ""
            for violation in decision.violations:
                logger.info("violation", extra={"rule": violation.rule.value, "action": violation.action.value,
                                                "object": str(ref), "user": user, "dry_run": evaluation.dry_run,
                                                "detail": violation.message})
            if decision.break_glass is not None:
                for violation in decision.warnings:
                    self.metrics.break_glass.labels(violation.rule.value).inc()
                logger.warning("break-glass", extra={"object": str(ref), "user": user,
                                                     "reason": decision.break_glass})
            self._spend_budget(evaluation, decision, user, str(ref))
        self._remember_admitted(evaluation, decision)
        warnings = [_short(f"[{v.rule}] {v.shown_to_requester}") for v in decision.warnings]
        warnings += self._tier_label_notice(evaluation, decision)
        warnings += self._unused_policy_notice(evaluation, decision)
        if decision.break_glass is not None:
            warnings.insert(0, _short(f"tierguard: admitted by break-glass ({decision.break_glass})"))
        if not decision.allowed:
            message = "; ".join(f"[{v.rule}] {v.shown_to_requester}" for v in decision.denials)
            return self._count(exchange, _response(review, uid, False, code=403, message=message,
                                                   warnings=warnings), "denied")
        return self._count(exchange, _response(review, uid, True, warnings=warnings),
                           "warned" if warnings else "allowed")

    def _over_budget(self, evaluation: EvaluationRequest) -> bool:
        """A Secret write with values by a user who had their answers: refused alike, match or not."""
        obj = evaluation.obj
        if self.budget is None or obj.get("kind") != "Secret" or not (obj.get("data") or obj.get("stringData")):
            return False
        user = evaluation.user.username if evaluation.user else ""
        if self.budget.exempt(evaluation.user.groups if evaluation.user else ()) or not self.budget.exhausted(user):
            return False
        ref = str(object_ref(obj, evaluation.namespace))
        self.metrics.shared_value_limited.inc()
        logger.warning("shared-value answers limited", extra={"user": user, "object": ref,
                                                             "limit": self.budget.limit,
                                                             "window_s": self.budget.window_s})
        self._emit(Record("SharedValueLimited", user, ref,
                          f"{user or 'an anonymous user'} wrote Secret {ref} after {self.budget.limit} answers that "
                          f"another tier holds a value within {self.budget.window_s:.0f} s: refused"))
        return True

    def _spend_budget(self, evaluation: EvaluationRequest, decision: Decision, user: str, ref: str) -> None:
        shared = [v for v in decision.violations if v.rule is Rule.SECRET_VALUE_SHARED]
        if not shared:
            return
        self.metrics.shared_value_answers.inc()
        groups = evaluation.user.groups if evaluation.user else ()
        answers = self.budget.spend(user) if self.budget is not None and not self.budget.exempt(groups) else 0
        # The full messages name the other tier's Secret: for the platform's eyes only.
        self._emit(Record("SharedValueFound", user, ref,
                          f"{user or 'an anonymous user'} ({answers} within the window): "
                          + "; ".join(v.message for v in shared)))

    def _emit(self, record: Record) -> None:
        if self.record is None:
            return
        try:
            self.record(record)
        except Exception as error:  # a record lost must not change the answer
            logger.warning("cannot record for the platform team", extra={"reason": record.reason,
                                                                        "error": type(error).__name__})

    def _tier_label_notice(self, evaluation: EvaluationRequest, decision: Decision) -> list[str]:
        """A TierPolicy that renames the tier label needs the webhook's namespaceSelector renamed too."""
        obj, current = evaluation.obj, self.state.policy
        if (obj.get("kind") != "TierPolicy" or not decision.allowed or current is None
                or evaluation.operation == "DELETE"):
            return []
        spec = obj.get("spec")
        label = spec.get("tierLabel") if isinstance(spec, Mapping) else None
        if not isinstance(label, str) or label == current.tier_label:
            return []
        return [f"tierguard: tierLabel {label} differs from {current.tier_label}: helm upgrade with "
                f"policy.tierLabel={label} so the webhook selects those namespaces"[:MAX_WARNING_LENGTH]]

    def _unused_policy_notice(self, evaluation: EvaluationRequest, decision: Decision) -> list[str]:
        """A TierPolicy under another name is stored and never used (``kubectl apply -f examples/policy.yaml``):
        say so as it is written, not only in its status."""
        obj = evaluation.obj
        if obj.get("kind") != "TierPolicy" or not decision.allowed or evaluation.operation == "DELETE":
            return []
        metadata = obj.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        if not isinstance(name, str) or name == self.state.policy_name:
            return []
        return [_short(f"tierguard: TierPolicy {name} is not in force: only the TierPolicy named "
                       f"{self.state.policy_name} is (tierguard run --policy-name)")]

    def _remember_admitted(self, evaluation: EvaluationRequest, decision: Decision) -> None:
        context = self.state.context
        if context is None or not decision.allowed or evaluation.dry_run:
            return
        if evaluation.obj.get("kind") == "NetworkPolicy":
            self._remember_lost_default_deny(context, evaluation)
            return
        if evaluation.obj.get("kind") != "Secret" or evaluation.operation not in ("CREATE", "UPDATE"):
            return
        try:
            view = evaluation.secret_view(context.fingerprinter)  # the rules' view when they built one
        except Malformed:
            return
        context.remember_admitted_secret(view)

    @staticmethod
    def _remember_lost_default_deny(context: LiveContext, evaluation: EvaluationRequest) -> None:
        """An admitted DELETE of a default-deny-ingress NetworkPolicy, or an UPDATE that stops it denying: it no
        longer counts for the namespace's next review (``LiveContext.remember_lost_default_deny``)."""
        if evaluation.operation not in ("DELETE", "UPDATE"):
            return
        stored = evaluation.obj if evaluation.operation == "DELETE" else evaluation.old
        if stored is None or not denies_all_ingress(stored):
            return
        if evaluation.operation == "UPDATE" and denies_all_ingress(evaluation.obj):
            return
        ref = object_ref(stored)
        if ref.namespace is not None and ref.name:
            context.remember_lost_default_deny(ref.namespace, ref.name)

    def _refuse(self, exchange: _Exchange, code: int, message: str) -> AdmissionReviewAnswer:
        logger.warning("refused", extra={"kind": exchange.kind, "operation": exchange.operation, "detail": message})
        return self._count(exchange, _response(exchange.review, exchange.uid, False, code=code, message=message),
                           "denied")

    def _count(self, exchange: _Exchange, response: AdmissionReviewAnswer, decision: str) -> AdmissionReviewAnswer:
        self.metrics.count_request(exchange.kind, exchange.operation, decision)
        return response
