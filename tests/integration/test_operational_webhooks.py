"""Operational webhooks (docs/design.md §11): what an administrator must act on reaches the
operational URL, signed, through the same engine as ticket events, and shown in its log; and the
operational channel never reports on itself. Both stores, a real server and HTTPS receiver (the
operational URL is another path of it), time moved by the test."""

import json
import re
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.field_mask_pb2 import FieldMask
from standardwebhooks import Webhook

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.core.operational_channel import NO_URL_REASON
from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.domain.accounts import EVERY_ACCOUNT
from deskhook.domain.breaker import FAILURE_THRESHOLD
from deskhook.domain.channel_spec import Channel
from deskhook.domain.events import OPERATIONAL_EVENT_TYPES
from deskhook.domain.operational import OPERATIONAL_CHANNEL_ID, SYSTEM_ACCOUNT
from deskhook.domain.signing import active_secrets
from deskhook.server import DeskhookServer, StartupError, Tuning
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2, event_pb2
from tests.support.channels import add_channel
from tests.support.clock import FakeClock
from tests.support.delivery import DELIVERED, deliveries, log_of, publish
from tests.support.events import make_event
from tests.support.ingest import REJECTED, publish_stream
from tests.support.receiver import Answer, ReceivedRequest, Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import OPERATIONAL_SECRET, AdminStub, IngestStub, running
from tests.support.store_items import opened

CONSOLE_URL = "https://deskhook.example"
OPS = "/ops"


@pytest.fixture
def settings(settings: Settings, receiver: Receiver) -> Settings:
    return settings.model_copy(
        update={
            "operational_url": receiver.url(OPS),
            "operational_secret": OPERATIONAL_SECRET,
            "console_url": CONSOLE_URL,
        }
    )


def notices(receiver: Receiver) -> list[dict[str, Any]]:
    """The bodies of the operational webhooks received, each checked against its signature."""
    received: list[ReceivedRequest] = deliveries(receiver, OPS)
    for request in received:
        Webhook(OPERATIONAL_SECRET).verify(request.body, dict(request.headers))
        # Receivers in any language parse it back into the message the contract describes.
        json_format.Parse(request.body.decode(), event_pb2.OperationalEvent())
    return [json.loads(request.body) for request in received]


