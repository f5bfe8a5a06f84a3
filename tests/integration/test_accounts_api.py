"""Accounts over gRPC, against a real server and a real HTTPS receiver (docs/design.md §10): an
event reaches only its own account's channels, the webhook names its account, an operator
filters lists and the live log by account, a channel's account is set on create and never
changes, account ids are checked where they come in, and each account has its own channel
cap."""

from collections.abc import Awaitable

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from standardwebhooks import Webhook, WebhookVerificationError

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.server import Tuning
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2, event_pb2
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.channels import add_channel
from tests.support.databases import fetch_rows
from tests.support.delivery import deliveries, publish
from tests.support.events import make_event
from tests.support.ingest import ACCEPTED, DUPLICATE, REJECTED, publish_stream
from tests.support.receiver import Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import ADMIN_TOKEN, AdminStub, IngestStub, running

MOVED = event_pb2.EVENT_TYPE_TICKET_DEPARTMENT_CHANGE
# Not account ids: too long, a character outside A-Z a-z 0-9 . _ : -, or not ASCII.
BAD_ACCOUNT_IDS = ["a" * 65, "a" * 5000, "acme/eu", "acme eu", "acme\x00", "\n", "é", "🦄"]


def path_of(account: str) -> str:
    return f"/{account or 'default'}"


def received(receiver: Receiver) -> set[str]:
    """The paths that events (not connection tests) were delivered to."""
    return {
        request.path
        for request in receiver.requests
        if request.headers["x-deskhook-event-type"] != "connection_test"
    }


async def one_channel_each(admin: AdminStub, receiver: Receiver) -> dict[str, tuple[str, str]]:
    """A channel in accounts "a", "b" and the default one, alike but for their account and
    receiving path: each one's id and signing secret, by account."""
    return {
        account: await add_channel(admin, receiver, path_of(account), account_id=account)
        for account in ("a", "b", "")
    }


