"""The storage interface. Everything outside `deskhook.store` talks to a `Store`: SQLite by
default, or PostgreSQL for several replicas sharing one database (`deskhook.store.open`).

Every query a caller's request reaches takes the caller's `Scope` and sees only the rows of the
accounts it reaches (docs/design.md §10): the scope is enforced here, below every adapter, so no
servicer can forget it. The scheduler's and the pruner's own work (claims, attempts, health,
retention) spans every account and takes none."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from deskhook.domain.access_tokens import AccessTokenKey
from deskhook.domain.accounts import Scope
from deskhook.domain.breaker import DEFAULT_POLICY, BreakerPolicy, ChannelHealth, CircuitState
from deskhook.domain.channel_spec import Channel, ConnectionStatus
from deskhook.domain.delivery import Attempt, AttemptOutcome, DueDelivery
from deskhook.domain.events import EventType, IngestResult, MatchedEvent
from deskhook.domain.signing import SigningSecret


class StoreOpenError(Exception):
    """The database cannot be opened or migrated; the message says which and why."""


class UnusableDatabase(StoreOpenError):
    """The `database` setting names something deskhook cannot use as it stands: a folder that
    does not exist, a file that is not a database or cannot be written, a malformed URL. Unlike
    a database that is unreachable or locked for now, trying again will not help."""


class DuplicateCreateRequest(Exception):
    """Another CreateChannel with the same request id was saved first."""


@dataclass(frozen=True)
class CreateRequest:
    """A client's request id with the hash of the request it came with."""

    request_id: str
    request_hash: str


@dataclass(frozen=True)
class CreatedChannel:
    """A channel found by the request id that created it, with what it was created from."""

    channel: Channel
    request_hash: str
    signing_secret: str


@dataclass(frozen=True)
class ChannelFilter:
    department_id: int | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class ClaimRules:
    """Which due deliveries a scheduler may take now. Only the channels in `slots` are claimed,
    at most `slots[channel]` each: this scheduler's own room for the channel, claiming ahead
    included. `limits[channel]` is the most deliveries of the channel claimed at once over every
    scheduler sharing the store, and `rates[channel]` its attempts per second (a token bucket
    the store keeps, full after a second's rest); a channel missing from either has no such
    limit. For `per_ticket` channels only a ticket's earliest pending delivery is offered.
    `breaker` is the circuit breaker's policy: a channel whose stored circuit is open is
    claimed only when its next probe is due and it has no lease, and then one delivery, the
    probe.

    On PostgreSQL a claim counts the channel's live leases over every replica against its
    limit, and a lease ends only when its attempt is recorded or released, so a channel's
    leases, and with them its requests on the wire, never exceed the limit. A SQLite file has
    one scheduler, whose slots already keep within the limit: there the limit is left to them,
    and claims run ahead of it, so that a freed slot is refilled at once."""

    slots: Mapping[str, int]
    limits: Mapping[str, int] = field(default_factory=dict)
    rates: Mapping[str, int] = field(default_factory=dict)
    per_ticket: frozenset[str] = frozenset()
    breaker: BreakerPolicy = DEFAULT_POLICY


@dataclass(frozen=True)
class Claimed:
    """What a claim took: `deliveries`, earliest due first; the stored `health` of the channels
    it looked at, so that a scheduler follows what other replicas recorded; and
    `next_token_at`, when the first channel its rate limit held back earns a token again (None
    when none was)."""

    deliveries: list[DueDelivery]
    health: Mapping[str, ChannelHealth] = field(default_factory=dict)
    next_token_at: datetime | None = None


@dataclass(frozen=True)
class Finished:
    """What recording attempts stored: each attempt as logged, with the id the log gave it
    (what ListDeliveryLog shows), in order; the health of each channel of the attempts after
    them; and the channels whose circuit they opened or closed, with its new state. A change is
    found under the lock that counts it, so of all the replicas sharing a store exactly one
    learns of it."""

    attempts: list[Attempt]
    health: dict[str, ChannelHealth]
    circuit_changes: dict[str, CircuitState] = field(default_factory=dict)


