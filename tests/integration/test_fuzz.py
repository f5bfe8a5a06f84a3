"""Fuzzing the gRPC API with hypothesis: odd and malformed events, wire bytes and admin requests
against one live server. Every call succeeds or fails with a status a client can act on (never
INTERNAL or UNKNOWN), an INVALID_ARGUMENT names the field, and the server stays SERVING.

The properties are synchronous (plain grpc stubs) and share one server, started on an event
loop in a thread of its own, so that hypothesis drives hundreds of calls without a server per
example. The bugs they found, now fixed, are pinned below as regression tests on fresh servers."""

import asyncio
import base64
import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from math import inf, nan
from typing import Any, Final, TypeVar

import grpc
import hypothesis
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import given, settings
from hypothesis import strategies as st

from deskhook.api.convert import event_type_from_proto
from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.delivery.payload import event_body
from deskhook.domain.paging import encode_page_token
from deskhook.domain.trace_context import (
    attempt_trace_headers,
    traceparent_violation,
    tracestate_violation,
)
from deskhook.server import DeskhookServer, Tuning
from deskhook.store.base import LogFilter
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2, event_ingest_pb2_grpc, event_pb2
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.channels import add_channel
from tests.support.events import make_event
from tests.support.receiver import Receiver
from tests.support.resolver import StaticResolver
from tests.support.rpc_errors import failure_of, rpc_failure
from tests.support.server import (
    ADMIN_TOKEN,
    INGEST_TOKEN,
    TEST_LIMITS,
    AdminStub,
    IngestStub,
    running,
)
from tests.support.strategies import (
    PRINTABLE_ASCII,
    TIMESTAMP_MAX_SECONDS,
    TIMESTAMP_MIN_SECONDS,
    Saved,
    admin_calls,
    events,
    field_key,
    length_delimited,
    odd_wire_bodies,
)

# Derandomized: CI runs the same examples on every commit, so a red run is a regression, not
# luck; new ground is covered by changing the strategies. No example database: what a run tests
# depends on the code alone, not on failures an earlier run left behind.
FUZZ: Final = settings(max_examples=200, deadline=None, derandomize=True, database=None)

# Statuses that tell the caller what was wrong with its request.
PROPER_FAILURES: Final = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        # gRPC's own answer to a message over its 4 MiB limit.
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
AUTH_FAILURES: Final = frozenset(
    {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
)
ADMIN: Final = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
INGEST: Final = (("authorization", f"Bearer {INGEST_TOKEN}"),)
# A hung call fails the test as DEADLINE_EXCEEDED instead of hanging the suite.
CALL_TIMEOUT: Final = 30.0
START_TIMEOUT: Final = 30.0
PUBLISH_EVENT: Final = "/deskhook.v1.EventIngest/PublishEvent"
PUBLISH_EVENTS: Final = "/deskhook.v1.EventIngest/PublishEvents"
GET_CHANNEL: Final = "/deskhook.v1.ChannelAdmin/GetChannel"
# The saved channels' department: no event is published to it.
SAVED_DEPARTMENT: Final = 1_000_001
ACCEPTED = ingest_pb.EVENT_ACK_RESULT_ACCEPTED
DUPLICATE = ingest_pb.EVENT_ACK_RESULT_DUPLICATE
REJECTED = ingest_pb.EVENT_ACK_RESULT_REJECTED

R = TypeVar("R")


@dataclass(frozen=True)
class Live:
    channel: grpc.Channel
    admin: channel_admin_pb2_grpc.ChannelAdminStub
    ingest: event_ingest_pb2_grpc.EventIngestStub
    health: Any  # grpc_health ships no type stubs
    saved: Saved


@contextmanager
def serving_in_thread(settings: Settings, tuning: Tuning) -> Iterator[int]:
    """`running()` on an event loop in a thread of its own; yields the gRPC port."""
    started: Future[tuple[asyncio.AbstractEventLoop, asyncio.Event, DeskhookServer]] = Future()

    async def serve() -> None:
        try:
            async with running(settings, tuning) as server:
                stop = asyncio.Event()
                started.set_result((asyncio.get_running_loop(), stop, server))
                await stop.wait()
        except Exception as error:
            if started.done():
                raise
            started.set_exception(error)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="fuzzed-server")
    thread.start()
    try:
        loop, stop, server = started.result(timeout=START_TIMEOUT)
        try:
            yield server.port
        finally:
            loop.call_soon_threadsafe(stop.set)
    finally:
        thread.join()


