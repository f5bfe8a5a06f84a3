"""Channels and connection tests as people read them."""

from collections.abc import Sequence

from rich.table import Table

from deskhook.cli.enums import CIRCUIT_STATES, CONNECTION_STATES, EVENT_TYPES, ORDERINGS
from deskhook.cli.output import fields_table, span, table, when
from deskhook.v1 import channel_pb2


def connection(status: channel_pb2.ConnectionStatus) -> str:
    """`established: Connection established successfully! (HTTP 200)`."""
    if status.state == channel_pb2.CONNECTION_STATE_UNSPECIFIED:
        return "not tested"
    answered = f" (HTTP {status.http_status})" if status.http_status else ""
    return f"{CONNECTION_STATES.name(status.state)}: {status.message}{answered}"


def _events(channel: channel_pb2.Channel) -> str:
    return ", ".join(EVENT_TYPES.name(number) for number in channel.subscriptions)


def _enabled(channel: channel_pb2.Channel) -> str:
    # Absent means enabled, as on create.
    if not channel.HasField("enabled") or channel.enabled:
        return "yes"
    return f"no: {channel.disabled_reason}" if channel.disabled_reason else "no"


def _retries(channel: channel_pb2.Channel) -> str:
    if not channel.retries_enabled:
        return "off"
    schedule = ", ".join(span(delay) for delay in channel.retry_schedule)
    return f"on ({schedule or 'default schedule'})"


def channel_view(channel: channel_pb2.Channel, signing_secret: str = "") -> Table:
    health = channel.health
    rate_limit = channel.rate_limit_per_second
    rows = [
        ("id", channel.id),
        ("name", channel.name),
        ("url", channel.url),
        ("department", str(channel.department_id)),
        ("events", _events(channel)),
        ("enabled", _enabled(channel)),
        ("retries", _retries(channel)),
        ("ordering", ORDERINGS.name(channel.ordering, "unordered")),
        ("max concurrency", str(channel.max_concurrency or "server default")),
        ("rate limit", f"{rate_limit}/s" if rate_limit else "none"),
        ("connection", connection(channel.connection_status)),
        ("checked at", when(channel.connection_status.checked_at)),
        ("circuit", CIRCUIT_STATES.name(health.circuit_state)),
        ("failures in a row", str(health.consecutive_failures)),
        ("last success", when(health.last_success_time)),
        ("pending deliveries", str(health.pending_deliveries)),
        ("created", when(channel.create_time)),
        ("updated", when(channel.update_time)),
    ]
    if channel.account_id:
        # The default account goes unsaid: a helpdesk that never names accounts sees none.
        rows.insert(1, ("account", channel.account_id))
    if signing_secret:
        rows.insert(0, ("signing secret", f"{signing_secret}  (shown only now: store it)"))
    return fields_table(rows)


def channels_table(channels: Sequence[channel_pb2.Channel]) -> Table:
    # An account column only where some channel names one.
    accounts = any(channel.account_id for channel in channels)
    headers = ("ID", "NAME", "DEPARTMENT", "EVENTS", "URL", "ENABLED", "CONNECTION")
    view = table(*(("ACCOUNT", *headers) if accounts else headers))
    for channel in channels:
        view.add_row(
            *((channel.account_id or "(default)",) if accounts else ()),
            channel.id,
            channel.name,
            str(channel.department_id),
            _events(channel),
            channel.url,
            _enabled(channel),
            CONNECTION_STATES.name(channel.connection_status.state, "not tested"),
        )
    return view
