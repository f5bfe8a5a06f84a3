"""The receiver fault matrix: every way a receiver can fail a delivery, end to end through the
scheduler and the webhook log. Each fault leaves an exact log entry, its retry falls due on
schedule and not a microsecond before, and a receiver that hangs holds up no other channel."""

from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_pb2
from tests.support.channels import add_channel
from tests.support.clock import FakeClock
from tests.support.delivery import DELIVERED, GIVEN_UP, RETRY, deliveries, log_of, publish
from tests.support.events import make_event
from tests.support.receiver import Answer, Receiver, Trickle
from tests.support.server import AdminStub, IngestStub

HTTP_STATUS = channel_pb2.FAILURE_REASON_HTTP_STATUS
TIMEOUT = channel_pb2.FAILURE_REASON_TIMEOUT
NETWORK = channel_pb2.FAILURE_REASON_NETWORK
TLS = channel_pb2.FAILURE_REASON_TLS
NO_FAILURE = channel_pb2.FAILURE_REASON_UNSPECIFIED

# The default schedule's first two delays; the `tuning` fixture fixes the jitter at its middle.
FIRST_RETRY = timedelta(seconds=5)
SECOND_RETRY = timedelta(minutes=5)
TIMED_OUT = "no complete answer within 0.5 s"  # TEST_LIMITS.total_timeout
# 64 KiB sent 800 times over: a 50 MiB body.
BIG_PIECE = b"0123456789abcdef" * 4096
BIG_REPEAT = 800


@dataclass(frozen=True)
class Certificate:
    """The channel's receiver is one of its own presenting this certificate, issued by the CA
    the server trusts unless `own_ca`."""

    hostnames: tuple[str, ...] = ("localhost",)
    not_after: datetime | None = None
    own_ca: bool = False


@dataclass(frozen=True)
class Fault:
    """How the receiver answers the first attempt (later ones get 200, but a bad certificate
    stays bad), and the log entry that attempt must leave. `retry_in` is the wait before the
    second attempt; None when there is no second attempt. `disabled_reason` is what the
    channel's status says once the attempt disabled it."""

    answer: Answer
    outcome: channel_pb2.DeliveryOutcome.ValueType
    http_status: int
    failure_reason: channel_pb2.FailureReason.ValueType
    error: str
    retry_in: timedelta | None
    response_body: str = ""
    disabled_reason: str = ""
    certificate: Certificate | None = None


FAULTS = {
    "500": Fault(
        Answer(status=500, body=b"database down"),
        RETRY,
        500,
        HTTP_STATUS,
        "the receiver answered HTTP 500 Internal Server Error",
        FIRST_RETRY,
        response_body="database down",
    ),
    "503-retry-after": Fault(
        Answer(status=503, headers={"Retry-After": "120"}),
        RETRY,
        503,
        HTTP_STATUS,
        "the receiver answered HTTP 503 Service Unavailable",
        timedelta(seconds=120),
    ),
    "429-retry-after": Fault(
        Answer(status=429, headers={"Retry-After": "60"}),
        RETRY,
        429,
        HTTP_STATUS,
        "the receiver answered HTTP 429 Too Many Requests",
        timedelta(seconds=60),
    ),
    # Relative Locations: a client that followed them would land on this same receiver.
    "301": Fault(
        Answer(status=301, headers={"Location": "/moved"}),
        RETRY,
        301,
        HTTP_STATUS,
        "the receiver answered HTTP 301 Moved Permanently (redirects are not followed)",
        FIRST_RETRY,
    ),
    "302": Fault(
        Answer(status=302, headers={"Location": "/moved"}),
        RETRY,
        302,
        HTTP_STATUS,
        "the receiver answered HTTP 302 Found (redirects are not followed)",
        FIRST_RETRY,
    ),
    "410-gone": Fault(
        Answer(status=410),
        GIVEN_UP,
        410,
        HTTP_STATUS,
        "the receiver answered HTTP 410 Gone",
        None,
        disabled_reason="the receiver answered 410 Gone: it takes no more webhooks on this channel",
    ),
    "hang": Fault(Answer(delay=60), RETRY, 0, TIMEOUT, TIMED_OUT, FIRST_RETRY),
    "slow-headers": Fault(
        Answer(trickle=Trickle.HEADERS), RETRY, 0, TIMEOUT, TIMED_OUT, FIRST_RETRY
    ),
    # The status was in before the body stalled; without the whole body it is no delivery.
    "slow-body": Fault(
        Answer(body=b"received" * 10, trickle=Trickle.BODY),
        RETRY,
        200,
        TIMEOUT,
        TIMED_OUT,
        FIRST_RETRY,
    ),
    "reset": Fault(
        Answer(reset=True),
        RETRY,
        0,
        NETWORK,
        "the receiver reset the connection",
        FIRST_RETRY,
    ),
    "close-mid-body": Fault(
        Answer(body=b"received" * 10, cut_at=20),
        RETRY,
        200,
        NETWORK,
        "the receiver closed the connection in the middle of its answer",
        FIRST_RETRY,
    ),
    "50-mib-body": Fault(
        Answer(body=BIG_PIECE, repeat=BIG_REPEAT),
        DELIVERED,
        200,
        NO_FAILURE,
        "",
        None,
        response_body=BIG_PIECE[:4096].decode(),
    ),
    "expired-certificate": Fault(
        Answer(),
        RETRY,
        0,
        TLS,
        "TLS handshake failed: certificate verify failed: certificate has expired",
        FIRST_RETRY,
        certificate=Certificate(not_after=datetime(2020, 1, 1, tzinfo=UTC)),
    ),
    "wrong-host-certificate": Fault(
        Answer(),
        RETRY,
        0,
        TLS,
        "TLS handshake failed: certificate verify failed: Hostname mismatch, certificate is not "
        "valid for 'localhost'.",
        FIRST_RETRY,
        certificate=Certificate(hostnames=("other.example",)),
    ),
    # A certificate from a CA of its own, as self-signed set-ups are: nothing vouches for it.
    "self-signed-certificate": Fault(
        Answer(),
        RETRY,
        0,
        TLS,
        "TLS handshake failed: certificate verify failed: unable to get local issuer certificate",
        FIRST_RETRY,
        certificate=Certificate(own_ca=True),
    ),
}


