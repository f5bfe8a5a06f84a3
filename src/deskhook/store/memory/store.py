"""The in-memory store: the whole Store contract over plain dicts, for tests that exercise what
sits above a store (the scheduler's logic) in milliseconds. It keeps the contract the database
stores keep, with the same rules (`shared_limits`, `process_claims`, `log_filter`, `rows`); as
one process owns it, it behaves as the SQLite store does: claims live in the process, and no
other process commits, so a listener is never called. It persists nothing, so `serve` does not
offer it: a restart would lose every accepted event."""

import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from deskhook.domain.accounts import Scope
from deskhook.domain.breaker import BreakerPolicy, ChannelHealth
from deskhook.domain.delivery import Attempt, AttemptOutcome, DueDelivery
from deskhook.domain.events import IngestResult, MatchedEvent, PublishedEvent
from deskhook.domain.times import to_micros
from deskhook.store.base import ClaimRules, Finished, LogFilter, StoreListener
from deskhook.store.log_filter import log_comparisons
from deskhook.store.memory.access_token_tables import AccessTokenTables
from deskhook.store.memory.channel_tables import ChannelTables
from deskhook.store.process_claims import ProcessClaims
from deskhook.store.rows import ATTEMPT_COLUMNS, DELIVERY_STATES, attempt_values
from deskhook.store.shared_limits import UNTRIED, circuit_changes, recorded_health

# The operators of `log_comparisons`, on stored values.
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    ">=": operator.ge,
    "<": operator.lt,
}
_ATTEMPT_COLUMNS = [name.strip() for name in ATTEMPT_COLUMNS.split(",")]


@dataclass
class _Event:
    seq: int
    event: PublishedEvent
    received_at: datetime
    matched_channels: int


@dataclass
class _Delivery:
    id: int
    event: _Event
    channel_id: str
    state: str = "pending"
    attempts: int = 0
    due_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class _Logged:
    """A log entry, with its values as the database stores them, for the log's filters."""

    record: Attempt
    values: dict[str, object]

    @property
    def position(self) -> tuple[int, int]:
        return to_micros(self.record.attempted_at), self.record.id


