"""EventIngest: checks each published event, hands the valid ones to the committer, and acks
them in order once they are stored."""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import grpc
from opentelemetry.trace import SpanKind, Tracer

from deskhook.api.event_validation import published_event
from deskhook.core.ingest import IngestCommitter
from deskhook.domain.errors import InvalidArgument, ResourceExhausted
from deskhook.domain.events import IngestResult, PublishedEvent
from deskhook.tracing import NO_TRACE, TraceContext, rpc_attributes, span, trace_headers
from deskhook.v1 import event_ingest_pb2 as pb
from deskhook.v1 import event_ingest_pb2_grpc, event_pb2

Context = grpc.aio.ServicerContext[Any, Any]

MAX_EVENTS_PER_MESSAGE: Final = 1000
# Received but not yet committed, per stream: when full, the server stops reading, so gRPC flow
# control slows the producer instead of memory growing.
WINDOW_EVENTS: Final = 4096
WINDOW_BYTES: Final = 16 * 1024 * 1024

ACCEPTED: Final = pb.EVENT_ACK_RESULT_ACCEPTED
DUPLICATE: Final = pb.EVENT_ACK_RESULT_DUPLICATE
REJECTED: Final = pb.EVENT_ACK_RESULT_REJECTED


def stored_ack(event_id: str, result: IngestResult) -> pb.EventAck:
    return pb.EventAck(
        event_id=event_id,
        result=ACCEPTED if result.accepted else DUPLICATE,
        matched_channels=result.matched_channels,
    )


def rejected_ack(event_id: str, invalid: InvalidArgument, prefix: str = "") -> pb.EventAck:
    first = invalid.violations[0]
    return pb.EventAck(
        event_id=event_id, result=REJECTED, reason=invalid.message, field=prefix + first.field
    )


class Window:
    """Counts events and bytes in flight; `acquire` waits while the window is full. A message
    larger than the whole window still passes once the window is empty."""

    def __init__(self, events: int, size: int) -> None:
        self._limits = (events, size)
        self._used = (0, 0)
        self._changed = asyncio.Condition()

    def _fits(self, events: int, size: int) -> bool:
        used_events, used_bytes = self._used
        if used_events == 0:
            return True
        return used_events + events <= self._limits[0] and used_bytes + size <= self._limits[1]

    async def acquire(self, events: int, size: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._fits(events, size))
            self._used = (self._used[0] + events, self._used[1] + size)

    async def release(self, events: int, size: int) -> None:
        async with self._changed:
            self._used = (self._used[0] - events, self._used[1] - size)
            self._changed.notify_all()


class StreamLimit:
    """At most `limit` streams open at once: one more is refused with RESOURCE_EXHAUSTED, which
    tells the producer to retry, rather than taking memory and a share of the event loop."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: set[Context] = set()

    @contextmanager
    def held(self, context: Context) -> Iterator[None]:
        if len(self._open) >= self._limit:
            raise ResourceExhausted(
                f"the server already has {self._limit} PublishEvents streams open, its limit "
                "(max_ingest_streams); retry after a moment with backoff, or publish over fewer "
                "streams",
                reason="TOO_MANY_STREAMS",
            )
        self._open.add(context)
        # Given back when the RPC ends too: a stream cancelled while a response is on its way
        # never resumes the servicer, whose `finally` would then wait for garbage collection.
        # The stubs type the callback as their own class, not as any callable.
        context.add_done_callback(lambda _: self._open.discard(context))  # type: ignore[arg-type]
        try:
            yield
        finally:
            self._open.discard(context)


@dataclass
class _InFlight:
    """One request message: its acks, with the stored ones filled in when `stored` is done."""

    acks: list[pb.EventAck | None]
    stored: asyncio.Future[list[IngestResult]] | None
    event_ids: list[str]
    events: int
    size: int

    def is_stored(self) -> bool:
        return self.stored is None or self.stored.done()

    def resolved(self) -> list[pb.EventAck]:
        results = iter(self.stored.result() if self.stored else ())
        event_ids = iter(self.event_ids)
        return [ack or stored_ack(next(event_ids), next(results)) for ack in self.acks]


SERVICE = "deskhook.v1.EventIngest"
PUBLISH_EVENT = f"{SERVICE}/PublishEvent"
PUBLISH_EVENTS = f"{SERVICE}/PublishEvents"


def call_trace_context(metadata: Iterable[tuple[str, str | bytes]] | None) -> TraceContext:
    """The `traceparent` and `tracestate` a call carries in its metadata ("" when not): what an
    OpenTelemetry-instrumented client sends (on the JSON API, the HTTP headers)."""
    carried = dict(metadata or ())
    traceparent, tracestate = carried.get("traceparent", ""), carried.get("tracestate", "")
    if not isinstance(traceparent, str) or not traceparent:
        return NO_TRACE
    return traceparent, tracestate if isinstance(tracestate, str) else ""


def with_call_trace_context(
    event: event_pb2.Event, metadata: Iterable[tuple[str, str | bytes]] | None
) -> None:
    """Give an event without trace context of its own the call's."""
    if not (event.traceparent or event.tracestate):
        event.traceparent, event.tracestate = call_trace_context(metadata)


