"""The servers a benchmark runs in processes of their own: started with their log in a file
(a pipe left unread would stall them), found by the port they log, stopped, and profiled."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

START_SECONDS = 30.0
# Longer than deskhook's shutdown grace (up to 10 s for attempts in flight).
STOP_SECONDS = 60.0
PY_SPY = str(Path(sys.executable).parent / "py-spy")


def serve_command(database: Path, *flags: str, metrics: str = "127.0.0.1:0") -> list[str]:
    """`deskhook serve` on a port of its own on 127.0.0.1, on `database`."""
    return [
        sys.executable, "-m", "deskhook", "serve",
        "--listen", "127.0.0.1:0", "--metrics-listen", metrics, "--console-listen", "",
        "--database", str(database),
        *flags,
    ]  # fmt: skip


def spawn(
    args: list[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server that logs JSON lines to `log`, with `env` added to this environment."""
    with log.open("wb") as sink:
        return subprocess.Popen(
            args,
            stderr=sink,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DESKHOOK_LOG_FORMAT": "json", **(env or {})},
        )


def log_tail(log: Path) -> str:
    return log.read_text()[-4000:]


def wait_listening(process: subprocess.Popen[bytes], log: Path) -> int:
    """The port the server logs it listens on, once it does; a server that exits or takes
    longer than START_SECONDS is killed and ends the benchmark."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        for line in log.read_text().splitlines():
            if '"listening"' in line:
                return int(json.loads(line)["port"])
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"server did not start: {process.args!r}\n{log_tail(log)}")


def start_process(args: list[str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server whose log goes to `log`, and wait for its port."""
    process = spawn(args, log)
    return process, wait_listening(process, log)


def stop_server(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, and the graceful stop it starts. A server that does not stop is a finding: its
    stacks and log tail are shown before it is killed."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        stacks = stacks_of(process.pid)
        process.kill()
        raise SystemExit(
            f"the server did not stop within {STOP_SECONDS:g} s of SIGTERM; its stacks:\n"
            f"{stacks}\nits log:\n{log_tail(log)}"
        ) from None


def stacks_of(pid: int) -> str:
    dump = subprocess.run(
        [PY_SPY, "dump", "--pid", str(pid)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return dump.stdout + dump.stderr


class Profiler:
    """py-spy recording one process into a raw collapsed-stack file, when asked for."""

    def __init__(self, directory: Path | None, pid: int, name: str, seconds: float) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._process = subprocess.Popen(
                [
                    PY_SPY, "record",
                    "--format", "raw", "--output", str(directory / f"{name}.raw"),
                    "--pid", str(pid), "--rate", "200", "--duration", str(int(seconds) + 1),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            self._process.wait(timeout=30)
