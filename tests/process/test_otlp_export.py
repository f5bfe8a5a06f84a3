"""A real `deskhook serve` with OTEL_EXPORTER_OTLP_ENDPOINT set exports its spans over
OTLP/gRPC: an ingest call's span and its commit's reach a local collector by the time the
server has stopped (its shutdown flushes what it holds)."""

from pathlib import Path

from benchkit.otlp_sink import otlp_sink
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from deskhook.client import open_channel
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from deskhook.v1 import event_ingest_pb2_grpc
from tests.support.events import make_event
from tests.support.serve_process import serve_process
from tests.support.server import INGEST_TOKEN


async def test_a_server_given_an_otlp_endpoint_exports_its_spans(tmp_path: Path) -> None:
    async with otlp_sink(keep=True) as (endpoint, received):
        tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_INSECURE": "true"}
        flags = ("--ingest-token", INGEST_TOKEN)
        async with (
            serve_process(str(tmp_path / "deskhook.db"), flags, tracing) as served,
            open_channel(f"127.0.0.1:{served.port}", INGEST_TOKEN) as channel,
        ):
            ingest = event_ingest_pb2_grpc.EventIngestStub(channel)
            await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=make_event("evt")))
    names = set()
    for request in received.kept:
        for resource in ExportTraceServiceRequest.FromString(request).resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert service["service.name"] == "deskhook"
            names |= {span.name for scoped in resource.scope_spans for span in scoped.spans}
    assert {"deskhook.v1.EventIngest/PublishEvent", "deskhook ingest commit"} <= names
