"""Hostile values in ChannelAdmin requests: each is INVALID_ARGUMENT naming its field, on both
stores, never INTERNAL (PostgreSQL text cannot hold NUL; int() refuses 4,300 digits; a
Duration's nanos may disagree with its seconds)."""

import base64
from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp

from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_pb2, event_pb2
from tests.support.channels import add_channel
from tests.support.receiver import Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import AdminStub

NUL_ID = "ch_\x00x"
# A call made with a saved channel's id (and the receiver, for a valid URL).
Call = Callable[[AdminStub, str, Receiver], Awaitable[object]]


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _channel(receiver: Receiver, **fields: object) -> channel_pb2.Channel:
    return channel_pb2.Channel(
        name="crm",
        url=receiver.url("/hook"),
        department_id=7,
        subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
        **fields,  # type: ignore[arg-type]
    )


# Page tokens no server issued: not base64, not JSON, forged positions, numbers past int().
FORGED_TOKENS = [
    "bogus!",
    "é",
    "x" * 5000,
    "1" * 5000,
    _token('{"p":[' + "9" * 5000 + ',1],"q":"x"}'),
    _token('{"p":[1e999,1],"q":"x"}'),
    _token('{"p":[true,1],"q":"x"}'),
    _token("[" * 100_000),
    _token('"p"'),
]

