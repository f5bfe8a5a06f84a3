"""Hypothesis strategies for fuzzing deskhook's gRPC API: odd but well-formed events and admin
requests, and protobuf wire bytes that no generated client would send.

Strategies are built once (`cache`): hypothesis draws from them thousands of times. Times,
page-token positions, custom-field numbers and nesting reach past what protobuf, JSON and the
database can hold: the server must refuse those by field, never fail on them."""

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from operator import mul
from typing import Final, TypeAlias

from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2, timestamp_pb2
from google.protobuf.message import Message
from hypothesis import strategies as st

from deskhook.domain.channel_spec import MUTABLE_PATHS, OUTPUT_ONLY_PATHS
from deskhook.v1 import channel_admin_pb2 as admin_pb
from deskhook.v1 import channel_pb2, event_pb2
from tests.support.events import TICKET_EVENT_TYPES, make_event

# The range protobuf's Timestamp and Duration document (years 1 to 9999; ±10,000 years).
TIMESTAMP_MIN_SECONDS: Final = -62_135_596_800
TIMESTAMP_MAX_SECONDS: Final = 253_402_300_799
DURATION_MAX_SECONDS: Final = 315_576_000_000
# A time already past wherever the suite runs, after 2000: events at it can be accepted.
RECENT_SECONDS: Final = 1_750_000_000
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Around the 256 KiB event bound, and past it.
HUGE_LENGTHS: Final = (256 * 1024 - 64, 256 * 1024, 256 * 1024 + 1, 300 * 1024)
# Custom-field nesting generated: across the limit of 16 levels, and past about 31 Struct
# levels, where an event no longer decodes at all.
MAX_GENERATED_NESTING: Final = 40

ODD_STRINGS: Final = (
    "",
    " ",
    "\x00",
    "\t\r\n",
    "\u202e",  # right-to-left override
    "\ufeff",
    "é",
    "🦄",
    "١٢٣",  # Arabic-Indic digits: isdigit() but not ASCII
    "0",
    "-1",
    "007",
    "9" * 30,
    "9" * 5000,
    "\x1b[2K\rdelivered\x07",  # redraws a terminal line
    "\x9b31m",  # C1 CSI
    "'; DROP TABLE channels; --",
    "%s%n{}",
    "a" * 128,
    "a" * 129,
    "a" * 201,
    "x" * 2049,
)


@cache
def int32s() -> st.SearchStrategy[int]:
    return st.one_of(
        st.sampled_from((0, 1, -1, INT32_MIN, INT32_MAX)), st.integers(INT32_MIN, INT32_MAX)
    )


@cache
def int64s() -> st.SearchStrategy[int]:
    return st.one_of(
        st.sampled_from((0, 1, -1, INT64_MIN, INT64_MAX, INT32_MAX + 1)),
        st.integers(INT64_MIN, INT64_MAX),
    )


@cache
def texts() -> st.SearchStrategy[str]:
    """Short strings of any code point protobuf can carry, and known troublemakers."""
    return st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=40))


@cache
def huge_texts() -> st.SearchStrategy[str]:
    """Up to 300 K characters of one (1-, 2- or 4-byte) character: built, not drawn, as
    hypothesis draws at most a few KiB of data per example."""
    lengths = st.one_of(st.sampled_from(HUGE_LENGTHS), st.integers(0, 300 * 1024))
    return st.builds(mul, st.sampled_from(("a", "é", "🦄")), lengths)


def enum_numbers(values: Sequence[int]) -> st.SearchStrategy[int]:
    """A defined value of an enum, or any other int32 (proto3 enums are open)."""
    return st.one_of(st.sampled_from(values), int32s())


