"""Creating channels in tests, over the real ChannelAdmin API."""

from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_pb2, event_pb2
from tests.support.receiver import Receiver
from tests.support.server import AdminStub


async def add_channel(
    admin: AdminStub, receiver: Receiver, path: str = "/hook", **fields: object
) -> tuple[str, str]:
    """A channel for department 7 and ticket_create; its id and signing secret."""
    spec: dict[str, object] = {
        "name": "crm",
        "url": receiver.url(path),
        "department_id": 7,
        "subscriptions": [event_pb2.EVENT_TYPE_TICKET_CREATE],
        "retries_enabled": True,
    }
    spec.update(fields)
    created = await admin.CreateChannel(
        admin_pb.CreateChannelRequest(channel=channel_pb2.Channel(**spec))  # type: ignore[arg-type]
    )
    return created.channel.id, created.signing_secret
