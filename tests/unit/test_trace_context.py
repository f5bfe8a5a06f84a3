"""W3C Trace Context rules: what a producer's traceparent and tracestate may be, and the
traceparent each attempt sends."""

import pytest

from deskhook.domain.trace_context import (
    attempt_trace_headers,
    traceparent_violation,
    tracestate_violation,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.mark.parametrize(
    "value",
    [
        VALID,
        f"00-{TRACE_ID}-{PARENT_ID}-00",
        # A later version may add fields after the four it shares with 00.
        f"01-{TRACE_ID}-{PARENT_ID}-01",
        f"cc-{TRACE_ID}-{PARENT_ID}-01-what-comes-next",
    ],
)
def test_a_well_formed_traceparent_passes(value: str) -> None:
    assert traceparent_violation(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must be a W3C traceparent"),
        (VALID.upper(), "must be a W3C traceparent"),
        (VALID[:-1], "must be a W3C traceparent"),
        (VALID + "-00", "must be a W3C traceparent"),
        (f"01-{TRACE_ID}-{PARENT_ID}-01x", "must be a W3C traceparent"),
        (f"ff-{TRACE_ID}-{PARENT_ID}-01", "invalid version ff"),
        (f"00-{'0' * 32}-{PARENT_ID}-01", "trace id of all zeros"),
        (f"00-{TRACE_ID}-{'0' * 16}-01", "parent id of all zeros"),
        (f"00_{TRACE_ID}_{PARENT_ID}_01", "must be a W3C traceparent"),
        ("9" * 5000, "must be a W3C traceparent"),
    ],
)
def test_a_malformed_traceparent_says_what_is_wrong(value: str, problem: str) -> None:
    violation = traceparent_violation(value)
    assert violation is not None
    assert problem in violation


@pytest.mark.parametrize(
    "value",
    ["", "vendor=value", "a=1, b=2,c=3", "tenant@system=x", ",,vendor=x,", "k=" + "v" * 256],
)
def test_a_well_formed_tracestate_passes(value: str) -> None:
    assert tracestate_violation(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("novalue", "comma-separated key=value"),
        ("Upper=x", "comma-separated key=value"),
        ("k=a,b", "comma-separated key=value"),
        ("k=a=b", "comma-separated key=value"),
        ("k=new\nline", "comma-separated key=value"),
        (",".join(f"k{n}=v" for n in range(33)), "at most 32 members"),
        ("k=" + "v" * 511, "at most 512 characters"),
    ],
)
def test_a_malformed_tracestate_says_what_is_wrong(value: str, problem: str) -> None:
    violation = tracestate_violation(value)
    assert violation is not None
    assert problem in violation


def test_an_attempt_keeps_the_trace_and_its_flags_under_a_span_of_its_own() -> None:
    span = bytes.fromhex("0102030405060708")
    sent = attempt_trace_headers(f"cc-{TRACE_ID}-{PARENT_ID}-03-more", "a=1", span)
    assert sent == {"traceparent": f"00-{TRACE_ID}-0102030405060708-03", "tracestate": "a=1"}
    assert traceparent_violation(sent["traceparent"]) is None


def test_an_attempt_without_tracestate_sends_none() -> None:
    assert "tracestate" not in attempt_trace_headers(VALID, "", bytes(range(1, 9)))
