"""The generated stubs over a grpc.aio channel."""

from typing import TypeAlias

import grpc

from deskhook.v1 import channel_admin_pb2_grpc, event_ingest_pb2_grpc

# The async stub types exist only in the generated .pyi stubs.
AdminStub: TypeAlias = "channel_admin_pb2_grpc.ChannelAdminAsyncStub"
IngestStub: TypeAlias = "event_ingest_pb2_grpc.EventIngestAsyncStub"


def admin_stub(channel: grpc.aio.Channel) -> AdminStub:
    return channel_admin_pb2_grpc.ChannelAdminStub(channel)


def ingest_stub(channel: grpc.aio.Channel) -> IngestStub:
    return event_ingest_pb2_grpc.EventIngestStub(channel)
