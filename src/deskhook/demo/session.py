"""One run of the demo, in one event loop: a server on a temporary database, a verifying
receiver, a channel made over the real gRPC API, sample events streamed in, and the webhook
log followed live until every delivery has settled. Everything is shut down on the way out."""

import asyncio
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import aiohttp
from google.protobuf.duration_pb2 import Duration

from deskhook.cli.enums import EVENT_TYPES, TICKET_EVENT_TYPES
from deskhook.cli.loop import run_async
from deskhook.cli.output import say
from deskhook.cli.stubs import AdminStub, IngestStub, admin_stub, ingest_stub
from deskhook.client import open_channel
from deskhook.config import Settings
from deskhook.demo.receiver import VerifyingReceiver
from deskhook.demo.report import Tally, log_header, log_line, problems, summary
from deskhook.demo.samples import SUPPORT_ID, SUPPORT_NAME, sample_events
from deskhook.logs import configure_logging
from deskhook.server import DeskhookServer
from deskhook.v1 import channel_admin_pb2, channel_pb2, event_ingest_pb2, event_pb2

# Short, so that the demo's one failed attempt is retried while the user watches.
RETRY_DELAY = Duration(seconds=1)
STUMBLE_ON = "ticket_comment"
# Beyond the pacing of the events: time for the last deliveries and the retry to settle.
SETTLE_SECONDS = 30.0


class DemoFailed(Exception):
    """The demo could not show every event type delivered and verified; the message says why."""


def run_demo(tickets: int, spacing: timedelta) -> bool:
    """Runs the demo; whether it showed every event type delivered and verified."""
    # The server's own log would drown the demo's; only its warnings and errors show.
    configure_logging("warning")
    try:
        run_async(_demo(tickets, spacing))
    except DemoFailed as failure:
        say(f"deskhook demo: {failure}", sys.stderr)
        return False
    return True


async def _demo(tickets: int, spacing: timedelta) -> None:
    """Streams the stories of `tickets` sample tickets, one event every `spacing`; raises
    DemoFailed unless every event type was delivered and verified."""
    admin_token, ingest_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    receiver = VerifyingReceiver(stumble_on=STUMBLE_ON)
    with tempfile.TemporaryDirectory(prefix="deskhook-demo-") as directory:
        database = Path(directory) / "deskhook.db"
        settings = Settings(
            listen="127.0.0.1:0",
            database=str(database),
            # Port 0: the demo must not collide with a deskhook already running.
            metrics_listen="127.0.0.1:0",
            console_listen="127.0.0.1:0",
            admin_tokens=(admin_token,),
            ingest_tokens=(ingest_token,),
            # The receiver is plain HTTP on loopback, which only these two settings permit.
            allow_http=True,
            allow_networks=(ip_network("127.0.0.0/8"),),
        )
        server = DeskhookServer(settings)
        async with AsyncExitStack() as stack:
            await receiver.start()
            stack.push_async_callback(receiver.stop)
            await server.start()
            stack.push_async_callback(server.stop)
            target = f"127.0.0.1:{server.port}"
            say(f"deskhook server    {target}, database {database}")
            say(f"webhook receiver   {receiver.url}, verifying with standardwebhooks")
            admin = admin_stub(await stack.enter_async_context(open_channel(target, admin_token)))
            ingest = ingest_stub(
                await stack.enter_async_context(open_channel(target, ingest_token))
            )
            channel_id = await _create_channel(admin, receiver)
            await _show_console(server.console_port, admin_token)
            events = sample_events(tickets, datetime.now(UTC), spacing)
            await _stream(
                admin,
                ingest,
                channel_id=channel_id,
                receiver=receiver,
                events=events,
                spacing=spacing,
            )


