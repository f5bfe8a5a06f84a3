"""EventIngest over a real gRPC channel: acks only after the event and its deliveries are
stored, duplicates create nothing, invalid events are rejected without closing the stream."""

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import grpc
import pytest

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.server import DeskhookServer
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import event_ingest_pb2 as pb
from deskhook.v1 import event_ingest_pb2_grpc, event_pb2
from tests.support.channels import add_channel
from tests.support.databases import fetch_rows
from tests.support.events import OPERATIONAL_EVENT_TYPES, TICKET_EVENT_TYPES, make_event
from tests.support.ingest import ACCEPTED, DUPLICATE, REJECTED, publish_stream
from tests.support.receiver import Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import INGEST_TOKEN, AdminStub, IngestStub


async def stored(settings: Settings) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Matched counts of stored events, and channel ids of their deliveries, by event id."""
    events = dict(
        await fetch_rows(settings.database, "SELECT event_id, matched_channels FROM events")
    )
    deliveries: dict[str, list[str]] = {}
    for event_id, channel_id in await fetch_rows(
        settings.database,
        "SELECT e.event_id, d.channel_id FROM deliveries d JOIN events e ON e.seq = d.event_seq"
        " ORDER BY d.id",
    ):
        deliveries.setdefault(event_id, []).append(channel_id)
    return events, deliveries


def summary(acks: Iterable[pb.EventAck]) -> list[tuple[str, int, int]]:
    return [(ack.event_id, ack.result, ack.matched_channels) for ack in acks]


async def test_accepted_duplicate_and_rejected_in_one_stream(
    admin: AdminStub, receiver: Receiver, ingest: IngestStub, settings: Settings
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    invalid = make_event("bad-1")
    invalid.ticket.department_id = 0
    acks = await publish_stream(
        ingest, [make_event("e-1")], [make_event("e-1"), invalid], [make_event("e-2")]
    )
    assert summary(acks) == [
        ("e-1", ACCEPTED, 1),
        ("e-1", DUPLICATE, 1),
        ("bad-1", REJECTED, 0),
        ("e-2", ACCEPTED, 1),
    ]
    assert acks[2].field == "ticket.department_id"
    assert "ticket.department_id" in acks[2].reason
    events, deliveries = await stored(settings)
    assert events == {"e-1": 1, "e-2": 1}
    assert deliveries == {"e-1": [channel_id], "e-2": [channel_id]}


async def test_duplicate_in_the_same_message_as_its_original(
    admin: AdminStub, receiver: Receiver, ingest: IngestStub, settings: Settings
) -> None:
    await add_channel(admin, receiver)
    acks = await publish_stream(ingest, [make_event("twin"), make_event("twin")])
    assert summary(acks) == [("twin", ACCEPTED, 1), ("twin", DUPLICATE, 1)]
    _, deliveries = await stored(settings)
    assert len(deliveries["twin"]) == 1


async def test_fan_out_to_every_matching_channel(
    admin: AdminStub, receiver: Receiver, ingest: IngestStub, settings: Settings
) -> None:
    create = event_pb2.EVENT_TYPE_TICKET_CREATE
    close = event_pb2.EVENT_TYPE_TICKET_CLOSE
    matching = [
        (await add_channel(admin, receiver, subscriptions=[create, close]))[0] for _ in range(3)
    ]
    await add_channel(admin, receiver, department_id=8)  # other department
    await add_channel(admin, receiver, subscriptions=[close])  # not subscribed
    await add_channel(admin, receiver, enabled=False)
    acks = await publish_stream(ingest, [make_event("fan", create)])
    assert summary(acks) == [("fan", ACCEPTED, 3)]
    _, deliveries = await stored(settings)
    assert sorted(deliveries["fan"]) == sorted(matching)


async def test_department_change_reaches_old_and_new_department(
    admin: AdminStub, receiver: Receiver, ingest: IngestStub, settings: Settings
) -> None:
    moved = event_pb2.EVENT_TYPE_TICKET_DEPARTMENT_CHANGE
    old, _ = await add_channel(admin, receiver, department_id=1, subscriptions=[moved])
    new, _ = await add_channel(admin, receiver, department_id=2, subscriptions=[moved])
    await add_channel(admin, receiver, department_id=3, subscriptions=[moved])
    event = make_event("moved", moved, department_id=2, old_department_id=1)
    assert summary(await publish_stream(ingest, [event])) == [("moved", ACCEPTED, 2)]
    _, deliveries = await stored(settings)
    assert sorted(deliveries["moved"]) == sorted([old, new])


async def test_no_match_is_acked_without_deliveries(ingest: IngestStub, settings: Settings) -> None:
    assert summary(await publish_stream(ingest, [make_event("lonely")])) == [
        ("lonely", ACCEPTED, 0)
    ]
    events, deliveries = await stored(settings)
    assert events == {"lonely": 0}
    assert deliveries == {}


async def test_channel_changes_reach_matching_at_once(
    admin: AdminStub, receiver: Receiver, ingest: IngestStub
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    assert summary(await publish_stream(ingest, [make_event("before")])) == [
        ("before", ACCEPTED, 1)
    ]
    await admin.DeleteChannel(admin_pb.DeleteChannelRequest(id=channel_id))
    assert summary(await publish_stream(ingest, [make_event("after")])) == [("after", ACCEPTED, 0)]


async def test_every_ticket_event_type_is_accepted_and_no_operational_one(
    ingest: IngestStub,
) -> None:
    events = [
        make_event(f"type-{number}", number, old_department_id=3)
        for number in TICKET_EVENT_TYPES + OPERATIONAL_EVENT_TYPES
    ]
    acks = await publish_stream(ingest, events)
    assert [ack.result for ack in acks] == [ACCEPTED] * 12 + [REJECTED] * 4, [
        ack.reason for ack in acks
    ]
    for ack in acks[12:]:
        assert ack.field == "event_type"
        assert "deskhook's own" in ack.reason


async def test_cancelled_stream_loses_nothing_acked(
    admin: AdminStub, receiver: Receiver, ingest: IngestStub, settings: Settings
) -> None:
    await add_channel(admin, receiver)
    acked: list[str] = []
    sent = [f"c-{n}" for n in range(200)]

    async def requests() -> AsyncIterator[pb.PublishEventsRequest]:
        for event_id in sent:
            yield pb.PublishEventsRequest(events=[make_event(event_id)])

    call = ingest.PublishEvents(requests())
    async for response in call:
        acked.extend(ack.event_id for ack in response.acks)
        if len(acked) >= 50:
            call.cancel()
            break
    events, deliveries = await stored(settings)
    assert set(acked) <= set(events)
    assert all(len(deliveries[event_id]) == 1 for event_id in acked)

    # The producer resends everything it has no ack for: nothing is stored twice.
    resent = await publish_stream(ingest, [make_event(e) for e in sent if e not in acked])
    assert {ack.result for ack in resent} <= {ACCEPTED, DUPLICATE}
    events, deliveries = await stored(settings)
    assert set(events) == set(sent)
    assert all(len(ids) == 1 for ids in deliveries.values())


async def test_publish_event_unary(
    admin: AdminStub, receiver: Receiver, ingest: IngestStub
) -> None:
    await add_channel(admin, receiver)
    first = await ingest.PublishEvent(pb.PublishEventRequest(event=make_event("one")))
    again = await ingest.PublishEvent(pb.PublishEventRequest(event=make_event("one")))
    assert summary([first.ack, again.ack]) == [("one", ACCEPTED, 1), ("one", DUPLICATE, 1)]


def broken(change: str) -> event_pb2.Event:
    """A ticket_answer event with one thing wrong, named by `change`."""
    event = make_event("broken", event_pb2.EVENT_TYPE_TICKET_ANSWER)
    if change == "no id":
        event.event_id = ""
    elif change == "long id":
        event.event_id = "x" * 129
    elif change == "no type":
        event.event_type = event_pb2.EVENT_TYPE_UNSPECIFIED
    elif change == "unknown type":
        event.event_type = 99  # type: ignore[assignment]
    elif change == "no time":
        event.ClearField("occurred_at")
    elif change == "future":
        event.occurred_at.seconds += 3600
    elif change == "no ticket":
        event.ClearField("ticket")
    elif change == "no ticket id":
        event.ticket.id = 0
    elif change == "escape in ticket number":
        event.ticket.unique_id = "HD-1\x1b[2K\rHD-2"
    elif change == "NUL in ticket number":
        event.ticket.unique_id = "HD-1\x00"
    elif change == "wrong detail":
        event.rating.score = 5
    elif change == "no detail":
        event.ClearField("post")
    elif change == "too big":
        event.post.text = "x" * 131_000
        event.ticket.title = ""
        for index in range(2):
            event.ticket.custom_fields.update({f"blob{index}": "y" * 100_000})
    elif change == "deep custom fields":
        deep = event.ticket.custom_fields.get_or_create_struct("deep")
        for _ in range(10):  # a list and a struct per round: 21 levels
            deep = deep.get_or_create_list("inner").add_struct()
    return event


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("no id", "event_id"),
        ("long id", "event_id"),
        ("no type", "event_type"),
        ("unknown type", "event_type"),
        ("no time", "occurred_at"),
        ("future", "occurred_at"),
        ("no ticket", "ticket"),
        ("no ticket id", "ticket.id"),
        ("escape in ticket number", "ticket.unique_id"),
        ("NUL in ticket number", "ticket.unique_id"),
        ("wrong detail", "rating"),
        ("no detail", "post"),
        ("too big", "event"),
        ("deep custom fields", "ticket.custom_fields"),
    ],
)
async def test_invalid_event_names_the_field(
    ingest: IngestStub, settings: Settings, change: str, field: str
) -> None:
    (ack,) = await publish_stream(ingest, [broken(change)])
    assert (ack.result, ack.field) == (REJECTED, field)
    failure = await rpc_failure(ingest.PublishEvent(pb.PublishEventRequest(event=broken(change))))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.fields[0] == f"event.{field}"
    assert await stored(settings) == ({}, {})


async def test_ticket_data_passes_as_sent(ingest: IngestStub, settings: Settings) -> None:
    event = make_event("rich", event_pb2.EVENT_TYPE_TICKET_ANSWER)
    event.ticket.title = "t" * 5000 + "\x1b[2K\r\x07"
    event.post.text = "line one\r\nline two\x00\x9b"
    deep = event.ticket.custom_fields.get_or_create_struct("deep")
    for _ in range(14):
        deep = deep.get_or_create_struct("inner")
    deep["leaf"] = "ünïcode"
    (ack,) = await publish_stream(ingest, [event])
    assert ack.result == ACCEPTED
    [(payload,)] = await fetch_rows(settings.database, "SELECT payload FROM events")
    assert event_pb2.Event.FromString(payload) == event


@pytest.mark.parametrize(
    ("event_type", "detail"),
    [
        (event_pb2.EVENT_TYPE_TICKET_STATUS_CHANGE, "priority"),
        (event_pb2.EVENT_TYPE_TICKET_DEPARTMENT_CHANGE, "department-not-a-number"),
        (event_pb2.EVENT_TYPE_TICKET_RATING, "score"),
    ],
)
async def test_detail_must_fit_the_event_type(
    ingest: IngestStub, event_type: event_pb2.EventType.ValueType, detail: str
) -> None:
    event = make_event("mismatch", event_type, old_department_id=1)
    if detail == "priority":
        event.change.field = "priority"
        expected = "change.field"
    elif detail == "score":
        event.rating.score = 6
        expected = "rating.score"
    else:
        event.change.old_value = "sales"
        expected = "change.old_value"
    (ack,) = await publish_stream(ingest, [event])
    assert (ack.result, ack.field) == (REJECTED, expected)


def department_change(event_id: str, field: str, value: str) -> event_pb2.Event:
    """A department change whose `field` (old_value or new_value) reads `value`."""
    event = make_event(event_id, event_pb2.EVENT_TYPE_TICKET_DEPARTMENT_CHANGE, old_department_id=1)
    setattr(event.change, field, value)
    return event


# Each is refused, however large: int() alone raises ValueError past 4,300 digits.
BAD_DEPARTMENT_IDS = ["9" * 5000, str(2**63), "0", "-7", "+7", " 7", "\u0663", "", "7.0"]


@pytest.mark.parametrize("field", ["old_value", "new_value"])
@pytest.mark.parametrize("value", BAD_DEPARTMENT_IDS)
async def test_department_change_ids_must_fit_int64(
    ingest: IngestStub, field: str, value: str
) -> None:
    failure = await rpc_failure(
        ingest.PublishEvent(pb.PublishEventRequest(event=department_change("d", field, value)))
    )
    assert (failure.code, failure.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        [f"event.change.{field}"],
    )


async def test_bad_department_id_is_rejected_alone_and_the_stream_goes_on(
    ingest: IngestStub, settings: Settings
) -> None:
    acks = await publish_stream(
        ingest,
        [
            make_event("ok-1"),
            department_change("huge", "old_value", "9" * 5000),
            department_change("past-int64", "new_value", str(2**63)),
            make_event("ok-2"),
        ],
        [make_event("ok-3")],
    )
    assert [(ack.event_id, ack.result, ack.field) for ack in acks] == [
        ("ok-1", ACCEPTED, ""),
        ("huge", REJECTED, "change.old_value"),
        ("past-int64", REJECTED, "change.new_value"),
        ("ok-2", ACCEPTED, ""),
        ("ok-3", ACCEPTED, ""),
    ]
    events, _ = await stored(settings)
    assert set(events) == {"ok-1", "ok-2", "ok-3"}


async def test_largest_department_id_is_accepted(ingest: IngestStub) -> None:
    event = department_change("largest", "old_value", "0" * 5000 + str(2**63 - 1))
    response = await ingest.PublishEvent(pb.PublishEventRequest(event=event))
    assert response.ack.result == ACCEPTED


async def test_events_from_many_streams_share_commits(
    admin: AdminStub, receiver: Receiver, server: DeskhookServer, settings: Settings
) -> None:
    await add_channel(admin, receiver)

    async def produce(stream: int) -> list[pb.EventAck]:
        async with open_channel(f"127.0.0.1:{server.port}", INGEST_TOKEN) as channel:
            stub = event_ingest_pb2_grpc.EventIngestStub(channel)
            messages = [[make_event(f"s{stream}-{n}")] for n in range(100)]
            return await publish_stream(stub, *messages)

    results = await asyncio.gather(*(produce(stream) for stream in range(4)))
    assert all(len(acks) == 100 for acks in results)
    assert all(ack.result == ACCEPTED for acks in results for ack in acks)
    events, _ = await stored(settings)
    assert len(events) == 400


async def test_shutdown_commits_what_was_received(tmp_path: Path, settings: Settings) -> None:
    server = DeskhookServer(settings)
    await server.start()
    async with open_channel(f"127.0.0.1:{server.port}", INGEST_TOKEN) as channel:
        stub = event_ingest_pb2_grpc.EventIngestStub(channel)
        ack = await stub.PublishEvent(pb.PublishEventRequest(event=make_event("last")))
    await server.stop(grace=1)
    assert ack.ack.result == ACCEPTED
    assert (await stored(settings))[0] == {"last": 0}
