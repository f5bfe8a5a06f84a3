"""Deliveries and the webhook log: what one attempt to deliver one event to one channel is."""

import base64
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from deskhook.domain.events import EventType
from deskhook.domain.responses import FailureReason


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRY_SCHEDULED = "retry_scheduled"
    GIVEN_UP = "given_up"


@dataclass(frozen=True, slots=True)
class DeliveryRef:
    """Which delivery: one event on one channel, with the ticket it concerns and the account of
    both. A claimed delivery and every line of its webhook log carry it."""

    delivery_id: int
    channel_id: str
    event_id: str
    event_type: EventType
    ticket_id: int
    ticket_number: str
    account_id: str


@dataclass(frozen=True, slots=True)
class DueDelivery(DeliveryRef):
    """A pending delivery claimed for an attempt, with the event it carries."""

    # Attempts made before this one.
    attempts: int
    # The deskhook.v1.Event as published.
    payload: bytes


@dataclass(frozen=True, slots=True)
class Attempt(DeliveryRef):
    """One line of the webhook log. `id` is assigned by the store."""

    attempt: int
    http_status: int
    response_body: str
    outcome: AttemptOutcome
    attempted_at: datetime
    duration: timedelta
    error: str
    failure: FailureReason | None
    webhook_id: str
    next_attempt_at: datetime | None
    id: int = 0


# An attempt asks twice, for its request and its log entry; attempts in flight fit.
@functools.lru_cache(maxsize=1024)
def webhook_id(channel_id: str, event_id: str) -> str:
    """The `webhook-id` header: the same for every attempt of one event on one channel, and
    different across channels, so receivers can deduplicate on it."""
    digest = hashlib.sha256(f"{channel_id}\0{event_id}".encode()).digest()[:15]
    return "msg_" + base64.b32encode(digest).decode("ascii").lower()