def save_channels(admin: channel_admin_pb2_grpc.ChannelAdminStub) -> Saved:
    """Two disabled channels (so nothing is delivered to them), and the page token after the
    first of them."""
    ids = [
        admin.CreateChannel(
            admin_pb.CreateChannelRequest(
                channel=channel_pb2.Channel(
                    name="fuzz",
                    url="https://hook.invalid/fuzz",
                    department_id=SAVED_DEPARTMENT,
                    subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
                    enabled=False,
                )
            ),
            metadata=ADMIN,
            timeout=CALL_TIMEOUT,
        ).channel.id
        for _ in range(2)
    ]
    page = admin.ListChannels(
        admin_pb.ListChannelsRequest(page_size=1, department_id=SAVED_DEPARTMENT),
        metadata=ADMIN,
        timeout=CALL_TIMEOUT,
    )
    return Saved(ids[0], page.next_page_token, SAVED_DEPARTMENT)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server for the module. No network is allowed: the URLs the fuzz saves are refused,
    or their connection tests find no such host in the offline resolver, so they never leave
    the machine."""
    settings = Settings(
        listen="127.0.0.1:0",
        metrics_listen="",
        console_listen="",
        database=str(tmp_path_factory.mktemp("fuzz") / "deskhook.db"),
        admin_tokens=(ADMIN_TOKEN,),
        ingest_tokens=(INGEST_TOKEN,),
    )
    with (
        serving_in_thread(settings, Tuning(TEST_LIMITS, resolver=StaticResolver)) as port,
        grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        admin = channel_admin_pb2_grpc.ChannelAdminStub(channel)
        yield Live(
            channel,
            admin,
            event_ingest_pb2_grpc.EventIngestStub(channel),
            health_pb2_grpc.HealthStub(channel),
            save_channels(admin),
        )


def assert_proper_failure(
    error: grpc.RpcError,
    field_prefix: str = "",
    allowed: frozenset[grpc.StatusCode] = PROPER_FAILURES,
) -> grpc.StatusCode:
    """The failed call's code, checked: one of `allowed`, and an INVALID_ARGUMENT names the
    fields, under `field_prefix`."""
    assert isinstance(error, grpc.Call)
    code = error.code()
    assert code in allowed, f"{code}: {error.details()}"
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        fields = failure_of(error).fields
        assert fields, f"INVALID_ARGUMENT names no field: {error.details()}"
        assert all(field.startswith(field_prefix) for field in fields), fields
    return code


def checked(call: Callable[[], R], label: str, field_prefix: str = "") -> R | None:
    """The call's response; None when it failed properly (`assert_proper_failure`). Outcomes
    are counted under `label` (`pytest --hypothesis-show-statistics` shows what was reached)."""
    try:
        response = call()
    except grpc.RpcError as error:
        code = assert_proper_failure(error, field_prefix)
        hypothesis.event(f"{label}: {code.name}")
        return None
    hypothesis.event(f"{label}: OK")
    return response


def assert_serving(live: Live) -> None:
    response = live.health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def assert_acks(acks: list[ingest_pb.EventAck], sent: list[event_pb2.Event]) -> None:
    """One ack per event, in order; a rejection names the field."""
    assert [ack.event_id for ack in acks] == [event.event_id for event in sent]
    for ack in acks:
        assert ack.result in (ACCEPTED, DUPLICATE, REJECTED)
        if ack.result == REJECTED:
            assert ack.field, ack


@FUZZ
@given(event=events())
def test_published_events_are_acked_or_refused_by_field_and_accepted_ones_render(
    live: Live, event: event_pb2.Event
) -> None:
    response = checked(
        lambda: live.ingest.PublishEvent(
            ingest_pb.PublishEventRequest(event=event), metadata=INGEST, timeout=CALL_TIMEOUT
        ),
        "PublishEvent",
        field_prefix="event",
    )
    if response is not None:
        assert response.ack.event_id == event.event_id
        assert response.ack.result in (ACCEPTED, DUPLICATE)
        hypothesis.event(ingest_pb.EventAckResult.Name(response.ack.result))
        # What the scheduler will send: an accepted event must be deliverable.
        event_body(event.SerializeToString(), event_type_from_proto(event.event_type, ""), "ch_x")
        if event.traceparent:
            sent = attempt_trace_headers(event.traceparent, event.tracestate, b"\x01" * 8)
            assert traceparent_violation(sent["traceparent"]) is None
            assert tracestate_violation(sent.get("tracestate", "")) is None
    assert_serving(live)


_sentinels = itertools.count()


@settings(FUZZ, max_examples=100)
@given(messages=st.lists(st.lists(events(), max_size=3), min_size=1, max_size=4))
def test_event_stream_acks_every_event_and_goes_on_after_rejections(
    live: Live, messages: list[list[event_pb2.Event]]
) -> None:
    # A valid event last: the stream still takes events after whatever came before.
    sentinel = make_event(f"fuzz-sentinel-{next(_sentinels)}")
    requests = [ingest_pb.PublishEventsRequest(events=batch) for batch in [*messages, [sentinel]]]

    def publish() -> list[ingest_pb.EventAck]:
        responses = live.ingest.PublishEvents(iter(requests), metadata=INGEST, timeout=CALL_TIMEOUT)
        return [ack for response in responses for ack in response.acks]

    acks = checked(publish, "PublishEvents")
    if acks is not None:
        assert_acks(acks, [event for batch in messages for event in batch] + [sentinel])
        assert acks[-1].result == ACCEPTED
    assert_serving(live)


@FUZZ
@given(
    method=st.sampled_from((PUBLISH_EVENT, GET_CHANNEL)),
    body=st.one_of(st.binary(max_size=256), odd_wire_bodies().map(lambda body: body[:-1])),
)
def test_arbitrary_bytes_get_a_proper_status(live: Live, method: str, body: bytes) -> None:
    """Random bytes, and valid bodies cut short: decoded, refused naming a field, or refused as
    a malformed request; never UNKNOWN."""
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = live.channel.unary_unary(method)
    metadata = INGEST if method == PUBLISH_EVENT else ADMIN
    checked(lambda: call(body, metadata=metadata, timeout=CALL_TIMEOUT), method)
    assert_serving(live)


@FUZZ
@given(body=odd_wire_bodies())
def test_lenient_wire_bytes_are_acked_or_refused_by_field(live: Live, body: bytes) -> None:
    publish_event: grpc.UnaryUnaryMultiCallable[bytes, bytes]
    publish_event = live.channel.unary_unary(PUBLISH_EVENT)
    checked(
        lambda: publish_event(body, metadata=INGEST, timeout=CALL_TIMEOUT),
        "PublishEvent",
        field_prefix="event",
    )

    publish_events: grpc.StreamStreamMultiCallable[bytes, bytes]
    publish_events = live.channel.stream_stream(PUBLISH_EVENTS)

    def publish() -> list[ingest_pb.EventAck]:
        responses = publish_events(iter([body]), metadata=INGEST, timeout=CALL_TIMEOUT)
        return [
            ack for raw in responses for ack in ingest_pb.PublishEventsResponse.FromString(raw).acks
        ]

    acks = checked(publish, "PublishEvents")
    if acks is not None:
        # The server reads the bytes as protobuf does here.
        assert_acks(acks, list(ingest_pb.PublishEventsRequest.FromString(body).events))
    assert_serving(live)


@settings(FUZZ, max_examples=500)
@given(data=st.data())
def test_admin_requests_get_a_proper_status(live: Live, data: st.DataObject) -> None:
    method, request = data.draw(admin_calls(live.saved), label="call")
    call = getattr(live.admin, method)
    checked(lambda: call(request, metadata=ADMIN, timeout=CALL_TIMEOUT), method)
    assert_serving(live)


@settings(FUZZ, max_examples=40)
@given(
    authorization=st.one_of(
        st.text(PRINTABLE_ASCII, max_size=40),
        st.sampled_from(
            ("Bearer", "Bearer ", "bearer  ", f"Bearer {INGEST_TOKEN}x", f"Basic {ADMIN_TOKEN}")
        ),
    ),
)
def test_wrong_tokens_are_refused(live: Live, authorization: str) -> None:
    metadata = (("authorization", authorization),)
    for call in (
        lambda: live.admin.GetChannel(
            admin_pb.GetChannelRequest(id="ch_"), metadata=metadata, timeout=CALL_TIMEOUT
        ),
        lambda: live.ingest.PublishEvent(
            ingest_pb.PublishEventRequest(), metadata=metadata, timeout=CALL_TIMEOUT
        ),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert_proper_failure(raised.value, allowed=AUTH_FAILURES)


# --- regressions: what the fuzz found -------------------------------------------------------


def nested_custom_fields(depth: int) -> bytes:
    """PublishEventRequest bytes whose ticket's custom fields nest `depth` structs deep: built
    by hand, as protobuf will not build a message it could not read back."""
    struct = length_delimited(1, length_delimited(1, b"a") + length_delimited(2, b""))
    for _ in range(depth):
        value = length_delimited(5, struct)  # Value.struct_value
        struct = length_delimited(1, length_delimited(1, b"a") + length_delimited(2, value))
    ticket = length_delimited(13, struct)
    return length_delimited(1, length_delimited(4, ticket))


@pytest.mark.parametrize(
    ("method", "body"),
    [
        pytest.param(
            PUBLISH_EVENT, length_delimited(1, length_delimited(1, b"\xff")), id="bad-utf8"
        ),
        pytest.param(
            PUBLISH_EVENT, length_delimited(1, field_key(2, 0) + b"\xff"), id="cut-varint"
        ),
        pytest.param(PUBLISH_EVENT, nested_custom_fields(40), id="nested-past-decoder-depth"),
        pytest.param(GET_CHANNEL, length_delimited(1, b"\xc0\xaf"), id="overlong-utf8-id"),
    ],
)
async def test_undecodable_requests_are_invalid_arguments(
    server: DeskhookServer, method: str, body: bytes
) -> None:
    token = INGEST_TOKEN if "EventIngest" in method else ADMIN_TOKEN
    async with open_channel(f"127.0.0.1:{server.port}", token) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        failure = await rpc_failure(call(body))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, failure


async def test_an_undecodable_stream_message_ends_the_stream_as_invalid_argument(
    server: DeskhookServer,
) -> None:
    async def publish(channel: grpc.aio.Channel) -> list[bytes]:
        call: grpc.aio.StreamStreamMultiCallable[bytes, bytes]
        call = channel.stream_stream(PUBLISH_EVENTS)
        bad_utf8 = length_delimited(1, length_delimited(1, b"\xff"))
        return [raw async for raw in call(iter([bad_utf8]))]

    async with open_channel(f"127.0.0.1:{server.port}", INGEST_TOKEN) as channel:
        failure = await rpc_failure(publish(channel))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, failure


# Past these, protobuf's own conversions raise (ValueError, OverflowError).
PAST_TIMESTAMPS: Final = {
    "after-9999": timestamp_pb2.Timestamp(seconds=TIMESTAMP_MAX_SECONDS + 1),
    "before-year-1": timestamp_pb2.Timestamp(seconds=TIMESTAMP_MIN_SECONDS - 1),
    "negative-nanos": timestamp_pb2.Timestamp(seconds=0, nanos=-1),
    "whole-second-of-nanos": timestamp_pb2.Timestamp(seconds=0, nanos=1_000_000_000),
}
PAST_TIMEDELTA: Final = duration_pb2.Duration(seconds=86_400 * 1_000_000_000)


@pytest.mark.parametrize(
    ("method", "request_for"),
    [
        *(
            pytest.param(
                "Redeliver",
                lambda channel_id, when=when: admin_pb.RedeliverRequest(
                    channel_id=channel_id, failed_since=when
                ),
                id=f"redeliver-{name}",
            )
            for name, when in PAST_TIMESTAMPS.items()
        ),
        pytest.param(
            "ListDeliveryLog",
            lambda _: admin_pb.ListDeliveryLogRequest(start_time=PAST_TIMESTAMPS["after-9999"]),
            id="log-start-time",
        ),
        pytest.param(
            "ListDeliveryLog",
            lambda _: admin_pb.ListDeliveryLogRequest(
                end_time=PAST_TIMESTAMPS["whole-second-of-nanos"]
            ),
            id="log-end-time-nanos",
        ),
        pytest.param(
            "RotateSigningSecret",
            lambda channel_id: admin_pb.RotateSigningSecretRequest(
                id=channel_id, grace_period=PAST_TIMEDELTA
            ),
            id="rotate-grace-period",
        ),
        pytest.param(
            "UpdateChannel",
            lambda channel_id: admin_pb.UpdateChannelRequest(
                channel=channel_pb2.Channel(id=channel_id, retry_schedule=[PAST_TIMEDELTA])
            ),
            id="update-retry-schedule",
        ),
    ],
)
async def test_out_of_range_times_are_invalid_arguments(
    admin: AdminStub, receiver: Receiver, method: str, request_for: Callable[[str], Message]
) -> None:
    """Found by the fuzzing: protobuf's own conversions raised, answered INTERNAL."""
    channel_id, _ = await add_channel(admin, receiver)
    failure = await rpc_failure(getattr(admin, method)(request_for(channel_id)))
    assert (failure.code, bool(failure.fields)) == (grpc.StatusCode.INVALID_ARGUMENT, True), failure


