"""Events published over a stream, and the results their acks carry."""

from deskhook.v1 import event_ingest_pb2 as pb
from deskhook.v1 import event_pb2
from tests.support.server import IngestStub

ACCEPTED = pb.EVENT_ACK_RESULT_ACCEPTED
DUPLICATE = pb.EVENT_ACK_RESULT_DUPLICATE
REJECTED = pb.EVENT_ACK_RESULT_REJECTED


async def publish_stream(ingest: IngestStub, *messages: list[event_pb2.Event]) -> list[pb.EventAck]:
    requests = [pb.PublishEventsRequest(events=events) for events in messages]
    acks: list[pb.EventAck] = []
    async for response in ingest.PublishEvents(iter(requests)):
        acks.extend(response.acks)
    return acks
