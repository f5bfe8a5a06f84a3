"""Accounts stay walled off whatever happens, on every store (in memory, SQLite, PostgreSQL):
hypothesis interleaves channels created, changed and deleted in three accounts, events whose
ids and departments collide across accounts, attempts, redeliveries and reads in every scope,
and compares each answer with a plain model. No scoped read ever shows another account's row,
and every scope sees exactly what it reaches (docs/design.md §10).

The store's methods are coroutines and hypothesis drives a state machine synchronously: each
example runs them on an event loop of its own, over a fresh store."""

import asyncio
import itertools
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final, TypeVar

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from deskhook.domain.accounts import EVERY_ACCOUNT, NOWHERE, Scope
from deskhook.domain.breaker import BreakerPolicy
from deskhook.domain.channel_spec import Channel, ChannelSpec
from deskhook.domain.delivery import AttemptOutcome
from deskhook.domain.events import EventType, MatchedEvent, PublishedEvent
from deskhook.domain.matching import build_index, match
from deskhook.store.base import (
    ChannelFilter,
    ClaimRules,
    CreateRequest,
    DuplicateCreateRequest,
    LogFilter,
    Store,
)
from deskhook.store.location import is_postgres_url
from deskhook.store.memory.store import MemoryStore
from deskhook.store.open import open_store
from tests.support.databases import fetch_rows
from tests.support.store_items import LEASE, NOW, attempt

# Derandomized and without an example database, as the fuzz tests: a run depends on the code
# alone. Bounded so that each store takes a few seconds.
MODEL: Final = settings(
    max_examples=15, stateful_step_count=25, deadline=None, derandomize=True, database=None
)
# Shrinking a failure opens a database for each of hundreds of tries, for minutes: on SQLite and
# PostgreSQL a failure is shown as found (the in-memory store shrinks it).
UNSHRUNK: Final = settings(MODEL, phases=[Phase.explicit, Phase.generate])
ACCOUNTS: Final = ("", "a", "b")
# Every account's scope, the operator's, and one that reaches nothing.
SCOPES: Final = (*(Scope(account) for account in ACCOUNTS), EVERY_ACCOUNT, NOWHERE)
DEPARTMENTS: Final = (7, 8)
EVENT_IDS: Final = ("e1", "e2", "e3", "e4", "e5")
REQUEST_IDS: Final = (None, "req-1", "req-2")
MINUTE: Final = timedelta(minutes=1)
# A circuit that never opens: every pending delivery is claimed at once.
NEVER_OPENS: Final = BreakerPolicy(failure_threshold=1_000_000)
TRUNCATE: Final = (
    "TRUNCATE channels, signing_secrets, events, deliveries, attempts RESTART IDENTITY"
)

T = TypeVar("T")
# A log entry as compared: channel id, account, event id, outcome.
Entry = tuple[str, str, str, str]


@dataclass
class ModelChannel:
    channel: Channel
    secret: str
    request_id: str | None


@dataclass
class ModelDelivery:
    channel_id: str
    account_id: str
    event_id: str
    state: str = "pending"
    finished_at: datetime | None = None


@dataclass
class Model:
    """What each store should hold, in plain lists and dicts."""

    # In creation order; a deleted channel leaves.
    channels: dict[str, ModelChannel] = field(default_factory=dict)
    # The first matched count of each event, by (account, event id).
    events: dict[tuple[str, str], int] = field(default_factory=dict)
    deliveries: list[ModelDelivery] = field(default_factory=list)
    log: list[Entry] = field(default_factory=list)

    def reachable(self, scope: Scope, channel_id: str) -> ModelChannel | None:
        found = self.channels.get(channel_id)
        return found if found is not None and scope.reaches(found.channel.account_id) else None

    def reached(self, scope: Scope) -> list[Channel]:
        return [
            found.channel
            for found in self.channels.values()
            if scope.reaches(found.channel.account_id)
        ]

    def created_by(self, account_id: str, request_id: str) -> ModelChannel | None:
        return next(
            (
                found
                for found in self.channels.values()
                if found.request_id == request_id and found.channel.account_id == account_id
            ),
            None,
        )

    def logged(self, scope: Scope, log_filter: LogFilter) -> list[Entry]:
        """The log entries `scope` reaches that match the filter's channel and event ids."""
        return sorted(
            entry
            for entry in self.log
            if scope.reaches(entry[1])
            and log_filter.channel_id in ("", entry[0])
            and log_filter.event_id in ("", entry[2])
        )

    def matching(self, event: PublishedEvent) -> list[str]:
        return [
            channel_id
            for channel_id, found in self.channels.items()
            if found.channel.account_id == event.account_id
            and found.channel.spec.enabled
            and found.channel.spec.department_id in event.department_ids
        ]