@cache
def timestamps() -> st.SearchStrategy[timestamp_pb2.Timestamp]:
    """Mostly within protobuf's documented range (years 1 to 9999), and just past each end."""
    seconds = st.one_of(
        st.sampled_from(
            (
                TIMESTAMP_MIN_SECONDS - 1,
                TIMESTAMP_MIN_SECONDS,
                TIMESTAMP_MAX_SECONDS,
                TIMESTAMP_MAX_SECONDS + 1,
                -1,
                0,
                946_684_799,
                RECENT_SECONDS,
            )
        ),
        st.integers(TIMESTAMP_MIN_SECONDS, TIMESTAMP_MAX_SECONDS),
        st.integers(INT64_MIN, INT64_MAX),
    )
    nanos = st.one_of(
        st.sampled_from((0, 999_999_999, -1, 1_000_000_000)), st.integers(0, 999_999_999), int32s()
    )
    return st.builds(timestamp_pb2.Timestamp, seconds=seconds, nanos=nanos)


@cache
def durations() -> st.SearchStrategy[duration_pb2.Duration]:
    """Any sign, any nanos; seconds mostly within protobuf's range, and past it."""
    seconds = st.one_of(
        st.sampled_from((0, 1, -1, 86_400, 86_401, 604_800, 604_801, DURATION_MAX_SECONDS)),
        st.integers(-DURATION_MAX_SECONDS, DURATION_MAX_SECONDS),
        st.integers(INT64_MIN, INT64_MAX),
    )
    nanos = st.one_of(st.sampled_from((0, -1, 999_999_999, 1_000_000_000)), int32s())
    return st.builds(duration_pb2.Duration, seconds=seconds, nanos=nanos)


# --- events -----------------------------------------------------------------------------

JsonValue: TypeAlias = bool | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None

_JSON_LEAVES: st.SearchStrategy[JsonValue] = st.one_of(
    st.none(), st.booleans(), st.floats(), texts()
)


def _nest(kinds: list[str], key: str, leaf: JsonValue) -> dict[str, JsonValue]:
    value = leaf
    for kind in kinds:
        value = [value] if kind == "list" else {key: value}
    return {key: value}


@cache
def custom_fields() -> st.SearchStrategy[struct_pb2.Struct]:
    """Wide and shallow, or one chain of lists and structs up to 30 levels deep."""
    wide = st.dictionaries(
        texts(),
        st.recursive(
            _JSON_LEAVES,
            lambda children: st.one_of(
                st.lists(children, max_size=3), st.dictionaries(texts(), children, max_size=3)
            ),
            max_leaves=12,
        ),
        max_size=6,
    )
    deep = st.builds(
        _nest,
        st.lists(st.sampled_from(("list", "struct")), max_size=MAX_GENERATED_NESTING),
        texts(),
        _JSON_LEAVES,
    )

    def to_struct(fields: dict[str, JsonValue]) -> struct_pb2.Struct:
        struct = struct_pb2.Struct()
        struct.update(fields)
        return struct

    return st.one_of(wide, deep).map(to_struct)


Mutation = Callable[[Message], None]


def _parent(message: Message, path: str) -> tuple[Message, str]:
    """The message holding the field at a dotted path, and the field's name. Submessages on
    the way are created, and a field of a oneof's member selects that member."""
    *parents, name = path.split(".")
    for parent in parents:
        message = getattr(message, parent)
    return message, name


@dataclass(frozen=True)
class _Set:
    """Sets the field at `path` to `value`: None clears it, a list replaces a repeated field."""

    path: str
    value: object

    def __call__(self, message: Message) -> None:
        target, name = _parent(message, self.path)
        if self.value is None:
            target.ClearField(name)
        elif isinstance(self.value, Message):
            getattr(target, name).CopyFrom(self.value)
        elif isinstance(self.value, list):
            del getattr(target, name)[:]
            getattr(target, name).extend(self.value)
        else:
            setattr(target, name, self.value)


@dataclass(frozen=True)
class _ClearDetail:
    """Removes whichever detail (post, change, rating, sla) the event carries."""

    def __call__(self, message: Message) -> None:
        message.ClearField(message.WhichOneof("detail") or "post")


