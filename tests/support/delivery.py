"""What tests of delivery read back: the requests the receiver got, the webhook log's
outcomes, and events published one at a time."""

import json
from collections.abc import Sequence
from datetime import timedelta

from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_pb2, event_pb2
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.clock import FakeClock
from tests.support.receiver import ReceivedRequest, Receiver
from tests.support.server import AdminStub, IngestStub

DELIVERED = channel_pb2.DELIVERY_OUTCOME_DELIVERED
RETRY = channel_pb2.DELIVERY_OUTCOME_RETRY_SCHEDULED
GIVEN_UP = channel_pb2.DELIVERY_OUTCOME_GIVEN_UP


def deliveries(receiver: Receiver, path: str = "/hook") -> list[ReceivedRequest]:
    """Requests that carried an event (not a connection test) to `path`."""
    return [
        request
        for request in receiver.requests
        if request.path == path and request.headers["x-deskhook-event-type"] != "connection_test"
    ]


def event_ids(requests: Sequence[ReceivedRequest]) -> list[str]:
    return [json.loads(request.body)["event_id"] for request in requests]


async def log_of(admin: AdminStub, **filters: object) -> list[channel_pb2.DeliveryLogEntry]:
    response = await admin.ListDeliveryLog(admin_pb.ListDeliveryLogRequest(**filters))  # type: ignore[arg-type]
    return list(response.entries)


async def publish(ingest: IngestStub, *events: event_pb2.Event) -> None:
    for event in events:
        ack = await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=event))
        assert ack.ack.result == ingest_pb.EVENT_ACK_RESULT_ACCEPTED


async def retried_twice_then_redelivered(
    admin: AdminStub, scheduler: DeliveryScheduler, clock: FakeClock, channel_id: str, event_id: str
) -> None:
    """Take a published event through its first attempt and its two retries (5 s, then 5 min
    on: the default schedule), then redeliver it: four attempts, whatever the receiver was
    told to answer."""
    await scheduler.drain()
    for wait in (timedelta(seconds=5), timedelta(minutes=5)):
        clock.advance(wait)
        await scheduler.drain()
    await admin.Redeliver(admin_pb.RedeliverRequest(channel_id=channel_id, event_id=event_id))
    await scheduler.drain()
