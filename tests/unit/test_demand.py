"""Which channels may have due deliveries (deskhook.delivery.demand): one whose claim came back
short is left out until something stirs it, but not for a claim that was on its way while it
was stirred, as that claim may have missed what the stir announced."""

from datetime import timedelta

import pytest

from deskhook.delivery.demand import Demand
from tests.support.store_items import NOW

MAX_AGE = timedelta(seconds=1)


def test_a_channel_that_came_back_short_is_left_out_until_stirred() -> None:
    demand = Demand(MAX_AGE)
    asked_at = demand.step()
    assert demand.claimed({"a": 2}, {"a": 1}, NOW, asked_at)
    assert not demand.may_have_due("a", NOW)
    assert demand.may_have_due("a", NOW + MAX_AGE)
    demand.stir(["a"])
    assert demand.may_have_due("a", NOW)


@pytest.mark.parametrize("stir", ["the channel", "every channel"])
def test_a_stir_while_the_claim_was_on_its_way_keeps_the_channel_in(stir: str) -> None:
    demand = Demand(MAX_AGE)
    asked_at = demand.step()
    # Ingest commits a delivery of "a" after the claim read the store, before it returns.
    if stir == "the channel":
        demand.stir(["a"])
    else:
        demand.anywhere()
    assert demand.claimed({"a": 1, "b": 1}, {}, NOW, asked_at)
    assert demand.may_have_due("a", NOW)
    # "b" was stirred too only when every channel was.
    assert demand.may_have_due("b", NOW) is (stir == "every channel")
