"""A database that cannot serve a call now (a SQLite file another process holds the write lock
of, a PostgreSQL database that dropped its connections and refuses new ones) is answered
UNAVAILABLE, which gRPC clients retry, not INTERNAL; once it is back the same calls succeed."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import grpc
import pytest

from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.server import Tuning
from deskhook.store.location import is_postgres_url
from deskhook.v1 import (
    channel_admin_pb2,
    channel_admin_pb2_grpc,
    event_ingest_pb2,
    event_ingest_pb2_grpc,
)
from tests.support.channels import add_channel
from tests.support.databases import PostgresServer, blocked_on_a_lock
from tests.support.events import make_event
from tests.support.receiver import Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, AdminStub, IngestStub, running

Call = Callable[[], Awaitable[Any]]


@asynccontextmanager
async def out_of_service(database: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The database unable to serve deskhook until the block ends; the ErrorInfo reason that
    says so."""
    if not is_postgres_url(database):
        # Another process's write lock, held past deskhook's busy timeout.
        with closing(sqlite3.connect(database, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            try:
                yield "DATABASE_BUSY"
            finally:
                other.execute("ROLLBACK")
        return
    name = urlsplit(database).path[1:]
    # From another database: PostgreSQL will not shut out the one a session is in.
    server: PostgresServer = request.getfixturevalue("postgres_server")
    connection = await asyncpg.connect(server.url)
    try:
        # New connections refused, and every one deskhook holds ended (waited for, 5 s at most).
        await connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await connection.fetch(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        yield "DATABASE_UNAVAILABLE"
    finally:
        await connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await connection.close()


def writes(admin: AdminStub, ingest: IngestStub, channel_id: str, receiver: Receiver) -> list[Call]:
    async def publish_stream() -> list[Any]:
        requests = [event_ingest_pb2.PublishEventsRequest(events=[make_event("evt-stream")])]
        return [response async for response in ingest.PublishEvents(iter(requests))]

    return [
        lambda: ingest.PublishEvent(event_ingest_pb2.PublishEventRequest(event=make_event("e1"))),
        publish_stream,
        lambda: add_channel(admin, receiver, name="second"),
        lambda: admin.RotateSigningSecret(
            channel_admin_pb2.RotateSigningSecretRequest(id=channel_id)
        ),
        lambda: admin.Redeliver(
            channel_admin_pb2.RedeliverRequest(channel_id=channel_id, event_id="e1")
        ),
    ]


def reads(admin: AdminStub, channel_id: str) -> list[Call]:
    return [
        lambda: admin.GetChannel(channel_admin_pb2.GetChannelRequest(id=channel_id)),
        lambda: admin.ListChannels(channel_admin_pb2.ListChannelsRequest()),
        lambda: admin.ListDeliveryLog(
            channel_admin_pb2.ListDeliveryLogRequest(channel_id=channel_id)
        ),
    ]


async def test_a_database_out_of_service_answers_unavailable(
    settings: Settings, tuning: Tuning, receiver: Receiver, request: pytest.FixtureRequest
) -> None:
    # A short wait for the lock, so that each call gives up at once.
    async with (
        running(settings, replace(tuning, busy_timeout_ms=50)) as server,
        open_channel(f"127.0.0.1:{server.port}", ADMIN_TOKEN) as admin_channel,
        open_channel(f"127.0.0.1:{server.port}", INGEST_TOKEN) as ingest_channel,
    ):
        admin = channel_admin_pb2_grpc.ChannelAdminStub(admin_channel)
        ingest = event_ingest_pb2_grpc.EventIngestStub(ingest_channel)
        channel_id, _ = await add_channel(admin, receiver)
        calls = writes(admin, ingest, channel_id, receiver)
        if is_postgres_url(settings.database):
            # Reads on SQLite do not wait for a writer's lock (WAL).
            calls += reads(admin, channel_id)
        # Last: once it succeeds, the channel is gone.
        calls.append(
            lambda: admin.DeleteChannel(channel_admin_pb2.DeleteChannelRequest(id=channel_id))
        )
        async with out_of_service(settings.database, request) as reason:
            for call in calls:
                failure = await rpc_failure(call())
                assert (failure.code, failure.reason) == (grpc.StatusCode.UNAVAILABLE, reason)
                assert failure.message.endswith("; retry")
        for call in calls:
            await call()


async def test_a_postgres_connection_lost_mid_query_answers_unavailable(
    postgres_database: str,
) -> None:
    """The pool's connection ends under a query (here: killed while it waits for a lock): the
    query's own error, not a refused reconnect, is what the call meets."""
    settings = Settings(
        listen="127.0.0.1:0", metrics_listen="", console_listen="", database=postgres_database
    )
    locker = await asyncpg.connect(postgres_database)
    try:
        async with (
            running(settings) as server,
            open_channel(f"127.0.0.1:{server.port}") as channel,
        ):
            admin = channel_admin_pb2_grpc.ChannelAdminStub(channel)
            async with locker.transaction():
                await locker.execute("LOCK TABLE channels IN ACCESS EXCLUSIVE MODE")
                listing = asyncio.ensure_future(
                    admin.ListChannels(channel_admin_pb2.ListChannelsRequest())
                )
                await blocked_on_a_lock(locker)
                await locker.execute(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                failure = await rpc_failure(listing)
            assert (failure.code, failure.reason) == (
                grpc.StatusCode.UNAVAILABLE,
                "DATABASE_UNAVAILABLE",
            )
            # The pool replaces the connection it lost.
            await admin.ListChannels(channel_admin_pb2.ListChannelsRequest())
    finally:
        await locker.close()


async def test_an_account_token_unchecked_while_postgres_is_out_answers_unavailable(
    postgres_database: str, request: pytest.FixtureRequest
) -> None:
    """A check that must read the keys and revocations again (here: the replica has just
    revoked another account's tokens) and cannot is UNAVAILABLE, not a refused token."""
    settings = Settings(
        listen="127.0.0.1:0",
        metrics_listen="",
        console_listen="",
        database=postgres_database,
        admin_tokens=(ADMIN_TOKEN,),
        ingest_tokens=(INGEST_TOKEN,),
    )
    async with (
        running(settings) as server,
        open_channel(f"127.0.0.1:{server.port}", ADMIN_TOKEN) as admin_channel,
    ):
        admin = channel_admin_pb2_grpc.ChannelAdminStub(admin_channel)
        minted = await admin.CreateAccessToken(
            channel_admin_pb2.CreateAccessTokenRequest(account_id="acme")
        )
        async with open_channel(f"127.0.0.1:{server.port}", minted.token) as account_channel:
            account = channel_admin_pb2_grpc.ChannelAdminStub(account_channel)
            await admin.RevokeAccessTokens(
                channel_admin_pb2.RevokeAccessTokensRequest(account_id="other")
            )
            async with out_of_service(postgres_database, request) as reason:
                failure = await rpc_failure(
                    account.ListChannels(channel_admin_pb2.ListChannelsRequest())
                )
                assert (failure.code, failure.reason) == (grpc.StatusCode.UNAVAILABLE, reason)
            await account.ListChannels(channel_admin_pb2.ListChannelsRequest())
