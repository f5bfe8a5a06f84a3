#!/usr/bin/env python3
"""Many concurrent PublishEvents streams against one real `deskhook serve` on 127.0.0.1: how each
stream ended at the client, next to how the server logged it.

    .venv/bin/python scripts/stress_streams.py [--streams 2000] [--clients 8] [--events 20]
        [--max-ingest-streams N] [--seconds 120] [--bare]

The streams are split over `--clients` client processes, each opening all of its streams at
once on one channel; every stream sends `--events` messages of one event, half-closes and reads
its acks. The open-file limit is raised to the hard limit for the run (each stream is no file,
but each client process and the server hold a socket per connection and the server's SQLite
files). Everything is bounded: the stream count, and `--seconds` for the whole run. `--bare`
runs the same streams against a bare grpc.aio server (scripts/bench_ingest.py's baseline), to
tell what gRPC does from what deskhook does.
"""

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TypeAlias

import grpc

from deskhook.client import open_channel
from deskhook.v1 import event_ingest_pb2 as pb
from deskhook.v1 import event_ingest_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for the sample events the tests publish
from benchkit.processes import serve_command, start_process, stop_server  # noqa: E402

from tests.support.events import make_event  # noqa: E402

TOKEN = "stress-token"
METHOD = "/deskhook.v1.EventIngest/PublishEvents"
# The async stub type exists only in the generated .pyi stubs.
IngestStub: TypeAlias = "event_ingest_pb2_grpc.EventIngestAsyncStub"


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def timed(stub: IngestStub, prefix: str, events: int) -> tuple[str, float]:
    started = time.monotonic()
    ended = await one_stream(stub, prefix, events)
    return ended, time.monotonic() - started


async def one_stream(stub: IngestStub, prefix: str, events: int) -> str:
    """How the stream ended: OK with every event acked, or the status code's name."""
    call = stub.PublishEvents()
    try:
        for n in range(events):
            await call.write(pb.PublishEventsRequest(events=[make_event(f"{prefix}-{n}")]))
        await call.done_writing()
        acked = 0
        while isinstance(response := await call.read(), pb.PublishEventsResponse):
            acked += len(response.acks)
        code = (await call.code()).name
    except grpc.aio.AioRpcError as error:
        return f"{error.code().name}: {error.details()}"
    except asyncio.InvalidStateError:
        # Written to after it ended: how it ended is the call's status.
        return f"{(await call.code()).name}: {await call.details()}"
    if code == "OK" and acked != events:
        return f"OK with {acked} of {events} acks"
    return code


async def client(target: str, streams: int, events: int, name: str, seconds: float) -> None:
    async with open_channel(target, TOKEN) as channel:
        stub = event_ingest_pb2_grpc.EventIngestStub(channel)
        tasks = [
            asyncio.create_task(timed(stub, f"{name}-{index}", events)) for index in range(streams)
        ]
        done, pending = await asyncio.wait(tasks, timeout=seconds)
        for task in pending:
            task.cancel()
    ended = Counter(task.result()[0] for task in done)
    ended["did not end in time"] += len(pending)
    slowest: dict[str, float] = {}
    for task in done:
        how, seconds = task.result()
        slowest[how] = max(slowest.get(how, 0.0), seconds)
    print(json.dumps({"ended": dict(ended), "slowest": slowest}))


def server_command(database: Path, args: argparse.Namespace) -> list[str]:
    if args.bare:
        # grpc.aio alone, acking each message as it arrives: what gRPC does without deskhook.
        return [sys.executable, str(ROOT / "scripts" / "bench_ingest.py"), "--bare-server"]
    limit = (
        []
        if args.max_ingest_streams is None
        else ["--max-ingest-streams", str(args.max_ingest_streams)]
    )
    return serve_command(
        database, "--ingest-token", TOKEN, "--admin-token", "stress-admin-token", *limit, metrics=""
    )


def server_codes(log: Path) -> Counter[str]:
    codes: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == "rpc" and record.get("method") == METHOD:
            codes[record["code"]] += 1
    return codes


def client_command(target: str, streams: int, name: str, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable, __file__, "--client", target, "--name", name,
        "--streams", str(streams), "--events", str(args.events), "--seconds", str(args.seconds),
    ]  # fmt: skip


def run_clients(target: str, args: argparse.Namespace) -> tuple[Counter[str], dict[str, float]]:
    """How the streams ended, over every client process, and the slowest of each kind."""
    share = -(-args.streams // args.clients)
    clients = [
        subprocess.Popen(
            client_command(target, min(share, args.streams - n * share), f"c{n}", args),
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(args.clients)
    ]
    ended: Counter[str] = Counter()
    slowest: dict[str, float] = {}
    for process in clients:
        out, _ = process.communicate(timeout=args.seconds + 30)
        report = json.loads(out.strip().splitlines()[-1])
        ended.update(report["ended"])
        for how, seconds in report["slowest"].items():
            slowest[how] = max(slowest.get(how, 0.0), seconds)
    return ended, slowest


def run(args: argparse.Namespace) -> None:
    limit = raise_file_limit()
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "server.log"
        server, port = start_process(server_command(Path(scratch) / "stress.db", args), log)
        try:
            ended, slowest = run_clients(f"127.0.0.1:{port}", args)
        finally:
            stop_server(server, log)
        logged = server_codes(log)
    print(f"{args.streams} streams of {args.events} events from {args.clients} processes")
    print(f"open-file limit {limit}")
    print("ended at the client:", dict(ended.most_common()))
    print("logged by the server:", dict(logged.most_common()))
    print("slowest stream of each kind:", {how: f"{s:.1f} s" for how, s in slowest.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--max-ingest-streams", type=int)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument(
        "--bare", action="store_true", help="against a bare grpc.aio server instead of deskhook"
    )
    parser.add_argument("--client", metavar="TARGET", help=argparse.SUPPRESS)
    parser.add_argument("--name", default="c0", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        raise_file_limit()
        asyncio.run(client(args.client, args.streams, args.events, args.name, args.seconds))
    else:
        run(args)


if __name__ == "__main__":
    main()
