"""The scope the auth interceptor decides reaches the servicer through `caller_scope(context)`
(docs/design.md §10), in a real grpc.aio server with the real interceptors: in unary and
server-streaming methods, each call its own scope however many run at once."""

import asyncio
import contextvars
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from deskhook.api import grpc_server
from deskhook.api.auth import TokenRules
from deskhook.api.caller import caller_scope
from deskhook.client import open_channel
from deskhook.core.access_tokens import AccessTokens
from deskhook.domain.accounts import Scope
from deskhook.store.memory.store import MemoryStore
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2
from tests.support.access_tokens import counting_bytes
from tests.support.clock import FakeClock
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN

Context = Any
STREAMED = 3


def shown(scope: Scope) -> str:
    return f"{scope.account_id}|{scope.read_only}"


class ScopeProbe(channel_admin_pb2_grpc.ChannelAdminServicer):
    """Answers with the scope it finds, in a unary and in a server-streaming method."""

    async def GetChannel(
        self, request: pb.GetChannelRequest, context: Context
    ) -> pb.GetChannelResponse:
        # Other calls run meanwhile.
        await asyncio.sleep(0)
        return pb.GetChannelResponse(channel=channel_pb2.Channel(name=shown(caller_scope(context))))

    async def WatchDeliveryLog(
        self, request: pb.WatchDeliveryLogRequest, context: Context
    ) -> AsyncIterator[pb.WatchDeliveryLogResponse]:
        for _ in range(STREAMED):
            await asyncio.sleep(0)
            yield pb.WatchDeliveryLogResponse(
                entry=channel_pb2.DeliveryLogEntry(response_body=shown(caller_scope(context)))
            )


@pytest.fixture
async def tokens() -> AccessTokens:
    tokens = AccessTokens(MemoryStore(), now=FakeClock(), random_bytes=counting_bytes())
    await tokens.start()
    return tokens


@pytest.fixture
async def target(tokens: AccessTokens) -> AsyncIterator[str]:
    chain = grpc_server.interceptors(TokenRules((ADMIN_TOKEN,), (INGEST_TOKEN,)), tokens)
    server = grpc_server.new_server(chain, 10)
    channel_admin_pb2_grpc.add_ChannelAdminServicer_to_server(ScopeProbe(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(0)


async def scopes_seen(target: str, token: str) -> list[str]:
    """What the probe saw for `token`: in GetChannel, then in each streamed response."""
    async with open_channel(target, token) as channel:
        stub = channel_admin_pb2_grpc.ChannelAdminStub(channel)
        got = await stub.GetChannel(pb.GetChannelRequest(id="x"))
        streamed = [
            response.entry.response_body
            async for response in stub.WatchDeliveryLog(pb.WatchDeliveryLogRequest())
        ]
        return [got.channel.name, *streamed]


async def test_each_call_sees_its_own_tokens_scope(target: str, tokens: AccessTokens) -> None:
    callers = {
        ADMIN_TOKEN: "None|False",
        (await tokens.create("acme", False, None)).minted.token: "acme|False",
        (await tokens.create("acme", True, None)).minted.token: "acme|True",
        (await tokens.create("", True, timedelta(days=7))).minted.token: "|True",
        (await tokens.create("globex", False, None)).minted.token: "globex|False",
    }
    # Each caller several times, all at once: no call sees another's scope.
    order = [token for token in callers for _ in range(4)]
    seen = await asyncio.gather(*(scopes_seen(target, token) for token in order))
    assert seen == [[callers[token]] * (1 + STREAMED) for token in order]


def test_a_method_reached_without_the_interceptor_has_no_scope() -> None:
    with pytest.raises(RuntimeError, match="no caller scope"):
        contextvars.Context().run(caller_scope, None)  # type: ignore[arg-type]