async def test_one_event_id_in_three_accounts_reaches_each_accounts_own_channel(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    channels = await one_channel_each(admin, receiver)
    secrets = {account: secret for account, (_, secret) in channels.items()}
    acks = await publish_stream(
        ingest,
        [make_event("same", account_id="a"), make_event("same", account_id="b")],
        [make_event("same"), make_event("same", account_id="b")],
    )
    assert [(ack.result, ack.matched_channels) for ack in acks] == [
        (ACCEPTED, 1),
        (ACCEPTED, 1),
        (ACCEPTED, 1),
        (DUPLICATE, 1),
    ]
    await scheduler.drain()
    for account, secret in secrets.items():
        (request,) = deliveries(receiver, path_of(account))
        # What a receiver verifies with its own secret, and with no other account's.
        payload = Webhook(secret).verify(request.body, dict(request.headers))
        assert payload["event_id"] == "same"
        # proto3 JSON leaves an empty string out: the default account is not named.
        if account:
            assert payload["account_id"] == account
        else:
            assert "account_id" not in payload
        for other, other_secret in secrets.items():
            if other != account:
                with pytest.raises(WebhookVerificationError):
                    Webhook(other_secret).verify(request.body, dict(request.headers))


async def test_a_department_change_moves_nothing_across_accounts(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    for account in ("a", "b", ""):
        for department in (1, 2, 3):
            await add_channel(
                admin,
                receiver,
                f"{path_of(account)}/{department}",
                account_id=account,
                department_id=department,
                subscriptions=[MOVED],
            )
    await publish(
        ingest,
        make_event("moved", MOVED, department_id=2, old_department_id=1, account_id="a"),
        make_event("moved", MOVED, department_id=3, old_department_id=2, account_id="b"),
    )
    await scheduler.drain()
    assert received(receiver) == {"/a/1", "/a/2", "/b/2", "/b/3"}


async def test_an_operator_filters_lists_and_the_live_log_by_account(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, scheduler: DeliveryScheduler
) -> None:
    ids = {account: id_ for account, (id_, _) in (await one_channel_each(admin, receiver)).items()}
    watches = {
        account: admin.WatchDeliveryLog(pb.WatchDeliveryLogRequest(account_id=account))
        for account in ("a", "")
    }
    for watch in watches.values():
        await watch.initial_metadata()
    await publish(ingest, *(make_event("first", account_id=account) for account in ids))
    await scheduler.drain()
    await publish(ingest, *(make_event("second", account_id=account) for account in ids))
    await scheduler.drain()

    async def listed(**filters: str) -> list[str]:
        response = await admin.ListChannels(pb.ListChannelsRequest(**filters))  # type: ignore[arg-type]
        return [channel.id for channel in response.channels]

    async def logged(**filters: str) -> list[tuple[str, str, str]]:
        request = pb.ListDeliveryLogRequest(**filters)  # type: ignore[arg-type]
        entries = (await admin.ListDeliveryLog(request)).entries
        return sorted((e.account_id, e.channel_id, e.event_id) for e in entries)

    assert await listed() == list(ids.values())
    for account, channel_id in ids.items():
        assert await listed(account_id=account) == [channel_id]
        assert await logged(account_id=account) == [
            (account, channel_id, "first"),
            (account, channel_id, "second"),
        ]
    assert await listed(account_id="c") == []
    assert await logged(account_id="c") == []
    assert len(await logged()) == 6
    # Narrowed to one account, another account's channel does not exist.
    failure = await rpc_failure(logged(account_id="a", channel_id=ids["b"]))
    assert (failure.code, failure.reason) == (grpc.StatusCode.NOT_FOUND, "CHANNEL_NOT_FOUND")

    # Each watcher was handed its account's two attempts, and no other's before them.
    for account, watch in watches.items():
        seen = []
        for _ in range(2):
            item = await watch.read()
            assert isinstance(item, pb.WatchDeliveryLogResponse)
            seen.append((item.entry.account_id, item.entry.channel_id, item.entry.event_id))
        watch.cancel()
        assert seen == [(account, ids[account], "first"), (account, ids[account], "second")]


async def test_a_page_token_holds_only_for_the_account_it_was_issued_for(
    admin: AdminStub, receiver: Receiver
) -> None:
    for _ in range(2):
        await add_channel(admin, receiver, account_id="a")
    first = await admin.ListChannels(pb.ListChannelsRequest(account_id="a", page_size=1))
    token = first.next_page_token
    assert token
    for other in (pb.ListChannelsRequest(), pb.ListChannelsRequest(account_id="b")):
        other.page_token = token
        failure = await rpc_failure(admin.ListChannels(other))
        assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])


async def test_an_operator_pages_through_the_accounts_with_their_channel_counts(
    admin: AdminStub, receiver: Receiver
) -> None:
    for account_id, count in [("globex", 2), ("", 1), ("acme", 3)]:
        for _ in range(count):
            await add_channel(admin, receiver, account_id=account_id)
    seen: list[tuple[str, int]] = []
    token = ""
    for _ in range(3):
        page = await admin.ListAccounts(pb.ListAccountsRequest(page_size=2, page_token=token))
        seen += [(account.account_id, account.channel_count) for account in page.accounts]
        token = page.next_page_token
        if not token:
            break
    assert seen == [("", 1), ("acme", 3), ("globex", 2)]
    assert not token


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_size": -1}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
        # A channel list's token is a position of another kind.
        ({"page_token": "eyJwIjpbMV0sInEiOiIifQ"}, "page_token"),
    ],
)
async def test_a_bad_account_page_is_invalid_argument_naming_its_field(
    admin: AdminStub, request_fields: dict[str, object], field: str
) -> None:
    request = pb.ListAccountsRequest(**request_fields)  # type: ignore[arg-type]
    failure = await rpc_failure(admin.ListAccounts(request))
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


