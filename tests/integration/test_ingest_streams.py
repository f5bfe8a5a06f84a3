"""Concurrent PublishEvents streams: past `max_ingest_streams` one more is refused with a status
that says to retry, and every stream's end is logged with the code it really ended with."""

import asyncio
from collections.abc import Iterator, MutableMapping
from typing import Any

import grpc
import pytest
import structlog
from structlog.testing import capture_logs

from deskhook.config import Settings
from deskhook.server import DeskhookServer
from deskhook.v1 import event_ingest_pb2 as pb
from tests.support.events import make_event
from tests.support.ingest import ACCEPTED
from tests.support.rpc_errors import failure_of
from tests.support.server import IngestStub

PUBLISH_EVENTS = "/deskhook.v1.EventIngest/PublishEvents"
# The test cap: two streams open at once.
MAX_STREAMS = 2
ANSWER_SECONDS = 10.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_ingest_streams": MAX_STREAMS})


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    with capture_logs() as captured:
        yield captured
    structlog.reset_defaults()


async def opened(ingest: IngestStub, event_id: str) -> Any:
    """A stream the server has taken up: one event sent and acked, the stream left open."""
    call = ingest.PublishEvents()
    await call.write(pb.PublishEventsRequest(events=[make_event(event_id)]))
    response = await call.read()
    assert isinstance(response, pb.PublishEventsResponse)
    assert [ack.result for ack in response.acks] == [ACCEPTED]
    return call


async def test_a_stream_past_the_limit_is_refused_until_one_ends(
    ingest: IngestStub, logs: list[MutableMapping[str, Any]]
) -> None:
    first = await opened(ingest, "evt-1")
    await opened(ingest, "evt-2")

    refused = ingest.PublishEvents()
    # Bounded: a server without the limit would leave this stream open, waiting for events.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await asyncio.wait_for(refused.read(), ANSWER_SECONDS)
    failure = failure_of(raised.value)
    assert (failure.code, failure.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "TOO_MANY_STREAMS",
    )
    assert f"already has {MAX_STREAMS} PublishEvents streams open" in failure.message
    assert "retry" in failure.message

    await first.done_writing()
    assert await first.code() == grpc.StatusCode.OK
    await opened(ingest, "evt-3")
    codes = [entry["code"] for entry in logs if entry.get("method") == PUBLISH_EVENTS]
    assert codes == ["RESOURCE_EXHAUSTED", "OK"]


async def test_a_stream_the_client_cancels_is_logged_as_cancelled(
    server: DeskhookServer, ingest: IngestStub, logs: list[MutableMapping[str, Any]]
) -> None:
    call = await opened(ingest, "evt-1")
    call.cancel()
    # Stopping waits for every RPC in flight, the cancelled one included, to end.
    await server.stop(grace=5)
    (line,) = [entry for entry in logs if entry.get("method") == PUBLISH_EVENTS]
    assert line["code"] == "CANCELLED"
