"""Retention prunes the webhook log, finished deliveries and their events once older than the
retention period, and keeps everything pending or recent."""

from datetime import timedelta

from google.protobuf.duration_pb2 import Duration

from deskhook.config import Settings
from deskhook.core.pruner import Pruner
from deskhook.delivery.scheduler import DeliveryScheduler
from deskhook.server import DeskhookServer
from deskhook.store.open import open_store
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_pb2, event_pb2
from deskhook.v1 import event_ingest_pb2 as ingest_pb
from tests.support.clock import FakeClock
from tests.support.databases import fetch_rows
from tests.support.events import make_event
from tests.support.receiver import Answer, Receiver
from tests.support.server import AdminStub, IngestStub


async def counts(settings: Settings) -> list[int]:
    """Rows in events, deliveries and attempts."""
    return [
        (await fetch_rows(settings.database, f"SELECT COUNT(*) FROM {table}"))[0][0]
        for table in ("events", "deliveries", "attempts")
    ]


async def test_old_history_is_pruned_and_pending_work_kept(
    server: DeskhookServer,
    admin: AdminStub,
    ingest: IngestStub,
    receiver: Receiver,
    scheduler: DeliveryScheduler,
    settings: Settings,
    clock: FakeClock,
) -> None:
    for path in ("/ok", "/down"):
        await admin.CreateChannel(
            admin_pb.CreateChannelRequest(
                channel=channel_pb2.Channel(
                    name=path,
                    url=receiver.url(path),
                    department_id=7,
                    subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
                    retries_enabled=True,
                    retry_schedule=[Duration(seconds=86400)] * 20,
                )
            )
        )
    receiver.respond_at("/down", Answer(status=500))
    for event_id in ("old-1", "old-2"):
        await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=make_event(event_id)))
    await scheduler.drain()
    assert await counts(settings) == [2, 4, 4]

    clock.advance(timedelta(days=31))
    await ingest.PublishEvent(ingest_pb.PublishEventRequest(event=make_event("recent")))
    await scheduler.drain()
    # How many of the failing channel's go out before its fifth failing day disables it is a
    # race; today's attempts stay, whatever their number.
    attempted_today = (await counts(settings))[2] - 4
    store = await open_store(settings.database)
    try:
        removed = await Pruner(store, timedelta(days=30), now=clock).prune_once()
    finally:
        await store.close()
    # The first day's attempts and delivered deliveries go; the old events stay while their
    # failing deliveries are still pending (retried daily).
    assert removed == 4 + 2
    assert await counts(settings) == [3, 4, attempted_today]