async def test_a_410_sends_exactly_one_channel_disabled_and_logs_it(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    channel_id, _ = await add_channel(admin, receiver, name="crm <b>")
    receiver.respond_at("/hook", Answer(status=410))
    # Several deliveries in flight at once all meet the 410: the channel is disabled once.
    await publish(ingest, *(make_event(f"evt-{number}") for number in range(4)))
    await scheduler.drain()

    (disabled,) = notices(receiver)
    assert disabled["event_type"] == "channel.disabled"
    assert disabled["channel_id"] == channel_id
    assert disabled["channel_name"] == "crm <b>"
    assert "410" in disabled["reason"]
    assert disabled["console_link"] == f"{CONSOLE_URL}/#channel={channel_id}"
    assert "account_id" not in disabled  # the default account: empty, left out as proto3 JSON
    (request,) = deliveries(receiver, OPS)
    assert request.headers["x-deskhook-event-type"] == "channel.disabled"

    (entry,) = await log_of(admin, channel_id=OPERATIONAL_CHANNEL_ID)
    assert entry.account_id == SYSTEM_ACCOUNT
    assert entry.event_type == event_pb2.EVENT_TYPE_CHANNEL_DISABLED
    assert entry.event_id == disabled["event_id"]
    assert entry.outcome == DELIVERED
    assert entry.webhook_id == request.headers["webhook-id"]


async def test_a_circuit_that_opens_and_closes_sends_failing_then_recovered(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    receiver.respond_at(OPS, Answer(status=204))
    channel_id, _ = await add_channel(admin, receiver, account_id="acme")
    receiver.queue(*[Answer(status=503)] * FAILURE_THRESHOLD)
    await publish(
        ingest,
        *(
            replace_account(make_event(f"evt-{number}"), "acme")
            for number in range(FAILURE_THRESHOLD)
        ),
    )
    await scheduler.drain()
    (failing,) = notices(receiver)
    assert failing["event_type"] == "channel.failing"
    assert (failing["account_id"], failing["channel_id"]) == ("acme", channel_id)
    assert failing["http_status"] == 503
    assert f"{FAILURE_THRESHOLD} failed attempts in a row" in failing["reason"]

    # The probe after the interval succeeds, and the circuit closes.
    clock.advance(timedelta(minutes=1))
    await scheduler.drain()
    assert [notice["event_type"] for notice in notices(receiver)] == [
        "channel.failing",
        "channel.recovered",
    ]


async def test_a_delivery_given_up_sends_delivery_exhausted(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    receiver.respond_at(OPS, Answer(status=200))
    channel_id, _ = await add_channel(admin, receiver, retries_enabled=False)
    receiver.queue(Answer(status=500))
    await publish(ingest, make_event("evt-lost"))
    await scheduler.drain()

    (exhausted,) = notices(receiver)
    assert exhausted["event_type"] == "delivery.exhausted"
    assert exhausted["channel_id"] == channel_id
    assert exhausted["delivery_event_id"] == "evt-lost"
    assert exhausted["delivery_event_type"] == "ticket_create"
    assert (exhausted["attempts"], exhausted["http_status"]) == (1, 500)
    assert "retries nothing" in exhausted["reason"]


async def test_a_failing_operational_url_reports_nothing_about_itself(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    clock: FakeClock,
) -> None:
    # The operational URL fails every attempt: its circuit opens, its retries run out, and it
    # answers 410 at last. Each would be a notice about any other channel.
    receiver.respond_at(OPS, Answer(status=500))
    await add_channel(admin, receiver)
    receiver.respond_at("/hook", Answer(status=410))
    await publish(ingest, make_event("evt-1"))
    await scheduler.drain()
    for _ in range(12):
        clock.advance(timedelta(hours=11))
        await scheduler.drain()
    failed = deliveries(receiver, OPS)
    assert len(failed) > FAILURE_THRESHOLD
    receiver.respond_at(OPS, Answer(status=410))
    await admin.Redeliver(
        admin_pb.RedeliverRequest(
            channel_id=OPERATIONAL_CHANNEL_ID, event_id=json.loads(failed[0].body)["event_id"]
        )
    )
    await scheduler.drain()
    clock.advance(timedelta(hours=11))
    await scheduler.drain()

    sent = deliveries(receiver, OPS)
    assert len(sent) == len(failed) + 1
    # One notice, tried again and again: the channel.disabled of the ticket channel.
    assert {request.headers["webhook-id"] for request in sent} == {sent[0].headers["webhook-id"]}
    assert {request.headers["x-deskhook-event-type"] for request in sent} == {"channel.disabled"}
    log = await log_of(admin, channel_id=OPERATIONAL_CHANNEL_ID)
    assert {entry.event_id for entry in log} == {json.loads(sent[0].body)["event_id"]}
    got = await admin.GetChannel(admin_pb.GetChannelRequest(id=OPERATIONAL_CHANNEL_ID))
    operational = got.channel
    assert not operational.enabled
    assert "410" in operational.disabled_reason


def replace_account(event: event_pb2.Event, account_id: str) -> event_pb2.Event:
    event.account_id = account_id
    return event


async def test_the_operational_channel_follows_the_settings_on_every_start(
    settings: Settings, tuning: Tuning, receiver: Receiver, clock: FakeClock
) -> None:
    other_secret = "whsec_" + "YW5vdGhlciBvcGVyYXRpb25hbCBzZWNyZXQgISE="
    moved = settings.model_copy(
        update={"operational_url": receiver.url("/moved"), "operational_secret": other_secret}
    )
    unset = settings.model_copy(update={"operational_url": "", "operational_secret": ""})

    async def operational_channel(started: Settings) -> tuple[Channel, list[str]]:
        async with running(started, tuning):
            pass
        async with opened(started.database) as store:
            channel = await store.get_channel(EVERY_ACCOUNT, OPERATIONAL_CHANNEL_ID)
            secrets = await store.signing_secrets(EVERY_ACCOUNT, OPERATIONAL_CHANNEL_ID)
        assert channel is not None
        return channel, active_secrets(secrets, clock())

    first, signing = await operational_channel(settings)
    assert (first.account_id, first.spec.url, signing) == (
        SYSTEM_ACCOUNT,
        receiver.url(OPS),
        [OPERATIONAL_SECRET],
    )
    assert first.spec.enabled
    assert set(first.spec.subscriptions) == OPERATIONAL_EVENT_TYPES
    # A new URL and secret take over at once: the old secret signs nothing more.
    changed, signing = await operational_channel(moved)
    assert (changed.spec.url, signing) == (receiver.url("/moved"), [other_secret])
    # With no URL, nothing more is sent to the last one; set again, it delivers again.
    stopped, _ = await operational_channel(unset)
    assert not stopped.spec.enabled
    assert stopped.disabled_reason == NO_URL_REASON
    again, _ = await operational_channel(settings)
    assert again.spec.enabled
    assert again.disabled_reason == ""


async def test_an_operational_url_no_channel_could_have_is_refused_at_start(
    settings: Settings, tuning: Tuning
) -> None:
    for url, problem in [
        ("http://ops.example/hooks", "https"),
        ("https://10.0.0.8/hooks", "10.0.0.8"),
    ]:
        refused = settings.model_copy(update={"operational_url": url})
        with pytest.raises(StartupError, match=f"operational_url: .*{re.escape(problem)}"):
            async with running(refused, tuning):
                pass


async def test_the_api_leaves_the_operational_channel_to_the_settings(
    admin: AdminStub, receiver: Receiver
) -> None:
    attempts: list[Awaitable[object]] = [
        admin.UpdateChannel(
            admin_pb.UpdateChannelRequest(
                channel=channel_pb2.Channel(id=OPERATIONAL_CHANNEL_ID, name="mine"),
                update_mask=FieldMask(paths=["name"]),
            )
        ),
        admin.DeleteChannel(admin_pb.DeleteChannelRequest(id=OPERATIONAL_CHANNEL_ID)),
        admin.RotateSigningSecret(admin_pb.RotateSigningSecretRequest(id=OPERATIONAL_CHANNEL_ID)),
    ]
    for call in attempts:
        refused = await rpc_failure(call)
        assert (refused.code, refused.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "OPERATIONAL_CHANNEL",
        )
        assert "operational_url" in refused.message
    got = await admin.GetChannel(admin_pb.GetChannelRequest(id=OPERATIONAL_CHANNEL_ID))
    assert (got.channel.name, got.channel.url) == ("Operational webhooks", receiver.url(OPS))
    # Testing its connection changes nothing the settings own.
    tested = await admin.TestConnection(
        admin_pb.TestConnectionRequest(channel_id=OPERATIONAL_CHANNEL_ID)
    )
    assert tested.connection_status.http_status == 200


async def test_no_account_token_reaches_the_system_account(
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    server: DeskhookServer,
) -> None:
    """Notices name every account's channels: an account token sees neither them nor the
    operational channel, and no producer can publish into the system account."""
    await add_channel(admin, receiver)
    receiver.respond_at("/hook", Answer(status=410))
    await publish(ingest, make_event("evt-1"))
    await scheduler.drain()
    assert len(notices(receiver)) == 1
    minted = await admin.CreateAccessToken(admin_pb.CreateAccessTokenRequest(account_id="acme"))
    async with open_channel(f"127.0.0.1:{server.port}", minted.token) as channel:
        acme = channel_admin_pb2_grpc.ChannelAdminStub(channel)
        assert not (await acme.ListChannels(admin_pb.ListChannelsRequest())).channels
        assert not await log_of(acme)
        for hidden in (
            acme.GetChannel(admin_pb.GetChannelRequest(id=OPERATIONAL_CHANNEL_ID)),
            acme.ListDeliveryLog(
                admin_pb.ListDeliveryLogRequest(channel_id=OPERATIONAL_CHANNEL_ID)
            ),
        ):
            assert (await rpc_failure(hidden)).code == grpc.StatusCode.NOT_FOUND
        named = await rpc_failure(
            acme.ListChannels(admin_pb.ListChannelsRequest(account_id=SYSTEM_ACCOUNT))
        )
        assert named.code == grpc.StatusCode.INVALID_ARGUMENT
    (ack,) = await publish_stream(ingest, [make_event("evt-2", account_id=SYSTEM_ACCOUNT)])
    assert (ack.result, ack.field) == (REJECTED, "account_id")