_STRING_PATHS: Final = (
    "event_id",
    "ticket.unique_id",
    "ticket.title",
    "ticket.status",
    "ticket.priority",
    "ticket.type",
    "ticket.department_name",
    "ticket.client.name",
    "ticket.client.email",
    "actor.name",
    "post.text",
    "post.author.name",
    "change.field",
    "change.old_value",
    "change.new_value",
    "change.new_label",
    "rating.comment",
    "sla.policy_name",
)
_INT64_PATHS: Final = (
    "ticket.id",
    "ticket.department_id",
    "ticket.client.id",
    "ticket.assignee.id",
    "actor.id",
    "post.id",
)
_ENUM_PATHS: Final[tuple[tuple[str, Sequence[int]], ...]] = (
    ("event_type", event_pb2.EventType.values()),
    ("ticket.client.kind", event_pb2.PersonKind.values()),
    ("actor.kind", event_pb2.PersonKind.values()),
    ("post.visibility", event_pb2.PostVisibility.values()),
)
_TIMESTAMP_PATHS: Final = (
    "occurred_at",
    "ticket.create_time",
    "ticket.update_time",
    "sla.deadline",
)
_CHANGE_VALUES: Final = (
    "status",
    "priority",
    "type",
    "assignee",
    "department",
    "1",
    "7",
    "٣",
    str(INT64_MAX + 1),
    # Past Python's int-digit limit (4,300), which once ended a whole ingest stream.
    "9" * 5000,
)


PRINTABLE_ASCII: Final = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


def traceparents() -> st.SearchStrategy[str]:
    """W3C traceparents, well formed or nearly: versions, all-zero ids, upper case, cut short,
    a field more."""
    hex_digits = "0123456789abcdef"
    return st.builds(
        lambda version, trace, parent, flags, extra: f"{version}-{trace}-{parent}-{flags}{extra}",
        st.sampled_from(("00", "01", "fe", "ff", "0", "GG")),
        st.one_of(st.text(hex_digits, min_size=32, max_size=32), st.just("0" * 32)),
        st.one_of(st.text(hex_digits, min_size=16, max_size=16), st.just("A" * 16)),
        st.sampled_from(("00", "01", "1")),
        st.sampled_from(("", "-extra", "x")),
    )


def tracestates() -> st.SearchStrategy[str]:
    member = st.builds(
        "{}={}".format,
        st.sampled_from(("vendor", "t@sys", "Upper", "")),
        st.text(PRINTABLE_ASCII, max_size=20),
    )
    return st.one_of(st.lists(member, max_size=34).map(",".join), st.just("k=" + "v" * 600))


@cache
def _mutations() -> st.SearchStrategy[Mutation]:
    def setting(
        paths: tuple[str, ...], values: st.SearchStrategy[object]
    ) -> st.SearchStrategy[Mutation]:
        return st.builds(_Set, st.sampled_from(paths), values)

    enums = st.sampled_from(_ENUM_PATHS).flatmap(
        lambda path_values: st.builds(_Set, st.just(path_values[0]), enum_numbers(path_values[1]))
    )
    return st.one_of(
        setting(_STRING_PATHS, texts()),
        setting(_STRING_PATHS, huge_texts()),
        setting(("event_id",), st.text(PRINTABLE_ASCII, min_size=1, max_size=129)),
        setting(
            ("change.field", "change.old_value", "change.new_value"),
            st.sampled_from(_CHANGE_VALUES),
        ),
        setting(_INT64_PATHS, int64s()),
        setting(("rating.score",), int32s()),
        enums,
        setting(_TIMESTAMP_PATHS, timestamps()),
        setting(("ticket.custom_fields",), custom_fields()),
        setting(("ticket.tags",), st.lists(texts(), max_size=5)),
        setting(("traceparent",), traceparents()),
        setting(("tracestate",), tracestates()),
        setting(("occurred_at", "ticket", "sla.deadline"), st.none()),
        st.just(_ClearDetail()),
    )