@pytest.mark.parametrize(
    ("method", "request_for"),
    [
        pytest.param(
            "ListChannels",
            # The digest is an unkeyed hash of the filters, so a client can forge a token.
            lambda: admin_pb.ListChannelsRequest(
                page_token=encode_page_token([2**63], {"department_id": None, "enabled": None})
            ),
            id="channels-position-past-int64",
        ),
        pytest.param(
            "ListDeliveryLog",
            lambda: admin_pb.ListDeliveryLogRequest(
                page_token=encode_page_token(
                    [2**63, 1], {key: str(value) for key, value in asdict(LogFilter()).items()}
                )
            ),
            id="log-position-past-int64",
        ),
        pytest.param(
            "ListChannels",
            lambda: admin_pb.ListChannelsRequest(
                page_token=base64.urlsafe_b64encode(b"[" * 30_000).decode()
            ),
            id="deeply-nested-json",
        ),
    ],
)
async def test_unreadable_page_tokens_are_invalid_arguments(
    admin: AdminStub, method: str, request_for: Callable[[], Message]
) -> None:
    """Found by the fuzzing: SQLite could not bind such a position, and the JSON parser ran out
    of stack; both were answered INTERNAL."""
    failure = await rpc_failure(getattr(admin, method)(request_for()))
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"]), (
        failure
    )


