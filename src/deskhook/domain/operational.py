"""Operational webhooks (docs/design.md §13): deskhook's own notices of what an administrator
must act on. They travel as events of a system account to its one channel, whose URL and secret
the server's settings give, so the engine that delivers ticket events stores, signs, retries and
logs them alike. Building the channel and each notice is pure: `now` is passed in."""

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from deskhook.domain.channel_spec import Channel, ChannelSpec
from deskhook.domain.console_links import console_link
from deskhook.domain.delivery import DeliveryRef
from deskhook.domain.errors import FailedPrecondition
from deskhook.domain.events import OPERATIONAL_EVENT_TYPES, EventType

# "/" is in no account id a client can name (deskhook.domain.accounts): no account token
# reaches the system account, and no producer publishes into it; operators see it like any.
SYSTEM_ACCOUNT: Final = "deskhook/system"
# Generated channel ids have a prefix and random letters: this one is never generated.
OPERATIONAL_CHANNEL_ID: Final = "operational"
OPERATIONAL_CHANNEL_NAME: Final = "Operational webhooks"


def operational_channel(url: str, now: datetime) -> Channel:
    """The system account's channel for `url`, as the server keeps it in step with its
    settings."""
    return Channel(
        id=OPERATIONAL_CHANNEL_ID,
        spec=ChannelSpec(
            name=OPERATIONAL_CHANNEL_NAME,
            url=url,
            # Notices are addressed to the channel, never matched by department.
            department_id=0,
            subscriptions=tuple(sorted(OPERATIONAL_EVENT_TYPES)),
            # On the default schedule: a notice outlives a receiver that is down for a day.
            retries_enabled=True,
        ),
        create_time=now,
        update_time=now,
        account_id=SYSTEM_ACCOUNT,
    )


def check_changeable(channel_id: str) -> None:
    """Refuse to change the operational channel through the API: the settings make it what it
    is, and would undo the change at the next start."""
    if channel_id == OPERATIONAL_CHANNEL_ID:
        raise FailedPrecondition(
            "the operational channel follows the server's operational_url and"
            " operational_secret settings: change those",
            reason="OPERATIONAL_CHANNEL",
        )


def reports_on(channel: Channel) -> bool:
    """Whether what happens to `channel` is worth a notice: any channel but the system
    account's, whose own failures would otherwise report on themselves without end."""
    return channel.account_id != SYSTEM_ACCOUNT


@dataclass(frozen=True, slots=True)
class Notice:
    """One operational webhook, as its body (deskhook.v1.OperationalEvent) says it. `event_id`
    is unique to what it reports, so a notice stored twice is delivered once."""

    event_id: str
    event_type: EventType
    occurred_at: datetime
    channel_id: str
    account_id: str
    channel_name: str
    reason: str
    console_link: str
    # For delivery.exhausted: the delivery given up, and its last answer.
    delivery: DeliveryRef | None = None
    attempts: int = 0
    http_status: int = 0


def notice(
    event_type: EventType,
    channel: Channel,
    reason: str,
    now: datetime,
    *,
    console_url: str,
    unique: str,
    delivery: DeliveryRef | None = None,
    attempts: int = 0,
    http_status: int = 0,
) -> Notice:
    """The notice of `event_type` about `channel`; `unique` tells it from the channel's other
    notices of the type (a time, or the delivery and attempt it reports)."""
    return Notice(
        event_id=f"{event_type.value}.{channel.id}.{unique}",
        event_type=event_type,
        occurred_at=now,
        channel_id=channel.id,
        account_id=channel.account_id,
        channel_name=channel.spec.name,
        reason=reason,
        console_link=console_link(console_url, channel=channel.id),
        delivery=delivery,
        attempts=attempts,
        http_status=http_status,
    )
