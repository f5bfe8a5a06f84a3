"""The JSON API on the console port (docs/design.md §12): the gRPC services over HTTP/1.1 in the
Connect protocol, with the same tokens, scope and statuses as over gRPC, on both stores. A
real server and real HTTP requests, as `curl` sends them."""

import asyncio
import base64
import json
import struct
from collections.abc import AsyncGenerator, AsyncIterator, MutableMapping
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from structlog.testing import capture_logs

from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.domain.sign_in import SignInPolicy
from deskhook.server import DeskhookServer
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from deskhook.v1 import event_pb2
from tests.support.channels import add_channel
from tests.support.clock import FakeClock
from tests.support.events import make_event
from tests.support.receiver import Receiver
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, AdminStub, IngestStub

ADMIN = "/deskhook.v1.ChannelAdmin/"
INGEST = "/deskhook.v1.EventIngest/"


@pytest.fixture
async def http(server: DeskhookServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.console_port}") as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    path: str,
    body: object,
    token: str | None = ADMIN_TOKEN,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    """POST `body` (JSON, or bytes as they are) to `path` with `token`: the status and the JSON
    answer."""
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with http.post(path, data=data, headers=headers) as response:
        text = await response.text()
        return response.status, json.loads(text) if text.startswith("{") else text


def reason(error: dict[str, Any]) -> str:
    """The ErrorInfo reason among a Connect error's details, decoded from its bytes."""
    (info,) = [d for d in error["details"] if d["type"] == "google.rpc.ErrorInfo"]
    value = base64.b64decode(info["value"] + "=" * (-len(info["value"]) % 4))
    parsed: str = error_details_pb2.ErrorInfo.FromString(value).reason
    assert info["debug"]["reason"] == parsed
    return parsed


async def test_a_channel_made_over_grpc_is_listed_and_fetched_as_json(
    http: aiohttp.ClientSession, admin: AdminStub, receiver: Receiver
) -> None:
    channel_id, _ = await add_channel(admin, receiver, name="CRM <b>")
    status, listed = await call(http, ADMIN + "ListChannels", {})
    assert status == 200
    assert [(c["id"], c["name"]) for c in listed["channels"]] == [(channel_id, "CRM <b>")]
    status, got = await call(http, ADMIN + "GetChannel", {"id": channel_id})
    assert (status, got["channel"]["departmentId"], got["channel"]["url"]) == (
        200,
        "7",
        receiver.url("/hook"),
    )


@pytest.mark.parametrize(
    ("token", "http_status", "code", "expected_reason"),
    [
        (None, 401, "unauthenticated", "UNAUTHENTICATED"),
        ("wrong", 401, "unauthenticated", "UNAUTHENTICATED"),
        (INGEST_TOKEN, 403, "permission_denied", "PERMISSION_DENIED"),
    ],
    ids=["no token", "a wrong token", "the ingest token"],
)
async def test_a_call_without_an_admin_token_is_refused_as_over_grpc(
    http: aiohttp.ClientSession,
    token: str | None,
    http_status: int,
    code: str,
    expected_reason: str,
) -> None:
    status, error = await call(http, ADMIN + "ListChannels", {}, token)
    assert (status, error["code"], reason(error)) == (http_status, code, expected_reason)


async def test_a_missing_channel_is_not_found_with_its_reason(http: aiohttp.ClientSession) -> None:
    status, error = await call(http, ADMIN + "GetChannel", {"id": "nope"})
    assert (status, error["code"], reason(error)) == (404, "not_found", "CHANNEL_NOT_FOUND")


async def test_a_bad_field_is_invalid_argument_naming_it(http: aiohttp.ClientSession) -> None:
    status, error = await call(http, ADMIN + "CreateChannel", {"channel": {"name": "x"}})
    assert (status, error["code"]) == (400, "invalid_argument")
    violations = [d for d in error["details"] if d["type"] == "google.rpc.BadRequest"]
    fields = {v["field"] for v in violations[0]["debug"]["fieldViolations"]}
    assert "channel.url" in fields


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"id": 5}', b'{"id": "' + b"9" * 5000 + b'"', b"[" * 5000, b"\xff\xfe"],
    ids=["broken", "wrong type", "cut off", "deep", "not UTF-8"],
)
async def test_an_unreadable_body_is_invalid_argument(
    http: aiohttp.ClientSession, body: bytes
) -> None:
    status, error = await call(http, ADMIN + "GetChannel", body)
    assert (status, error["code"], reason(error)) == (400, "invalid_argument", "MALFORMED_REQUEST")


async def test_only_post_with_a_connect_content_type_is_taken(http: aiohttp.ClientSession) -> None:
    status, _ = await call(http, ADMIN + "ListChannels", b"id=1", content_type="text/plain")
    assert status == 415
    async with http.get(ADMIN + "ListChannels") as response:
        assert (response.status, response.headers["Allow"]) == (405, "POST")
    # A streaming method over HTTP/1.1 needs both directions at once: not served here.
    status, _ = await call(http, INGEST + "PublishEvents", {}, INGEST_TOKEN)
    assert status == 404