async def test_a_channel_page_token_is_no_account_page_token(
    admin: AdminStub, receiver: Receiver
) -> None:
    for _ in range(2):
        await add_channel(admin, receiver)
    token = (await admin.ListChannels(pb.ListChannelsRequest(page_size=1))).next_page_token
    failure = await rpc_failure(admin.ListAccounts(pb.ListAccountsRequest(page_token=token)))
    assert (failure.code, failure.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )


def new_channel(receiver: Receiver, account_id: str = "") -> channel_pb2.Channel:
    return channel_pb2.Channel(
        name="crm",
        url=receiver.url(),
        department_id=7,
        subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
        account_id=account_id,
    )


async def create_in(
    admin: AdminStub, receiver: Receiver, account_id: str, request_id: str = ""
) -> channel_pb2.Channel:
    request = pb.CreateChannelRequest(
        channel=new_channel(receiver, account_id), request_id=request_id
    )
    return (await admin.CreateChannel(request)).channel


async def test_a_channel_lands_in_the_account_its_create_names(
    admin: AdminStub, receiver: Receiver
) -> None:
    created = await create_in(admin, receiver, "acme-eu:prod_2.v1")
    assert created.account_id == "acme-eu:prod_2.v1"
    fetched = (await admin.GetChannel(pb.GetChannelRequest(id=created.id))).channel
    assert fetched == created
    assert (await create_in(admin, receiver, "")).account_id == ""
    # A request id is the account's own: the same one creates a channel in each account, and a
    # retry answers with its account's.
    in_a = await create_in(admin, receiver, "a", request_id="req-1")
    in_b = await create_in(admin, receiver, "b", request_id="req-1")
    assert (in_a.account_id, in_b.account_id) == ("a", "b")
    assert in_a.id != in_b.id
    assert (await create_in(admin, receiver, "a", request_id="req-1")).id == in_a.id
    assert (await create_in(admin, receiver, "b", request_id="req-1")).id == in_b.id


async def update(
    admin: AdminStub, channel: channel_pb2.Channel, paths: list[str] | None = None
) -> channel_pb2.Channel:
    mask = {} if paths is None else {"update_mask": FieldMask(paths=paths)}
    request = pb.UpdateChannelRequest(channel=channel, **mask)
    return (await admin.UpdateChannel(request)).channel


@pytest.mark.parametrize("paths", [["account_id"], ["name", "account_id"]])
@pytest.mark.parametrize("account_id", ["a", "b", ""])
async def test_an_update_mask_naming_account_id_is_invalid_argument(
    admin: AdminStub, receiver: Receiver, paths: list[str], account_id: str
) -> None:
    created = await create_in(admin, receiver, "a")
    patch = channel_pb2.Channel(id=created.id, name="renamed", account_id=account_id)
    failure = await rpc_failure(update(admin, patch, paths))
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["update_mask"])
    assert "'account_id' is set on create and never changes" in failure.message
    assert (await admin.GetChannel(pb.GetChannelRequest(id=created.id))).channel == created


async def test_a_channel_sent_back_whole_keeps_its_account_and_another_is_refused(
    admin: AdminStub, receiver: Receiver
) -> None:
    created = await create_in(admin, receiver, "a")
    # Read, changed and sent back as it was read: its own account is no change.
    changed = channel_pb2.Channel()
    changed.CopyFrom(created)
    changed.name = "renamed"
    updated = await update(admin, changed)
    assert (updated.name, updated.account_id) == ("renamed", "a")
    # Every field the mask names changes; the account is not one of them.
    changed.account_id = "b"
    changed.name = "everything"
    assert (await update(admin, changed, ["*"])).account_id == "a"
    # Without a mask, another account is a change, and a channel's account never changes.
    changed.name = "moved"
    failure = await rpc_failure(update(admin, changed))
    assert (failure.code, failure.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ["channel.account_id"],
    )
    fetched = (await admin.GetChannel(pb.GetChannelRequest(id=created.id))).channel
    assert (fetched.name, fetched.account_id) == ("everything", "a")


