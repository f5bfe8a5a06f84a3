"""Print the webhook reference's examples: one body of each of the twelve event types, made by
the renderer that builds real deliveries, as collapsible Markdown blocks.

    .venv/bin/python scripts/webhook_examples.py

Paste the output between the webhook-examples markers in docs/webhooks.md;
tests/process/test_webhook_examples.py fails until the two agree."""

import json
from datetime import UTC, datetime, timedelta

from deskhook.api.convert import event_type_from_proto
from deskhook.delivery.payload import event_body
from deskhook.demo.samples import sample_events
from deskhook.domain.events import EventType

# A made-up channel id in the server's format, so the examples read like real requests.
CHANNEL_ID = "ch_7hq2mzk4ve5xr3tdn6wbpy2c"
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SPACING = timedelta(minutes=7)

# The subscription each type answers to, as the helpdesk's settings page names it
# (docs/design.md §3).
SUBSCRIPTIONS = {
    EventType.TICKET_CREATE: "ticket created",
    EventType.TICKET_ANSWER: "answer added (classic ticket view)",
    EventType.TICKET_CHAT_ANSWER: "answer added to chat (omni view)",
    EventType.TICKET_COMMENT: "comment added",
    EventType.TICKET_STATUS_CHANGE: "status changed",
    EventType.TICKET_PRIORITY_CHANGE: "priority changed",
    EventType.TICKET_TYPE_CHANGE: "type changed",
    EventType.TICKET_ASSIGNEE_CHANGE: "assignee changed",
    EventType.TICKET_CLOSE: "ticket closed",
    EventType.TICKET_DEPARTMENT_CHANGE: "department changed",
    EventType.TICKET_SLA_REACHED: "SLA reached",
    EventType.TICKET_RATING: "rating added",
}


def example_bodies() -> dict[EventType, bytes]:
    """The body of each event type, from the demo's first sample ticket: its story holds all
    twelve, each once."""
    bodies = {}
    for event in sample_events(1, START, SPACING):
        event_type = event_type_from_proto(event.event_type, "event_type")
        bodies[event_type] = event_body(event.SerializeToString(), event_type, CHANNEL_ID)
    return bodies


def markdown() -> str:
    bodies = example_bodies()
    blocks = []
    for event_type, subscription in SUBSCRIPTIONS.items():
        body = json.loads(bodies[event_type])
        # A Struct is a map, rendered in an order that changes from run to run: sorted, the
        # page stays put.
        fields = body["ticket"]["custom_fields"]
        body["ticket"]["custom_fields"] = dict(sorted(fields.items()))
        # Indented for reading; on the wire the same JSON is one line.
        shown = json.dumps(body, indent=2, ensure_ascii=False)
        blocks.append(
            # markdown="1": the docs site renders the block inside (GitHub does anyway).
            f'<details markdown="1"><summary><code>{event_type.value}</code>:'
            f" {subscription}</summary>\n\n"
            f"```json\n{shown}\n```\n\n</details>\n"
        )
    return "\n".join(blocks)


if __name__ == "__main__":
    print(markdown(), end="")
