"""The webhook log's filters as SQL comparisons, shared by both stores: each adds its own
placeholders."""

from deskhook.domain.accounts import Scope
from deskhook.domain.times import to_micros
from deskhook.store.base import LogFilter


def log_comparisons(scope: Scope, log_filter: LogFilter) -> list[tuple[str, object]]:
    """A `column operator` and its value for the scope's account and each filter that is set,
    e.g. `("channel_id =", "ch_1")`."""
    checks: list[tuple[str, object]] = []
    if scope.account_id is not None:
        checks.append(("account_id =", scope.account_id))
    if log_filter.channel_id:
        checks.append(("channel_id =", log_filter.channel_id))
    if log_filter.ticket_id is not None:
        checks.append(("ticket_id =", log_filter.ticket_id))
    if log_filter.event_type is not None:
        checks.append(("event_type =", log_filter.event_type.value))
    if log_filter.outcome is not None:
        checks.append(("outcome =", log_filter.outcome.value))
    if log_filter.start_time is not None:
        checks.append(("attempted_at >=", to_micros(log_filter.start_time)))
    if log_filter.end_time is not None:
        checks.append(("attempted_at <", to_micros(log_filter.end_time)))
    if log_filter.event_id:
        checks.append(("event_id =", log_filter.event_id))
    return checks
