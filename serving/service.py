"""The BentoML service a CRM calls before every outreach: `POST /predict`, `POST /predict_batch`,
plus Bento's own `/livez`, `/readyz` and `/metrics`.

Start it with `optichannel serve` (or `bentoml serve serving.service:NextBestChannel`). It loads
the registry's champion and the Feast store once per worker, fails fast if either is missing,
and logs every decision off the request path.
"""

from __future__ import annotations

import hmac
import json
import logging
from functools import cache
from typing import Any

import bentoml
from bentoml.exceptions import InvalidArgument

from optichannel.settings import get_settings
from serving.batcher import TimedOut
from serving.health import Breaker, RetryAfter, down, down_reason, not_ready
from serving.http_hygiene import StrictHttp, quiet_client_errors
from serving.schemas import (
    BatchRequest,
    OutcomeReport,
    OutcomesRequest,
    OutcomesResponse,
    PredictRequest,
    PredictResponse,
)

log = logging.getLogger(__name__)


class BearerAuth:
    """ASGI middleware: when OPTICHANNEL_API_TOKEN is set, `/predict*` and `/outcomes` need that token.
    Health and metrics stay open for the load balancer and Prometheus."""

    def __init__(self, app: Any) -> None:
        self.app = app
        token = get_settings().api_token
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        guarded = scope["type"] == "http" and scope["path"].startswith(("/predict", "/outcomes"))
        if self.expected is not None and guarded:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = json.dumps(
                    {"error": "missing or wrong bearer token: send `Authorization: Bearer <token>`"}
                )
                headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": body.encode()})
                return
        await self.app(scope, receive, send)


@cache
def _counters() -> tuple[Any, Any, Any]:
    """The service's Prometheus counters, registered once per process (a registry refuses twins)."""
    return (
        bentoml.metrics.Counter(
            name="optichannel_decisions", documentation="decisions given", labelnames=["channel", "fallback"]
        ),
        bentoml.metrics.Counter(
            name="optichannel_stale_decisions",
            documentation="decisions taken on features past their time-to-live (refresh the store)",
        ),
        bentoml.metrics.Counter(
            name="optichannel_decision_log_failures", documentation="failed decision-log writes"
        ),
    )


