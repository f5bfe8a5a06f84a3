"""Which channels receive an event: enabled, subscribed to its type, of its department. A
department change is caught by channels of the old and of the new department."""

from collections import defaultdict
from collections.abc import Iterable, Mapping

from deskhook.domain.channel_spec import Channel
from deskhook.domain.events import EventType, PublishedEvent

ChannelIndex = Mapping[tuple[int, EventType], tuple[str, ...]]


def build_index(channels: Iterable[Channel]) -> ChannelIndex:
    """Channel ids by (department, event type), enabled channels only, in creation order."""
    index: defaultdict[tuple[int, EventType], list[str]] = defaultdict(list)
    for channel in channels:
        if channel.spec.enabled:
            for event_type in channel.spec.subscriptions:
                index[(channel.spec.department_id, event_type)].append(channel.id)
    return {key: tuple(ids) for key, ids in index.items()}


def match(index: ChannelIndex, event: PublishedEvent) -> tuple[str, ...]:
    """The ids of the channels that receive the event, each once. `department_ids` holds the
    old and the new department of a department change."""
    if len(event.department_ids) == 1:
        return index.get((event.department_ids[0], event.event_type), ())
    matched: dict[str, None] = {}
    for department_id in event.department_ids:
        matched.update(dict.fromkeys(index.get((department_id, event.event_type), ())))
    return tuple(matched)
