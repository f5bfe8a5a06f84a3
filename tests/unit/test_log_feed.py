"""A watcher that falls behind skips ahead and is told how much it missed; delivery never
waits for it."""

from datetime import UTC, datetime, timedelta

from deskhook.api.log_feed import WATCHER_BUFFER, LogFeed
from deskhook.domain.accounts import EVERY_ACCOUNT, Scope
from deskhook.domain.delivery import Attempt, AttemptOutcome
from deskhook.domain.events import EventType


def record(number: int, channel_id: str = "ch_a", account_id: str = "") -> Attempt:
    return Attempt(
        account_id=account_id,
        delivery_id=number,
        channel_id=channel_id,
        event_id=f"e-{number}",
        event_type=EventType.TICKET_CREATE,
        ticket_id=1,
        ticket_number="HD-1",
        attempt=1,
        http_status=200,
        response_body="",
        outcome=AttemptOutcome.DELIVERED,
        attempted_at=datetime.now(UTC),
        duration=timedelta(milliseconds=3),
        error="",
        failure=None,
        webhook_id="msg_x",
        next_attempt_at=None,
    )


async def test_a_slow_watcher_skips_ahead() -> None:
    log = LogFeed()
    with log.watch(EVERY_ACCOUNT, "") as watcher:
        for number in range(WATCHER_BUFFER + 5):
            log.publish(record(number))
        first, skipped = await watcher.next()
        assert (first.event_id, skipped) == ("e-5", 5)
        second, skipped = await watcher.next()
        assert (second.event_id, skipped) == ("e-6", 0)


async def test_a_watcher_sees_only_its_channel() -> None:
    log = LogFeed()
    with log.watch(EVERY_ACCOUNT, "ch_b") as watcher:
        log.publish(record(1, "ch_a"))
        log.publish(record(2, "ch_b"))
        entry, _ = await watcher.next()
    assert entry.event_id == "e-2"
    log.publish(record(3, "ch_b"))  # after the watcher left: nobody to hand it to


async def test_an_account_watcher_sees_only_its_account() -> None:
    log = LogFeed()
    with log.watch(Scope("acme"), "") as watcher:
        log.publish(record(1, account_id="globex"))
        log.publish(record(2, account_id=""))
        log.publish(record(3, account_id="acme"))
        entry, skipped = await watcher.next()
    assert (entry.event_id, skipped) == ("e-3", 0)
