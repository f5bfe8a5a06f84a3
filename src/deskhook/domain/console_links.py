"""Links into the console: its address and a fragment the page reads on load (docs/console.md).
The fragment is never sent to a server nor put in a Referer, so no access log sees a token in
it."""

from urllib.parse import quote, urlencode


def console_link(console_url: str, **fragment: str) -> str:
    """The console at `console_url` opened with `fragment` (`token=…`, `channel=…`); "" when
    the console's address is unknown."""
    if not console_url:
        return ""
    return f"{console_url.rstrip('/')}/#{urlencode(fragment, quote_via=quote, safe='')}"