@pytest.mark.parametrize("bad", BAD_ACCOUNT_IDS)
async def test_an_invalid_account_id_is_invalid_argument_naming_its_field(
    admin: AdminStub, ingest: IngestStub, receiver: Receiver, settings: Settings, bad: str
) -> None:
    publish_call = ingest.PublishEvent(
        ingest_pb.PublishEventRequest(event=make_event("e", account_id=bad))
    )
    calls: dict[str, Awaitable[object]] = {
        "event.account_id": publish_call,
        "channel.account_id": admin.CreateChannel(
            pb.CreateChannelRequest(channel=new_channel(receiver, bad))
        ),
        "account_id": admin.ListChannels(pb.ListChannelsRequest(account_id=bad)),
    }
    for field, call in calls.items():
        failure = await rpc_failure(call)
        assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
    for call in (
        admin.ListDeliveryLog(pb.ListDeliveryLogRequest(account_id=bad)),
        admin.WatchDeliveryLog(pb.WatchDeliveryLogRequest(account_id=bad)).read(),
    ):
        failure = await rpc_failure(call)
        assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["account_id"])
    assert (await admin.ListChannels(pb.ListChannelsRequest())).channels == []
    assert await fetch_rows(settings.database, "SELECT event_id FROM events") == []


async def test_an_event_with_an_invalid_account_id_is_rejected_alone_and_the_stream_goes_on(
    ingest: IngestStub, settings: Settings
) -> None:
    acks = await publish_stream(
        ingest,
        [
            make_event("ok-1", account_id="a"),
            make_event("bad", account_id="a/b"),
            make_event("ok-2", account_id="b"),
        ],
        [make_event("bad", account_id="x" * 65), make_event("ok-3")],
    )
    assert [(ack.event_id, ack.result, ack.field) for ack in acks] == [
        ("ok-1", ACCEPTED, ""),
        ("bad", REJECTED, "account_id"),
        ("ok-2", ACCEPTED, ""),
        ("bad", REJECTED, "account_id"),
        ("ok-3", ACCEPTED, ""),
    ]
    assert await fetch_rows(
        settings.database, "SELECT account_id, event_id FROM events ORDER BY seq"
    ) == [("a", "ok-1"), ("b", "ok-2"), ("", "ok-3")]


async def test_each_account_has_its_own_channel_cap(
    settings: Settings, tuning: Tuning, receiver: Receiver
) -> None:
    capped = settings.model_copy(update={"max_channels_per_account": 2})
    async with (
        running(capped, tuning) as server,
        open_channel(f"127.0.0.1:{server.port}", ADMIN_TOKEN) as channel,
    ):
        admin = channel_admin_pb2_grpc.ChannelAdminStub(channel)
        first = await create_in(admin, receiver, "a", request_id="req-1")
        await create_in(admin, receiver, "a")
        failure = await rpc_failure(create_in(admin, receiver, "a"))
        assert (failure.code, failure.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "CHANNEL_LIMIT_REACHED",
        )
        # A retry of a create that was saved answers as it did: it adds nothing.
        assert (await create_in(admin, receiver, "a", request_id="req-1")).id == first.id
        # Another account, the default one too, has room of its own.
        for account in ("b", ""):
            for _ in range(2):
                await create_in(admin, receiver, account)
            full = await rpc_failure(create_in(admin, receiver, account))
            assert full.reason == "CHANNEL_LIMIT_REACHED"
        # A channel deleted makes room in its account.
        await admin.DeleteChannel(pb.DeleteChannelRequest(id=first.id))
        await create_in(admin, receiver, "a")
        listed = await admin.ListChannels(pb.ListChannelsRequest(account_id="a"))
        assert len(listed.channels) == 2