async def fresh_store(database: str | None, example: int) -> Store:
    """An empty store of the kind `database` names (None: in memory)."""
    if database is None:
        return MemoryStore()
    if is_postgres_url(database):
        await fetch_rows(database, TRUNCATE)
        return await open_store(database, pool_size=2)
    return await open_store(f"{database}-{example}")


class AccountsMachine(RuleBasedStateMachine):
    # What `empty_store` would open, and a count naming each example's SQLite file; set by the
    # test on a subclass.
    database: ClassVar[str | None] = None
    examples: ClassVar[Iterator[int]]

    channel_ids = Bundle("channel_ids")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store: Store | None = None
        self.model = Model()
        self.now = NOW
        self.next_channel = 0
        self.next_secret = 0

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    @property
    def opened(self) -> Store:
        assert self.store is not None
        return self.store

    def teardown(self) -> None:
        if self.store is not None:
            self.run(self.store.close())
        self.loop.close()

    def new_secret(self) -> str:
        self.next_secret += 1
        return f"whsec_{self.next_secret}"

    @initialize(target=channel_ids)
    def accounts_alike(self) -> MultipleResults[str]:
        """A fresh store where each account has a channel in each department: every event then
        has a twin in each other account's departments."""
        self.store = self.run(fresh_store(self.database, next(self.examples)))
        return multiple(
            *(
                self.create(account, department, None)
                for account in ACCOUNTS
                for department in DEPARTMENTS
            )
        )

    @rule(
        target=channel_ids,
        account=st.sampled_from(ACCOUNTS),
        department=st.sampled_from(DEPARTMENTS),
        request_id=st.sampled_from(REQUEST_IDS),
    )
    def create_channel(self, account: str, department: int, request_id: str | None) -> str:
        return self.create(account, department, request_id)

    def create(self, account: str, department: int, request_id: str | None) -> str:
        self.next_channel += 1
        channel_id = f"ch{self.next_channel}"
        spec = ChannelSpec(
            name=channel_id,
            url="https://hooks.example.com/",
            department_id=department,
            subscriptions=(EventType.TICKET_CREATE, EventType.TICKET_DEPARTMENT_CHANGE),
        )
        channel = Channel(channel_id, spec, self.now, self.now, account_id=account)
        secret = self.new_secret()
        request = CreateRequest(request_id, f"hash-{channel_id}") if request_id else None
        taken = request_id is not None and self.model.created_by(account, request_id) is not None
        try:
            self.run(self.opened.insert_channel(channel, secret, request))
        except DuplicateCreateRequest:
            assert taken, f"{request_id} is free in account {account!r}"
        else:
            assert not taken, f"{request_id} was taken in account {account!r}"
            self.model.channels[channel_id] = ModelChannel(channel, secret, request_id)
        if request_id is not None:
            created = self.run(self.opened.find_created_channel(account, request_id))
            expected = self.model.created_by(account, request_id)
            assert (created and created.channel.id) == (expected and expected.channel.id)
        return channel_id

    @rule(
        scope=st.sampled_from(SCOPES),
        channel_id=channel_ids,
        department=st.sampled_from(DEPARTMENTS),
        enabled=st.booleans(),
        moved_to=st.sampled_from(ACCOUNTS),
    )
    def update_channel(
        self, scope: Scope, channel_id: str, department: int, enabled: bool, moved_to: str
    ) -> None:
        self.now += MINUTE
        found = self.model.channels.get(channel_id)
        # The store is handed the channel as its account sees it (or as it was before it was
        # deleted), with another account too: a channel's account never changes.
        current = found.channel if found else self.deleted_channel(channel_id)
        spec = replace(current.spec, department_id=department, enabled=enabled)
        changed = replace(current, spec=spec, update_time=self.now, account_id=moved_to)
        reachable = self.model.reachable(scope, channel_id)
        assert self.run(self.opened.update_channel(scope, changed)) is (reachable is not None)
        if reachable is not None:
            reachable.channel = replace(changed, account_id=reachable.channel.account_id)

    @staticmethod
    def deleted_channel(channel_id: str) -> Channel:
        spec = ChannelSpec(channel_id, "https://hooks.example.com/", 7, (EventType.TICKET_CREATE,))
        return Channel(channel_id, spec, NOW, NOW)

    @rule(scope=st.sampled_from(SCOPES), channel_id=channel_ids)
    def delete_channel(self, scope: Scope, channel_id: str) -> None:
        reachable = self.model.reachable(scope, channel_id)
        assert self.run(self.opened.delete_channel(scope, channel_id)) is (reachable is not None)
        if reachable is not None:
            del self.model.channels[channel_id]
            self.model.deliveries = [d for d in self.model.deliveries if d.channel_id != channel_id]

    @rule(scope=st.sampled_from(SCOPES), channel_id=channel_ids)
    def rotate_secret(self, scope: Scope, channel_id: str) -> None:
        secret = self.new_secret()
        reachable = self.model.reachable(scope, channel_id)
        rotated = self.run(
            self.opened.rotate_secret(scope, channel_id, secret, self.now, self.now + MINUTE)
        )
        assert rotated is (reachable is not None)
        if reachable is not None:
            reachable.secret = secret

    @rule(
        events=st.lists(
            st.tuples(
                st.sampled_from(ACCOUNTS),
                st.sampled_from(EVENT_IDS),
                st.lists(st.sampled_from(DEPARTMENTS), min_size=1, max_size=2, unique=True),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def ingest(self, events: list[tuple[str, str, list[int]]]) -> None:
        index = build_index(self.run(self.opened.list_all_channels(EVERY_ACCOUNT)))
        batch: list[MatchedEvent] = []
        for account, event_id, departments in events:
            published = PublishedEvent(
                event_id=event_id,
                event_type=EventType.TICKET_DEPARTMENT_CHANGE
                if len(departments) == 2
                else EventType.TICKET_CREATE,
                department_ids=tuple(departments),
                ticket_id=1,
                ticket_number="HD-1",
                occurred_at_micros=0,
                payload=event_id.encode(),
                account_id=account,
            )
            matched = match(index, published)
            assert sorted(matched) == sorted(self.model.matching(published))
            batch.append(MatchedEvent(published, matched))
        results = self.run(self.opened.ingest(batch, self.now))
        for matched_event, result in zip(batch, results, strict=True):
            key = matched_event.event.key
            if key in self.model.events:
                assert tuple(result) == (False, self.model.events[key])
                continue
            assert tuple(result) == (True, len(matched_event.channel_ids))
            self.model.events[key] = len(matched_event.channel_ids)
            self.model.deliveries += [
                ModelDelivery(channel_id, *key) for channel_id in matched_event.channel_ids
            ]

    def anything_pending(self) -> bool:
        return any(d.state == "pending" for d in self.model.deliveries)

    @precondition(anything_pending)
    @rule(data=st.data())
    def attempt_everything_due(self, data: st.DataObject) -> None:
        self.now += MINUTE
        rules = ClaimRules(dict.fromkeys(self.model.channels, 100), breaker=NEVER_OPENS)
        claimed = self.run(self.opened.claim_due(self.now, self.now + LEASE, rules, 1000))
        pending = {
            (d.channel_id, d.account_id, d.event_id): d
            for d in self.model.deliveries
            if d.state == "pending"
        }
        got = [(d.channel_id, d.account_id, d.event_id) for d in claimed.deliveries]
        assert sorted(got) == sorted(pending)
        outcomes = [data.draw(st.sampled_from(AttemptOutcome)) for _ in claimed.deliveries]
        retried = AttemptOutcome.RETRY_SCHEDULED
        attempts = [
            attempt(due, outcome, self.now, self.now if outcome is retried else None)
            for due, outcome in zip(claimed.deliveries, outcomes, strict=True)
        ]
        finished = self.run(self.opened.finish_attempts(attempts, NEVER_OPENS))
        assert [(r.channel_id, r.account_id, r.event_id) for r in finished.attempts] == got
        for key, outcome in zip(got, outcomes, strict=True):
            if outcome is not retried:
                pending[key].state, pending[key].finished_at = outcome.value, self.now
            self.model.log.append((*key, outcome.value))

    @rule(
        scope=st.sampled_from(SCOPES),
        channel_id=channel_ids,
        event_id=st.sampled_from((*EVENT_IDS, None)),
        minutes_ago=st.integers(0, 5),
    )
    def redeliver(
        self, scope: Scope, channel_id: str, event_id: str | None, minutes_ago: int
    ) -> None:
        since = self.now - minutes_ago * MINUTE

        def chosen_by(delivery: ModelDelivery) -> bool:
            if event_id is not None:
                return delivery.event_id == event_id
            finished = delivery.finished_at
            return delivery.state == "given_up" and finished is not None and finished >= since

        reachable = self.model.reachable(scope, channel_id) is not None
        chosen = [
            d
            for d in self.model.deliveries
            if reachable and d.channel_id == channel_id and chosen_by(d)
        ]
        failed_since = None if event_id is not None else since
        count = self.run(self.opened.redeliver(scope, channel_id, event_id, failed_since, self.now))
        assert count == len(chosen)
        for delivery in chosen:
            delivery.state, delivery.finished_at = "pending", None

    @invariant()
    def every_scope_lists_exactly_its_own(self) -> None:
        for scope in SCOPES:
            assert self.run(self.opened.list_all_channels(scope)) == self.model.reached(scope)
            assert self.logged(scope, LogFilter()) == self.model.logged(scope, LogFilter())

    @rule(channel_id=channel_ids, event_id=st.sampled_from(EVENT_IDS))
    def every_scope_reads_one_channel_and_event(self, channel_id: str, event_id: str) -> None:
        store, model = self.opened, self.model
        for scope in SCOPES:
            listed = self.run(store.list_channels(scope, ChannelFilter(), 0, 1000))
            assert [channel for _, channel in listed] == model.reached(scope)
            if scope.account_id is not None:
                count = self.run(store.count_channels(scope.account_id))
                assert count == len(model.reached(scope))
            one = model.reachable(scope, channel_id)
            assert self.run(store.get_channel(scope, channel_id)) == (one and one.channel)
            secrets = self.run(store.signing_secrets(scope, channel_id))
            assert [s.secret for s in secrets[:1]] == ([one.secret] if one else [])
            for log_filter in (LogFilter(event_id=event_id), LogFilter(channel_id=channel_id)):
                assert self.logged(scope, log_filter) == model.logged(scope, log_filter)

    def logged(self, scope: Scope, log_filter: LogFilter) -> list[Entry]:
        entries = self.run(self.opened.list_attempts(scope, log_filter, None, 10_000))
        return sorted((r.channel_id, r.account_id, r.event_id, r.outcome.value) for r in entries)


def test_accounts_stay_walled_off_through_any_interleaving(store_database: str | None) -> None:
    class OnThisStore(AccountsMachine):
        database = store_database
        examples = itertools.count()

    run_state_machine_as_test(OnThisStore, settings=MODEL if store_database is None else UNSHRUNK)
