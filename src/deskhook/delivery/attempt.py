"""One delivery attempt, in the steps of svix's dispatcher: call (sign and post the request; a
fault of deskhook's own stands in for the receiver's response), then handle (decide what
follows, count the result into the health view, free the slot, record the attempt in the
webhook log, and disable the channel when it is due). Building the attempt, as the webhook log
keeps it, is a pure function."""

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta

import structlog
from opentelemetry.trace import Span, SpanKind, Tracer

from deskhook.delivery.demand import Demand
from deskhook.delivery.health_view import HealthView
from deskhook.delivery.http_client import WebhookClient
from deskhook.delivery.operational import OperationalNotices
from deskhook.delivery.payload import event_body, rendered_event
from deskhook.delivery.slots import Slots
from deskhook.domain.breaker import BreakerPolicy, should_disable
from deskhook.domain.channel_spec import Channel
from deskhook.domain.delivery import Attempt, AttemptOutcome, DueDelivery, webhook_id
from deskhook.domain.responses import HttpResponse, concerns_receiver
from deskhook.domain.retry import Decision, Verdict, decide
from deskhook.domain.signing import webhook_headers
from deskhook.domain.trace_context import SPAN_ID_BYTES, attempt_trace_headers
from deskhook.store.base import Store
from deskhook.store.directory import ChannelDirectory
from deskhook.store.group_commit import GroupCommitter
from deskhook.tracing import NO_TRACE, end_attempt, http_client_attributes, span, trace_headers

log = structlog.get_logger("deskhook.delivery")

_OUTCOMES = {
    Verdict.DELIVERED: AttemptOutcome.DELIVERED,
    Verdict.RETRY: AttemptOutcome.RETRY_SCHEDULED,
    Verdict.GIVE_UP: AttemptOutcome.GIVEN_UP,
    Verdict.DISABLE_CHANNEL: AttemptOutcome.GIVEN_UP,
}


def build_attempt(
    delivery: DueDelivery, response: HttpResponse, decision: Decision, *, attempted_at: datetime
) -> Attempt:
    """The attempt at `delivery` begun at `attempted_at`, as the webhook log keeps it: the
    receiver gave `response`, after which `decision` holds."""
    return Attempt(
        delivery_id=delivery.delivery_id,
        channel_id=delivery.channel_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        ticket_id=delivery.ticket_id,
        ticket_number=delivery.ticket_number,
        account_id=delivery.account_id,
        attempt=delivery.attempts + 1,
        http_status=response.http_status,
        response_body=response.response_body,
        outcome=_OUTCOMES[decision.verdict],
        attempted_at=attempted_at,
        duration=timedelta(seconds=response.duration),
        error=response.error,
        failure=response.failure,
        webhook_id=webhook_id(delivery.channel_id, delivery.event_id),
        next_attempt_at=decision.next_attempt_at,
    )


def attempt_span(
    tracer: Tracer | None, channel: Channel, delivery: DueDelivery
) -> AbstractContextManager[Span | None]:
    """The attempt's span while tracing is on, child of the event's producer span."""
    if tracer is None:
        return nullcontext()
    try:
        event = rendered_event(delivery.payload, delivery.event_type)
        parent = (event.traceparent, event.tracestate)
    except Exception:
        parent = NO_TRACE
    return span(
        tracer,
        "POST",
        SpanKind.CLIENT,
        parent=parent,
        attributes=lambda: {
            **http_client_attributes(channel.spec.url),
            "deskhook.account_id": channel.account_id,
            "deskhook.channel_id": channel.id,
            "deskhook.event_id": delivery.event_id,
            "deskhook.attempt": delivery.attempts + 1,
        },
    )