async def _create_channel(admin: AdminStub, receiver: VerifyingReceiver) -> str:
    created = await admin.CreateChannel(
        channel_admin_pb2.CreateChannelRequest(
            channel=channel_pb2.Channel(
                name="Demo CRM",
                url=receiver.url,
                department_id=SUPPORT_ID,
                subscriptions=[EVENT_TYPES.values[name] for name in TICKET_EVENT_TYPES],
                retries_enabled=True,
                retry_schedule=[RETRY_DELAY],
                # The live log shows each attempt as it ends, stamped with when it started:
                # attempts running side by side (all of --short's events arrive at once) end
                # in another order than they started, and the time column would jump back.
                max_concurrency=1,
            )
        )
    )
    receiver.trust(created.signing_secret)
    channel = created.channel
    say(
        f"channel            {channel.id} '{channel.name}': department {SUPPORT_ID} "
        f"({SUPPORT_NAME}), all {len(channel.subscriptions)} event types, retries on, one "
        "attempt at a time"
    )
    say(f"connection test    {channel.connection_status.message}")
    return channel.id


async def _show_console(port: int, token: str) -> None:
    """The console link of this run, once the JSON API has let its token in."""
    base = f"http://127.0.0.1:{port}/"
    async with (
        aiohttp.ClientSession(base) as session,
        session.post(
            "deskhook.v1.ChannelAdmin/ListChannels",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        listed = await response.json()
    if response.status != 200 or len(listed.get("channels", [])) != 1:
        raise DemoFailed(f"the console did not sign in ({response.status}: {listed})")
    say(f"console            {base}#token={token}")
    say("                   open it to watch the webhook log fill; it closes with the demo")


async def _stream(
    admin: AdminStub,
    ingest: IngestStub,
    *,
    channel_id: str,
    receiver: VerifyingReceiver,
    events: Sequence[event_pb2.Event],
    spacing: timedelta,
) -> None:
    watch = admin.WatchDeliveryLog(channel_admin_pb2.WatchDeliveryLogRequest(channel_id=channel_id))
    # Once the headers are in, every later attempt reaches this watch.
    await watch.initial_metadata()
    tally = Tally()

    async def follow(expected: asyncio.Future[int]) -> None:
        """Shows each attempt; returns once the `expected` deliveries have settled."""
        async for response in watch:
            if response.skipped_entries:
                say(f"  ({response.skipped_entries} log entries skipped)")
            entry = response.entry
            arrival = receiver.arrivals.get((entry.webhook_id, str(entry.attempt)))
            tally.add(entry, arrival)
            say(log_line(entry, arrival, tally.verified))
            if expected.done() and tally.settled >= expected.result():
                return

    say()
    tickets = len({event.ticket.id for event in events})
    say(f"Publishing {len(events)} events of {tickets} ticket(s); the webhook log as it fills:")
    say(log_header())
    expected: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    follower = asyncio.create_task(follow(expected))
    try:
        async with asyncio.timeout(len(events) * spacing.total_seconds() + SETTLE_SECONDS):
            expected.set_result(await _publish(ingest, events, spacing))
            # Else the follower is waiting for an entry that will not come.
            if tally.settled < expected.result():
                await follower
    except TimeoutError:
        say(f"  (gave up waiting: {tally.settled} deliveries settled)")
    finally:
        watch.cancel()
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    matched = expected.result() if expected.done() else 0
    verified = {name: len(ids) for name, ids in receiver.verified.items()}
    for line in summary(len(events), matched, tally, verified, receiver.rejected):
        say(line)
    if problems(tally, verified, receiver.rejected):
        raise DemoFailed("not every event type was delivered and verified")


async def _publish(
    ingest: IngestStub, events: Sequence[event_pb2.Event], spacing: timedelta
) -> int:
    """Streams `events` over PublishEvents, paced by `spacing`; the deliveries they matched."""

    async def requests() -> AsyncIterator[event_ingest_pb2.PublishEventsRequest]:
        for index, event in enumerate(events):
            if index and spacing:
                # Pacing for the person watching, not synchronisation.
                await asyncio.sleep(spacing.total_seconds())
            yield event_ingest_pb2.PublishEventsRequest(events=[event])

    matched = 0
    async for response in ingest.PublishEvents(requests()):
        for ack in response.acks:
            if ack.result == event_ingest_pb2.EVENT_ACK_RESULT_REJECTED:
                raise DemoFailed(f"event {ack.event_id} was rejected: {ack.reason}")
            matched += ack.matched_channels
    return matched
