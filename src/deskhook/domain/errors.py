"""Errors the core raises; the API layer maps each to one gRPC status code in one place."""

from dataclasses import dataclass


class DomainError(Exception):
    """Base of the errors a caller is told of as they are (not as an opaque internal error):
    its own mistakes, and conditions a retry may get past. `reason` is a stable UPPER_SNAKE
    code for clients."""

    reason = "DOMAIN_ERROR"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field: `field` is its path in the request, e.g. `channel.url`."""

    field: str
    description: str


class InvalidArgument(DomainError):
    reason = "INVALID_ARGUMENT"

    def __init__(self, *violations: FieldViolation, reason: str | None = None) -> None:
        message = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(message, reason)
        self.violations = violations

    @classmethod
    def field(cls, field: str, description: str, reason: str | None = None) -> "InvalidArgument":
        return cls(FieldViolation(field, description), reason=reason)


class NotFound(DomainError):
    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    reason = "ALREADY_EXISTS"


class PermissionDenied(DomainError):
    """The caller is known, and this call is not one its token allows: a read-only token
    changing something, or an account token naming another account where it creates."""

    reason = "PERMISSION_DENIED"


class FailedPrecondition(DomainError):
    """The call is well formed and allowed, and the state of what it names refuses it."""

    reason = "FAILED_PRECONDITION"


class ResourceExhausted(DomainError):
    """A limit the server keeps was reached; the same call may succeed when retried later."""

    reason = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    """The server cannot serve the call now (it is shutting down, or its database is locked by
    another process or out of reach): the same call may succeed when retried."""

    reason = "UNAVAILABLE"