class EventIngestServicer(event_ingest_pb2_grpc.EventIngestServicer):
    def __init__(
        self,
        committer: IngestCommitter,
        now: Callable[[], datetime],
        on_rejected: Callable[[int], None],
        max_streams: int,
        tracer: Tracer | None = None,
    ) -> None:
        self._committer = committer
        self._tracer = tracer
        self._streams = StreamLimit(max_streams)
        self._now = now
        # Told how many events were refused as invalid: they never reach the committer.
        self._on_rejected = on_rejected

    async def PublishEvent(
        self, request: pb.PublishEventRequest, context: Context
    ) -> pb.PublishEventResponse:
        if not request.HasField("event"):
            raise InvalidArgument.field("event", "is required")
        event = request.event
        with_call_trace_context(event, context.invocation_metadata())
        with span(
            self._tracer,
            PUBLISH_EVENT,
            SpanKind.SERVER,
            parent=(event.traceparent, event.tracestate),
            attributes=lambda: rpc_attributes(PUBLISH_EVENT),
        ) as call:
            if call is not None:
                # An event that came without a trace joins the call's: its attempts then hang
                # under this span rather than each start a trace of its own.
                with_call_trace_context(event, trace_headers(call).items())
            return await self._publish_one(event)

    async def _publish_one(self, event: event_pb2.Event) -> pb.PublishEventResponse:
        try:
            published = published_event(event, int(self._now().timestamp()))
        except InvalidArgument as invalid:
            self._on_rejected(1)
            raise InvalidArgument(
                *(type(v)(f"event.{v.field}", v.description) for v in invalid.violations),
                reason="INVALID_EVENT",
            ) from None
        (result,) = await self._committer.submit([published])
        return pb.PublishEventResponse(ack=stored_ack(published.event_id, result))

    async def PublishEvents(
        self, request_iterator: AsyncIterator[pb.PublishEventsRequest], context: Context
    ) -> AsyncIterator[pb.PublishEventsResponse]:
        with (
            self._streams.held(context),
            span(
                self._tracer,
                PUBLISH_EVENTS,
                SpanKind.SERVER,
                parent=call_trace_context(context.invocation_metadata()),
                attributes=lambda: rpc_attributes(PUBLISH_EVENTS),
            ) as call,
        ):
            # Events that came without a trace join the stream's, as a unary call's do.
            joined = trace_headers(call) if call is not None else None
            window = Window(WINDOW_EVENTS, WINDOW_BYTES)
            in_flight: asyncio.Queue[_InFlight | None] = asyncio.Queue()
            reader = asyncio.create_task(self._read(request_iterator, window, in_flight, joined))
            # A message taken from the queue but not yet stored waits here for the next response.
            held: deque[_InFlight | None] = deque()
            try:
                while (first := held.popleft() if held else await in_flight.get()) is not None:
                    await self._settle(first, window)
                    batch = [first]
                    # Acks of messages already stored travel together in one response.
                    while not in_flight.empty():
                        following = in_flight.get_nowait()
                        if following is None or not following.is_stored():
                            held.append(following)
                            break
                        await self._settle(following, window)
                        batch.append(following)
                    acks = [ack for message in batch for ack in message.resolved()]
                    if acks:
                        yield pb.PublishEventsResponse(acks=acks)
                await reader
            finally:
                reader.cancel()

    async def _settle(self, message: _InFlight, window: Window) -> None:
        try:
            if message.stored is not None:
                await message.stored
        finally:
            await window.release(message.events, message.size)

    async def _read(
        self,
        request_iterator: AsyncIterator[pb.PublishEventsRequest],
        window: Window,
        in_flight: asyncio.Queue[_InFlight | None],
        joined: dict[str, str] | None,
    ) -> None:
        try:
            async for request in request_iterator:
                size = request.ByteSize()
                await window.acquire(len(request.events), size)
                in_flight.put_nowait(self._submit(request, size, joined))
        finally:
            in_flight.put_nowait(None)

    def _submit(
        self, request: pb.PublishEventsRequest, size: int, joined: dict[str, str] | None
    ) -> _InFlight:
        now_seconds = int(self._now().timestamp())
        acks: list[pb.EventAck | None] = []
        valid: list[PublishedEvent] = []
        for index, message in enumerate(request.events):
            if index >= MAX_EVENTS_PER_MESSAGE:
                too_many = InvalidArgument.field(
                    "events", f"a message carries at most {MAX_EVENTS_PER_MESSAGE} events"
                )
                acks.append(rejected_ack(message.event_id, too_many))
                continue
            if joined is not None:
                with_call_trace_context(message, joined.items())
            try:
                valid.append(published_event(message, now_seconds))
            except InvalidArgument as invalid:
                acks.append(rejected_ack(message.event_id, invalid))
                continue
            acks.append(None)
        if rejected := len(acks) - len(valid):
            self._on_rejected(rejected)
        stored = asyncio.ensure_future(self._committer.submit(valid)) if valid else None
        return _InFlight(acks, stored, [e.event_id for e in valid], len(request.events), size)