def _with(change: Callable[[event_pb2.Event], object]) -> event_pb2.Event:
    event = make_event("evt-render")
    change(event)
    return event


@pytest.mark.parametrize(
    ("event", "field"),
    [
        pytest.param(
            _with(lambda e: e.ticket.custom_fields.update({"score": nan})),
            "event.ticket.custom_fields",
            id="nan",
        ),
        pytest.param(
            _with(lambda e: e.ticket.custom_fields.update({"score": -inf})),
            "event.ticket.custom_fields",
            id="infinity",
        ),
        pytest.param(
            _with(lambda e: setattr(e.occurred_at, "nanos", -1)),
            "event.occurred_at.nanos",
            id="occurred-at-nanos",
        ),
        pytest.param(
            _with(lambda e: setattr(e.ticket.create_time, "seconds", TIMESTAMP_MAX_SECONDS + 1)),
            "event.ticket.create_time",
            id="create-time-past-9999",
        ),
    ],
)
async def test_unrenderable_events_are_refused_by_field(
    ingest: IngestStub, event: event_pb2.Event, field: str
) -> None:
    """Found by the fuzzing: accepted, such events could never be rendered into a webhook, and
    each delivery failed before sending, on every claim, with no log entry and no end."""
    failure = await rpc_failure(ingest.PublishEvent(ingest_pb.PublishEventRequest(event=event)))
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
