"""What tests of delivery read back: the requests the receiver got, the webhook log's
outcomes, and events published one at a time."""

import json
from collections.abc import Sequence

from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_pb2, event_pb2
from deskhook.v1 import event_ingest_pb2 as ingest_pb
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
