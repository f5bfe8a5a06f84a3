"""The walkthrough of the README and of docs/getting-started.md, step by step, with its own
files: a real `deskhook serve` with the walkthrough's flags, `examples/receiver.py` run as the
walkthrough runs it, and the CLI in the order it gives its terminals (`log --follow` before
`redeliver`). Only the ports differ: the server's is found at start and the receiver's comes
from PORT. Both pages give the commands this test runs."""

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.support.cli_runner import Cli
from tests.support.processes import lines, listening
from tests.support.serve_process import serve_process

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STEP_SECONDS = 20.0

ADMIN = "dev-admin"
INGEST = "dev-ingest"
SERVE_FLAGS = (
    "--admin-token", ADMIN,
    "--ingest-token", INGEST,
    "--allow-http",
    "--allow-network", "127.0.0.0/8",
)  # fmt: skip


async def _start_receiver(secret: str, port: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "receiver.py"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Unbuffered: a terminal sees each line at once, a pipe would not.
        env={**os.environ, "WEBHOOK_SECRET": secret, "PORT": str(port), "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
    )
    assert await listening(process, port, STEP_SECONDS)
    return process


async def _lines(stream: asyncio.StreamReader | None, count: int) -> list[str]:
    return await lines(stream, count, STEP_SECONDS)


async def _interrupt(receiver: asyncio.subprocess.Process) -> None:
    """Ctrl-C in the receiver's terminal: it stops without a traceback."""
    receiver.send_signal(signal.SIGINT)
    async with asyncio.timeout(STEP_SECONDS):
        _, stderr = await receiver.communicate()
    assert receiver.returncode == 0
    assert "Traceback" not in stderr.decode()


async def test_the_readme_walkthrough_works_word_for_word(tmp_path: Path, closed_port: int) -> None:
    receiver_port = closed_port
    async with serve_process(str(tmp_path / "deskhook.db"), SERVE_FLAGS) as served:
        cli = Cli(served.port, ADMIN)
        created = await cli.run(
            "channels", "create", "--name", "CRM",
            "--url", f"http://127.0.0.1:{receiver_port}/webhooks", "--department", "1",
            "--event", "ticket_create", "--event", "ticket_answer", "--event", "ticket_close",
            "--retries", "--json",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        (response,) = created.json_lines()
        channel_id, secret = response["channel"]["id"], response["signing_secret"]
        # Nothing listens yet: the channel is saved with the failed test.
        assert response["channel"]["connection_status"]["state"] != "CONNECTION_STATE_ESTABLISHED"

        receiver = await _start_receiver(secret, receiver_port)
        tested = await cli.run("channels", "test", channel_id)
        assert tested.returncode == 0, tested.stderr
        assert "Connection established successfully!" in tested.stdout
        assert await _lines(receiver.stdout, 1) == ["connection_test "]

        for expected in ("3 accepted, 0 duplicate", "0 accepted, 3 duplicate"):
            published = await cli.run("publish", str(EXAMPLES / "events.jsonl"), "--token", INGEST)
            assert published.returncode == 0, published.stderr
            assert published.stdout.startswith(expected), published.stdout
        assert sorted(await _lines(receiver.stdout, 3)) == [
            "ticket_answer HD-1001",
            "ticket_close HD-1001",
            "ticket_create HD-1001",
        ]

        # Terminal 4 follows the log from here on.
        follow = await cli.start("log", "--follow")
        assert follow.stderr is not None
        async with asyncio.timeout(STEP_SECONDS):
            assert b"following the webhook log" in await follow.stderr.readline()

        # A retry: the receiver stops, the event's first attempt fails, the receiver comes back
        # and the second attempt (about 5 s later) reaches it.
        await _interrupt(receiver)
        published = await cli.run("publish", str(EXAMPLES / "retry-event.jsonl"), "--token", INGEST)
        assert published.stdout.startswith("1 accepted"), published.stdout
        (failed,) = await _lines(follow.stdout, 1)
        assert re.search(r"evt-1002-1 .* 1 .* retry_scheduled: connection refused", failed)
        receiver = await _start_receiver(secret, receiver_port)
        (retried,) = await _lines(follow.stdout, 1)
        assert re.search(r"evt-1002-1 .* 2 +204 +delivered", retried)
        assert await _lines(receiver.stdout, 1) == ["ticket_create HD-1002"]

        redelivered = await cli.run("redeliver", channel_id, "--event-id", "evt-1001-2")
        assert redelivered.stdout.strip() == "deliveries scheduled again: 1"
        (followed,) = await _lines(follow.stdout, 1)
        assert re.search(r"evt-1001-2 +ticket_answer +HD-1001 +2 +204 +delivered", followed)
        follow.send_signal(signal.SIGINT)
        await follow.wait()
        await _interrupt(receiver)


# The commands the test above runs, as the README and the getting started page give them.
WALKTHROUGH_COMMANDS = (
    "scripts/serve --admin-token dev-admin --ingest-token dev-ingest \\\n"
    "    --allow-http --allow-network 127.0.0.0/8",
    "deskhook channels create --name CRM --url http://127.0.0.1:8000/webhooks --department 1 \\\n"
    "    --event ticket_create --event ticket_answer --event ticket_close --retries",
    "WEBHOOK_SECRET='whsec_...' .venv/bin/python examples/receiver.py",
    "deskhook channels test ch_",
    "deskhook publish examples/events.jsonl --token dev-ingest",
    "deskhook publish examples/retry-event.jsonl --token dev-ingest",
    "DESKHOOK_TOKEN=dev-admin .venv/bin/deskhook log --follow",
    " --event-id evt-1001-2",
)


@pytest.mark.parametrize("page", ["README.md", "docs/getting-started.md"])
def test_the_walkthrough_gives_the_commands_this_test_runs(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    assert [command for command in WALKTHROUGH_COMMANDS if command not in text] == []
