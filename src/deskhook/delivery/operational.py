"""Operational notices (docs/design.md §13): what delivery saw that an administrator must act on,
stored as events for the operational channel, which the same engine then delivers, retries and
logs like any other. Nothing about the operational channel itself is ever reported: its own
failures would otherwise report on themselves without end."""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import structlog

from deskhook.delivery.payload import notice_payload
from deskhook.domain.breaker import ChannelHealth, CircuitState
from deskhook.domain.channel_spec import Channel
from deskhook.domain.delivery import Attempt
from deskhook.domain.events import EventType, MatchedEvent, PublishedEvent
from deskhook.domain.operational import (
    OPERATIONAL_CHANNEL_ID,
    SYSTEM_ACCOUNT,
    Notice,
    notice,
    reports_on,
)
from deskhook.domain.times import to_micros
from deskhook.store.base import Store

log = structlog.get_logger("deskhook.operational")


def answer(attempt: Attempt) -> str:
    """What the receiver answered, in words."""
    return attempt.error or f"HTTP {attempt.http_status}"


def as_event(notice: Notice) -> PublishedEvent:
    """A notice as an event of the system account."""
    return PublishedEvent(
        event_id=notice.event_id,
        event_type=notice.event_type,
        department_ids=(),
        ticket_id=0,
        ticket_number="",
        occurred_at_micros=to_micros(notice.occurred_at),
        payload=notice_payload(notice),
        account_id=SYSTEM_ACCOUNT,
    )


class OperationalNotices:
    def __init__(
        self,
        store: Store,
        *,
        console_url: str,
        now: Callable[[], datetime],
        on_commit: Callable[[set[str]], None],
    ) -> None:
        self._store = store
        self._console_url = console_url
        self._now = now
        # Wakes the scheduler for the operational channel once a notice is stored.
        self._on_commit = on_commit

    async def channel_disabled(self, channel: Channel, reason: str) -> None:
        now = self._now()
        await self._publish(
            channel,
            notice(
                EventType.CHANNEL_DISABLED,
                channel,
                reason,
                now,
                console_url=self._console_url,
                unique=str(to_micros(now)),
            ),
        )

    async def circuits_changed(
        self,
        changed: Mapping[str, tuple[Channel, CircuitState]],
        health: Mapping[str, ChannelHealth],
        attempts: Sequence[Attempt],
    ) -> None:
        """Report each channel of `changed`, whose circuit opened or closed with `attempts`."""
        last = {attempt.channel_id: attempt for attempt in attempts}
        now = self._now()
        for channel_id, (channel, state) in changed.items():
            attempt = last[channel_id]
            opened = state is CircuitState.OPEN
            reason = (
                f"{health[channel_id].consecutive_failures} failed attempts in a row, the last:"
                f" {answer(attempt)}"
                if opened
                else f"a delivery succeeded: {answer(attempt)}"
            )
            await self._publish(
                channel,
                notice(
                    EventType.CHANNEL_FAILING if opened else EventType.CHANNEL_RECOVERED,
                    channel,
                    reason,
                    now,
                    console_url=self._console_url,
                    unique=str(to_micros(now)),
                    http_status=attempt.http_status,
                ),
            )

    async def delivery_exhausted(self, channel: Channel, attempt: Attempt) -> None:
        reason = (
            f"all {attempt.attempt} attempts failed, the last: {answer(attempt)}"
            if channel.spec.retries_enabled
            else f"the channel retries nothing, and the attempt failed: {answer(attempt)}"
        )
        await self._publish(
            channel,
            notice(
                EventType.DELIVERY_EXHAUSTED,
                channel,
                reason,
                self._now(),
                console_url=self._console_url,
                unique=f"{attempt.delivery_id}.{attempt.attempt}",
                delivery=attempt,
                attempts=attempt.attempt,
                http_status=attempt.http_status,
            ),
        )

    async def _publish(self, channel: Channel, about: Notice) -> None:
        if not reports_on(channel):
            return
        event = as_event(about)
        try:
            (stored,) = await self._store.ingest(
                [MatchedEvent(event, (OPERATIONAL_CHANNEL_ID,))], about.occurred_at
            )
        except Exception:
            # What it reports happened and stands; only the notice is lost, and the log says so.
            log.exception("could not store an operational notice", event_id=event.event_id)
            return
        if stored.accepted:
            self._on_commit({OPERATIONAL_CHANNEL_ID})
        log.info("operational notice", event_type=about.event_type.value, channel_id=channel.id)