def receiver_for(fault: Fault, trusted: Receiver) -> AbstractAsyncContextManager[Receiver]:
    """The receiver the faulty channel points at: the trusted one, or one with a bad
    certificate."""
    certificate = fault.certificate
    if certificate is None:
        return nullcontext(trusted)
    return Receiver(
        certificate.hostnames,
        not_after=certificate.not_after,
        ca=None if certificate.own_ca else trusted.ca,
    )


def at(stamp: Timestamp) -> datetime:
    """A log entry's time, comparable with the FakeClock's."""
    return stamp.ToDatetime(UTC)


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
async def test_fault(
    fault: Fault,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    async with receiver_for(fault, receiver) as target:
        channel_id, _ = await add_channel(admin, target)
        # Queued once the channel's connection test is answered: the first delivery meets it.
        target.queue(fault.answer)
        started = clock()
        await publish(ingest, make_event("evt-fault"))
        await scheduler.drain()

        (first,) = await log_of(admin, channel_id=channel_id)
        assert (first.outcome, first.http_status, first.failure_reason, first.error) == (
            fault.outcome,
            fault.http_status,
            fault.failure_reason,
            fault.error,
        )
        assert first.response_body == fault.response_body
        channel = (await admin.GetChannel(admin_pb.GetChannelRequest(id=channel_id))).channel
        assert (channel.enabled, channel.disabled_reason) == (
            not fault.disabled_reason,
            fault.disabled_reason,
        )

        if fault.retry_in is None:
            assert not first.HasField("next_attempt_at")
            clock.advance(timedelta(days=1))
            await scheduler.drain()
            assert len(await log_of(admin, channel_id=channel_id)) == 1
        else:
            due = started + fault.retry_in
            assert at(first.next_attempt_at) == due
            clock.advance(fault.retry_in - timedelta(microseconds=1))
            await scheduler.drain()
            assert len(await log_of(admin, channel_id=channel_id)) == 1
            clock.advance(timedelta(microseconds=1))
            await scheduler.drain()
            second, _ = await log_of(admin, channel_id=channel_id)
            assert (second.attempt, at(second.attempted_at)) == (2, due)
            if fault.certificate is None:
                assert second.outcome == DELIVERED
            else:
                assert (second.outcome, second.error) == (RETRY, fault.error)
                assert at(second.next_attempt_at) == due + SECOND_RETRY
    if fault.answer.repeat > 1:
        # The client hung up after its 4 KiB: most of the body never even left the receiver.
        assert target.body_bytes_written < len(fault.answer.body) * fault.answer.repeat
    # Every logged attempt reached the receiver, unless its certificate stopped it; and nothing
    # reached another path: redirects were not followed.
    logged = len(await log_of(admin, channel_id=channel_id))
    assert len(deliveries(target)) == (0 if fault.certificate else logged)
    assert {request.path for request in receiver.requests} <= {"/hook"}


async def test_a_hanging_receiver_holds_up_no_other_channel(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    # One request at a time to the hanging channel: its other events wait behind the first.
    hanging, _ = await add_channel(admin, receiver, "/hanging", department_id=1, max_concurrency=1)
    healthy, _ = await add_channel(admin, receiver, "/healthy", department_id=2)
    receiver.respond_at("/hanging", Answer(delay=60))
    watch = admin.WatchDeliveryLog(admin_pb.WatchDeliveryLogRequest())
    await watch.initial_metadata()
    stuck = [make_event(f"stuck-{n}", department_id=1, ticket_id=n + 1) for n in range(3)]
    await publish(ingest, *stuck)
    # The two connection tests, then the hanging channel's first attempt: it is stuck now.
    await receiver.wait_for_requests(3)
    await publish(
        ingest, *(make_event(f"fine-{n}", department_id=2, ticket_id=n + 1) for n in range(5))
    )

    seen: list[channel_pb2.DeliveryLogEntry] = []
    while not seen or seen[-1].channel_id != hanging:
        item = await watch.read()
        assert isinstance(item, admin_pb.WatchDeliveryLogResponse)
        seen.append(item.entry)
    watch.cancel()
    *before, first_stuck = seen
    assert [(entry.channel_id, entry.outcome) for entry in before] == [(healthy, DELIVERED)] * 5
    assert (first_stuck.event_id, first_stuck.failure_reason) == ("stuck-0", TIMEOUT)

    # The receiver recovers, so that the channel's waiting events need no timeouts of their own.
    receiver.respond_at("/hanging", Answer())
    await scheduler.drain()
