"""Which channels receive an event: of its account, enabled, subscribed to its type, of its
department. A department change is caught by channels of the old and of the new department,
within the event's account: department 7 of one account is not department 7 of another."""

from collections import defaultdict
from collections.abc import Iterable, Mapping

from deskhook.domain.channel_spec import Channel
from deskhook.domain.events import EventType, PublishedEvent

ChannelIndex = Mapping[tuple[str, int, EventType], tuple[str, ...]]


def build_index(channels: Iterable[Channel]) -> ChannelIndex:
    """Channel ids by (account, department, event type), enabled channels only, in creation
    order."""
    index: defaultdict[tuple[str, int, EventType], list[str]] = defaultdict(list)
    for channel in channels:
        if channel.spec.enabled:
            for event_type in channel.spec.subscriptions:
                index[(channel.account_id, channel.spec.department_id, event_type)].append(
                    channel.id
                )
    return {key: tuple(ids) for key, ids in index.items()}


def match(index: ChannelIndex, event: PublishedEvent) -> tuple[str, ...]:
    """The ids of the channels that receive the event, each once. `department_ids` holds the
    old and the new department of a department change."""
    if len(event.department_ids) == 1:
        return index.get((event.account_id, event.department_ids[0], event.event_type), ())
    matched: dict[str, None] = {}
    for department_id in event.department_ids:
        key = (event.account_id, department_id, event.event_type)
        matched.update(dict.fromkeys(index.get(key, ())))
    return tuple(matched)
