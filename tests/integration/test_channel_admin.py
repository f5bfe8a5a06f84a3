"""ChannelAdmin over a real gRPC channel, against a real HTTPS receiver: the channel settings
page of the helpdesk, from any language."""

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from standardwebhooks import Webhook

from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_pb2, event_pb2
from tests.support.receiver import Answer, ReceivedRequest, Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import AdminStub as Admin

ESTABLISHED = channel_pb2.CONNECTION_STATE_ESTABLISHED
FAILED = channel_pb2.CONNECTION_STATE_FAILED


def new_channel(receiver: Receiver, **overrides: object) -> channel_pb2.Channel:
    fields: dict[str, object] = {
        "name": "CRM sync",
        "url": receiver.url(),
        "department_id": 7,
        "subscriptions": [
            event_pb2.EVENT_TYPE_TICKET_CREATE,
            event_pb2.EVENT_TYPE_TICKET_ANSWER,
        ],
        "retries_enabled": True,
    }
    fields.update(overrides)
    return channel_pb2.Channel(**fields)  # type: ignore[arg-type]


async def create(admin: Admin, receiver: Receiver, **overrides: object) -> pb.CreateChannelResponse:
    response: pb.CreateChannelResponse = await admin.CreateChannel(
        pb.CreateChannelRequest(channel=new_channel(receiver, **overrides))
    )
    return response


def verify(request: ReceivedRequest, secret: str) -> object:
    """Raises unless the public Standard Webhooks library accepts the request."""
    return Webhook(secret).verify(request.body, dict(request.headers))


async def test_create_tests_the_connection_and_returns_the_secret(
    admin: Admin, receiver: Receiver
) -> None:
    created = await create(admin, receiver)
    channel = created.channel
    assert channel.id.startswith("ch_")
    assert channel.enabled is True
    assert channel.connection_status.state == ESTABLISHED
    assert channel.connection_status.message == "Connection established successfully!"
    assert channel.connection_status.http_status == 200
    assert channel.connection_status.HasField("checked_at")
    assert created.signing_secret.startswith("whsec_")

    (request,) = await receiver.wait_for_requests(1)
    payload = verify(request, created.signing_secret)
    assert payload == {
        "event_id": request.headers["webhook-id"],
        "event_type": "connection_test",
        "occurred_at": payload["occurred_at"],  # type: ignore[index]
        "channel_id": channel.id,
    }
    assert request.headers["x-deskhook-event-type"] == "connection_test"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("deskhook/")


async def test_full_crud_cycle(admin: Admin, receiver: Receiver) -> None:
    created = (await create(admin, receiver)).channel
    fetched = await admin.GetChannel(pb.GetChannelRequest(id=created.id))
    assert fetched.channel == created

    listed = await admin.ListChannels(pb.ListChannelsRequest())
    assert [channel.id for channel in listed.channels] == [created.id]

    updated = await admin.UpdateChannel(
        pb.UpdateChannelRequest(
            channel=channel_pb2.Channel(id=created.id, name="Renamed"),
            update_mask=FieldMask(paths=["name"]),
        )
    )
    assert updated.channel.name == "Renamed"
    assert updated.channel.url == created.url
    assert list(updated.channel.subscriptions) == list(created.subscriptions)

    await admin.DeleteChannel(pb.DeleteChannelRequest(id=created.id))
    failure = await rpc_failure(admin.GetChannel(pb.GetChannelRequest(id=created.id)))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "CHANNEL_NOT_FOUND"
    again = await rpc_failure(admin.DeleteChannel(pb.DeleteChannelRequest(id=created.id)))
    assert again.code == grpc.StatusCode.NOT_FOUND


async def test_create_keeps_every_field(admin: Admin, receiver: Receiver) -> None:
    channel = (
        await create(
            admin,
            receiver,
            retry_schedule=[Duration(seconds=10), Duration(seconds=60)],
            ordering=channel_pb2.ORDERING_PER_TICKET,
            max_concurrency=3,
            rate_limit_per_second=20,
            enabled=False,
        )
    ).channel
    fetched = (await admin.GetChannel(pb.GetChannelRequest(id=channel.id))).channel
    assert [d.seconds for d in fetched.retry_schedule] == [10, 60]
    assert fetched.ordering == channel_pb2.ORDERING_PER_TICKET
    assert (fetched.max_concurrency, fetched.rate_limit_per_second) == (3, 20)
    assert fetched.enabled is False
    assert fetched.retries_enabled is True
    assert fetched.create_time == fetched.update_time


