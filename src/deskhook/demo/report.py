"""What the demo shows: one line per webhook log entry as it arrives, then a summary whose
table lists every event type with its deliveries and verified requests. Pure."""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC

from deskhook.cli.enums import EVENT_TYPES, OUTCOMES, TICKET_EVENT_TYPES
from deskhook.cli.output import milliseconds
from deskhook.demo.receiver import Arrival
from deskhook.v1 import channel_pb2

LOG_COLUMNS = "  {:<12}  {:<24}  {:<8}  {:>7}  {:<15}  {:>6}  {:>7}  {}"
TYPE_COLUMNS = "  {:<24}  {:>9}  {:>8}"


@dataclass
class Tally:
    """The webhook log as seen so far: attempts, each delivery's final outcome by type, and the
    deliveries the receiver verified among them."""

    attempts: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    given_up: Counter[str] = field(default_factory=Counter)
    verified: int = 0

    def add(self, entry: channel_pb2.DeliveryLogEntry, arrival: Arrival | None) -> None:
        self.attempts += 1
        if entry.outcome == channel_pb2.DELIVERY_OUTCOME_DELIVERED:
            self.delivered[EVENT_TYPES.name(entry.event_type)] += 1
            if arrival is not None and arrival.verified:
                self.verified += 1
        elif entry.outcome == channel_pb2.DELIVERY_OUTCOME_GIVEN_UP:
            self.given_up[EVENT_TYPES.name(entry.event_type)] += 1

    @property
    def settled(self) -> int:
        """Deliveries that reached their final outcome."""
        return self.delivered.total() + self.given_up.total()


def log_header() -> str:
    return LOG_COLUMNS.format(
        "time", "event", "ticket", "attempt", "outcome", "status", "latency", "receiver"
    )


def _receiver_note(
    entry: channel_pb2.DeliveryLogEntry, arrival: Arrival | None, verified_so_far: int
) -> str:
    if arrival is None:
        note = f"no request arrived: {entry.error}"
    elif not arrival.verified:
        note = "signature rejected ✗"
    elif arrival.status != 200:
        note = f"verified ✓ but answered {arrival.status} on purpose"
    else:
        note = f"verified ✓ ({verified_so_far} so far)"
    if entry.HasField("next_attempt_at"):
        delay = entry.next_attempt_at.ToDatetime(UTC) - entry.attempted_at.ToDatetime(UTC)
        note += f"; retry in {delay.total_seconds():.1f} s"
    return note


def log_line(
    entry: channel_pb2.DeliveryLogEntry, arrival: Arrival | None, verified_so_far: int
) -> str:
    """One attempt; `arrival` is how the receiver judged it, None when no request reached it;
    `verified_so_far` counts the delivered requests the receiver verified, this one included."""
    # Local time to the millisecond: the person watching reads it against their clock.
    attempted_at = entry.attempted_at.ToDatetime(UTC).astimezone()
    return LOG_COLUMNS.format(
        attempted_at.strftime("%H:%M:%S.%f")[:-3],
        EVENT_TYPES.name(entry.event_type),
        entry.ticket_number,
        entry.attempt,
        OUTCOMES.name(entry.outcome),
        entry.http_status or "-",
        milliseconds(entry.duration),
        _receiver_note(entry, arrival, verified_so_far),
    )


def problems(tally: Tally, verified: Mapping[str, int], rejected: int) -> list[str]:
    """What keeps the demo from passing: every event type delivered and verified, no request
    rejected, no delivery given up. Empty when it passed."""
    found = [
        f"{name}: nothing delivered and verified"
        for name in TICKET_EVENT_TYPES
        if not (tally.delivered[name] and verified.get(name, 0))
    ]
    if rejected:
        found.append(f"{rejected} requests failed signature verification")
    if tally.given_up:
        found.append(f"{tally.given_up.total()} deliveries were given up")
    return found


def summary(
    published: int, matched: int, tally: Tally, verified: Mapping[str, int], rejected: int
) -> list[str]:
    lines = [
        "",
        "Summary",
        f"  published   {published} events, {matched} deliveries to the channel",
        f"  log         {tally.attempts} attempts: {tally.delivered.total()} delivered, "
        f"{tally.given_up.total()} given up",
        f"  receiver    {sum(verified.values())} verified ✓, {rejected} rejected ✗",
        "",
        TYPE_COLUMNS.format("event type", "delivered", "verified"),
        *(
            TYPE_COLUMNS.format(name, tally.delivered[name], verified.get(name, 0))
            for name in TICKET_EVENT_TYPES
        ),
        "",
    ]
    found = problems(tally, verified, rejected)
    if not found:
        return [*lines, "✓ Every event type was delivered and verified."]
    return [*lines, "✗ The demo failed:", *(f"  {problem}" for problem in found)]
