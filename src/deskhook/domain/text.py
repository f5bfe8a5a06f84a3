"""Rules for text that people read back: a ticket number or a channel name reaches terminals
and consoles, where a control character can move the cursor, recolour or redraw a line."""

import re
from typing import Final

# C0 (NUL to US), DEL and C1 (U+0080 to U+009F): the code points terminals act on. PostgreSQL
# text cannot hold NUL at all.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
NO_CONTROL_CHARACTERS: Final = "must not contain control characters (C0, DEL or C1)"


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None
