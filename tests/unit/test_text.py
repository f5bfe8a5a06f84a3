"""The one rule for text people read back (ticket numbers, channel names): no control
characters a terminal would act on."""

import pytest

from deskhook.domain.text import has_control_characters


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HD-1001", False),
        ("", False),
        ("Café ✓ 東京", False),
        # NO-BREAK SPACE, the first code point after C1.
        ("a\xa0b", False),
        ("\x00", True),
        ("\t", True),
        ("\x1b[31m", True),
        ("\x1f", True),
        ("\x7f", True),
        ("\x80", True),
        ("\x9b", True),
        ("\x9f", True),
        (" \x20", False),
    ],
)
def test_control_characters(text: str, expected: bool) -> None:
    assert has_control_characters(text) is expected
