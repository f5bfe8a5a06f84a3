"""How a scheduler shares its window between accounts, and an account's share between its
channels, so that one account's backlog or slow receivers never hold up another's deliveries
(docs/design.md §5.4).

The window is divided max-min fairly between the accounts: one that wants less than an equal
share gets all it wants, and what it leaves is divided between the others in the same way. An
account below its share may claim up to it even while others fill the window (they took it
while this one wanted nothing), and one above its share claims nothing more until attempts end
and bring it back under. Within an account, what it may claim goes to its channels holding the
least first. While accounts share it, the window also follows the event loop every delivery
runs on (`next_window`). Pure: the scheduler counts what each channel holds and could take,
and reads the loop."""

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)
Account = TypeVar("Account", bound=Hashable)


@dataclass(frozen=True)
class Want:
    """A channel's part of the window: `held` deliveries in flight or claimed ahead, and `free`
    more it could take now (0 when it has nothing due, or may not send)."""

    held: int
    free: int


def max_min(capacity: int, demands: Mapping[Key, int]) -> dict[Key, int]:
    """`capacity` divided max-min fairly by `demands`: each gets its demand if that is at most
    an equal share of what the smaller demands leave, else that share. A remainder that does
    not divide evenly goes one each to the first of the largest demands, in the order given."""
    shares = dict.fromkeys(demands, 0)
    left = max(capacity, 0)
    ascending = sorted(demands, key=lambda key: demands[key])
    for index, key in enumerate(ascending):
        share = left // (len(ascending) - index)
        if demands[key] > share:
            larger = set(ascending[index:])
            extra = left - share * len(larger)
            for rank, big in enumerate(k for k in demands if k in larger):
                shares[big] = share + (rank < extra)
            break
        shares[key] = max(demands[key], 0)
        left -= shares[key]
    return shares


def fill(room: int, wants: Mapping[Key, Want]) -> dict[Key, int]:
    """Up to `room` more for `wants`, each at most its `free`, given as water fills a vessel:
    always to those holding the least, so that what they hold afterwards is as even as their
    `free` allows. Where one more does not go round, the first in the order given get it."""
    open_ = {key: want for key, want in wants.items() if want.free > 0}
    given = dict.fromkeys(wants, 0)
    if room <= 0 or not open_:
        return given

    def poured(level: int) -> int:
        return sum(min(max(level - want.held, 0), want.free) for want in open_.values())

    low = min(want.held for want in open_.values())
    high = max(want.held + want.free for want in open_.values())
    if poured(high) <= room:
        return given | {key: want.free for key, want in open_.items()}
    # The highest level the room fills everyone up to: poured(low) is 0, poured(high) > room.
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if poured(middle) <= room else (low, middle)
    extra = room - poured(low)
    for key, want in open_.items():
        given[key] = min(max(low - want.held, 0), want.free)
        # Those at the level with room to rise take one more each while it lasts.
        if extra and want.held + given[key] == low and given[key] < want.free:
            given[key] += 1
            extra -= 1
    return given


def active(accounts: Mapping[Account, Mapping[Key, Want]]) -> list[Account]:
    """The accounts that hold part of the window or could take some."""
    return [
        account
        for account, wants in accounts.items()
        if any(want.held or want.free for want in wants.values())
    ]


def fair_shares(window: int, accounts: Mapping[Account, Mapping[Key, Want]]) -> dict[Key, int]:
    """How many more deliveries each channel may claim now: its account's max-min fair share
    of `window` (by what the account's channels hold and could take), less what the account
    holds, filled into its channels holding the least first."""
    shares = max_min(
        window,
        {
            account: sum(want.held + want.free for want in channels.values())
            for account, channels in accounts.items()
        },
    )
    caps: dict[Key, int] = {}
    for account, channels in accounts.items():
        held = sum(want.held for want in channels.values())
        caps.update(fill(shares[account] - held, channels))
    return caps


@dataclass(frozen=True)
class LoopPolicy:
    """How the window follows the event loop while accounts share it. Every delivery's request
    runs on one event loop: past the deliveries that keep its CPU busy, more in flight only
    lengthen the queue of work every delivery waits in, another account's new one too. So the
    window shrinks while the loop lags by more than `target` seconds with its thread busy at
    least `busy` of the time (a loop that lags while its thread waits lost the CPU to another
    process, and no smaller window helps), to no less than `floor`; it grows back while the
    loop keeps up."""

    target: float = 0.002
    busy: float = 0.5
    floor: int = 32

    def __post_init__(self) -> None:
        if self.target <= 0 or not 0 <= self.busy <= 1 or self.floor < 1:
            raise ValueError("target must be positive, busy a fraction and floor at least 1")


def next_window(current: int, lag: float, busy: float, ceiling: int, policy: LoopPolicy) -> int:
    """The window after a reading of the loop: its `lag` (seconds) and how much of the time its
    thread was `busy`. A quarter smaller while it lags over the target, busy (never below the
    floor, nor above `ceiling`); unchanged while it lags idle; an eighth larger, up to
    `ceiling`, while it keeps up."""
    if lag <= policy.target:
        return min(ceiling, current + max(1, current // 8))
    if busy >= policy.busy:
        return max(min(policy.floor, ceiling), current * 3 // 4)
    return min(current, ceiling)
