"""Waiting on a child process within a bound: until it listens, for its next lines, for its
end. Every wait has its seconds, so a child that hangs fails the test instead of holding it."""

import asyncio

POLL_SECONDS = 0.05


async def listening(process: asyncio.subprocess.Process, port: int, seconds: float) -> bool:
    """Whether `process` accepts connections on 127.0.0.1:`port` within `seconds`; False once
    it has exited."""
    async with asyncio.timeout(seconds):
        while process.returncode is None:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(POLL_SECONDS)
                continue
            writer.close()
            return True
    return False


async def lines(stream: asyncio.StreamReader | None, count: int, seconds: float) -> list[str]:
    """The next `count` lines of a child's output, without their line ends."""
    assert stream is not None
    async with asyncio.timeout(seconds):
        return [(await stream.readline()).decode().rstrip("\n") for _ in range(count)]


async def finished(process: asyncio.subprocess.Process, seconds: float) -> tuple[bytes, bytes]:
    """Its standard output and error once it exits; killed if it takes longer than `seconds`
    (the timeout then fails the caller)."""
    try:
        async with asyncio.timeout(seconds):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return stdout, stderr or b""