async def test_update_mask_changes_only_the_named_fields(admin: Admin, receiver: Receiver) -> None:
    created = (await create(admin, receiver)).channel
    patch = channel_pb2.Channel(id=created.id, name="New name", department_id=99)
    updated = (
        await admin.UpdateChannel(
            pb.UpdateChannelRequest(channel=patch, update_mask=FieldMask(paths=["department_id"]))
        )
    ).channel
    assert (updated.name, updated.department_id) == ("CRM sync", 99)
    assert updated.update_time.ToDatetime() >= created.update_time.ToDatetime()


async def test_update_without_mask_changes_the_fields_that_are_set(
    admin: Admin, receiver: Receiver
) -> None:
    created = (await create(admin, receiver)).channel
    patch = channel_pb2.Channel(id=created.id, name="Only name", enabled=False)
    updated = (await admin.UpdateChannel(pb.UpdateChannelRequest(channel=patch))).channel
    assert (updated.name, updated.enabled, updated.department_id) == ("Only name", False, 7)
    assert list(updated.subscriptions) == list(created.subscriptions)


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["nmae"], "unknown field 'nmae'"),
        (["connection_status"], "'connection_status' is output only"),
        (["id"], "'id' is output only"),
        (["*", "name"], "'*' cannot be combined"),
    ],
)
async def test_bad_update_mask_is_invalid_argument(
    admin: Admin, receiver: Receiver, paths: list[str], expected: str
) -> None:
    created = (await create(admin, receiver)).channel
    failure = await rpc_failure(
        admin.UpdateChannel(
            pb.UpdateChannelRequest(
                channel=channel_pb2.Channel(id=created.id, name="x"),
                update_mask=FieldMask(paths=paths),
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.fields == ["update_mask"]
    assert expected in failure.message
    unchanged = (await admin.GetChannel(pb.GetChannelRequest(id=created.id))).channel
    assert unchanged == created


async def test_changing_the_url_retests_the_connection(admin: Admin, receiver: Receiver) -> None:
    created = (await create(admin, receiver)).channel
    await receiver.wait_for_requests(1)
    receiver.respond(Answer(status=500))
    updated = (
        await admin.UpdateChannel(
            pb.UpdateChannelRequest(
                channel=channel_pb2.Channel(id=created.id, url=receiver.url("/moved")),
                update_mask=FieldMask(paths=["url"]),
            )
        )
    ).channel
    requests = await receiver.wait_for_requests(2)
    assert requests[1].path == "/moved"
    assert updated.connection_status.state == FAILED
    assert updated.connection_status.http_status == 500

    renamed = (
        await admin.UpdateChannel(
            pb.UpdateChannelRequest(
                channel=channel_pb2.Channel(id=created.id, name="No retest"),
                update_mask=FieldMask(paths=["name"]),
            )
        )
    ).channel
    assert len(receiver.requests) == 2
    assert renamed.connection_status == updated.connection_status


async def test_failing_test_does_not_block_saving(admin: Admin, receiver: Receiver) -> None:
    receiver.respond(Answer(status=503))
    created = (await create(admin, receiver)).channel
    assert created.connection_status.state == FAILED
    fetched = (await admin.GetChannel(pb.GetChannelRequest(id=created.id))).channel
    assert fetched.connection_status.state == FAILED


async def test_paging_through_250_channels_returns_each_exactly_once(
    admin: Admin, receiver: Receiver
) -> None:
    created = [(await create(admin, receiver, name=f"channel {n}")).channel.id for n in range(250)]
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await admin.ListChannels(pb.ListChannelsRequest(page_size=7, page_token=token))
        assert len(page.channels) <= 7
        seen.extend(channel.id for channel in page.channels)
        pages += 1
        if pages == 3:
            # Inserted mid-way: lands after everything listed so far, so nothing repeats.
            await create(admin, receiver, name="late arrival")
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert seen[:250] == created
    assert len(seen) == 251


async def test_list_filters_by_department_and_enabled(admin: Admin, receiver: Receiver) -> None:
    first = (await create(admin, receiver, department_id=1)).channel.id
    second = (await create(admin, receiver, department_id=2)).channel.id
    third = (await create(admin, receiver, department_id=2, enabled=False)).channel.id

    async def ids(**filters: object) -> list[str]:
        response = await admin.ListChannels(pb.ListChannelsRequest(**filters))  # type: ignore[arg-type]
        return [channel.id for channel in response.channels]

    assert await ids(department_id=2) == [second, third]
    assert await ids(enabled=True) == [first, second]
    assert await ids(department_id=2, enabled=False) == [third]


async def test_page_token_is_checked(admin: Admin, receiver: Receiver) -> None:
    for _ in range(3):
        await create(admin, receiver, department_id=5)
    page = await admin.ListChannels(pb.ListChannelsRequest(page_size=1, department_id=5))
    other_filter = await rpc_failure(
        admin.ListChannels(
            pb.ListChannelsRequest(page_size=1, department_id=6, page_token=page.next_page_token)
        )
    )
    assert other_filter.code == grpc.StatusCode.INVALID_ARGUMENT
    assert other_filter.fields == ["page_token"]
    bogus = await rpc_failure(admin.ListChannels(pb.ListChannelsRequest(page_token="bogus!")))
    assert (bogus.code, bogus.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")
    negative = await rpc_failure(admin.ListChannels(pb.ListChannelsRequest(page_size=-1)))
    assert negative.fields == ["page_size"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "channel.name"),
        ({"name": "x" * 201}, "channel.name"),
        ({"name": "crm\x1b[2K\rgiven_up"}, "channel.name"),
        ({"name": "crm\x00"}, "channel.name"),
        ({"name": "crm\x7f"}, "channel.name"),
        ({"name": "crm\x9b31m"}, "channel.name"),
        ({"name": "crm\tsync"}, "channel.name"),
        ({"department_id": 0}, "channel.department_id"),
        ({"subscriptions": []}, "channel.subscriptions"),
        ({"subscriptions": [event_pb2.EVENT_TYPE_UNSPECIFIED]}, "channel.subscriptions[0]"),
        ({"subscriptions": [1, 99]}, "channel.subscriptions[1]"),
        ({"subscriptions": [1, 1]}, "channel.subscriptions"),
        # Operational events go to the server's operational URL, never to a channel.
        ({"subscriptions": [1, event_pb2.EVENT_TYPE_DELIVERY_EXHAUSTED]}, "channel.subscriptions"),
        ({"url": "ftp://example.com/hook"}, "channel.url"),
        ({"url": "http://example.com/hook"}, "channel.url"),
        ({"url": "/relative"}, "channel.url"),
        ({"url": "https://user:pw@example.com/"}, "channel.url"),
        ({"url": "https://example.com/" + "a" * 2048}, "channel.url"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "channel.url"),
        ({"url": "https://10.1.2.3/hook"}, "channel.url"),
        ({"url": ""}, "channel.url"),
        ({"retry_schedule": [Duration(seconds=0)]}, "channel.retry_schedule[0]"),
        ({"max_concurrency": 101}, "channel.max_concurrency"),
        ({"rate_limit_per_second": -1}, "channel.rate_limit_per_second"),
        ({"ordering": 9}, "channel.ordering"),
    ],
)
async def test_invalid_channel_names_the_field_and_saves_nothing(
    admin: Admin, receiver: Receiver, overrides: dict[str, object], field: str
) -> None:
    failure = await rpc_failure(
        admin.CreateChannel(pb.CreateChannelRequest(channel=new_channel(receiver, **overrides)))
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in failure.fields
    assert field in failure.message
    assert failure.reason
    assert not (await admin.ListChannels(pb.ListChannelsRequest())).channels
    assert not receiver.requests


async def test_update_refuses_control_characters_in_the_name(
    admin: Admin, receiver: Receiver
) -> None:
    created = await create(admin, receiver, name="Café ✓ sync")
    renamed = channel_pb2.Channel(id=created.channel.id, name="crm\x07")
    failure = await rpc_failure(admin.UpdateChannel(pb.UpdateChannelRequest(channel=renamed)))
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["channel.name"])
    kept = await admin.GetChannel(pb.GetChannelRequest(id=created.channel.id))
    assert kept.channel.name == "Café ✓ sync"


async def test_request_id_makes_create_idempotent(admin: Admin, receiver: Receiver) -> None:
    request = pb.CreateChannelRequest(channel=new_channel(receiver), request_id="req-1")
    first = await admin.CreateChannel(request)
    second = await admin.CreateChannel(request)
    assert second.channel.id == first.channel.id
    assert second.signing_secret == first.signing_secret
    assert len((await admin.ListChannels(pb.ListChannelsRequest())).channels) == 1

    reused = await rpc_failure(
        admin.CreateChannel(
            pb.CreateChannelRequest(channel=new_channel(receiver, name="other"), request_id="req-1")
        )
    )
    assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")


async def test_concurrent_retries_with_one_request_id_create_one_channel(
    admin: Admin, receiver: Receiver
) -> None:
    request = pb.CreateChannelRequest(channel=new_channel(receiver), request_id="req-race")
    responses = await asyncio.gather(*(admin.CreateChannel(request) for _ in range(5)))
    assert len({response.channel.id for response in responses}) == 1
    assert len((await admin.ListChannels(pb.ListChannelsRequest())).channels) == 1


async def test_unknown_ids_are_not_found(admin: Admin) -> None:
    calls: list[Awaitable[object]] = [
        admin.GetChannel(pb.GetChannelRequest(id="ch_missing")),
        admin.DeleteChannel(pb.DeleteChannelRequest(id="ch_missing")),
        admin.UpdateChannel(
            pb.UpdateChannelRequest(channel=channel_pb2.Channel(id="ch_missing", name="x"))
        ),
        admin.TestConnection(pb.TestConnectionRequest(channel_id="ch_missing")),
        admin.RotateSigningSecret(pb.RotateSigningSecretRequest(id="ch_missing")),
        admin.Redeliver(pb.RedeliverRequest(channel_id="ch_missing", event_id="evt-1")),
        admin.ListDeliveryLog(pb.ListDeliveryLogRequest(channel_id="ch_missing")),
        # A deadline: a watch that was let in would wait for attempts forever.
        admin.WatchDeliveryLog(
            pb.WatchDeliveryLogRequest(channel_id="ch_missing"), timeout=10
        ).read(),
    ]
    for call in calls:
        failure = await rpc_failure(call)
        assert (failure.code, failure.reason) == (grpc.StatusCode.NOT_FOUND, "CHANNEL_NOT_FOUND")


async def test_missing_ids_are_invalid_arguments(admin: Admin) -> None:
    calls: list[tuple[Awaitable[object], str]] = [
        (admin.GetChannel(pb.GetChannelRequest()), "id"),
        (admin.DeleteChannel(pb.DeleteChannelRequest()), "id"),
        (admin.UpdateChannel(pb.UpdateChannelRequest()), "channel.id"),
        (admin.RotateSigningSecret(pb.RotateSigningSecretRequest()), "id"),
        (admin.TestConnection(pb.TestConnectionRequest()), "target"),
    ]
    for call, field in calls:
        failure = await rpc_failure(call)
        assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


async def test_rotation_signs_with_both_secrets_during_the_grace_period(
    admin: Admin, receiver: Receiver
) -> None:
    created = await create(admin, receiver)
    old_secret = created.signing_secret
    rotated = await admin.RotateSigningSecret(pb.RotateSigningSecretRequest(id=created.channel.id))
    assert rotated.signing_secret.startswith("whsec_")
    assert rotated.signing_secret != old_secret
    grace = rotated.previous_secret_expire_time.ToDatetime(UTC) - datetime.now(UTC)
    assert 23.9 * 3600 < grace.total_seconds() <= 24 * 3600

    await admin.TestConnection(pb.TestConnectionRequest(channel_id=created.channel.id))
    request = (await receiver.wait_for_requests(2))[1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verify(request, old_secret)
    verify(request, rotated.signing_secret)


async def test_rotation_with_zero_grace_drops_the_old_secret(
    admin: Admin, receiver: Receiver
) -> None:
    created = await create(admin, receiver)
    rotated = await admin.RotateSigningSecret(
        pb.RotateSigningSecretRequest(id=created.channel.id, grace_period=Duration(seconds=0))
    )
    await admin.TestConnection(pb.TestConnectionRequest(channel_id=created.channel.id))
    request = (await receiver.wait_for_requests(2))[1]
    verify(request, rotated.signing_secret)
    with pytest.raises(Exception, match="No matching signature"):
        verify(request, created.signing_secret)

    too_long = await rpc_failure(
        admin.RotateSigningSecret(
            pb.RotateSigningSecretRequest(
                id=created.channel.id, grace_period=Duration(seconds=8 * 86400)
            )
        )
    )
    assert too_long.fields == ["grace_period"]


async def test_test_connection_stores_the_result_on_the_channel(
    admin: Admin, receiver: Receiver
) -> None:
    created = (await create(admin, receiver)).channel
    receiver.respond(Answer(status=500, body=b"down for maintenance"))
    response = await admin.TestConnection(pb.TestConnectionRequest(channel_id=created.id))
    assert response.connection_status.state == FAILED
    stored = (await admin.GetChannel(pb.GetChannelRequest(id=created.id))).channel
    assert stored.connection_status == response.connection_status


async def test_test_connection_of_an_unsaved_url(admin: Admin, receiver: Receiver) -> None:
    response = await admin.TestConnection(pb.TestConnectionRequest(url=receiver.url("/try")))
    assert response.connection_status.state == ESTABLISHED
    (request,) = await receiver.wait_for_requests(1)
    assert request.path == "/try"
    refused = await rpc_failure(
        admin.TestConnection(pb.TestConnectionRequest(url="https://192.168.1.1/"))
    )
    assert (refused.code, refused.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["url"])
