"""Tracing is on only when OpenTelemetry's standard variables name an OTLP endpoint and do not
turn it off; then spans go to an OTLP exporter."""

import pytest
from opentelemetry.sdk.trace import TracerProvider

from deskhook.tracing import traces_from_environment

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": ""},
        {**ENDPOINT, "OTEL_SDK_DISABLED": "true"},
        {**ENDPOINT, "OTEL_SDK_DISABLED": "TRUE"},
        {**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"},
    ],
)
def test_no_endpoint_or_turned_off_means_no_tracing(environ: dict[str, str]) -> None:
    assert traces_from_environment(environ) is None


@pytest.mark.parametrize(
    "environ",
    [ENDPOINT, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317/v1/traces"}],
)
def test_an_endpoint_turns_tracing_on(environ: dict[str, str]) -> None:
    provider = traces_from_environment(environ)
    assert isinstance(provider, TracerProvider)
    try:
        assert provider.resource.attributes["service.name"] == "deskhook"
        assert provider.get_tracer("test").start_span("made").get_span_context().is_valid
    finally:
        provider.shutdown()
