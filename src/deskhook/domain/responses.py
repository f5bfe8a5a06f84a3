"""What the receiver answered to one attempt, or why there was no answer."""

from dataclasses import dataclass
from enum import StrEnum


class FailureReason(StrEnum):
    """Why an attempt failed; the values are stored in the log and shown to admins."""

    DNS = "dns"
    ADDRESS_REFUSED = "address_refused"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    NETWORK = "network"
    HTTP_STATUS = "http_status"
    # deskhook could not make the request, through a fault of its own (the server logs it):
    # the receiver is not to blame.
    INTERNAL = "internal"


def concerns_receiver(failure: FailureReason | None) -> bool:
    """Whether a result tells anything of the receiver, so that its channel's health counts
    it: a failure of deskhook's own does not."""
    return failure is not FailureReason.INTERNAL


@dataclass(frozen=True)
class HttpResponse:
    """The answer to one attempt. `http_status` is 0 when the receiver did not answer;
    `response_body` is the first 4 KiB of the answer; `error` is a sentence for a person, "" on
    success; `duration` is in seconds; `retry_after` is the raw `Retry-After` header of the
    answer, if any."""

    http_status: int
    response_body: str
    failure: FailureReason | None
    error: str
    duration: float
    retry_after: str | None

    @property
    def succeeded(self) -> bool:
        return self.failure is None

    @classmethod
    def internal(cls, error: str, duration: float) -> "HttpResponse":
        """An attempt deskhook could not make; `error` says so, for the log."""
        return cls(0, "", FailureReason.INTERNAL, error, duration, None)
