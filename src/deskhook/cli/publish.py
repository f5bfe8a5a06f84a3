"""`deskhook publish FILE`: stream a JSON Lines file of events over PublishEvents."""

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import grpc

from deskhook.cli.command import EXIT_FAILED, Commands, add_client_command
from deskhook.cli.event_lines import NumberedEvent, Problem, parse_lines
from deskhook.cli.output import json_text, progress, say
from deskhook.cli.stubs import IngestStub, ingest_stub
from deskhook.cli.values import file_bytes
from deskhook.v1 import event_ingest_pb2 as ingest_pb

# Events per request message: few enough to keep the stream's flow control fine-grained.
BATCH_SIZE = 100


@dataclass(frozen=True)
class Summary:
    accepted: int
    duplicate: int
    rejected: int
    invalid: int
    # Events the stream ended without acking: their fate is unknown, publish them again.
    unacknowledged: int
    problems: list[Problem]

    @property
    def failed(self) -> bool:
        return bool(self.rejected or self.invalid or self.unacknowledged)


def summarise(
    sent: Sequence[NumberedEvent], acks: Sequence[ingest_pb.EventAck], invalid: list[Problem]
) -> Summary:
    """Acks come in the order the events were sent, so the n-th ack is the n-th event's."""
    results = Counter(ack.result for ack in acks)
    rejected = [
        Problem(event.line, f"rejected: {ack.reason}", ack.event_id, ack.field)
        for event, ack in zip(sent, acks, strict=False)
        if ack.result == ingest_pb.EVENT_ACK_RESULT_REJECTED
    ]
    return Summary(
        accepted=results[ingest_pb.EVENT_ACK_RESULT_ACCEPTED],
        duplicate=results[ingest_pb.EVENT_ACK_RESULT_DUPLICATE],
        rejected=len(rejected),
        invalid=len(invalid),
        unacknowledged=len(sent) - len(acks),
        problems=sorted([*invalid, *rejected], key=lambda problem: problem.line),
    )


async def _stream(
    stub: IngestStub, events: Sequence[NumberedEvent], advance: Callable[[int], None]
) -> list[ingest_pb.EventAck]:
    if not events:
        return []
    requests = [
        ingest_pb.PublishEventsRequest(events=[e.event for e in events[at : at + BATCH_SIZE]])
        for at in range(0, len(events), BATCH_SIZE)
    ]
    acks: list[ingest_pb.EventAck] = []
    async for response in stub.PublishEvents(iter(requests)):
        acks.extend(response.acks)
        advance(len(response.acks))
    return acks


def _report(summary: Summary) -> None:
    for problem in summary.problems:
        say(f"deskhook: {problem}", sys.stderr)
    unacknowledged = summary.unacknowledged
    say(
        f"{summary.accepted} accepted, {summary.duplicate} duplicate, "
        f"{summary.rejected} rejected, {summary.invalid} invalid lines"
        + (f", {unacknowledged} not acknowledged" if unacknowledged else "")
    )


async def _publish(channel: grpc.aio.Channel, options: argparse.Namespace) -> int:
    events, invalid = parse_lines(options.file)
    with progress(len(events), "publishing") as advance:
        acks = await _stream(ingest_stub(channel), events, advance)
    summary = summarise(events, acks, invalid)
    if options.json:
        print(json_text(asdict(summary)))
    else:
        _report(summary)
    return EXIT_FAILED if summary.failed else 0


def register(commands: Commands) -> None:
    publish = add_client_command(
        commands,
        "publish",
        _publish,
        "publish the events of a JSON Lines file (needs an ingest token)",
        "Stream the events of a JSON Lines file, one deskhook.v1.Event in proto3 JSON a line, "
        "over PublishEvents, and summarise the acks. Lines that are not an Event are reported "
        "and skipped; the rest is sent. Exits 1 if any line was invalid or any event rejected. "
        "Needs an ingest token.",
    )
    publish.add_argument(
        "file", type=file_bytes, metavar="FILE", help="the JSON Lines file; - for standard input"
    )