CASES: list[tuple[str, Call, str]] = [
    ("get NUL id", lambda a, c, r: a.GetChannel(pb.GetChannelRequest(id=NUL_ID)), "id"),
    ("delete NUL id", lambda a, c, r: a.DeleteChannel(pb.DeleteChannelRequest(id=NUL_ID)), "id"),
    (
        "update NUL id",
        lambda a, c, r: a.UpdateChannel(
            pb.UpdateChannelRequest(channel=channel_pb2.Channel(id=NUL_ID, name="x"))
        ),
        "channel.id",
    ),
    (
        "rotate NUL id",
        lambda a, c, r: a.RotateSigningSecret(pb.RotateSigningSecretRequest(id=NUL_ID)),
        "id",
    ),
    (
        "test NUL id",
        lambda a, c, r: a.TestConnection(pb.TestConnectionRequest(channel_id=NUL_ID)),
        "channel_id",
    ),
    (
        "test empty id",
        lambda a, c, r: a.TestConnection(pb.TestConnectionRequest(channel_id="")),
        "channel_id",
    ),
    (
        "redeliver NUL channel",
        lambda a, c, r: a.Redeliver(pb.RedeliverRequest(channel_id=NUL_ID, event_id="e")),
        "channel_id",
    ),
    (
        "redeliver NUL event",
        lambda a, c, r: a.Redeliver(pb.RedeliverRequest(channel_id=c, event_id="e\x00")),
        "event_id",
    ),
    (
        "redeliver long event",
        lambda a, c, r: a.Redeliver(pb.RedeliverRequest(channel_id=c, event_id="e" * 129)),
        "event_id",
    ),
    (
        "redeliver since past 9999",
        lambda a, c, r: a.Redeliver(
            pb.RedeliverRequest(channel_id=c, failed_since=Timestamp(seconds=2**63 - 1))
        ),
        "failed_since",
    ),
    (
        "redeliver since bad nanos",
        lambda a, c, r: a.Redeliver(
            pb.RedeliverRequest(channel_id=c, failed_since=Timestamp(seconds=0, nanos=-1))
        ),
        "failed_since",
    ),
    (
        "log NUL channel",
        lambda a, c, r: a.ListDeliveryLog(pb.ListDeliveryLogRequest(channel_id=NUL_ID)),
        "channel_id",
    ),
    (
        "log NUL event",
        lambda a, c, r: a.ListDeliveryLog(pb.ListDeliveryLogRequest(event_id="e\x00")),
        "event_id",
    ),
    (
        "log start past 9999",
        lambda a, c, r: a.ListDeliveryLog(
            pb.ListDeliveryLogRequest(start_time=Timestamp(seconds=2**63 - 1))
        ),
        "start_time",
    ),
    (
        "log end bad nanos",
        lambda a, c, r: a.ListDeliveryLog(
            pb.ListDeliveryLogRequest(end_time=Timestamp(seconds=0, nanos=2**31 - 1))
        ),
        "end_time",
    ),
    (
        "watch NUL channel",
        # A deadline: a watch that was let in would wait for attempts forever.
        lambda a, c, r: a.WatchDeliveryLog(
            pb.WatchDeliveryLogRequest(channel_id=NUL_ID), timeout=10
        ).read(),
        "channel_id",
    ),
    (
        "create NUL request id",
        lambda a, c, r: a.CreateChannel(
            pb.CreateChannelRequest(channel=_channel(r), request_id="req\x00")
        ),
        "request_id",
    ),
    (
        "retry delay nanos against seconds",
        lambda a, c, r: a.CreateChannel(
            pb.CreateChannelRequest(
                channel=_channel(r, retry_schedule=[Duration(seconds=5, nanos=-(2**31))])
            )
        ),
        "channel.retry_schedule[0].nanos",
    ),
    (
        "retry delay nanos past a second",
        lambda a, c, r: a.CreateChannel(
            pb.CreateChannelRequest(
                channel=_channel(r, retry_schedule=[Duration(seconds=1, nanos=10**9)])
            )
        ),
        "channel.retry_schedule[0].nanos",
    ),
    (
        "retry delay past timedelta",
        lambda a, c, r: a.CreateChannel(
            pb.CreateChannelRequest(
                channel=_channel(r, retry_schedule=[Duration(seconds=2**63 - 1)])
            )
        ),
        "channel.retry_schedule[0]",
    ),
    (
        "grace nanos against seconds",
        lambda a, c, r: a.RotateSigningSecret(
            pb.RotateSigningSecretRequest(id=c, grace_period=Duration(seconds=60, nanos=-5))
        ),
        "grace_period.nanos",
    ),
    (
        "grace past timedelta",
        lambda a, c, r: a.RotateSigningSecret(
            pb.RotateSigningSecretRequest(id=c, grace_period=Duration(seconds=-(2**63)))
        ),
        "grace_period",
    ),
    (
        "concurrency below 0",
        lambda a, c, r: a.CreateChannel(
            pb.CreateChannelRequest(channel=_channel(r, max_concurrency=-(2**31)))
        ),
        "channel.max_concurrency",
    ),
    (
        "rate past the cap",
        lambda a, c, r: a.CreateChannel(
            pb.CreateChannelRequest(channel=_channel(r, rate_limit_per_second=2**31 - 1))
        ),
        "channel.rate_limit_per_second",
    ),
    (
        "mask with NUL",
        lambda a, c, r: a.UpdateChannel(
            pb.UpdateChannelRequest(
                channel=channel_pb2.Channel(id=c, name="x"),
                update_mask=FieldMask(paths=["name\x00"]),
            )
        ),
        "update_mask",
    ),
    # Values an error would quote back, and repeated fields it would list one by one: past the
    # client's metadata limit, the error arrived as RESOURCE_EXHAUSTED.
    ("get long id", lambda a, c, r: a.GetChannel(pb.GetChannelRequest(id="c" * 100_000)), "id"),
    (
        "log long channel",
        lambda a, c, r: a.ListDeliveryLog(pb.ListDeliveryLogRequest(channel_id="c" * 100_000)),
        "channel_id",
    ),
    (
        "mask long path",
        lambda a, c, r: a.UpdateChannel(
            pb.UpdateChannelRequest(
                channel=channel_pb2.Channel(id=c, name="x"),
                update_mask=FieldMask(paths=["x" * 100_000]),
            )
        ),
        "update_mask",
    ),
    (
        "mask many paths",
        lambda a, c, r: a.UpdateChannel(
            pb.UpdateChannelRequest(
                channel=channel_pb2.Channel(id=c, name="x"),
                update_mask=FieldMask(paths=[f"p{n}" for n in range(5000)]),
            )
        ),
        "update_mask",
    ),
    (
        "many retry delays",
        lambda a, c, r: a.CreateChannel(
            pb.CreateChannelRequest(channel=_channel(r, retry_schedule=[Duration()] * 5000))
        ),
        "channel.retry_schedule",
    ),
    *(
        (
            f"log token {index}",
            lambda a, c, r, token=token: a.ListDeliveryLog(
                pb.ListDeliveryLogRequest(page_token=token)
            ),
            "page_token",
        )
        for index, token in enumerate(FORGED_TOKENS)
    ),
    *(
        (
            f"channels token {index}",
            lambda a, c, r, token=token: a.ListChannels(pb.ListChannelsRequest(page_token=token)),
            "page_token",
        )
        for index, token in enumerate(FORGED_TOKENS)
    ),
]


@pytest.mark.parametrize(("call", "field"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
async def test_hostile_value_is_invalid_argument_naming_the_field(
    admin: AdminStub, receiver: Receiver, call: Call, field: str
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    failure = await rpc_failure(call(admin, channel_id, receiver))
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
    assert field in failure.message