async def test_binary_protobuf_is_answered_in_kind(
    http: aiohttp.ClientSession, admin: AdminStub, receiver: Receiver
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    request = pb.GetChannelRequest(id=channel_id).SerializeToString()
    headers = {"Content-Type": "application/proto", "Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with http.post(ADMIN + "GetChannel", data=request, headers=headers) as response:
        assert response.headers["Content-Type"] == "application/proto"
        got = pb.GetChannelResponse.FromString(await response.read())
    assert got.channel.id == channel_id


async def test_an_event_published_as_json_is_delivered(
    http: aiohttp.ClientSession, admin: AdminStub, receiver: Receiver
) -> None:
    await add_channel(admin, receiver)
    event = json.loads(json_of(make_event("evt-json")))
    status, answer = await call(http, INGEST + "PublishEvent", {"event": event}, INGEST_TOKEN)
    assert (status, answer["ack"]["eventId"], answer["ack"]["result"]) == (
        200,
        "evt-json",
        "EVENT_ACK_RESULT_ACCEPTED",
    )
    # The first request was the channel's connection test.
    _, request = await receiver.wait_for_requests(2)
    assert json.loads(request.body)["event_id"] == "evt-json"


def json_of(event: event_pb2.Event) -> str:
    return json_format.MessageToJson(event)


async def stream(
    http: aiohttp.ClientSession, path: str, body: object, token: str = ADMIN_TOKEN
) -> AsyncGenerator[tuple[int, Any], None]:
    """A Connect server stream: each enveloped message's flags and JSON, as they come."""
    data = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/connect+json",
        "Authorization": f"Bearer {token}",
    }
    envelope = struct.pack(">BI", 0, len(data)) + data
    async with http.post(path, data=envelope, headers=headers) as response:
        assert response.status == 200
        while header := await response.content.readexactly(5):
            flags, size = struct.unpack(">BI", header)
            yield flags, json.loads(await response.content.readexactly(size))
            if flags & 0x02:
                return


async def test_the_log_is_watched_live_as_a_connect_stream(
    http: aiohttp.ClientSession, admin: AdminStub, ingest: IngestStub, receiver: Receiver
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    messages = stream(http, ADMIN + "WatchDeliveryLog", {"channelId": channel_id})
    await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=make_event("evt-live")))
    async for flags, message in messages:
        assert flags == 0
        assert message["entry"]["eventId"] == "evt-live"
        break
    await messages.aclose()


async def test_a_refused_stream_ends_with_its_error(http: aiohttp.ClientSession) -> None:
    messages = [m async for m in stream(http, ADMIN + "WatchDeliveryLog", {"channelId": "nope"})]
    ((flags, end),) = messages
    assert flags == 0x02
    assert (end["error"]["code"], reason(end["error"])) == ("not_found", "CHANNEL_NOT_FOUND")


async def test_another_accounts_channel_does_not_exist_for_an_account_token(
    http: aiohttp.ClientSession, admin: AdminStub, receiver: Receiver
) -> None:
    channel_id, _ = await add_channel(admin, receiver, account_id="other")
    status, minted = await call(http, ADMIN + "CreateAccessToken", {"accountId": "acme"})
    assert status == 200
    token = minted["token"]
    status, error = await call(http, ADMIN + "GetChannel", {"id": channel_id}, token)
    assert (status, error["code"]) == (404, "not_found")
    status, listed = await call(http, ADMIN + "ListChannels", {}, token)
    assert (status, listed) == (200, {})


async def test_every_answer_keeps_browsers_from_leaking_or_framing_it(
    http: aiohttp.ClientSession,
) -> None:
    async with http.post(ADMIN + "ListChannels", json={}) as response:
        headers = response.headers
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Server"] == "deskhook"


async def test_an_address_offering_refused_tokens_is_turned_away_for_a_while(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    policy = SignInPolicy()
    for _ in range(policy.burst):
        status, _ = await call(http, ADMIN + "ListChannels", {}, "guessed-token")
        assert status == 401
    # Even a good token, from there, waits: the address is what is counted.
    status, error = await call(http, ADMIN + "ListChannels", {})
    assert (status, error["code"], reason(error)) == (
        429,
        "resource_exhausted",
        "SIGN_IN_RATE_LIMITED",
    )
    clock.advance(timedelta(seconds=60 / policy.per_minute))
    status, _ = await call(http, ADMIN + "ListChannels", {})
    assert status == 200


async def test_a_watcher_gone_mid_stream_ends_its_call_as_cancelled(
    http: aiohttp.ClientSession,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel_id, _ = await add_channel(admin, receiver)
    data = json.dumps({"channelId": channel_id}).encode()
    envelope = struct.pack(">BI", 0, len(data)) + data
    headers = {"Content-Type": "application/connect+json", "Authorization": f"Bearer {ADMIN_TOKEN}"}

    def watch_lines() -> list[MutableMapping[str, Any]]:
        return [line for line in logs if line.get("method") == ADMIN + "WatchDeliveryLog"]

    with capture_logs() as logs:
        async with http.post(ADMIN + "WatchDeliveryLog", data=envelope, headers=headers) as got:
            assert got.status == 200
            # Gone with the headers only: the connection closes unread.
            got.close()
        # The next attempt finds no one to tell.
        await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=make_event("evt-gone")))
        await scheduler.drain()
        async with asyncio.timeout(5):
            # The call's line is written when the server finds the client gone: nothing to await.
            while not watch_lines():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert [line["code"] for line in watch_lines()] == ["CANCELLED"]
    assert [r.getMessage() for r in caplog.records if r.name == "aiohttp.server"] == []
