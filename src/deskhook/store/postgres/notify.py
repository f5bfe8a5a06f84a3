"""What a write tells the other replicas sharing its database (see `listen`).

A write that makes deliveries due or changes a channel notifies in its own statement
(`pg_notify`), so the notification goes out exactly when the write commits, and never if it
rolls back. Its payload names the sending store (its claim owner id), which skips its own."""

DELIVERIES_DUE = "deskhook_deliveries"
CHANNELS_CHANGED = "deskhook_channels"


def notify_if_any(topic: str, changes: str, payload: int) -> str:
    """A WITH query `woken` that notifies `topic`, with parameter number `payload`, when the WITH
    query `changes` returned a row. A SELECT in WITH runs only when the main query reads it,
    so the main query joins it: `LEFT JOIN woken ON true` (at most one row)."""
    return (
        f"woken AS (SELECT pg_notify('{topic}', ${payload})"
        f" FROM (SELECT FROM {changes} LIMIT 1) AS any_change)"
    )
