"""A database written before accounts existed (SQLite schema 6, PostgreSQL schema 5) is
migrated when deskhook opens it, and what it held lands in the default account and keeps
working: its channels and log are listed there, its pending deliveries go out, its event ids
are still duplicates there (and new in another account), and its create request ids still
answer (docs/design.md §10)."""

import sqlite3
from contextlib import closing
from datetime import datetime, timedelta

import asyncpg
import grpc
from standardwebhooks import Webhook

from deskhook.api.convert import spec_from_proto
from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.core.channel_service import request_hash
from deskhook.domain.times import to_micros
from deskhook.server import Tuning
from deskhook.store.location import is_postgres_url
from deskhook.store.migration_files import load_migrations
from deskhook.store.postgres import migrations as postgres_migrations
from deskhook.store.sqlite import migrations as sqlite_migrations
from deskhook.v1 import channel_admin_pb2 as pb
from deskhook.v1 import channel_admin_pb2_grpc, channel_pb2, event_ingest_pb2_grpc, event_pb2
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.clock import FakeClock
from tests.support.databases import fetch_rows
from tests.support.delivery import DELIVERED, deliveries
from tests.support.events import make_event
from tests.support.ingest import ACCEPTED, DUPLICATE
from tests.support.receiver import Receiver
from tests.support.rpc_errors import rpc_failure
from tests.support.server import ADMIN_TOKEN, INGEST_TOKEN, running

# The last schema versions before accounts.
SQLITE_BEFORE_ACCOUNTS = 6
POSTGRES_BEFORE_ACCOUNTS = 5
OLD_SECRET = "whsec_" + "b2xkIHNlY3JldCBvZiB0aGUgb2xkIGNoYW5uZWw="
REQUEST_ID = "req-old"


async def migrate_to_before_accounts(database: str) -> None:
    """Bring the test's fresh database to the schema an older deskhook left, the last before
    accounts: its store's migrations up to that version only."""
    if not is_postgres_url(database):
        with closing(sqlite3.connect(database)) as db:
            for migration in load_migrations(sqlite_migrations.PACKAGE)[:SQLITE_BEFORE_ACCOUNTS]:
                db.executescript(migration.sql)
                db.execute(f"PRAGMA user_version = {migration.version}")
        return
    connection = await asyncpg.connect(database)
    try:
        # The test's database comes migrated to the end: it starts over, empty.
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        # The table postgres/migrations.py keeps its versions in.
        await connection.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in load_migrations(postgres_migrations.PACKAGE)[:POSTGRES_BEFORE_ACCOUNTS]:
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
    finally:
        await connection.close()


async def insert(database: str, sql: str, *values: object) -> None:
    """One statement with `?` placeholders, on either store."""
    if not is_postgres_url(database):
        with closing(sqlite3.connect(database)) as db, db:
            db.execute(sql, values)
        return
    parts = sql.split("?")
    numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
    connection = await asyncpg.connect(database)
    try:
        await connection.execute(numbered, *values)
    finally:
        await connection.close()


def old_channel(receiver: Receiver) -> channel_pb2.Channel:
    """The channel the old deskhook was asked to create, as its CreateChannel sent it."""
    return channel_pb2.Channel(
        name="old crm",
        url=receiver.url("/old"),
        department_id=7,
        subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
    )


async def fill(database: str, receiver: Receiver, now: datetime) -> None:
    """What an older deskhook stored: a channel created with a request id and its secret; an
    event delivered, with its log entry; an event whose delivery still waits."""
    at = to_micros(now - timedelta(minutes=5))
    channel = old_channel(receiver)
    await insert(
        database,
        "INSERT INTO channels (id, name, url, department_id, subscriptions, retries_enabled,"
        " enabled, ordering, max_concurrency, rate_limit_per_second, create_request_id,"
        " create_request_hash, create_time, update_time)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "ch_old",
        channel.name,
        channel.url,
        7,
        '["ticket_create"]',
        False,
        True,
        "unordered",
        0,
        0,
        REQUEST_ID,
        request_hash(spec_from_proto(channel)),
        at,
        at,
    )
    await insert(
        database,
        "INSERT INTO signing_secrets (channel_id, secret, create_time) VALUES (?, ?, ?)",
        "ch_old",
        OLD_SECRET,
        at,
    )
    for event_id, state in (("old-done", "delivered"), ("old-pending", "pending")):
        event = make_event(event_id)
        await insert(
            database,
            "INSERT INTO events (event_id, event_type, ticket_id, ticket_number, occurred_at,"
            " received_at, matched_channels, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            event_id,
            "ticket_create",
            event.ticket.id,
            event.ticket.unique_id,
            at,
            at,
            1,
            event.SerializeToString(),
        )
        await insert(
            database,
            "INSERT INTO deliveries (event_seq, channel_id, ticket_id, state, attempts, due_at,"
            " create_time, finished_at)"
            " VALUES ((SELECT seq FROM events WHERE event_id = ?), ?, ?, ?, ?, ?, ?, ?)",
            event_id,
            "ch_old",
            event.ticket.id,
            state,
            1 if state == "delivered" else 0,
            None if state == "delivered" else at,
            at,
            at if state == "delivered" else None,
        )
    await insert(
        database,
        "INSERT INTO attempts (delivery_id, channel_id, event_id, event_type, ticket_id,"
        " ticket_number, attempt, http_status, response_body, outcome, attempted_at,"
        " duration_us, error, failure_reason, webhook_id)"
        " VALUES (1, 'ch_old', 'old-done', 'ticket_create', 1001, 'HD-1001', 1, 200, 'ok',"
        " 'delivered', ?, 20000, '', '', 'msg_old')",
        at,
    )


