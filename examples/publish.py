"""A publisher that streams the events of a JSON Lines file (one deskhook.v1.Event in proto3 JSON
a line) over gRPC, as the helpdesk core does, and prints each ack.

Run: DESKHOOK_TOKEN=dev-ingest python examples/publish.py examples/events.jsonl
     (an ingest token; DESKHOOK_SERVER=127.0.0.1:50051 by default). Exits 1 if any event was
     rejected.
Needs grpcio and the deskhook package's generated code (deskhook's .venv has both)."""

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
from google.protobuf import json_format

from deskhook.v1 import event_ingest_pb2, event_ingest_pb2_grpc, event_pb2


def requests(path: str) -> Iterator[event_ingest_pb2.PublishEventsRequest]:
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            event = json_format.Parse(line, event_pb2.Event())
            yield event_ingest_pb2.PublishEventsRequest(events=[event])


rejected = False
with grpc.insecure_channel(os.environ.get("DESKHOOK_SERVER", "127.0.0.1:50051")) as channel:
    stub = event_ingest_pb2_grpc.EventIngestStub(channel)
    metadata = (("authorization", f"Bearer {os.environ['DESKHOOK_TOKEN']}"),)
    # Acks come in the order the events were sent, each once its event is stored.
    for response in stub.PublishEvents(requests(sys.argv[1]), metadata=metadata):
        for ack in response.acks:
            result = event_ingest_pb2.EventAckResult.Name(ack.result)
            if ack.result == event_ingest_pb2.EVENT_ACK_RESULT_REJECTED:
                rejected = True
                print(ack.event_id, result, ack.reason)  # the reason names the field
            else:
                print(ack.event_id, result, f"matched_channels={ack.matched_channels}")
sys.exit(1 if rejected else 0)
