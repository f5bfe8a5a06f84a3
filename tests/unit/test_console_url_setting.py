"""The console's public base URL (`--console-url` / DESKHOOK_CONSOLE_URL / `console_url`): a
bare http(s) URL, as minted tokens' sign-in links put `/#token=...` after it (docs/design.md
§10)."""

from pathlib import Path

import pytest

from deskhook.config import ConfigError, load_settings


def test_unset_means_no_links() -> None:
    assert load_settings({}, environ={}).console_url == ""


def test_from_each_source(tmp_path: Path) -> None:
    config = tmp_path / "deskhook.toml"
    config.write_text('console_url = "https://file.example.com"\n')
    environ = {"DESKHOOK_CONFIG": str(config)}
    assert load_settings({}, environ=environ).console_url == "https://file.example.com"
    environ["DESKHOOK_CONSOLE_URL"] = "https://env.example.com/desk/"
    # A trailing slash is dropped: the link adds its own.
    assert load_settings({}, environ=environ).console_url == "https://env.example.com/desk"
    flags = {"console_url": "http://127.0.0.1:8080"}
    assert load_settings(flags, environ=environ).console_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("console.example.com", "expected an https:// (or http://) URL with a host"),
        ("ftp://console.example.com", "expected an https:// (or http://) URL with a host"),
        ("https://", "expected an https:// (or http://) URL with a host"),
        ("https://console.example.com/?x=1", "must have no query (?) or fragment (#)"),
        ("https://console.example.com/#", "must have no query (?) or fragment (#)"),
        ("https://console.example.com/a b", "must be printable ASCII without spaces"),
        ("https://console.example.com/\x1b[2J", "must be printable ASCII without spaces"),
        ("https://cönsole.example.com", "must be printable ASCII without spaces"),
    ],
)
def test_anything_else_is_refused_naming_the_setting(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({}, environ={"DESKHOOK_CONSOLE_URL": value})
    assert str(raised.value).startswith(
        "invalid setting console_url (from environment variable DESKHOOK_CONSOLE_URL): "
    )
    assert message in str(raised.value)
