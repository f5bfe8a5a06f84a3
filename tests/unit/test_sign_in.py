"""How many refused sign-ins an address may make (docs/design.md §12.1): the pure rules, and the
bounded memory that keeps them."""

from datetime import timedelta

import pytest

from deskhook.api.sign_in_limit import SignInLimiter
from deskhook.domain.rate import TokenBucket
from deskhook.domain.sign_in import SignInPolicy, address_key, after_refusal, may_try
from tests.support.clock import FakeClock
from tests.support.store_items import NOW

POLICY = SignInPolicy(burst=3, per_minute=6)  # a try back every 10 s


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        (None, ""),
        ("not an address", "not an address"),
    ],
)
def test_addresses_count_by_host_or_ipv6_network(address: str | None, key: str) -> None:
    assert address_key(address) == key


def test_an_address_has_its_burst_then_one_try_per_refill() -> None:
    bucket: TokenBucket | None = None
    for _ in range(POLICY.burst):
        assert may_try(bucket, POLICY, NOW)
        bucket = after_refusal(bucket, POLICY, NOW)
    assert not may_try(bucket, POLICY, NOW)
    assert not may_try(bucket, POLICY, NOW + timedelta(seconds=9.9))
    assert may_try(bucket, POLICY, NOW + timedelta(seconds=10))


def test_the_limiter_remembers_a_bounded_number_of_addresses() -> None:
    clock = FakeClock(NOW)
    limiter = SignInLimiter(clock, POLICY, max_addresses=2)
    for _ in range(POLICY.burst):
        limiter.refused("192.0.2.1")
    assert not limiter.allows("192.0.2.1")
    # Other addresses are counted apart; past the bound the longest quiet is forgotten.
    limiter.refused("192.0.2.2")
    assert limiter.allows("192.0.2.2")
    limiter.refused("192.0.2.3")
    assert limiter.allows("192.0.2.1")