class MemoryStore(ChannelTables, ProcessClaims, AccessTokenTables):
    def __init__(self) -> None:
        ChannelTables.__init__(self)
        AccessTokenTables.__init__(self)
        ProcessClaims.__init__(self)
        # By idempotency key: (account id, event id).
        self._events: dict[tuple[str, str], _Event] = {}
        self._deliveries: dict[int, _Delivery] = {}
        self._log: list[_Logged] = []
        # The health of each channel with an attempt recorded.
        self._health: dict[str, ChannelHealth] = {}
        self._event_seq = self._delivery_seq = self._attempt_seq = 0

    async def close(self) -> None:
        """Nothing to release: what it held goes with it."""

    async def listen(self, listener: StoreListener) -> None:
        """Never calls `listener`: no other process shares this store."""

    async def schema_version(self) -> int:
        # No schema: nothing was migrated.
        return 0

    async def delete_channel(self, scope: Scope, channel_id: str) -> bool:
        if not await super().delete_channel(scope, channel_id):
            return False
        # Its deliveries go with it; the log keeps its attempts until retention.
        self._deliveries = {
            id_: delivery
            for id_, delivery in self._deliveries.items()
            if delivery.channel_id != channel_id
        }
        self._health.pop(channel_id, None)
        return True

    async def ingest(self, events: Sequence[MatchedEvent], now: datetime) -> list[IngestResult]:
        results: list[IngestResult] = []
        for matched in events:
            key = (matched.event.account_id, matched.event.event_id)
            stored = self._events.get(key)
            if stored is not None:
                results.append(IngestResult(False, stored.matched_channels))
                continue
            self._event_seq += 1
            stored = _Event(self._event_seq, matched.event, now, len(matched.channel_ids))
            self._events[key] = stored
            # A channel deleted since the matching index was read gets no delivery.
            for channel_id in matched.channel_ids:
                if channel_id in self._channels:
                    self._delivery_seq += 1
                    self._deliveries[self._delivery_seq] = _Delivery(
                        self._delivery_seq, stored, channel_id, due_at=now
                    )
            results.append(IngestResult(True, stored.matched_channels))
        return results

    def _pending(self, channel_ids: Sequence[str]) -> list[_Delivery]:
        wanted = set(channel_ids)
        return [
            delivery
            for delivery in self._deliveries.values()
            if delivery.state == "pending" and delivery.channel_id in wanted
        ]

    async def pending_deliveries(self, channel_ids: Sequence[str]) -> dict[str, int]:
        return dict(Counter(delivery.channel_id for delivery in self._pending(channel_ids)))

    async def channel_health(self) -> dict[str, ChannelHealth]:
        return {channel_id: self._health.get(channel_id, UNTRIED) for channel_id in self._channels}

    async def _stored_health(self) -> dict[str, ChannelHealth]:
        return self._health

    async def redeliver(
        self,
        scope: Scope,
        channel_id: str,
        event_id: str | None,
        failed_since: datetime | None,
        now: datetime,
    ) -> int:
        if self._row(scope, channel_id) is None:
            return 0
        chosen = [
            delivery
            for delivery in self._deliveries.values()
            if delivery.channel_id == channel_id
            and (
                delivery.event.event.event_id == event_id
                if event_id is not None
                else delivery.state == "given_up"
                and failed_since is not None
                and delivery.finished_at is not None
                and delivery.finished_at >= failed_since
            )
        ]
        for delivery in chosen:
            delivery.state, delivery.due_at, delivery.finished_at = "pending", now, None
        return len(chosen)

    async def _claim(
        self, now_micros: int, rules: ClaimRules, allowed: dict[str, int], limit: int
    ) -> list[DueDelivery]:
        chosen: list[_Delivery] = []
        for channel_id, count in allowed.items():
            pending = sorted(self._pending([channel_id]), key=lambda d: d.id)
            first_of_ticket: dict[int, int] = {}
            for delivery in pending:
                first_of_ticket.setdefault(delivery.event.event.ticket_id, delivery.id)
            due = [
                delivery
                for delivery in pending
                if delivery.due_at is not None
                and to_micros(delivery.due_at) <= now_micros
                and delivery.id not in self._claims
                and (
                    channel_id not in rules.per_ticket
                    or first_of_ticket[delivery.event.event.ticket_id] == delivery.id
                )
            ]
            chosen += sorted(due, key=_due_order)[: max(count, 0)]
        return [_due_delivery(delivery) for delivery in sorted(chosen, key=_due_order)[:limit]]

    async def next_due_at(self, channel_ids: Sequence[str], after: datetime) -> datetime | None:
        # A claimed delivery was due by its claim: in flight, it never wakes the scheduler.
        return min(
            (
                delivery.due_at
                for delivery in self._pending(channel_ids)
                if delivery.due_at is not None and delivery.due_at > after
            ),
            default=None,
        )

    async def finish_attempts(
        self, attempts: Sequence[tuple[Attempt, datetime]], breaker: BreakerPolicy
    ) -> Finished:
        before = await self._stored_health()
        health = recorded_health(before, attempts, breaker)
        changes = circuit_changes(before, health)
        records: list[Attempt] = []
        for record, _ in attempts:
            self._attempt_seq += 1
            logged = replace(record, id=self._attempt_seq)
            self._log.append(
                _Logged(logged, dict(zip(_ATTEMPT_COLUMNS, attempt_values(logged), strict=True)))
            )
            records.append(logged)
            delivery = self._deliveries.get(record.delivery_id)
            if delivery is not None:
                delivery.attempts = record.attempt
                delivery.state = DELIVERY_STATES[record.outcome]
                delivery.due_at = record.next_attempt_at
                retried = record.outcome is AttemptOutcome.RETRY_SCHEDULED
                delivery.finished_at = None if retried else record.attempted_at
            self._claims.pop(record.delivery_id, None)
        self._health.update(
            (channel_id, channel)
            for channel_id, channel in health.items()
            if channel_id in self._channels
        )
        return Finished(records, health, changes)

    async def list_attempts(
        self, scope: Scope, log_filter: LogFilter, before: tuple[int, int] | None, limit: int
    ) -> list[Attempt]:
        checks = [
            (column, _OPERATORS[symbol], value)
            for (comparison, value) in log_comparisons(scope, log_filter)
            for column, symbol in [comparison.split()]
        ]
        found = [
            logged
            for logged in self._log
            if (before is None or logged.position < before)
            and all(compare(logged.values[column], value) for column, compare, value in checks)
        ]
        found.sort(key=lambda logged: logged.position, reverse=True)
        return [logged.record for logged in found[:limit]]

    async def prune(self, before: datetime, batch: int) -> int:
        old = [logged for logged in self._log if logged.record.attempted_at < before][:batch]
        pruned = {id(logged) for logged in old}
        self._log = [logged for logged in self._log if id(logged) not in pruned]
        finished = [
            id_
            for id_, delivery in self._deliveries.items()
            if delivery.state != "pending"
            and delivery.finished_at is not None
            and delivery.finished_at < before
        ][:batch]
        for id_ in finished:
            del self._deliveries[id_]
        delivered = {delivery.event.seq for delivery in self._deliveries.values()}
        orphans = [
            key
            for key, event in self._events.items()
            if event.received_at < before and event.seq not in delivered
        ][:batch]
        for key in orphans:
            del self._events[key]
        return len(old) + len(finished) + len(orphans)


def _due_order(delivery: _Delivery) -> tuple[datetime | None, int]:
    return delivery.due_at, delivery.id


def _due_delivery(delivery: _Delivery) -> DueDelivery:
    event = delivery.event.event
    return DueDelivery(
        delivery.id,
        delivery.channel_id,
        event.event_id,
        event.event_type,
        event.ticket_id,
        event.ticket_number,
        event.account_id,
        delivery.attempts,
        event.payload,
    )
