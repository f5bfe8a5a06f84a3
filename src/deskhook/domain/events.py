"""The twelve ticket event types, named as on the webhook wire."""

from enum import StrEnum


class EventType(StrEnum):
    TICKET_CREATE = "ticket_create"
    TICKET_ANSWER = "ticket_answer"
    TICKET_CHAT_ANSWER = "ticket_chat_answer"
    TICKET_COMMENT = "ticket_comment"
    TICKET_STATUS_CHANGE = "ticket_status_change"
    TICKET_PRIORITY_CHANGE = "ticket_priority_change"
    TICKET_TYPE_CHANGE = "ticket_type_change"
    TICKET_ASSIGNEE_CHANGE = "ticket_assignee_change"
    TICKET_CLOSE = "ticket_close"
    TICKET_DEPARTMENT_CHANGE = "ticket_department_change"
    TICKET_SLA_REACHED = "ticket_sla_reached"
    TICKET_RATING = "ticket_rating"
