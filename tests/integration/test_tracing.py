"""Spans with OpenTelemetry (docs/design.md §4), seen by an in-memory exporter: one event's
trace runs from the producer's span through the ingest call, the commit that stored it (by a
link) and every attempt, two failed, a success and a redelivery, into the receiver, whose
requests name the attempts' spans as their parents; an event published without a trace joins
its ingest call's. Both stores."""

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from deskhook.api.event_ingest import PUBLISH_EVENT, PUBLISH_EVENTS
from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.server import Tuning
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.channels import add_channel
from tests.support.clock import FakeClock
from tests.support.delivery import deliveries, retried_twice_then_redelivered
from tests.support.events import make_event
from tests.support.ingest import ACCEPTED, publish_stream
from tests.support.receiver import Answer, Receiver
from tests.support.server import AdminStub, IngestStub

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PRODUCER_SPAN = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{TRACE_ID:032x}-{PRODUCER_SPAN:016x}-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


@pytest.fixture
def tuning(tuning: Tuning, exporter: InMemorySpanExporter) -> Tuning:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return replace(tuning, tracer=provider.get_tracer("test"))


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return sorted(
        (span for span in spans if span.name == name), key=lambda span: span.start_time or 0
    )


async def test_one_trace_runs_from_the_producer_through_ingest_and_every_attempt(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
    exporter: InMemorySpanExporter,
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    receiver.queue(Answer(status=500), Answer(status=500))
    event = make_event("evt-spans")
    event.traceparent = TRACEPARENT
    await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=event))
    await retried_twice_then_redelivered(admin, scheduler, clock, channel_id, "evt-spans")
    spans = exporter.get_finished_spans()

    (call,) = named(spans, PUBLISH_EVENT)
    assert call.kind is SpanKind.SERVER
    assert call.parent is not None
    assert (call.context.trace_id, call.parent.span_id) == (TRACE_ID, PRODUCER_SPAN)
    assert call.attributes is not None
    assert call.attributes["rpc.method"] == "PublishEvent"

    # The commit held events of any trace: it links to this one's producer span.
    commits = named(spans, "deskhook ingest commit")
    linked = {(link.context.trace_id, link.context.span_id) for c in commits for link in c.links}
    assert (TRACE_ID, PRODUCER_SPAN) in linked

    attempts = named(spans, "POST")
    assert [span.kind for span in attempts] == [SpanKind.CLIENT] * 4
    for span in attempts:
        assert span.parent is not None
        assert (span.context.trace_id, span.parent.span_id) == (TRACE_ID, PRODUCER_SPAN)
    described = [
        (
            attributes["deskhook.attempt"],
            attributes.get("http.response.status_code"),
            attributes["deskhook.outcome"],
            span.status.status_code,
        )
        for span in attempts
        if (attributes := span.attributes) is not None
    ]
    assert described == [
        (1, 500, "retry_scheduled", StatusCode.ERROR),
        (2, 500, "retry_scheduled", StatusCode.ERROR),
        (3, 200, "delivered", StatusCode.UNSET),
        (4, 200, "delivered", StatusCode.UNSET),
    ]
    assert {span.attributes["deskhook.channel_id"] for span in attempts if span.attributes} == {
        channel_id
    }

    # The receiver's requests name the attempts' spans as their parents, in the event's trace.
    sent = [request.headers["traceparent"].split("-") for request in deliveries(receiver)]
    assert {int(trace_id, 16) for _, trace_id, _, _ in sent} == {TRACE_ID}
    assert [int(span_id, 16) for _, _, span_id, _ in sent] == [
        span.context.span_id for span in attempts
    ]


async def test_an_event_without_trace_context_joins_its_ingest_calls_trace(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
    exporter: InMemorySpanExporter,
) -> None:
    """Its attempts, retries and redelivery included, hang under the call that published it,
    a unary call's or a stream's, rather than each starting a trace of its own."""
    channel_id, _ = await add_channel(admin, receiver)
    receiver.queue(Answer(status=500), Answer(status=500))
    await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=make_event("evt-unary")))
    await retried_twice_then_redelivered(admin, scheduler, clock, channel_id, "evt-unary")
    (acked,) = await publish_stream(ingest, [make_event("evt-streamed")])
    assert acked.result == ACCEPTED
    await scheduler.drain()
    spans = exporter.get_finished_spans()

    for call, event_id in ((PUBLISH_EVENT, "evt-unary"), (PUBLISH_EVENTS, "evt-streamed")):
        (server,) = named(spans, call)
        assert server.parent is None
        attempts = [
            span
            for span in named(spans, "POST")
            if span.attributes and span.attributes["deskhook.event_id"] == event_id
        ]
        assert len(attempts) == (4 if event_id == "evt-unary" else 1)
        for span in attempts:
            assert span.parent is not None
            assert (span.context.trace_id, span.parent.span_id) == (
                server.context.trace_id,
                server.context.span_id,
            )
        sent = [
            int(request.headers["traceparent"].split("-")[1], 16)
            for request in deliveries(receiver)
            if json.loads(request.body)["event_id"] == event_id
        ]
        assert sent == [server.context.trace_id] * len(attempts)
