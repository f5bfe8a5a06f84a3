"""The delivery engine against a real HTTPS receiver whose answers the test controls. Time is a
FakeClock moved by the test; `scheduler.drain()` waits until nothing is due."""

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from standardwebhooks import Webhook, WebhookVerificationError
from structlog.testing import capture_logs

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.delivery.scheduler import DeliveryScheduler, wait_for_wake
from deskhook.domain.breaker import BreakerPolicy, CircuitState
from deskhook.server import Tuning
from deskhook.store.location import is_postgres_url
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2, event_ingest_pb2_grpc, event_pb2
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.channels import add_channel
from tests.support.clock import FakeClock
from tests.support.databases import fetch_rows
from tests.support.delivery import (
    DELIVERED,
    GIVEN_UP,
    RETRY,
    deliveries,
    event_ids,
    log_of,
    publish,
)
from tests.support.events import make_event
from tests.support.receiver import Answer, Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, AdminStub, IngestStub, running


def timestamp_of(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def test_delivered_event_is_signed_and_parses_back(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    channel_id, secret = await add_channel(admin, receiver)
    event = make_event("evt-1", event_pb2.EVENT_TYPE_TICKET_CREATE)
    await publish(ingest, event)
    await scheduler.drain()

    (request,) = deliveries(receiver)
    Webhook(secret).verify(request.body, dict(request.headers))
    payload = json_format.Parse(request.body.decode(), event_pb2.WebhookPayload())
    assert payload.event_id == "evt-1"
    assert payload.event_type == "ticket_create"
    assert payload.channel_id == channel_id
    assert payload.ticket == event.ticket
    assert payload.occurred_at == event.occurred_at
    assert request.headers["x-deskhook-attempt"] == "1"
    assert request.headers["content-type"] == "application/json"

    (entry,) = await log_of(admin, channel_id=channel_id)
    assert (entry.outcome, entry.http_status, entry.attempt) == (DELIVERED, 200, 1)
    assert (entry.event_id, entry.ticket_id, entry.ticket_number) == ("evt-1", 1001, "HD-1001")
    assert entry.webhook_id == request.headers["webhook-id"]


async def test_deliveries_sign_with_the_secrets_of_the_moment(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    channel_id, first = await add_channel(admin, receiver)
    await publish(ingest, make_event("before"))
    await scheduler.drain()
    rotated = await admin.RotateSigningSecret(
        admin_pb.RotateSigningSecretRequest(id=channel_id, grace_period=Duration(seconds=60))
    )
    await publish(ingest, make_event("during"))
    await scheduler.drain()
    clock.advance(timedelta(seconds=61))
    await publish(ingest, make_event("after"))
    await scheduler.drain()

    before, during, after = deliveries(receiver)
    assert len(before.headers["webhook-signature"].split()) == 1
    for secret in (first, rotated.signing_secret):
        Webhook(secret).verify(during.body, dict(during.headers))
    # Once the grace period is over, only the new secret signs.
    assert len(after.headers["webhook-signature"].split()) == 1
    Webhook(rotated.signing_secret).verify(after.body, dict(after.headers))
    with pytest.raises(WebhookVerificationError):
        Webhook(first).verify(after.body, dict(after.headers))


async def test_retry_after_500_then_success(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    receiver.queue(Answer(status=500, body=b"try later"))
    started = clock()
    await publish(ingest, make_event("evt-r"))
    await scheduler.drain()
    (failed,) = await log_of(admin, channel_id=channel_id)
    assert (failed.outcome, failed.http_status, failed.response_body) == (RETRY, 500, "try later")
    assert failed.next_attempt_at.ToDatetime(started.tzinfo) == started + timedelta(seconds=5)

    clock.advance(timedelta(seconds=4))
    await scheduler.drain()
    assert len(deliveries(receiver)) == 1  # not due yet

    clock.advance(timedelta(seconds=1))
    await scheduler.drain()
    first, second = deliveries(receiver)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.headers["x-deskhook-attempt"] == "2"
    newest, oldest = await log_of(admin, channel_id=channel_id)
    assert (newest.outcome, newest.attempt, oldest.attempt) == (DELIVERED, 2, 1)


async def test_retries_off_means_one_attempt(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    channel_id, _ = await add_channel(admin, receiver, retries_enabled=False)
    await receiver.wait_for_requests(1)
    receiver.respond(Answer(status=500))
    await publish(ingest, make_event("once"))
    await scheduler.drain()
    clock.advance(timedelta(days=2))
    await scheduler.drain()
    assert len(deliveries(receiver)) == 1
    (entry,) = await log_of(admin, channel_id=channel_id)
    assert entry.outcome == GIVEN_UP


async def test_410_gone_disables_the_channel(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    receiver.queue(Answer(status=410))
    await publish(ingest, make_event("gone"))
    await scheduler.drain()
    channel = (await admin.GetChannel(admin_pb.GetChannelRequest(id=channel_id))).channel
    assert channel.enabled is False
    assert "410" in channel.disabled_reason
    (entry,) = await log_of(admin, channel_id=channel_id)
    assert entry.outcome == GIVEN_UP
    ack = await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=make_event("after")))
    assert ack.ack.matched_channels == 0


async def test_gives_up_after_the_last_attempt(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    schedule = [Duration(seconds=1), Duration(seconds=2)]
    channel_id, _ = await add_channel(admin, receiver, "/down", retry_schedule=schedule)
    receiver.respond_at("/down", Answer(status=500))
    await publish(ingest, make_event("doomed"))
    for _ in range(5):
        await scheduler.drain()
        clock.advance(timedelta(seconds=2))
    assert len(deliveries(receiver, "/down")) == 3
    outcomes = [entry.outcome for entry in await log_of(admin, channel_id=channel_id)]
    assert outcomes == [GIVEN_UP, RETRY, RETRY]


async def test_breaker_holds_a_dead_channel_while_a_healthy_one_keeps_its_pace(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    dead, _ = await add_channel(admin, receiver, "/dead", department_id=1, max_concurrency=1)
    await add_channel(admin, receiver, "/alive", department_id=2)
    receiver.respond_at("/dead", Answer(status=500))
    events = [make_event(f"d-{n}", department_id=1, ticket_id=n + 1) for n in range(20)]
    events += [make_event(f"a-{n}", department_id=2, ticket_id=n + 1) for n in range(20)]
    await publish(ingest, *events)
    # 5 failures open the circuit; the retries falling due in the next 24 s are held.
    for _ in range(5):
        await scheduler.drain()
        clock.advance(timedelta(seconds=6))
    assert len(deliveries(receiver, "/alive")) == 20
    assert len(deliveries(receiver, "/dead")) == 5

    clock.advance(timedelta(seconds=6))  # 30 s after the circuit opened
    await scheduler.drain()
    assert len(deliveries(receiver, "/dead")) == 6  # one probe, which fails
    health = (await admin.GetChannel(admin_pb.GetChannelRequest(id=dead))).channel.health
    assert health.circuit_state == channel_pb2.CIRCUIT_STATE_OPEN
    assert (health.consecutive_failures, health.pending_deliveries) == (6, 20)

    # The probe succeeds, and everything the circuit held goes out at once.
    receiver.respond_at("/dead", Answer(status=200))
    clock.advance(timedelta(seconds=30))
    await scheduler.drain()
    delivered = {json.loads(r.body)["event_id"] for r in deliveries(receiver, "/dead")}
    assert delivered == {f"d-{n}" for n in range(20)}
    health = (await admin.GetChannel(admin_pb.GetChannelRequest(id=dead))).channel.health
    assert health.circuit_state == channel_pb2.CIRCUIT_STATE_CLOSED
    assert (health.consecutive_failures, health.pending_deliveries) == (0, 0)


async def test_a_failing_channel_gets_one_request_at_a_time_until_one_succeeds(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    await add_channel(admin, receiver)
    await receiver.wait_for_requests(1)
    receiver.respond(Answer(status=500))
    await publish(ingest, make_event("first-failure"))
    await scheduler.drain()
    # Three more failures, slow enough to overlap if they could: four in all, one short of
    # opening the circuit.
    receiver.respond(Answer(status=500, delay=0.2))
    await publish(ingest, *(make_event(f"while-failing-{n}", ticket_id=n + 1) for n in range(3)))
    await scheduler.drain()
    # One after the other, so each reused the connection of the one before.
    failed = deliveries(receiver)[1:]
    assert len(failed) == 3
    assert len({request.peer for request in failed}) == 1

    receiver.respond(Answer())
    clock.advance(timedelta(seconds=5))
    await scheduler.drain()
    delivered = {json.loads(request.body)["event_id"] for request in deliveries(receiver)[4:]}
    assert delivered == {"first-failure", *(f"while-failing-{n}" for n in range(3))}


async def test_per_ticket_order_holds_under_failures(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    await add_channel(admin, receiver, ordering=channel_pb2.ORDERING_PER_TICKET)
    await receiver.wait_for_requests(1)
    receiver.queue(Answer(status=500))
    # The first event alone, so that the failure is surely its own.
    await publish(ingest, make_event("t-0", ticket_id=42))
    await scheduler.drain()
    await publish(ingest, *(make_event(f"t-{n}", ticket_id=42) for n in range(1, 4)))
    await publish(ingest, make_event("other-ticket", ticket_id=43))
    await scheduler.drain()
    assert event_ids(deliveries(receiver)) == ["t-0", "other-ticket"]
    # Due, but behind the ticket's first, which is due again in 5 s: the scheduler does not
    # spin on them, and its timer looks again within its idle time.
    assert await scheduler.idle_seconds() == 1.0
    clock.advance(timedelta(seconds=5))
    await scheduler.drain()
    ticket_42 = [e for e in event_ids(deliveries(receiver)) if e.startswith("t-")]
    assert ticket_42 == ["t-0", "t-0", "t-1", "t-2", "t-3"]


async def break_stored_event(database: str, event_id: str) -> None:
    """Make a stored event's payload bytes that no longer parse, as a damaged row would."""
    broken = "'\\xff'::bytea" if is_postgres_url(database) else "X'FF'"
    await fetch_rows(
        database, f"UPDATE events SET payload = {broken} WHERE event_id = '{event_id}'"
    )


async def test_an_event_deskhook_cannot_render_is_logged_retried_and_holds_nothing_up(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
    database: str,
) -> None:
    channel_id, _ = await add_channel(
        admin, receiver, max_concurrency=1, ordering=channel_pb2.ORDERING_PER_TICKET
    )
    await receiver.wait_for_requests(1)
    # The ticket's first event fails once, so its second waits, unclaimed, behind it: it can be
    # damaged before the scheduler reads it.
    receiver.queue(Answer(status=500))
    await publish(ingest, make_event("first", ticket_id=42))
    await scheduler.drain()
    await publish(ingest, make_event("damaged", ticket_id=42))
    await break_stored_event(database, "damaged")
    await publish(ingest, make_event("other-ticket", ticket_id=43))
    await scheduler.drain()

    clock.advance(timedelta(seconds=5))
    retried_at = clock()
    with capture_logs() as logs:
        await scheduler.drain()
    assert event_ids(deliveries(receiver)) == ["first", "other-ticket", "first"]
    (entry,) = await log_of(admin, channel_id=channel_id, event_id="damaged")
    assert (entry.outcome, entry.attempt, entry.http_status) == (RETRY, 1, 0)
    assert entry.failure_reason == channel_pb2.FAILURE_REASON_INTERNAL
    assert entry.error == (
        "deskhook could not make the request (DecodeError); the server's log has the details"
    )
    assert entry.next_attempt_at.ToDatetime(retried_at.tzinfo) == retried_at + timedelta(seconds=5)
    assert any(
        record["event"] == "could not make the request" and record["event_id"] == "damaged"
        for record in logs
    )
    # The receiver was never asked: the channel's health counts only its answers.
    health = (await admin.GetChannel(admin_pb.GetChannelRequest(id=channel_id))).channel.health
    assert (health.circuit_state, health.consecutive_failures) == (
        channel_pb2.CIRCUIT_STATE_CLOSED,
        0,
    )
    # The damaged event's lease ended with its attempt: the channel's one slot is free at once,
    # not once the lease lapses 60 s later.
    await publish(ingest, make_event("later", ticket_id=43))
    await scheduler.drain()
    assert event_ids(deliveries(receiver))[3:] == ["later"]


async def test_log_filters_and_paging(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
) -> None:
    closing = event_pb2.EVENT_TYPE_TICKET_CLOSE
    creating = event_pb2.EVENT_TYPE_TICKET_CREATE
    first, _ = await add_channel(admin, receiver, subscriptions=[creating, closing])
    second, _ = await add_channel(admin, receiver, "/second", subscriptions=[creating])
    receiver.respond_at("/second", Answer(status=500))
    await publish(
        ingest,
        make_event("c-1", creating, ticket_id=1),
        make_event("c-2", creating, ticket_id=2),
        make_event("x-1", closing, ticket_id=1),
    )
    await scheduler.drain()

    assert len(await log_of(admin)) == 5
    assert {e.event_id for e in await log_of(admin, channel_id=first)} == {"c-1", "c-2", "x-1"}
    assert {e.event_id for e in await log_of(admin, ticket_id=1)} == {"c-1", "x-1"}
    assert {e.event_id for e in await log_of(admin, event_type=closing)} == {"x-1"}
    assert {e.channel_id for e in await log_of(admin, outcome=RETRY)} == {second}
    assert [e.event_id for e in await log_of(admin, event_id="c-2")] == ["c-2", "c-2"]

    seen: list[str] = []
    token = ""
    while True:
        page = await admin.ListDeliveryLog(
            admin_pb.ListDeliveryLogRequest(page_size=2, page_token=token)
        )
        seen.extend(entry.id for entry in page.entries)
        token = page.next_page_token
        if not token:
            break
    every = await log_of(admin)
    assert seen == [entry.id for entry in every]
    times = [entry.attempted_at.ToDatetime() for entry in every]
    assert times == sorted(times, reverse=True)


async def test_the_log_of_a_channel_is_kept_after_it_is_deleted(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    assert await log_of(admin, channel_id=channel_id) == []
    await publish(ingest, make_event("kept"))
    await scheduler.drain()
    await admin.DeleteChannel(admin_pb.DeleteChannelRequest(id=channel_id))
    # Until retention prunes them: then the channel id is NOT_FOUND like any unknown one.
    assert [e.event_id for e in await log_of(admin, channel_id=channel_id)] == ["kept"]
    watch = await rpc_failure(
        admin.WatchDeliveryLog(
            admin_pb.WatchDeliveryLogRequest(channel_id=channel_id), timeout=10
        ).read()
    )
    assert (watch.code, watch.reason) == (grpc.StatusCode.NOT_FOUND, "CHANNEL_NOT_FOUND")


async def test_a_body_with_nul_and_bad_utf8_is_logged_on_every_store(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    await add_channel(admin, receiver, retries_enabled=False)
    await receiver.wait_for_requests(1)
    # PostgreSQL text cannot hold NUL: kept as it came, it failed the whole batch's record. Both
    # events get the same answer, whichever is claimed first.
    receiver.respond(Answer(status=500, body=b"down\x00\xff"))
    await publish(ingest, make_event("hostile"), make_event("other", ticket_id=2))
    await scheduler.drain()
    bodies = {entry.event_id: entry.response_body for entry in await log_of(admin)}
    assert bodies == {"hostile": "down\ufffd\ufffd", "other": "down\ufffd\ufffd"}


async def test_a_host_resolving_to_loopback_is_refused_unless_allowed(
    settings: Settings, tuning: Tuning, receiver: Receiver
) -> None:
    async def run(server_settings: Settings, *, create: bool) -> list[channel_pb2.DeliveryLogEntry]:
        async with running(server_settings, tuning) as server:
            target = f"127.0.0.1:{server.port}"
            async with open_channel(target, ADMIN_TOKEN) as admin_channel:
                admin = channel_admin_pb2_grpc.ChannelAdminStub(admin_channel)
                if create:
                    await add_channel(admin, receiver)
                    return []
                async with open_channel(target, INGEST_TOKEN) as ingest_channel:
                    await publish(
                        event_ingest_pb2_grpc.EventIngestStub(ingest_channel), make_event("ssrf")
                    )
                assert server.scheduler is not None
                await server.scheduler.drain()
                return await log_of(admin)

    # The channel is saved while loopback is allowed, then the policy is tightened.
    await run(settings, create=True)
    (entry,) = await run(settings.model_copy(update={"allow_networks": ()}), create=False)
    assert entry.failure_reason == channel_pb2.FAILURE_REASON_ADDRESS_REFUSED
    assert "loopback" in entry.error
    assert not deliveries(receiver)


async def test_five_days_without_success_disables_the_channel_across_a_restart(
    settings: Settings, tuning: Tuning, receiver: Receiver, clock: FakeClock
) -> None:
    hourly = [Duration(seconds=3600)] * 20

    async def attempt_once(*, create: bool) -> None:
        async with running(settings, tuning) as server:
            target = f"127.0.0.1:{server.port}"
            if create:
                async with open_channel(target, ADMIN_TOKEN) as admin_channel:
                    admin = channel_admin_pb2_grpc.ChannelAdminStub(admin_channel)
                    await add_channel(admin, receiver, "/down", retry_schedule=hourly)
                async with open_channel(target, INGEST_TOKEN) as ingest_channel:
                    stub = event_ingest_pb2_grpc.EventIngestStub(ingest_channel)
                    await publish(stub, make_event("never"))
            assert server.scheduler is not None
            await server.scheduler.drain()

    receiver.respond_at("/down", Answer(status=500))
    await attempt_once(create=True)
    clock.advance(timedelta(days=4))
    await attempt_once(create=False)

    async def channel_state() -> tuple[bool, str]:
        # Read from the database: a server started only to look would also deliver what is due.
        [(enabled, reason)] = await fetch_rows(
            settings.database, "SELECT enabled, disabled_reason FROM channels"
        )
        return bool(enabled), reason

    assert await channel_state() == (True, "")
    clock.advance(timedelta(days=1, minutes=1))
    await attempt_once(create=False)
    assert await channel_state() == (False, "no successful delivery for 5 days")
    assert len(deliveries(receiver, "/down")) == 3


async def test_an_open_circuit_stays_open_across_a_restart(
    settings: Settings, tuning: Tuning, receiver: Receiver, clock: FakeClock
) -> None:
    tuning = replace(tuning, breaker=BreakerPolicy(failure_threshold=1))
    receiver.respond_at("/down", Answer(status=500))
    async with running(settings, tuning) as server:
        target = f"127.0.0.1:{server.port}"
        async with open_channel(target, ADMIN_TOKEN) as admin_channel:
            admin = channel_admin_pb2_grpc.ChannelAdminStub(admin_channel)
            channel_id, _ = await add_channel(admin, receiver, "/down")
        async with open_channel(target, INGEST_TOKEN) as ingest_channel:
            await publish(event_ingest_pb2_grpc.EventIngestStub(ingest_channel), make_event("e"))
        assert server.scheduler is not None
        await server.scheduler.drain()
    # Its retry is due, but the circuit its failure opened waits 30 s for a probe.
    clock.advance(timedelta(seconds=10))
    async with running(settings, tuning) as server:
        assert server.scheduler is not None
        await server.scheduler.drain()
        assert server.scheduler.health(channel_id).state is CircuitState.OPEN
    assert len(deliveries(receiver, "/down")) == 1


async def test_rate_limit_spaces_attempts(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    await add_channel(admin, receiver, rate_limit_per_second=2)
    await publish(ingest, *(make_event(f"rate-{n}", ticket_id=n + 1) for n in range(5)))
    await scheduler.drain()
    assert len(deliveries(receiver)) == 2
    # The scheduler sleeps until the channel's next token: neither spinning on the deliveries
    # it may not take yet, nor waiting out its full idle time.
    assert await scheduler.idle_seconds() == 0.5
    clock.advance(timedelta(seconds=1))
    await scheduler.drain()
    assert len(deliveries(receiver)) == 4
    clock.advance(timedelta(seconds=1))
    await scheduler.drain()
    assert len(deliveries(receiver)) == 5


async def test_redeliver_one_event_or_every_failure_since(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    channel_id, _ = await add_channel(admin, receiver, retries_enabled=False)
    await receiver.wait_for_requests(1)
    receiver.queue(Answer(status=500), Answer(status=500))
    await publish(ingest, make_event("r-1", ticket_id=1), make_event("r-2", ticket_id=2))
    await scheduler.drain()
    await publish(ingest, make_event("r-3", ticket_id=3))
    await scheduler.drain()
    assert {e.event_id for e in await log_of(admin, outcome=GIVEN_UP)} == {"r-1", "r-2"}

    one = await admin.Redeliver(admin_pb.RedeliverRequest(channel_id=channel_id, event_id="r-3"))
    assert one.scheduled_deliveries == 1
    await scheduler.drain()
    assert event_ids(deliveries(receiver))[-1] == "r-3"

    since = await admin.Redeliver(
        admin_pb.RedeliverRequest(
            channel_id=channel_id, failed_since=timestamp_of(clock() - timedelta(minutes=1))
        )
    )
    assert since.scheduled_deliveries == 2
    await scheduler.drain()
    resent = deliveries(receiver)[-2:]
    assert sorted(event_ids(resent)) == ["r-1", "r-2"]
    first_try = {json.loads(r.body)["event_id"]: r for r in deliveries(receiver)[:2]}
    for request in resent:
        original = first_try[json.loads(request.body)["event_id"]]
        assert request.headers["webhook-id"] == original.headers["webhook-id"]

    missing = await rpc_failure(
        admin.Redeliver(admin_pb.RedeliverRequest(channel_id=channel_id, event_id="nope"))
    )
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "DELIVERY_NOT_FOUND")


async def test_watch_delivery_log_streams_attempts_live(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    watch = admin.WatchDeliveryLog(admin_pb.WatchDeliveryLogRequest(channel_id=channel_id))
    # Initial metadata arrives once the server has registered the watcher.
    await watch.initial_metadata()
    await publish(ingest, make_event("live-1"), make_event("live-2", ticket_id=2))
    await scheduler.drain()
    seen = []
    for _ in range(2):
        item = await watch.read()
        assert isinstance(item, admin_pb.WatchDeliveryLogResponse)
        seen.append(item)
    watch.cancel()
    assert sorted(item.entry.event_id for item in seen) == ["live-1", "live-2"]
    assert all(item.skipped_entries == 0 for item in seen)
    assert all(item.entry.outcome == DELIVERED for item in seen)
    # Each entry as it is listed later, its id included (live entries once all read "0").
    listed = await log_of(admin, channel_id=channel_id)
    assert sorted(item.entry.id for item in seen) == sorted(entry.id for entry in listed)
    assert {item.entry.id: item.entry for item in seen} == {entry.id: entry for entry in listed}


async def test_stopping_starts_nothing_new(
    settings: Settings, tuning: Tuning, receiver: Receiver
) -> None:
    receiver.respond_at("/slow", Answer(delay=0.3))
    with capture_logs() as logs:
        async with running(settings, tuning) as server:
            async with open_channel(f"127.0.0.1:{server.port}", ADMIN_TOKEN) as admin_channel:
                admin = channel_admin_pb2_grpc.ChannelAdminStub(admin_channel)
                await add_channel(admin, receiver, "/slow", max_concurrency=1)
            async with open_channel(f"127.0.0.1:{server.port}", INGEST_TOKEN) as ingest_channel:
                await publish(
                    event_ingest_pb2_grpc.EventIngestStub(ingest_channel),
                    *(make_event(f"s-{n}", ticket_id=n) for n in range(1, 4)),
                )
            await receiver.wait_for_requests(2)  # the connection test, then the first event
    # The attempt cut short by the stop ends there; the deliveries claimed behind it wait for
    # the next start instead of going out to a closed client.
    assert len(deliveries(receiver, "/slow")) == 1
    assert [log for log in logs if log["log_level"] == "error"] == []


async def test_the_wait_ends_when_any_of_its_events_is_set() -> None:
    wake, nudge = asyncio.Event(), asyncio.Event()
    waiting = asyncio.create_task(wait_for_wake(wake, 60, nudge))
    await asyncio.sleep(0)
    nudge.set()
    async with asyncio.timeout(10):
        await waiting


async def test_a_stop_that_lands_with_a_wake_up_still_stops_the_wait() -> None:
    wake = asyncio.Event()
    waiting = asyncio.create_task(wait_for_wake(wake, 60))
    await asyncio.sleep(0)
    wake.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