class Attempts:
    def __init__(
        self,
        store: Store,
        directory: ChannelDirectory,
        client: WebhookClient,
        health: HealthView,
        slots: Slots,
        *,
        demand: Demand,
        now: Callable[[], datetime],
        jitter: Callable[[], float],
        random_bytes: Callable[[int], bytes],
        tracer: Tracer | None,
        notices: OperationalNotices | None,
        wake: asyncio.Event,
        on_attempt: Callable[[Attempt], None],
        breaker: BreakerPolicy,
        window: int,
    ) -> None:
        self._store = store
        self._directory = directory
        self._client = client
        self._health = health
        self._slots = slots
        self._demand = demand
        self._now = now
        self._jitter = jitter
        self._random_bytes = random_bytes
        self._tracer = tracer
        # None when no operational URL is set.
        self._notices = notices
        self._wake = wake
        self._on_attempt = on_attempt
        self._breaker = breaker
        # Attempts settle in shared transactions: one fsync for many deliveries.
        # Each attempt comes back as logged, with the id the store gave it.
        self._recorder: GroupCommitter[tuple[Attempt, datetime], Attempt] = GroupCommitter(
            self._record_batch, name="attempt-recorder", max_batch=window
        )

    def start(self) -> None:
        self._recorder.start()

    async def stop(self) -> None:
        await self._recorder.stop()

    async def run(self, delivery: DueDelivery) -> None:
        try:
            channel = self._directory.channel(delivery.channel_id)
            if channel is not None:
                with attempt_span(self._tracer, channel, delivery) as span:
                    started = self._now()
                    response = await self._call(channel, delivery, started, span)
                    attempt = await self._handle(channel, delivery, response, started)
                    if span is not None:
                        end_attempt(span, response, attempt.outcome.value)
        except Exception:
            # The claim lapses and the delivery is tried again; nothing is lost.
            log.exception(
                "delivery attempt failed",
                channel_id=delivery.channel_id,
                event_id=delivery.event_id,
            )

    async def _call(
        self, channel: Channel, delivery: DueDelivery, started: datetime, span: Span | None
    ) -> HttpResponse:
        try:
            body = event_body(delivery.payload, delivery.event_type, channel.id)
            headers = webhook_headers(
                keys=await self._directory.signing_keys(channel.id, started),
                webhook_id=webhook_id(channel.id, delivery.event_id),
                timestamp=int(started.timestamp()),
                body=body,
                event_type=delivery.event_type.value,
                attempt=delivery.attempts + 1,
            )
            headers.update(self._trace_context(delivery, span))
            return await self._client.post(channel.spec.url, body, headers)
        except Exception as error:
            # A fault of deskhook's own (a stored event it cannot render, a failed read): the
            # attempt is logged as failed and retried on the channel's schedule, so that one
            # delivery cannot hold its channel's slot, or its ticket's turn, for ever.
            log.exception(
                "could not make the request",
                channel_id=channel.id,
                event_id=delivery.event_id,
            )
            return HttpResponse.internal(
                f"deskhook could not make the request ({type(error).__name__}); the server's"
                " log has the details",
                (self._now() - started).total_seconds(),
            )

    def _trace_context(self, delivery: DueDelivery, span: Span | None) -> dict[str, str]:
        """The attempt's trace context headers: the event's trace, the attempt's own span (its
        span's while tracing is on)."""
        if span is not None:
            return trace_headers(span)
        event = rendered_event(delivery.payload, delivery.event_type)
        if not event.traceparent:
            return {}
        span_id = self._random_bytes(SPAN_ID_BYTES)
        return attempt_trace_headers(event.traceparent, event.tracestate, span_id)

    async def _handle(
        self, channel: Channel, delivery: DueDelivery, response: HttpResponse, started: datetime
    ) -> Attempt:
        finished = self._now()
        decision = decide(
            response,
            attempt=delivery.attempts + 1,
            retries_enabled=channel.spec.retries_enabled,
            schedule=channel.spec.retry_schedule,
            now=finished,
            jitter=self._jitter(),
        )
        counted = concerns_receiver(response.failure)
        if counted:
            self._health.count(channel.id, response.succeeded, finished)
        # What was claimed ahead for the full concurrency waits, unclaimed, for a success: taken
        # back before the slot frees and starts the next, and released once recorded, with
        # nothing between counting the result and submitting it.
        dropped = [] if response.succeeded or not counted else self._slots.take_ready(channel.id)
        # The delivery stays claimed (and, for PER_TICKET, first of its ticket) until recorded.
        self._slots.free(delivery)
        attempt = build_attempt(delivery, response, decision, attempted_at=started)
        (logged,) = await self._recorder.submit([(attempt, finished)])
        if dropped:
            await self._store.release_claims(dropped)
        log.info(
            "attempt",
            channel_id=channel.id,
            event_id=delivery.event_id,
            ticket_id=delivery.ticket_id,
            attempt=attempt.attempt,
            http_status=response.http_status,
            outcome=attempt.outcome.value,
            error=response.error,
            duration_ms=round(response.duration * 1000, 1),
        )
        self._on_attempt(logged)
        if self._notices is not None and decision.verdict is Verdict.GIVE_UP:
            await self._notices.delivery_exhausted(channel, logged)
        await self._disable_if_due(channel, decision, finished)
        return attempt

    async def _record_batch(self, attempts: list[tuple[Attempt, datetime]]) -> list[Attempt]:
        try:
            finished = await self._store.finish_attempts(attempts, self._breaker)
        finally:
            self._health.settle(attempt for attempt, _ in attempts)
        self._health.adopt(finished.health)
        if self._notices is not None and finished.circuit_changes:
            changed = {
                channel_id: (channel, state)
                for channel_id, state in finished.circuit_changes.items()
                if (channel := self._directory.channel(channel_id)) is not None
            }
            await self._notices.circuits_changed(changed, finished.health, finished.attempts)
        # Their leases ended, and a ticket's next delivery may be first now: claim again.
        self._demand.stir(attempt.channel_id for attempt, _ in attempts)
        self._wake.set()
        return finished.attempts

    async def _disable_if_due(self, channel: Channel, decision: Decision, now: datetime) -> None:
        health = self._health(channel.id)
        if decision.verdict is Verdict.DISABLE_CHANNEL:
            reason = decision.reason
        elif should_disable(health, now, self._breaker):
            days = self._breaker.disable_after / timedelta(days=1)
            reason = f"no successful delivery for {days:g} days"
        else:
            return
        disabled = await self._store.disable_channel(channel.id, reason, now)
        if disabled and self._notices is not None:
            await self._notices.channel_disabled(channel, reason)
        await self._slots.drop_ready(channel.id)
        self._health.end_probe(channel.id, health)
        await self._directory.refresh()
        log.warning("channel disabled", channel_id=channel.id, reason=reason)