async def test_data_from_before_accounts_lands_in_the_default_account_and_keeps_working(
    database: str, settings: Settings, tuning: Tuning, clock: FakeClock, receiver: Receiver
) -> None:
    await migrate_to_before_accounts(database)
    await fill(database, receiver, clock())
    async with (
        running(settings, tuning) as server,
        open_channel(f"127.0.0.1:{server.port}", ADMIN_TOKEN) as admin_channel,
        open_channel(f"127.0.0.1:{server.port}", INGEST_TOKEN) as ingest_channel,
    ):
        admin = channel_admin_pb2_grpc.ChannelAdminStub(admin_channel)
        ingest = event_ingest_pb2_grpc.EventIngestStub(ingest_channel)
        assert server.scheduler is not None

        async def listed(account_id: str) -> list[str]:
            request = pb.ListChannelsRequest(account_id=account_id)
            return [channel.id for channel in (await admin.ListChannels(request)).channels]

        async def logged(account_id: str) -> list[tuple[str, str]]:
            request = pb.ListDeliveryLogRequest(account_id=account_id)
            entries = (await admin.ListDeliveryLog(request)).entries
            return [(entry.event_id, entry.account_id) for entry in entries]

        # Everything is the default account's.
        assert await listed("") == ["ch_old"]
        assert await listed("a") == []
        got = (await admin.GetChannel(pb.GetChannelRequest(id="ch_old"))).channel
        assert (got.account_id, got.name) == ("", "old crm")

        # The delivery that waited goes out, signed with the old secret, and is logged in the
        # default account with the old entry.
        await server.scheduler.drain()
        (request,) = deliveries(receiver, "/old")
        payload = Webhook(OLD_SECRET).verify(request.body, dict(request.headers))
        assert payload["event_id"] == "old-pending"
        assert "account_id" not in payload
        assert await logged("") == [("old-pending", ""), ("old-done", "")]
        assert await logged("a") == []
        (entry, _) = (await admin.ListDeliveryLog(pb.ListDeliveryLogRequest())).entries
        assert (entry.outcome, entry.http_status) == (DELIVERED, 200)

        # An old event id is a duplicate in the default account, and new in another.
        for event, result in (
            (make_event("old-done"), (DUPLICATE, 1)),
            (make_event("old-done", account_id="a"), (ACCEPTED, 0)),
        ):
            ack = (await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=event))).ack
            assert (ack.result, ack.matched_channels) == result

        # The old create request id still answers with its channel and first secret, and a
        # different request under it is refused; in another account it is free.
        retry = pb.CreateChannelRequest(channel=old_channel(receiver), request_id=REQUEST_ID)
        again = await admin.CreateChannel(retry)
        assert (again.channel.id, again.signing_secret) == ("ch_old", OLD_SECRET)
        retry.channel.name = "another"
        reused = await rpc_failure(admin.CreateChannel(retry))
        assert (reused.code, reused.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
        retry.channel.account_id = "a"
        elsewhere = await admin.CreateChannel(retry)
        assert (elsewhere.channel.id, elsewhere.channel.account_id) != ("ch_old", "")
        assert await listed("a") == [elsewhere.channel.id]

    # As stored: the old rows in the default account, the new ones where they were sent.
    rows = {
        table: await fetch_rows(database, f"SELECT {columns} FROM {table} ORDER BY {order}")
        for table, columns, order in (
            ("channels", "account_id, id", "seq"),
            ("events", "account_id, event_id", "seq"),
            ("attempts", "account_id, event_id", "id"),
        )
    }
    assert rows == {
        "channels": [("", "ch_old"), ("a", elsewhere.channel.id)],
        "events": [("", "old-done"), ("", "old-pending"), ("a", "old-done")],
        "attempts": [("", "old-done"), ("", "old-pending")],
    }
    assert await schema_version(database) == len(
        load_migrations(
            postgres_migrations.PACKAGE if is_postgres_url(database) else sqlite_migrations.PACKAGE
        )
    )


async def schema_version(database: str) -> int:
    if not is_postgres_url(database):
        with closing(sqlite3.connect(database)) as db:
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
        return version
    [(version,)] = await fetch_rows(database, "SELECT MAX(version) FROM schema_migrations")
    return int(version)
