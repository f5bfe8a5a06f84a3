"""The reference pages of the docs site are what scripts/gen_reference.py makes from the protos
and the settings, so they cannot drift; its check names a stale page and how to fix it; and the
help of each `deskhook serve` flag, where a setting's description is written, states the bounds
and choices the setting enforces."""

import re
from pathlib import Path

from gen_reference import (
    API_PAGE,
    CONFIGURATION_PAGE,
    FIX,
    bounds,
    choices,
    render_pages,
    stale_pages,
)

from deskhook.cli.serve import SETTING_FLAGS
from deskhook.config import Settings

PAGES = render_pages()


def test_committed_pages_match_their_sources() -> None:
    assert not stale_pages(PAGES), FIX


def test_check_names_a_stale_page_and_a_missing_one(tmp_path: Path) -> None:
    (tmp_path / API_PAGE).parent.mkdir(parents=True)
    (tmp_path / API_PAGE).write_text(PAGES[API_PAGE].replace("Creates a channel", "Makes one"))
    assert stale_pages(PAGES, tmp_path) == [
        f"{API_PAGE} (differs from its sources)",
        f"{CONFIGURATION_PAGE} (missing)",
    ]
    assert "scripts/gen_reference.py" in FIX


def test_every_link_within_a_page_has_its_anchor() -> None:
    for page, text in PAGES.items():
        anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
        links = set(re.findall(r"\]\(#([^)]+)\)", text))
        assert links <= anchors, f"{page}: {sorted(links - anchors)}"


def test_api_reference_says_how_the_json_api_serves_each_rpc() -> None:
    text = PAGES[API_PAGE]
    assert "`POST /deskhook.v1.ChannelAdmin/CreateChannel` (unary)" in text
    assert "`POST /deskhook.v1.ChannelAdmin/WatchDeliveryLog` (server stream)" in text
    assert "| none: gRPC only, as HTTP/1.1 cannot carry a client stream |" in text
    assert "/deskhook.v1.EventIngest/PublishEvents`" not in text


def test_flag_help_states_the_bounds_and_choices_of_its_setting() -> None:
    helps = {each.setting: each.help for each in SETTING_FLAGS}
    for name, info in Settings.model_fields.items():
        limits = bounds(info)
        if limits is not None:
            assert f"{limits[0]}-{limits[1]}" in helps[name], name
        for choice in choices(info):
            assert choice in helps[name], name
