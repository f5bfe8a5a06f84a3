"""Signing secrets are returned to the admin and never written to a log line, nor is the
database's password (a PostgreSQL URL may carry one)."""

import io
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import structlog

from deskhook.config import Settings
from deskhook.logs import configure_logging
from deskhook.store.location import redacted
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_pb2, event_pb2
from tests.support.receiver import Receiver
from tests.support.server import AdminStub


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    yield stream
    structlog.reset_defaults()


async def test_no_secret_in_any_log_line(
    captured_logs: io.StringIO,
    admin: AdminStub,
    receiver: Receiver,
    settings: Settings,
) -> None:
    created = await admin.CreateChannel(
        pb.CreateChannelRequest(
            channel=channel_pb2.Channel(
                name="secretive",
                url=receiver.url(),
                department_id=1,
                subscriptions=[event_pb2.EVENT_TYPE_TICKET_CLOSE],
            )
        )
    )
    rotated = await admin.RotateSigningSecret(pb.RotateSigningSecretRequest(id=created.channel.id))
    await admin.TestConnection(pb.TestConnectionRequest(channel_id=created.channel.id))
    await admin.TestConnection(pb.TestConnectionRequest(url=receiver.url()))

    lines = captured_logs.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    events = [record["event"] for record in records]
    assert [r["database"] for r in records if r["event"] == "listening"] == [
        redacted(settings.database)
    ]
    assert "channel created" in events
    assert "signing secret rotated" in events
    assert events.count("rpc") >= 4
    for secret in (created.signing_secret, rotated.signing_secret):
        key = secret.removeprefix("whsec_")
        assert not [line for line in lines if key in line]
    assert not [line for line in lines if "whsec_" in line]
    # The suite's PostgreSQL URL has one whenever scripts/test started the server (as in CI).
    if password := urlsplit(settings.database).password:
        assert not [line for line in lines if password in line]