@bentoml.service(
    name="optichannel",
    workers=get_settings().serve_workers,
    traffic={"timeout": 30},
    # OpenTelemetry spans cost about a fifth of a worker's event-loop time per /predict and go nowhere
    # unless an exporter is configured: traced only when OPTICHANNEL_TRACING is on
    tracing={"excluded_urls": [] if get_settings().tracing else ["/predict", "/predict_batch"]},
    # per-request access lines cost a quarter of the throughput; the decision log records every answer
    logging={
        "access": {"enabled": get_settings().access_log, "skip_paths": ["/livez", "/readyz", "/metrics"]}
    },
)
class NextBestChannel:
    """Next-best-channel decisions: which channel, which hour, or no contact at all."""

    def __init__(self) -> None:
        from serving.batcher import MicroBatcher
        from serving.runtime import load_runtime

        settings = get_settings()
        quiet_client_errors()
        self.runtime = load_runtime(settings)
        self.decisions, self.stale, self.log_failures = _counters()
        self._failures_seen = 0
        self.breaker = Breaker()
        self.batcher = MicroBatcher(
            self._answer, settings.serve_max_batch, settings.serve_batch_wait_ms / 1000, self._settle
        )

    def _answer(self, requests: list[PredictRequest]) -> list[PredictResponse]:
        """Decide a merged batch (runs in the batcher's thread); logged once delivered (`_settle`)."""
        return self.runtime.decider.decide(requests)

    def _settle(
        self, requests: list[PredictRequest], answers: list[PredictResponse], delivered: list[bool]
    ) -> None:
        """Log and count what was answered; a request that timed out meanwhile never acted: what
        its decision booked (the cap's place, campaign capacity) is given back and it is not logged."""
        from serving.decision_log import record

        kept = [(a, r) for a, r, ok in zip(answers, requests, delivered, strict=True) if ok]
        gone = [(a, r) for a, r, ok in zip(answers, requests, delivered, strict=True) if not ok]
        if gone:
            self.runtime.decider.undo([a for a, _ in gone], [r for _, r in gone])
            log.warning(
                "%d decisions of requests that timed out were undone (not answered, not logged)", len(gone)
            )
        if kept:
            self.runtime.log.append(record(a, r.purpose, r.campaign) for a, r in kept)
        for a, _ in kept:
            self.decisions.labels(channel=a.decision.channel, fallback=str(a.fallback).lower()).inc()
        stale = sum(a.stale for a, _ in kept)
        if stale:
            self.stale.inc(stale)
        failures = self.runtime.log.failures
        if failures > self._failures_seen:
            self.log_failures.inc(failures - self._failures_seen)
            self._failures_seen = failures

    async def _submit(self, requests: list[PredictRequest]) -> list[PredictResponse]:
        self._usable()
        try:
            self.runtime.decider.check(requests)
            return await self.batcher.submit(requests, self.runtime.settings.serve_timeout_s)
        except TimedOut as exc:  # nothing booked or logged: the CRM may simply ask again
            raise down(f"the decision took too long ({exc}); nothing was booked or logged") from None
        except ValueError as exc:  # bad values the schema cannot see (e.g. a zone in the store)
            raise InvalidArgument(str(exc)) from None
        except Exception as exc:
            raise self._outage(exc) from None

    def _usable(self) -> None:
        """503 at once while a dependency is known to be down or the decision log cannot be written
        (an answer that cannot be logged must not be given)."""
        self.breaker.check()
        if self.runtime.log.failing:
            raise down("the decision log cannot be written")

    def _outage(self, exc: Exception) -> Exception:
        """A 503 for an unreachable dependency; any other error as it was (a 500: a bug)."""
        reason = down_reason(exc)
        return exc if reason is None else self.breaker.trip(reason)

    def __is_ready__(self) -> bool:
        """`/readyz`: not ready while Redis or the decision store is unreachable."""
        reason = not_ready(self.runtime)
        if reason is not None:
            down(reason)
        return reason is None

    @bentoml.api(route="/predict", input_spec=PredictRequest)
    async def predict(self, **request: Any) -> PredictResponse:
        """The best channel and hour (or none) for one customer, with its reasons; concurrent
        calls are decided together (micro-batching)."""
        return (await self._submit([PredictRequest.model_construct(**request)]))[0]

    @bentoml.api(route="/predict_batch", input_spec=BatchRequest)
    async def predict_batch(self, requests: list[PredictRequest]) -> list[PredictResponse]:
        """Many decisions in one call (up to 1,000), scored together on the same path."""
        return await self._submit(requests)

    @bentoml.api(route="/outcomes", input_spec=OutcomesRequest)
    def outcomes(self, outcomes: list[OutcomeReport]) -> OutcomesResponse:
        """What happened to earlier decisions (sent, not_sent, delivered, responded, converted):
        each row accepted or quarantined with its reason; `not_sent` frees the frequency cap and
        what the decision booked on its campaign's counters."""
        from serving.outcomes.intake import report_outcomes

        self.breaker.check()
        decider = self.runtime.decider
        try:
            return report_outcomes(
                self.runtime.settings.decision_store, outcomes, decider.handed_out, decider.limits
            )
        except Exception as exc:
            raise self._outage(exc) from None

    @bentoml.on_shutdown
    def _close_log(self) -> None:
        self.batcher.close()
        self.runtime.log.close()


NextBestChannel.add_asgi_middleware(BearerAuth)
NextBestChannel.add_asgi_middleware(RetryAfter)
NextBestChannel.add_asgi_middleware(StrictHttp)