@dataclass(frozen=True)
class LogFilter:
    channel_id: str = ""
    ticket_id: int | None = None
    event_type: EventType | None = None
    outcome: AttemptOutcome | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    event_id: str = ""


@dataclass(frozen=True)
class StoreListener:
    """What a store tells its process about commits made by other processes sharing its
    database (other replicas); a process learns of its own commits where it makes them. Plain
    callbacks, called on the event loop: they must not block, and may be called when nothing
    changed after all (a lost connection was restored, and what it missed is unknown)."""

    # Deliveries may have become due: new events matched, a redelivery, claims given back.
    deliveries_due: Callable[[], None]
    # A channel was created, changed, tested, disabled or deleted, or had its signing secret
    # rotated.
    channels_changed: Callable[[], None]


class Store(Protocol):
    async def close(self) -> None:
        """Finish pending writes, stop listening, and release the database."""
        ...

    async def listen(self, listener: StoreListener) -> None:
        """Call `listener` on changes committed by other processes, from now until `close()`.
        Called once, after open."""
        ...

    async def schema_version(self) -> int:
        """The number of the last migration applied."""
        ...

    async def insert_channel(
        self, channel: Channel, signing_secret: str, request: CreateRequest | None
    ) -> None:
        """Save a new channel, in its account, with its first secret. Raises
        DuplicateCreateRequest when the account already used the request id."""
        ...

    async def find_created_channel(self, account_id: str, request_id: str) -> CreatedChannel | None:
        """The channel of `account_id` that the request id created, if any."""
        ...

    async def count_channels(self, account_id: str) -> int:
        """How many channels the account has."""
        ...

    async def get_channel(self, scope: Scope, channel_id: str) -> Channel | None: ...

    async def list_channels(
        self, scope: Scope, channel_filter: ChannelFilter, after: int, limit: int
    ) -> list[tuple[int, Channel]]:
        """Up to `limit` channels created after the position `after` (0: from the start), in
        creation order, each with its position for the next page."""
        ...

    async def update_channel(self, scope: Scope, channel: Channel) -> bool:
        """Save the spec, status and times of an existing channel (never its account); False
        if it is gone."""
        ...

    async def set_connection_status(
        self, scope: Scope, channel_id: str, status: ConnectionStatus
    ) -> bool: ...

    async def delete_channel(self, scope: Scope, channel_id: str) -> bool: ...

    async def signing_secrets(self, scope: Scope, channel_id: str) -> list[SigningSecret]:
        """The channel's secrets, newest first, those past their grace period included until
        the next rotation deletes them."""
        ...

    async def rotate_secret(
        self,
        scope: Scope,
        channel_id: str,
        new_secret: str,
        now: datetime,
        previous_expire_time: datetime,
    ) -> bool:
        """Make `new_secret` current; the current one signs until `previous_expire_time`.
        Secrets already past their grace period are dropped. False if the channel is gone."""
        ...

    async def list_accounts(
        self, scope: Scope, after: str | None, limit: int
    ) -> list[tuple[str, int]]:
        """Up to `limit` accounts with channels that the scope reaches, ordered by id (byte by
        byte, so every store orders alike), from after `after` (None: from the start), each
        with its number of channels."""
        ...

    async def list_all_channels(self, scope: Scope) -> list[Channel]:
        """Every channel the scope reaches, in creation order: the matching index holds them
        all."""
        ...

    async def ingest(self, events: Sequence[MatchedEvent], now: datetime) -> list[IngestResult]:
        """Store each event not seen before with a pending delivery per matched channel, all in
        one transaction; one result per event, in order. An event id seen earlier in its account
        (or earlier in `events`) is a duplicate: nothing is written for it."""
        ...

    async def pending_deliveries(self, channel_ids: Sequence[str]) -> dict[str, int]:
        """How many deliveries wait to be attempted, for each of `channel_ids` that has any."""
        ...

    async def channel_health(self) -> dict[str, ChannelHealth]:
        """The stored health of every channel, to resume after a restart."""
        ...

    async def redeliver(
        self,
        scope: Scope,
        channel_id: str,
        event_id: str | None,
        failed_since: datetime | None,
        now: datetime,
    ) -> int:
        """Make deliveries to `channel_id` due again at `now`: the one of `event_id` whatever
        became of it, or every one given up at or after `failed_since`. How many."""
        ...

    async def release_claims(self, delivery_ids: Sequence[int] | None = None) -> None:
        """Make claimed deliveries claimable again: those listed (this store's own), or, on
        start, every one no other running store holds (no attempt of this process is in
        flight)."""
        ...

    async def claim_due(
        self, now: datetime, claim_until: datetime, rules: ClaimRules, limit: int
    ) -> Claimed:
        """Claim up to `limit` pending deliveries due at `now`, earliest first, within `rules`;
        a claimed delivery is not claimed again before `claim_until`."""
        ...

    async def next_due_at(self, channel_ids: Sequence[str], after: datetime) -> datetime | None:
        """When the earliest pending delivery to one of `channel_ids` falls due after `after`,
        the time of a claim: what was due then and is still unclaimed waits for a limit of its
        channel, not for a time. A delivery claimed and not yet attempted counts when its lease
        runs out on a store that replicas share (its claimer may have died), and not at all on
        a store one process owns, whose leases end with their attempts."""
        ...

    async def finish_attempts(
        self, attempts: Sequence[tuple[Attempt, datetime]], breaker: BreakerPolicy
    ) -> Finished:
        """Log each attempt and settle its delivery (delivered, given up, or due again at
        `record.next_attempt_at`), and count its result, in order, into the stored health of its
        channel, as of the time given with it (when the answer came): all in one transaction,
        in turn with claims and with the other replicas' results."""
        ...

    async def disable_channel(self, channel_id: str, reason: str, now: datetime) -> bool:
        """Disable an enabled channel, saying why. Whether this call disabled it: of replicas
        disabling one channel at once, one is told so."""
        ...

    async def list_attempts(
        self, scope: Scope, log_filter: LogFilter, before: tuple[int, int] | None, limit: int
    ) -> list[Attempt]:
        """Log entries matching `log_filter`, newest first, older than the (attempted_at
        micros, id) position `before` when given."""
        ...

    async def prune(self, before: datetime, batch: int) -> int:
        """Delete up to `batch` rows of history older than `before`: log entries, finished
        deliveries, and events left without deliveries. How many rows went; 0 when done."""
        ...

    # Account access tokens (docs/design.md §11): the keys that sign them and the revocations,
    # shared by every replica and kept over restarts.

    async def access_token_keys(self) -> list[AccessTokenKey]:
        """Every token key, newest first."""
        ...

    async def add_access_token_key(
        self, key: AccessTokenKey, unless_created_after: datetime
    ) -> bool:
        """Add `key` unless a key created after `unless_created_after` exists, as one step with
        every other store's adds: replicas that start or rotate at once add one key between
        them. Whether `key` was added."""
        ...

    async def delete_access_token_keys(self, key_ids: Sequence[str]) -> None:
        """Drop the keys named (retired: no token they signed is still valid)."""
        ...

    async def revoke_access_tokens(
        self, account_id: str, before: datetime, forget_before: datetime
    ) -> datetime:
        """End every token of `account_id` minted before `before`; a later revocation already
        stored for it stands. Revocations before `forget_before` are dropped, since every token
        they ended has expired. The account's revocation time as stored."""
        ...

    async def access_token_revocations(self) -> dict[str, datetime]:
        """Each account's revocation time: its tokens minted before it are revoked."""
        ...
