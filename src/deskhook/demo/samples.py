"""The demo's sample traffic: a few tickets, each living through all twelve events from creation
to a move to another department, their stories interleaved as a helpdesk's morning would be.
Pure: the start time and spacing are passed in."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deskhook.v1 import event_pb2

Person = event_pb2.Person
FieldChange = event_pb2.FieldChange

# The department the demo channel watches; every ticket starts there.
SUPPORT_ID = 1
SUPPORT_NAME = "Customer Support"
# A ticket's story starts this many events after the previous ticket's, so stories overlap.
STAGGER = 3
SLA_POLICY = "Standard: resolve within 8 business hours"
AUTO_ASSIGN = Person(id=900, name="Auto-assignment", kind=event_pb2.PERSON_KIND_SYSTEM)
SLA_TIMER = Person(id=901, name="SLA timer", kind=event_pb2.PERSON_KIND_SYSTEM)


def _staff(person_id: int, name: str, email: str) -> Person:
    return Person(id=person_id, name=name, email=email, kind=event_pb2.PERSON_KIND_STAFF)


def _client(person_id: int, name: str, email: str) -> Person:
    return Person(id=person_id, name=name, email=email, kind=event_pb2.PERSON_KIND_CLIENT)


@dataclass(frozen=True)
class SampleTicket:
    title: str
    client: Person
    agent: Person
    answer: str
    chat_reply: str
    note: str
    priority: tuple[str, str]
    type: tuple[str, str]
    # Where the ticket moves at the end: department id and name.
    moves_to: tuple[int, str]
    rating: tuple[int, str]
    tags: tuple[str, ...] = ()
    custom_fields: Mapping[str, str | int | bool] = field(default_factory=dict)
    screenshot: str = ""


SAMPLES: tuple[SampleTicket, ...] = (
    SampleTicket(
        title="Invoice for March charged twice",
        client=_client(5101, "Maria Lopez", "maria@northwind.example"),
        agent=_staff(201, "Sam Carter", "sam@helpdesk.example"),
        answer="Sorry about that, Maria. I can see both charges and have asked for a refund.",
        chat_reply="Thanks! Will the refund go back to the same card?",
        note="Duplicate charge from the payment gateway retry on 03-01. Refund requested.",
        priority=("normal", "high"),
        type=("question", "problem"),
        moves_to=(2, "Billing"),
        rating=(5, "Sorted within the hour, thank you!"),
        tags=("billing", "refund"),
        custom_fields={"plan": "Business", "invoice": "INV-2291", "seats": 25},
    ),
    SampleTicket(
        title="Cannot log in after password reset",
        client=_client(5102, "Kenji Watanabe", "kenji@fabrikam.example"),
        agent=_staff(202, "Priya Nair", "priya@helpdesk.example"),
        answer="Could you try once more in a private window? Your session was still cached.",
        chat_reply="Still the same error, screenshot attached.",
        note="SSO assertion rejected: clock skew on their IdP. Looping in engineering.",
        priority=("normal", "urgent"),
        type=("question", "incident"),
        moves_to=(3, "Engineering"),
        rating=(4, "Works now, took a while to find though."),
        tags=("login", "sso"),
        custom_fields={"plan": "Enterprise", "sso": True},
        screenshot="login-error.png",
    ),
    SampleTicket(
        title="CSV export drops accented names",
        client=_client(5103, "Élodie Martin", "elodie@contoso.example"),
        agent=_staff(203, "Tom Becker", "tom@helpdesk.example"),
        answer="Thanks Élodie, I reproduced it: names like «Zoë» come out as «Zo».",
        chat_reply="Great, we export every Monday, a fix before then would help a lot.",
        note="Exporter writes Latin-1. Known issue, bug filed.",
        priority=("low", "normal"),
        type=("question", "bug"),
        moves_to=(3, "Engineering"),
        rating=(3, "Fine, but the workaround was clunky."),
        tags=("export", "encoding"),
        custom_fields={"plan": "Team", "locale": "fr-FR"},
    ),
    SampleTicket(
        title="Please add a second admin to our workspace",
        client=_client(5104, "Olu Adeyemi", "olu@tailspin.example"),
        agent=_staff(201, "Sam Carter", "sam@helpdesk.example"),
        answer="Done: Ada now has admin rights. Anything else I can help with?",
        chat_reply="That was quick, thanks!",
        note="Customer asked about upgrading to Enterprise: passing to sales.",
        priority=("normal", "low"),
        type=("question", "task"),
        moves_to=(4, "Sales"),
        rating=(5, "Brilliant service."),
        tags=("account",),
        custom_fields={"plan": "Team", "seats": 8},
    ),
)


def _story(sample: SampleTicket, ticket_id: int) -> list[event_pb2.Event]:
    """The twelve events of one ticket, in the order they happen, without times."""
    ticket = event_pb2.Ticket(
        id=ticket_id,
        unique_id=f"HD-{ticket_id}",
        title=sample.title,
        status="new",
        priority=sample.priority[0],
        type=sample.type[0],
        department_id=SUPPORT_ID,
        department_name=SUPPORT_NAME,
        client=sample.client,
        tags=sample.tags,
    )
    ticket.custom_fields.update(sample.custom_fields)
    agent, client = sample.agent, sample.client
    events: list[event_pb2.Event] = []

    def emit(
        event_type: event_pb2.EventType.ValueType,
        actor: Person,
        *,
        post: event_pb2.Post | None = None,
        change: FieldChange | None = None,
        rating: event_pb2.Rating | None = None,
        sla: event_pb2.Sla | None = None,
    ) -> None:
        # The constructor copies `ticket`: each event keeps the snapshot of its moment.
        events.append(
            event_pb2.Event(
                event_id=f"demo-{ticket.unique_id}-{len(events) + 1:02d}",
                event_type=event_type,
                ticket=ticket,
                actor=actor,
                post=post,
                change=change,
                rating=rating,
                sla=sla,
            )
        )

    def change(
        field_name: str, old: str, new: str, labels: tuple[str, str] = ("", "")
    ) -> FieldChange:
        return FieldChange(
            field=field_name, old_value=old, new_value=new, old_label=labels[0], new_label=labels[1]
        )

    emit(event_pb2.EVENT_TYPE_TICKET_CREATE, client)
    ticket.assignee.CopyFrom(agent)
    ticket.status = "open"
    emit(
        event_pb2.EVENT_TYPE_TICKET_ASSIGNEE_CHANGE,
        AUTO_ASSIGN,
        change=change("assignee", "", str(agent.id), ("", agent.name)),
    )
    public = event_pb2.POST_VISIBILITY_PUBLIC
    emit(
        event_pb2.EVENT_TYPE_TICKET_ANSWER,
        agent,
        post=event_pb2.Post(
            id=ticket_id * 10 + 1, author=agent, text=sample.answer, visibility=public
        ),
    )
    reply = event_pb2.Post(
        id=ticket_id * 10 + 2, author=client, text=sample.chat_reply, visibility=public
    )
    if sample.screenshot:
        reply.files.add(
            name=sample.screenshot,
            url=f"https://files.helpdesk.example/{ticket_id}/{sample.screenshot}",
            size_bytes=48_213,
            content_type="image/png",
        )
    emit(event_pb2.EVENT_TYPE_TICKET_CHAT_ANSWER, client, post=reply)
    emit(
        event_pb2.EVENT_TYPE_TICKET_COMMENT,
        agent,
        post=event_pb2.Post(
            id=ticket_id * 10 + 3,
            author=agent,
            text=sample.note,
            visibility=event_pb2.POST_VISIBILITY_PRIVATE,
        ),
    )
    ticket.priority = sample.priority[1]
    emit(
        event_pb2.EVENT_TYPE_TICKET_PRIORITY_CHANGE,
        agent,
        change=change("priority", *sample.priority),
    )
    ticket.type = sample.type[1]
    emit(event_pb2.EVENT_TYPE_TICKET_TYPE_CHANGE, agent, change=change("type", *sample.type))
    ticket.status = "pending"
    emit(
        event_pb2.EVENT_TYPE_TICKET_STATUS_CHANGE, agent, change=change("status", "open", "pending")
    )
    # The deadline is the moment it was reached: set with the times.
    emit(
        event_pb2.EVENT_TYPE_TICKET_SLA_REACHED,
        SLA_TIMER,
        sla=event_pb2.Sla(policy_name=SLA_POLICY),
    )
    ticket.status = "closed"
    emit(event_pb2.EVENT_TYPE_TICKET_CLOSE, agent)
    score, comment = sample.rating
    emit(
        event_pb2.EVENT_TYPE_TICKET_RATING,
        client,
        rating=event_pb2.Rating(score=score, comment=comment),
    )
    # Last: after the move the ticket is no longer the watched department's.
    new_id, new_name = sample.moves_to
    ticket.department_id, ticket.department_name = new_id, new_name
    emit(
        event_pb2.EVENT_TYPE_TICKET_DEPARTMENT_CHANGE,
        agent,
        change=change("department", str(SUPPORT_ID), str(new_id), (SUPPORT_NAME, new_name)),
    )
    return events


def sample_events(tickets: int, start: datetime, spacing: timedelta) -> list[event_pb2.Event]:
    """The stories of `tickets` tickets (HD-1001 on), interleaved; the n-th event happens at
    `start + n * spacing`."""
    stories = [_story(SAMPLES[index % len(SAMPLES)], 1001 + index) for index in range(tickets)]
    slotted = sorted(
        (
            ((step + STAGGER * index, index), event)
            for index, story in enumerate(stories)
            for step, event in enumerate(story)
        ),
        key=lambda slotted_event: slotted_event[0],
    )
    created: dict[int, datetime] = {}
    events = []
    for position, (_slot, event) in enumerate(slotted):
        moment = start + position * spacing
        event.occurred_at.FromDatetime(moment)
        event.ticket.create_time.FromDatetime(created.setdefault(event.ticket.id, moment))
        event.ticket.update_time.FromDatetime(moment)
        if event.HasField("sla"):
            event.sla.deadline.FromDatetime(moment)
        events.append(event)
    return events
