"""Console links: the console's address, then a fragment the page reads on load, each value
encoded so that it stays one value."""

import pytest

from deskhook.domain.console_links import console_link


@pytest.mark.parametrize(
    ("console_url", "link"),
    [
        ("https://console.example.com", "https://console.example.com/#token=dhat_x.y.z"),
        ("https://example.com/desk/", "https://example.com/desk/#token=dhat_x.y.z"),
        ("", ""),
    ],
)
def test_a_sign_in_link_carries_the_token_in_its_fragment(console_url: str, link: str) -> None:
    assert console_link(console_url, token="dhat_x.y.z") == link


def test_a_channel_link_keeps_an_odd_id_one_value() -> None:
    assert console_link("https://d.example", channel="ch_1") == "https://d.example/#channel=ch_1"
    assert (
        console_link("https://d.example", channel="a&token=x #/é")
        == "https://d.example/#channel=a%26token%3Dx%20%23%2F%C3%A9"
    )
