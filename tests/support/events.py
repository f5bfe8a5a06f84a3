"""Valid events of every type, for tests that publish."""

from datetime import UTC, datetime

from deskhook.v1 import event_pb2

CHANGE_FIELDS = {
    event_pb2.EVENT_TYPE_TICKET_STATUS_CHANGE: ("status", "open", "closed"),
    event_pb2.EVENT_TYPE_TICKET_PRIORITY_CHANGE: ("priority", "low", "high"),
    event_pb2.EVENT_TYPE_TICKET_TYPE_CHANGE: ("type", "question", "incident"),
    event_pb2.EVENT_TYPE_TICKET_ASSIGNEE_CHANGE: ("assignee", "", "12"),
}
# The twelve a producer publishes; the operational four are deskhook's own.
TICKET_EVENT_TYPES = [
    number for name, number in event_pb2.EventType.items() if name.startswith("EVENT_TYPE_TICKET_")
]
OPERATIONAL_EVENT_TYPES = [
    number
    for name, number in event_pb2.EventType.items()
    if number and not name.startswith("EVENT_TYPE_TICKET_")
]
POST_TYPES = {
    event_pb2.EVENT_TYPE_TICKET_ANSWER,
    event_pb2.EVENT_TYPE_TICKET_CHAT_ANSWER,
    event_pb2.EVENT_TYPE_TICKET_COMMENT,
}


def make_event(
    event_id: str,
    event_type: event_pb2.EventType.ValueType = event_pb2.EVENT_TYPE_TICKET_CREATE,
    *,
    department_id: int = 7,
    ticket_id: int = 1001,
    old_department_id: int = 0,
    account_id: str = "",
) -> event_pb2.Event:
    """A valid event of `event_type` in `account_id`, with the detail its type needs. For a
    department change the ticket moves from `old_department_id` to `department_id`."""
    event = event_pb2.Event(
        event_id=event_id,
        event_type=event_type,
        account_id=account_id,
        ticket=event_pb2.Ticket(
            id=ticket_id,
            unique_id=f"HD-{ticket_id}",
            title="Printer on fire",
            status="open",
            priority="high",
            type="incident",
            department_id=department_id,
            department_name=f"Department {department_id}",
            client=event_pb2.Person(id=5, name="Ada", kind=event_pb2.PERSON_KIND_CLIENT),
            tags=["hardware"],
        ),
    )
    event.occurred_at.FromDatetime(datetime.now(UTC))
    event.ticket.custom_fields.update({"contract": "gold", "seats": 12})
    if event_type in POST_TYPES:
        event.post.CopyFrom(event_pb2.Post(id=77, text="Have you tried turning it off?"))
    elif event_type in CHANGE_FIELDS:
        field, old, new = CHANGE_FIELDS[event_type]
        event.change.CopyFrom(event_pb2.FieldChange(field=field, old_value=old, new_value=new))
    elif event_type == event_pb2.EVENT_TYPE_TICKET_DEPARTMENT_CHANGE:
        event.change.CopyFrom(
            event_pb2.FieldChange(
                field="department", old_value=str(old_department_id), new_value=str(department_id)
            )
        )
    elif event_type == event_pb2.EVENT_TYPE_TICKET_RATING:
        event.rating.CopyFrom(event_pb2.Rating(score=5, comment="Quick!"))
    elif event_type == event_pb2.EVENT_TYPE_TICKET_SLA_REACHED:
        event.sla.deadline.FromDatetime(datetime.now(UTC))
    return event
