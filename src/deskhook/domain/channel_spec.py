"""The channel model and the pure rules for creating and changing one."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum

from deskhook.domain.accounts import DEFAULT_ACCOUNT
from deskhook.domain.errors import FieldViolation, InvalidArgument
from deskhook.domain.events import OPERATIONAL_EVENT_TYPES, EventType
from deskhook.domain.responses import FailureReason
from deskhook.domain.text import NO_CONTROL_CHARACTERS, has_control_characters
from deskhook.domain.url_policy import UrlPolicy, UrlRefused, check_url

MAX_NAME_LENGTH = 200
MAX_RETRY_DELAYS = 20
MIN_RETRY_DELAY = timedelta(seconds=1)
MAX_RETRY_DELAY = timedelta(hours=24)
MAX_CONCURRENCY = 100
MAX_RATE_LIMIT_PER_SECOND = 10_000
CONNECTION_ESTABLISHED = "Connection established successfully!"


class Ordering(StrEnum):
    UNORDERED = "unordered"
    PER_TICKET = "per_ticket"


class ConnectionState(StrEnum):
    UNTESTED = "untested"
    ESTABLISHED = "established"
    FAILED = "failed"


@dataclass(frozen=True)
class ConnectionTest:
    """One connection test to make: a `connection_test` request to `url` for `channel_id`,
    with `webhook_id`, signed at `now` with each of `secrets`."""

    url: str
    secrets: Sequence[str]
    channel_id: str
    webhook_id: str
    now: datetime


@dataclass(frozen=True)
class ConnectionStatus:
    state: ConnectionState = ConnectionState.UNTESTED
    message: str = ""
    http_status: int = 0
    checked_at: datetime | None = None
    failure: FailureReason | None = None


@dataclass(frozen=True)
class ChannelSpec:
    """What an admin sets. Field names are the API's field-mask paths."""

    name: str
    url: str
    department_id: int
    subscriptions: tuple[EventType, ...]
    retries_enabled: bool = False
    # Empty: the default schedule.
    retry_schedule: tuple[timedelta, ...] = ()
    enabled: bool = True
    ordering: Ordering = Ordering.UNORDERED
    # 0: the server's default.
    max_concurrency: int = 0
    # 0: no limit.
    rate_limit_per_second: int = 0


MUTABLE_PATHS = frozenset(f.name for f in fields(ChannelSpec))
OUTPUT_ONLY_PATHS = frozenset(
    {"id", "connection_status", "disabled_reason", "health", "create_time", "update_time"}
)
# Set on create, never changed (docs/design.md §10).
IMMUTABLE_PATHS = frozenset({"account_id"})


@dataclass(frozen=True)
class Channel:
    id: str
    spec: ChannelSpec
    create_time: datetime
    update_time: datetime
    connection: ConnectionStatus = field(default_factory=ConnectionStatus)
    # Why the server disabled it; empty when enabled or disabled by an admin.
    disabled_reason: str = ""
    # Set on create, never changed: only events of this account reach the channel.
    account_id: str = DEFAULT_ACCOUNT


def validate_spec(spec: ChannelSpec, policy: UrlPolicy, prefix: str = "channel") -> None:
    """Raise InvalidArgument listing every field of `spec` that is wrong."""
    violations = list(_spec_violations(spec, policy))
    if violations:
        raise InvalidArgument(
            *(FieldViolation(f"{prefix}.{v.field}", v.description) for v in violations)
        )


def _spec_violations(spec: ChannelSpec, policy: UrlPolicy) -> Iterable[FieldViolation]:
    if not spec.name.strip():
        yield FieldViolation("name", "is required")
    elif len(spec.name) > MAX_NAME_LENGTH:
        yield FieldViolation("name", f"must be at most {MAX_NAME_LENGTH} characters")
    elif has_control_characters(spec.name):
        yield FieldViolation("name", NO_CONTROL_CHARACTERS)
    if not spec.url:
        yield FieldViolation("url", "is required")
    else:
        try:
            check_url(spec.url, policy)
        except UrlRefused as refused:
            yield FieldViolation("url", refused.message)
    if spec.department_id <= 0:
        yield FieldViolation("department_id", "is required and must be positive")
    if not spec.subscriptions:
        yield FieldViolation("subscriptions", "must name at least one event type")
    elif len(set(spec.subscriptions)) != len(spec.subscriptions):
        yield FieldViolation("subscriptions", "must name each event type at most once")
    elif operational := OPERATIONAL_EVENT_TYPES.intersection(spec.subscriptions):
        yield FieldViolation(
            "subscriptions",
            f"{', '.join(sorted(operational))}: operational events go to the server's"
            " operational URL only",
        )
    if len(spec.retry_schedule) > MAX_RETRY_DELAYS:
        # Not each delay as well: thousands of violations outgrow what a client accepts.
        yield FieldViolation("retry_schedule", f"must have at most {MAX_RETRY_DELAYS} delays")
    else:
        for index, delay in enumerate(spec.retry_schedule):
            if not MIN_RETRY_DELAY <= delay <= MAX_RETRY_DELAY:
                yield FieldViolation(
                    f"retry_schedule[{index}]", "must be from 1 second to 24 hours"
                )
    if not 0 <= spec.max_concurrency <= MAX_CONCURRENCY:
        yield FieldViolation("max_concurrency", f"must be from 0 to {MAX_CONCURRENCY}")
    if not 0 <= spec.rate_limit_per_second <= MAX_RATE_LIMIT_PER_SECOND:
        yield FieldViolation(
            "rate_limit_per_second", f"must be from 0 to {MAX_RATE_LIMIT_PER_SECOND}"
        )


def _quoted(path: str, limit: int = 64) -> str:
    return repr(path if len(path) <= limit else path[:limit] + "…")


def resolve_update_paths(paths: Sequence[str], field_name: str = "update_mask") -> frozenset[str]:
    """The mutable fields an update mask names (AIP-134); `*` names them all."""
    if not paths:
        raise InvalidArgument.field(field_name, "names no field to change")
    if "*" in paths:
        if len(paths) > 1:
            raise InvalidArgument.field(field_name, "'*' cannot be combined with other paths")
        return MUTABLE_PATHS
    # Bounded, as the paths are quoted back: an error outgrowing the client's metadata limit
    # reaches it as RESOURCE_EXHAUSTED instead.
    if len(paths) > len(MUTABLE_PATHS):
        raise InvalidArgument.field(
            field_name, f"names {len(paths)} paths; a channel has {len(MUTABLE_PATHS)} fields"
        )
    violations = [
        FieldViolation(field_name, _not_mutable(path))
        for path in paths
        if path not in MUTABLE_PATHS
    ]
    if violations:
        raise InvalidArgument(*violations)
    return frozenset(paths)


def _not_mutable(path: str) -> str:
    if path in OUTPUT_ONLY_PATHS:
        return f"{_quoted(path)} is output only"
    if path in IMMUTABLE_PATHS:
        return f"{_quoted(path)} is set on create and never changes"
    return f"unknown field {_quoted(path)}"


def check_unchanged_account(current: Channel, account_id: str, field_name: str) -> None:
    """An update may name the channel's own account, as it was read (AIP-203: an immutable
    field sent unchanged is no change); naming another is INVALID_ARGUMENT."""
    if account_id and account_id != current.account_id:
        raise InvalidArgument.field(field_name, "is set on create and never changes")


def apply_update(current: ChannelSpec, patch: ChannelSpec, paths: frozenset[str]) -> ChannelSpec:
    """`current` with the fields named by `paths` taken from `patch`."""
    return replace(current, **{path: getattr(patch, path) for path in paths})
