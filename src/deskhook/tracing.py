"""Spans over OpenTelemetry (docs/design.md §4). The standard `OTEL_*` variables decide: with an
OTLP endpoint named, spans of ingest calls, ingest commits and delivery attempts are exported
over OTLP; without one no tracer is made, and the servicers and the scheduler take the path that
makes no span at all, so tracing off costs nothing."""

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from deskhook.domain.responses import HttpResponse

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

ENDPOINT_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
INSTRUMENTATION: Final = "deskhook"
# Links a span keeps to other traces (a commit's, to its events'): enough to find one event's
# commit, not a copy of every trace id of a batch of thousands.
MAX_LINKS: Final = 64

_PROPAGATOR: Final = TraceContextTextMapPropagator()


def traces_from_environment(environ: Mapping[str, str]) -> "SdkTracerProvider | None":
    """Spans exported over OTLP/gRPC when the environment names an endpoint (and has not turned
    the SDK or the traces exporter off); None otherwise. The exporter reads its other settings
    (headers, certificates, timeouts) and the SDK OTEL_SERVICE_NAME from the environment too.
    Shut the provider down on the way out: it exports what it still holds."""
    wanted = any(environ.get(name) for name in ENDPOINT_VARIABLES)
    disabled = environ.get("OTEL_SDK_DISABLED", "").lower() == "true"
    if not wanted or disabled or environ.get("OTEL_TRACES_EXPORTER", "otlp") == "none":
        return None
    # Imported only when tracing is on: the SDK and its exporter take a while to import.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    provider = TracerProvider(resource=Resource.create({"service.name": INSTRUMENTATION}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def remote_parent(traceparent: str, tracestate: str) -> Context | None:
    """The context of a producer's span, from its W3C trace context; None without one."""
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent, "tracestate": tracestate})


def trace_headers(span: Span) -> dict[str, str]:
    """`traceparent` (and `tracestate`) naming `span` as the parent of what the request
    causes."""
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers, context=set_span_in_context(span))
    return headers


Attributes = Mapping[str, str | int]
# A producer's W3C trace context: (traceparent, tracestate), "" for none.
TraceContext = tuple[str, str]
NO_TRACE: Final[TraceContext] = ("", "")


def span(
    tracer: Tracer | None,
    name: str,
    kind: SpanKind,
    *,
    parent: TraceContext = NO_TRACE,
    attributes: Callable[[], Attributes] = dict,
    linked: Callable[[], Iterable[TraceContext]] = tuple,
) -> AbstractContextManager[Span | None]:
    """A span, child of the `parent` trace context when there is one and linked to the
    `linked` ones (MAX_LINKS at most); None while tracing is off, when neither the attributes
    nor the links are made, and the call costs a check and an empty context manager."""
    if tracer is None:
        return nullcontext()
    links: list[Link] = []
    for traceparent, tracestate in linked():
        if len(links) == MAX_LINKS:
            break
        if (context := remote_parent(traceparent, tracestate)) is not None:
            links.append(Link(get_current_span(context).get_span_context()))
    return tracer.start_as_current_span(
        name,
        context=remote_parent(*parent),
        kind=kind,
        attributes=attributes(),
        links=links,
    )


def rpc_attributes(method: str) -> Attributes:
    """A gRPC server span's attributes, for `method` as `deskhook.v1.Service/Method`."""
    service, _, name = method.rpartition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}


def http_client_attributes(url: str) -> Attributes:
    """An HTTP client span's attributes for a POST to `url`."""
    parts = urlsplit(url)
    return {
        "http.request.method": "POST",
        "server.address": parts.hostname or "",
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        # Without the query, which may carry the receiver's own credentials.
        "url.full": f"{parts.scheme}://{parts.netloc}{parts.path}",
    }


def end_attempt(span: Span, response: HttpResponse, outcome: str) -> None:
    """What the attempt came to: the receiver's status, deskhook's outcome, and for a failure
    its kind and sentence."""
    if response.http_status:
        span.set_attribute("http.response.status_code", response.http_status)
    span.set_attribute("deskhook.outcome", outcome)
    if response.failure is not None:
        span.set_attribute("error.type", response.failure.value)
        span.set_status(Status(StatusCode.ERROR, response.error))
