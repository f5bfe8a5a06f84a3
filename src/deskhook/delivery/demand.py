"""Which channels may have due deliveries, as far as the scheduler knows without asking the
store: a channel whose last claim came back with fewer than it was allowed had nothing more
due then, and is left out of the window's shares (docs/design.md §5.4) until something may
have made a delivery of it due. Then the share it would have taken goes to the channels that
can use it, instead of being held for one that would not.

What may make a delivery due: new deliveries (ingest names their channels; after a redelivery
or another replica's commit every channel counts again, as the store does not say which), an
attempt of the channel recorded (a ticket's next delivery is first now), claims of it released,
and time (a retry, a rate limit's token or a probe falling due). A claim can also come back
short for a limit the store keeps (its rate, another replica's leases): `max_age` bounds how
long the channel is left out for it.

A claim is on its way while new deliveries commit: a channel stirred after the claim was asked
for is not left out for coming back short, as what made it due may have committed too late for
that claim to see."""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta


class Demand:
    def __init__(self, max_age: timedelta) -> None:
        self._max_age = max_age
        # Channels whose last claim came back short, with when.
        self._idle_since: dict[str, datetime] = {}
        # When something the store keeps falls due (a retry, a token, a probe).
        self._recheck_at: datetime | None = None
        # Each stir is a step: the last step that stirred each channel, and every channel.
        self._steps = 0
        self._stirred: dict[str, int] = {}
        self._stirred_everywhere = 0

    def step(self) -> int:
        """Now, in steps of stirring: what a claim notes before it is asked for."""
        return self._steps

    def reached(self, now: datetime) -> None:
        """It is `now`: what the store keeps may have fallen due."""
        if self._recheck_at is not None and now >= self._recheck_at:
            self.anywhere()

    def may_have_due(self, channel_id: str, now: datetime) -> bool:
        since = self._idle_since.get(channel_id)
        return since is None or now - since >= self._max_age

    def claimed(
        self, allowed: Mapping[str, int], got: Mapping[str, int], now: datetime, asked_at: int
    ) -> bool:
        """A claim asked for at `asked_at` (a `step()`) allowed each channel `allowed[channel]`
        and took `got[channel]`: whether one came back short (its share went unused)."""
        short = False
        for channel_id, cap in allowed.items():
            if got.get(channel_id, 0) < cap:
                short = True
                if max(self._stirred.get(channel_id, 0), self._stirred_everywhere) <= asked_at:
                    self._idle_since[channel_id] = now
            else:
                self._idle_since.pop(channel_id, None)
        return short

    def stir(self, channel_ids: Iterable[str]) -> None:
        """Deliveries of these channels may have fallen due."""
        self._steps += 1
        for channel_id in channel_ids:
            self._idle_since.pop(channel_id, None)
            self._stirred[channel_id] = self._steps

    def anywhere(self) -> None:
        """Deliveries of any channel may have fallen due."""
        self._steps += 1
        self._stirred_everywhere = self._steps
        self._stirred.clear()
        self._idle_since.clear()
        self._recheck_at = None

    def recheck_at(self, moment: datetime | None) -> None:
        """Count every channel again at `moment`, when something the store keeps falls due."""
        self._recheck_at = moment