@st.composite
def events(draw: st.DrawFn) -> event_pb2.Event:
    """A valid event of any type (tests/support/events.py), then a few fields changed to odd values:
    many are still valid, the rest wrong in one or two places."""
    # A fresh id, so that the valid events are stored rather than deduplicated.
    event = make_event(
        str(draw(st.uuids())),
        draw(st.sampled_from(TICKET_EVENT_TYPES)),
        department_id=draw(st.integers(1, 9)),
        ticket_id=draw(st.integers(1, 10**6)),
        old_department_id=draw(st.integers(1, 9)),
    )
    for mutate in draw(st.lists(_mutations(), max_size=4)):
        mutate(event)
    return event


# --- protobuf wire bytes ----------------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_key(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    return field_key(number, 2) + varint(len(payload)) + payload


# Event and the request messages use numbers up to Event's last; past 2**29 - 1 no field number
# exists.
_LAST_USED: Final = max(field.number for field in event_pb2.Event.DESCRIPTOR.fields)
_UNUSED_NUMBERS: Final = st.one_of(
    st.sampled_from((_LAST_USED + 1, 19_000, 2**29 - 1)), st.integers(_LAST_USED + 2, 2**29 - 1)
)
_ANY_NUMBERS: Final = st.one_of(st.integers(1, _LAST_USED), _UNUSED_NUMBERS)


@cache
def unknown_fields() -> st.SearchStrategy[bytes]:
    """Fields a decoder must skip or take as they come: any number with a varint, fixed or
    empty-group body (a known field of another wire type is skipped as unknown), and opaque
    bytes under unused numbers."""
    return st.one_of(
        st.builds(
            lambda n, v: field_key(n, 0) + varint(v), _ANY_NUMBERS, st.integers(0, 2**64 - 1)
        ),
        st.builds(
            lambda n, b: field_key(n, 1) + b, _ANY_NUMBERS, st.binary(min_size=8, max_size=8)
        ),
        st.builds(
            lambda n, b: field_key(n, 5) + b, _ANY_NUMBERS, st.binary(min_size=4, max_size=4)
        ),
        st.builds(lambda n: field_key(n, 3) + field_key(n, 4), _UNUSED_NUMBERS),
        st.builds(length_delimited, _UNUSED_NUMBERS, st.binary(max_size=64)),
    )


@st.composite
def odd_wire_bodies(draw: st.DrawFn) -> bytes:
    """PublishEventRequest and PublishEventsRequest bytes (both carry events in field 1) that
    decode, but only because decoders are lenient: unknown fields inside and around events,
    known numbers with other wire types, scalars repeated (the last wins) and, in the unary
    request, several events merged into one."""
    parts = [
        length_delimited(
            1,
            b"".join(
                draw(
                    st.permutations(
                        [event.SerializeToString(), *draw(st.lists(unknown_fields(), max_size=3))]
                    )
                )
            ),
        )
        for event in draw(st.lists(events(), max_size=3))
    ]
    return b"".join(draw(st.permutations(parts + draw(st.lists(unknown_fields(), max_size=3)))))


# --- admin requests ---------------------------------------------------------------------

# Hosts the suite's offline resolver does not know (RFC 6761 `.invalid`, which no real one
# answers either) or that the URL policy refuses before any connection: a channel saved with
# them is tested without leaving the machine.
_ODD_HOSTS: Final = (
    "",
    ".",
    "hook.invalid",
    "HOOK.INVALID.",
    "пример.invalid",
    "xn--.invalid",
    "xn--zz.invalid",
    "a" * 64 + ".invalid",
    ("a" * 63 + ".") * 4 + "invalid",
    "under_score.invalid",
    "-dash-.invalid",
    "localhost",
    "127.0.0.1",
    "127.1",
    "0x7f.1",
    "0177.0.0.1",
    "2130706433",
    "%31%32%37.0.0.1",
    "169.254.169.254",
    "1.2.3.256",
    "example.123",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[fe80::1%25eth0]",
    "[v1.fe]",
    "[::1",
    "::1",
    "[127.0.0.1]",
)
_LABEL_CHARACTERS: Final = st.characters(categories=("Ll", "Lu", "Nd"), include_characters="-_")


