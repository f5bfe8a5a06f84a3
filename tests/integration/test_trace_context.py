"""One trace from the helpdesk into the receiver (docs/design.md §4): every attempt at an event
carries its trace id under a span id of its own, retries and redeliveries included; the trace
context comes from the event, or from a unary call's metadata; a malformed one rejects the
event by name. Both stores, a real server and HTTPS receiver, time moved by the test."""

import json

import aiohttp
import grpc
from google.protobuf import json_format

from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.domain.trace_context import traceparent_violation
from deskhook.server import DeskhookServer
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from deskhook.v1 import event_pb2
from tests.support.channels import add_channel
from tests.support.clock import FakeClock
from tests.support.delivery import deliveries, publish, retried_twice_then_redelivered
from tests.support.events import make_event
from tests.support.ingest import REJECTED, publish_stream
from tests.support.receiver import Answer, ReceivedRequest, Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import INGEST_TOKEN, AdminStub, IngestStub

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
TRACESTATE = "helpdesk=ticket-action,vendor@sys=1"


def traced(event_id: str, traceparent: str = TRACEPARENT, tracestate: str = "") -> event_pb2.Event:
    event = make_event(event_id)
    event.traceparent, event.tracestate = traceparent, tracestate
    return event


def trace_of(request: ReceivedRequest) -> tuple[str, str, str, str]:
    """The trace id, span id and flags of a request's traceparent, and its tracestate."""
    traceparent = request.headers["traceparent"]
    assert traceparent_violation(traceparent) is None
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00"
    return trace_id, span_id, flags, request.headers.get("tracestate", "")


async def test_every_attempt_carries_the_events_trace_under_a_span_of_its_own(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    receiver.queue(Answer(status=500), Answer(status=503))
    await publish(ingest, traced("evt-traced", tracestate=TRACESTATE))
    await retried_twice_then_redelivered(admin, scheduler, clock, channel_id, "evt-traced")

    sent = deliveries(receiver)
    assert [request.headers["x-deskhook-attempt"] for request in sent] == ["1", "2", "3", "4"]
    traces = [trace_of(request) for request in sent]
    assert {(trace_id, flags, state) for trace_id, _, flags, state in traces} == {
        (TRACE_ID, "01", TRACESTATE)
    }
    spans = [span_id for _, span_id, _, _ in traces]
    assert len(set(spans)) == len(spans)
    assert "00f067aa0ba902b7" not in spans
    # The body is the same for every attempt: the trace context is not in it.
    assert {request.body for request in sent} == {sent[0].body}
    assert "traceparent" not in json.loads(sent[0].body)


async def test_an_event_without_trace_context_sends_none(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    await add_channel(admin, receiver)
    await publish(ingest, make_event("evt-plain"))
    await scheduler.drain()
    (request,) = deliveries(receiver)
    assert "traceparent" not in request.headers
    assert "tracestate" not in request.headers


async def test_a_unary_publish_takes_the_calls_trace_context_when_the_event_has_none(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    server: DeskhookServer,
) -> None:
    await add_channel(admin, receiver)
    other_trace = "0af7651916cd43dd8448eb211c80319c"
    from_call = (("traceparent", f"00-{other_trace}-b7ad6b7169203331-01"), ("tracestate", "k=v"))
    await ingest.PublishEvent(
        ingest_pb.PublishEventRequest(event=make_event("evt-meta")), metadata=from_call
    )
    # The event's own wins over the call's.
    await ingest.PublishEvent(
        ingest_pb.PublishEventRequest(event=traced("evt-own")), metadata=from_call
    )
    # On the JSON API the call's metadata are its HTTP headers.
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.console_port}") as http:
        body = {"event": json.loads(json_format.MessageToJson(make_event("evt-http")))}
        headers = {"Authorization": f"Bearer {INGEST_TOKEN}", **dict(from_call)}
        async with http.post(
            "/deskhook.v1.EventIngest/PublishEvent", json=body, headers=headers
        ) as answer:
            assert answer.status == 200, await answer.text()
    await scheduler.drain()
    by_event = {json.loads(r.body)["event_id"]: trace_of(r) for r in deliveries(receiver)}
    assert {event_id: (trace[0], trace[3]) for event_id, trace in by_event.items()} == {
        "evt-meta": (other_trace, "k=v"),
        "evt-own": (TRACE_ID, ""),
        "evt-http": (other_trace, "k=v"),
    }


async def test_malformed_trace_context_rejects_the_event_by_name(ingest: IngestStub) -> None:
    cases = {
        "traceparent": traced("bad-parent", traceparent=TRACEPARENT.upper()),
        "tracestate": traced("bad-state", tracestate="no value"),
    }
    lone_state = make_event("lone-state")
    lone_state.tracestate = "k=v"
    cases_in_order = [*cases.items(), ("tracestate", lone_state)]
    acks = await publish_stream(ingest, [event for _, event in cases_in_order])
    assert [(ack.result, ack.field) for ack in acks] == [
        (REJECTED, field) for field, _ in cases_in_order
    ]
    for field, event in cases_in_order:
        failure = await rpc_failure(ingest.PublishEvent(ingest_pb.PublishEventRequest(event=event)))
        assert (failure.code, failure.fields) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            [f"event.{field}"],
        )
    # A malformed traceparent in the call's metadata is the event's field, named the same.
    failure = await rpc_failure(
        ingest.PublishEvent(
            ingest_pb.PublishEventRequest(event=make_event("bad-meta")),
            metadata=(("traceparent", "not-a-traceparent"),),
        )
    )
    assert failure.fields == ["event.traceparent"]
