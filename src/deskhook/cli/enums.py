"""Proto enum values by their wire names: `EVENT_TYPE_TICKET_ANSWER` is `ticket_answer`,
`EVENT_TYPE_CHANNEL_DISABLED` is `channel.disabled`.

The contract names event types so on the wire; the command line names every enum the same way,
straight from the generated descriptors, so flags and tables follow the protos."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from deskhook.v1 import channel_pb2, event_pb2

if TYPE_CHECKING:
    # The generic wrapper exists only in the type stubs.
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

V = TypeVar("V", bound=int)


def _unchanged(name: str) -> str:
    return name


class WireNames(Generic[V]):
    def __init__(
        self, enum: "_EnumTypeWrapper[V]", spelled: Callable[[str], str] = _unchanged
    ) -> None:
        # proto3 puts the zero value first, and buf style names it <PREFIX>_UNSPECIFIED.
        self._unspecified = enum.values()[0]
        prefix = enum.Name(self._unspecified).removesuffix("UNSPECIFIED")
        self.values: dict[str, V] = {
            spelled(name.removeprefix(prefix).lower()): number
            for name, number in enum.items()
            if number
        }
        self._names = {number: name for name, number in self.values.items()}
        self._proto_names: dict[str, V] = {name: number for name, number in enum.items() if number}

    @property
    def names(self) -> list[str]:
        return list(self.values)

    def value(self, name: str | None) -> V:
        """The number named `name`; the zero value (for a request: no filter) for None."""
        return self._unspecified if name is None else self.values[name]

    def parse(self, text: str) -> V | None:
        """The number named `text` by its wire name (`ticket_create`) or its proto name
        (`EVENT_TYPE_TICKET_CREATE`); None for any other text, the zero value's names too."""
        return self.values.get(text, self._proto_names.get(text))

    def spellings(self) -> str:
        """The names `parse` takes, for a message."""
        example = next(iter(self._proto_names))
        return f"one of {', '.join(self.names)}, or a proto name such as {example}"

    def name(self, number: V, unspecified: str = "-") -> str:
        """The wire name; `unspecified` for the zero value (or one this client does not know)."""
        return self._names.get(number, unspecified)


def _event_type(name: str) -> str:
    """An operational type has a dot after its first word: `channel.disabled`."""
    return name if name.startswith("ticket_") else name.replace("_", ".", 1)


EVENT_TYPES = WireNames(event_pb2.EventType, _event_type)
# What producers publish and channels subscribe to; the operational types are the server's own.
TICKET_EVENT_TYPES = [name for name in EVENT_TYPES.names if name.startswith("ticket_")]
ORDERINGS = WireNames(channel_pb2.Ordering)
OUTCOMES = WireNames(channel_pb2.DeliveryOutcome)
CONNECTION_STATES = WireNames(channel_pb2.ConnectionState)
CIRCUIT_STATES = WireNames(channel_pb2.CircuitState)