@cache
def _hosts() -> st.SearchStrategy[str]:
    labels = st.lists(st.text(_LABEL_CHARACTERS, min_size=1, max_size=20), min_size=1, max_size=3)
    return st.one_of(
        st.sampled_from(_ODD_HOSTS),
        labels.map(lambda parts: ".".join([*parts, "invalid"])),
        st.ip_addresses(v=4, network="10.0.0.0/8").map(str),
        st.ip_addresses(v=6, network="fc00::/7").map(lambda address: f"[{address}]"),
    )


def _odd_indices(count: int, at_most: int) -> st.SearchStrategy[list[int]]:
    """Which of `count` parts to make odd: none, one or a few, so that most requests are wrong
    in few places, or none, and reach past the first check."""
    return st.lists(st.integers(0, count - 1), unique=True, max_size=at_most)


@st.composite
def urls(draw: st.DrawFn) -> str:
    """https://hook.invalid/hook with up to two parts made odd."""
    parts = (
        ("https://", st.sampled_from(("HTTPS://", "http://", "ftp://", "//", "https:", ""))),
        ("", st.sampled_from(("user@", "user:secret@", "@", ":@"))),
        ("hook.invalid", _hosts()),
        ("", st.sampled_from((":443", ":0", ":65535", ":65536", ":-1", ":+1", ":٤٤٣", ":x", ":"))),
        (
            "/hook",
            st.one_of(
                st.sampled_from(("", "?", "#", "/a b", "/\x00", "/" + "p" * 2100)),
                st.text(max_size=20),
            ),
        ),
    )
    odd = draw(_odd_indices(len(parts), 2))
    return "".join(
        draw(values) if index in odd else usual for index, (usual, values) in enumerate(parts)
    )


@st.composite
def _channels(draw: st.DrawFn, ids: st.SearchStrategy[str]) -> channel_pb2.Channel:
    """A channel that can be saved, with up to three fields made odd."""
    channel = channel_pb2.Channel(
        id=draw(ids),
        name="crm",
        url="https://hook.invalid/hook",
        department_id=7,
        subscriptions=[event_pb2.EVENT_TYPE_TICKET_CREATE],
    )
    fields: tuple[tuple[str, st.SearchStrategy[object]], ...] = (
        ("name", texts()),
        ("url", urls()),
        ("department_id", int64s()),
        ("subscriptions", st.lists(enum_numbers(event_pb2.EventType.values()), max_size=4)),
        ("retries_enabled", st.booleans()),
        ("retry_schedule", st.lists(durations(), max_size=22)),
        ("enabled", st.one_of(st.none(), st.booleans())),
        ("ordering", enum_numbers(channel_pb2.Ordering.values())),
        ("max_concurrency", st.one_of(st.integers(0, 101), int32s())),
        ("rate_limit_per_second", int32s()),
        ("disabled_reason", texts()),
    )
    for index in draw(_odd_indices(len(fields), 3)):
        name, values = fields[index]
        _Set(name, draw(values))(channel)
    return channel


@cache
def _update_masks() -> st.SearchStrategy[field_mask_pb2.FieldMask | None]:
    """None (the set fields are changed), settable paths, or any paths at all."""
    paths = st.one_of(
        st.sampled_from(sorted(MUTABLE_PATHS | OUTPUT_ONLY_PATHS)),
        st.sampled_from(("*", "", "channel.name", "name.first", "NAME", "connection_status.state")),
        texts(),
    )
    return st.one_of(
        st.none(),
        st.builds(
            field_mask_pb2.FieldMask,
            paths=st.lists(st.sampled_from(sorted(MUTABLE_PATHS)), min_size=1, max_size=3),
        ),
        st.builds(field_mask_pb2.FieldMask, paths=st.lists(paths, max_size=4)),
    )


@dataclass(frozen=True)
class Saved:
    """What the fuzzed server holds: a channel, and a ListChannels page token issued for
    department `page_department`."""

    channel_id: str
    page_token: str
    page_department: int


def _with_position(token: str, position: object) -> str:
    """`token` resuming after `position` instead: the query digest kept, so that only the
    position is wrong."""
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    payload["p"] = position
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


