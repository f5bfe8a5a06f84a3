"""The window's fair shares (deskhook.domain.shares), as tables: max-min division between
accounts, filling an account's share into its channels, what each channel may claim, and how
the window follows the event loop's lag."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deskhook.domain.shares import (
    LoopPolicy,
    Want,
    active,
    fair_shares,
    fill,
    max_min,
    next_window,
)


@pytest.mark.parametrize(
    ("capacity", "demands", "shares"),
    [
        # Enough for everyone: each gets its demand.
        (10, {"a": 3, "b": 4}, {"a": 3, "b": 4}),
        # Not enough: equal shares, a small demand wholly and its leftover to the others.
        (10, {"a": 100, "b": 100}, {"a": 5, "b": 5}),
        (10, {"a": 100, "b": 2}, {"a": 8, "b": 2}),
        (10, {"a": 100, "b": 2, "c": 100}, {"a": 4, "b": 2, "c": 4}),
        # A remainder goes one each to the first of the largest, in the order given.
        (10, {"a": 100, "b": 100, "c": 100}, {"a": 4, "b": 3, "c": 3}),
        (10, {"c": 100, "b": 100, "a": 100}, {"c": 4, "b": 3, "a": 3}),
        (256, {"a": 1000, "b": 20}, {"a": 236, "b": 20}),
        # Nothing to share, nothing wanted.
        (0, {"a": 5}, {"a": 0}),
        (-3, {"a": 5}, {"a": 0}),
        (10, {"a": 0, "b": 20}, {"a": 0, "b": 10}),
        (10, {}, {}),
    ],
)
def test_max_min(capacity: int, demands: dict[str, int], shares: dict[str, int]) -> None:
    assert max_min(capacity, demands) == shares


@pytest.mark.parametrize(
    ("room", "wants", "given"),
    [
        # The lowest holders first, up to the level of the next.
        (3, {"a": Want(5, 10), "b": Want(0, 10)}, {"a": 0, "b": 3}),
        (7, {"a": Want(5, 10), "b": Want(0, 10)}, {"a": 1, "b": 6}),
        # Level, then one each to the first while the room lasts.
        (5, {"a": Want(2, 10), "b": Want(2, 10)}, {"a": 3, "b": 2}),
        # A channel's free bounds it; its room goes to the others.
        (9, {"a": Want(0, 1), "b": Want(0, 10), "c": Want(0, 10)}, {"a": 1, "b": 4, "c": 4}),
        # Room to spare: everyone gets its free.
        (50, {"a": Want(3, 2), "b": Want(0, 4)}, {"a": 2, "b": 4}),
        # Nothing free, or no room.
        (5, {"a": Want(0, 0), "b": Want(9, 2)}, {"a": 0, "b": 2}),
        (0, {"a": Want(0, 5)}, {"a": 0}),
        (-2, {"a": Want(0, 5)}, {"a": 0}),
    ],
)
def test_fill(room: int, wants: dict[str, Want], given: dict[str, int]) -> None:
    assert fill(room, wants) == given


@pytest.mark.parametrize(
    ("window", "accounts", "caps"),
    [
        # One account alone has the whole window.
        (10, {"a": {"a1": Want(0, 20)}}, {"a1": 10}),
        (10, {"a": {"a1": Want(0, 20), "a2": Want(0, 20)}}, {"a1": 5, "a2": 5}),
        # A backlog fills the window; another account's channel still gets its fair share,
        # beyond the window while the first holds more than its own.
        (10, {"a": {"a1": Want(10, 10)}, "b": {"b1": Want(0, 20)}}, {"a1": 0, "b1": 5}),
        (10, {"a": {"a1": Want(10, 10)}, "b": {"b1": Want(0, 1)}}, {"a1": 0, "b1": 1}),
        # Accounts share by account, not by channel: many channels do not buy more.
        (
            12,
            {"a": {f"a{n}": Want(0, 20) for n in range(5)}, "b": {"b1": Want(0, 20)}},
            {"a0": 2, "a1": 1, "a2": 1, "a3": 1, "a4": 1, "b1": 6},
        ),
        # What an account does not want goes to the one that does.
        (10, {"a": {"a1": Want(0, 20)}, "b": {"b1": Want(2, 0)}}, {"a1": 8, "b1": 0}),
        # An account over its share claims nothing until it is back under.
        (
            10,
            {"a": {"a1": Want(8, 20), "a2": Want(0, 20)}, "b": {"b1": Want(1, 20)}},
            {"a1": 0, "a2": 0, "b1": 4},
        ),
    ],
)
def test_fair_shares(
    window: int, accounts: dict[str, dict[str, Want]], caps: dict[str, int]
) -> None:
    assert fair_shares(window, accounts) == caps


wants = st.builds(Want, st.integers(0, 40), st.integers(0, 40))
accounts = st.dictionaries(
    st.sampled_from("abcd"), st.dictionaries(st.text("xyz", min_size=1, max_size=3), wants)
).filter(
    lambda found: len({c for cs in found.values() for c in cs}) == sum(map(len, found.values()))
)


@given(st.integers(0, 300), accounts)
def test_no_account_gets_past_its_share_and_none_is_left_short(
    window: int, found: dict[str, dict[str, Want]]
) -> None:
    caps = fair_shares(window, found)
    shares = max_min(
        window, {a: sum(w.held + w.free for w in cs.values()) for a, cs in found.items()}
    )
    for account, channels in found.items():
        held = sum(want.held for want in channels.values())
        given_ = sum(caps[channel] for channel in channels)
        assert all(0 <= caps[channel] <= want.free for channel, want in channels.items())
        # Up to its share, and all of it that its channels can take.
        assert given_ == max(0, min(shares[account] - held, sum(w.free for w in channels.values())))
    # Shared out in full when the accounts want at least the window, and never beyond it but
    # for what accounts over their share already hold.
    over = sum(max(0, sum(w.held for w in cs.values()) - shares[a]) for a, cs in found.items())
    total = sum(w.held for cs in found.values() for w in cs.values()) + sum(caps.values())
    assert total <= max(window, 0) + over


@given(st.integers(0, 100), st.dictionaries(st.text("xyz", min_size=1, max_size=3), wants))
def test_fill_leaves_no_one_lower_than_it_could_be(room: int, found: dict[str, Want]) -> None:
    given_ = fill(room, found)
    assert sum(given_.values()) == min(max(room, 0), sum(want.free for want in found.values()))
    level = {key: want.held + given_[key] for key, want in found.items()}
    # One that got something never ends more than one above one that could have had it.
    for key in found:
        for other, theirs in found.items():
            if given_[key] and given_[other] < theirs.free:
                assert level[key] <= level[other] + 1


POLICY = LoopPolicy(target=0.005, busy=0.8, floor=32)
LAGGING, KEEPING_UP = 0.050, 0.001


@pytest.mark.parametrize(
    ("current", "lag", "busy", "ceiling", "window"),
    [
        # The loop lags, busy: a quarter smaller, down to the floor and no further.
        (256, LAGGING, 0.9, 256, 192),
        (40, LAGGING, 1.0, 256, 32),
        (32, LAGGING, 0.9, 256, 32),
        # A window set below the floor is not raised by a lag.
        (8, LAGGING, 0.9, 8, 8),
        # It lags while its thread waits (another process had the CPU): unchanged.
        (256, LAGGING, 0.3, 256, 256),
        (100, LAGGING, 0.3, 64, 64),
        # The loop keeps up: an eighth larger (at least one), up to the ceiling.
        (32, KEEPING_UP, 0.9, 256, 36),
        (250, KEEPING_UP, 0.2, 256, 256),
        (4, KEEPING_UP, 0.9, 8, 5),
        (256, 0.005, 1.0, 256, 256),
    ],
)
def test_next_window(current: int, lag: float, busy: float, ceiling: int, window: int) -> None:
    assert next_window(current, lag, busy, ceiling, POLICY) == window


@pytest.mark.parametrize(
    ("target", "busy", "floor"),
    [(0.0, 0.8, 32), (-1.0, 0.8, 32), (0.005, 1.5, 32), (0.005, 0.8, 0)],
)
def test_a_loop_policy_that_would_stop_every_claim_is_refused(
    target: float, busy: float, floor: int
) -> None:
    with pytest.raises(ValueError, match="target must be positive"):
        LoopPolicy(target=target, busy=busy, floor=floor)


@pytest.mark.parametrize(
    ("accounts", "found"),
    [
        ({}, []),
        ({"a": {"a1": Want(5, 10), "a2": Want(0, 3)}}, ["a"]),
        # An account with nothing held and nothing due is not active.
        ({"a": {"a1": Want(5, 10)}, "b": {"b1": Want(0, 0)}}, ["a"]),
        ({"a": {"a1": Want(5, 0)}, "b": {"b1": Want(1, 0)}}, ["a", "b"]),
        ({"a": {"a1": Want(0, 0)}, "b": {"b1": Want(0, 0), "b2": Want(0, 20)}}, ["b"]),
    ],
)
def test_active(accounts: dict[str, dict[str, Want]], found: list[str]) -> None:
    assert active(accounts) == found