_JSON: Final[st.SearchStrategy[object]] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(),
        st.text(max_size=5),
        st.integers(INT64_MIN, INT64_MAX),
        st.integers(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)


def page_tokens(saved: Saved) -> st.SearchStrategy[str]:
    """Empty, junk, base64 of junk or of JSON, the saved token with any position, and the
    saved token as it is (valid only for its own filter)."""
    encodings = st.sampled_from((base64.urlsafe_b64encode, base64.standard_b64encode))
    return st.one_of(
        st.just(""),
        st.just(saved.page_token),
        texts(),
        st.builds(lambda encode, raw: encode(raw).decode(), encodings, st.binary(max_size=48)),
        st.builds(
            lambda encode, value: encode(json.dumps(value).encode()).decode(), encodings, _JSON
        ),
        _JSON.map(lambda position: _with_position(saved.page_token, position)),
    )


@cache
def _odd_ids() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(("ch_", "ch_" + "a" * 24)), texts())


def _ids(saved: Saved) -> st.SearchStrategy[str]:
    return st.one_of(st.just(saved.channel_id), _odd_ids())


AdminCall: TypeAlias = tuple[str, Message]


@cache
def admin_calls(saved: Saved) -> st.SearchStrategy[AdminCall]:
    """One ChannelAdmin RPC (by method name) and its request. DeleteChannel never names the
    saved channel, which the other calls need."""
    ids = _ids(saved)
    optional = st.one_of(st.none(), int64s())
    return st.one_of(
        st.tuples(
            st.just("CreateChannel"),
            st.builds(
                admin_pb.CreateChannelRequest,
                channel=_channels(ids),
                request_id=st.one_of(st.sampled_from(("", "", "retry-1", "retry-2")), texts()),
            ),
        ),
        st.tuples(
            st.just("UpdateChannel"),
            st.builds(
                admin_pb.UpdateChannelRequest, channel=_channels(ids), update_mask=_update_masks()
            ),
        ),
        st.tuples(st.just("GetChannel"), st.builds(admin_pb.GetChannelRequest, id=ids)),
        st.tuples(
            st.just("DeleteChannel"),
            st.builds(admin_pb.DeleteChannelRequest, id=_odd_ids()),
        ),
        st.tuples(
            st.just("ListChannels"),
            st.builds(
                admin_pb.ListChannelsRequest,
                page_size=st.one_of(st.integers(-2, 1001), int32s()),
                page_token=page_tokens(saved),
                department_id=st.one_of(st.just(saved.page_department), optional),
                enabled=st.one_of(st.none(), st.booleans()),
            ),
        ),
        st.tuples(
            st.just("ListDeliveryLog"),
            st.builds(
                admin_pb.ListDeliveryLogRequest,
                channel_id=ids,
                ticket_id=optional,
                event_type=enum_numbers(event_pb2.EventType.values()),
                outcome=enum_numbers(channel_pb2.DeliveryOutcome.values()),
                start_time=st.one_of(st.none(), timestamps()),
                end_time=st.one_of(st.none(), timestamps()),
                event_id=texts(),
                page_size=int32s(),
                page_token=page_tokens(saved),
            ),
        ),
        st.tuples(
            st.just("Redeliver"),
            st.one_of(
                st.builds(admin_pb.RedeliverRequest, channel_id=ids),
                st.builds(admin_pb.RedeliverRequest, channel_id=ids, event_id=texts()),
                st.builds(admin_pb.RedeliverRequest, channel_id=ids, failed_since=timestamps()),
            ),
        ),
        st.tuples(
            st.just("RotateSigningSecret"),
            st.builds(
                admin_pb.RotateSigningSecretRequest,
                id=ids,
                grace_period=st.one_of(st.none(), durations()),
            ),
        ),
        st.tuples(
            st.just("TestConnection"),
            st.one_of(
                st.just(admin_pb.TestConnectionRequest()),
                st.builds(admin_pb.TestConnectionRequest, url=st.one_of(urls(), texts())),
                st.builds(admin_pb.TestConnectionRequest, channel_id=ids),
            ),
        ),
    )
